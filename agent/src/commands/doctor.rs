//! `mottak-agent doctor`: the pre-flight an installer runs before go-live.
//!
//! First everything `check-config` checks offline (it reuses
//! [`check_config::check`]), then, per mottakersystem and channel, the
//! network: DNS, a TCP connection to every address, the TLS handshake (with
//! the issuer of the server's certificate), SvarInn's credentials (the list
//! call, a GET that changes nothing), Maskinporten (a token grant), Fiks
//! Digisos (the public-key call, a GET) and the drop folder.
//!
//! It is read-only towards KS and Fiks: it never acknowledges, reports a
//! failed import, uploads or posts a saksoppdatering. Locally it may do what
//! `check-config` does (create a drop folder's missing layout folders) and it
//! writes its result to `state_dir/doctor-last.json` for the console.
//!
//! Exit codes: 0 all passed; 1 the config cannot be read or parsed (nothing
//! else checked); 2 `check-config` found errors (online checks all passed);
//! 3 an online check failed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use url::Url;

use super::check_config::{self, Environment};
use crate::config::{self, DigisosSettings, Mottakersystem};
use crate::dropfolder::{DropFolder, INN, STAGING};
use crate::fiks_client::{FiksClient, FiksTimeouts};
use crate::maskinporten::{GrantKey, Maskinporten};
use crate::svarinn_client::{ClientError, SvarInnClient, Timeouts};

/// The file under `state_dir` holding the last result (the JSON of `--json`).
pub const LAST_RESULT_FILE: &str = "doctor-last.json";

/// Exit code: the config cannot be read or parsed.
pub const EXIT_CONFIG_UNREADABLE: u8 = 1;
/// Exit code: `check-config` found errors; every online check passed.
pub const EXIT_OFFLINE_ERRORS: u8 = 2;
/// Exit code: an online check failed.
pub const EXIT_ONLINE_FAILED: u8 = 3;

#[derive(Debug, clap::Args)]
#[command(
    long_about = "Pre-flight before go-live: everything check-config checks, then DNS, TCP, TLS, \
SvarInn credentials (the list call), Maskinporten (a token grant), Fiks Digisos (a GET) and the \
drop folder, per mottakersystem.\n\nRead-only: it never acknowledges, reports, uploads or posts \
anything to SvarInn or Fiks. It writes its result to state_dir/doctor-last.json (shown by the \
console).\n\nExit codes: 0 all passed; 1 the config cannot be read; 2 check-config found errors; \
3 an online check failed."
)]
pub struct Args {
    /// Print the result as one JSON object (the shape is in docs/install.md).
    #[arg(long)]
    pub json: bool,
    /// How long to wait for each TCP connection and TLS handshake, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 5)]
    pub connect_timeout: u64,
}

/// What became of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    /// Not applicable or not configured (never counts as a failure).
    Skip,
}

/// One online check: what, the result, and the fix when it failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// The mottakersystem's name.
    pub scope: String,
    /// `dns`, `tcp`, `tls`, `svarinn`, `maskinporten`, `digisos`, `fiks-io`, `drop-folder`.
    pub kind: String,
    /// What was checked (a host, an address, a folder).
    pub subject: String,
    pub outcome: Outcome,
    /// What was seen.
    pub detail: String,
    /// What to do, when it failed (or a hint).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fix: Option<String>,
}

/// A `check-config` finding, as doctor reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfflineFinding {
    /// `error`, `warning` or `note`.
    pub severity: String,
    pub scope: String,
    pub subject: String,
    pub message: String,
}

/// Everything doctor found: the `--json` shape and the stored last result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoctorReport {
    /// The config file checked.
    pub config: String,
    /// When the run finished (RFC 3339, UTC).
    pub finished_at: String,
    /// Always true: nothing was acknowledged, reported or uploaded.
    pub read_only: bool,
    pub offline: Vec<OfflineFinding>,
    pub checks: Vec<Check>,
    /// The exit code (0 all passed).
    pub exit_code: u8,
}

