//! One console connection's websocket session: the handshake, `hello`,
//! subscribe (snapshot, then deltas of what the caller may see), commands,
//! pings and the bounded writer queue. Separate from the listeners, which
//! only decide who may connect.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use mottak_protocol::console::{
    ClientMessage, ConsoleState, ErrorCode, PROTOCOL_VERSION, Role, RoleGrant, ServerMessage,
    close_code, diff,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{Arrival, Hub, IdentityError};
use crate::console_api::admission::{Event, Listener};
use crate::console_api::roles::{Identity, permissions, roles_by_system};
use crate::console_api::state::{Built, visible_to};

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
    identity: Result<Identity, IdentityError>,
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
        Err(err) => {
            let message = err.to_string();
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
