//! `mottak-agent check-config`: everything about the config that can be
//! checked without the network. Every problem is reported (not only the
//! first), each saying what, where and what to do; the exit code is non-zero
//! when there is at least one error (warnings alone exit 0).
//!
//! It may change one thing: a drop folder's missing `inn/ feilet/ ut/
//! ut-sendt/ ut-feilet/ .mottak/` are created, and the report says so.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use time::OffsetDateTime;

use crate::config::{self, Config, Mottakersystem};
use crate::dropfolder::DropFolder;
use crate::dropfolder::dirfd::{Dir, Name};
use crate::journal::{self, Journal};
use crate::keys::{self, Expiry, KeyFileError};
use crate::secret::{SecretError, SecretRef};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The agent will not work: exit code 1.
    Error,
    /// Works, but needs attention soon.
    Warning,
    /// Done or worth knowing (a folder created).
    Note,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        })
    }
}

/// One problem (or note), located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// `config`, `agent`, or a mottakersystem's name.
    pub scope: String,
    /// What was checked: a key and its value, e.g. `private_keys[0] /etc/...`.
    pub subject: String,
    /// What is wrong and what to do.
    pub message: String,
}

/// Everything [`check`] found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    /// How many mottakersystemer were checked.
    pub mottakersystemer: usize,
}

impl Report {
    fn push(
        &mut self,
        severity: Severity,
        scope: &str,
        subject: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.findings.push(Finding {
            severity,
            scope: scope.to_owned(),
            subject: subject.into(),
            message: message.into(),
        });
    }

    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    pub fn has_errors(&self) -> bool {
        self.count(Severity::Error) > 0
    }

    /// The last line: a count and a verdict.
    pub fn summary(&self) -> String {
        let (e, w, n) = (
            self.count(Severity::Error),
            self.count(Severity::Warning),
            self.count(Severity::Note),
        );
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        let counts = format!(
            "{}, {}, {}",
            plural(e, "error"),
            plural(w, "warning"),
            plural(n, "note")
        );
        let checked = plural(self.mottakersystemer, "mottakersystem");
        if e > 0 {
            format!("{counts} ({checked} checked): fix the errors before starting the agent")
        } else if w > 0 {
            format!("{counts} ({checked} checked): the agent can start; see the warnings")
        } else {
            format!("{counts} ({checked} checked): the config is ready")
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for finding in &self.findings {
            writeln!(
                f,
                "{:<7} [{}] {}",
                finding.severity, finding.scope, finding.subject
            )?;
            for line in finding.message.lines() {
                writeln!(f, "        {line}")?;
            }
        }
        writeln!(f, "{}", self.summary())
    }
}

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
}

