//! The command line of `mottak-agent`: one module per subcommand.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod check_config;
pub mod decrypt;
pub mod keygen;
pub mod run;

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
    /// Run the agent: poll SvarInn, decrypt into the drop folders, acknowledge.
    /// Runs in the foreground (systemd's Type=notify); stops cleanly on SIGTERM.
    Run(run::Args),
    /// Decrypt a forsendelse downloaded by hand from SvarInn (CMS EnvelopedData).
    Decrypt(decrypt::Args),
    /// Check the config and everything it names (keys, secrets, folders),
    /// without the network. Exits non-zero when there is an error.
    CheckConfig(check_config::Args),
    /// Make an RSA-2048 key and a self-signed certificate for a mottakersystem.
    Keygen(keygen::Args),
}

/// Runs the chosen subcommand. The exit code is the command's own verdict
/// (for example `check-config` exits non-zero when it found problems).
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(args) => run::run(&args),
        Command::Decrypt(args) => decrypt::run(&args),
        Command::CheckConfig(args) => check_config::run(&args),
        Command::Keygen(args) => keygen::run(&args),
    }
}

/// Used by subcommands that take `--config`.
pub const DEFAULT_CONFIG: &str = crate::config::DEFAULT_CONFIG_PATH;
