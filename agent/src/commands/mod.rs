//! The command line of `mottak-agent`: one module per subcommand.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod access;
pub mod check_config;
pub mod decrypt;
pub mod doctor;
pub mod keygen;
pub mod run;

/// Mottak's agent: fetches forsendelser from KS SvarInn, decrypts them into the
/// fagsystem's drop folder and acknowledges them.
#[derive(Debug, Parser)]
#[command(name = "mottak-agent", version, about, long_about = None)]
pub struct Cli {
    /// The config file [default: /etc/mottak/agent.toml]. Read by run,
    /// check-config, doctor and access; accepted before or after the subcommand.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent: poll SvarInn, decrypt into the drop folders, acknowledge.
    /// Runs in the foreground (systemd's Type=notify); stops cleanly on SIGTERM.
    Run,
    /// Decrypt a forsendelse downloaded by hand from SvarInn (CMS EnvelopedData).
    Decrypt(decrypt::Args),
    /// Check the config and everything it names (keys, secrets, folders),
    /// without the network. Exits non-zero when there is an error.
    CheckConfig,
    /// Pre-flight before go-live: check-config, then DNS, TCP, TLS, SvarInn,
    /// Maskinporten, Fiks Digisos and the drop folder, read-only (nothing is
    /// acknowledged, reported or uploaded). Exit 0 only when all pass.
    #[command(long_about = doctor::LONG_ABOUT)]
    Doctor(doctor::Args),
    /// Make an RSA-2048 key and a self-signed certificate for a mottakersystem.
    Keygen(keygen::Args),
    /// Manage who may use the console: grant and revoke roles, group members, list.
    Access(access::Args),
}

/// Runs the chosen subcommand. The exit code is the command's own verdict
/// (for example `check-config` exits non-zero when it found problems).
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = cli
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
    match cli.command {
        Command::Run => run::run(&config),
        Command::Decrypt(args) => {
            reads_no_config(cli.config.as_deref(), "decrypt")?;
            decrypt::run(&args)
        }
        Command::CheckConfig => check_config::run(&config),
        Command::Doctor(args) => doctor::run(&config, &args),
        Command::Keygen(args) => {
            reads_no_config(cli.config.as_deref(), "keygen")?;
            keygen::run(&args)
        }
        Command::Access(args) => access::run(&config, &args),
    }
}

/// `--config` is global (so it may follow any subcommand), but a command
/// that reads no config refuses it rather than ignoring it in silence.
fn reads_no_config(config: Option<&std::path::Path>, command: &str) -> anyhow::Result<()> {
    match config {
        Some(path) => anyhow::bail!(
            "{command} reads no config file (it takes its keys and files as arguments): leave out --config {}",
            path.display()
        ),
        None => Ok(()),
    }
}

/// The config file when `--config` is not given.
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
    fn the_command_line_is_consistent_and_names_the_default_config() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains(DEFAULT_CONFIG), "{help}");
    }

    #[test]
    fn config_is_accepted_before_and_after_every_subcommand() {
        let parse = |argv: &[&str]| Cli::try_parse_from(argv).map(|c| c.config);
        let want = Ok(Some(PathBuf::from("/x.toml")));
        for argv in [
            &["mottak-agent", "--config", "/x.toml", "run"][..],
            &["mottak-agent", "run", "--config", "/x.toml"],
            &["mottak-agent", "check-config", "--config=/x.toml"],
            &["mottak-agent", "doctor", "--json", "--config", "/x.toml"],
            &["mottak-agent", "--config", "/x.toml", "doctor"],
            &["mottak-agent", "--config", "/x.toml", "access", "list"],
            &["mottak-agent", "access", "--config", "/x.toml", "list"],
            &["mottak-agent", "access", "list", "--config", "/x.toml"],
            &[
                "mottak-agent",
                "access",
                "grant",
                "--user",
                "kari",
                "--config",
                "/x.toml",
                "--role",
                "admin",
                "--all",
            ],
        ] {
            assert_eq!(parse(argv).map_err(|e| e.to_string()), want, "{argv:?}");
        }
        assert_eq!(parse(&["mottak-agent", "run"]).unwrap(), None);
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
