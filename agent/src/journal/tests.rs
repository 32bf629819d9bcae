use super::*;
use rusqlite::TransactionBehavior;
use std::time::Duration;
use time::macros::datetime;

const SYS: &str = "nav-frogn";

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(datetime!(2026-11-21 08:00 UTC)))
}

fn id(s: &str) -> ForsendelseId {
    ForsendelseId::parse(s).unwrap()
}

fn new(s: &str) -> NewForsendelse {
    NewForsendelse {
        id: id(s),
        tittel: format!("Søknad {s}"),
        avsender_navn: Some("NAV".into()),
        forsendelse_type: Some("nav.digisos".into()),
        sendt_at: Some(datetime!(2026-11-20 12:00 UTC)),
        size: Some(1234),
        raw_json: format!("{{\"id\":\"{s}\"}}"),
    }
}

fn open(dir: &Path, clock: Arc<ManualClock>) -> Journal {
    Journal::open(&dir.join(FILE_NAME), clock).unwrap()
}

#[test]
fn migrates_from_empty_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let j = open(dir.path(), clock());
    assert_eq!(j.schema_version().unwrap(), SCHEMA_VERSION);
    drop(j);
    let path = dir.path().join(FILE_NAME);
    assert_eq!(
        Journal::inspect_version(&path).unwrap(),
        Some(SCHEMA_VERSION)
    );
    let j = open(dir.path(), clock());
    assert_eq!(j.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(
        Journal::inspect_version(&dir.path().join("none.sqlite")).unwrap(),
        None
    );
}

#[test]
fn wal_mode_and_full_sync_are_on() {
    let dir = tempfile::tempdir().unwrap();
    let j = open(dir.path(), clock());
    assert_eq!(j.journal_mode().unwrap(), "wal");
    let sync: i64 = j
        .conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 2, "synchronous=FULL");
    let fk: i64 = j
        .conn
        .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(fk, 1);
}

#[test]
fn a_journal_newer_than_the_code_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let j = open(dir.path(), clock());
    j.conn
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(j);
    let err = Journal::open(&dir.path().join(FILE_NAME), clock()).unwrap_err();
    assert!(
        matches!(err, JournalError::TooNew { found, known, .. } if found == SCHEMA_VERSION + 1 && known == SCHEMA_VERSION),
        "{err}"
    );
    assert!(err.to_string().contains("do not delete"), "{err}");
    let err = Journal::open_read_only(&dir.path().join(FILE_NAME), clock()).unwrap_err();
    assert!(matches!(err, JournalError::TooNew { .. }), "{err}");
}

#[test]
fn a_half_applied_migration_is_rolled_back() {
    // A migration list whose second step fails: version stays at 0 and no
    // table of the first step is left behind.
    let dir = tempfile::tempdir().unwrap();
    let mut conn = Connection::open(dir.path().join("x.sqlite")).unwrap();
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .unwrap();
    tx.execute_batch(MIGRATIONS[0]).unwrap();
    assert!(tx.execute_batch("CREATE TABLE broken (").is_err());
    drop(tx); // rolled back, as `migrate` does on any error
    assert_eq!(user_version(&conn).unwrap(), 0);
    let tables: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'forsendelse'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 0);
    migrate(&mut conn, Path::new("x")).unwrap();
    assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
}

#[test]
fn listing_inserts_once_and_keeps_the_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let mut j = open(dir.path(), c.clone());
    assert_eq!(
        j.record_listed(SYS, &new("a1")).unwrap(),
        ListedDecision::New
    );
    c.advance(Duration::from_secs(300));
    assert_eq!(
        j.record_listed(SYS, &new("a1")).unwrap(),
        ListedDecision::Known(State::Listed)
    );
    let row = j.get(SYS, &id("a1")).unwrap().unwrap();
    assert_eq!(row.state, State::Listed);
    assert_eq!(row.tittel, "Søknad a1");
    assert_eq!(row.avsender_navn.as_deref(), Some("NAV"));
    assert_eq!(row.size, Some(1234));
    assert_eq!(row.raw_json, "{\"id\":\"a1\"}");
    assert_eq!(row.first_seen_at, datetime!(2026-11-21 08:00 UTC));
    assert_eq!(row.last_listed_at, datetime!(2026-11-21 08:05 UTC));
    // The same id under another mottakersystem is another row.
    assert_eq!(
        j.record_listed("nav-as", &new("a1")).unwrap(),
        ListedDecision::New
    );
}

