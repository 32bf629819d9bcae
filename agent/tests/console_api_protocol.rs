//! The console API over the real agent's Unix socket: identity from the
//! peer credentials, hello/welcome, refusals, snapshot then gap-free deltas,
//! fødselsnummer masking, and bad input (garbage, binary, oversized frames,
//! no hello, a wrong protocol) answered without disturbing the pipeline.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod console_api_support;

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::time::Duration;

use console_api_support::{Env, Options, count};
use mottak_fixtures::svarinn::{Fault, NewForsendelse, Plaintext, Scope};
use mottak_protocol::console::{
    ClientMessage, ErrorCode, ForsendelseState, Permission, Principal, Role, RoleGrant,
    Scope as GrantScope, ServerMessage, Transport, close_code,
};
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const LIMIT: Duration = Duration::from_secs(60);

/// The peer uid (0 in the test process) is named by the name service: "root".
/// Without a grant it is refused with a clear message and close code 4403;
/// with one, welcome names the user, the transport and the permissions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_comes_from_the_peer_credentials() {
    let env = Env::new(Options {
        systems: vec!["ms-a", "ms-b"],
        ..Options::default()
    })
    .await;
    let mut agent = env.spawn_agent().await;

    let meta = std::fs::metadata(&env.socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o660, "socket mode");

    let mut c = env.console().await;
    match c.hello().await {
        ServerMessage::Error { code, message, .. } => {
            assert_eq!(code, ErrorCode::NoAccess);
            assert!(message.contains("root"), "{message}");
            assert!(message.contains("mottak-agent access grant"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    match c.recv_frame().await {
        Some(Err(Message::Close(Some(frame)))) => {
            assert_eq!(frame.code, CloseCode::from(close_code::NO_ACCESS));
        }
        None => {}
        other => panic!("expected a close, got {other:?}"),
    }

    env.access(&[
        "grant", "--user", "root", "--role", "operator", "--system", "ms-a",
    ]);
    let mut c = env.console().await;
    match c.hello().await {
        ServerMessage::Welcome {
            user,
            transport,
            roles,
            permissions,
            protocol,
            ..
        } => {
            assert_eq!(user, "root");
            assert_eq!(transport, Transport::LocalSocket);
            assert_eq!(protocol, mottak_protocol::console::PROTOCOL_VERSION);
            assert_eq!(
                roles,
                vec![RoleGrant {
                    principal: Principal::User("root".into()),
                    role: Role::Operator,
                    scope: GrantScope::Mottakersystem("ms-a".into()),
                }]
            );
            assert_eq!(permissions.len(), 1, "only ms-a: {permissions:?}");
            assert_eq!(permissions[0].mottakersystem, "ms-a");
            assert!(permissions[0].permissions.contains(&Permission::Retry));
            assert!(
                !permissions[0]
                    .permissions
                    .contains(&Permission::ManageAccess)
            );
        }
        other => panic!("expected welcome, got {other:?}"),
    }
    // Only ms-a is visible.
    let state = c.subscribe().await;
    let names: Vec<&str> = state
        .queues
        .iter()
        .map(|q| q.mottakersystem.as_str())
        .collect();
    assert_eq!(names, ["ms-a"]);
    assert!(
        state.audit.is_empty(),
        "an operator does not read the audit log"
    );

    // A grant made while connected: a new welcome, and ms-b appears.
    env.access(&["grant", "--user", "root", "--role", "admin", "--all"]);
    let state = c
        .wait_until("ms-b appears", LIMIT, |s| s.queues.len() == 2)
        .await;
    assert!(!state.audit.is_empty(), "an admin reads the audit log");
    assert!(
        c.other.iter().any(
            |m| matches!(m, ServerMessage::Welcome { permissions, .. } if permissions.len() == 2)
        ),
        "{:?}",
        c.other
    );
    agent.assert_running();
}

/// A forsendelse that cannot be decrypted becomes a failed import: the
/// console sees it arrive as deltas after the snapshot, with its title's
/// fødselsnummer masked in every frame, and a critical-free alert list
/// that names it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_import_arrives_as_deltas_with_the_fodselsnummer_masked() {
    let env = Env::new(Options {
        max_decrypt_attempts: 1,
        ..Options::default()
    })
    .await;
    env.access(&["grant", "--user", "root", "--role", "viewer", "--all"]);
    let mut agent = env.spawn_agent().await;
    let mut c = env.subscribed().await;
    assert_eq!(c.seq, 1, "the snapshot is seq 1");

    let user = env.sys("ms-a").username.clone();
    let id = "6c5e2a8e-1111-4222-8333-944445555666";
    env.fake()
        .inject(Fault::WrongKey, Scope::forsendelse(id))
        .unwrap();
    env.fake()
        .add_forsendelse(
            NewForsendelse::pdf(&user, "brev.pdf", Plaintext::Bytes(vec![7; 3000]))
                .id(id)
                .tittel("Søknad om sosialhjelp for 01019012480"),
        )
        .await
        .unwrap();
    let state = c
        .wait_until("the failed import is shown", LIMIT, |s| {
            s.failed
                .items
                .iter()
                .any(|f| f.id == id && f.state == ForsendelseState::Failed)
        })
        .await;
    assert!(c.deltas > 0, "it came as deltas");
    let item = state.failed.items.iter().find(|f| f.id == id).unwrap();
    assert_eq!(item.tittel.raw(), "Søknad om sosialhjelp for ***********");
    assert!(item.last_error.is_some());
    assert!(!item.history.is_empty());
    assert_eq!(state.failed.total, 1);
    assert_eq!(count(&state, "ms-a", ForsendelseState::Failed), 1);
    assert!(
        state.alerts.iter().any(|a| a.key == "needs-person/ms-a"),
        "{:?}",
        state.alerts
    );
    // A fresh subscription shows the same, and never the digits.
    let mut raw = env.console().await;
    raw.hello().await;
    raw.send(&ClientMessage::Subscribe).await;
    let frame = tokio::time::timeout(
        Duration::from_secs(10),
        futures_util::StreamExt::next(&mut raw.ws),
    )
    .await
    .unwrap()
    .unwrap()
    .unwrap();
    let text = frame.into_text().unwrap();
    assert!(text.contains("***********"), "{text}");
    assert!(!text.contains("01019012480"), "{text}");
    agent.assert_running();
}

/// Bad input gets an error reply and the connection goes on; an oversized
/// frame closes that connection (1009); raw garbage instead of a websocket
/// handshake is dropped. Meanwhile the agent keeps importing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_answered_and_the_agent_keeps_importing() {
    let env = Env::new(Options::default()).await;
    env.access(&["grant", "--user", "root", "--role", "admin", "--all"]);
    let mut agent = env.spawn_agent().await;
    let first = env.fake().generate(5, 2000).await.unwrap();

    // Not a websocket at all.
    for junk in [
        &b"\x00\x01\x02 garbage\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\n\r\n",
        b"",
    ] {
        let mut s = tokio::net::UnixStream::connect(&env.socket).await.unwrap();
        s.write_all(junk).await.unwrap();
        drop(s);
    }

    let mut c = env.console().await;
    // Before hello.
    c.send(&ClientMessage::Subscribe).await;
    let m = c.recv().await.unwrap();
    assert!(
        matches!(
            m,
            ServerMessage::Error {
                code: ErrorCode::HelloFirst,
                ..
            }
        ),
        "{m:?}"
    );
    assert!(matches!(c.hello().await, ServerMessage::Welcome { .. }));
    let bad: Vec<Message> = vec![
        Message::text("not json"),
        Message::text("{\"type\":\"format_disk\"}"),
        Message::text("{\"type\":\"hello\",\"protocol\":1}"),
        Message::text("{\"type\":\"command\",\"id\":\"x\",\"command\":{\"name\":\"retry\"}}"),
        Message::text("[1,2,3]"),
        Message::text("{\"type\":\"hello\",\"protocol\":\"01019012480\"}"),
        Message::binary(vec![0xde, 0xad, 0xbe, 0xef]),
    ];
    for frame in bad {
        c.send_raw(frame.clone()).await;
        match c.recv().await.unwrap() {
            ServerMessage::Error { code, message, .. } => {
                assert_eq!(code, ErrorCode::BadMessage, "{frame:?}: {message}");
                assert!(!message.contains("01019012480"), "{message}");
            }
            other => panic!("{frame:?}: expected an error, got {other:?}"),
        }
    }
    // A command with an unusable id.
    let outcome = c
        .command(
            "",
            mottak_protocol::console::Command::PollNow {
                mottakersystem: "ms-a".into(),
            },
        )
        .await;
    assert!(
        matches!(
            &outcome,
            mottak_protocol::console::Outcome::Error {
                code: ErrorCode::InvalidArgument,
                ..
            }
        ),
        "{outcome:?}"
    );
    // Still a working connection.
    let state = c.subscribe().await;
    assert_eq!(state.queues.len(), 1);

    // An oversized frame: too_large, then close 1009.
    let mut big = env.console().await;
    assert!(matches!(big.hello().await, ServerMessage::Welcome { .. }));
    // Over the 64 KiB limit, small enough to fit in the socket buffer whole.
    big.send_raw(Message::text("x".repeat(100_000))).await;
    let mut saw_error = false;
    loop {
        match big.recv_frame().await {
            Some(Ok(ServerMessage::Error { code, .. })) => {
                assert_eq!(code, ErrorCode::TooLarge);
                saw_error = true;
            }
            Some(Err(Message::Close(Some(frame)))) => {
                assert_eq!(frame.code, CloseCode::Size);
                break;
            }
            None => break,
            other => panic!("{other:?}"),
        }
    }
    assert!(saw_error, "the agent said why it closed");

    // The agent imported everything meanwhile and the first console sees it.
    let more = env.fake().generate(5, 2000).await.unwrap();
    let n = (first.len() + more.len()) as u64;
    c.wait_until("all acked", LIMIT, |s| {
        count(s, "ms-a", ForsendelseState::Acked) == n
    })
    .await;
    agent.assert_running();
}

/// A console that never says hello is told so and closed (4408); one that
/// speaks another protocol version is refused (4426).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_hello_and_a_wrong_protocol_are_refused() {
    let env = Env::new(Options::default()).await;
    env.access(&["grant", "--user", "root", "--role", "viewer", "--all"]);
    let mut agent = env.spawn_agent().await;

    let mut wrong = env.console().await;
    wrong
        .send(&ClientMessage::Hello {
            protocol: 99,
            client: None,
        })
        .await;
    match wrong.recv().await.unwrap() {
        ServerMessage::Error { code, message, .. } => {
            assert_eq!(code, ErrorCode::UnsupportedProtocol);
            assert!(
                message.contains(&format!(
                    "protocol {}",
                    mottak_protocol::console::PROTOCOL_VERSION
                )),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    match wrong.recv_frame().await {
        Some(Err(Message::Close(Some(f)))) => {
            assert_eq!(f.code, CloseCode::from(close_code::UNSUPPORTED_PROTOCOL))
        }
        None => {}
        other => panic!("{other:?}"),
    }

    let mut silent = env.console().await;
    let started = std::time::Instant::now();
    match silent.recv_frame().await {
        Some(Ok(ServerMessage::Error { code, .. })) => assert_eq!(code, ErrorCode::HelloFirst),
        other => panic!("{other:?}"),
    }
    assert!(
        started.elapsed() >= Duration::from_secs(9),
        "{:?}",
        started.elapsed()
    );
    match silent.recv_frame().await {
        Some(Err(Message::Close(Some(f)))) => {
            assert_eq!(f.code, CloseCode::from(close_code::HELLO_TIMEOUT))
        }
        None => {}
        other => panic!("{other:?}"),
    }
    agent.assert_running();
}

/// The other user's side of [`a_local_user_holding_every_socket_slot_does_not_lock_out_an_admin`].
#[test]
fn holder() {
    console_api_support::hold_socket_helper();
}

/// Another local user (nobody, no role) holds 300 connections to the
/// console socket, more than `console_max_connections` (128): the rest are
/// refused with a 503, counted in a summary line rather than one line
/// each, and root, an admin, still gets in through the admin reserve and
/// gets its snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_user_holding_every_socket_slot_does_not_lock_out_an_admin() {
    let env = Env::new(Options::default()).await;
    env.access(&["grant", "--user", "root", "--role", "viewer", "--all"]);
    let agent = env.spawn_agent().await;
    let nobody = 65534;
    let mut holder = console_api_support::SocketHolder::start("holder", &env.socket, 300, nobody);

    let mut root = env.console().await;
    assert!(matches!(root.hello().await, ServerMessage::Welcome { .. }));
    let state = root.subscribe().await;
    assert_eq!(state.queues[0].mottakersystem, "ms-a");
    // The admin came after all 300, so every refusal is made by now.
    assert_eq!(holder.refused(), 300 - 128);
    let log = agent.log_text();
    let refusals: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("console socket connection refused"))
        .collect();
    assert!(
        (1..=2).contains(&refusals.len()),
        "{} refusal lines:\n{log}",
        refusals.len()
    );
    // Named by login when its lookup ran, by uid when it was refused without one.
    assert!(
        refusals[0].contains("from nobody") || refusals[0].contains("from uid 65534"),
        "{log}"
    );
}
