//! The inbound pipeline against SvarInn V2 (`svarinn_api = "v2"`, the fake in V2 mode), end
//! to end: the same steps as V1 over V2's wire. Both ack modes, paging past 200, a checksum
//! mismatch, both address shapes in one list, nav.digisos, and a mottakersystem switched from
//! V1 to V2 in place with forsendelser delivered but not yet acknowledged.
//!
//! "Through V2": a V2 fake answers V1's paths 404 and records them
//! ([`FakeSvarInnHandle::other_api_requests`]), so an accepted kvittering in V2 mode is a
//! `PATCH …/status` MOTTATT and an accepted mottakFeilet a FEILET.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use mottak_fixtures::svarinn::{
    EventKind, FakeSvarInnHandle, Fault, ForsendelseState, GenerateSpec, GeneratedKind,
    RequestKind, Scope, SvarInnApi,
};
use mottak_tests::harness::{
    Ack, Installed, System, World, check_at_kvittering, complete_downloads, download_starts,
    entries, import, kvitteringer_of, mottak_feilet_of, read_delivered,
};

const LIMIT: Duration = Duration::from_secs(90);

fn v2_world(system: System) -> (World, Installed) {
    let world = World::builder()
        .api(SvarInnApi::V2)
        .system(system)
        .start()
        .unwrap();
    let sys = world.first().unwrap().clone();
    (world, sys)
}

/// Accepted kvitteringer of `id`: (first ones, repeats).
fn kvitteringer(fake: &FakeSvarInnHandle, id: &str) -> (usize, usize) {
    let k = kvitteringer_of(&fake.events(), id);
    let first = k
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Kvittering { first: true }))
        .count();
    (first, k.len() - first)
}

/// `inn/<id>/forsendelse.json` is the item exactly as the V2 list served it (the fake
/// serialises each item as serde_json writes the V2 model), in V2's shape, not V1's.
fn assert_v2_json_as_served(world: &World, sys: &Installed, id: &str) -> serde_json::Value {
    let d = read_delivered(&sys.inn_of(id)).unwrap();
    let served = serde_json::to_value(world.fake.forsendelse_v2(id).unwrap()).unwrap();
    let raw = std::fs::read(sys.inn_of(id).join("forsendelse.json")).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&raw),
        serde_json::to_string(&served).unwrap(),
        "{id}: forsendelse.json is not the item as served"
    );
    for field in ["filer", "nedlastingslenke"] {
        assert!(d.json.get(field).is_some(), "{id}: no {field}: {}", d.json);
    }
    for field in ["filmetadata", "downloadUrl"] {
        assert!(
            d.json.get(field).is_none(),
            "{id}: V1's {field}: {}",
            d.json
        );
    }
    d.json
}

/// on-delivery: each forsendelse is published once (downloaded once), its
/// `forsendelse.json` is the V2 item as served, and it is acknowledged once through
/// V2 after its folder was published. The list alternates nested and flat addresses:
/// both are taken. A nav.digisos one gets its digisosId from `forsendelseMetadata.json`.
#[test]
fn on_delivery_publishes_then_acknowledges_once_through_v2() {
    let (world, sys) = v2_world(System::new("ms-v2").ack(Ack::OnDelivery));
    let mut ids = world.block_on(world.fake.generate(4, 3000)).unwrap();
    let digisos = world
        .block_on(
            world.fake.generate_with(
                GenerateSpec::new(1, 8000, GeneratedKind::Digisos)
                    .for_mottakersystem(&sys.spec.username),
            ),
        )
        .unwrap()
        .remove(0);
    ids.push(digisos.id.clone());
    let violations = check_at_kvittering(&world, &sys, true);

    let mut agent = world.spawn_agent().unwrap();
    world.wait_published(&mut agent, &sys, &ids, LIMIT).unwrap();
    world.wait_acked(&mut agent, &ids, LIMIT).unwrap();
    world.wait_state(&mut agent, &ids, "acked", LIMIT).unwrap();

    let events = world.fake.events();
    let (mut nested, mut flat) = (0, 0);
    for id in &ids {
        let json = assert_v2_json_as_served(&world, &sys, id);
        match json["avsender"].get("postadresse") {
            Some(_) => nested += 1,
            None => flat += 1,
        }
        assert_eq!(complete_downloads(&events, id), 1, "{id} downloaded once");
        assert_eq!(kvitteringer(&world.fake, id), (1, 0), "{id}");
        assert!(mottak_feilet_of(&events, id).is_empty(), "{id}");
        assert_eq!(world.fake.state_of(id), Some(ForsendelseState::Acked));
    }
    assert!(
        nested > 0 && flat > 0,
        "both address shapes: {nested} nested, {flat} flat"
    );
    let row = world.journal_row(&digisos.id).unwrap().unwrap();
    assert!(digisos.digisos_id.is_some());
    assert_eq!(row.digisos_id, digisos.digisos_id, "{row:?}");
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(
        entries(&sys.inn()),
        sorted,
        "inn/ holds exactly the forsendelser"
    );
    assert!(
        violations.lock().unwrap().is_empty(),
        "{:?}",
        violations.lock().unwrap()
    );
    assert_eq!(world.fake.other_api_requests(), Vec::<String>::new());
    agent.assert_running().unwrap();
}

