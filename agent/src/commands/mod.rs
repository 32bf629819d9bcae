//! The command line of `mottak-agent`: one module per subcommand.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod decrypt;

/// Mottak's agent: fetches forsendelser from KS SvarInn, decrypts them into the
/// fagsystem's drop folder and acknowledges them.
#[derive(Debug, Parser)]
#[command(name = "mottak-agent", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Decrypt a forsendelse downloaded by hand from SvarInn (CMS EnvelopedData).
    Decrypt(decrypt::Args),
}

/// Runs the chosen subcommand. The exit code is the command's own verdict
/// (for example `check-config` exits non-zero when it found problems).
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Decrypt(args) => decrypt::run(&args),
    }
}

/// Used by subcommands that take `--config`.
pub const DEFAULT_CONFIG: &str = "/etc/mottak/agent.toml";

#[allow(dead_code)]
fn default_config() -> PathBuf {
    PathBuf::from(DEFAULT_CONFIG)
}
