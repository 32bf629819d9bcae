//! The command line of `mottak-agent`: one module per subcommand.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod access;
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
    /// Manage who may use the console: grant and revoke roles, group members, list.
    Access(access::Args),
}

/// Runs the chosen subcommand. The exit code is the command's own verdict
/// (for example `check-config` exits non-zero when it found problems).
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(args) => run::run(&args),
        Command::Decrypt(args) => decrypt::run(&args),
        Command::CheckConfig(args) => check_config::run(&args),
        Command::Keygen(args) => keygen::run(&args),
        Command::Access(args) => access::run(&args),
    }
}

/// Used by subcommands that take `--config`.
pub const DEFAULT_CONFIG: &str = crate::config::DEFAULT_CONFIG_PATH;

/// An error and its causes on one line, for operators. Our error types put
/// their cause's text in their own message (so a journal entry or a log field
/// reads whole); a cause already quoted by the message above it is skipped
/// instead of printed twice.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read {path}: {source}")]
    struct Quoting {
        path: &'static str,
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn causes_are_printed_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let err = anyhow::Error::new(Quoting {
            path: "/k.pem",
            source: io,
        })
        .context("cannot load the private keys");
        assert_eq!(
            one_line(&err),
            "cannot load the private keys: cannot read /k.pem: No such file"
        );
        let plain = anyhow::anyhow!("inner").context("outer");
        assert_eq!(one_line(&plain), "outer: inner");
    }
}