/// on-import: no MOTTATT while the folder is in `inn/` (over several more polls), then
/// one right after the fagsystem takes it out; each acknowledged once.
#[test]
fn on_import_acknowledges_only_after_the_folder_leaves_inn() {
    let (world, sys) = v2_world(System::new("ms-v2").ack(Ack::OnImport));
    let user = sys.spec.username.clone();
    let ids = world.block_on(world.fake.generate(2, 5000)).unwrap();
    let violations = check_at_kvittering(&world, &sys, false);

    let mut agent = world.spawn_agent().unwrap();
    world.wait_published(&mut agent, &sys, &ids, LIMIT).unwrap();
    world
        .wait_state(&mut agent, &ids, "delivered", LIMIT)
        .unwrap();
    world.wait_polls(&mut agent, &user, 5, LIMIT).unwrap();
    assert!(
        world.fake.kvitteringer().is_empty(),
        "acknowledged while the folders are still in inn/: {:?}",
        world.fake.kvitteringer()
    );
    for id in &ids {
        assert_v2_json_as_served(&world, &sys, id);
    }

    import(&sys, &ids[0]).unwrap();
    world.wait_acked(&mut agent, &ids[..1], LIMIT).unwrap();
    world.wait_polls(&mut agent, &user, 3, LIMIT).unwrap();
    assert_eq!(world.fake.acked_ids(), vec![ids[0].clone()]);
    assert_eq!(world.state_of(&ids[1]).as_deref(), Some("delivered"));

    import(&sys, &ids[1]).unwrap();
    world.wait_acked(&mut agent, &ids, LIMIT).unwrap();
    world.wait_state(&mut agent, &ids, "acked", LIMIT).unwrap();
    for id in &ids {
        assert_eq!(kvitteringer(&world.fake, id), (1, 0), "{id}");
        assert_eq!(download_starts(&world.fake.events(), id), 1, "{id}");
    }
    assert!(
        violations.lock().unwrap().is_empty(),
        "{:?}",
        violations.lock().unwrap()
    );
    assert_eq!(world.fake.other_api_requests(), Vec::<String>::new());
    agent.assert_running().unwrap();
}

/// 450 waiting: pages of 200, 200, 50 listed one after the other (not a poll_interval
/// apart), each forsendelse downloaded once.
#[test]
fn pages_past_200() {
    let (world, sys) = v2_world(
        System::new("ms-v2")
            .ack(Ack::OnDelivery)
            .poll_interval("10m"),
    );
    let ids = world.block_on(world.fake.generate(450, 600)).unwrap();

    let mut agent = world.spawn_agent().unwrap();
    world
        .wait_published(&mut agent, &sys, &ids, Duration::from_secs(240))
        .unwrap();
    world
        .wait_acked(&mut agent, &ids, Duration::from_secs(120))
        .unwrap();
    let events = world.fake.events();
    let lists: Vec<usize> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::List { ids } => Some(ids.len()),
            _ => None,
        })
        .collect();
    assert!(
        lists.len() >= 3 && lists.iter().filter(|&&n| n == 200).count() >= 2,
        "pages of 200, 200, 50 expected; lists served: {lists:?}"
    );
    assert_eq!(entries(&sys.inn()).len(), 450);
    for id in &ids {
        assert_eq!(download_starts(&events, id), 1, "{id} downloaded once");
    }
    assert_eq!(world.fake.other_api_requests(), Vec::<String>::new());
    agent.assert_running().unwrap();
}

/// A `hash` in `filer[]` that does not match: tried `max_decrypt_attempts` times, then
/// `failed` and reported once as FEILET, not permanent (V1's rule: never permanent
/// automatically); nothing published, nothing acknowledged. The other one goes on.
#[test]
fn a_checksum_mismatch_is_reported_feilet_and_nothing_is_published() {
    let (world, sys) = v2_world(
        System::new("ms-v2")
            .ack(Ack::OnDelivery)
            .max_decrypt_attempts(3),
    );
    let ids = world.block_on(world.fake.generate(2, 4000)).unwrap();
    let (good, bad) = (&ids[0], &ids[1]);
    world
        .fake
        .inject(
            Fault::WrongSha256,
            Scope::forsendelse(bad).on(RequestKind::List),
        )
        .unwrap();

    let mut agent = world.spawn_agent().unwrap();
    world
        .wait_state(&mut agent, std::slice::from_ref(good), "acked", LIMIT)
        .unwrap();
    world
        .wait_state(&mut agent, std::slice::from_ref(bad), "failed", LIMIT)
        .unwrap();
    world
        .wait(&mut agent, "one FEILET", LIMIT, || {
            !mottak_feilet_of(&world.fake.events(), bad).is_empty()
        })
        .unwrap();
    world
        .wait_polls(&mut agent, &sys.spec.username, 3, LIMIT)
        .unwrap();

    let events = world.fake.events();
    let row = world.journal_row(bad).unwrap().unwrap();
    assert_eq!(row.content_failures, 3, "{row:?}");
    assert_eq!(download_starts(&events, bad), 3, "tried 3 times");
    let reports = mottak_feilet_of(&events, bad);
    assert_eq!(reports.len(), 1, "{reports:?}");
    let (feilmelding, permanent) = &reports[0];
    assert!(!permanent, "never permanent automatically");
    assert!(feilmelding.contains("sha256"), "{feilmelding:?}");
    assert!(kvitteringer_of(&events, bad).is_empty(), "acknowledged");
    assert!(!sys.inn_of(bad).exists(), "published");
    assert_eq!(entries(&sys.inn()), vec![good.clone()]);
    assert_eq!(world.fake.other_api_requests(), Vec::<String>::new());
    agent.assert_running().unwrap();
}

