//! Crash safety of the group-committed publish: the agent is SIGKILLed the
//! moment a new folder appears in `inn/`, which lands between the rename into
//! `inn/` and the (group) commit of `delivered` (the journal still says
//! `downloaded` for a folder already in `inn/`). After the last restart every
//! forsendelse is in `inn/` exactly once with the right bytes, was never
//! published twice, and is acknowledged once, only after its folder was there.
//!
//! The random kills of `inbound_crash` land in this window too, by chance;
//! this test aims at it and fails if it never hit it.
//!
//! Invariants covered: "A crash at any point loses nothing and publishes
//! nothing twice"; "A forsendelse is never acknowledged before it is durably
//! published".
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use mottak_tests::harness::{
    Ack, System, World, check_at_kvittering, entries, kvitteringer_of, read_delivered, sha256_hex,
};

const FORSENDELSER: usize = 60;
const MAX_KILLS: usize = 25;
const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn sigkill_between_the_rename_and_the_delivered_commit() {
    // on-import: nothing is acknowledged before the test imports, so the
    // rows in inn/ stay put and the journal can be compared with inn/.
    let world = World::single(System::new("cp").ack(Ack::OnImport)).unwrap();
    let sys = world.first().unwrap().clone();
    let ids = world
        .block_on(world.fake.generate(FORSENDELSER, 20_000))
        .unwrap();
    let declared: BTreeMap<String, String> = ids
        .iter()
        .map(|id| {
            let meta = world.fake.forsendelse(id).unwrap();
            (id.clone(), meta.filmetadata[0].sha256hash.to_lowercase())
        })
        .collect();
    // on-import: a kvittering only once the folder has left inn/ (not into feilet/).
    let violations = check_at_kvittering(&world, &sys, false);

    let mut hits = 0usize;
    let mut kills = 0usize;
    while kills < MAX_KILLS {
        let before: HashSet<String> = entries(&sys.inn()).into_iter().collect();
        if before.len() == FORSENDELSER {
            break;
        }
        let mut agent = world.spawn_agent().unwrap();
        let deadline = Instant::now() + LIMIT;
        // Kill as soon as a folder appears that was not there before.
        loop {
            let now: Vec<String> = entries(&sys.inn());
            if now.iter().any(|id| !before.contains(id)) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "nothing published within {LIMIT:?}"
            );
            agent.assert_running().unwrap();
            std::thread::sleep(Duration::from_micros(300));
        }
        agent.kill().unwrap();
        kills += 1;
        let rows = world.journal_rows().unwrap();
        let in_inn: HashSet<String> = entries(&sys.inn()).into_iter().collect();
        hits += rows
            .iter()
            .filter(|r| r.state == "downloaded" && in_inn.contains(&r.id))
            .count();
    }
    println!("{kills} kills, {hits} folders caught in inn/ with the journal at downloaded");
    assert!(
        hits > 0,
        "no kill landed between a rename and its delivered commit in {kills} tries"
    );

    // The last run: everything delivered, then imported and acknowledged.
    let mut agent = world.spawn_agent().unwrap();
    world
        .wait_state(&mut agent, &ids, "delivered", LIMIT)
        .unwrap();
    let published = entries(&sys.inn());
    assert_eq!(published.len(), FORSENDELSER, "each exactly once in inn/");
    for id in &ids {
        let d = read_delivered(&sys.inn_of(id)).unwrap();
        assert_eq!(d.json["id"], id.as_str());
        let got: Vec<String> = d.files.values().map(|b| sha256_hex(b)).collect();
        assert_eq!(got, vec![declared[id].clone()], "{id}: the bytes");
    }
    assert!(
        entries(&sys.staging()).is_empty(),
        "staging left: {:?}",
        entries(&sys.staging())
    );
    for id in &ids {
        std::fs::remove_dir_all(sys.inn_of(id)).unwrap();
    }
    world.wait_acked(&mut agent, &ids, LIMIT).unwrap();
    world.wait_state(&mut agent, &ids, "acked", LIMIT).unwrap();
    agent.terminate(LIMIT).unwrap();
    let events = world.fake.events();
    for id in &ids {
        assert_eq!(
            kvitteringer_of(&events, id).len(),
            1,
            "{id}: one kvittering"
        );
    }
    let v = violations.lock().unwrap();
    assert!(
        v.is_empty(),
        "acknowledged before published/imported: {v:?}"
    );
}
