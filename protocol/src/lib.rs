//! Every format Mottak speaks on a wire or a disk, pure: no sockets, no tokio,
//! no files opened by path.
//!
//! Module map:
//! - [`svarinn`]: the SvarInn mottaksservice JSON (forsendelse, mottakFeilet).
//! - [`cms`]: streaming CMS EnvelopedData reader and writer (SvarInn files, Fiks uploads).
//! - [`console`]: the console ⇄ agent websocket messages, the state a console sees, its deltas.

pub mod cms;
pub mod console;
pub mod svarinn;
