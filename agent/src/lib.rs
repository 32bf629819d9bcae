//! The Mottak agent.
//!
//! Module map:
//! - `commands`: the command line, one module per subcommand.

pub mod commands;
