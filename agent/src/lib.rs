//! The Mottak agent.
//!
//! Module map:
//! - `commands`: the command line, one module per subcommand.
//! - `backoff`: retry delays (exponential with jitter), pure.
//! - `systemd`: READY/STATUS/WATCHDOG/STOPPING notifications, best-effort.

pub mod backoff;
pub mod commands;
pub mod systemd;
