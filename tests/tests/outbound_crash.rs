//! Outbound crash safety, end to end: the agent is SIGKILLed at random
//! moments (at least 30 times) while saksoppdateringer with PDFs of a few
//! MB flow, some uploads losing their answer on purpose. In the end every
//! case holds its newest update, no file was uploaded twice (the fake
//! counts uploads by the plaintext's SHA-256), and every update the
//! fagsystem wrote is in `ut-sendt/` exactly once with a correct
//! `kvittering.json` (a kill between the journal's `sent` and the move is
//! finished at the next start, never sent again).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Result;
use mottak_fixtures::digisos::{Fault, RequestKind, Scope};
use mottak_fixtures::kit::{SeedDefault, crash_seed};
use mottak_tests::outbound_harness::{
    Options, OutboundWorld, case_id, dokumentlager_ids, mottatt, soker, vedtak,
};
use serde_json::Value;

const CASES: u32 = 8;
const UPDATES_PER_CASE: u32 = 4;
const KILLS: u32 = 32;

/// xorshift64*: a seeded, reproducible sequence.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A PDF of about `size` bytes, unique to (case, n).
fn big_pdf(case: u32, n: u32, size: usize) -> Vec<u8> {
    let mut out = format!("%PDF-1.4\n% case {case} vedtak {n}\n").into_bytes();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ (u64::from(case) << 32) ^ u64::from(n);
    while out.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.extend_from_slice(b"\n%%EOF\n");
    out
}

/// Update `k` (1-based) of a case: MOTTATT and `k` vedtak, each with its PDF.
fn update(case: u32, k: u32) -> (Value, Vec<(String, Vec<u8>)>) {
    let mut hendelser = vec![mottatt(0)];
    let mut files = Vec::new();
    for n in 1..=k {
        let name = format!("vedtak-{n}.pdf");
        hendelser.push(vedtak(n * 10, &format!("sak-{n}"), &name));
        let size = 600_000 + 400_000 * (n as usize % 3);
        files.push((name, big_pdf(case, n, size)));
    }
    (soker(hendelser), files)
}

