//! Many consoles while forsendelser flow: 50 subscribed consoles each see a
//! gap-free sequence (snapshot, then deltas) that ends where the journal
//! ends; a console that disconnects mid-flow and subscribes again is back in
//! step; a console that floods the agent and never reads is dropped; and
//! the agent imports everything meanwhile.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod console_api_support;

use std::time::Duration;

use console_api_support::{Console, Env, Options, console_counts, count};
use mottak_fixtures::svarinn::{GenerateSpec, GeneratedKind};
use mottak_protocol::console::{ConsoleState, ForsendelseState, ServerMessage};
use tokio_tungstenite::tungstenite::Message;

const CONSOLES: usize = 50;
const PER_SYSTEM: usize = 500;
const LIMIT: Duration = Duration::from_secs(600);

fn all_acked(s: &ConsoleState) -> bool {
    count(s, "ms-a", ForsendelseState::Acked) == PER_SYSTEM as u64
        && count(s, "ms-b", ForsendelseState::Acked) == PER_SYSTEM as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_consoles_follow_a_thousand_forsendelser() {
    let env = Env::new(Options {
        systems: vec!["ms-a", "ms-b"],
        ..Options::default()
    })
    .await;
    env.access(&["grant", "--user", "root", "--role", "admin", "--all"]);
    let mut agent = env.spawn_agent().await;

    let mut consoles = Vec::new();
    for _ in 0..CONSOLES {
        consoles.push(env.subscribed().await);
    }
    // A console that floods the agent with garbage and never reads a reply.
    let mut flooder = env.console().await;
    assert!(matches!(
        flooder.hello().await,
        ServerMessage::Welcome { .. }
    ));

    let followers: Vec<_> = consoles
        .into_iter()
        .map(|mut c| {
            tokio::spawn(async move {
                let state = c.wait_until("all acked", LIMIT, all_acked).await;
                (c, state)
            })
        })
        .collect();
    let socket = env.socket.clone();
    let reconnecting = tokio::spawn(async move {
        let mut c = Console::connect(&socket).await;
        c.hello().await;
        c.subscribe().await;
        c.wait_until("some forsendelser are done", LIMIT, |s| {
            count(s, "ms-a", ForsendelseState::Acked) + count(s, "ms-b", ForsendelseState::Acked)
                >= 100
        })
        .await;
        drop(c);
        let mut c = Console::connect(&socket).await;
        c.hello().await;
        c.subscribe().await;
        let state = c
            .wait_until("all acked after reconnecting", LIMIT, all_acked)
            .await;
        (c, state)
    });
    let flood = tokio::spawn(async move {
        // Each bad frame earns an error reply nobody reads: the agent's queue
        // for this console fills up and it is dropped.
        for _ in 0..20_000 {
            if futures_util::SinkExt::send(&mut flooder.ws, Message::text("garbage"))
                .await
                .is_err()
            {
                return true;
            }
        }
        // Written into the buffers; the agent must have closed it by now.
        loop {
            match flooder.recv_frame().await {
                None | Some(Err(Message::Close(_))) => return true,
                Some(_) => {}
            }
        }
    });

    for s in &env.systems {
        env.fake()
            .generate_with(
                GenerateSpec::new(PER_SYSTEM, 1500, GeneratedKind::Pdf)
                    .for_mottakersystem(&s.username),
            )
            .await
            .unwrap();
    }

    let mut finals = Vec::new();
    for f in followers {
        finals.push(f.await.unwrap());
    }
    let (reconnected, reconnected_state) = reconnecting.await.unwrap();
    assert!(flood.await.unwrap(), "the flooding console was dropped");
    agent.assert_running();
    assert!(
        agent.log_text().contains("reads too slowly"),
        "the agent said why it dropped the flooding console"
    );

    // The journal agrees with every console.
    let journal = env.journal_counts();
    assert_eq!(
        journal,
        vec![
            (
                "ms-a".to_owned(),
                ForsendelseState::Acked,
                PER_SYSTEM as u64
            ),
            (
                "ms-b".to_owned(),
                ForsendelseState::Acked,
                PER_SYSTEM as u64
            ),
        ]
    );
    let mut total_deltas = 0;
    for (c, state) in &finals {
        assert_eq!(console_counts(state), journal);
        assert!(state.failed.items.is_empty());
        assert!(c.deltas > 0, "a console saw no deltas");
        total_deltas += c.deltas;
    }
    assert_eq!(console_counts(&reconnected_state), journal);
    assert!(reconnected.seq >= 1);
    // A fresh snapshot equals every console's mirror where the journal
    // decides (queue counts and failed imports).
    let fresh = env.subscribed().await.state.unwrap();
    for (_, state) in &finals {
        for (a, b) in state.queues.iter().zip(&fresh.queues) {
            assert_eq!(a.counts, b.counts);
        }
        assert_eq!(state.failed, fresh.failed);
    }
    println!(
        "{CONSOLES} consoles, {} forsendelser: {total_deltas} deltas in all, gap-free",
        2 * PER_SYSTEM
    );
}
