//! The `[agent.remote]` TLS listener on the real agent: a console with a
//! client certificate from `client_ca` is the certificate's CN; one without
//! a certificate, or with one from another CA, gets nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod console_api_support;

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use console_api_support::{Env, Options};
use futures_util::{SinkExt, StreamExt};
use mottak_fixtures::kit::write_private;
use mottak_protocol::console::{
    ClientMessage, ErrorCode, PROTOCOL_VERSION, ServerMessage, Transport,
};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
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

type TlsConsole = WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>>;

/// Connects with TLS (trusting `ca_pem`), presenting `client` if given, and
/// says hello. `Err` when the TLS or websocket handshake fails or the
/// connection closes before any message.
async fn hello_over_tls(
    port: u16,
    ca_pem: &str,
    client: Option<&(String, String)>,
) -> Result<ServerMessage, String> {
    let mut ws = connect_tls(None, port, ca_pem, client).await?;
    hello(&mut ws).await
}

/// A TLS console from `from` (a loopback address; default 127.0.0.1),
/// without hello yet.
async fn connect_tls(
    from: Option<IpAddr>,
    port: u16,
    ca_pem: &str,
    client: Option<&(String, String)>,
) -> Result<TlsConsole, String> {
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
    let tcp = tcp_from(from, port)
        .await
        .map_err(|e| format!("tcp: {e}"))?;
    let tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .map_err(|e| format!("tls: {e}"))?;
    let (ws, _) = tokio_tungstenite::client_async("wss://localhost/console", tls)
        .await
        .map_err(|e| format!("websocket: {e}"))?;
    Ok(ws)
}

/// A TCP connection to the agent's 127.0.0.1:`port` from `from`.
async fn tcp_from(from: Option<IpAddr>, port: u16) -> std::io::Result<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    if let Some(from) = from {
        socket.bind((from, 0).into())?;
    }
    socket.connect(([127, 0, 0, 1], port).into()).await
}

async fn send(ws: &mut TlsConsole, m: &ClientMessage) -> Result<(), String> {
    let text = serde_json::to_string(m).unwrap();
    ws.send(Message::text(text))
        .await
        .map_err(|e| format!("send: {e}"))
}

