//! `mottak`, the on-call admin's console for the Mottak agent.
//!
//! Module map:
//! - [`cli`]: the command line (clap); [`cli::command`] for man pages and completions.
//! - [`client`]: the websocket to the agent (Unix socket, or TLS with a client
//!   certificate), hello, subscribe, seq-gap resubscribe, reconnect with backoff.
//! - [`app`]: the state machine, `App::update(Action) -> Vec<Effect>`, pure; the
//!   single confirmation choke point ([`app::App::propose`]).
//! - [`ui`]: `render(&App, &mut Frame)`, pure; [`theme`] and [`i18n`] (nb, en).
//! - [`keymap`]: the one key table; help and footer hints are generated from it.
//! - [`headless`]: `mottak status [--json]` and `mottak check` (Nagios/Icinga).
//! - [`tui`]: the terminal loop (draw when dirty, coalesce, restore on every exit).
//! - [`human`]: ages, times, sizes, sparklines.
//! - [`outbound`]: Fiks Digisos, Maskinporten and the saksoppdateringer as levels and words.
//! - [`alerts`]: the agent's alerts in the reader's language (known keys in bokmål).

pub mod alerts;
pub mod app;
pub mod cli;
pub mod client;
pub mod headless;
pub mod human;
pub mod i18n;
pub mod keymap;
pub mod outbound;
pub mod theme;
pub mod tui;
pub mod ui;

pub use cli::command;