#[test]
fn a_listing_is_replaced_only_before_the_download() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open(dir.path(), clock());
    for s in ["r1", "r2", "r3"] {
        j.record_listed(SYS, &new(s)).unwrap();
    }
    j.transition(
        SYS,
        &id("r2"),
        Change::RetryWait {
            next_attempt_at: datetime!(2026-11-21 09:00 UTC),
            error: "503".into(),
        },
    )
    .unwrap();
    j.transition(SYS, &id("r3"), Change::Downloaded).unwrap();
    let v2 = |s: &str| NewForsendelse {
        tittel: "Søknad (V2)".into(),
        size: Some(99),
        raw_json: format!("{{\"id\":\"{s}\",\"filer\":[]}}"),
        ..new(s)
    };
    assert!(j.replace_listing(SYS, &v2("r1")).unwrap());
    assert!(j.replace_listing(SYS, &v2("r2")).unwrap());
    assert!(!j.replace_listing(SYS, &v2("r3")).unwrap(), "downloaded");
    let row = j.get(SYS, &id("r1")).unwrap().unwrap();
    assert_eq!(
        (row.state, row.raw_json.as_str()),
        (State::Listed, v2("r1").raw_json.as_str())
    );
    assert_eq!((row.tittel.as_str(), row.size), ("Søknad (V2)", Some(99)));
    assert_eq!(
        j.get(SYS, &id("r2")).unwrap().unwrap().state,
        State::RetryWait
    );
    assert_eq!(
        j.get(SYS, &id("r3")).unwrap().unwrap().raw_json,
        new("r3").raw_json
    );
}

#[test]
fn the_happy_path_records_each_step() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let mut j = open(dir.path(), c.clone());
    let a = id("a1");
    j.record_listed(SYS, &new("a1")).unwrap();
    j.transition(SYS, &a, Change::Downloaded).unwrap();
    c.advance(Duration::from_secs(1));
    let row = j
        .transition(
            SYS,
            &a,
            Change::Delivered {
                folder_name: "a1".into(),
                digisos_id: Some("d-1".into()),
            },
        )
        .unwrap();
    assert_eq!(row.state, State::Delivered);
    assert_eq!(row.folder_name.as_deref(), Some("a1"));
    assert_eq!(row.digisos_id.as_deref(), Some("d-1"));
    assert_eq!(row.delivered_at, Some(datetime!(2026-11-21 08:00:01 UTC)));
    j.transition(SYS, &a, Change::Imported).unwrap();
    let row = j.transition(SYS, &a, Change::Acked).unwrap();
    assert_eq!(row.state, State::Acked);
    assert!(row.acked_at.is_some() && row.imported_at.is_some());
    let history: Vec<String> = j
        .history(SYS, &a)
        .unwrap()
        .into_iter()
        .map(|h| format!("{} {}", h.action, h.outcome))
        .collect();
    assert_eq!(
        history,
        [
            "listed new",
            "transition listed -> downloaded",
            "transition downloaded -> delivered",
            "transition delivered -> imported",
            "transition imported -> acked",
        ]
    );
    // Listed again after the ack: acknowledge again, never deliver again.
    assert_eq!(
        j.record_listed(SYS, &new("a1")).unwrap(),
        ListedDecision::Reack
    );
    assert_eq!(j.get(SYS, &a).unwrap().unwrap().state, State::Acked);
}

