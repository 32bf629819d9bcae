//! The connection to the agent: a websocket over the local Unix socket, or
//! over TLS with a client certificate (`--url wss://host:7443`).
//!
//! [`spawn`] runs a task that connects, says hello, subscribes, and passes
//! everything on as [`ClientEvent`]s. It checks the delta sequence: a gap
//! means subscribe again (and wait for the snapshot). When the connection
//! drops it waits (0.5 s, doubling to 15 s) and connects again, with a full
//! resubscribe. [`fetch_once`] is the one-shot form for `mottak status` and
//! `mottak check`.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use futures_util::{SinkExt, StreamExt};
use mottak_protocol::console::{
    ClientMessage, Command, ConsoleState, ErrorCode, PROTOCOL_VERSION, ServerMessage,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::app::{ClientEvent, Welcome};
use crate::tui::now_ms;

/// The first wait after a lost connection; it doubles up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(500);
pub const MAX_BACKOFF: Duration = Duration::from_secs(15);
/// The agent pings every 15 s: silence this long means the link is dead.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(45);
/// Connecting (socket, TLS, websocket and hello) must finish within this.
pub const CONNECT_LIMIT: Duration = Duration::from_secs(10);

/// Where the agent is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The local socket.
    Socket(PathBuf),
    /// The agent's `[agent.remote]` listener.
    Remote(Remote),
}

/// A remote agent and the client certificate to show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// `wss://host:port[/path]`.
    pub url: String,
    pub host: String,
    pub port: u16,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

impl Target {
    /// Where, in words (for the header and errors).
    pub fn describe(&self) -> String {
        match self {
            Target::Socket(p) => p.display().to_string(),
            Target::Remote(r) => r.url.clone(),
        }
    }
}

impl Remote {
    /// Parses `wss://host[:port][/path]` (port 7443 when not given).
    pub fn parse(url: &str, cert: PathBuf, key: PathBuf, ca: PathBuf) -> anyhow::Result<Remote> {
        let rest = url.strip_prefix("wss://").ok_or_else(|| {
            anyhow!("--url must start with wss:// (the agent's [agent.remote] listener speaks TLS): {url}")
        })?;
        let authority = rest.split('/').next().unwrap_or(rest);
        if authority.is_empty() {
            bail!("--url has no host: {url}");
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| anyhow!("--url has an unclosed [ in its host: {url}"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p
                    .parse()
                    .with_context(|| format!("--url has a bad port: {url}"))?,
                None => 7443,
            };
            (h.to_owned(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_owned(),
                    p.parse()
                        .with_context(|| format!("--url has a bad port: {url}"))?,
                ),
                None => (authority.to_owned(), 7443),
            }
        };
        Ok(Remote {
            url: url.to_owned(),
            host,
            port,
            cert,
            key,
            ca,
        })
    }
}

/// Any byte stream a websocket can run over.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

pub type Ws = WebSocketStream<Pin<Box<dyn Io>>>;

fn ws_config() -> WebSocketConfig {
    // Snapshots carry up to the agent's cap of failed imports with history.
    WebSocketConfig::default()
        .max_message_size(Some(256 << 20))
        .max_frame_size(Some(256 << 20))
}

/// Opens the websocket (no hello yet).
pub async fn connect(target: &Target) -> anyhow::Result<Ws> {
    match target {
        Target::Socket(path) => {
            let stream = UnixStream::connect(path).await.map_err(|e| {
                let hint = match e.kind() {
                    std::io::ErrorKind::NotFound => {
                        " (is mottak-agent running? is this its console_socket?)"
                    }
                    std::io::ErrorKind::PermissionDenied => {
                        " (are you in the mottak-ops group? log in again after being added)"
                    }
                    std::io::ErrorKind::ConnectionRefused => {
                        " (the agent is not listening: is it running?)"
                    }
                    _ => "",
                };
                anyhow!("cannot connect to {}: {e}{hint}", path.display())
            })?;
            let io: Pin<Box<dyn Io>> = Box::pin(stream);
            let (ws, _) = tokio_tungstenite::client_async_with_config(
                "ws://localhost/console",
                io,
                Some(ws_config()),
            )
            .await
            .context("the websocket handshake on the console socket failed")?;
            Ok(ws)
        }
        Target::Remote(r) => {
            let config = tls_config(r)?;
            let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
            let tcp = TcpStream::connect((r.host.as_str(), r.port))
                .await
                .with_context(|| format!("cannot connect to {}:{}", r.host, r.port))?;
            let name =
                rustls::pki_types::ServerName::try_from(r.host.clone()).with_context(|| {
                    format!("{} is not a host name the certificate can name", r.host)
                })?;
            let tls = connector
                .connect(name, tcp)
                .await
                .with_context(|| format!("the TLS handshake with {} failed (is --ca the CA that signed the agent's certificate, and is --cert from the agent's client_ca?)", r.url))?;
            let io: Pin<Box<dyn Io>> = Box::pin(tls);
            let (ws, _) =
                tokio_tungstenite::client_async_with_config(r.url.as_str(), io, Some(ws_config()))
                    .await
                    .with_context(|| format!("the websocket handshake with {} failed", r.url))?;
            Ok(ws)
        }
    }
}

