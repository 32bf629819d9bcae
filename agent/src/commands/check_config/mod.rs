//! `mottak-agent check-config`: everything about the config that can be
//! checked without the network. Every problem is reported (not only the
//! first), each saying what, where and what to do; the exit code is non-zero
//! when there is at least one error (warnings alone exit 0).
//!
//! It may change one thing: a drop folder's missing `inn/ feilet/ ut/
//! ut-sendt/ ut-feilet/ .mottak/` are created, and the report says so.

mod digisos;
mod fiks_io;
mod folders;
mod report;
#[cfg(test)]
mod tests;

use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use time::OffsetDateTime;

pub use report::{Finding, Report, Severity};

use digisos::check_digisos;
use fiks_io::check_fiks_io;
use folders::{check_drop_folder, writable_dir};

use crate::config::{self, Config, Mottakersystem};
use crate::journal::{self, Journal};
use crate::keys::{self, Expiry, KeyFileError};
use crate::secret::{SecretError, SecretRef};

/// What the checks depend on besides the config file, so tests can set it.
#[derive(Debug, Clone)]
pub struct Environment {
    pub now: OffsetDateTime,
    /// `$CREDENTIALS_DIRECTORY`, when running under systemd with credentials.
    pub credentials_dir: Option<PathBuf>,
    /// The effective user id (0: writability checks say little about the service user).
    pub euid: Option<u32>,
}

impl Environment {
    pub fn from_process() -> Self {
        Environment {
            now: OffsetDateTime::now_utc(),
            credentials_dir: crate::secret::credentials_directory(),
            euid: Some(crate::console_api::accounts::current_uid()),
        }
    }
}

