//! The connection task against a scripted agent on a Unix socket: a gap in
//! the delta sequence makes it subscribe again (and pass on nothing from the
//! broken stream); a closed connection is reported as lost, and it
//! reconnects by itself with a full hello + subscribe. Commands while
//! disconnected come back as not sent.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use mottak_console::app::ClientEvent;
use mottak_console::client::{self, Outgoing, Target};
use mottak_protocol::console::{
    ClientMessage, Command, ConsoleState, Outcome, PROTOCOL_VERSION, Patch, Role, ServerMessage,
    Transport,
};
use tokio::net::UnixListener;
use tokio_tungstenite::tungstenite::Message;

type Server = tokio_tungstenite::WebSocketStream<tokio::net::UnixStream>;

async fn send(ws: &mut Server, m: ServerMessage) {
    ws.send(Message::text(serde_json::to_string(&m).unwrap()))
        .await
        .unwrap();
}

async fn recv(ws: &mut Server) -> ClientMessage {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            Message::Text(t) => return ClientMessage::parse(t.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("{other:?}"),
        }
    }
}

fn welcome() -> ServerMessage {
    ServerMessage::Welcome {
        protocol: PROTOCOL_VERSION,
        agent_version: "0.1.0".into(),
        user: "kari".into(),
        transport: Transport::LocalSocket,
        roles: vec![],
        permissions: vec![mottak_protocol::console::SystemPermissions {
            mottakersystem: "a".into(),
            role: Role::Operator,
            permissions: Role::Operator.permissions(),
        }],
    }
}

fn state(host: &str) -> ConsoleState {
    let mut s = ConsoleState::default();
    s.agent.hostname = host.into();
    s
}

async fn handshake(listener: &UnixListener) -> Server {
    let (stream, _) = listener.accept().await.unwrap();
    let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
    assert!(
        matches!(recv(&mut ws).await, ClientMessage::Hello { protocol, .. } if protocol == PROTOCOL_VERSION)
    );
    send(&mut ws, welcome()).await;
    assert_eq!(recv(&mut ws).await, ClientMessage::Subscribe);
    ws
}

async fn next(events: &mut tokio::sync::mpsc::Receiver<ClientEvent>) -> ClientEvent {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("no event from the client in 10 s")
        .expect("the client task ended")
}

fn agent_info(host: &str) -> Patch {
    Patch::Agent(state(host).agent)
}

#[tokio::test]
async fn gaps_resubscribe_and_lost_connections_reconnect() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("console.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let (mut events, commands) = client::spawn(Target::Socket(path.clone()));

    assert_eq!(
        next(&mut events).await,
        ClientEvent::Connecting { attempt: 1 }
    );
    let mut ws = handshake(&listener).await;
    assert!(matches!(next(&mut events).await, ClientEvent::Connected(w) if w.user == "kari"));
    send(
        &mut ws,
        ServerMessage::Snapshot {
            seq: 1,
            state: state("one"),
        },
    )
    .await;
    send(
        &mut ws,
        ServerMessage::Delta {
            seq: 2,
            patches: vec![agent_info("two")],
        },
    )
    .await;
    // seq 3 is missing.
    send(
        &mut ws,
        ServerMessage::Delta {
            seq: 4,
            patches: vec![agent_info("four")],
        },
    )
    .await;
    assert!(
        matches!(next(&mut events).await, ClientEvent::Message(m) if matches!(*m, ServerMessage::Snapshot { seq: 1, .. }))
    );
    assert!(
        matches!(next(&mut events).await, ClientEvent::Message(m) if matches!(*m, ServerMessage::Delta { seq: 2, .. }))
    );
    assert_eq!(next(&mut events).await, ClientEvent::Resyncing);
    assert_eq!(
        recv(&mut ws).await,
        ClientMessage::Subscribe,
        "subscribes again after a gap"
    );
    // Late deltas of the broken stream are dropped until the new snapshot.
    send(
        &mut ws,
        ServerMessage::Delta {
            seq: 5,
            patches: vec![agent_info("five")],
        },
    )
    .await;
    send(
        &mut ws,
        ServerMessage::Snapshot {
            seq: 10,
            state: state("ten"),
        },
    )
    .await;
    match next(&mut events).await {
        ClientEvent::Message(m) => assert!(
            matches!(*m, ServerMessage::Snapshot { seq: 10, .. }),
            "{m:?}"
        ),
        other => panic!("{other:?}"),
    }
    // A command goes through and its result comes back.
    commands
        .send(Outgoing {
            id: "c1".into(),
            command: Command::PollNow {
                mottakersystem: "a".into(),
            },
        })
        .await
        .unwrap();
    match recv(&mut ws).await {
        ClientMessage::Command { id, .. } => assert_eq!(id, "c1"),
        other => panic!("{other:?}"),
    }
    send(
        &mut ws,
        ServerMessage::Result {
            id: "c1".into(),
            outcome: Outcome::Ok {
                message: "polling".into(),
            },
        },
    )
    .await;
    assert!(
        matches!(next(&mut events).await, ClientEvent::Message(m) if matches!(*m, ServerMessage::Result { .. }))
    );

    // The agent goes away: lost, then a new connection with a full resubscribe.
    drop(ws);
    match next(&mut events).await {
        ClientEvent::Lost { error, retry_at } => {
            assert!(!error.is_empty());
            assert!(retry_at > 0);
        }
        other => panic!("{other:?}"),
    }
    // While waiting to reconnect, commands are refused, not queued.
    commands
        .send(Outgoing {
            id: "c2".into(),
            command: Command::PollNow {
                mottakersystem: "a".into(),
            },
        })
        .await
        .unwrap();
    assert_eq!(
        next(&mut events).await,
        ClientEvent::NotSent { id: "c2".into() }
    );
    assert_eq!(
        next(&mut events).await,
        ClientEvent::Connecting { attempt: 1 }
    );
    let mut ws = handshake(&listener).await;
    assert!(matches!(next(&mut events).await, ClientEvent::Connected(_)));
    send(
        &mut ws,
        ServerMessage::Snapshot {
            seq: 1,
            state: state("again"),
        },
    )
    .await;
    assert!(
        matches!(next(&mut events).await, ClientEvent::Message(m) if matches!(*m, ServerMessage::Snapshot { seq: 1, .. }))
    );
}

#[tokio::test]
async fn a_refusal_is_reported_in_words_and_retried() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("console.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let (mut events, _commands) = client::spawn(Target::Socket(path.clone()));
    assert_eq!(
        next(&mut events).await,
        ClientEvent::Connecting { attempt: 1 }
    );
    let (stream, _) = listener.accept().await.unwrap();
    let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
    let _ = recv(&mut ws).await;
    send(
        &mut ws,
        ServerMessage::Error {
            code: mottak_protocol::console::ErrorCode::NoAccess,
            message: "ola has no role".into(),
            id: None,
        },
    )
    .await;
    match next(&mut events).await {
        ClientEvent::Lost { error, .. } => {
            assert!(
                error.contains("ola has no role") && error.contains("mottak-agent access grant"),
                "{error}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        next(&mut events).await,
        ClientEvent::Connecting { attempt: 2 }
    );
}

#[tokio::test]
async fn fetch_once_names_a_missing_socket() {
    let dir = tempfile::tempdir().unwrap();
    let err = client::fetch_once(
        &Target::Socket(dir.path().join("nope.sock")),
        Duration::from_secs(2),
    )
    .await
    .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("nope.sock") && msg.contains("is mottak-agent running?"),
        "{msg}"
    );
}