/// `[mottakersystem.digisos]`: the integration password, the Maskinporten
/// key and chain (key loads, is private, matches the first certificate;
/// every certificate valid now and not about to expire), and `ut/` and
/// `ut-feilet/` usable by the agent. Nothing is sent to Fiks or Maskinporten.
fn check_digisos(
    m: &Mottakersystem,
    d: &config::DigisosSettings,
    env: &Environment,
    report: &mut Report,
) {
    let scope = m.name.as_str();
    let subject = format!("digisos.integrasjon_passord {}", d.integrasjon_passord);
    match (&d.integrasjon_passord, &env.credentials_dir) {
        (SecretRef::Credential(name), None) => report.push(
            Severity::Warning,
            scope,
            subject,
            format!(
                "a systemd credential can only be read under systemd: check the unit has `LoadCredential={name}:/path/to/file`"
            ),
        ),
        _ => match d.integrasjon_passord.load(env.credentials_dir.as_deref()) {
            Ok(_) => {}
            Err(SecretError::Io { source, path }) if source.kind() == io::ErrorKind::NotFound => {
                report.push(
                    Severity::Error,
                    scope,
                    subject,
                    format!(
                        "{} does not exist; write the integration's password from Fiks forvaltning into it (mode 0600, owned by the agent's user)",
                        path.display()
                    ),
                )
            }
            Err(e) => report.push(Severity::Error, scope, subject, e.to_string()),
        },
    }

    let mp = &d.maskinporten;
    let subject = format!(
        "digisos.maskinporten.private_key {} / certificate_chain {}",
        mp.private_key.display(),
        mp.certificate_chain.display()
    );
    match crate::maskinporten::GrantKey::load(&mp.private_key, &mp.certificate_chain) {
        Ok(key) => {
            for (i, c) in key.chain().iter().enumerate() {
                let which = if i == 0 {
                    "the virksomhetssertifikat".to_owned()
                } else {
                    format!("certificate {i} of the chain")
                };
                let subject = format!(
                    "digisos.maskinporten.certificate_chain {} [{i}]",
                    mp.certificate_chain.display()
                );
                if c.not_before > env.now {
                    report.push(
                        Severity::Error,
                        scope,
                        subject.clone(),
                        format!(
                            "{which} ({}) is not valid before {}; Maskinporten refuses it until then",
                            c.description,
                            c.not_before.date()
                        ),
                    );
                }
                match keys::expiry(c.not_after, env.now) {
                    Expiry::Valid { .. } => {}
                    Expiry::ExpiresSoon { days_left } => report.push(
                        Severity::Warning,
                        scope,
                        subject,
                        format!(
                            "{which} ({}) expires in {days_left} days ({}); order a new virksomhetssertifikat, register it for the client in Digdir's self-service, and put it here",
                            c.description,
                            c.not_after.date()
                        ),
                    ),
                    Expiry::Expired { days_ago } => report.push(
                        Severity::Error,
                        scope,
                        subject,
                        format!(
                            "{which} ({}) expired {days_ago} days ago ({}); Maskinporten refuses grants signed with it: put a valid virksomhetssertifikat here",
                            c.description,
                            c.not_after.date()
                        ),
                    ),
                }
            }
        }
        Err(e) => report.push(Severity::Error, scope, subject, e.to_string()),
    }

    // The agent claims ut/<id>/ by renaming it into .mottak/, and moves
    // sent ones into ut-sendt/ and bad ones into ut-feilet/. Each must be a
    // real folder (a link in its place is refused, as the worker refuses it).
    use crate::dropfolder::dirfd::Replace;
    use crate::dropfolder::{STAGING, UT_DIR, UT_FEILET_DIR, UT_SENDT_DIR};
    let drop = DropFolder::new(&m.drop_folder);
    let root = match drop.open_root() {
        Ok(root) => root,
        Err(e) => {
            report.push(
                Severity::Error,
                scope,
                "digisos: drop_folder",
                e.to_string(),
            );
            return;
        }
    };
    let (ut, sendt, feilet) = (
        Name::fixed(UT_DIR),
        Name::fixed(UT_SENDT_DIR),
        Name::fixed(UT_FEILET_DIR),
    );
    for dir in [&ut, &sendt, &feilet] {
        if let Err(problem) = writable_folder(&root, dir) {
            report.push(
                Severity::Error,
                scope,
                format!("digisos: {}", root.path_of(dir).display()),
                format!(
                    "{problem}\nthe agent's user must be able to rename folders out of ut/ and into ut-sendt/ and ut-feilet/ (e.g. group-owned by the agent's and the fagsystem's group, mode 2770)"
                ),
            );
        }
    }
    let (Ok(ut_dir), Ok(staging)) = (root.open_dir(&ut), root.open_dir(&STAGING)) else {
        return;
    };
    let Ok(probe) = Name::new(format!(".check-config-ut-{}", std::process::id())) else {
        return;
    };
    if ut_dir.create_dir(&probe, 0o700).is_ok() {
        if let Err(e) = ut_dir.rename(&probe, &staging, &probe, Replace::Never) {
            report.push(
                Severity::Error,
                scope,
                format!("digisos: {}", root.path_of(&ut).display()),
                format!(
                    "cannot rename a folder from ut/ into {} ({e}): the agent could not claim saksoppdateringer",
                    staging.path().display()
                ),
            );
        }
        let _ = staging.remove_dir(&probe);
        let _ = ut_dir.remove_dir(&probe);
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

fn check_drop_folder(m: &Mottakersystem, report: &mut Report) {
    let scope = m.name.as_str();
    let subject = format!("drop_folder {}", m.drop_folder.display());
    let drop = DropFolder::new(&m.drop_folder);
    let created = match drop.ensure_layout() {
        Ok(created) => created,
        Err(e) => {
            report.push(Severity::Error, scope, subject, e.to_string());
            return;
        }
    };
    if !created.is_empty() {
        let names: Vec<String> = created
            .iter()
            .filter_map(|p| p.file_name().map(|n| format!("{}/", n.to_string_lossy())))
            .collect();
        report.push(
            Severity::Note,
            scope,
            subject.clone(),
            format!(
                "created {} (the layout the agent and the fagsystem share)",
                names.join(" ")
            ),
        );
    }
    if let Err(e) = drop.check_same_filesystem() {
        report.push(Severity::Error, scope, subject.clone(), e.to_string());
    }
    // The agent writes in .mottak/, renames folders into inn/ and out of feilet/.
    if let Err(problem) = rename_round_trip(&drop) {
        report.push(
            Severity::Error,
            scope,
            subject.clone(),
            format!(
                "{problem}\nthe agent's user must be able to write .mottak/, inn/ and feilet/ (e.g. group-owned by the agent's and the fagsystem's group, mode 2770)"
            ),
        );
    }
    if let Err(problem) = drop
        .open_root()
        .map_err(|e| e.to_string())
        .and_then(|root| writable_folder(&root, &crate::dropfolder::FEILET))
    {
        report.push(Severity::Error, scope, subject, problem);
    }
}

/// Creates a hidden folder in `.mottak/`, renames it into `inn/` and back,
/// and removes it: the operations of a publish, under a name the fagsystem
/// and the agent both ignore.
fn rename_round_trip(drop: &DropFolder) -> Result<(), String> {
    use crate::dropfolder::dirfd::Replace;
    use crate::dropfolder::{INN, STAGING};
    let name =
        Name::new(format!(".check-config-{}", std::process::id())).map_err(|e| e.to_string())?;
    let root = drop.open_root().map_err(|e| e.to_string())?;
    let staging = root.open_dir(&STAGING).map_err(|e| e.to_string())?;
    let inn = root.open_dir(&INN).map_err(|e| e.to_string())?;
    staging
        .create_dir(&name, 0o700)
        .map_err(|e| format!("cannot create a folder in .mottak/: {e}"))?;
    let result = staging
        .rename(&name, &inn, &name, Replace::Never)
        .map_err(|e| format!("cannot rename a folder from .mottak/ into inn/: {e}"))
        .and_then(|()| {
            inn.rename(&name, &staging, &name, Replace::Never)
                .map_err(|e| format!("cannot rename a folder out of inn/: {e}"))
        });
    let _ = staging.remove_dir(&name);
    let _ = inn.remove_dir(&name);
    result
}

/// Whether `root/name` is a folder (not a link to one) this process may
/// create files in (tried, not guessed).
fn writable_folder(root: &Dir, name: &Name) -> Result<(), String> {
    let dir = root.open_dir(name).map_err(|e| {
        if e.is_not_found() {
            format!("{} does not exist", root.path_of(name).display())
        } else {
            e.to_string()
        }
    })?;
    let probe =
        Name::new(format!(".check-config-{}", std::process::id())).map_err(|e| e.to_string())?;
    dir.create_file(&probe, 0o600)
        .map_err(|e| format!("cannot write in {}: {e}", dir.path().display()))?;
    let _ = dir.remove_file(&probe);
    Ok(())
}

/// Whether `dir` is a folder this process may create files in (tried, not guessed).
fn writable_dir(dir: &Path) -> Result<(), String> {
    let meta = fs::metadata(dir).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => format!("{} does not exist", dir.display()),
        _ => format!("cannot inspect {}: {e}", dir.display()),
    })?;
    if !meta.is_dir() {
        return Err(format!("{} is not a folder", dir.display()));
    }
    let probe = dir.join(format!(".check-config-{}", std::process::id()));
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| format!("cannot write in {}: {e}", dir.display()))?;
    let _ = fs::remove_file(&probe);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use time::Duration;

    struct Setup {
        dir: tempfile::TempDir,
        env: Environment,
    }

    impl Setup {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            for d in ["state", "log", "drop", "keys"] {
                fs::create_dir(dir.path().join(d)).unwrap();
            }
            Setup {
                dir,
                env: Environment {
                    now: OffsetDateTime::now_utc(),
                    credentials_dir: None,
                    euid: Some(1000),
                },
            }
        }

        fn p(&self, rel: &str) -> PathBuf {
            self.dir.path().join(rel)
        }

        fn write(&self, rel: &str, text: &str, mode: u32) -> PathBuf {
            let p = self.p(rel);
            fs::write(&p, text).unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
            p
        }

        /// A key and a certificate valid for `days`.
        fn keypair(&self, name: &str, days: i64) -> (PathBuf, PathBuf) {
            let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
            let mut params = rcgen::CertificateParams::new(vec![]).unwrap();
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, name);
            params.not_before = OffsetDateTime::now_utc() - Duration::days(400);
            params.not_after = OffsetDateTime::now_utc() + Duration::days(days);
            let cert = params.self_signed(&key).unwrap();
            (
                self.write(&format!("keys/{name}.pem"), &key.serialize_pem(), 0o600),
                self.write(&format!("keys/{name}.crt"), &cert.pem(), 0o644),
            )
        }

        fn config(&self, keys: &[&Path], certs: &[&Path], extra: &str) -> PathBuf {
            let list = |ps: &[&Path]| {
                ps.iter()
                    .map(|p| format!("{:?}", p.display().to_string()))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let text = format!(
                r#"[agent]
state_dir = "{state}"
log_dir = "{log}"
console_socket = "{state}/console.sock"

[[mottakersystem]]
name = "nav-frogn"
svarinn_url = "https://svarut.ks.no"
username = "u"
password = "file:{pw}"
private_keys = [{keys}]
certificates = [{certs}]
drop_folder = "{drop}"
{extra}
"#,
                state = self.p("state").display(),
                log = self.p("log").display(),
                pw = self.p("pw").display(),
                drop = self.p("drop").display(),
                keys = list(keys),
                certs = list(certs),
            );
            self.write("agent.toml", &text, 0o644)
        }
    }

    fn messages(r: &Report, severity: Severity) -> Vec<String> {
        r.findings
            .iter()
            .filter(|f| f.severity == severity)
            .map(|f| format!("{} {}: {}", f.scope, f.subject, f.message))
            .collect()
    }

    #[test]
    fn a_good_setup_passes_and_the_layout_is_created() {
        let s = Setup::new();
        s.write("pw", "s3cret\n", 0o600);
        let (key, cert) = s.keypair("nav-frogn-2026", 3650);
        let cfg = s.config(&[&key], &[&cert], "");
        let report = check(&cfg, &s.env);
        assert!(!report.has_errors(), "{report}");
        assert_eq!(report.count(Severity::Warning), 0, "{report}");
        let notes = messages(&report, Severity::Note);
        assert_eq!(notes.len(), 1, "{report}");
        assert!(
            notes[0].contains("created .mottak/ inn/ feilet/ ut/ ut-sendt/ ut-feilet/"),
            "{report}"
        );
        assert!(s.p("drop/inn").is_dir());
        assert!(report.summary().contains("the config is ready"), "{report}");
        // Nothing left behind by the probes.
        assert_eq!(fs::read_dir(s.p("drop/inn")).unwrap().count(), 0);
        assert_eq!(fs::read_dir(s.p("drop/.mottak")).unwrap().count(), 0);
        assert_eq!(fs::read_dir(s.p("state")).unwrap().count(), 0);
        // A second run creates nothing.
        let again = check(&cfg, &s.env);
        assert_eq!(again.findings, vec![], "{again}");
    }

    fn digisos_table(s: &Setup, key: &Path, chain: &Path) -> String {
        format!(
            r#"
[mottakersystem.digisos]
fiks_api_url = "https://api.fiks.test.ks.no"
fiks_org_id = "11415cd1-e26d-499a-8421-751457dfcbd5"
integrasjon_id = "0b9c8f5e-2f3a-4c55-9d1e-5d7f6a8b9c0d"
integrasjon_passord = "file:{ipw}"

[mottakersystem.digisos.maskinporten]
url = "https://test.maskinporten.no/token"
audience = "https://test.maskinporten.no/"
client_id = "c"
private_key = "{key}"
certificate_chain = "{chain}"
"#,
            ipw = s.p("ipw").display(),
            key = key.display(),
            chain = chain.display(),
        )
    }

    /// A setup with `[mottakersystem.digisos]` that passes: its config, the
    /// SvarInn key and certificate, and the Maskinporten key and chain.
    fn digisos_setup(s: &Setup) -> (PathBuf, (PathBuf, PathBuf), (PathBuf, PathBuf)) {
        s.write("pw", "s3cret\n", 0o600);
        s.write("ipw", "integrasjon\n", 0o600);
        let (key, cert) = s.keypair("nav-frogn-2026", 3650);
        let (mp_key, mp_cert) = s.keypair("virksomhet", 3650);
        let cfg = s.config(&[&key], &[&cert], &digisos_table(s, &mp_key, &mp_cert));
        (cfg, (key, cert), (mp_key, mp_cert))
    }

    #[test]
    fn digisos_key_chain_password_and_folders_are_checked() {
        let s = Setup::new();
        let (cfg, (key, cert), (mp_key, _)) = digisos_setup(&s);
        let report = check(&cfg, &s.env);
        assert!(!report.has_errors(), "{report}");
        assert_eq!(report.count(Severity::Warning), 0, "{report}");
        // The claim probe left nothing behind.
        assert!(fs::read_dir(s.p("drop/ut")).unwrap().next().is_none());

        // Everything wrong at once: each is reported.
        fs::remove_file(s.p("ipw")).unwrap();
        let (_, other_cert) = s.keypair("someone-else", 3650);
        let cfg = s.config(&[&key], &[&cert], &digisos_table(&s, &mp_key, &other_cert));
        let errors = messages(&check(&cfg, &s.env), Severity::Error).join("\n");
        assert!(
            errors.contains("integration's password from Fiks"),
            "{errors}"
        );
        assert!(
            errors.contains("put the key's own certificate first"),
            "{errors}"
        );

        s.write("ipw", "integrasjon\n", 0o644);
        let (old_key, old_cert) = s.keypair("expired", -3);
        let cfg = s.config(&[&key], &[&cert], &digisos_table(&s, &old_key, &old_cert));
        let errors = messages(&check(&cfg, &s.env), Severity::Error).join("\n");
        assert!(errors.contains("chmod 600"), "{errors}");
        assert!(
            errors.contains("days ago") && errors.contains("Maskinporten refuses"),
            "{errors}"
        );

        s.write("ipw", "integrasjon\n", 0o600);
        let (soon_key, soon_cert) = s.keypair("soon", 10);
        fs::set_permissions(&soon_key, fs::Permissions::from_mode(0o644)).unwrap();
        let cfg = s.config(&[&key], &[&cert], &digisos_table(&s, &soon_key, &soon_cert));
        let errors = messages(&check(&cfg, &s.env), Severity::Error).join("\n");
        assert!(errors.contains("readable by group or others"), "{errors}");
        fs::set_permissions(&soon_key, fs::Permissions::from_mode(0o600)).unwrap();
        let report = check(&cfg, &s.env);
        let warnings = messages(&report, Severity::Warning).join("\n");
        assert!(warnings.contains("expires in"), "{report}");
        assert!(!report.has_errors(), "{report}");
    }

    #[test]
    fn digisos_ut_sendt_and_ut_feilet_must_be_folders_the_agent_can_write() {
        let s = Setup::new();
        let (cfg, _, _) = digisos_setup(&s);
        assert!(!check(&cfg, &s.env).has_errors());
        // Sent updates could not be handed back: the receipt never arrives.
        fs::remove_dir(s.p("drop/ut-sendt")).unwrap();
        fs::write(s.p("drop/ut-sendt"), b"not a folder").unwrap();
        let errors = messages(&check(&cfg, &s.env), Severity::Error).join("\n");
        assert!(
            errors.contains("ut-sendt is a regular file, not a folder")
                && errors.contains("into ut-sendt/"),
            "{errors}"
        );
        // A link to a folder elsewhere is not one the agent uses: it never
        // follows links beneath the drop folder.
        fs::remove_dir(s.p("drop/ut-feilet")).unwrap();
        fs::create_dir(s.p("elsewhere")).unwrap();
        std::os::unix::fs::symlink(s.p("elsewhere"), s.p("drop/ut-feilet")).unwrap();
        let errors = messages(&check(&cfg, &s.env), Severity::Error).join("\n");
        assert!(errors.contains("ut-feilet is a symbolic link"), "{errors}");
        assert!(fs::read_dir(s.p("elsewhere")).unwrap().next().is_none());
    }

    #[test]
    fn every_problem_is_reported_not_just_the_first() {
        let mut s = Setup::new();
        s.write("pw", "s3cret", 0o644); // readable by others
        let (key, _) = s.keypair("a", 3650);
        fs::set_permissions(&key, fs::Permissions::from_mode(0o640)).unwrap();
        let (_, soon) = s.keypair("soon", 10);
        let (_, expired) = s.keypair("old", -5);
        let missing = s.p("keys/missing.pem");
        fs::remove_dir(s.p("log")).unwrap();
        fs::remove_dir(s.p("drop")).unwrap();
        let cfg = s.config(&[&key, &missing], &[&soon, &expired], "");
        s.env.now = OffsetDateTime::now_utc();
        let report = check(&cfg, &s.env);
        let errors = messages(&report, Severity::Error);
        let warnings = messages(&report, Severity::Warning);
        let has = |v: &[String], needle: &str| v.iter().any(|m| m.contains(needle));
        assert!(has(&errors, "password file:"), "{report}");
        assert!(
            has(&errors, "pw is readable by group or others (mode 0644)"),
            "{report}"
        );
        assert!(has(&errors, "private_keys[0]"), "{report}");
        assert!(has(&errors, "mode 0640"), "{report}");
        assert!(has(&errors, "private_keys[1]"), "{report}");
        assert!(has(&errors, "keygen"), "{report}");
        assert!(has(&errors, "expired 5 days ago"), "{report}");
        assert!(has(&errors, "log_dir"), "{report}");
        assert!(has(&errors, "drop_folder"), "{report}");
        assert!(has(&warnings, "expires in 9 days"), "{report}");
        assert!(report.has_errors());
        assert!(report.summary().contains("fix the errors"), "{report}");
        // Each error says what to do.
        let text = report.to_string();
        assert!(text.contains("chmod 600"), "{text}");
        assert!(text.contains("install -d"), "{text}");
        // The secret itself never appears.
        assert!(!text.contains("s3cret"), "{text}");
    }

    #[test]
    fn a_certificate_without_its_key_is_an_error() {
        let s = Setup::new();
        s.write("pw", "s3cret", 0o600);
        let (key, _) = s.keypair("mine", 3650);
        let (_, other) = s.keypair("other", 3650);
        let report = check(&s.config(&[&key], &[&other], ""), &s.env);
        let errors = messages(&report, Severity::Error);
        assert_eq!(errors.len(), 1, "{report}");
        assert!(
            errors[0].contains("belongs to none of the private_keys"),
            "{report}"
        );
    }

    #[test]
    fn a_config_that_does_not_parse_is_one_error_with_its_line() {
        let s = Setup::new();
        let cfg = s.write("agent.toml", "[agent]\nstate_dri = \"/x\"\n", 0o644);
        let report = check(&cfg, &s.env);
        assert_eq!(report.count(Severity::Error), 1, "{report}");
        let text = report.to_string();
        assert!(text.contains("agent.toml:2:1: key `state_dri`"), "{text}");
    }

    #[test]
    fn credentials_and_root_are_explained() {
        let s = Setup::new();
        let (key, _) = s.keypair("k", 3650);
        let cfg = s.config(&[&key], &[], "");
        let text = fs::read_to_string(&cfg).unwrap().replace(
            &format!("file:{}", s.p("pw").display()),
            "credential:nav-frogn.passord",
        );
        fs::write(&cfg, text).unwrap();
        let mut env = s.env.clone();
        env.euid = Some(0);
        let report = check(&cfg, &env);
        assert!(!report.has_errors(), "{report}");
        let warnings = messages(&report, Severity::Warning);
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("LoadCredential=nav-frogn.passord")),
            "{report}"
        );
        assert!(
            messages(&report, Severity::Note)
                .iter()
                .any(|n| n.contains("as root")),
            "{report}"
        );

        // With the credentials folder given, the credential is read.
        let creds = s.p("creds");
        fs::create_dir(&creds).unwrap();
        s.write("creds/nav-frogn.passord", "pw", 0o400);
        env.credentials_dir = Some(creds);
        let report = check(&cfg, &env);
        assert!(
            !messages(&report, Severity::Warning)
                .iter()
                .any(|w| w.contains("LoadCredential")),
            "{report}"
        );
        assert!(!report.has_errors(), "{report}");
    }

    #[test]
    fn a_journal_from_a_newer_agent_is_an_error() {
        let s = Setup::new();
        s.write("pw", "s3cret", 0o600);
        let (key, _) = s.keypair("k", 3650);
        let cfg = s.config(&[&key], &[], "");
        let conn = rusqlite::Connection::open(s.p("state/journal.sqlite")).unwrap();
        conn.pragma_update(None, "user_version", journal::SCHEMA_VERSION + 1)
            .unwrap();
        drop(conn);
        let report = check(&cfg, &s.env);
        let errors = messages(&report, Severity::Error);
        assert!(errors.iter().any(|e| e.contains("newer than")), "{report}");
    }
}