impl DoctorReport {
    pub fn failed(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| c.outcome == Outcome::Fail)
            .count()
    }

    /// One line for the console: `passed` or `3 of 17 failed`.
    pub fn summary(&self) -> String {
        let offline_errors = self
            .offline
            .iter()
            .filter(|f| f.severity == "error")
            .count();
        match (self.failed(), offline_errors) {
            (0, 0) => format!("all {} checks passed", self.checks.len()),
            (f, o) => format!(
                "{f} of {} online checks failed, {o} config errors",
                self.checks.len()
            ),
        }
    }
}

/// Reads the last stored result, if any.
pub fn last_result(state_dir: &Path) -> Option<DoctorReport> {
    let text = std::fs::read(state_dir.join(LAST_RESULT_FILE)).ok()?;
    serde_json::from_slice(&text).ok()
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
    let offline_findings: Vec<OfflineFinding> = offline
        .findings
        .iter()
        .map(|f| OfflineFinding {
            severity: f.severity.to_string(),
            scope: f.scope.clone(),
            subject: f.subject.clone(),
            message: f.message.clone(),
        })
        .collect();
    let mut report = DoctorReport {
        config: config_path.display().to_string(),
        finished_at: String::new(),
        read_only: true,
        offline: offline_findings,
        checks: Vec::new(),
        exit_code: 0,
    };
    let config = match config::load(config_path) {
        Ok(c) => c,
        Err(_) => {
            report.exit_code = EXIT_CONFIG_UNREADABLE;
            report.finished_at = now_rfc3339();
            return report;
        }
    };
    for m in &config.mottakersystemer {
        check_system(m, env, timeout, &mut report.checks).await;
    }
    report.exit_code = if report.failed() > 0 {
        EXIT_ONLINE_FAILED
    } else if offline.has_errors() {
        EXIT_OFFLINE_ERRORS
    } else {
        0
    };
    report.finished_at = now_rfc3339();
    store(&config.agent.state_dir, &report);
    report
}

/// Writes the result for the console; a failure to store is reported on stderr only.
fn store(state_dir: &Path, report: &DoctorReport) {
    let path = state_dir.join(LAST_RESULT_FILE);
    let tmp = state_dir.join(format!(".{LAST_RESULT_FILE}.tmp"));
    let result = serde_json::to_vec_pretty(report)
        .map_err(std::io::Error::other)
        .and_then(|json| std::fs::write(&tmp, json))
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = result {
        eprintln!(
            "note: could not store the result in {}: {e} (the console will not show it)",
            path.display()
        );
    }
}

fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// The human rendering: one block per check, the fix indented under it.
pub fn render(report: &DoctorReport) -> String {
    let mut out = format!(
        "mottak-agent doctor {} (read-only: nothing is acknowledged, reported or uploaded)\n",
        report.config
    );
    out.push_str("== offline (check-config) ==\n");
    if report.offline.is_empty() {
        out.push_str("pass    config: no findings\n");
    }
    for f in &report.offline {
        out.push_str(&format!("{:<7} [{}] {}\n", f.severity, f.scope, f.subject));
        for line in f.message.lines() {
            out.push_str(&format!("        {line}\n"));
        }
    }
    out.push_str("== online ==\n");
    for c in &report.checks {
        let word = match c.outcome {
            Outcome::Pass => "pass",
            Outcome::Fail => "FAIL",
            Outcome::Skip => "skip",
        };
        out.push_str(&format!(
            "{word:<7} [{}] {} {}: {}\n",
            c.scope, c.kind, c.subject, c.detail
        ));
        if let Some(fix) = &c.fix {
            out.push_str(&format!("        fix: {fix}\n"));
        }
    }
    out.push_str(&format!(
        "{} (exit {})\n",
        report.summary(),
        report.exit_code
    ));
    out
}

