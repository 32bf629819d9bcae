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
//!
//! This module: the console socket, its accept loop and who its peer is;
//! `session`: one connection's websocket session, whichever listener took it.

mod session;
#[cfg(test)]
mod tests;

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use mottak_protocol::console::{MAX_CLIENT_FRAME_BYTES, Transport};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::accounts::{Directory, LookupError};
use super::admission::{ACCEPT_BACKOFF, Admission, Event, Listener, is_admin};
use super::commands::CommandRunner;
use super::roles::Identity;
use super::state::Built;
use super::tls::ClientCertError;

pub use session::serve_connection;

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

/// Why a connection's user is not known: it is refused before `hello`.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("the agent cannot tell who is connecting ({0}); refused")]
    PeerUid(std::io::Error),
    #[error(transparent)]
    Lookup(#[from] LookupError),
    #[error(transparent)]
    ClientCert(#[from] ClientCertError),
}

/// A socket connection's arrival: named by its login name, else its uid.
fn socket_arrival(
    identity: &Result<Identity, IdentityError>,
    uid: &std::io::Result<u32>,
) -> Arrival {
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
async fn local_identity(uid: &std::io::Result<u32>) -> Result<Identity, IdentityError> {
    let uid = match uid {
        Ok(uid) => *uid,
        Err(e) => {
            // io::Error is not Clone: keep its kind and words.
            let copy = std::io::Error::new(e.kind(), e.to_string());
            return Err(IdentityError::PeerUid(copy));
        }
    };
    let peer = Directory::system().peer(uid).await?;
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
