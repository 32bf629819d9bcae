//! A Digisos innsending is never delivered twice across channels: a `nav.digisos` forsendelse
//! whose `{digisosId, eksternRef}` Fiks IO already delivered (its claim in the agent's journal,
//! written as the Fiks IO pipeline writes it) is acknowledged at SvarInn and never published,
//! with the link journaled and shown; one with another eksternRef is delivered as always, and
//! its claim then stops a later Fiks IO copy. Over SvarInn V1 and V2, and across SIGKILLs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mottak_agent::journal::{Channel, Claim, InnsendingKey, Journal, SystemClock};
use mottak_fixtures::kit::{SeedDefault, crash_seed, wait_until};
use mottak_fixtures::prng::SplitMix64;
use mottak_fixtures::svarinn::{
    EventKind, ForsendelseState, GenerateSpec, Generated, GeneratedKind, SvarInnApi,
};
use mottak_tests::console_client::{ConsoleSession, grant_operator};
use mottak_tests::harness::{Ack, Installed, System, World, entries, kvitteringer_of, walk};

const LIMIT: Duration = Duration::from_secs(120);

fn key(g: &Generated) -> InnsendingKey {
    InnsendingKey {
        digisos_id: g.digisos_id.clone().unwrap(),
        ekstern_ref: g.ekstern_ref.clone().unwrap(),
    }
}

fn melding_id(n: usize) -> String {
    format!("6f1c2d3e-0000-4000-8000-{n:012}")
}

/// `n` nav.digisos forsendelser with `forsendelseMetadata.json`, and the first `fiks_io` of them
/// already delivered over Fiks IO: claimed in the journal before the agent starts.
fn seed(world: &World, sys: &Installed, n: usize, fiks_io: usize) -> Vec<Generated> {
    let made = world
        .block_on(
            world.fake.generate_with(
                GenerateSpec::new(n, 3000, GeneratedKind::Digisos)
                    .for_mottakersystem(&sys.spec.username),
            ),
        )
        .unwrap();
    let mut j = Journal::open(&world.journal_path(), Arc::new(SystemClock)).unwrap();
    for (i, g) in made.iter().take(fiks_io).enumerate() {
        let claim = j
            .claim_innsending(&sys.spec.name, &key(g), Channel::FiksIo, &melding_id(i))
            .unwrap();
        assert_eq!(claim, Claim::Ours);
    }
    made
}

/// Every kvittering of a duplicate comes while nothing of it is in `inn/` or its staging.
fn never_published_at_kvittering(
    world: &World,
    sys: &Installed,
    dups: &[String],
) -> Arc<Mutex<Vec<String>>> {
    let problems: Arc<Mutex<Vec<String>>> = Arc::default();
    let (p, sys, dups) = (problems.clone(), sys.clone(), dups.to_vec());
    world.fake.on_kvittering(move |call| {
        if dups.contains(&call.forsendelse) && sys.inn_of(&call.forsendelse).exists() {
            p.lock()
                .unwrap()
                .push(format!("{} acknowledged from inn/", call.forsendelse));
        }
    });
    problems
}

#[test]
fn a_svarinn_copy_of_a_fiks_io_delivery_is_acknowledged_not_delivered() {
    a_svarinn_copy_of_a_fiks_io_delivery_is_acknowledged_not_delivered_over(SvarInnApi::V1);
}

#[test]
fn a_svarinn_copy_of_a_fiks_io_delivery_is_acknowledged_not_delivered_over_v2() {
    a_svarinn_copy_of_a_fiks_io_delivery_is_acknowledged_not_delivered_over(SvarInnApi::V2);
}

