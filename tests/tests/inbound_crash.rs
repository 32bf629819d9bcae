//! Crash safety of the inbound pipeline: the real agent is SIGKILLed at random
//! moments while 500 forsendelser flow, and restarted each time.
//!
//! Invariants covered: "A crash at any point loses nothing and publishes
//! nothing twice" and "A forsendelse is never acknowledged before it is
//! durably published" (checked inside the fake at each kvittering).
//!
//! The moments are drawn from a seeded RNG; the seed is printed, and
//! `MOTTAK_CRASH_SEED=<seed>` replays a run (as far as timing allows). Most
//! kills come after a random number of requests to SvarInn plus a few
//! milliseconds; about one in four comes from inside the fake, at the moment
//! it accepts a kvittering, before it answers (the agent never learns that
//! the acknowledgement went through). The same loop runs against SvarInn V1 and V2
//! (fewer kills: the same code, another wire).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mottak_fixtures::kit::{SeedDefault, crash_seed};
use mottak_fixtures::prng::SplitMix64;
use mottak_fixtures::svarinn::{ForsendelseState, SvarInnApi};
use mottak_tests::harness::{Ack, System, World, check_published, entries, kvittering_check, walk};
use mottak_tests::wait_until;

const FORSENDELSER: usize = 500;

#[test]
fn sigkill_at_random_moments_loses_nothing_and_publishes_nothing_twice() {
    crash_loop(SvarInnApi::V1, 50);
}

#[test]
fn sigkill_at_random_moments_loses_nothing_and_publishes_nothing_twice_over_v2() {
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
                .ack(Ack::OnDelivery)
                .poll_interval("200ms"),
        )
        .seed(seed)
        .start()
        .unwrap();
    let sys = world.first().unwrap().clone();
    let ids = world
        .block_on(world.fake.generate(FORSENDELSER, 1500))
        .unwrap();
    // At each kvittering: was the folder published? And, when armed, kill the
    // agent right there.
    let violations: Arc<Mutex<Vec<String>>> = Arc::default();
    let armed = Arc::new(AtomicBool::new(false));
    let pid = Arc::new(AtomicU32::new(0));
    {
        let check = kvittering_check(&world, &sys, true);
        let (violations, armed, pid) = (violations.clone(), armed.clone(), pid.clone());
        world.fake.on_kvittering(move |call| {
            if let Some(p) = check(call) {
                violations.lock().unwrap().push(p);
            }
            if armed.swap(false, Ordering::SeqCst) {
                let pid = pid.load(Ordering::SeqCst).to_string();
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
            }
        });
    }

    let mut log = Vec::new();
    for kill in 0..kills {
        let mut agent = world.spawn_agent().unwrap();
        pid.store(agent.pid(), Ordering::SeqCst);
        let before = world.fake.events().len();
        let at_kvittering = rng.below(4) == 0;
        let progress = usize::try_from(rng.below(25)).unwrap();
        let how = if at_kvittering {
            // Killed by the hook at the next kvittering the fake accepts.
            armed.store(true, Ordering::SeqCst);
            let _ = wait_until("a kill at a kvittering", Duration::from_secs(30), || {
                agent.try_status().is_some()
            });
            armed.store(false, Ordering::SeqCst);
            "at a kvittering".to_owned()
        } else {
            // Some progress (0 to 24 more requests to SvarInn, about three
            // per forsendelse: mid-flow however fast the agent drains), then
            // a few milliseconds more.
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
            format!("after {progress}+ requests")
        };
        agent.kill().unwrap();
        let published = entries(&sys.inn()).len();
        let acked = world.fake.acked_ids().len();
        log.push(format!(
            "kill {kill} {how}: {} requests in this run; {published} published, {acked} acked",
            world.fake.events().len() - before
        ));
    }
    println!("{}", log.join("\n"));
    let acked_during_kills = world.fake.acked_ids().len();
    assert!(
        acked_during_kills < FORSENDELSER,
        "the kills should happen while forsendelser flow; all were done before the last one"
    );

    // The last restart: let it finish.
    let mut agent = world.spawn_agent().unwrap();
    world
        .wait_published(&mut agent, &sys, &ids, Duration::from_secs(240))
        .unwrap();
    world
        .wait_acked(&mut agent, &ids, Duration::from_secs(120))
        .unwrap();
    world
        .wait_state(&mut agent, &ids, "acked", Duration::from_secs(60))
        .unwrap();

    // Exactly once each, nothing else in inn/, right bytes.
    let mut want = ids.clone();
    want.sort();
    assert_eq!(
        entries(&sys.inn()),
        want,
        "inn/ holds each forsendelse once"
    );
    let mut wrong = Vec::new();
    for id in &ids {
        let declared: Vec<String> = world
            .fake
            .forsendelse(id)
            .unwrap()
            .filmetadata
            .into_iter()
            .map(|f| f.sha256hash)
            .collect();
        if let Err(e) = check_published(&sys, id, &declared) {
            wrong.push(e);
        }
        assert_eq!(world.fake.state_of(id), Some(ForsendelseState::Acked));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let staged = walk(&sys.staging()).unwrap();
    assert!(staged.is_empty(), "left in .mottak/ staging: {staged:?}");
    assert!(entries(&sys.feilet()).is_empty());
    let v = violations.lock().unwrap();
    assert!(
        v.is_empty(),
        "kvitteringer before the folder was published:\n{}",
        v.join("\n")
    );
    assert!(world.fake.mottak_feilet().is_empty());
    assert!(
        world.fake.other_api_requests().is_empty(),
        "{:?}",
        world.fake.other_api_requests()
    );
    println!(
        "{} kills; {acked_during_kills} acked before the last restart",
        kills
    );
    agent.assert_running().unwrap();
}