/// The next message, skipping pings.
async fn next(ws: &mut TlsConsole) -> Result<ServerMessage, String> {
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

async fn hello(ws: &mut TlsConsole) -> Result<ServerMessage, String> {
    send(
        ws,
        &ClientMessage::Hello {
            protocol: PROTOCOL_VERSION,
            client: None,
        },
    )
    .await?;
    next(ws).await
}

/// The agent's certificate, key and client CA in `d`; the `[agent.remote]`
/// table for them on `port`, with `extra` lines.
fn remote_table(ca: &Ca, d: &Path, port: u16, extra: &str) -> String {
    let (server_cert, server_key) = ca.leaf("mottak01", true);
    std::fs::write(d.join("agent.crt"), format!("{server_cert}{}", ca.pem())).unwrap();
    write_private(&d.join("agent.key"), &server_key).unwrap();
    std::fs::write(d.join("ca.crt"), ca.pem()).unwrap();
    format!(
        "[agent.remote]\nlisten = \"127.0.0.1:{port}\"\ncertificate = \"{d}/agent.crt\"\nprivate_key = \"{d}/agent.key\"\nclient_ca = \"{d}/ca.crt\"\n{extra}",
        d = d.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_names_the_user_and_refuses_strangers() {
    let ca = Ca::new("Kommunens konsoll-CA");
    let rogue = Ca::new("Some other CA");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let env = Env::new(Options {
        tables: remote_table(&ca, dir.path(), port, ""),
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
    // The "no role" above opened this kind's window, so the two refusals
    // come in its summary line, within an interval (10 s).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let log = loop {
        let log = agent.log_text();
        if log.contains("refused in the TLS handshake") || std::time::Instant::now() > deadline {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(log.contains("refused in the TLS handshake"), "{log}");
    assert!(log.contains("from 127.0.0.1"), "{log}");
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

/// 300 TCP connections to the TLS listener that send nothing, more than
/// every limit: from one address only `max_unauthenticated_per_address` (8)
/// are taken, the rest closed at once, and the 8 are closed at the
/// handshake deadline. Meanwhile a console on the Unix socket gets its
/// snapshot, an authenticated TLS console stays served, one from another
/// address gets in at once and one from the flooding address once the
/// deadline has freed its slots; the log holds a handful of summary lines
/// with the counts, and `/metrics` counts every refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_silent_connections_locks_out_no_console() {
    let ca = Ca::new("Kommunens konsoll-CA");
    let dir = tempfile::tempdir().unwrap();
    let (port, metrics) = (free_port(), free_port());
    let deadline = Duration::from_secs(3);
    let env = Env::new(Options {
        agent_extra: format!("metrics = \"127.0.0.1:{metrics}\""),
        tables: remote_table(
            &ca,
            dir.path(),
            port,
            &format!("handshake_timeout = \"{}s\"\n", deadline.as_secs()),
        ),
        ..Options::default()
    })
    .await;
    env.access(&[
        "grant", "--user", "kari", "--role", "operator", "--system", "ms-a",
    ]);
    env.access(&["grant", "--user", "root", "--role", "viewer", "--all"]);
    let mut agent = env.spawn_agent().await;
    let kari = ca.leaf("kari", false);
    let mut before = connect_tls(None, port, &ca.pem(), Some(&kari))
        .await
        .unwrap();
    assert!(matches!(
        hello(&mut before).await,
        Ok(ServerMessage::Welcome { .. })
    ));

    let flood_started = std::time::Instant::now();
    let mut held = Vec::new();
    for _ in 0..300 {
        held.push(TcpStream::connect(("127.0.0.1", port)).await.unwrap());
    }

    // The socket has its own slots.
    let mut local = env.subscribed().await;
    assert_eq!(
        local.state.as_ref().unwrap().queues[0].mottakersystem,
        "ms-a"
    );
    // An authenticated console keeps its slot and is served.
    send(&mut before, &ClientMessage::Subscribe).await.unwrap();
    assert!(matches!(
        next(&mut before).await,
        Ok(ServerMessage::Snapshot { .. })
    ));
    // From another address, a console gets in at once.
    let mut other = connect_tls(Some([127, 0, 0, 2].into()), port, &ca.pem(), Some(&kari))
        .await
        .unwrap();
    assert!(matches!(
        hello(&mut other).await,
        Ok(ServerMessage::Welcome { .. })
    ));

    // Every silent connection is closed by the deadline (the refused ones at once).
    for tcp in &mut held {
        let mut buf = [0u8; 16];
        let limit = (deadline + Duration::from_secs(2)).saturating_sub(flood_started.elapsed());
        match tokio::time::timeout(limit, tcp.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => {}
            Ok(Ok(n)) => panic!("the agent sent {n} bytes to a silent connection"),
            Err(_) => panic!(
                "a silent connection was still open {:?} after the flood began",
                flood_started.elapsed()
            ),
        }
    }
    drop(held);
    // Its slots back, the flooding address can connect a console again.
    match hello_over_tls(port, &ca.pem(), Some(&kari)).await {
        Ok(ServerMessage::Welcome { user, .. }) => assert_eq!(user, "kari"),
        other => panic!("{other:?}"),
    }

    // 292 refused: one line at once, then one summary with the count.
    let summary_by = std::time::Instant::now() + Duration::from_secs(20);
    while !agent.log_text().contains("291 in the last") {
        assert!(
            std::time::Instant::now() < summary_by,
            "no summary of the refusals:\n{}",
            agent.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = agent.log_text();
    let lines = |what: &str| log.lines().filter(|l| l.contains(what)).count();
    assert_eq!(lines("remote console connection refused"), 2, "{log}");
    assert!(
        lines("remote console connection ended before") <= 3,
        "{log}"
    );
    let summary = log.lines().find(|l| l.contains("291 in the last")).unwrap();
    assert!(summary.contains("from 127.0.0.1 (291)"), "{summary}");
    assert!(
        summary.contains("max_unauthenticated_per_address"),
        "{summary}"
    );

    let text = http_get(metrics, "/metrics").await;
    assert!(
        text.contains(
            "mottak_console_connections_refused_total{listener=\"remote\",reason=\"address_full\"} 292\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "mottak_console_handshake_failures_total{listener=\"remote\",reason=\"timeout\"} 8\n"
        ),
        "{text}"
    );
    agent.assert_running();
    drop(local.ws.close(None).await);
}

async fn http_get(port: u16, path: &str) -> String {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    tcp.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    tcp.read_to_string(&mut out).await.unwrap();
    out
}
