//! The websocket session's tests over an in-memory pipe, and the socket's binding.

use std::sync::atomic::Ordering;

use futures_util::{SinkExt, StreamExt};
use mottak_protocol::console::{
    ClientMessage, ErrorCode, PROTOCOL_VERSION, Principal, Role, RoleGrant, Scope, ServerMessage,
    close_code,
};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use super::*;
use crate::console_api::admission::Limits;
use crate::console_api::roles::AccessData;
use crate::journal::access::Member;
use crate::journal::{FILE_NAME, Journal, SharedJournal, SystemClock};

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