#[test]
fn illegal_transitions_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open(dir.path(), clock());
    let a = id("a1");
    j.record_listed(SYS, &new("a1")).unwrap();
    let err = j.transition(SYS, &a, Change::Acked).unwrap_err();
    assert!(
        matches!(
            err,
            JournalError::IllegalTransition {
                from: State::Listed,
                to: State::Acked,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("a1"), "{err}");
    let err = j.transition(SYS, &a, Change::Resume).unwrap_err();
    assert!(
        matches!(err, JournalError::IllegalTransition { .. }),
        "{err}"
    );
    let row = j.get(SYS, &a).unwrap().unwrap();
    assert_eq!(row.state, State::Listed);
    assert_eq!(j.history(SYS, &a).unwrap().len(), 1);

    let err = j
        .transition(SYS, &id("nope"), Change::Downloaded)
        .unwrap_err();
    assert!(matches!(err, JournalError::NotFound { .. }), "{err}");
}

#[test]
fn every_pair_of_the_table_is_enforced_by_the_journal() {
    // Drive a row into each state, then try every change from there.
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let mut j = open(dir.path(), c.clone());
    let path_to = |s: State| -> Vec<Change> {
        let delivered = Change::Delivered {
            folder_name: "f".into(),
            digisos_id: None,
        };
        let wait = Change::RetryWait {
            next_attempt_at: datetime!(2030-01-01 00:00 UTC),
            error: "503".into(),
        };
        match s {
            State::Listed => vec![],
            State::Downloaded => vec![Change::Downloaded],
            State::Delivered => vec![Change::Downloaded, delivered],
            State::Imported => vec![Change::Downloaded, delivered, Change::Imported],
            State::Acked => vec![Change::Downloaded, delivered, Change::Acked],
            State::RetryWait => vec![wait],
            State::Failed => vec![Change::Failed { error: "x".into() }],
            State::Rejected => vec![
                Change::Downloaded,
                delivered,
                Change::Rejected { reason: None },
            ],
            State::Permanent => vec![Change::Permanent { reason: "x".into() }],
        }
    };
    let change_to = |s: State| -> Change {
        match s {
            State::Listed => Change::Relisted,
            State::Downloaded => Change::Downloaded,
            State::Delivered => Change::Delivered {
                folder_name: "f".into(),
                digisos_id: None,
            },
            State::Imported => Change::Imported,
            State::Acked => Change::Acked,
            State::RetryWait => Change::RetryWait {
                next_attempt_at: datetime!(2030-01-01 00:00 UTC),
                error: "e".into(),
            },
            State::Failed => Change::Failed { error: "e".into() },
            State::Rejected => Change::Rejected { reason: None },
            State::Permanent => Change::Permanent { reason: "r".into() },
        }
    };
    let mut n = 0;
    for from in State::ALL {
        for to in State::ALL {
            n += 1;
            let rid = id(&format!("r{n}"));
            j.record_listed(SYS, &new(rid.as_str())).unwrap();
            for step in path_to(from) {
                j.transition(SYS, &rid, step).unwrap();
            }
            assert_eq!(j.get(SYS, &rid).unwrap().unwrap().state, from);
            let res = j.transition(SYS, &rid, change_to(to));
            // From retry_wait (which left `listed`) only `listed` is a legal resume.
            let expected = can_transition(from, to)
                && !(from == State::RetryWait && to.is_resumable() && to != State::Listed);
            assert_eq!(res.is_ok(), expected, "{from} -> {to}: {res:?}");
            let now = j.get(SYS, &rid).unwrap().unwrap().state;
            assert_eq!(now, if expected { to } else { from }, "{from} -> {to}");
        }
    }
}

#[test]
fn retry_wait_returns_to_the_state_it_left_when_due() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let mut j = open(dir.path(), c.clone());
    let a = id("a1");
    j.record_listed(SYS, &new("a1")).unwrap();
    j.transition(SYS, &a, Change::Downloaded).unwrap();
    j.transition(
        SYS,
        &a,
        Change::Delivered {
            folder_name: "a1".into(),
            digisos_id: None,
        },
    )
    .unwrap();
    j.transition(SYS, &a, Change::Imported).unwrap();
    let counters = j
        .record_attempt(
            SYS,
            &a,
            "kvitterMottak",
            &Outcome::Failed {
                error: "503".into(),
            },
        )
        .unwrap();
    assert_eq!(
        counters,
        Counters {
            attempts: 1,
            content_failures: 0
        }
    );
    let row = j
        .transition(
            SYS,
            &a,
            Change::RetryWait {
                next_attempt_at: datetime!(2026-11-21 08:10 UTC),
                error: "503 from SvarInn".into(),
            },
        )
        .unwrap();
    assert_eq!(row.resume_state, Some(State::Imported));
    assert_eq!(row.last_error.as_deref(), Some("503 from SvarInn"));
    assert_eq!(
        j.next_wake(Some(SYS)).unwrap(),
        Some(datetime!(2026-11-21 08:10 UTC))
    );

    // Not yet due: no work, no wake.
    c.advance(Duration::from_secs(5 * 60));
    assert!(j.due_work(SYS, AckMode::OnImport).unwrap().is_empty());
    // A resume to another state than the one it left is refused.
    let err = j.transition(SYS, &a, Change::Relisted).unwrap_err();
    assert!(
        matches!(err, JournalError::IllegalTransition { .. }),
        "{err}"
    );

    c.advance(Duration::from_secs(5 * 60));
    let work = j.due_work(SYS, AckMode::OnImport).unwrap();
    assert_eq!(work.len(), 1);
    assert_eq!(work[0].1, Work::Ack);
    assert_eq!(work[0].0.state, State::Imported);
    assert_eq!(work[0].0.resume_state, None);
    assert_eq!(
        work[0].0.attempts, 1,
        "the backoff exponent survives the wait"
    );
    assert_eq!(j.next_wake(Some(SYS)).unwrap(), None);
    let row = j.transition(SYS, &a, Change::Acked).unwrap();
    assert_eq!(row.attempts, 0);
}

