//! The websocket server: one task per console connection, over the Unix
//! socket (user = the peer uid's login name) or the TLS listener (user =
//! the client certificate's CN).
//!
//! Each listener has its own connection limits, and the socket keeps a
//! reserve for admins (`admission`). A connection never holds up the agent:
//! frames are size-limited, the websocket handshake and `hello` have
//! deadlines (over TLS one deadline from the TCP accept), a peer that answers no
//! ping for a while is dropped, and everything sent goes through a bounded
//! queue to a writer task: a console that reads too slowly to keep it from
//! filling up is disconnected (it reconnects and subscribes again, getting a
//! fresh snapshot). Malformed or unknown messages get an `error` reply.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use mottak_protocol::console::{
    ClientMessage, ConsoleState, ErrorCode, MAX_CLIENT_FRAME_BYTES, PROTOCOL_VERSION, Role,
    RoleGrant, ServerMessage, close_code, diff,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::access::{Identity, permissions, roles_by_system};
use super::accounts::Directory;
use super::admission::{ACCEPT_BACKOFF, Admission, Event, Listener, is_admin};
use super::commands::CommandRunner;
use super::state::{Built, visible_to};
use mottak_protocol::console::Transport;

/// The group that may use the console socket, when it exists.
pub const CONSOLE_GROUP: &str = "mottak-ops";

/// Limits and deadlines of console connections.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub handshake_timeout: Duration,
    pub hello_timeout: Duration,
    pub ping_interval: Duration,
    /// A peer silent (no frame, no pong) this long is dropped.
    pub dead_after: Duration,
    pub max_frame_bytes: usize,
    /// Messages waiting for a console; when full, the console is dropped.
    pub queue_len: usize,
    /// One write to a console may take this long.
    pub write_timeout: Duration,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            handshake_timeout: Duration::from_secs(10),
            hello_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(15),
            dead_after: Duration::from_secs(45),
            max_frame_bytes: MAX_CLIENT_FRAME_BYTES,
            queue_len: 64,
            write_timeout: Duration::from_secs(10),
        }
    }
}

/// What every connection shares.
#[derive(Debug)]
pub struct Hub {
    pub state: watch::Receiver<Arc<Built>>,
    pub commands: Arc<CommandRunner>,
    pub settings: ServerSettings,
    pub shutdown: CancellationToken,
    /// Connection slots per listener, and the count and log of refusals.
    pub admission: Arc<Admission>,
    pub connected: AtomicUsize,
    /// Asks the state builder for a fresh build now.
    pub rebuild: Arc<tokio::sync::Notify>,
}