async fn check_system(
    m: &Mottakersystem,
    env: &Environment,
    timeout: Duration,
    out: &mut Vec<Check>,
) {
    let scope = m.name.as_str().to_owned();
    let push = |out: &mut Vec<Check>, kind: &str, subject: String, outcome, detail, fix| {
        out.push(Check {
            scope: scope.clone(),
            kind: kind.to_owned(),
            subject,
            outcome,
            detail,
            fix,
        })
    };
    // SvarInn: network, then credentials.
    let reachable = check_endpoint(&scope, &m.svarinn_url, "svarinn_url", timeout, out).await;
    if reachable {
        match svarinn_list(m, env).await {
            Ok(n) => push(
                out,
                "svarinn",
                format!("hentNyeForsendelser as {}", m.username),
                Outcome::Pass,
                format!("credentials accepted; {n} forsendelser waiting (listed, not fetched or acknowledged)"),
                None,
            ),
            Err((detail, fix)) => push(
                out,
                "svarinn",
                format!("hentNyeForsendelser as {}", m.username),
                Outcome::Fail,
                detail,
                Some(fix),
            ),
        }
    }
    check_drop_folder(&scope, m, out);
    match &m.digisos {
        Some(d) => check_digisos(&scope, d, env, timeout, out).await,
        None => push(
            out,
            "digisos",
            "[mottakersystem.digisos]".to_owned(),
            Outcome::Skip,
            "not configured".to_owned(),
            None,
        ),
    }
    // Fiks IO has no config section yet: nothing to check.
    push(
        out,
        "fiks-io",
        "Fiks IO".to_owned(),
        Outcome::Skip,
        "not configured (the config has no Fiks IO settings)".to_owned(),
        None,
    );
}

/// SvarInn's list call: a GET, which changes nothing at SvarInn.
async fn svarinn_list(m: &Mottakersystem, env: &Environment) -> Result<usize, (String, String)> {
    let password = m
        .password
        .load(env.credentials_dir.as_deref())
        .map_err(|e| {
            (
                format!("cannot read the password: {e}"),
                "see the check-config findings above".to_owned(),
            )
        })?;
    let client = SvarInnClient::new(
        m.svarinn_url.as_str(),
        &m.username,
        password.expose(),
        Timeouts {
            request: m.request_timeout,
            ..Timeouts::default()
        },
    )
    .map_err(|e| (e.to_string(), "fix svarinn_url".to_owned()))?;
    match client.list_new().await {
        Ok(body) => Ok(serde_json::from_slice::<Vec<serde_json::Value>>(&body)
            .map(|v| v.len())
            .unwrap_or(0)),
        Err(ClientError::Unauthorized { status }) => Err((
            format!("SvarInn refused the credentials ({status})"),
            format!(
                "check `username` ({}: the mottakersystem id) and the service password in `password` ({}), generated in SvarInn's Service tab",
                m.username, m.password
            ),
        )),
        Err(e) => Err((
            e.to_string(),
            "see the error; SvarInn may be down, or svarinn_url wrong".to_owned(),
        )),
    }
}

