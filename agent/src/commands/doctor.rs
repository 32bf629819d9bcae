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

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mottak_protocol::digisos::OAuthError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use url::Url;

use super::check_config::{self, Environment};
use crate::config::{self, DigisosSettings, Mottakersystem};
use crate::doctor::{Check, DoctorReport, OfflineFinding, Outcome};
use crate::dropfolder::{DropFolder, INN, INN_DIR, STAGING, STAGING_DIR};
use crate::fiks_client::{FiksCallError, FiksClient, FiksTimeouts};
use crate::maskinporten::{GrantKey, Maskinporten, TokenError};
use crate::svarinn_client::{ClientError, SvarInnClient, Timeouts};

/// Exit code: the config cannot be read or parsed.
pub const EXIT_CONFIG_UNREADABLE: u8 = 1;
/// Exit code: `check-config` found errors; every online check passed.
pub const EXIT_OFFLINE_ERRORS: u8 = 2;
/// Exit code: an online check failed.
pub const EXIT_ONLINE_FAILED: u8 = 3;

/// The case the privilege check lists the files of: no case has this id,
/// so Fiks answers 403 without the privilege on the organisation and
/// 400/404 (unknown case) with it. Nothing exists to change.
const NO_CASE: &str = "00000000-0000-0000-0000-000000000000";

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

/// The human rendering: one line per check, the fix indented under it.
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
    out.push_str("== online (per mottakersystem) ==\n");
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
            let label = if c.outcome == Outcome::Fail {
                "fix"
            } else {
                "note"
            };
            out.push_str(&format!("        {label}: {fix}\n"));
        }
    }
    out.push_str(&format!(
        "{} (exit {})\n",
        report.summary(),
        report.exit_code
    ));
    out
}

/// The checks of one mottakersystem, as they are made.
struct Lines<'a> {
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
            format!("hentNyeForsendelser as {}", m.username),
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

/// SvarInn's list call: a GET, which changes nothing at SvarInn (nothing
/// is downloaded or acknowledged).
async fn check_svarinn(m: &Mottakersystem, env: &Environment, lines: &mut Lines<'_>) {
    let subject = format!("hentNyeForsendelser as {}", m.username);
    let password = match m.password.load(env.credentials_dir.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            return lines.fail(
                "svarinn",
                subject,
                format!("cannot read the service password: {e}"),
                "see the check-config findings above".to_owned(),
            );
        }
    };
    let client = match SvarInnClient::new(
        m.svarinn_url.as_str(),
        &m.username,
        password.expose(),
        Timeouts {
            request: m.request_timeout,
            ..Timeouts::default()
        },
    ) {
        Ok(c) => c,
        Err(e) => {
            return lines.fail(
                "svarinn",
                subject,
                e.to_string(),
                "fix svarinn_url".to_owned(),
            );
        }
    };
    match client.list_new().await {
        Ok(body) => {
            let waiting = serde_json::from_slice::<Vec<serde_json::Value>>(&body)
                .map(|v| v.len().to_string())
                .unwrap_or_else(|_| "an unreadable list of".to_owned());
            lines.pass(
                "svarinn",
                subject,
                format!(
                    "credentials accepted; {waiting} forsendelser waiting (listed only: nothing fetched or acknowledged)"
                ),
            );
        }
        Err(ClientError::Unauthorized { status }) => lines.fail(
            "svarinn",
            subject,
            format!("SvarInn refused the credentials ({status})"),
            format!(
                "check `username` = {:?} (the mottakersystem id from SvarInn's Service tab) and the service password `password` = {} (generate a new one in the Service tab if unsure)",
                m.username, m.password
            ),
        ),
        Err(e) => lines.fail(
            "svarinn",
            subject,
            e.to_string(),
            "SvarInn may be down (status.ks.no), or svarinn_url is wrong".to_owned(),
        ),
    }
}