#[test]
fn due_work_lists_what_the_pipeline_must_do() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let mut j = open(dir.path(), c.clone());
    for (n, s) in ["l", "d", "v", "i", "k", "f", "p", "r"].iter().enumerate() {
        j.record_listed(SYS, &new(s)).unwrap();
        c.advance(Duration::from_secs(n as u64 + 1));
    }
    let delivered = || Change::Delivered {
        folder_name: "x".into(),
        digisos_id: None,
    };
    j.transition(SYS, &id("d"), Change::Downloaded).unwrap();
    for s in ["v", "i", "k", "r"] {
        j.transition(SYS, &id(s), Change::Downloaded).unwrap();
        j.transition(SYS, &id(s), delivered()).unwrap();
    }
    j.transition(SYS, &id("i"), Change::Imported).unwrap();
    j.transition(SYS, &id("k"), Change::Acked).unwrap();
    j.transition(
        SYS,
        &id("r"),
        Change::Rejected {
            reason: Some("feil format".into()),
        },
    )
    .unwrap();
    j.transition(
        SYS,
        &id("f"),
        Change::Failed {
            error: "bad key".into(),
        },
    )
    .unwrap();
    j.transition(
        SYS,
        &id("p"),
        Change::Permanent {
            reason: "manual".into(),
        },
    )
    .unwrap();
    let work = |j: &mut Journal, ack| -> Vec<(String, Work)> {
        j.due_work(SYS, ack)
            .unwrap()
            .into_iter()
            .map(|(r, w)| (r.id.to_string(), w))
            .collect()
    };
    let expect = |v: &[(&str, Work)]| -> Vec<(String, Work)> {
        v.iter().map(|(s, w)| (s.to_string(), *w)).collect()
    };
    assert_eq!(
        work(&mut j, AckMode::OnImport),
        expect(&[
            ("l", Work::Download),
            ("d", Work::Publish),
            ("i", Work::Ack),
            ("f", Work::ReportFailure),
            ("p", Work::ReportPermanent),
        ])
    );
    // On import, delivered rows wait for the fagsystem: listed apart, lightly.
    let awaiting: Vec<(String, String)> = j
        .awaiting_import(SYS)
        .unwrap()
        .into_iter()
        .map(|(i, f)| (i.to_string(), f))
        .collect();
    assert_eq!(awaiting, vec![("v".to_string(), "x".to_string())]);
    assert_eq!(
        work(&mut j, AckMode::OnDelivery)[2],
        ("v".to_string(), Work::Ack)
    );
    j.mark_feil_reported(SYS, &id("f")).unwrap();
    j.mark_feil_reported(SYS, &id("p")).unwrap();
    assert_eq!(work(&mut j, AckMode::OnImport).len(), 3);
    assert!(j.mark_feil_reported(SYS, &id("l")).is_err());

    // Counts per state, and the oldest unacknowledged.
    let counts = j.counts().unwrap();
    let count = |s: State| {
        counts
            .iter()
            .find(|c| c.mottakersystem == SYS && c.state == s)
            .map_or(0, |c| c.count)
    };
    assert_eq!(count(State::Listed), 1);
    assert_eq!(count(State::Acked), 1);
    assert_eq!(count(State::Rejected), 1);
    assert_eq!(count(State::RetryWait), 0);
    let oldest = j.oldest_unacknowledged(SYS).unwrap().unwrap();
    assert_eq!(oldest.id.as_str(), "l");
    assert_eq!(j.oldest_unacknowledged("other").unwrap(), None);
    let rejected = j.list(SYS, State::Rejected, 10).unwrap();
    assert_eq!(rejected[0].reason.as_deref(), Some("feil format"));
}