/// `mottak-agent check-config` on the config file at `config_path`.
pub fn run(config_path: &Path) -> anyhow::Result<ExitCode> {
    let report = check(config_path, &Environment::from_process());
    println!("mottak-agent check-config {}", config_path.display());
    print!("{report}");
    Ok(if report.has_errors() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Checks the config at `path` and everything it names.
pub fn check(path: &Path, env: &Environment) -> Report {
    let mut report = Report::default();
    let config = match config::load(path) {
        Ok(c) => c,
        Err(e) => {
            report.push(
                Severity::Error,
                "config",
                path.display().to_string(),
                format!("{e}\nfix the config; nothing else can be checked until it parses"),
            );
            return report;
        }
    };
    check_config(&config, env, &mut report);
    report
}

/// The checks after a successful parse.
pub fn check_config(config: &Config, env: &Environment, report: &mut Report) {
    report.mottakersystemer = config.mottakersystemer.len();
    if env.euid == Some(0) {
        report.push(
            Severity::Note,
            "config",
            "running as root",
            "folders were checked as root, who may write anywhere; run it as the agent's user \
             (e.g. `sudo -u mottak mottak-agent check-config`) to check what the agent may do",
        );
    }
    check_agent(config, report);
    if config.mottakersystemer.is_empty() {
        report.push(
            Severity::Warning,
            "config",
            "[[mottakersystem]]",
            "no mottakersystem is configured: the agent will fetch nothing; add a [[mottakersystem]] section",
        );
    }
    for m in &config.mottakersystemer {
        check_mottakersystem(m, env, report);
    }
}

fn check_agent(config: &Config, report: &mut Report) {
    let a = &config.agent;
    for (key, dir, how) in [
        ("state_dir", &a.state_dir, "StateDirectory=mottak"),
        ("log_dir", &a.log_dir, "LogsDirectory=mottak"),
    ] {
        if let Err(problem) = writable_dir(dir) {
            report.push(
                Severity::Error,
                "agent",
                format!("{key} {}", dir.display()),
                format!(
                    "{problem}\nthe systemd unit's {how} creates it; otherwise `install -d -o mottak -g mottak -m 0750 {}`",
                    dir.display()
                ),
            );
        }
    }
    let journal = a.journal_path();
    match Journal::inspect_version(&journal) {
        Ok(None) => {}
        Ok(Some(v)) if v > journal::SCHEMA_VERSION => report.push(
            Severity::Error,
            "agent",
            format!("journal {}", journal.display()),
            format!(
                "schema version {v} is newer than the {} this mottak-agent knows: it was written by a newer version; install that version again (do not delete the journal)",
                journal::SCHEMA_VERSION
            ),
        ),
        Ok(Some(v)) if v < journal::SCHEMA_VERSION => report.push(
            Severity::Note,
            "agent",
            format!("journal {}", journal.display()),
            format!(
                "schema version {v}: the agent upgrades it to {} when it starts",
                journal::SCHEMA_VERSION
            ),
        ),
        Ok(Some(_)) => {}
        Err(e) => report.push(
            Severity::Error,
            "agent",
            format!("journal {}", journal.display()),
            e.to_string(),
        ),
    }
    if let Some(parent) = a.console_socket.parent()
        && !parent.is_dir()
    {
        report.push(
            Severity::Warning,
            "agent",
            format!("console_socket {}", a.console_socket.display()),
            format!(
                "{} does not exist (yet); the unit's RuntimeDirectory=mottak creates it when the agent starts",
                parent.display()
            ),
        );
    }
    if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(&a.log_level) {
        report.push(
            Severity::Error,
            "agent",
            format!("log_level {:?}", a.log_level),
            format!("not a valid filter ({e}); write e.g. \"info\" or \"mottak_agent=debug,info\""),
        );
    }
}

fn check_mottakersystem(m: &Mottakersystem, env: &Environment, report: &mut Report) {
    let scope = m.name.as_str();
    report.apis.push((scope.to_owned(), m.svarinn_api));
    check_password(m, env, report);

    let mut loaded = Vec::new();
    for (i, path) in m.private_keys.iter().enumerate() {
        match keys::load_private_key(path) {
            Ok(key) => loaded.push(key),
            Err(e) => report.push(
                Severity::Error,
                scope,
                format!("private_keys[{i}] {}", path.display()),
                key_message(&e),
            ),
        }
    }
    for (i, path) in m.certificates.iter().enumerate() {
        let subject = format!("certificates[{i}] {}", path.display());
        let cert = match keys::load_certificate(path) {
            Ok(c) => c,
            Err(e) => {
                report.push(Severity::Error, scope, subject, key_message(&e));
                continue;
            }
        };
        let until = cert.not_after.date();
        match keys::expiry(cert.not_after, env.now) {
            Expiry::Valid { .. } => {}
            Expiry::ExpiresSoon { days_left } => report.push(
                Severity::Warning,
                scope,
                subject.clone(),
                format!(
                    "expires in {days_left} days ({until}); make a new key and certificate (`mottak-agent keygen`), upload the certificate in SvarInn and add both here, keeping the old key until SvarInn has no more forsendelser encrypted to it"
                ),
            ),
            Expiry::Expired { days_ago } => report.push(
                Severity::Error,
                scope,
                subject.clone(),
                format!(
                    "expired {days_ago} days ago ({until}); make a new key and certificate (`mottak-agent keygen`), upload the certificate in SvarInn's \"Service\" tab and add both here"
                ),
            ),
        }
        let has_key = loaded.iter().any(|k| keys::key_matches(k, &cert.cert));
        let all_keys_loaded = loaded.len() == m.private_keys.len();
        if !has_key && all_keys_loaded {
            report.push(
                Severity::Error,
                scope,
                subject,
                format!(
                    "{} belongs to none of the private_keys: SvarInn encrypts to it, so forsendelser could not be decrypted; add its private key, or remove the certificate if it is no longer uploaded",
                    cert.cert.description()
                ),
            );
        }
    }

    check_drop_folder(m, report);
    if let Some(d) = &m.digisos {
        check_digisos(m, d, env, report);
    }
    if let Some(f) = &m.fiks_io {
        check_fiks_io(m, f, env, report);
    }
}

fn key_message(e: &KeyFileError) -> String {
    match e {
        KeyFileError::Read(SecretError::Io { source, .. })
            if source.kind() == io::ErrorKind::NotFound =>
        {
            "the file does not exist; make a key with `mottak-agent keygen --name NAME --out DIR` or fix the path".to_owned()
        }
        other => other.to_string(),
    }
}

fn check_password(m: &Mottakersystem, env: &Environment, report: &mut Report) {
    let scope = m.name.as_str();
    let subject = format!("password {}", m.password);
    if let (SecretRef::Credential(name), None) = (&m.password, &env.credentials_dir) {
        report.push(
            Severity::Warning,
            scope,
            subject,
            format!(
                "a systemd credential can only be read under systemd: check the unit has `LoadCredential={name}:/path/to/file`; \
                 to check it here run `systemd-run --pipe -p LoadCredential={name}:/path/to/file mottak-agent check-config`"
            ),
        );
        return;
    }
    match m.password.load(env.credentials_dir.as_deref()) {
        Ok(_) => {}
        Err(SecretError::Io { source, path }) if source.kind() == io::ErrorKind::NotFound => {
            report.push(
                Severity::Error,
                scope,
                subject,
                format!(
                    "{} does not exist; write the service password from SvarInn's \"Service\" tab into it (mode 0600, owned by the agent's user)",
                    path.display()
                ),
            )
        }
        Err(e) => report.push(Severity::Error, scope, subject, e.to_string()),
    }
}