async fn check_digisos(
    d: &DigisosSettings,
    env: &Environment,
    timeout: Duration,
    lines: &mut Lines<'_>,
) {
    let mp = &d.maskinporten;
    let mp_reachable = check_endpoint(&mp.url, "digisos.maskinporten.url", timeout, lines).await;
    let fiks_reachable =
        check_endpoint(&d.fiks_api_url, "digisos.fiks_api_url", timeout, lines).await;
    if !mp_reachable {
        return lines.skip(
            "maskinporten",
            format!("grant for client {}", mp.client_id),
            "not tried, nor Fiks Digisos: no address of digisos.maskinporten.url took a connection (see above)".to_owned(),
        );
    }
    let subject = format!("grant for client {} (scope {:?})", mp.client_id, mp.scope);
    let key = match GrantKey::load(&mp.private_key, &mp.certificate_chain) {
        Ok(k) => k,
        Err(e) => {
            return lines.fail(
                "maskinporten",
                subject,
                e.to_string(),
                "see the check-config findings above".to_owned(),
            );
        }
    };
    let maskinporten = match Maskinporten::new(mp.clone(), key, d.request_timeout) {
        Ok(m) => Arc::new(m),
        Err(e) => {
            return lines.fail(
                "maskinporten",
                subject,
                e.to_string(),
                "see the error".to_owned(),
            );
        }
    };
    match maskinporten.token().await {
        Ok(_) => lines.pass("maskinporten", subject, "token granted".to_owned()),
        Err(e) => {
            let fix = match refused_scope(&e) {
                Some(why) => format!(
                    "Maskinporten refused the scope {:?} ({why}): give client {} the scope ks:fiks in Digdir's self-service (Samarbeidsportalen), or fix `scope` in [mottakersystem.digisos.maskinporten]",
                    mp.scope, mp.client_id
                ),
                None => "check client_id, audience, and that the certificate chain is the one registered for the client".to_owned(),
            };
            lines.fail("maskinporten", subject, e.to_string(), fix);
            return lines.skip(
                "digisos",
                format!("integration {}", d.integrasjon_id),
                "not tried: Fiks Digisos needs a Maskinporten token (see above)".to_owned(),
            );
        }
    }
    if !fiks_reachable {
        return lines.skip(
            "digisos",
            format!("integration {}", d.integrasjon_id),
            "not tried: no address of digisos.fiks_api_url took a connection (see above)"
                .to_owned(),
        );
    }
    let passord = match d.integrasjon_passord.load(env.credentials_dir.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            return lines.fail(
                "digisos",
                "integrasjon_passord".to_owned(),
                e.to_string(),
                "see the check-config findings above".to_owned(),
            );
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
            return lines.fail(
                "digisos",
                "client".to_owned(),
                e.to_string(),
                "see the error".to_owned(),
            );
        }
    };
    let integration_fix = format!(
        "check integrasjon_id {} and integrasjon_passord ({}) in Fiks forvaltning",
        d.integrasjon_id, d.integrasjon_passord
    );
    let subject = format!(
        "GET dokumentlager-public-key as integration {}",
        d.integrasjon_id
    );
    match fiks.public_key().await {
        Ok(cert) => lines.pass(
            "digisos",
            subject,
            format!(
                "token and integration accepted; Fiks's public key {}",
                cert.description()
            ),
        ),
        Err(e) => return lines.fail("digisos", subject, e.to_string(), integration_fix),
    }
    // The privilege: a file list of a case that cannot exist, on the
    // organisation. A GET; Fiks checks the organisation before the case.
    let subject = format!(
        "Digisos privilege of integration {} on fiks_org_id {}",
        d.integrasjon_id, d.fiks_org_id
    );
    match fiks.list_files(NO_CASE).await {
        Ok(_) => lines.pass("digisos", subject, "privilege present (the file list answered)".to_owned()),
        Err(FiksCallError::Rejected { status: 403, message, .. }) => lines.fail(
            "digisos",
            subject,
            format!("Fiks refused the organisation (403): {message}"),
            format!(
                "give integration {} the Digisos privilege for organisation {} in Fiks forvaltning (Tilganger), and check fiks_org_id",
                d.integrasjon_id, d.fiks_org_id
            ),
        ),
        Err(FiksCallError::Rejected { status: 400 | 404, .. }) => lines.pass(
            "digisos",
            subject,
            "privilege present (Fiks looked for the case: the organisation is open to the integration)".to_owned(),
        ),
        Err(e) => lines.fail("digisos", subject, e.to_string(), integration_fix),
    }
}

