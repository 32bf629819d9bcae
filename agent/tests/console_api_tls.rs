//! The `[agent.remote]` TLS listener on the real agent: a console with a
//! client certificate from `client_ca` is the certificate's CN; one without
//! a certificate, or with one from another CA, gets nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod console_api_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use console_api_support::{Env, Options};
use futures_util::{SinkExt, StreamExt};
use mottak_protocol::console::{
    ClientMessage, ErrorCode, PROTOCOL_VERSION, ServerMessage, Transport,
};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        Ca {
            issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A leaf certificate and its key (PEM).
    fn leaf(&self, cn: &str, server: bool) -> (String, String) {
        let sans = if server {
            vec!["localhost".to_owned(), "127.0.0.1".to_owned()]
        } else {
            Vec::new()
        };
        let mut params = CertificateParams::new(sans).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![if server {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            ExtendedKeyUsagePurpose::ClientAuth
        }];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// Connects with TLS (trusting `ca_pem`), presenting `client` if given, and
/// says hello. `Err` when the TLS or websocket handshake fails or the
/// connection closes before any message.
async fn hello_over_tls(
    port: u16,
    ca_pem: &str,
    client: Option<&(String, String)>,
) -> Result<ServerMessage, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .map_err(|e| format!("tls: {e}"))?;
    let (mut ws, _) = tokio_tungstenite::client_async("wss://localhost/console", tls)
        .await
        .map_err(|e| format!("websocket: {e}"))?;
    let hello = serde_json::to_string(&ClientMessage::Hello {
        protocol: PROTOCOL_VERSION,
        client: None,
    })
    .unwrap();
    ws.send(Message::text(hello))
        .await
        .map_err(|e| format!("send: {e}"))?;
    loop {
        let next = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .map_err(|_| "no answer".to_owned())?;
        match next {
            Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str(t.as_str()).unwrap()),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => return Err(format!("closed: {other:?}")),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_names_the_user_and_refuses_strangers() {
    let ca = Ca::new("Kommunens konsoll-CA");
    let rogue = Ca::new("Some other CA");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (server_cert, server_key) = ca.leaf("mottak01", true);
    std::fs::write(d.join("agent.crt"), format!("{server_cert}{}", ca.pem())).unwrap();
    write_private(&d.join("agent.key"), &server_key);
    std::fs::write(d.join("ca.crt"), ca.pem()).unwrap();
    let port = free_port();
    let env = Env::new(Options {
        tables: format!(
            "[agent.remote]\nlisten = \"127.0.0.1:{port}\"\ncertificate = \"{d}/agent.crt\"\nprivate_key = \"{d}/agent.key\"\nclient_ca = \"{d}/ca.crt\"\n",
            d = d.display()
        ),
        ..Options::default()
    })
    .await;
    env.access(&[
        "grant", "--user", "kari", "--role", "operator", "--system", "ms-a",
    ]);
    let mut agent = env.spawn_agent().await;

    let kari = ca.leaf("kari", false);
    match hello_over_tls(port, &ca.pem(), Some(&kari)).await.unwrap() {
        ServerMessage::Welcome {
            user,
            transport,
            permissions,
            ..
        } => {
            assert_eq!(user, "kari");
            assert_eq!(transport, Transport::Tls);
            assert_eq!(permissions[0].mottakersystem, "ms-a");
        }
        other => panic!("{other:?}"),
    }

    // A known CA but a user without any role: a clear refusal.
    let ola = ca.leaf("ola", false);
    match hello_over_tls(port, &ca.pem(), Some(&ola)).await.unwrap() {
        ServerMessage::Error { code, message, .. } => {
            assert_eq!(code, ErrorCode::NoAccess);
            assert!(message.contains("ola"), "{message}");
        }
        other => panic!("{other:?}"),
    }

    // No certificate, and a certificate from another CA: nothing.
    let none = hello_over_tls(port, &ca.pem(), None).await;
    assert!(none.is_err(), "{none:?}");
    let forged = rogue.leaf("kari", false);
    let stranger = hello_over_tls(port, &ca.pem(), Some(&forged)).await;
    assert!(stranger.is_err(), "{stranger:?}");

    agent.assert_running();
    let log = agent.log_text();
    assert!(log.contains("refused in the TLS handshake"), "{log}");
    // The local socket still works beside it.
    env.access(&["grant", "--user", "root", "--role", "viewer", "--all"]);
    let mut local = env.console().await;
    assert!(matches!(local.hello().await, ServerMessage::Welcome { .. }));
}

/// A broken `[agent.remote]` stops the agent at startup with a message
/// naming the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_remote_config_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("agent.crt"), "not a certificate").unwrap();
    let env = Env::new(Options {
        tables: format!(
            "[agent.remote]\nlisten = \"127.0.0.1:{}\"\ncertificate = \"{d}/agent.crt\"\nprivate_key = \"{d}/agent.key\"\nclient_ca = \"{d}/ca.crt\"\n",
            free_port(),
            d = d.display()
        ),
        ..Options::default()
    })
    .await;
    let out = std::process::Command::new(console_api_support::AGENT)
        .arg("run")
        .arg("--config")
        .arg(&env.config)
        .env_remove("NOTIFY_SOCKET")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = console_api_support::output_text(&out);
    assert!(text.contains("[agent.remote] certificate"), "{text}");
    assert!(text.contains("agent.crt"), "{text}");
}
