//! The optional TLS listener (`[agent.remote]`) for consoles on other
//! machines: rustls (aws-lc-rs), a client certificate issued by
//! `client_ca` required, its subject CN taken as the user. A connection
//! without a certificate, or with one from another CA, fails the TLS
//! handshake and gets nothing.
//!
//! Until the client certificate is checked a connection holds one of
//! `max_unauthenticated` slots (at most `max_unauthenticated_per_address`
//! from one address), then one of `max_connections`; from the TCP accept it
//! has `handshake_timeout` for the TLS handshake, the websocket upgrade and
//! `hello`. A peer that sends nothing, or trickles, is dropped by then and
//! never holds a slot an authenticated console needs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use der::Decode;
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use super::admission::{ACCEPT_BACKOFF, Event, Listener, address_key, address_label};
use super::roles::{Identity, NameError, check_name};
use super::server::{Arrival, Hub, IdentityError, serve_connection};
use crate::config::RemoteSettings;
use crate::secret::{MAX_SECRET_FILE_BYTES, read_private_file};
use mottak_protocol::console::Transport;

/// Why the TLS listener could not be set up. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("[agent.remote] {what} {}: {message}", path.display())]
    File {
        what: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error("[agent.remote] {0}")]
    Config(String),
    #[error(
        "cannot listen on [agent.remote] listen = \"{addr}\": {source}; is the port in use, or below 1024 without the capability?"
    )]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

fn file_err(what: &'static str, path: &Path, message: impl ToString) -> TlsSetupError {
    TlsSetupError::File {
        what,
        path: path.to_owned(),
        message: message.to_string(),
    }
}

fn certificates(
    what: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_err(what, path, format!("cannot be read: {e}")))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_err(what, path, format!("is not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(file_err(what, path, "holds no PEM certificate"));
    }
    Ok(certs)
}

/// The rustls acceptor for `remote`: the agent's certificate and key, and
/// client certificates required, checked against `client_ca`.
pub fn acceptor(remote: &RemoteSettings) -> Result<TlsAcceptor, TlsSetupError> {
    let chain = certificates("certificate", &remote.certificate)?;
    let key_pem = read_private_file(&remote.private_key, MAX_SECRET_FILE_BYTES)
        .map_err(|e| file_err("private_key", &remote.private_key, e))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        file_err(
            "private_key",
            &remote.private_key,
            format!("is not a PEM private key: {e}"),
        )
    })?;
    let mut roots = RootCertStore::empty();
    for ca in certificates("client_ca", &remote.client_ca)? {
        roots.add(ca).map_err(|e| {
            file_err(
                "client_ca",
                &remote.client_ca,
                format!("is not a usable CA certificate: {e}"),
            )
        })?;
    }
    // Name the provider: never depend on a process-wide default (two
    // providers in the dependency tree would make that panic).
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
            .build()
            .map_err(|e| TlsSetupError::Config(format!("client_ca cannot verify clients: {e}")))?;
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetupError::Config(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| {
            file_err(
                "certificate",
                &remote.certificate,
                format!(
                    "does not go with private_key {}: {e}",
                    remote.private_key.display()
                ),
            )
        })?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Binds `[agent.remote] listen`.
pub async fn bind(remote: &RemoteSettings) -> Result<TcpListener, TlsSetupError> {
    TcpListener::bind(remote.listen)
        .await
        .map_err(|source| TlsSetupError::Bind {
            addr: remote.listen,
            source,
        })
}

/// Why a TLS console's client certificate names no user it may log in as.
#[derive(Debug, thiserror::Error)]
pub enum ClientCertError {
    #[error("no client certificate")]
    Missing,
    #[error("the client certificate cannot be parsed: {0}")]
    Unparsable(der::Error),
    #[error("the client certificate's CN cannot be read: {0}")]
    UnreadableCn(der::Error),
    #[error("the client certificate has no CN; issue one whose CN is the user's name")]
    NoCn,
    #[error(transparent)]
    Name(#[from] NameError),
}

/// The user a verified client certificate names: its subject's CN.
pub fn user_of(cert: &CertificateDer<'_>) -> Result<String, ClientCertError> {
    let parsed =
        x509_cert::Certificate::from_der(cert.as_ref()).map_err(ClientCertError::Unparsable)?;
    let cn = parsed
        .tbs_certificate()
        .subject()
        .common_name()
        .map_err(ClientCertError::UnreadableCn)?
        .ok_or(ClientCertError::NoCn)?;
    let user = cn.value().into_owned();
    check_name("user", &user)?;
    Ok(user)
}

/// Accepts TLS console connections until shutdown; `handshake_timeout`
/// is `[agent.remote] handshake_timeout`.
pub async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    hub: Arc<Hub>,
    handshake_timeout: std::time::Duration,
) {
    let admission = Arc::clone(&hub.admission);
    loop {
        let accepted = tokio::select! {
            () = hub.shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(err) => {
                // Out of file descriptors, typically: wait rather than spin.
                admission.note(
                    Listener::Remote,
                    Event::AcceptFailed,
                    "-",
                    Some(&err.to_string()),
                );
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let deadline = Instant::now() + handshake_timeout;
        let address = address_key(peer.ip());
        let label = address_label(address);
        // Refused here, the connection is closed as `tcp` drops.
        let Some(address_slot) = admission.per_address.try_take(address) else {
            admission.note(Listener::Remote, Event::AddressFull, &label, None);
            continue;
        };
        let Some(unauthenticated) = admission.unauthenticated.try_take() else {
            admission.note(Listener::Remote, Event::UnauthenticatedFull, &label, None);
            continue;
        };
        let acceptor = acceptor.clone();
        let hub = Arc::clone(&hub);
        tokio::spawn(async move {
            let admission = Arc::clone(&hub.admission);
            let tls = match tokio::time::timeout_at(deadline, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(err)) => {
                    admission.note(
                        Listener::Remote,
                        Event::TlsRefused,
                        &label,
                        Some(&err.to_string()),
                    );
                    return;
                }
                Err(_) => {
                    admission.note(
                        Listener::Remote,
                        Event::Timeout,
                        &label,
                        Some("in the TLS handshake"),
                    );
                    return;
                }
            };
            // Past the client-certificate check: no longer unauthenticated.
            drop(unauthenticated);
            drop(address_slot);
            let identity = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .ok_or(ClientCertError::Missing)
                .and_then(user_of)
                .map_err(IdentityError::from)
                .map(|user| Identity {
                    user,
                    transport: Transport::Tls,
                    unix_groups: Default::default(),
                });
            let peer = match &identity {
                Ok(who) => format!("{} at {label}", who.user),
                Err(_) => label,
            };
            let Some(slot) = admission.remote.try_take() else {
                admission.note(Listener::Remote, Event::RemoteFull, &peer, None);
                return;
            };
            let arrival = Arrival {
                listener: Listener::Remote,
                peer,
                deadline: Some(deadline),
            };
            serve_connection(tls, identity, hub, arrival).await;
            drop(slot);
        });
    }
}