#[test]
fn content_failures_count_until_a_person_retries() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open(dir.path(), clock());
    let a = id("a1");
    j.record_listed(SYS, &new("a1")).unwrap();
    for n in 1..=3 {
        let c = j
            .record_attempt(
                SYS,
                &a,
                "download",
                &Outcome::ContentFailed {
                    error: "sha256 mismatch".into(),
                },
            )
            .unwrap();
        assert_eq!(c.content_failures, n);
    }
    j.transition(
        SYS,
        &a,
        Change::Failed {
            error: "sha256 mismatch".into(),
        },
    )
    .unwrap();
    j.mark_feil_reported(SYS, &a).unwrap();
    let row = j.transition(SYS, &a, Change::Relisted).unwrap();
    assert_eq!((row.attempts, row.content_failures), (0, 0));
    assert_eq!(row.feil_reported_at, None);
    assert_eq!(row.last_error.as_deref(), Some("sha256 mismatch"));
}

/// A committed transition is on disk before `transition` returns: a child
/// process commits and then aborts without closing the journal (no
/// checkpoint, no destructor); the parent opens the journal and finds it.
#[test]
fn a_committed_transition_survives_a_crash() {
    const CHILD: &str = "MOTTAK_JOURNAL_CRASH_CHILD";
    if let Some(dir) = std::env::var_os(CHILD) {
        let mut j = Journal::open(&Path::new(&dir).join(FILE_NAME), clock()).unwrap();
        j.record_listed(SYS, &new("crash")).unwrap();
        j.transition(SYS, &id("crash"), Change::Downloaded).unwrap();
        j.transition(
            SYS,
            &id("crash"),
            Change::Delivered {
                folder_name: "crash".into(),
                digisos_id: None,
            },
        )
        .unwrap();
        std::process::abort();
    }
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "journal::tests::a_committed_transition_survives_a_crash",
            "--test-threads=1",
        ])
        .env(CHILD, dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "the child should have aborted");
    let wal = dir.path().join(format!("{FILE_NAME}-wal"));
    assert!(
        std::fs::metadata(&wal)
            .map(|m| m.len() > 0)
            .unwrap_or(false),
        "the commits should still sit in the WAL, not checkpointed"
    );
    let j = open(dir.path(), clock());
    let row = j.get(SYS, &id("crash")).unwrap().unwrap();
    assert_eq!(row.state, State::Delivered);
    assert_eq!(row.folder_name.as_deref(), Some("crash"));
}