async fn check_digisos(
    scope: &str,
    d: &DigisosSettings,
    env: &Environment,
    timeout: Duration,
    out: &mut Vec<Check>,
) {
    let mut push = |kind: &str, subject: String, outcome, detail: String, fix: Option<String>| {
        out.push(Check {
            scope: scope.to_owned(),
            kind: kind.to_owned(),
            subject,
            outcome,
            detail,
            fix,
        })
    };
    let mp = &d.maskinporten;
    let mut mp_out = Vec::new();
    let mp_reachable =
        check_endpoint(scope, &mp.url, "digisos.maskinporten.url", timeout, &mut mp_out).await;
    let mut fiks_out = Vec::new();
    let fiks_reachable = check_endpoint(
        scope,
        &d.fiks_api_url,
        "digisos.fiks_api_url",
        timeout,
        &mut fiks_out,
    )
    .await;
    for c in mp_out.into_iter().chain(fiks_out) {
        push(&c.kind, c.subject, c.outcome, c.detail, c.fix);
    }
    if !mp_reachable {
        return;
    }
    let key = match GrantKey::load(&mp.private_key, &mp.certificate_chain) {
        Ok(k) => k,
        Err(e) => {
            push(
                "maskinporten",
                format!("grant for {}", mp.client_id),
                Outcome::Fail,
                e.to_string(),
                Some("see the check-config findings above".to_owned()),
            );
            return;
        }
    };
    let maskinporten = match Maskinporten::new(mp.clone(), key, d.request_timeout) {
        Ok(m) => Arc::new(m),
        Err(e) => {
            push(
                "maskinporten",
                format!("grant for {}", mp.client_id),
                Outcome::Fail,
                e.to_string(),
                None,
            );
            return;
        }
    };
    let subject = format!("grant for {} (scope {})", mp.client_id, mp.scope);
    match maskinporten.token().await {
        Ok(_) => push(
            "maskinporten",
            subject,
            Outcome::Pass,
            "token granted".to_owned(),
            None,
        ),
        Err(e) => {
            let text = e.to_string();
            let fix = if text.contains("invalid_scope") || text.contains("scope") {
                format!(
                    "Maskinporten refused scope {:?}: give client {} that scope in Digdir's self-service (for Fiks: ks:fiks)",
                    mp.scope, mp.client_id
                )
            } else {
                "check client_id, audience, scope and that the certificate is the one registered for the client".to_owned()
            };
            push("maskinporten", subject, Outcome::Fail, text, Some(fix));
            return;
        }
    }
    if !fiks_reachable {
        return;
    }
    let passord = match d.integrasjon_passord.load(env.credentials_dir.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            push(
                "digisos",
                "integrasjon_passord".to_owned(),
                Outcome::Fail,
                e.to_string(),
                Some("see the check-config findings above".to_owned()),
            );
            return;
        }
    };
    let fiks = match FiksClient::new(
        d.fiks_api_url.clone(),
        &d.fiks_org_id,
        &d.integrasjon_id,
        passord,
        maskinporten,
        FiksTimeouts {
            request: d.request_timeout,
            upload: d.upload_timeout,
        },
    ) {
        Ok(f) => f,
        Err(e) => {
            push(
                "digisos",
                "client".to_owned(),
                Outcome::Fail,
                e.to_string(),
                None,
            );
            return;
        }
    };
    // Fiks Digisos has no read-only call that shows the privilege on the
    // organisation without a case id; the public-key GET carries the token
    // and the integration's id and password, so it proves both are accepted.
    let subject = format!(
        "GET dokumentlager-public-key as integration {}",
        d.integrasjon_id
    );
    match fiks.public_key().await {
        Ok(cert) => push(
            "digisos",
            subject,
            Outcome::Pass,
            format!(
                "token and integration accepted; public key {} (the Digisos privilege on fiks_org_id {} shows only on the first saksoppdatering: Fiks has no read-only call for it)",
                cert.description(),
                d.fiks_org_id
            ),
            None,
        ),
        Err(e) => push(
            "digisos",
            subject,
            Outcome::Fail,
            e.to_string(),
            Some(format!(
                "check integrasjon_id {} and integrasjon_passord in Fiks forvaltning, and that the integration has the Digisos privilege for organisation {}",
                d.integrasjon_id, d.fiks_org_id
            )),
        ),
    }
}