/// Why the console socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error(
        "cannot listen on the console socket {}: {source}; create its folder with the agent's user as owner (RuntimeDirectory=mottak in the unit), or set console_socket in [agent]",
        path.display()
    )]
    Bind {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "another process already answers on the console socket {}: is a second mottak-agent running? Stop it, or give each its own console_socket",
        path.display()
    )]
    InUse { path: PathBuf },
    #[error(
        "the console socket path {} is {len} bytes; Unix sockets allow at most 107: choose a shorter console_socket",
        path.display()
    )]
    TooLong { path: PathBuf, len: usize },
    #[error("cannot set the mode of the console socket {}: {source}", path.display())]
    Mode {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Binds the console socket: a stale socket file (left by a crash) is
/// replaced, a live one refused; mode 0660, group `mottak-ops` when that
/// group exists and the agent may give it (it is a member, or root).
pub async fn bind_unix(path: &Path) -> Result<UnixListener, BindError> {
    let len = path.as_os_str().len();
    if len > 107 {
        return Err(BindError::TooLong {
            path: path.to_owned(),
            len,
        });
    }
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if !meta.file_type().is_socket() {
            return Err(BindError::Bind {
                path: path.to_owned(),
                source: io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "something that is not a socket is in the way (the agent removes only a stale socket)",
                ),
            });
        }
        match UnixStream::connect(path).await {
            Ok(_) => {
                return Err(BindError::InUse {
                    path: path.to_owned(),
                });
            }
            Err(_) => {
                // Nobody answers: left by an agent that died. Replace it.
                let _ = std::fs::remove_file(path);
            }
        }
    }
    let listener = UnixListener::bind(path).map_err(|source| BindError::Bind {
        path: path.to_owned(),
        source,
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(|source| {
        BindError::Mode {
            path: path.to_owned(),
            source,
        }
    })?;
    match Directory::system().group(CONSOLE_GROUP).await {
        Ok(Some(group)) => {
            if let Err(err) = std::os::unix::fs::chown(path, None, Some(group.gid)) {
                warn!(socket = %path.display(), error = %err, "cannot give the console socket to group {CONSOLE_GROUP}; only the agent's own user can use the console: add the agent's user to {CONSOLE_GROUP}");
            }
        }
        Ok(None) => {
            info!(socket = %path.display(), "there is no group {CONSOLE_GROUP}: only the agent's user and its group can use the console socket");
        }
        Err(err) => {
            warn!(socket = %path.display(), error = %err, "cannot look up group {CONSOLE_GROUP}: only the agent's user and its group can use the console socket until the agent restarts");
        }
    }
    Ok(listener)
}

/// Accepts console connections on the Unix socket until shutdown. A
/// connection takes one of `console_max_connections` slots; when they are
/// all taken, an admin ([`is_admin`]) takes one of the admin reserve, and
/// anyone else is refused (an HTTP 503, then closed). Who the peer is comes
/// from the name service, which may wait for the directory: that lookup
/// always runs in the connection's own task, never in this loop.
pub async fn serve_unix(listener: UnixListener, hub: Arc<Hub>) {
    let admission = Arc::clone(&hub.admission);
    loop {
        let accepted = tokio::select! {
            () = hub.shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(err) => {
                // Out of file descriptors, typically: wait rather than spin.
                admission.note(
                    Listener::Socket,
                    Event::AcceptFailed,
                    "-",
                    Some(&err.to_string()),
                );
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let uid = stream.peer_cred().map(|cred| cred.uid());
        if let Some(slot) = admission.socket.try_take() {
            let hub = Arc::clone(&hub);
            tokio::spawn(async move {
                let identity = local_identity(&uid).await;
                let arrival = socket_arrival(&identity, &uid);
                serve_connection(stream, identity, hub, arrival).await;
                drop(slot);
            });
            continue;
        }
        // Full: only an admin may take a slot of the reserve. Root is one at
        // once; anyone else is looked up in its own task first, at most
        // `admin_checks` at a time, so a flood of others never holds the
        // reserve and never waits on the name service in this loop.
        if matches!(uid, Ok(0)) {
            let Some(slot) = admission.admin_reserve.try_take() else {
                refuse_socket(&stream);
                admission.note(Listener::Socket, Event::AdminReserveFull, "root", None);
                continue;
            };
            let hub = Arc::clone(&hub);
            tokio::spawn(async move {
                let identity = local_identity(&uid).await;
                let arrival = socket_arrival(&identity, &uid);
                serve_connection(stream, identity, hub, arrival).await;
                drop(slot);
            });
            continue;
        }
        let Some(check) = admission.admin_checks.try_take() else {
            refuse_socket(&stream);
            admission.note(Listener::Socket, Event::SocketFull, &uid_label(&uid), None);
            continue;
        };
        let hub = Arc::clone(&hub);
        tokio::spawn(async move {
            let identity = local_identity(&uid).await;
            drop(check);
            let arrival = socket_arrival(&identity, &uid);
            let admin = match &uid {
                Ok(uid) => {
                    let built = hub.state.borrow();
                    is_admin(*uid, identity.as_ref().ok(), &built.access)
                }
                Err(_) => false,
            };
            let slot = if admin {
                hub.admission
                    .admin_reserve
                    .try_take()
                    .ok_or(Event::AdminReserveFull)
            } else {
                Err(Event::SocketFull)
            };
            let slot = match slot {
                Ok(slot) => slot,
                Err(event) => {
                    refuse_socket(&stream);
                    hub.admission
                        .note(Listener::Socket, event, &arrival.peer, None);
                    return;
                }
            };
            serve_connection(stream, identity, hub, arrival).await;
            drop(slot);
        });
    }
}

/// Tells a refused socket peer why, if it can be done without waiting,
/// and closes it (on drop).
fn refuse_socket(stream: &UnixStream) {
    let body = "the console socket serves as many consoles as console_max_connections allows; only an admin may connect now. Try again shortly, or ask an admin to look at the agent's log\n";
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.try_write(response.as_bytes());
}

/// How the log names a socket peer before its name is known.
fn uid_label(uid: &std::io::Result<u32>) -> String {
    match uid {
        Ok(uid) => format!("uid {uid}"),
        Err(_) => "an unknown peer".to_owned(),
    }
}

/// A socket connection's arrival: named by its login name, else its uid.
fn socket_arrival(identity: &Result<Identity, String>, uid: &std::io::Result<u32>) -> Arrival {
    Arrival {
        listener: Listener::Socket,
        peer: match identity {
            Ok(who) => who.user.clone(),
            Err(_) => uid_label(uid),
        },
        deadline: None,
    }
}

/// The login name of the socket's peer uid (SO_PEERCRED) and its groups,
/// from the name service (local or directory accounts; the lookup is
/// bounded by its timeout).
async fn local_identity(uid: &std::io::Result<u32>) -> Result<Identity, String> {
    let uid = match uid {
        Ok(uid) => *uid,
        Err(e) => {
            return Err(format!(
                "the agent cannot tell who is connecting ({e}); refused"
            ));
        }
    };
    let peer = Directory::system()
        .peer(uid)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Identity {
        user: peer.name,
        transport: Transport::LocalSocket,
        unix_groups: peer.groups,
    })
}

/// Where a connection came from, and by when it must have said `hello`.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub listener: Listener,
    /// How the log names the peer (a login name, an address).
    pub peer: String,
    /// The websocket handshake and `hello` must be done by then (TLS: the
    /// TCP accept plus `handshake_timeout`); `None`: the [`ServerSettings`]
    /// deadlines, counted from the handshake.
    pub deadline: Option<Instant>,
}

/// One connection's session.
struct Session {
    identity: Identity,
    tx: mpsc::Sender<Message>,
    hello: bool,
    grants: Vec<RoleGrant>,
    roles: BTreeMap<String, Role>,
    /// The access-list version `grants` come from; older states are ignored.
    access_version: i64,
    /// The seq and state last sent, while subscribed.
    subscribed: Option<(u64, ConsoleState)>,
}

/// Why a session ends.
enum End {
    /// Closed by us, with a close frame already queued, or by the peer.
    Closed,
    /// The queue was full: the console reads too slowly.
    Slow,
}

/// Serves one console: websocket handshake, then the session.
pub async fn serve_connection<S>(
    stream: S,
    identity: Result<Identity, String>,
    hub: Arc<Hub>,
    arrival: Arrival,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let settings = &hub.settings;
    let config = WebSocketConfig::default()
        .max_message_size(Some(settings.max_frame_bytes))
        .max_frame_size(Some(settings.max_frame_bytes));
    let by = |limit: Duration| {
        let own = Instant::now() + limit;
        arrival.deadline.map_or(own, |d| d.min(own))
    };
    let ws = match tokio::time::timeout_at(
        by(settings.handshake_timeout),
        tokio_tungstenite::accept_async_with_config(stream, Some(config)),
    )
    .await
    {
        Ok(Ok(ws)) => ws,
        Ok(Err(err)) => {
            hub.admission.note(
                arrival.listener,
                Event::NotWebsocket,
                &arrival.peer,
                Some(&err.to_string()),
            );
            return;
        }
        Err(_) => {
            hub.admission.note(
                arrival.listener,
                Event::Timeout,
                &arrival.peer,
                Some("in the websocket handshake"),
            );
            return;
        }
    };
    let (mut sink, mut source) = ws.split();
    let (tx, mut rx) = mpsc::channel::<Message>(settings.queue_len.max(2));
    let writer_done = CancellationToken::new();
    let writer = {
        let done = writer_done.clone();
        let timeout = settings.write_timeout;
        tokio::spawn(async move {
            while let Some(msg) = rx.recv().await {
                let closing = matches!(msg, Message::Close(_));
                match tokio::time::timeout(timeout, sink.send(msg)).await {
                    Ok(Ok(())) => {}
                    _ => break,
                }
                if closing {
                    break;
                }
            }
            let _ = tokio::time::timeout(timeout, sink.close()).await;
            done.cancel();
        })
    };

    let identity = match identity {
        Ok(i) => i,
        Err(message) => {
            hub.admission.note(
                arrival.listener,
                Event::UnknownIdentity,
                &arrival.peer,
                Some(&message),
            );
            let _ = tx.try_send(text(&ServerMessage::Error {
                code: ErrorCode::NoAccess,
                message,
                id: None,
            }));
            let _ = tx.try_send(close(close_code::NO_ACCESS, "no access"));
            drop(tx);
            let _ = tokio::time::timeout(settings.write_timeout, writer).await;
            return;
        }
    };
    let mut session = Session {
        identity,
        tx,
        hello: false,
        grants: Vec::new(),
        roles: BTreeMap::new(),
        access_version: 0,
        subscribed: None,
    };
    let mut state = hub.state.clone();
    let hello_deadline = by(settings.hello_timeout);
    let mut ping = tokio::time::interval(settings.ping_interval);
    ping.tick().await;
    let mut last_seen = Instant::now();
    hub.connected.fetch_add(1, Ordering::Relaxed);
    let end: End = loop {
        tokio::select! {
            () = writer_done.cancelled() => break End::Closed,
            () = hub.shutdown.cancelled() => {
                let _ = session.send(&ServerMessage::Error {
                    code: ErrorCode::ShuttingDown,
                    message: "the agent is stopping; reconnect when it is back".into(),
                    id: None,
                });
                let _ = session.tx.try_send(Message::Close(Some(CloseFrame {
                    code: CloseCode::Away,
                    reason: "agent stopping".into(),
                })));
                break End::Closed;
            }
            () = tokio::time::sleep_until(hello_deadline), if !session.hello => {
                hub.admission.note(arrival.listener, Event::Timeout, &arrival.peer, Some("no hello"));
                let _ = session.send(&ServerMessage::Error {
                    code: ErrorCode::HelloFirst,
                    message: "no hello in time; closing".into(),
                    id: None,
                });
                let _ = session.tx.try_send(close(close_code::HELLO_TIMEOUT, "no hello"));
                break End::Closed;
            }
            _ = ping.tick() => {
                if last_seen.elapsed() >= settings.dead_after {
                    info!(user = %session.identity.user, "dropping a console that answered no ping");
                    break End::Closed;
                }
                if session.tx.try_send(Message::Ping(Vec::new().into())).is_err() {
                    break End::Slow;
                }
            }
            changed = state.changed(), if session.hello => {
                if changed.is_err() {
                    break End::Closed;
                }
                let built = Arc::clone(&state.borrow_and_update());
                match session.on_state(&built) {
                    Ok(true) => {}
                    Ok(false) => break End::Closed,
                    Err(end) => break end,
                }
            }
            frame = source.next() => {
                last_seen = Instant::now();
                match frame {
                    None => break End::Closed,
                    Some(Err(tungstenite::Error::Capacity(err))) => {
                        let _ = session.send(&ServerMessage::Error {
                            code: ErrorCode::TooLarge,
                            message: format!("{err}: frames are limited to {} bytes; closing", settings.max_frame_bytes),
                            id: None,
                        });
                        let _ = session.tx.try_send(Message::Close(Some(CloseFrame {
                            code: CloseCode::Size,
                            reason: "frame too large".into(),
                        })));
                        break End::Closed;
                    }
                    Some(Err(err)) => {
                        debug!(user = %session.identity.user, error = %err, "console connection failed");
                        break End::Closed;
                    }
                    Some(Ok(Message::Text(t))) => {
                        match session.on_text(t.as_str(), &hub, &mut state).await {
                            Ok(true) => {}
                            Ok(false) => break End::Closed,
                            Err(end) => break end,
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        if let Err(end) = session.send(&ServerMessage::Error {
                            code: ErrorCode::BadMessage,
                            message: "binary frames are not part of the protocol; send JSON text frames".into(),
                            id: None,
                        }) {
                            break end;
                        }
                    }
                    Some(Ok(Message::Close(_))) => break End::Closed,
                    Some(Ok(_)) => {} // ping (answered by tungstenite), pong
                }
            }
        }
    };
    hub.connected.fetch_sub(1, Ordering::Relaxed);
    match end {
        End::Slow => {
            warn!(user = %session.identity.user, "dropping a console that reads too slowly; it gets a fresh snapshot when it subscribes again");
            writer.abort();
        }
        End::Closed => {
            drop(session);
            let _ = tokio::time::timeout(settings.write_timeout, writer).await;
        }
    }
}

fn text(msg: &ServerMessage) -> Message {
    // Serialising our own types cannot fail (no maps with non-string keys
    // other than enums, no floats); an empty frame would be a bug caught by tests.
    Message::text(serde_json::to_string(msg).unwrap_or_default())
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    }))
}

