//! The end-to-end harness for the inbound pipeline: a temporary world with the
//! fake SvarInn running in-process, keys and secrets on disk with the right
//! modes, a config file, drop folders, and the real `mottak-agent run` as a
//! child process whose stderr goes to a file.
//!
//! ```text
//! <tmp>/
//!   agent.toml
//!   state/journal.sqlite   state/console.sock
//!   log/                   daily log files
//!   secrets/<name>.passord (0600)
//!   keys/<name>.pem (0600) keys/<name>.crt
//!   drop/<name>/           the drop folders (inn/, feilet/, .mottak/ made by the agent)
//!   agent-<n>.stderr       stderr and stdout of the n-th agent started
//! ```
//!
//! Tests are plain `#[test]` functions: the fake runs on the [`World`]'s own
//! tokio runtime, so a test can poll the filesystem and the fake's event log
//! with [`crate::wait_until`] without blocking the server. An async test
//! (the agent's `console_api_*`, through `console_api_support::Env`) starts and
//! drops its `World` on a plain thread: a runtime can't be started or dropped
//! inside another; the fake's async methods work from any runtime.
//!
//! One file per concern: `system` (what a test asks for, installed on disk),
//! `world` (the world and its waits), `agent` (the child process),
//! `events` (the fake's event log), `delivered` (the drop folder),
//! `journal`, `zips`, `checks` (at kvittering time). Every item is
//! re-exported here, so tests name them `harness::X`.

mod agent;
mod checks;
mod delivered;
mod events;
mod journal;
mod system;
mod world;
mod zips;

pub use agent::{Agent, unit_environment};
pub use checks::{Violations, check_at_kvittering, check_published, kvittering_check, small_pdf};
pub use delivered::{
    Delivered, entries, import, read_delivered, reject, sha256_file, sha256_hex, walk,
};
pub use events::{
    closed_port, complete_downloads, count_lists, download_starts, kvitteringer_of,
    mottak_feilet_of, rejected, summarize_events, unjustified_kvitteringer,
};
pub use journal::{JournalRow, attempt_counts, read_journal};
pub use system::{Ack, Endpoint, FORSENDELSE_JSON, Installed, KeySource, System};
pub use world::{World, WorldBuilder};
pub use zips::{ZipEntry, unzip_bytes, zip_bytes};