/// DNS, TCP to every address, TLS (for https). True when at least one
/// address took a connection (and, for https, completed the handshake).
async fn check_endpoint(
    scope: &str,
    url: &Url,
    key: &str,
    timeout: Duration,
    out: &mut Vec<Check>,
) -> bool {
    let mut push = |kind: &str, subject: String, outcome, detail: String, fix: Option<String>| {
        out.push(Check {
            scope: scope.to_owned(),
            kind: kind.to_owned(),
            subject,
            outcome,
            detail,
            fix,
        })
    };
    let Some(host) = url.host_str().map(str::to_owned) else {
        push(
            "dns",
            format!("{key} {url}"),
            Outcome::Fail,
            "the URL has no host".to_owned(),
            Some(format!("fix {key}")),
        );
        return false;
    };
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> = match tokio::time::timeout(
        timeout,
        tokio::net::lookup_host((host.as_str(), port)),
    )
    .await
    {
        Ok(Ok(a)) => a.collect(),
        Ok(Err(e)) => {
            push(
                "dns",
                host.clone(),
                Outcome::Fail,
                format!("does not resolve: {e}"),
                Some(format!(
                    "check {key} and the server's DNS resolver (/etc/resolv.conf)"
                )),
            );
            return false;
        }
        Err(_) => {
            push(
                "dns",
                host.clone(),
                Outcome::Fail,
                format!("no answer within {}s", timeout.as_secs()),
                Some("check the server's DNS resolver (/etc/resolv.conf)".to_owned()),
            );
            return false;
        }
    };
    let listed: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
    push(
        "dns",
        host.clone(),
        Outcome::Pass,
        format!("resolves to {}", listed.join(", ")),
        None,
    );
    let mut any = false;
    for addr in &addrs {
        let subject = format!("{host} {addr}");
        let stream =
            match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    push(
                        "tcp",
                        subject,
                        Outcome::Fail,
                        format!("connection failed: {e}"),
                        Some(firewall_fix(&host, addr)),
                    );
                    continue;
                }
                Err(_) => {
                    push(
                        "tcp",
                        subject,
                        Outcome::Fail,
                        format!("no answer within {}s (dropped)", timeout.as_secs()),
                        Some(firewall_fix(&host, addr)),
                    );
                    continue;
                }
            };
        push(
            "tcp",
            subject.clone(),
            Outcome::Pass,
            "connected".to_owned(),
            None,
        );
        if url.scheme() != "https" {
            push(
                "tls",
                subject,
                Outcome::Skip,
                format!("{key} is {}, not https (a local test peer)", url.scheme()),
                None,
            );
            any = true;
            continue;
        }
        match tls_issuer(&host, stream, timeout).await {
            Ok(issuer) => {
                let fix = (!is_public_ca(&issuer)).then(|| {
                    format!(
                        "the issuer is not a public CA KS or Digdir uses: a TLS-inspecting proxy may be in the way; exempt {host} from inspection"
                    )
                });
                push(
                    "tls",
                    subject,
                    Outcome::Pass,
                    format!("handshake done; certificate issued by {issuer}"),
                    fix,
                );
                any = true;
            }
            Err(e) => push(
                "tls",
                subject,
                Outcome::Fail,
                format!("handshake failed: {e}"),
                Some(format!(
                    "if the issuer is unknown, a TLS-inspecting proxy may be in the way: exempt {host} from inspection (the agent trusts the system's CA store)"
                )),
            ),
        }
    }
    any
}

fn firewall_fix(host: &str, addr: &SocketAddr) -> String {
    format!(
        "open the firewall for outgoing TCP to {host} at {} port {}",
        addr.ip(),
        addr.port()
    )
}

/// Issuers of the public CAs that serve KS, Digdir and Fiks (and any public site).
fn is_public_ca(issuer: &str) -> bool {
    const PUBLIC: &[&str] = &[
        "Buypass",
        "Commfides",
        "DigiCert",
        "GlobalSign",
        "Let's Encrypt",
        "Sectigo",
        "GEANT",
        "Entrust",
        "Amazon",
        "Google Trust Services",
        "Microsoft",
    ];
    PUBLIC.iter().any(|p| issuer.contains(p))
}

/// The TLS handshake with the agent's trust (the platform verifier, as
/// reqwest uses); the issuer of the server's certificate.
async fn tls_issuer(
    host: &str,
    stream: tokio::net::TcpStream,
    timeout: Duration,
) -> Result<String, String> {
    use der::Decode;
    use rustls_platform_verifier::ConfigVerifierExt;
    let config = rustls::ClientConfig::with_platform_verifier().map_err(|e| e.to_string())?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| format!("{host} is not a TLS server name: {e}"))?;
    let tls = tokio::time::timeout(timeout, connector.connect(name, stream))
        .await
        .map_err(|_| format!("no handshake within {}s", timeout.as_secs()))?
        .map_err(|e| e.to_string())?;
    let (_, conn) = tls.get_ref();
    let leaf = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or_else(|| "the server sent no certificate".to_owned())?;
    let cert = x509_cert::Certificate::from_der(leaf.as_ref()).map_err(|e| e.to_string())?;
    Ok(cert.tbs_certificate().issuer().to_string())
}

