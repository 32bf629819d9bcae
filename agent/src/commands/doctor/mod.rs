//! `mottak-agent doctor`: the pre-flight an installer runs before go-live.
//!
//! First everything `check-config` checks offline (it reuses
//! [`check_config::check`]), then, per mottakersystem and channel, the
//! network: DNS, a TCP connection to every address, the TLS handshake (with
//! the issuer of the server's certificate), SvarInn's credentials (the list
//! call, a GET that changes nothing), Maskinporten (a token grant), Fiks
//! Digisos (the public key, and the integration's privilege on the
//! organisation by a file list of a case that does not exist: both GETs),
//! Fiks IO when configured, and the drop folder.
//!
//! It is read-only towards KS and Fiks: it never acknowledges, reports a
//! failed import, uploads or posts a saksoppdatering. Locally it may do what
//! `check-config` does (create a drop folder's missing layout folders) and it
//! writes its result to `state_dir/doctor-last.json`, which the running agent
//! shows in the console's Integrations view (`crate::doctor`).
//!
//! Exit codes: 0 all passed; 1 the config cannot be read or parsed (nothing
//! else checked); 2 `check-config` found errors (online checks all passed);
//! 3 an online check failed.

mod network;
mod probes;
mod render;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub use render::render;

use super::check_config::{self, Environment};
use crate::config::{self, Mottakersystem};
use crate::doctor::{Check, DoctorReport, OfflineFinding, Outcome};
use network::check_endpoint;
use probes::{check_digisos, check_drop_folder, check_svarinn, svarinn_subject};

/// Exit code: the config cannot be read or parsed.
pub const EXIT_CONFIG_UNREADABLE: u8 = 1;
/// Exit code: `check-config` found errors; every online check passed.
pub const EXIT_OFFLINE_ERRORS: u8 = 2;
/// Exit code: an online check failed.
pub const EXIT_ONLINE_FAILED: u8 = 3;

/// `doctor --help` (set on the subcommand in `commands`, whose doc comment
/// is the short line).
pub const LONG_ABOUT: &str = "Pre-flight before go-live: everything check-config checks, then, per \
mottakersystem: DNS (every address), a TCP connection to each address, the TLS handshake (with \
the certificate's issuer, to recognise a TLS-inspecting proxy), SvarInn credentials (the list \
call), Maskinporten (a token grant), Fiks Digisos (the public key and the integration's \
privilege), Fiks IO when configured, and the drop folder (writable, one filesystem with the \
staging, free space). Each line says what was checked, the result and the fix.\n\n\
Read-only: it never acknowledges, reports, uploads or posts anything to SvarInn or Fiks. It \
writes its result to state_dir/doctor-last.json, which the running agent shows in the \
console's Integrations view.\n\n\
Exit codes: 0 all passed; 1 the config cannot be read; 2 check-config found errors; \
3 an online check failed.";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the result as one JSON object (the shape is in docs/install.md).
    #[arg(long)]
    pub json: bool,
    /// How long to wait for each DNS answer, TCP connection and TLS handshake, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 5)]
    pub connect_timeout: u64,
}

/// `mottak-agent doctor`.
pub fn run(config_path: &Path, args: &Args) -> anyhow::Result<ExitCode> {
    let env = Environment::from_process();
    let timeout = Duration::from_secs(args.connect_timeout.max(1));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(doctor(config_path, &env, timeout));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(ExitCode::from(report.exit_code))
}

/// Runs every check. Stores the result under `state_dir` when the config parsed.
pub async fn doctor(config_path: &Path, env: &Environment, timeout: Duration) -> DoctorReport {
    let offline = check_config::check(config_path, env);
    let mut report = DoctorReport {
        config: config_path.display().to_string(),
        finished_at: String::new(),
        read_only: true,
        offline: offline
            .findings
            .iter()
            .map(|f| OfflineFinding {
                severity: f.severity.to_string(),
                scope: f.scope.clone(),
                subject: f.subject.clone(),
                message: f.message.clone(),
            })
            .collect(),
        checks: Vec::new(),
        exit_code: 0,
    };
    let Ok(config) = config::load(config_path) else {
        // check-config's finding says why; there is no state dir to store into.
        report.exit_code = EXIT_CONFIG_UNREADABLE;
        report.finished_at = now_rfc3339();
        return report;
    };
    for m in &config.mottakersystemer {
        let mut lines = Lines {
            scope: m.name.as_str(),
            out: &mut report.checks,
        };
        check_system(m, env, timeout, &mut lines).await;
    }
    report.exit_code = if report.failed() > 0 {
        EXIT_ONLINE_FAILED
    } else if offline.has_errors() {
        EXIT_OFFLINE_ERRORS
    } else {
        0
    };
    report.finished_at = now_rfc3339();
    if let Err(e) = crate::doctor::store(&config.agent.state_dir, &report) {
        eprintln!(
            "note: could not store the result in {}: {e} (the console will not show it; run doctor as the agent's user)",
            config.agent.state_dir.display()
        );
    }
    report
}

fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// The checks of one mottakersystem, as they are made.
pub(super) struct Lines<'a> {
    scope: &'a str,
    out: &'a mut Vec<Check>,
}

impl Lines<'_> {
    fn push(
        &mut self,
        kind: &str,
        subject: String,
        outcome: Outcome,
        detail: String,
        fix: Option<String>,
    ) {
        self.out.push(Check {
            scope: self.scope.to_owned(),
            kind: kind.to_owned(),
            subject,
            outcome,
            detail,
            fix,
        });
    }

    fn pass(&mut self, kind: &str, subject: String, detail: String) {
        self.push(kind, subject, Outcome::Pass, detail, None);
    }

    fn fail(&mut self, kind: &str, subject: String, detail: String, fix: String) {
        self.push(kind, subject, Outcome::Fail, detail, Some(fix));
    }

    fn skip(&mut self, kind: &str, subject: String, detail: String) {
        self.push(kind, subject, Outcome::Skip, detail, None);
    }
}

async fn check_system(
    m: &Mottakersystem,
    env: &Environment,
    timeout: Duration,
    lines: &mut Lines<'_>,
) {
    // SvarInn: the network, then the credentials.
    if check_endpoint(&m.svarinn_url, "svarinn_url", timeout, lines).await {
        check_svarinn(m, env, lines).await;
    } else {
        lines.skip(
            "svarinn",
            svarinn_subject(m),
            "not tried: no address of svarinn_url took a connection (see above)".to_owned(),
        );
    }
    check_drop_folder(m, lines);
    match &m.digisos {
        Some(d) => check_digisos(d, env, timeout, lines).await,
        None => lines.skip(
            "digisos",
            "[mottakersystem.digisos]".to_owned(),
            "not configured (no saksoppdateringer to Fiks Digisos)".to_owned(),
        ),
    }
    // The config has no Fiks IO channel yet; when `[mottakersystem.fiks_io]`
    // comes, its AMQP login is checked here.
    lines.skip(
        "fiks-io",
        "Fiks IO".to_owned(),
        "not configured (this agent has no Fiks IO channel)".to_owned(),
    );
}
