//! Crash safety in `on-import` mode with an eager fagsystem: a thread imports
//! (removes) every folder the moment it appears in `inn/`, while the agent is
//! SIGKILLed at random moments. A folder the fagsystem already took must not be
//! published again after a restart (the fagsystem would import it twice), and
//! no kvittering may come before the fagsystem took the folder.
//!
//! Invariants covered: "A crash at any point loses nothing and publishes
//! nothing twice"; "in `on-import` mode [acknowledged] only after the
//! fagsystem has taken it out of `inn/`". `MOTTAK_CRASH_SEED` replays a run.
//! The same loop runs against SvarInn V1 and V2 (fewer kills: the same code, another wire).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mottak_fixtures::kit::{SeedDefault, crash_seed};
use mottak_fixtures::prng::SplitMix64;
use mottak_fixtures::svarinn::SvarInnApi;
use mottak_tests::harness::{
    Ack, Installed, System, World, check_at_kvittering, entries, read_delivered, sha256_hex, walk,
};
use mottak_tests::wait_until;

const FORSENDELSER: usize = 300;

/// What the fagsystem imported: id → times, and any folder it found wrong.
#[derive(Default)]
struct Imported {
    times: BTreeMap<String, usize>,
    wrong: Vec<String>,
}

fn fagsystem(
    sys: Installed,
    declared: BTreeMap<String, String>,
    stop: Arc<AtomicBool>,
) -> (Arc<Mutex<Imported>>, std::thread::JoinHandle<()>) {
    let imported: Arc<Mutex<Imported>> = Arc::default();
    let out = imported.clone();
    let handle = std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            for id in entries(&sys.inn()) {
                let folder = sys.inn_of(&id);
                let verdict = match read_delivered(&folder) {
                    Ok(d) => {
                        let got: Vec<String> = d.files.values().map(|b| sha256_hex(b)).collect();
                        match declared.get(&id) {
                            Some(want) if got == vec![want.clone()] => None,
                            _ => Some(format!("{id}: files with sha256 {got:?}")),
                        }
                    }
                    Err(e) => Some(format!("{id}: {e:#}")),
                };
                if std::fs::remove_dir_all(&folder).is_ok() {
                    let mut i = out.lock().unwrap();
                    *i.times.entry(id).or_default() += 1;
                    if let Some(v) = verdict {
                        i.wrong.push(v);
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(3));
        }
    });
    (imported, handle)
}

#[test]
fn sigkill_with_an_eager_fagsystem_imports_each_forsendelse_once() {
    crash_loop(SvarInnApi::V1, 30);
}

#[test]
fn sigkill_with_an_eager_fagsystem_imports_each_forsendelse_once_over_v2() {
    crash_loop(SvarInnApi::V2, 15);
}

/// `kills` SIGKILLs while forsendelser flow from SvarInn `api`, then a last run to the end.
fn crash_loop(api: SvarInnApi, kills: usize) {
    let seed = crash_seed(SeedDefault::Clock);
    let mut rng = SplitMix64::new(seed);

    let world = World::builder()
        .api(api)
        .system(
            System::new("ms-a")
                .ack(Ack::OnImport)
                .poll_interval("200ms"),
        )
        .seed(seed)
        .start()
        .unwrap();
    let sys = world.first().unwrap().clone();
    let ids = world
        .block_on(world.fake.generate(FORSENDELSER, 1200))
        .unwrap();
    let declared: BTreeMap<String, String> = ids
        .iter()
        .map(|id| {
            let f = world.fake.forsendelse(id).unwrap();
            (id.clone(), f.filmetadata[0].sha256hash.clone())
        })
        .collect();
    let violations = check_at_kvittering(&world, &sys, false);
    let stop = Arc::new(AtomicBool::new(false));
    let (imported, importer) = fagsystem(sys.clone(), declared, stop.clone());

    for kill in 0..kills {
        let mut agent = world.spawn_agent().unwrap();
        let before = world.fake.events().len();
        // 0 to 20 more requests to SvarInn (about three per forsendelse), so
        // the kills stay within the flow however fast the agent drains.
        let progress = usize::try_from(rng.below(21)).unwrap();
        let _ = wait_until("progress", Duration::from_secs(30), || {
            world.fake.events().len() >= before + progress || agent.try_status().is_some()
        });
        std::thread::sleep(Duration::from_micros(rng.below(30_000)));
        if let Some(status) = agent.try_status() {
            panic!(
                "the agent exited by itself ({status}) in run {kill}\n{}",
                agent.output_tail(60)
            );
        }
        agent.kill().unwrap();
    }
    let acked_during_kills = world.fake.acked_ids().len();
    println!("{kills} kills; {acked_during_kills} acked before the last restart");
    assert!(
        acked_during_kills < FORSENDELSER,
        "the kills came after the flow"
    );

    let mut agent = world.spawn_agent().unwrap();
    world
        .wait_acked(&mut agent, &ids, Duration::from_secs(240))
        .unwrap();
    world
        .wait_state(&mut agent, &ids, "acked", Duration::from_secs(60))
        .unwrap();
    // A few more rounds: nothing is published again.
    world
        .wait_polls(&mut agent, &sys.spec.username, 3, Duration::from_secs(60))
        .unwrap();
    stop.store(true, Ordering::SeqCst);
    importer.join().unwrap();

    let imported = imported.lock().unwrap();
    let twice: Vec<_> = imported.times.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "imported more than once: {twice:?}");
    let missing: Vec<_> = ids
        .iter()
        .filter(|id| !imported.times.contains_key(*id))
        .collect();
    assert!(missing.is_empty(), "never imported: {missing:?}");
    assert!(imported.wrong.is_empty(), "{:#?}", imported.wrong);
    assert!(entries(&sys.inn()).is_empty());
    let staged = walk(&sys.staging()).unwrap();
    assert!(staged.is_empty(), "left in staging: {staged:?}");
    let v = violations.lock().unwrap();
    assert!(v.is_empty(), "kvitteringer too early:\n{}", v.join("\n"));
    assert!(
        world.fake.other_api_requests().is_empty(),
        "{:?}",
        world.fake.other_api_requests()
    );
    agent.assert_running().unwrap();
}