/// The drop folder, through the agent's own handle (`dirfd`): writable,
/// `.mottak/` on `inn/`'s filesystem, free space over `min_free_space`.
fn check_drop_folder(scope: &str, m: &Mottakersystem, out: &mut Vec<Check>) {
    let mut push = |subject: String, outcome, detail: String, fix: Option<String>| {
        out.push(Check {
            scope: scope.to_owned(),
            kind: "drop-folder".to_owned(),
            subject,
            outcome,
            detail,
            fix,
        })
    };
    let drop = DropFolder::new(&m.drop_folder);
    let shown = m.drop_folder.display().to_string();
    let root = match drop.open_root() {
        Ok(r) => r,
        Err(e) => {
            push(
                shown.clone(),
                Outcome::Fail,
                e.to_string(),
                Some(format!("create it for the agent's user: `install -d -o mottak -g mottak {shown}`")),
            );
            return;
        }
    };
    for (name, what) in [(INN, "inn/"), (STAGING, ".mottak/")] {
        let path = PathBuf::from(&m.drop_folder).join(what);
        let result = root.open_dir(&name).and_then(|d| d.check_writable());
        match result {
            Ok(()) => push(
                path.display().to_string(),
                Outcome::Pass,
                "writable".to_owned(),
                None,
            ),
            Err(e) => push(
                path.display().to_string(),
                Outcome::Fail,
                format!("not writable: {e}"),
                Some(format!(
                    "give the agent's user write access: `chown mottak {}` (or the group, mode 2770)",
                    path.display()
                )),
            ),
        }
    }
    match drop.check_same_filesystem() {
        Ok(()) => push(
            format!("{shown} inn/ and .mottak/"),
            Outcome::Pass,
            "on one filesystem (publishing is one atomic rename)".to_owned(),
            None,
        ),
        Err(e) => push(
            format!("{shown} inn/ and .mottak/"),
            Outcome::Fail,
            e.to_string(),
            Some("mount nothing between the drop folder and inn/ or .mottak/".to_owned()),
        ),
    }
    match root.space() {
        Ok(space) if space.free_bytes >= m.min_free_space => push(
            format!("{shown} free space"),
            Outcome::Pass,
            format!(
                "{} MiB free, min_free_space {} MiB",
                space.free_bytes >> 20,
                m.min_free_space >> 20
            ),
            None,
        ),
        Ok(space) => push(
            format!("{shown} free space"),
            Outcome::Fail,
            format!(
                "{} MiB free, under min_free_space {} MiB: the agent would stop fetching",
                space.free_bytes >> 20,
                m.min_free_space >> 20
            ),
            Some("free space on the drop folder's filesystem, or lower min_free_space".to_owned()),
        ),
        Err(e) => push(
            format!("{shown} free space"),
            Outcome::Fail,
            e.to_string(),
            None,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_issuers_are_recognised_and_a_proxy_is_not() {
        assert!(is_public_ca("CN=Buypass Class 2 CA 5,O=Buypass AS-983163327,C=NO"));
        assert!(!is_public_ca("CN=Kommune Proxy CA,O=Kommune"));
    }

    #[test]
    fn the_report_round_trips_through_json() {
        let report = DoctorReport {
            config: "/etc/mottak/agent.toml".into(),
            finished_at: "2026-12-03T14:00:00Z".into(),
            read_only: true,
            offline: vec![],
            checks: vec![Check {
                scope: "nav".into(),
                kind: "tcp".into(),
                subject: "svarut.ks.no 137.221.25.66:443".into(),
                outcome: Outcome::Fail,
                detail: "dropped".into(),
                fix: Some(firewall_fix(
                    "svarut.ks.no",
                    &"137.221.25.66:443".parse().unwrap(),
                )),
            }],
            exit_code: EXIT_ONLINE_FAILED,
        };
        let json = serde_json::to_string(&report).unwrap();
        assert_eq!(serde_json::from_str::<DoctorReport>(&json).unwrap(), report);
        assert!(render(&report).contains("137.221.25.66 port 443"));
    }
}
