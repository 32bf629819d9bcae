//! Console commands doing their work on the real agent: retry a failed
//! forsendelse, mark one permanent (mottakFeilet permanent=true reaches
//! SvarInn with the reason), move a rejected folder back to `inn/`, pause
//! (kept over a restart) and resume, poll now.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod console_api_support;

use std::time::Duration;

use console_api_support::{Env, Options, count};
use mottak_fixtures::svarinn::{
    EventKind, Fault, ForsendelseState as FakeState, NewForsendelse, Plaintext, Scope,
};
use mottak_protocol::console::{Command, ErrorCode, ForsendelseState, Outcome, Target};

const LIMIT: Duration = Duration::from_secs(90);
const F1: &str = "11111111-1111-4111-8111-111111111111";
const F2: &str = "22222222-2222-4222-8222-222222222222";

fn pdf(user: &str, id: &str) -> NewForsendelse {
    NewForsendelse::pdf(user, "brev.pdf", Plaintext::Bytes(vec![42; 4000])).id(id)
}

fn code(o: &Outcome) -> Option<ErrorCode> {
    match o {
        Outcome::Ok { .. } => None,
        Outcome::Error { code, .. } => Some(*code),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_and_mark_permanent_act_on_failed_imports() {
    let env = Env::new(Options {
        max_decrypt_attempts: 1,
        ..Options::default()
    })
    .await;
    env.access(&["grant", "--user", "root", "--role", "operator", "--all"]);
    let user = env.sys("ms-a").username.clone();
    for id in [F1, F2] {
        env.fake()
            .inject(Fault::WrongKey, Scope::forsendelse(id))
            .unwrap();
        env.fake().add_forsendelse(pdf(&user, id)).await.unwrap();
    }
    let mut agent = env.spawn_agent().await;
    let mut c = env.subscribed().await;
    c.wait_until("both failed and reported", LIMIT, |s| {
        s.failed.items.len() == 2
            && s.failed
                .items
                .iter()
                .all(|f| f.state == ForsendelseState::Failed && f.reported_to_svarinn)
    })
    .await;
    env.fake().clear_faults();

    let retry = |id: &str| Command::Retry {
        mottakersystem: "ms-a".into(),
        target: Target::Forsendelse(id.into()),
    };
    let o = c.command("r1", retry(F1)).await;
    assert!(o.is_ok(), "{o:?}");
    c.wait_until("F1 acked", LIMIT, |s| {
        count(s, "ms-a", ForsendelseState::Acked) == 1 && s.failed.items.len() == 1
    })
    .await;
    assert_eq!(env.fake().state_of(F1), Some(FakeState::Acked));
    // Nothing left to retry.
    assert_eq!(
        code(&c.command("r2", retry(F1)).await),
        Some(ErrorCode::WrongState)
    );
    let missing = "33333333-3333-4333-8333-333333333333";
    assert_eq!(
        code(&c.command("r3", retry(missing)).await),
        Some(ErrorCode::NotFound)
    );
    assert_eq!(
        code(&c.command("r4", retry("../etc")).await),
        Some(ErrorCode::InvalidArgument)
    );

    let permanent = |reason: &str| Command::MarkPermanent {
        mottakersystem: "ms-a".into(),
        target: Target::Forsendelse(F2.into()),
        reason: reason.into(),
    };
    assert_eq!(
        code(&c.command("p1", permanent("   ")).await),
        Some(ErrorCode::InvalidArgument),
        "a reason is required"
    );
    let o = c
        .command("p2", permanent("Sendt til kommunen i posten"))
        .await;
    assert!(o.is_ok(), "{o:?}");
    c.wait_until("F2 permanent", LIMIT, |s| {
        count(s, "ms-a", ForsendelseState::Permanent) == 1 && s.failed.items.is_empty()
    })
    .await;
    let deadline = std::time::Instant::now() + LIMIT;
    while env.fake().state_of(F2) != Some(FakeState::Permanent) {
        assert!(
            std::time::Instant::now() < deadline,
            "mottakFeilet permanent never came"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sent = env
        .fake()
        .mottak_feilet()
        .into_iter()
        .filter(|e| e.forsendelse.as_deref() == Some(F2))
        .find_map(|e| match e.kind {
            EventKind::MottakFeilet {
                feilmelding,
                permanent: true,
            } => Some(feilmelding),
            _ => None,
        })
        .unwrap();
    assert!(sent.contains("Sendt til kommunen i posten"), "{sent}");
    agent.assert_running();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_folder_goes_back_to_inn() {
    let env = Env::new(Options {
        ack: "on-import",
        ..Options::default()
    })
    .await;
    env.access(&["grant", "--user", "root", "--role", "operator", "--all"]);
    let sys = env.sys("ms-a").clone();
    env.fake()
        .add_forsendelse(pdf(&sys.username, F1))
        .await
        .unwrap();
    let mut agent = env.spawn_agent().await;
    let mut c = env.subscribed().await;
    c.wait_until("delivered", LIMIT, |s| {
        count(s, "ms-a", ForsendelseState::Delivered) == 1
    })
    .await;

    // The fagsystem cannot import it.
    std::fs::rename(sys.inn().join(F1), sys.feilet().join(F1)).unwrap();
    std::fs::write(
        sys.feilet().join(F1).join("feil.txt"),
        "Mangler saksnummer for 01019012480",
    )
    .unwrap();
    let s = c
        .wait_until("rejected", LIMIT, |s| {
            s.failed
                .items
                .iter()
                .any(|f| f.state == ForsendelseState::Rejected)
        })
        .await;
    assert_eq!(
        s.failed.items[0].reason.as_ref().unwrap().raw(),
        "Mangler saksnummer for ***********"
    );

    let o = c
        .command(
            "retry",
            Command::Retry {
                mottakersystem: "ms-a".into(),
                target: Target::Forsendelse(F1.into()),
            },
        )
        .await;
    match &o {
        Outcome::Error { code, message } => {
            assert_eq!(*code, ErrorCode::WrongState);
            assert!(message.contains("move it back to inn/"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let o = c
        .command(
            "move",
            Command::MoveToInn {
                mottakersystem: "ms-a".into(),
                forsendelse: F1.into(),
            },
        )
        .await;
    match &o {
        Outcome::Ok { message } => {
            assert!(message.contains("Mangler saksnummer"), "{message}");
            assert!(!message.contains("01019012480"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(sys.inn().join(F1).is_dir());
    assert!(!sys.feilet().join(F1).exists());
    assert!(!sys.inn().join(F1).join("feil.txt").exists());
    c.wait_until("delivered again", LIMIT, |s| {
        count(s, "ms-a", ForsendelseState::Delivered) == 1 && s.failed.items.is_empty()
    })
    .await;
    // Moving again: it is not rejected any more.
    let o = c
        .command(
            "move-2",
            Command::MoveToInn {
                mottakersystem: "ms-a".into(),
                forsendelse: F1.into(),
            },
        )
        .await;
    assert_eq!(code(&o), Some(ErrorCode::WrongState));

    // Now the fagsystem imports it, and it is acknowledged.
    std::fs::remove_dir_all(sys.inn().join(F1)).unwrap();
    c.wait_until("acked", LIMIT, |s| {
        count(s, "ms-a", ForsendelseState::Acked) == 1
    })
    .await;
    assert_eq!(env.fake().state_of(F1), Some(FakeState::Acked));
    agent.assert_running();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_holds_over_a_restart_and_poll_now_fetches_at_once() {
    let metrics = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = Env::new(Options {
        poll_interval: "1h",
        agent_extra: format!("metrics = \"127.0.0.1:{metrics}\""),
        ..Options::default()
    })
    .await;
    env.access(&["grant", "--user", "root", "--role", "operator", "--all"]);
    let user = env.sys("ms-a").username.clone();
    let mut agent = env.spawn_agent().await;
    let mut c = env.subscribed().await;
    c.wait_until("the first poll", LIMIT, |s| {
        s.integrations[0].svarinn.last_success_at.is_some()
    })
    .await;

    // The next poll is an hour away: poll now.
    env.fake().add_forsendelse(pdf(&user, F1)).await.unwrap();
    let poll = |id: &str| {
        (
            id.to_owned(),
            Command::PollNow {
                mottakersystem: "ms-a".into(),
            },
        )
    };
    let (id, cmd) = poll("poll-1");
    assert!(c.command(&id, cmd).await.is_ok());
    c.wait_until("F1 acked", LIMIT, |s| {
        count(s, "ms-a", ForsendelseState::Acked) == 1
    })
    .await;

    let o = c
        .command(
            "pause",
            Command::Pause {
                mottakersystem: "ms-a".into(),
                reason: Some("Fagsystemet oppgraderes".into()),
            },
        )
        .await;
    assert!(o.is_ok(), "{o:?}");
    let s = c
        .wait_until("shown paused", LIMIT, |s| s.queues[0].paused.is_some())
        .await;
    let p = s.queues[0].paused.as_ref().unwrap();
    assert_eq!(p.by, "root");
    assert_eq!(p.reason.as_ref().unwrap().raw(), "Fagsystemet oppgraderes");
    assert!(s.alerts.iter().any(|a| a.key == "paused/ms-a"));
    let (id, cmd) = poll("poll-2");
    assert_eq!(
        code(&c.command(&id, cmd).await),
        Some(ErrorCode::WrongState)
    );

    // Restart: still paused, nothing fetched.
    drop(c);
    agent.stop();
    env.fake().add_forsendelse(pdf(&user, F2)).await.unwrap();
    let mut agent = env.spawn_agent().await;
    let mut c = env.subscribed().await;
    assert!(c.state.as_ref().unwrap().queues[0].paused.is_some());
    // Turns in which an agent that forgot the pause would list and fetch F2: its first
    // (the poll at start), and more brought by changes in feilet/ (a paused loop
    // sleeps until its next poll, an hour away, unless something happens).
    let feilet = env.sys("ms-a").feilet();
    tokio::task::spawn_blocking(move || {
        use mottak_fixtures::kit::wait_until;
        let turns = || mottak_fixtures::kit::metrics::turns(metrics, "ms-a", "inbound");
        wait_until("the first turn", LIMIT, || turns().is_ok_and(|t| t >= 1))?;
        for n in 0..2 {
            let before = turns()?;
            std::fs::create_dir(feilet.join(format!("poke-{n}")))?;
            wait_until("a turn for a folder in feilet/", LIMIT, || {
                turns().is_ok_and(|t| t > before)
            })?;
            std::fs::remove_dir(feilet.join(format!("poke-{n}")))?;
        }
        anyhow::Ok(())
    })
    .await
    .unwrap()
    .unwrap();
    assert!(
        env.fake()
            .downloads()
            .iter()
            .all(|e| e.forsendelse.as_deref() != Some(F2)),
        "fetched while paused"
    );
    assert!(agent.log_text().contains("paused from the console"));

    let o = c
        .command(
            "resume",
            Command::Resume {
                mottakersystem: "ms-a".into(),
            },
        )
        .await;
    assert!(o.is_ok(), "{o:?}");
    c.wait_until("F2 acked after resuming", LIMIT, |s| {
        count(s, "ms-a", ForsendelseState::Acked) == 2 && s.queues[0].paused.is_none()
    })
    .await;
    let actions: Vec<String> = env
        .journal()
        .audit_tail(100)
        .unwrap()
        .into_iter()
        .filter(|a| a.note.via == "local_socket")
        .map(|a| {
            format!(
                "{} {}",
                a.note.action,
                a.note.outcome.split(':').next().unwrap()
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            "poll_now ok",
            "pause ok",
            "poll_now wrong_state",
            "resume ok"
        ]
    );
    agent.assert_running();
}