impl Session {
    /// Queues a message; a full queue ends the session (slow reader).
    fn send(&self, msg: &ServerMessage) -> Result<(), End> {
        match self.tx.try_send(text(msg)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => Err(End::Slow),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(End::Closed),
        }
    }

    fn welcome(&self) -> ServerMessage {
        ServerMessage::Welcome {
            protocol: PROTOCOL_VERSION,
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
            user: self.identity.user.clone(),
            transport: self.identity.transport,
            roles: self.grants.clone(),
            permissions: permissions(&self.roles),
        }
    }

    fn refuse_no_access(&self) -> Result<bool, End> {
        let user = &self.identity.user;
        self.send(&ServerMessage::Error {
            code: ErrorCode::NoAccess,
            message: format!(
                "{user} has no role on any mottakersystem of this agent; an admin can grant one (mottak-agent access grant --user {user} --role viewer --all)"
            ),
            id: None,
        })?;
        let _ = self.tx.try_send(close(close_code::NO_ACCESS, "no access"));
        Ok(false)
    }

    /// Handles one text frame. `Ok(false)`: close the connection.
    async fn on_text(
        &mut self,
        text: &str,
        hub: &Hub,
        state: &mut watch::Receiver<Arc<Built>>,
    ) -> Result<bool, End> {
        let msg = match ClientMessage::parse(text) {
            Ok(m) => m,
            Err(message) => {
                self.send(&ServerMessage::Error {
                    code: ErrorCode::BadMessage,
                    message,
                    id: None,
                })?;
                return Ok(true);
            }
        };
        match msg {
            ClientMessage::Hello { protocol, client } => {
                if self.hello {
                    self.send(&ServerMessage::Error {
                        code: ErrorCode::BadMessage,
                        message: "hello was already received on this connection".into(),
                        id: None,
                    })?;
                    return Ok(true);
                }
                if protocol != PROTOCOL_VERSION {
                    self.send(&ServerMessage::Error {
                        code: ErrorCode::UnsupportedProtocol,
                        message: format!(
                            "this agent speaks console protocol {PROTOCOL_VERSION}, the console {protocol}: use a console of the agent's version ({})",
                            env!("CARGO_PKG_VERSION")
                        ),
                        id: None,
                    })?;
                    let _ = self
                        .tx
                        .try_send(close(close_code::UNSUPPORTED_PROTOCOL, "protocol"));
                    return Ok(false);
                }
                // The access list as it is now (the built state may be a
                // tick old, and a grant made a moment ago must count).
                let built = Arc::clone(&state.borrow_and_update());
                let (access, version) = match hub.commands.access_now().await {
                    Ok(fresh) => fresh,
                    Err(err) => {
                        warn!(error = %err, "cannot read the access list; using the last state's");
                        (built.access.clone(), built.access_version)
                    }
                };
                self.grants = access.applicable(&self.identity);
                self.access_version = version;
                self.roles = roles_by_system(&self.grants, &built.systems);
                if self.roles.is_empty() {
                    hub.admission.note(
                        Listener::of(self.identity.transport),
                        Event::NoRole,
                        &self.identity.user,
                        None,
                    );
                    return self.refuse_no_access();
                }
                self.hello = true;
                info!(user = %self.identity.user, via = self.identity.via(), client = client.as_deref().unwrap_or("-"), "console connected");
                self.send(&self.welcome())?;
                Ok(true)
            }
            ClientMessage::Subscribe => {
                if !self.hello {
                    return self.before_hello(None);
                }
                let built = Arc::clone(&state.borrow_and_update());
                // Roles may have changed since hello; take the latest first.
                if !self.refresh_roles(&built)? {
                    return Ok(false);
                }
                let visible = visible_to(&built.state, &self.roles);
                let seq = 1;
                self.send(&ServerMessage::Snapshot {
                    seq,
                    state: visible.clone(),
                })?;
                self.subscribed = Some((seq, visible));
                Ok(true)
            }
            ClientMessage::Command { id, command } => {
                if !self.hello {
                    return self.before_hello(Some(id));
                }
                let outcome = hub.commands.run(&self.identity, &id, command).await;
                self.send(&ServerMessage::Result { id, outcome })?;
                Ok(true)
            }
        }
    }