/// on-import mode: the duplicate is acknowledged at once (no folder waits for the fagsystem),
/// the other forsendelse waits in `inn/` for its import.
fn a_svarinn_copy_of_a_fiks_io_delivery_is_acknowledged_not_delivered_over(api: SvarInnApi) {
    let world = World::single_over(api, System::new("nav-a").ack(Ack::OnImport)).unwrap();
    let sys = world.first().unwrap().clone();
    let made = seed(&world, &sys, 2, 1);
    let (dup, fresh) = (made[0].id.clone(), made[1].id.clone());
    let problems = never_published_at_kvittering(&world, &sys, std::slice::from_ref(&dup));
    grant_operator(&world.config_path).unwrap();

    let mut agent = world.spawn_agent().unwrap();
    world
        .wait_published(&mut agent, &sys, std::slice::from_ref(&fresh), LIMIT)
        .unwrap();
    world
        .wait_acked(&mut agent, std::slice::from_ref(&dup), LIMIT)
        .unwrap();
    world
        .wait_state(&mut agent, std::slice::from_ref(&dup), "acked", LIMIT)
        .unwrap();

    // Acknowledged once at SvarInn, over the configured API; never in inn/, no staging left.
    let events = world.fake.events();
    let first: Vec<_> = kvitteringer_of(&events, &dup)
        .into_iter()
        .filter(|e| matches!(e.kind, EventKind::Kvittering { first: true }))
        .collect();
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(world.fake.state_of(&dup), Some(ForsendelseState::Acked));
    assert!(world.fake.other_api_requests().is_empty());
    assert_eq!(entries(&sys.inn()), vec![fresh.clone()]);
    let staged = walk(&sys.staging()).unwrap();
    assert!(staged.is_empty(), "staging left: {staged:?}");
    assert!(problems.lock().unwrap().is_empty(), "{problems:?}");
    // The other one waits for its import, as on-import says.
    assert_eq!(world.state_of(&fresh).as_deref(), Some("delivered"));
    assert!(kvitteringer_of(&events, &fresh).is_empty());

    // Journaled: done, with the reason naming the Fiks IO melding, and the link.
    let row = world.journal_row(&dup).unwrap().unwrap();
    let reason = row.reason.unwrap_or_default();
    assert!(
        reason.contains(&format!("Fiks IO melding {}", melding_id(0))),
        "{reason}"
    );
    let j = Journal::open_read_only(&world.journal_path(), Arc::new(SystemClock)).unwrap();
    let link = j
        .duplicate_of(&sys.spec.name, Channel::SvarInn, &dup)
        .unwrap()
        .unwrap();
    assert_eq!(link.key, key(&made[0]));
    assert_eq!(
        (link.delivered_by.channel, link.delivered_by.id.as_str()),
        (Channel::FiksIo, melding_id(0).as_str())
    );
    // The delivered one holds its claim: a Fiks IO copy of it coming later is the duplicate.
    let holder = j
        .innsending_claim(&sys.spec.name, &key(&made[1]))
        .unwrap()
        .unwrap();
    assert_eq!(
        (holder.channel, holder.id.as_str()),
        (Channel::SvarInn, fresh.as_str())
    );
    drop(j);
    let mut j = Journal::open(&world.journal_path(), Arc::new(SystemClock)).unwrap();
    assert!(matches!(
        j.claim_innsending(&sys.spec.name, &key(&made[1]), Channel::FiksIo, &melding_id(1)).unwrap(),
        Claim::DeliveredBy(h) if h.channel == Channel::SvarInn && h.id == fresh
    ));
    drop(j);

    // Shown on consoles (and so in `mottak status --json`, which prints the queues): the
    // count and the link, the state builder rereading the journal within its 10 s.
    let socket = world.console_socket.clone();
    let name = sys.spec.name.clone();
    let shown = world.block_on(async move {
        let start = std::time::Instant::now();
        loop {
            if let Ok(mut s) = ConsoleSession::connect(&socket).await
                && let Ok(state) = s.snapshot().await
                && let Some(q) = state.queues.into_iter().find(|q| q.mottakersystem == name)
                && q.duplicates.total > 0
            {
                return Some(q.duplicates);
            }
            if start.elapsed() > LIMIT {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let shown = shown.expect("the console state never showed the duplicate");
    assert_eq!(shown.total, 1);
    let link = &shown.latest[0];
    assert_eq!(
        (link.channel.as_str(), link.id.raw()),
        ("svarinn", dup.as_str())
    );
    assert_eq!(
        (link.delivered_by.as_str(), link.delivered_as.raw()),
        ("fiks-io", melding_id(0).as_str())
    );
    assert_eq!(link.digisos_id.raw(), key(&made[0]).digisos_id);

    // A restart changes nothing: the duplicate stays done, inn/ holds only the other.
    agent.assert_running().unwrap();
    agent.terminate(Duration::from_secs(30)).unwrap();
    let mut agent = world.spawn_agent().unwrap();
    world
        .wait_polls(&mut agent, &sys.spec.username, 2, LIMIT)
        .unwrap();
    assert_eq!(entries(&sys.inn()), vec![fresh]);
    assert_eq!(world.state_of(&dup).as_deref(), Some("acked"));
    agent.assert_running().unwrap();
}

#[test]
fn sigkills_while_duplicates_flow_never_deliver_one() {
    sigkills_while_duplicates_flow_never_deliver_one_over(SvarInnApi::V1);
}

#[test]
fn sigkills_while_duplicates_flow_never_deliver_one_over_v2() {
    sigkills_while_duplicates_flow_never_deliver_one_over(SvarInnApi::V2);
}

/// Killed at random moments while 16 nav.digisos forsendelser flow, 8 of them already
/// delivered over Fiks IO: after the last restart every duplicate is acknowledged at SvarInn
/// and was never in `inn/`, and every other one is in `inn/` once and acknowledged.
fn sigkills_while_duplicates_flow_never_deliver_one_over(api: SvarInnApi) {
    const N: usize = 16;
    const KILLS: usize = 8;
    let mut rng = SplitMix64::new(crash_seed(SeedDefault::Fixed(0xD0_0B1E)));
    let world = World::single_over(api, System::new("nav-k").ack(Ack::OnDelivery)).unwrap();
    let sys = world.first().unwrap().clone();
    let made = seed(&world, &sys, N, N / 2);
    let dups: Vec<String> = made[..N / 2].iter().map(|g| g.id.clone()).collect();
    let fresh: Vec<String> = made[N / 2..].iter().map(|g| g.id.clone()).collect();
    let problems = never_published_at_kvittering(&world, &sys, &dups);

    for _ in 0..KILLS {
        let mut agent = world.spawn_agent().unwrap();
        let before = world.fake.events().len();
        let progress = usize::try_from(rng.below(12)).unwrap();
        let _ = wait_until("progress", Duration::from_secs(30), || {
            world.fake.events().len() >= before + progress || agent.try_status().is_some()
        });
        std::thread::sleep(Duration::from_micros(rng.below(20_000)));
        assert!(agent.try_status().is_none(), "{}", agent.output_tail(60));
        agent.kill().unwrap();
        // Never a duplicate in inn/, at any moment between runs.
        for d in &dups {
            assert!(!sys.inn_of(d).exists(), "{d} was published");
        }
    }
    assert!(
        world.fake.acked_ids().len() < N,
        "the kills should land while forsendelser flow; all were done before the last one"
    );
    let mut agent = world.spawn_agent().unwrap();
    let all: Vec<String> = made.iter().map(|g| g.id.clone()).collect();
    world.wait_acked(&mut agent, &all, LIMIT).unwrap();
    world.wait_state(&mut agent, &all, "acked", LIMIT).unwrap();
    let mut want = fresh.clone();
    want.sort();
    assert_eq!(entries(&sys.inn()), want);
    assert!(problems.lock().unwrap().is_empty(), "{problems:?}");
    let j = Journal::open_read_only(&world.journal_path(), Arc::new(SystemClock)).unwrap();
    let links = j.duplicates(&sys.spec.name, 100).unwrap();
    let mut linked: Vec<String> = links.iter().map(|d| d.id.clone()).collect();
    linked.sort();
    let mut dups_sorted = dups.clone();
    dups_sorted.sort();
    assert_eq!(linked, dups_sorted);
    for d in &links {
        assert_eq!(d.delivered_by.channel, Channel::FiksIo);
    }
    agent.assert_running().unwrap();
}