/// A mottakersystem switched from V1 to V2 in place, in on-import mode: forsendelser
/// delivered under V1 but not yet imported are, after the switch (config and SvarInn) and
/// a restart, acknowledged once each through V2 when the fagsystem imports them; none is
/// downloaded or delivered again, and V1 got no kvittering.
#[test]
fn v1_to_v2_switch() {
    let mut world = World::builder()
        .system(System::new("ms-a").ack(Ack::OnImport))
        .start()
        .unwrap();
    let sys = world.first().unwrap().clone();
    let user = sys.spec.username.clone();
    let ids = world.block_on(world.fake.generate(3, 4000)).unwrap();

    let mut agent = world.spawn_agent().unwrap();
    world.wait_published(&mut agent, &sys, &ids, LIMIT).unwrap();
    world
        .wait_state(&mut agent, &ids, "delivered", LIMIT)
        .unwrap();
    agent.terminate(LIMIT).unwrap();
    assert!(world.fake.kvitteringer().is_empty());

    world.switch_api(SvarInnApi::V2).unwrap();
    assert!(
        world
            .config_text()
            .unwrap()
            .contains("svarinn_api = \"v2\"")
    );
    let mut agent = world.spawn_agent().unwrap();
    // Listed again by V2 and recognised: still delivered, nothing acknowledged yet.
    world.wait_polls(&mut agent, &user, 3, LIMIT).unwrap();
    assert!(world.fake.kvitteringer().is_empty());
    let violations = check_at_kvittering(&world, &sys, false);
    for id in &ids {
        import(&sys, id).unwrap();
    }
    world.wait_acked(&mut agent, &ids, LIMIT).unwrap();
    world.wait_state(&mut agent, &ids, "acked", LIMIT).unwrap();
    world.wait_polls(&mut agent, &user, 2, LIMIT).unwrap();

    let events = world.fake.events();
    for id in &ids {
        assert_eq!(download_starts(&events, id), 1, "{id} downloaded again");
        assert_eq!(kvitteringer(&world.fake, id), (1, 0), "{id}");
    }
    assert!(
        violations.lock().unwrap().is_empty(),
        "{:?}",
        violations.lock().unwrap()
    );
    // Every kvittering came after the switch, when V1's paths answer 404: through V2.
    assert_eq!(world.fake.other_api_requests(), Vec::<String>::new());
    agent.assert_running().unwrap();
}

/// A switch while forsendelser listed under V1 are not downloaded yet (their downloads
/// failed and wait to be retried): after the restart on V2 they take V2's listing, so they
/// are downloaded by `nedlastingslenke` (V1's `downloadUrl` is never asked on V2), delivered
/// once with V2's `forsendelse.json`, and acknowledged once through V2.
#[test]
fn a_switch_before_the_download_takes_the_v2_listing() {
    let mut world = World::builder()
        .system(System::new("ms-a").ack(Ack::OnDelivery))
        .start()
        .unwrap();
    let sys = world.first().unwrap().clone();
    let ids = world.block_on(world.fake.generate(2, 4000)).unwrap();
    world
        .fake
        .inject(Fault::Status(503), Scope::every(RequestKind::Download))
        .unwrap();

    let mut agent = world.spawn_agent().unwrap();
    world
        .wait_state(&mut agent, &ids, "retry_wait", LIMIT)
        .unwrap();
    agent.terminate(LIMIT).unwrap();
    world.fake.clear_faults();
    world.switch_api(SvarInnApi::V2).unwrap();
    let violations = check_at_kvittering(&world, &sys, true);

    let mut agent = world.spawn_agent().unwrap();
    world.wait_published(&mut agent, &sys, &ids, LIMIT).unwrap();
    world.wait_acked(&mut agent, &ids, LIMIT).unwrap();
    world.wait_state(&mut agent, &ids, "acked", LIMIT).unwrap();
    let events = world.fake.events();
    for id in &ids {
        assert_v2_json_as_served(&world, &sys, id);
        assert_eq!(complete_downloads(&events, id), 1, "{id} delivered once");
        assert_eq!(kvitteringer(&world.fake, id), (1, 0), "{id}");
    }
    assert!(
        violations.lock().unwrap().is_empty(),
        "{:?}",
        violations.lock().unwrap()
    );
    assert_eq!(world.fake.other_api_requests(), Vec::<String>::new());
    agent.assert_running().unwrap();
}
