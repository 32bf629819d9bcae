//! The command line. [`command`] gives the clap command for man pages and
//! shell completions.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::client::{Remote, Target};
use crate::i18n::Lang;
use crate::theme::ThemeKind;

/// The default local socket (`console_socket` in the agent's config).
pub const DEFAULT_SOCKET: &str = "/run/mottak/console.sock";

/// mottak: the on-call console for the Mottak agent.
///
/// Without a subcommand, opens the console: queues, failed imports,
/// integrations, access lists and the audit log, live. Press ? inside for
/// the keys. It connects to the local agent's socket, or with --url to a
/// remote agent's TLS listener with a client certificate.
#[derive(Debug, Parser)]
#[command(
    name = "mottak",
    version,
    about,
    after_help = "Examples:\n  mottak                                   the console, on this machine's agent\n  mottak --url wss://mottak01:7443 --cert me.crt --key me.key --ca ca.crt\n  mottak status --json                     the overview once, for scripts\n  mottak check                             for Nagios/Icinga (exit 0/1/2/3)"
)]
pub struct Cli {
    #[command(flatten)]
    pub conn: ConnArgs,

    /// Language: nb (bokmål) or en. Default: from LC_ALL, LC_MESSAGES or LANG.
    #[arg(long, value_enum, global = true)]
    pub lang: Option<Lang>,

    /// Colours: default, or high-contrast (no colours; also chosen by NO_COLOR).
    #[arg(long, value_enum, global = true)]
    pub theme: Option<ThemeKind>,

    /// Let the mouse wheel move the selection (off by default, so the
    /// terminal's own copy and paste keep working).
    #[arg(long)]
    pub mouse: bool,

    /// For benchmarks: draw the first complete screen, then print
    /// `first_frame_ms=… peak_rss_kib=…` to stderr and exit.
    #[arg(long, hide = true)]
    pub exit_after_first_frame: bool,

    #[command(subcommand)]
    pub command: Option<Sub>,
}

/// How to reach the agent (for the console and every subcommand).
#[derive(Debug, Clone, Args)]
pub struct ConnArgs {
    /// The local agent's console socket.
    #[arg(long, env = "MOTTAK_SOCKET", default_value = DEFAULT_SOCKET, global = true)]
    pub socket: PathBuf,

    /// A remote agent's TLS listener, wss://host[:port] (port 7443 by default).
    /// Needs --cert, --key and --ca.
    #[arg(long, global = true, requires_all = ["cert", "key", "ca"])]
    pub url: Option<String>,

    /// Your client certificate (PEM), issued by the agent's client_ca; its CN is your user name.
    #[arg(long, global = true, requires = "url")]
    pub cert: Option<PathBuf>,

    /// The private key of --cert (PEM).
    #[arg(long, global = true, requires = "url")]
    pub key: Option<PathBuf>,

    /// The CA that signed the agent's certificate (PEM).
    #[arg(long, global = true, requires = "url")]
    pub ca: Option<PathBuf>,
}

impl ConnArgs {
    pub fn target(&self) -> anyhow::Result<Target> {
        match (&self.url, &self.cert, &self.key, &self.ca) {
            (Some(url), Some(cert), Some(key), Some(ca)) => Ok(Target::Remote(Remote::parse(
                url,
                cert.clone(),
                key.clone(),
                ca.clone(),
            )?)),
            (Some(_), _, _, _) => anyhow::bail!("--url needs --cert, --key and --ca"),
            _ => Ok(Target::Socket(self.socket.clone())),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Sub {
    /// Print the overview once (queues, oldest unacknowledged, outbound to
    /// Fiks Digisos, alerts) and exit.
    Status(StatusArgs),
    /// A monitoring plugin for Nagios, Icinga and the like: one line with
    /// perfdata; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// JSON instead of text (the agent's own names; stable for scripts).
    #[arg(long)]
    pub json: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Give up (UNKNOWN) after this many seconds.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
    /// WARNING when at least this many failed imports, or at least this many
    /// failed saksoppdateringer, wait for a person.
    #[arg(long, default_value_t = 1)]
    pub warn_failed: u64,
    /// CRITICAL when at least this many failed imports, or at least this many
    /// failed saksoppdateringer, wait for a person.
    #[arg(long)]
    pub crit_failed: Option<u64>,
}

impl StatusArgs {
    pub fn limit(&self) -> Duration {
        Duration::from_secs(self.timeout.max(1))
    }
}

impl CheckArgs {
    pub fn limit(&self) -> Duration {
        Duration::from_secs(self.timeout.max(1))
    }
}

/// The clap command (for man pages and shell completions).
pub fn command() -> clap::Command {
    Cli::command()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn url_needs_the_certificates() {
        assert!(Cli::try_parse_from(["mottak", "--url", "wss://h:7443"]).is_err());
        let cli = Cli::try_parse_from([
            "mottak",
            "--url",
            "wss://h:7443",
            "--cert",
            "c",
            "--key",
            "k",
            "--ca",
            "a",
            "status",
        ])
        .unwrap();
        assert!(matches!(cli.conn.target().unwrap(), Target::Remote(_)));
        let cli = Cli::try_parse_from(["mottak", "check", "--socket", "/tmp/x.sock"]).unwrap();
        assert_eq!(
            cli.conn.target().unwrap(),
            Target::Socket("/tmp/x.sock".into())
        );
    }
}
