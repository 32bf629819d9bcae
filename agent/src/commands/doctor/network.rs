//! Reachability: DNS, a TCP connection to every address, and the TLS
//! handshake with the issuer of the server's certificate recorded, so a
//! TLS-inspecting proxy is named even when the handshake fails.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use url::Url;

use super::Lines;
use crate::doctor::Outcome;

/// DNS, TCP to every address, TLS (for https). True when at least one
/// address took a connection (and, for https, completed the handshake).
pub(super) async fn check_endpoint(
    url: &Url,
    key: &str,
    timeout: Duration,
    lines: &mut Lines<'_>,
) -> bool {
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

pub(super) fn firewall_fix(host: &str, addr: &SocketAddr) -> String {
    format!(
        "open the firewall for outgoing TCP to {host} at {} port {}",
        addr.ip(),
        addr.port()
    )
}

/// The certificates the server presented, as the handshake saw them.
#[derive(Debug, Clone)]
pub(super) struct ChainInfo {
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

    pub(super) fn describe(&self) -> String {
        let mut s = format!(
            "certificate {} issued by {}",
            self.leaf_subject, self.leaf_issuer
        );
        if !self.top_issuer.is_empty() && self.top_issuer != self.leaf_issuer {
            s.push_str(&format!(", chain up to {}", self.top_issuer));
        }
        s
    }

    pub(super) fn public_issuer(&self) -> bool {
        is_public_ca(&self.leaf_issuer) || is_public_ca(&self.top_issuer)
    }
}

/// Issuers of the public CAs that serve KS, Digdir and Fiks (and most public sites).
pub(super) fn is_public_ca(issuer: &str) -> bool {
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

/// Why a TLS handshake did not complete. Comparable, so the kinds hold the
/// texts of errors that are not (`io::Error`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(super) enum HandshakeError {
    #[error("cannot load the system's CA store: {0}")]
    CaStore(rustls::Error),
    #[error(transparent)]
    Config(rustls::Error),
    #[error("{host} is not a TLS server name: {reason}")]
    ServerName { host: String, reason: String },
    #[error("no handshake within {}s", .0.as_secs())]
    Timeout(Duration),
    #[error("{0}")]
    Failed(String),
}

/// The TLS handshake with the platform's trust (`trust` replaces it in
/// tests); the chain the server presented, whatever the outcome.
async fn tls_handshake(
    host: &str,
    stream: tokio::net::TcpStream,
    timeout: Duration,
) -> (Result<(), HandshakeError>, Option<ChainInfo>) {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let inner = match rustls_platform_verifier::Verifier::new(Arc::clone(&provider)) {
        Ok(v) => Arc::new(v) as Arc<dyn ServerCertVerifier>,
        Err(e) => return (Err(HandshakeError::CaStore(e)), None),
    };
    handshake_with(host, stream, timeout, provider, inner).await
}

pub(super) async fn handshake_with(
    host: &str,
    stream: tokio::net::TcpStream,
    timeout: Duration,
    provider: Arc<rustls::crypto::CryptoProvider>,
    inner: Arc<dyn ServerCertVerifier>,
) -> (Result<(), HandshakeError>, Option<ChainInfo>) {
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
        Err(e) => return (Err(HandshakeError::Config(e)), None),
    };
    let name = match ServerName::try_from(host.to_owned()) {
        Ok(n) => n,
        Err(e) => {
            let reason = e.to_string();
            let host = host.to_owned();
            return (Err(HandshakeError::ServerName { host, reason }), None);
        }
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let result = match tokio::time::timeout(timeout, connector.connect(name, stream)).await {
        Err(_) => Err(HandshakeError::Timeout(timeout)),
        Ok(Err(e)) => Err(HandshakeError::Failed(e.to_string())),
        Ok(Ok(_)) => Ok(()),
    };
    let chain = verifier.seen.lock().ok().and_then(|s| s.clone());
    (result, chain)
}