#[test]
fn sigkill_during_uploads_and_updates_loses_nothing_and_uploads_nothing_twice() -> Result<()> {
    let seed = crash_seed(SeedDefault::Fixed(0xC0FF_EE12_3456_789A));
    let mut rng = Rng(seed | 1);
    let w = OutboundWorld::start(Options {
        cases: (1..=CASES).map(case_id).collect(),
        ..Options::default()
    })?;
    // Some uploads and updates reach Fiks but lose their answer.
    w.fiks
        .inject(Fault::CutAfterCommit, Scope::next(RequestKind::Upload, 3));
    w.fiks
        .inject(Fault::CutAfterCommit, Scope::next(RequestKind::Update, 2));

    // next[c] = the next update number to write for case c.
    let mut next: BTreeMap<u32, u32> = (1..=CASES).map(|c| (c, 1)).collect();
    let mut kills = 0;
    let started = Instant::now();
    while kills < KILLS {
        // The fagsystem writes the next update of cases whose folder is free.
        for c in 1..=CASES {
            let k = next[&c];
            if k > UPDATES_PER_CASE || rng.below(3) == 0 {
                continue;
            }
            let id = case_id(c);
            if w.ut()?.join(&id).exists() {
                continue;
            }
            let (doc, files) = update(c, k);
            let files: Vec<(&str, &[u8])> = files
                .iter()
                .map(|(n, b)| (n.as_str(), b.as_slice()))
                .collect();
            w.write_update(&id, &doc, &files, Duration::from_secs(5))?;
            next.insert(c, k + 1);
        }
        let mut agent = w.spawn_agent()?;
        let wait = 150 + rng.below(900);
        std::thread::sleep(Duration::from_millis(wait));
        agent.assert_running()?;
        agent.kill()?;
        kills += 1;
    }
    // The rest of the updates, then a last run without kills.
    let mut agent = w.spawn_agent()?;
    for c in 1..=CASES {
        for k in next[&c]..=UPDATES_PER_CASE {
            let (doc, files) = update(c, k);
            let files: Vec<(&str, &[u8])> = files
                .iter()
                .map(|(n, b)| (n.as_str(), b.as_slice()))
                .collect();
            w.write_update(&case_id(c), &doc, &files, Duration::from_secs(60))?;
        }
    }
    for c in 1..=CASES {
        let (doc, files) = update(c, UPDATES_PER_CASE);
        let got = w.wait_latest(&mut agent, &case_id(c), &doc, Duration::from_secs(120))?;
        // Every reference points at the right bytes.
        let stored = w.fiks.files(&case_id(c));
        for (id, (name, bytes)) in dokumentlager_ids(&got).iter().zip(&files) {
            let f = stored
                .iter()
                .find(|f| &f.dokumentlager_dokument_id == id)
                .ok_or_else(|| anyhow::anyhow!("case {c}: {id} is not on the case"))?;
            assert_eq!(f.plaintext.as_slice(), bytes.as_slice(), "case {c} {name}");
        }
        assert_eq!(
            stored.len(),
            files.len(),
            "case {c}: one stored file per distinct PDF"
        );
    }
    let doubles = w.double_uploads();
    assert!(doubles.is_empty(), "uploaded twice: {doubles:?}");
    // Fiks accepted the last updates; the journal says `sent` right after.
    let unfinished = |rows: &[(String, String, String)]| -> Vec<(String, String, String)> {
        rows.iter()
            .filter(|r| r.2 == "queued" || r.2 == "retry_wait" || r.2 == "failed")
            .cloned()
            .collect()
    };
    let done = mottak_tests::wait_until(
        "every update sent or superseded",
        Duration::from_secs(20),
        || {
            w.journal_outbound()
                .is_ok_and(|rows| unfinished(&rows).is_empty())
        },
    );
    let rows = w.journal_outbound()?;
    assert!(
        done.is_ok(),
        "{:?}\n{}",
        unfinished(&rows),
        agent.output_tail(40)
    );
    assert!(w.feilet_folders()?.is_empty());
    let claims = w.claims()?;
    // The last claims move to ut-sendt/ right after they are sent.
    mottak_tests::wait_until(
        "the last claims to move to ut-sendt/",
        Duration::from_secs(10),
        || w.claims().is_ok_and(|c| c.is_empty()),
    )
    .map_err(|e| anyhow::anyhow!("{e}: {claims:?}\n{}", agent.output_tail(40)))?;

    // Every update the fagsystem wrote is in ut-sendt/ exactly once, with a
    // kvittering that matches the journal, its folder and what Fiks holds.
    let written = CASES * UPDATES_PER_CASE;
    let rows = w.journal_outbound_rows()?;
    assert_eq!(
        rows.len(),
        written as usize,
        "one journal row per update written"
    );
    let sendt = w.sendt()?;
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in &sendt {
        w.check_sendt(s, &rows)?;
        seen.entry(s.update_id().to_owned())
            .or_default()
            .push(s.name.clone());
    }
    let twice: Vec<_> = seen.iter().filter(|(_, v)| v.len() > 1).collect();
    assert!(twice.is_empty(), "in ut-sendt/ more than once: {twice:?}");
    let missing: Vec<_> = rows.keys().filter(|id| !seen.contains_key(*id)).collect();
    assert!(missing.is_empty(), "not in ut-sendt/: {missing:?}");
    assert_eq!(sendt.len(), rows.len());
    // The newest update of each case is the one sent last.
    for c in 1..=CASES {
        let newest = rows
            .values()
            .filter(|r| r.digisos_id == case_id(c))
            .max_by_key(|r| r.claim_seq)
            .map(|r| r.update_id.clone())
            .unwrap_or_default();
        let s = sendt.iter().find(|s| s.update_id() == newest);
        assert_eq!(s.map(|s| s.status()), Some("sendt"), "case {c}");
    }
    let by_status = |st: &str| sendt.iter().filter(|s| s.status() == st).count();
    let repairs = w
        .world
        .all_logs()
        .unwrap_or_default()
        .matches("finishing an update journaled as done whose folder had not reached ut-sendt/")
        .count();
    let uploads = w
        .fiks
        .events()
        .iter()
        .filter(|e| e.kind == RequestKind::Upload)
        .count();
    eprintln!(
        "{kills} kills in {:?}; {} journal rows; {uploads} upload requests; {} files stored; ut-sendt/: {} sendt, {} erstattet; {repairs} log lines of a claim finished after a restart",
        started.elapsed(),
        rows.len(),
        w.fiks.upload_count_by_sha256().len(),
        by_status("sendt"),
        by_status("erstattet"),
    );
    agent.terminate(Duration::from_secs(30))?;
    Ok(())
}