    fn before_hello(&self, id: Option<String>) -> Result<bool, End> {
        self.send(&ServerMessage::Error {
            code: ErrorCode::HelloFirst,
            message: format!(
                "send hello {{\"type\":\"hello\",\"protocol\":{PROTOCOL_VERSION}}} first"
            ),
            id,
        })?;
        Ok(true)
    }

    /// Re-reads the caller's roles; a changed role is announced with a new
    /// `welcome`, no role at all closes the connection (`Ok(false)`).
    fn refresh_roles(&mut self, built: &Built) -> Result<bool, End> {
        if built.access_version < self.access_version {
            return Ok(true);
        }
        self.access_version = built.access_version;
        let grants = built.access.applicable(&self.identity);
        if grants == self.grants {
            return Ok(true);
        }
        self.grants = grants;
        self.roles = roles_by_system(&self.grants, &built.systems);
        if self.roles.is_empty() {
            info!(user = %self.identity.user, "closing a console whose last role was revoked");
            return self.refuse_no_access();
        }
        self.send(&self.welcome())?;
        Ok(true)
    }

    /// A new state: a new welcome if roles changed, then a delta of what
    /// the caller sees, if anything changed.
    fn on_state(&mut self, built: &Built) -> Result<bool, End> {
        if !self.refresh_roles(built)? {
            return Ok(false);
        }
        let Some((seq, last)) = &self.subscribed else {
            return Ok(true);
        };
        let visible = visible_to(&built.state, &self.roles);
        let patches = diff(last, &visible);
        if patches.is_empty() {
            return Ok(true);
        }
        let seq = seq + 1;
        self.send(&ServerMessage::Delta { seq, patches })?;
        self.subscribed = Some((seq, visible));
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console_api::access::AccessData;
    use crate::console_api::admission::Limits;
    use crate::console_api::commands::CommandRunner;
    use crate::journal::access::Member;
    use crate::journal::{FILE_NAME, Journal, SharedJournal, SystemClock};
    use mottak_protocol::console::{Principal, Scope};
    use tokio_tungstenite::WebSocketStream;

    /// A hub with short deadlines, a journal in `dir`, and one user
    /// ("tester") who is a viewer of "ms-a".
    fn hub(dir: &Path, settings: ServerSettings) -> (Arc<Hub>, watch::Sender<Arc<Built>>) {
        let mut journal = Journal::open(&dir.join(FILE_NAME), Arc::new(SystemClock)).unwrap();
        let note = crate::journal::access::AuditNote {
            who: "root".into(),
            via: "cli".into(),
            action: "grant".into(),
            mottakersystem: None,
            target: None,
            reason: None,
            outcome: "ok".into(),
            command_id: None,
        };
        journal
            .grant(
                &RoleGrant {
                    principal: Principal::Group("g".into()),
                    role: Role::Viewer,
                    scope: Scope::All,
                },
                &note,
            )
            .unwrap();
        journal.add_member("tester", "g", &note).unwrap();
        let journal = SharedJournal::new(journal);
        let rebuild = Arc::new(tokio::sync::Notify::new());
        let built = Built {
            access: AccessData {
                grants: vec![RoleGrant {
                    principal: Principal::Group("g".into()),
                    role: Role::Viewer,
                    scope: Scope::All,
                }],
                members: vec![Member {
                    user: "tester".into(),
                    group: "g".into(),
                }],
            },
            systems: vec!["ms-a".into()],
            ..Built::default()
        };
        let (tx, rx) = watch::channel(Arc::new(built));
        let hub = Arc::new(Hub {
            state: rx,
            commands: Arc::new(CommandRunner::new(journal, vec![], Arc::clone(&rebuild))),
            admission: Arc::new(Admission::new(Limits::default())),
            settings,
            shutdown: CancellationToken::new(),
            connected: AtomicUsize::new(0),
            rebuild,
        });
        (hub, tx)
    }

    fn tester() -> Identity {
        Identity {
            user: "tester".into(),
            transport: Transport::LocalSocket,
            unix_groups: Default::default(),
        }
    }

    /// Starts a session over an in-memory pipe; returns the client side and
    /// the server task.
    async fn connect(
        hub: &Arc<Hub>,
    ) -> (
        WebSocketStream<tokio::io::DuplexStream>,
        tokio::task::JoinHandle<()>,
    ) {
        let (client, server) = tokio::io::duplex(4096);
        let arrival = Arrival {
            listener: Listener::Socket,
            peer: "tester".into(),
            deadline: None,
        };
        let task = tokio::spawn(serve_connection(
            server,
            Ok(tester()),
            Arc::clone(hub),
            arrival,
        ));
        let (ws, _) = tokio_tungstenite::client_async("ws://localhost/", client)
            .await
            .unwrap();
        (ws, task)
    }

    async fn send(ws: &mut WebSocketStream<tokio::io::DuplexStream>, m: &ClientMessage) {
        ws.send(Message::text(serde_json::to_string(m).unwrap()))
            .await
            .unwrap();
    }

    async fn next_message(ws: &mut WebSocketStream<tokio::io::DuplexStream>) -> ServerMessage {
        loop {
            match ws.next().await.unwrap().unwrap() {
                Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("{other:?}"),
            }
        }
    }

    fn short() -> ServerSettings {
        ServerSettings {
            ping_interval: Duration::from_millis(50),
            dead_after: Duration::from_millis(300),
            hello_timeout: Duration::from_millis(500),
            ..ServerSettings::default()
        }
    }

    fn hello() -> ClientMessage {
        ClientMessage::Hello {
            protocol: PROTOCOL_VERSION,
            client: None,
        }
    }

    #[tokio::test]
    async fn a_peer_that_answers_pings_stays_and_a_silent_one_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (hub, _tx) = hub(dir.path(), short());

        // Reading answers the agent's pings (tungstenite sends the pongs).
        let (mut live, live_task) = connect(&hub).await;
        send(&mut live, &hello()).await;
        assert!(matches!(
            next_message(&mut live).await,
            ServerMessage::Welcome { .. }
        ));
        let reading = tokio::time::timeout(Duration::from_secs(1), async {
            loop {
                if live.next().await.is_none() {
                    break;
                }
            }
        })
        .await;
        assert!(reading.is_err(), "still connected after 1 s of pings");
        assert!(!live_task.is_finished());

        // A peer that stops reading (and so answers nothing) is dropped.
        let (mut dead, dead_task) = connect(&hub).await;
        send(&mut dead, &hello()).await;
        assert!(matches!(
            next_message(&mut dead).await,
            ServerMessage::Welcome { .. }
        ));
        tokio::time::timeout(Duration::from_secs(5), dead_task)
            .await
            .expect("the silent peer was not dropped")
            .unwrap();
        drop(live);
        tokio::time::timeout(Duration::from_secs(5), live_task)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(hub.connected.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn a_subscriber_that_does_not_read_is_dropped_when_its_queue_fills() {
        let dir = tempfile::tempdir().unwrap();
        let (hub, tx) = hub(
            dir.path(),
            ServerSettings {
                queue_len: 4,
                write_timeout: Duration::from_millis(200),
                ..ServerSettings::default()
            },
        );
        let (mut ws, task) = connect(&hub).await;
        send(&mut ws, &hello()).await;
        send(&mut ws, &ClientMessage::Subscribe).await;
        // Many state changes, each a delta the console never reads; the
        // 4 KiB pipe and the queue of 4 fill up.
        for n in 0..500u64 {
            tx.send_modify(|b| {
                let mut next = (**b).clone();
                next.state.agent.started_at = i64::try_from(n).unwrap();
                next.state.agent.hostname = "x".repeat(1000);
                *b = Arc::new(next);
            });
            // Let the session see each change (the watch keeps only the latest).
            tokio::time::sleep(Duration::from_millis(2)).await;
            if task.is_finished() {
                break;
            }
        }
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the slow console was not dropped")
            .unwrap();
    }

    #[tokio::test]
    async fn the_socket_replaces_a_stale_one_and_refuses_a_live_one_or_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("console.sock");
        let first = bind_unix(&path).await.unwrap();
        assert!(matches!(
            bind_unix(&path).await,
            Err(BindError::InUse { .. })
        ));
        drop(first); // the file stays, as after a crash
        assert!(path.exists());
        let again = bind_unix(&path).await.unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o660
        );
        drop(again);
        let file = dir.path().join("not-a-socket");
        std::fs::write(&file, "keep me").unwrap();
        let err = bind_unix(&file).await.unwrap_err().to_string();
        assert!(err.contains("not a socket"), "{err}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
        let long = dir.path().join("x".repeat(120));
        assert!(matches!(
            bind_unix(&long).await,
            Err(BindError::TooLong { .. })
        ));
    }

    #[tokio::test]
    async fn no_hello_in_time_closes_with_4408() {
        let dir = tempfile::tempdir().unwrap();
        // No pings: a pong the client owes would fail to write once the
        // agent has hung up, hiding the close frame.
        let (hub, _tx) = hub(
            dir.path(),
            ServerSettings {
                hello_timeout: Duration::from_millis(300),
                ..ServerSettings::default()
            },
        );
        let (mut ws, task) = connect(&hub).await;
        assert!(matches!(
            next_message(&mut ws).await,
            ServerMessage::Error {
                code: ErrorCode::HelloFirst,
                ..
            }
        ));
        match ws.next().await {
            Some(Ok(Message::Close(Some(f)))) => {
                assert_eq!(u16::from(f.code), close_code::HELLO_TIMEOUT)
            }
            other => panic!("{other:?}"),
        }
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn deltas_follow_the_state_gap_free() {
        let dir = tempfile::tempdir().unwrap();
        let (hub, tx) = hub(dir.path(), ServerSettings::default());
        let (mut ws, _task) = connect(&hub).await;
        send(&mut ws, &hello()).await;
        next_message(&mut ws).await;
        send(&mut ws, &ClientMessage::Subscribe).await;
        let ServerMessage::Snapshot { seq, state } = next_message(&mut ws).await else {
            panic!("no snapshot")
        };
        let mut mirror = state;
        let mut last = seq;
        for n in 1..=20 {
            tx.send_modify(|b| {
                let mut next = (**b).clone();
                next.state.agent.started_at = n;
                *b = Arc::new(next);
            });
            let ServerMessage::Delta { seq, patches } = next_message(&mut ws).await else {
                panic!("no delta")
            };
            assert_eq!(seq, last + 1);
            last = seq;
            mirror.apply_all(&patches);
            assert_eq!(mirror.agent.started_at, n);
        }
    }
}