#[test]
fn readers_read_while_a_writer_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE_NAME);
    let mut writer = Journal::open(&path, clock()).unwrap();
    writer.record_listed(SYS, &new("seed")).unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let path = path.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let r = Journal::open_read_only(&path, clock()).unwrap();
                let mut reads = 0u32;
                let mut last = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) || reads == 0 {
                    let total: u64 = r.counts().unwrap().iter().map(|c| c.count).sum();
                    assert!(total >= last, "a reader saw rows disappear");
                    last = total;
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    for n in 0..200 {
        let f = new(&format!("w{n}"));
        writer.record_listed(SYS, &f).unwrap();
        writer.transition(SYS, &f.id, Change::Downloaded).unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
    assert_eq!(
        writer.list(SYS, State::Downloaded, 1000).unwrap().len(),
        200
    );
}

#[test]
fn from_svarinn_takes_what_the_console_shows() {
    let json = r#"{"id":"0b3f5c2e-9b7e-4c1a-8d2f-0123456789ab","tittel":"Vedtak",
        "date":1700000000000,"avsender":{"navn":"Frogn kommune"},
        "mottaker":{"navn":"NAV Frogn"},"status":"Klar for mottak","niva":"4",
        "forsendelseType":"nav.digisos",
        "filmetadata":[{"filnavn":"a.pdf","mimetype":"application/pdf","sha256hash":"00","size":10},
                       {"filnavn":"b.pdf","mimetype":"application/pdf","sha256hash":"00","size":0}],
        "downloadUrl":"https://svarut.ks.no/x"}"#;
    let f = Forsendelse::from_json(json.as_bytes()).unwrap();
    let n = NewForsendelse::from_svarinn(&f, json).unwrap();
    assert_eq!(n.id.as_str(), "0b3f5c2e-9b7e-4c1a-8d2f-0123456789ab");
    assert_eq!(n.avsender_navn.as_deref(), Some("Frogn kommune"));
    assert_eq!(n.forsendelse_type.as_deref(), Some("nav.digisos"));
    assert_eq!(n.size, Some(10));
    assert_eq!(n.sendt_at.map(|t| t.unix_timestamp()), Some(1_700_000_000));
    assert_eq!(n.raw_json, json);
    let mut bad = f.clone();
    bad.id = "../x".into();
    assert!(NewForsendelse::from_svarinn(&bad, json).is_err());
}

/// Not a test: the numbers behind `synchronous=FULL` in the module doc.
/// `cargo test -p mottak-agent --lib --release -- --ignored --nocapture measure_`
#[test]
#[ignore = "measurement"]
fn measure_transition_cost() {
    for mode in ["FULL", "NORMAL"] {
        let dir = tempfile::tempdir().unwrap();
        let mut j = open(dir.path(), clock());
        j.conn
            .execute_batch(&format!("PRAGMA synchronous={mode}"))
            .unwrap();
        let n = 500;
        for i in 0..n {
            j.record_listed(SYS, &new(&format!("m{i}"))).unwrap();
        }
        let start = std::time::Instant::now();
        for i in 0..n {
            j.transition(SYS, &id(&format!("m{i}")), Change::Downloaded)
                .unwrap();
        }
        let per = start.elapsed() / n;
        println!("synchronous={mode}: {per:?} per transition ({n} transitions)");
    }
}

// --- Group commit (SharedJournal::write) -----------------------------------

fn shared(dir: &Path) -> SharedJournal {
    SharedJournal::new(open(dir, clock()))
}

