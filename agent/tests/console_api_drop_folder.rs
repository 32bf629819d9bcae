//! The drop folder is written by another party (issue 12): what a hostile
//! or careless fagsystem leaves in `feilet/` is never read through, never
//! blocks, and never shows a file the agent can read to a console; a
//! sender's document never takes a name the contract gives a meaning. Each
//! against the real agent.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod console_api_support;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use console_api_support::{Env, Options, count};
use mottak_fixtures::svarinn::{NewForsendelse, Plaintext};
use mottak_protocol::console::{Command, ConsoleState, ForsendelseState, Outcome};

const LIMIT: Duration = Duration::from_secs(60);
const F1: &str = "11111111-1111-4111-8111-111111111111";
const F2: &str = "22222222-2222-4222-8222-222222222222";

fn pdf(user: &str, name: &str, id: &str) -> NewForsendelse {
    NewForsendelse::pdf(
        user,
        name,
        Plaintext::Bytes(b"%PDF-1.4 the sender's".to_vec()),
    )
    .id(id)
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in entries {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn move_to_inn(id: &str, system: &str) -> Command {
    Command::MoveToInn {
        mottakersystem: system.into(),
        forsendelse: id.into(),
    }
}

fn rejected(s: &ConsoleState, id: &str) -> bool {
    s.failed
        .items
        .iter()
        .any(|f| f.id == id && f.state == ForsendelseState::Rejected)
}

fn reason_of(s: &ConsoleState, id: &str) -> String {
    s.failed
        .items
        .iter()
        .find(|f| f.id == id)
        .and_then(|f| f.reason.as_ref())
        .map(|r| r.raw().to_owned())
        .unwrap_or_default()
}

/// Everything the journal holds on disk, as bytes.
fn journal_bytes(env: &Env) -> Vec<u8> {
    let mut all = Vec::new();
    for name in ["journal.sqlite", "journal.sqlite-wal"] {
        if let Ok(bytes) = std::fs::read(env.path().join("state").join(name)) {
            all.extend(bytes);
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn mkfifo(path: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
}

/// Issue 12, point 2: `feilet/<id>/feil.txt` as a symlink to the agent's
/// private key. The console shows that it was refused, not the key; the
/// journal stores nothing of it; `move_to_inn` quotes nothing of it and
/// removes the link, not the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feil_txt_linked_to_the_private_key_is_never_shown_stored_or_quoted() {
    let env = Env::new(Options {
        ack: "on-import",
        ..Options::default()
    })
    .await;
    env.access(&["grant", "--user", "root", "--role", "operator", "--all"]);
    let sys = env.sys("ms-a").clone();
    env.fake()
        .add_forsendelse(pdf(&sys.username, "brev.pdf", F1))
        .await
        .unwrap();
    let mut agent = env.spawn_agent().await;
    let mut c = env.subscribed().await;
    c.wait_until("delivered", LIMIT, |s| {
        count(s, "ms-a", ForsendelseState::Delivered) == 1
    })
    .await;

    let key_path = sys.key.clone();
    let key = std::fs::read(&key_path).unwrap();
    // A line from the middle of the key: in nothing the agent writes.
    let key_line = key.split(|b| *b == b'\n').nth(3).unwrap().to_vec();
    assert!(key_line.len() > 40);
    std::fs::rename(sys.inn().join(F1), sys.feilet().join(F1)).unwrap();
    std::os::unix::fs::symlink(&key_path, sys.feilet().join(F1).join("feil.txt")).unwrap();

    let s = c.wait_until("rejected", LIMIT, |s| rejected(s, F1)).await;
    let reason = reason_of(&s, F1);
    assert!(
        reason.contains("feil.txt refused: it is a symbolic link"),
        "{reason}"
    );
    let snapshot = serde_json::to_vec(&s).unwrap();
    assert!(
        !contains(&snapshot, &key_line),
        "the key is in the console state"
    );
    assert!(!contains(&snapshot, b"PRIVATE KEY"));
    assert!(
        !contains(&journal_bytes(&env), &key_line),
        "the key is in the journal"
    );

    let o = c.command("move", move_to_inn(F1, "ms-a")).await;
    let Outcome::Ok { message } = &o else {
        panic!("{o:?}")
    };
    assert!(message.contains("a symbolic link"), "{message}");
    assert!(!contains(message.as_bytes(), &key_line) && !message.contains("PRIVATE"));
    assert!(sys.inn().join(F1).join("forsendelse.json").exists());
    assert!(std::fs::symlink_metadata(sys.inn().join(F1).join("feil.txt")).is_err());
    assert_eq!(
        std::fs::read(&key_path).unwrap(),
        key,
        "the key is untouched"
    );
    c.wait_until("delivered again", LIMIT, |s| {
        count(s, "ms-a", ForsendelseState::Delivered) == 1
    })
    .await;
    let journal = journal_bytes(&env);
    assert!(!contains(&journal, &key_line), "the key is in the journal");
    assert!(!contains(&journal, b"PRIVATE KEY"));
    for e in env.fake().events() {
        let text = format!("{e:?}");
        assert!(
            !contains(text.as_bytes(), &key_line),
            "sent to SvarInn: {text}"
        );
    }
    agent.assert_running();
}

/// Issue 12, point 4: a FIFO named `feil.txt` in `feilet/<id>/`. The
/// forsendelse does not stall (the console shows it rejected, its feil.txt
/// refused), `move_to_inn` on it answers, a command on another
/// mottakersystem answers at the same time, and SIGTERM still stops the
/// agent promptly and cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_feil_txt_blocks_nothing() {
    let env = Env::new(Options {
        ack: "on-import",
        systems: vec!["ms-a", "ms-b"],
        ..Options::default()
    })
    .await;
    env.access(&["grant", "--user", "root", "--role", "operator", "--all"]);
    let a = env.sys("ms-a").clone();
    let b = env.sys("ms-b").clone();
    env.fake()
        .add_forsendelse(pdf(&a.username, "brev.pdf", F1))
        .await
        .unwrap();
    env.fake()
        .add_forsendelse(pdf(&b.username, "brev.pdf", F2))
        .await
        .unwrap();
    let mut agent = env.spawn_agent().await;
    let mut c = env.subscribed().await;
    c.wait_until("both delivered", LIMIT, |s| {
        count(s, "ms-a", ForsendelseState::Delivered) == 1
            && count(s, "ms-b", ForsendelseState::Delivered) == 1
    })
    .await;

    std::fs::rename(a.inn().join(F1), a.feilet().join(F1)).unwrap();
    mkfifo(&a.feilet().join(F1).join("feil.txt"));
    // Both kinds of folder at once: ms-b's rejection is seen as well.
    std::fs::rename(b.inn().join(F2), b.feilet().join(F2)).unwrap();
    std::fs::write(b.feilet().join(F2).join("feil.txt"), "Ukjent sak").unwrap();
    let s = c
        .wait_until("both rejected", LIMIT, |s| {
            rejected(s, F1) && rejected(s, F2)
        })
        .await;
    assert!(
        reason_of(&s, F1).contains("refused: it is a FIFO"),
        "{}",
        reason_of(&s, F1)
    );
    assert_eq!(reason_of(&s, F2), "Ukjent sak");

    // move_to_inn on the FIFO one, and a command on ms-b, at once.
    let mut c2 = env.subscribed().await;
    let started = Instant::now();
    let (moved, other) = tokio::join!(
        async {
            let o = c.command("move-a", move_to_inn(F1, "ms-a")).await;
            (o, started.elapsed())
        },
        async {
            let o = c2.command("move-b", move_to_inn(F2, "ms-b")).await;
            (o, started.elapsed())
        }
    );
    let (Outcome::Ok { message }, took) = &moved else {
        panic!("{moved:?}")
    };
    assert!(message.contains("a FIFO"), "{message}");
    assert!(*took < Duration::from_secs(3), "move_to_inn took {took:?}");
    let (Outcome::Ok { message }, took) = &other else {
        panic!("{other:?}")
    };
    assert!(message.contains("Ukjent sak"), "{message}");
    assert!(
        *took < Duration::from_secs(3),
        "ms-b's command took {took:?}"
    );
    assert!(a.inn().join(F1).join("forsendelse.json").exists());
    assert!(std::fs::symlink_metadata(a.inn().join(F1).join("feil.txt")).is_err());
    c.wait_until("both delivered again", LIMIT, |s| {
        count(s, "ms-a", ForsendelseState::Delivered) == 1
            && count(s, "ms-b", ForsendelseState::Delivered) == 1
    })
    .await;

    // A FIFO left in feilet/ again (never moved back): SIGTERM still stops it.
    std::fs::rename(a.inn().join(F1), a.feilet().join(F1)).unwrap();
    mkfifo(&a.feilet().join(F1).join("feil.txt"));
    c.wait_until("rejected again", LIMIT, |s| rejected(s, F1))
        .await;
    agent.assert_running();
    let stopping = Instant::now();
    let kill = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(agent.pid().to_string())
        .status()
        .unwrap();
    assert!(kill.success());
    let status = loop {
        if let Some(status) = agent.try_wait() {
            break status;
        }
        assert!(
            stopping.elapsed() < Duration::from_secs(10),
            "SIGTERM did not stop the agent in 10 s:\n{}",
            agent.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}:\n{}", agent.log_text());
}

/// Issue 12, point 3: a sender's document named `feil.txt` (by
/// Content-Disposition, or as a zip entry) is delivered as
/// `vedlegg-feil.txt` with its bytes; the fagsystem's own `feil.txt` then
/// neither overwrites it nor is confused with it, and `move_to_inn` keeps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_senders_feil_txt_is_delivered_under_a_prefix_and_kept() {
    let env = Env::new(Options {
        ack: "on-import",
        ..Options::default()
    })
    .await;
    env.access(&["grant", "--user", "root", "--role", "operator", "--all"]);
    let sys = env.sys("ms-a").clone();
    let single = b"the sender's own feil.txt".to_vec();
    env.fake()
        .add_forsendelse(
            NewForsendelse::with_type(
                &sys.username,
                "feil.txt",
                "text/plain",
                Plaintext::Bytes(single.clone()),
            )
            .id(F1),
        )
        .await
        .unwrap();
    let zip = zip_of(&[
        ("feil.txt", b"an attachment called feil.txt"),
        ("soknad.pdf", b"%PDF-1.4 soknad"),
    ]);
    env.fake()
        .add_forsendelse(
            NewForsendelse::zip(&sys.username, "dokumenter.zip", Plaintext::Bytes(zip)).id(F2),
        )
        .await
        .unwrap();
    let mut agent = env.spawn_agent().await;
    let mut c = env.subscribed().await;
    c.wait_until("both delivered", LIMIT, |s| {
        count(s, "ms-a", ForsendelseState::Delivered) == 2
    })
    .await;
    let f1 = sys.inn().join(F1);
    let f2 = sys.inn().join(F2);
    assert_eq!(std::fs::read(f1.join("vedlegg-feil.txt")).unwrap(), single);
    assert!(!f1.join("feil.txt").exists());
    assert_eq!(
        std::fs::read(f2.join("vedlegg-feil.txt")).unwrap(),
        b"an attachment called feil.txt"
    );
    assert!(f2.join("soknad.pdf").exists() && !f2.join("feil.txt").exists());

    // The fagsystem rejects F2 and writes its reason, as the contract asks.
    std::fs::rename(&f2, sys.feilet().join(F2)).unwrap();
    std::fs::write(sys.feilet().join(F2).join("feil.txt"), "Mangler saksnummer").unwrap();
    let s = c.wait_until("rejected", LIMIT, |s| rejected(s, F2)).await;
    assert_eq!(reason_of(&s, F2), "Mangler saksnummer");
    assert_eq!(
        std::fs::read(sys.feilet().join(F2).join("vedlegg-feil.txt")).unwrap(),
        b"an attachment called feil.txt"
    );
    let o = c.command("move", move_to_inn(F2, "ms-a")).await;
    assert!(o.is_ok(), "{o:?}");
    assert!(!f2.join("feil.txt").exists());
    assert_eq!(
        std::fs::read(f2.join("vedlegg-feil.txt")).unwrap(),
        b"an attachment called feil.txt",
        "move_to_inn kept the sender's document"
    );
    agent.assert_running();
}