fn tls_config(r: &Remote) -> anyhow::Result<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    let cas: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&r.ca)
        .with_context(|| format!("cannot read --ca {}", r.ca.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("--ca {} is not PEM certificates", r.ca.display()))?;
    if cas.is_empty() {
        bail!("--ca {} holds no certificate", r.ca.display());
    }
    for c in cas {
        roots
            .add(c)
            .with_context(|| format!("--ca {} holds an unusable certificate", r.ca.display()))?;
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&r.cert)
        .with_context(|| format!("cannot read --cert {}", r.cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("--cert {} is not PEM certificates", r.cert.display()))?;
    if chain.is_empty() {
        bail!("--cert {} holds no certificate", r.cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(&r.key)
        .with_context(|| format!("cannot read a private key from --key {}", r.key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS setup")?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .context("--cert and --key do not belong together")
}

async fn send(ws: &mut Ws, m: &ClientMessage) -> anyhow::Result<()> {
    let text = serde_json::to_string(m).context("encode a message")?;
    ws.send(Message::text(text))
        .await
        .context("the connection broke while sending")
}

/// The next message from the agent; `Ok(None)` when it closed.
async fn recv(ws: &mut Ws) -> anyhow::Result<Option<ServerMessage>> {
    loop {
        let next = tokio::time::timeout(SILENCE_LIMIT, ws.next())
            .await
            .map_err(|_| anyhow!("nothing from the agent in {} s", SILENCE_LIMIT.as_secs()))?;
        match next {
            None => return Ok(None),
            Some(Err(e)) => return Err(anyhow!("the connection broke: {e}")),
            Some(Ok(Message::Text(t))) => {
                let m: ServerMessage = serde_json::from_str(t.as_str())
                    .with_context(|| "the agent sent a message this console does not understand (is it a newer version?)")?;
                return Ok(Some(m));
            }
            Some(Ok(Message::Close(frame))) => {
                return match frame {
                    Some(f) if !f.reason.is_empty() => Err(anyhow!(
                        "the agent closed the connection: {} ({})",
                        f.reason,
                        u16::from(f.code)
                    )),
                    _ => Ok(None),
                };
            }
            Some(Ok(_)) => {}
        }
    }
}

/// Connects and says hello; the agent's welcome, or why not.
pub async fn open(target: &Target) -> anyhow::Result<(Ws, Welcome)> {
    let mut ws = connect(target).await?;
    send(
        &mut ws,
        &ClientMessage::Hello {
            protocol: PROTOCOL_VERSION,
            client: Some(format!("mottak {}", env!("CARGO_PKG_VERSION"))),
        },
    )
    .await?;
    match recv(&mut ws).await? {
        Some(m @ ServerMessage::Welcome { .. }) => {
            let w = Welcome::from_message(&m).ok_or_else(|| anyhow!("no welcome"))?;
            Ok((ws, w))
        }
        Some(ServerMessage::Error { code, message, .. }) => Err(refusal(code, &message)),
        Some(other) => Err(anyhow!("the agent answered hello with {other:?}")),
        None => Err(anyhow!(
            "the agent closed the connection before answering hello"
        )),
    }
}

fn refusal(code: ErrorCode, message: &str) -> anyhow::Error {
    match code {
        ErrorCode::NoAccess => anyhow!(
            "the agent refused: {message} (an admin grants access with `mottak-agent access grant`)"
        ),
        ErrorCode::UnsupportedProtocol => anyhow!(
            "the agent speaks another protocol version: {message} (update mottak or the agent so they match)"
        ),
        _ => anyhow!("the agent refused: {code}: {message}"),
    }
}

/// Connects, subscribes, and returns the first snapshot (for `status` and `check`).
pub async fn fetch_once(
    target: &Target,
    limit: Duration,
) -> anyhow::Result<(Welcome, ConsoleState)> {
    let work = async {
        let (mut ws, welcome) = open(target).await?;
        send(&mut ws, &ClientMessage::Subscribe).await?;
        loop {
            match recv(&mut ws).await? {
                Some(ServerMessage::Snapshot { state, .. }) => {
                    let _ = ws.close(None).await;
                    return Ok((welcome, state));
                }
                Some(ServerMessage::Error {
                    code,
                    message,
                    id: None,
                }) => {
                    return Err(refusal(code, &message));
                }
                Some(_) => {}
                None => bail!("the agent closed the connection before sending its state"),
            }
        }
    };
    tokio::time::timeout(limit, work).await.map_err(|_| {
        anyhow!(
            "no answer from the agent at {} within {} s",
            target.describe(),
            limit.as_secs()
        )
    })?
}

/// A command for the connection task.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub id: String,
    pub command: Command,
}

/// Starts the connection task. Events arrive on the returned receiver;
/// commands go in through the sender. The task ends when both the event
/// receiver and the command sender are dropped.
pub fn spawn(target: Target) -> (mpsc::Receiver<ClientEvent>, mpsc::Sender<Outgoing>) {
    let (ev_tx, ev_rx) = mpsc::channel(1024);
    let (cmd_tx, cmd_rx) = mpsc::channel(1024);
    tokio::spawn(run(target, ev_tx, cmd_rx));
    (ev_rx, cmd_tx)
}

async fn run(
    target: Target,
    events: mpsc::Sender<ClientEvent>,
    mut commands: mpsc::Receiver<Outgoing>,
) {
    let mut attempt: u32 = 0;
    let mut backoff = FIRST_BACKOFF;
    loop {
        attempt += 1;
        if events
            .send(ClientEvent::Connecting { attempt })
            .await
            .is_err()
        {
            return;
        }
        let error = match tokio::time::timeout(CONNECT_LIMIT, open(&target)).await {
            Err(_) => format!("no answer within {} s", CONNECT_LIMIT.as_secs()),
            Ok(Err(e)) => format!("{e:#}"),
            Ok(Ok((ws, welcome))) => {
                attempt = 0;
                backoff = FIRST_BACKOFF;
                match session(ws, welcome, &events, &mut commands).await {
                    Ok(Stop::Quit) => return,
                    Ok(Stop::Closed) => "the agent closed the connection".to_owned(),
                    Err(e) => format!("{e:#}"),
                }
            }
        };
        let retry_at = now_ms() + i64::try_from(backoff.as_millis()).unwrap_or(0);
        if events
            .send(ClientEvent::Lost { error, retry_at })
            .await
            .is_err()
        {
            return;
        }
        // Wait, refusing commands meanwhile (they would act on stale data).
        let wake = tokio::time::Instant::now() + backoff;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(wake) => break,
                c = commands.recv() => match c {
                    Some(c) => {
                        if events.send(ClientEvent::NotSent { id: c.id }).await.is_err() {
                            return;
                        }
                    }
                    None => return,
                },
            }
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

enum Stop {
    Quit,
    Closed,
}

async fn session(
    mut ws: Ws,
    welcome: Welcome,
    events: &mpsc::Sender<ClientEvent>,
    commands: &mut mpsc::Receiver<Outgoing>,
) -> anyhow::Result<Stop> {
    send(&mut ws, &ClientMessage::Subscribe).await?;
    if events
        .send(ClientEvent::Connected(Box::new(welcome)))
        .await
        .is_err()
    {
        return Ok(Stop::Quit);
    }
    // The seq of the last snapshot or delta passed on; None while waiting
    // for a snapshot.
    let mut seq: Option<u64> = None;
    loop {
        tokio::select! {
            m = recv(&mut ws) => {
                let Some(m) = m? else { return Ok(Stop::Closed) };
                match &m {
                    ServerMessage::Snapshot { seq: s, .. } => seq = Some(*s),
                    ServerMessage::Delta { seq: s, .. } => match seq {
                        Some(prev) if *s == prev + 1 => seq = Some(*s),
                        Some(_) => {
                            // A gap: what we hold is no longer the agent's state.
                            seq = None;
                            send(&mut ws, &ClientMessage::Subscribe).await?;
                            if events.send(ClientEvent::Resyncing).await.is_err() {
                                return Ok(Stop::Quit);
                            }
                            continue;
                        }
                        // Deltas for the stream before the resubscribe: skip.
                        None => continue,
                    },
                    ServerMessage::Error { code: ErrorCode::SlowConsumer, .. } => {
                        seq = None;
                        send(&mut ws, &ClientMessage::Subscribe).await?;
                        if events.send(ClientEvent::Resyncing).await.is_err() {
                            return Ok(Stop::Quit);
                        }
                        continue;
                    }
                    _ => {}
                }
                if events.send(ClientEvent::Message(Box::new(m))).await.is_err() {
                    return Ok(Stop::Quit);
                }
            }
            c = commands.recv() => {
                let Some(c) = c else { return Ok(Stop::Quit) };
                send(&mut ws, &ClientMessage::Command { id: c.id, command: c.command }).await?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_urls_parse_with_a_default_port() {
        let p = |u: &str| Remote::parse(u, "c".into(), "k".into(), "a".into());
        let r = p("wss://agent.kommune.no:7443").unwrap();
        assert_eq!((r.host.as_str(), r.port), ("agent.kommune.no", 7443));
        let r = p("wss://agent.kommune.no/console").unwrap();
        assert_eq!((r.host.as_str(), r.port), ("agent.kommune.no", 7443));
        let r = p("wss://[::1]:9000/x").unwrap();
        assert_eq!((r.host.as_str(), r.port), ("::1", 9000));
        assert!(p("ws://plain:80").is_err());
        assert!(p("wss://host:port").is_err());
        assert!(p("wss://").is_err());
    }
}