/// Many tasks writing at once share commits, and every write whose `write`
/// returned is in the journal as another connection (a restart) reads it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_commits_and_are_durable_when_they_return() {
    let dir = tempfile::tempdir().unwrap();
    let journal = shared(dir.path());
    let page: Vec<NewForsendelse> = (0..100).map(|n| new(&format!("g{n:03}"))).collect();
    let decisions = journal
        .write(move |j| j.record_listed_page(SYS, &page))
        .await
        .unwrap();
    assert_eq!(decisions.len(), 100);
    assert!(decisions.iter().all(|d| *d == ListedDecision::New));
    let path = dir.path().join(FILE_NAME);
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..100 {
        let journal = journal.clone();
        let path = path.clone();
        tasks.spawn(async move {
            let i = id(&format!("g{n:03}"));
            let row = journal
                .write(move |j| {
                    j.record_attempt(SYS, &i, "download", &Outcome::Ok)?;
                    j.transition(SYS, &i, Change::Downloaded)
                })
                .await
                .unwrap();
            // Durable on return: a connection of its own sees it.
            let other = Journal::open_read_only(&path, clock()).unwrap();
            let seen = other.get(SYS, &row.id).unwrap().unwrap();
            assert_eq!(seen.state, State::Downloaded);
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let stats = journal.stats();
    assert_eq!(stats.jobs, 101);
    assert!(
        stats.commits < stats.jobs,
        "100 concurrent writers share commits: {stats:?}"
    );
    let fresh = open(dir.path(), clock());
    let rows = fresh.list(SYS, State::Downloaded, 1000).unwrap();
    assert_eq!(rows.len(), 100);
    for row in rows {
        let history = fresh.history(SYS, &row.id).unwrap();
        let actions: Vec<&str> = history.iter().map(|a| a.action.as_str()).collect();
        assert_eq!(actions, ["listed", "download", "transition"], "{}", row.id);
    }
}

/// A job that fails inside a group is undone alone (all of it, even what it
/// wrote before failing); the others of its group are kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_job_is_rolled_back_alone() {
    let dir = tempfile::tempdir().unwrap();
    let journal = shared(dir.path());
    let page = vec![new("ok1"), new("bad1"), new("ok2")];
    journal
        .write(move |j| j.record_listed_page(SYS, &page))
        .await
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for name in ["ok1", "bad1", "ok2"] {
        let journal = journal.clone();
        tasks.spawn(async move {
            let i = id(name);
            let result = journal
                .write(move |j| {
                    j.record_attempt(SYS, &i, "download", &Outcome::Ok)?;
                    if name.starts_with("bad") {
                        // Illegal: listed -> acked. Nothing of this job stays.
                        j.transition(SYS, &i, Change::Acked)
                    } else {
                        j.transition(SYS, &i, Change::Downloaded)
                    }
                })
                .await;
            (name, result.is_ok())
        });
    }
    while let Some(done) = tasks.join_next().await {
        let (name, ok) = done.unwrap();
        assert_eq!(ok, !name.starts_with("bad"), "{name}");
    }
    let fresh = open(dir.path(), clock());
    for (name, state, attempts) in [
        ("ok1", State::Downloaded, 2),
        ("ok2", State::Downloaded, 2),
        ("bad1", State::Listed, 0),
    ] {
        let row = fresh.get(SYS, &id(name)).unwrap().unwrap();
        assert_eq!(row.state, state, "{name}");
        let history = fresh.history(SYS, &id(name)).unwrap();
        assert_eq!(history.len(), 1 + attempts, "{name}: {history:?}");
    }
}

/// Reads go to a connection of their own and see what writes committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_see_committed_writes() {
    let dir = tempfile::tempdir().unwrap();
    let journal = shared(dir.path());
    journal
        .write(|j| j.record_listed(SYS, &new("r1")))
        .await
        .unwrap();
    let row = journal
        .read(|j| j.get(SYS, &id("r1")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.state, State::Listed);
    // `call` still works beside the writer (its own transactions).
    journal
        .call(|j| j.transition(SYS, &id("r1"), Change::Downloaded))
        .await
        .unwrap();
    let row = journal
        .read(|j| j.get(SYS, &id("r1")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.state, State::Downloaded);
}

#[test]
fn a_page_is_recorded_in_one_transaction_with_its_decisions() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open(dir.path(), clock());
    j.record_listed(SYS, &new("p1")).unwrap();
    j.transition(SYS, &id("p1"), Change::Downloaded).unwrap();
    let decisions = j
        .record_listed_page(SYS, &[new("p1"), new("p2"), new("p2")])
        .unwrap();
    assert_eq!(
        decisions,
        [
            ListedDecision::Known(State::Downloaded),
            ListedDecision::New,
            ListedDecision::Known(State::Listed)
        ]
    );
    assert_eq!(j.list(SYS, State::Listed, 10).unwrap().len(), 1);
}

#[test]
fn rejected_folders_lists_only_rejected_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open(dir.path(), clock());
    for s in ["x1", "x2"] {
        j.record_listed(SYS, &new(s)).unwrap();
        j.transition(SYS, &id(s), Change::Downloaded).unwrap();
        j.transition(
            SYS,
            &id(s),
            Change::Delivered {
                folder_name: format!("{s}-folder"),
                digisos_id: None,
            },
        )
        .unwrap();
    }
    j.transition(SYS, &id("x1"), Change::Rejected { reason: None })
        .unwrap();
    assert_eq!(
        j.rejected_folders(SYS).unwrap(),
        [(id("x1"), "x1-folder".to_owned())]
    );
}