/// Why Maskinporten refused the scope, when that is what it refused.
fn refused_scope(e: &TokenError) -> Option<String> {
    let TokenError::Refused { body, .. } = e else {
        return None;
    };
    let oauth: OAuthError = serde_json::from_str(body).ok()?;
    (oauth.error == "invalid_scope").then(|| oauth.to_string())
}

/// DNS, TCP to every address, TLS (for https). True when at least one
/// address took a connection (and, for https, completed the handshake).
async fn check_endpoint(url: &Url, key: &str, timeout: Duration, lines: &mut Lines<'_>) -> bool {
    let Some(host) = url
        .host_str()
        .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_owned())
    else {
        lines.fail(
            "dns",
            format!("{key} {url}"),
            "the URL has no host".to_owned(),
            format!("fix {key}"),
        );
        return false;
    };
    let port = url.port_or_known_default().unwrap_or(443);
    let mut addrs: Vec<SocketAddr> = match tokio::time::timeout(
        timeout,
        tokio::net::lookup_host((host.as_str(), port)),
    )
    .await
    {
        Ok(Ok(a)) => a.collect(),
        Ok(Err(e)) => {
            lines.fail(
                    "dns",
                    host.clone(),
                    format!("does not resolve: {e}"),
                    format!("check {key} and the server's DNS resolver (/etc/resolv.conf, `getent hosts {host}`)"),
                );
            return false;
        }
        Err(_) => {
            lines.fail(
                    "dns",
                    host.clone(),
                    format!("no answer within {}s", timeout.as_secs()),
                    "check the server's DNS resolver (/etc/resolv.conf) and that the firewall lets DNS out".to_owned(),
                );
            return false;
        }
    };
    addrs.dedup();
    let listed: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
    lines.pass(
        "dns",
        host.clone(),
        format!("resolves to {} (port {port})", listed.join(", ")),
    );
    let mut any = false;
    for addr in &addrs {
        let subject = format!("{host} {addr}");
        let stream = match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                lines.fail(
                    "tcp",
                    subject,
                    format!("connection failed: {e}"),
                    firewall_fix(&host, addr),
                );
                continue;
            }
            Err(_) => {
                lines.fail(
                    "tcp",
                    subject,
                    format!("no answer within {}s (dropped)", timeout.as_secs()),
                    firewall_fix(&host, addr),
                );
                continue;
            }
        };
        lines.pass("tcp", subject.clone(), "connected".to_owned());
        if url.scheme() != "https" {
            lines.skip(
                "tls",
                subject,
                format!("{key} is {}, not https (a local test peer)", url.scheme()),
            );
            any = true;
            continue;
        }
        let (result, chain) = tls_handshake(&host, stream, timeout).await;
        let issued = chain.as_ref().map(ChainInfo::describe);
        match result {
            Ok(()) => {
                let issued = issued.unwrap_or_else(|| "no certificate seen".to_owned());
                let note = chain.as_ref().filter(|c| !c.public_issuer()).map(|_| {
                    format!(
                        "the issuer is not a public CA that KS, Digdir or Fiks use: if a TLS-inspecting proxy is in the way, exempt {host} from inspection"
                    )
                });
                lines.push(
                    "tls",
                    subject,
                    Outcome::Pass,
                    format!("handshake done; {issued}"),
                    note,
                );
                any = true;
            }
            Err(e) => {
                let detail = match &issued {
                    Some(i) => format!("handshake failed: {e}; {i}"),
                    None => format!("handshake failed: {e}"),
                };
                let fix = match &chain {
                    Some(c) if !c.public_issuer() => format!(
                        "the certificate is not from a public CA: a TLS-inspecting proxy is in the way; exempt {host} from inspection (or install the proxy's CA in the system store, update-ca-certificates)"
                    ),
                    _ => format!(
                        "check the system's CA store (ca-certificates) and the clock; a proxy in the way shows its own issuer here; exempt {host} from inspection"
                    ),
                };
                lines.fail("tls", subject, detail, fix);
            }
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

/// The certificates the server presented, as the handshake saw them.
#[derive(Debug, Clone)]
struct ChainInfo {
    leaf_subject: String,
    leaf_issuer: String,
    /// The issuer of the last certificate sent (the root it chains to).
    top_issuer: String,
}

impl ChainInfo {
    fn from_certificates(certs: &[CertificateDer<'_>]) -> Option<ChainInfo> {
        use der::Decode;
        let parse = |c: &CertificateDer<'_>| x509_cert::Certificate::from_der(c.as_ref()).ok();
        let leaf = parse(certs.first()?)?;
        let top = certs.last().and_then(parse);
        Some(ChainInfo {
            leaf_subject: leaf.tbs_certificate().subject().to_string(),
            leaf_issuer: leaf.tbs_certificate().issuer().to_string(),
            top_issuer: top.map_or_else(String::new, |t| t.tbs_certificate().issuer().to_string()),
        })
    }

    fn describe(&self) -> String {
        let mut s = format!(
            "certificate {} issued by {}",
            self.leaf_subject, self.leaf_issuer
        );
        if !self.top_issuer.is_empty() && self.top_issuer != self.leaf_issuer {
            s.push_str(&format!(", chain up to {}", self.top_issuer));
        }
        s
    }

    fn public_issuer(&self) -> bool {
        is_public_ca(&self.leaf_issuer) || is_public_ca(&self.top_issuer)
    }
}

/// Issuers of the public CAs that serve KS, Digdir and Fiks (and most public sites).
fn is_public_ca(issuer: &str) -> bool {
    const PUBLIC: &[&str] = &[
        "Buypass",
        "Commfides",
        "DigiCert",
        "GlobalSign",
        "Let's Encrypt",
        "ISRG",
        "Sectigo",
        "GEANT",
        "Entrust",
        "Amazon",
        "Google Trust Services",
        "Microsoft",
    ];
    PUBLIC.iter().any(|p| issuer.contains(p))
}

/// Keeps the chain the server presented, then lets the platform verifier
/// (the trust reqwest uses for the agent's own calls) decide. So the issuer
/// is known also when the handshake fails, which is when a TLS-inspecting
/// proxy matters most.
#[derive(Debug)]
struct RecordingVerifier {
    inner: Arc<dyn ServerCertVerifier>,
    seen: Mutex<Option<ChainInfo>>,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut all = vec![end_entity.clone()];
        all.extend(intermediates.iter().cloned());
        if let Ok(mut seen) = self.seen.lock() {
            *seen = ChainInfo::from_certificates(&all);
        }
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The TLS handshake with the platform's trust (`trust` replaces it in
/// tests); the chain the server presented, whatever the outcome.
async fn tls_handshake(
    host: &str,
    stream: tokio::net::TcpStream,
    timeout: Duration,
) -> (Result<(), String>, Option<ChainInfo>) {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let inner = match rustls_platform_verifier::Verifier::new(Arc::clone(&provider)) {
        Ok(v) => Arc::new(v) as Arc<dyn ServerCertVerifier>,
        Err(e) => return (Err(format!("cannot load the system's CA store: {e}")), None),
    };
    handshake_with(host, stream, timeout, provider, inner).await
}

async fn handshake_with(
    host: &str,
    stream: tokio::net::TcpStream,
    timeout: Duration,
    provider: Arc<rustls::crypto::CryptoProvider>,
    inner: Arc<dyn ServerCertVerifier>,
) -> (Result<(), String>, Option<ChainInfo>) {
    let verifier = Arc::new(RecordingVerifier {
        inner,
        seen: Mutex::new(None),
    });
    let config = match rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
    {
        Ok(b) => b
            .dangerous()
            .with_custom_certificate_verifier(Arc::clone(&verifier) as Arc<dyn ServerCertVerifier>)
            .with_no_client_auth(),
        Err(e) => return (Err(e.to_string()), None),
    };
    let name = match ServerName::try_from(host.to_owned()) {
        Ok(n) => n,
        Err(e) => return (Err(format!("{host} is not a TLS server name: {e}")), None),
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let result = match tokio::time::timeout(timeout, connector.connect(name, stream)).await {
        Err(_) => Err(format!("no handshake within {}s", timeout.as_secs())),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(_)) => Ok(()),
    };
    let chain = verifier.seen.lock().ok().and_then(|s| s.clone());
    (result, chain)
}

/// The drop folder, through the agent's own handle (`dirfd`): `inn/` and
/// `.mottak/` writable, on one filesystem, free space over `min_free_space`.
fn check_drop_folder(m: &Mottakersystem, lines: &mut Lines<'_>) {
    const KIND: &str = "drop-folder";
    let drop = DropFolder::new(&m.drop_folder);
    let shown = m.drop_folder.display().to_string();
    let root = match drop.open_root() {
        Ok(r) => r,
        Err(e) => {
            return lines.fail(
                KIND,
                shown.clone(),
                e.to_string(),
                format!("create it for the agent's user: `install -d -o mottak -g mottak -m 2770 {shown}`"),
            );
        }
    };
    for (name, dir) in [(INN, INN_DIR), (STAGING, STAGING_DIR)] {
        let path = m.drop_folder.join(dir).display().to_string();
        match root.open_dir(&name).and_then(|d| d.check_writable()) {
            Ok(()) => lines.pass(KIND, path, "writable".to_owned()),
            Err(e) => lines.fail(
                KIND,
                path.clone(),
                format!("not writable: {e}"),
                format!("give the agent's user write access: `chown mottak {path}` (or its group, mode 2770)"),
            ),
        }
    }
    let both = format!("{shown} {INN_DIR}/ and {STAGING_DIR}/");
    match drop.check_same_filesystem() {
        Ok(()) => lines.pass(KIND, both, "on one filesystem (publishing is one atomic rename)".to_owned()),
        Err(e) => lines.fail(
            KIND,
            both,
            e.to_string(),
            format!("mount nothing on {shown}/{INN_DIR} or {shown}/{STAGING_DIR}: they must share a filesystem"),
        ),
    }
    let subject = format!("{shown} free space");
    match root.space() {
        Ok(space) if space.free_bytes >= m.min_free_space => lines.pass(
            KIND,
            subject,
            format!(
                "{} MiB free, min_free_space {} MiB",
                space.free_bytes >> 20,
                m.min_free_space >> 20
            ),
        ),
        Ok(space) => lines.fail(
            KIND,
            subject,
            format!(
                "{} MiB free, under min_free_space {} MiB: the agent would stop fetching",
                space.free_bytes >> 20,
                m.min_free_space >> 20
            ),
            "free space on the drop folder's filesystem, or lower min_free_space".to_owned(),
        ),
        Err(e) => lines.fail(KIND, subject, e.to_string(), "see the error".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::OfflineFinding;

    #[test]
    fn public_issuers_are_recognised_and_a_proxy_is_not() {
        assert!(is_public_ca(
            "CN=Buypass Class 2 CA 5,O=Buypass AS-983163327,C=NO"
        ));
        assert!(!is_public_ca("CN=Kommune Proxy CA,O=Kommune"));
    }

    #[test]
    fn only_an_invalid_scope_is_called_a_refused_scope() {
        let scope = TokenError::Refused {
            status: 400,
            body: r#"{"error":"invalid_scope","error_description":"scope \"ks:annet\" does not hold \"ks:fiks\""}"#.into(),
        };
        assert!(refused_scope(&scope).is_some_and(|w| w.contains("ks:annet")));
        let grant = TokenError::Refused {
            status: 400,
            body: r#"{"error":"invalid_grant","error_description":"unknown client"}"#.into(),
        };
        assert_eq!(refused_scope(&grant), None);
    }

    #[test]
    fn the_human_output_names_fixes_and_says_read_only() {
        let report = DoctorReport {
            config: "/etc/mottak/agent.toml".into(),
            finished_at: "2026-12-03T14:00:00Z".into(),
            read_only: true,
            offline: vec![OfflineFinding {
                severity: "warning".into(),
                scope: "nav".into(),
                subject: "cert".into(),
                message: "expires in 20 days".into(),
            }],
            checks: vec![Check {
                scope: "nav".into(),
                kind: "tcp".into(),
                subject: "svarut.ks.no 137.221.25.66:443".into(),
                outcome: Outcome::Fail,
                detail: "no answer within 5s (dropped)".into(),
                fix: Some(firewall_fix(
                    "svarut.ks.no",
                    &"137.221.25.66:443".parse().unwrap(),
                )),
            }],
            exit_code: EXIT_ONLINE_FAILED,
        };
        let text = render(&report);
        assert!(
            text.contains("read-only: nothing is acknowledged, reported or uploaded"),
            "{text}"
        );
        assert!(
            text.contains(
                "FAIL    [nav] tcp svarut.ks.no 137.221.25.66:443: no answer within 5s (dropped)\n        fix: open the firewall for outgoing TCP to svarut.ks.no at 137.221.25.66 port 443\n"
            ),
            "{text}"
        );
        assert!(text.ends_with("(exit 3)\n"), "{text}");
    }

    /// A server whose certificate comes from a CA the system does not
    /// know (as a TLS-inspecting proxy's does): the handshake fails and the
    /// line names the issuer and the proxy; with that CA trusted, it passes
    /// and still names the issuer.
    #[tokio::test]
    async fn a_tls_inspecting_proxy_is_named_by_its_issuer() {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.distinguished_name = rcgen::DistinguishedName::new();
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Kommune Inspect CA");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, &ca_key);
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf_params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();

        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone(), ca.der().clone()],
                rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap(),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                let _ = acceptor.accept(s).await;
            }
        });

        // The system's trust (which does not hold the test CA).
        let url = Url::parse(&format!("https://127.0.0.1:{}/", addr.port())).unwrap();
        let mut out = Vec::new();
        let mut lines = Lines {
            scope: "nav",
            out: &mut out,
        };
        assert!(!check_endpoint(&url, "svarinn_url", Duration::from_secs(5), &mut lines).await);
        let tls = out.iter().find(|c| c.kind == "tls").unwrap();
        assert_eq!(tls.outcome, Outcome::Fail, "{tls:?}");
        assert!(
            tls.detail.contains("issued by CN=Kommune Inspect CA"),
            "{tls:?}"
        );
        assert!(
            tls.fix.as_deref().is_some_and(
                |f| f.contains("TLS-inspecting proxy") && f.contains("exempt 127.0.0.1")
            ),
            "{tls:?}"
        );

        // Trusted (as when the kommune installed the proxy's CA): passes, still named.
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.der().clone()).unwrap();
        let trusting = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::clone(&provider),
        )
        .build()
        .unwrap();
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (result, chain) = handshake_with(
            "127.0.0.1",
            stream,
            Duration::from_secs(5),
            provider,
            trusting,
        )
        .await;
        assert_eq!(result, Ok(()));
        let chain = chain.unwrap();
        assert!(
            chain.describe().contains("issued by CN=Kommune Inspect CA"),
            "{chain:?}"
        );
        assert!(!chain.public_issuer());
    }
}
