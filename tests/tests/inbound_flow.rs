//! The inbound pipeline's normal flow, end to end: the real `mottak-agent run`
//! against the fake SvarInn, with real drop folders.
//!
//! Invariant covered here: "A forsendelse is never acknowledged before it is
//! durably published, and in `on-import` mode only after the fagsystem has
//! taken it out of `inn/`" (checked inside the fake at kvittering time).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mottak_fixtures::svarinn::{
    EventKind, ForsendelseState, GenerateSpec, GeneratedKind, NewForsendelse, Plaintext,
};
use mottak_tests::harness::{
    Ack, KeySource, System, World, ZipEntry, complete_downloads, download_starts, entries, import,
    kvitteringer_of, mottak_feilet_of, read_delivered, reject, sha256_hex, small_pdf, unzip_bytes,
    zip_bytes,
};

const LIMIT: Duration = Duration::from_secs(90);

/// on-delivery: each forsendelse appears in `inn/<id>/` with `forsendelse.json`
/// and its plaintext byte for byte, is downloaded once, and is acknowledged
/// once, after its folder was published.
#[test]
fn on_delivery_publishes_then_acknowledges() {
    let world = World::single(System::new("ms-a").ack(Ack::OnDelivery)).unwrap();
    let sys = world.first().unwrap().clone();
    let user = sys.spec.username.clone();
    let mut plain: BTreeMap<String, (usize, Vec<u8>)> = BTreeMap::new();
    for n in 0..4 {
        let bytes = small_pdf(n, 3000 + n * 1111);
        let id = world
            .block_on(
                world.fake.add_forsendelse(
                    NewForsendelse::pdf(
                        &user,
                        format!("brev-{n}.pdf"),
                        Plaintext::Bytes(bytes.clone()),
                    )
                    .tittel(format!("Brev {n}")),
                ),
            )
            .unwrap();
        plain.insert(id, (n, bytes));
    }
    let ids: Vec<String> = plain.keys().cloned().collect();
    let violations = ack_checker(&world, &sys, true);

    let mut agent = world.spawn_agent().unwrap();
    world.wait_published(&mut agent, &sys, &ids, LIMIT).unwrap();
    world.wait_acked(&mut agent, &ids, LIMIT).unwrap();
    world.wait_state(&mut agent, &ids, "acked", LIMIT).unwrap();

    let events = world.fake.events();
    for (id, (n, bytes)) in &plain {
        let d = read_delivered(&sys.inn_of(id)).unwrap();
        assert_eq!(d.json["id"], id.as_str(), "forsendelse.json of {id}");
        assert_eq!(d.json["tittel"], format!("Brev {n}"));
        assert_eq!(
            d.files.len(),
            1,
            "{id}: {:?}",
            d.files.keys().collect::<Vec<_>>()
        );
        let (name, got) = d.files.iter().next().unwrap();
        assert_eq!(name, &format!("brev-{n}.pdf"));
        assert!(
            got == bytes,
            "{id}: delivered bytes differ from the plaintext"
        );
        assert_eq!(complete_downloads(&events, id), 1, "{id} downloaded once");
        // Exactly one first kvittering. (Repeats caused by a stale list are the
        // subject of inbound_faults::a_stale_list_does_not_cause_repeated_kvitteringer.)
        let k = kvitteringer_of(&events, id);
        assert_eq!(
            k.iter()
                .filter(|e| matches!(e.kind, EventKind::Kvittering { first: true }))
                .count(),
            1,
            "{id}: {k:?}"
        );
        assert!(mottak_feilet_of(&events, id).is_empty());
        assert_eq!(world.fake.state_of(id), Some(ForsendelseState::Acked));
    }
    assert_eq!(
        entries(&sys.inn()),
        ids,
        "inn/ holds exactly the forsendelser"
    );
    assert!(
        violations.lock().unwrap().is_empty(),
        "{:?}",
        violations.lock().unwrap()
    );
    agent.assert_running().unwrap();
}

/// on-import: no kvittering while the folder is in `inn/` (checked over several
/// more polls), then one right after the fagsystem removes it; the journal goes
/// delivered → imported/acked.
#[test]
fn on_import_acknowledges_only_after_the_folder_leaves_inn() {
    let world = World::single(System::new("ms-a").ack(Ack::OnImport)).unwrap();
    let sys = world.first().unwrap().clone();
    let user = sys.spec.username.clone();
    let ids = world.block_on(world.fake.generate(2, 5000)).unwrap();
    let violations = ack_checker(&world, &sys, false);

    let mut agent = world.spawn_agent().unwrap();
    world.wait_published(&mut agent, &sys, &ids, LIMIT).unwrap();
    world
        .wait_state(&mut agent, &ids, "delivered", LIMIT)
        .unwrap();
    // The agent goes round its loop several more times: still no kvittering.
    world.wait_polls(&mut agent, &user, 5, LIMIT).unwrap();
    assert!(
        world.fake.kvitteringer().is_empty(),
        "acknowledged while the folders are still in inn/: {:?}",
        world.fake.kvitteringer()
    );
    for id in &ids {
        let d = read_delivered(&sys.inn_of(id)).unwrap();
        let want = &world.fake.forsendelse(id).unwrap().filmetadata[0].sha256hash;
        assert_eq!(&sha256_hex(d.files.values().next().unwrap()), want);
    }

    // The fagsystem imports the first one.
    import(&sys, &ids[0]).unwrap();
    world.wait_acked(&mut agent, &ids[..1], LIMIT).unwrap();
    world
        .wait_state(&mut agent, &ids[..1], "acked", LIMIT)
        .unwrap();
    world.wait_polls(&mut agent, &user, 3, LIMIT).unwrap();
    assert_eq!(world.fake.acked_ids(), vec![ids[0].clone()]);
    assert_eq!(world.state_of(&ids[1]).as_deref(), Some("delivered"));

    import(&sys, &ids[1]).unwrap();
    world.wait_acked(&mut agent, &ids, LIMIT).unwrap();
    world.wait_state(&mut agent, &ids, "acked", LIMIT).unwrap();
    let events = world.fake.events();
    for id in &ids {
        let k = kvitteringer_of(&events, id);
        assert!(
            matches!(
                k.first().map(|e| &e.kind),
                Some(EventKind::Kvittering { first: true })
            ),
            "{id}: {k:#?}"
        );
        assert_eq!(complete_downloads(&events, id), 1, "{id}");
    }
    assert!(
        violations.lock().unwrap().is_empty(),
        "{:?}",
        violations.lock().unwrap()
    );
    agent.assert_running().unwrap();
}

/// A fagsystem that imports one folder and rejects two (one with `feil.txt`,
/// one without): the import is acknowledged; the rejections are `rejected` in
/// the journal with the reason, never acknowledged, never reported to SvarInn
/// (a person decides), and stay in `feilet/`.
#[test]
fn fagsystem_imports_one_and_rejects_two() {
    let world = World::single(System::new("ms-a").ack(Ack::OnImport)).unwrap();
    let sys = world.first().unwrap().clone();
    let user = sys.spec.username.clone();
    let ids = world.block_on(world.fake.generate(3, 2000)).unwrap();

    let mut agent = world.spawn_agent().unwrap();
    world.wait_published(&mut agent, &sys, &ids, LIMIT).unwrap();
    world
        .wait_state(&mut agent, &ids, "delivered", LIMIT)
        .unwrap();

    import(&sys, &ids[0]).unwrap();
    let reason = "Mangler saksnummer; kan ikke journalføres";
    reject(&sys, &ids[1], Some(reason)).unwrap();
    reject(&sys, &ids[2], None).unwrap();

    world.wait_acked(&mut agent, &ids[..1], LIMIT).unwrap();
    world
        .wait_state(&mut agent, &ids[1..], "rejected", LIMIT)
        .unwrap();
    let row = world.journal_row(&ids[1]).unwrap().unwrap();
    assert!(
        row.reason.as_deref().is_some_and(|r| r.contains(reason)),
        "the journal keeps feil.txt as the reason: {row:?}"
    );
    // Several more rounds: the rejected ones are left alone.
    world.wait_polls(&mut agent, &user, 5, LIMIT).unwrap();
    let events = world.fake.events();
    for id in &ids[1..] {
        assert!(kvitteringer_of(&events, id).is_empty(), "{id} acked");
        assert!(mottak_feilet_of(&events, id).is_empty(), "{id} reported");
        assert_eq!(world.state_of(id).as_deref(), Some("rejected"));
        assert!(sys.feilet().join(id).is_dir(), "{id} left feilet/");
        assert!(!sys.inn_of(id).exists(), "{id} back in inn/");
    }
    assert_eq!(world.state_of(&ids[0]).as_deref(), Some("acked"));
    assert_eq!(world.fake.acked_ids(), vec![ids[0].clone()]);
    agent.assert_running().unwrap();
}

/// KS's own `.crypt` files, served as KS made them, decrypt byte for byte
/// with `sp-key.pem`: the PDFs as they are, the zip's entries unpacked.
#[test]
fn ks_vectors_decrypt_byte_for_byte() {
    let world = World::single(
        System::new("ks")
            .keys(KeySource::KsVectors)
            .ack(Ack::OnDelivery),
    )
    .unwrap();
    let sys = world.first().unwrap().clone();
    let dir = mottak_fixtures::ks_vectors_dir();
    let ids = world
        .block_on(world.fake.seed_ks_vectors(&sys.spec.username, &dir))
        .unwrap();
    assert_eq!(ids.len(), 3, "dokumenter, small, test");

    let mut agent = world.spawn_agent().unwrap();
    world.wait_published(&mut agent, &sys, &ids, LIMIT).unwrap();
    world.wait_acked(&mut agent, &ids, LIMIT).unwrap();

    for id in &ids {
        let f = world.fake.forsendelse(id).unwrap();
        let d = read_delivered(&sys.inn_of(id)).unwrap();
        if f.tittel.contains("dokumenter.zip") {
            let zip = std::fs::read(dir.join("dokumenter.zip")).unwrap();
            let want = unzip_bytes(&zip).unwrap();
            assert!(!want.is_empty());
            let want: BTreeMap<String, Vec<u8>> = want
                .into_iter()
                .map(|(k, v)| (k.rsplit('/').next().unwrap().to_owned(), v))
                .collect();
            assert_eq!(
                d.files.keys().collect::<Vec<_>>(),
                want.keys().collect::<Vec<_>>()
            );
            for (name, bytes) in &want {
                assert!(&d.files[name] == bytes, "zip entry {name} differs");
            }
        } else {
            let name = f.filmetadata[0].filnavn.clone();
            let want = std::fs::read(dir.join(&name)).unwrap();
            assert_eq!(d.files.len(), 1, "{name}");
            assert!(
                d.files.get(&name) == Some(&want),
                "{name} does not decrypt byte for byte (got {:?})",
                d.files.keys().collect::<Vec<_>>()
            );
        }
    }
    agent.assert_running().unwrap();
}

/// A zip forsendelse is unpacked into its folder (entries with their sha256
/// from `filmetadata`); with `unzip = false` the `.zip` is delivered as it is;
/// a `nav.digisos` zip has its digisosId recorded in the journal.
#[test]
fn zips_unpacked_or_kept_and_digisos_id_recorded() {
    let world = World::builder()
        .system(System::new("unzip").ack(Ack::OnDelivery))
        .system(System::new("keepzip").ack(Ack::OnDelivery).unzip(false))
        .start()
        .unwrap();
    let unzip = world.system("unzip").unwrap().clone();
    let keep = world.system("keepzip").unwrap().clone();
    let zipped = world
        .block_on(
            world.fake.generate_with(
                GenerateSpec::new(1, 30_000, GeneratedKind::Zip { entries: 3 })
                    .for_mottakersystem(&unzip.spec.username),
            ),
        )
        .unwrap()
        .remove(0);
    let digisos = world
        .block_on(
            world.fake.generate_with(
                GenerateSpec::new(1, 10_000, GeneratedKind::Digisos)
                    .for_mottakersystem(&unzip.spec.username),
            ),
        )
        .unwrap()
        .remove(0);
    let entries_zip = zip_bytes(&[
        ZipEntry::File("vedlegg-1.pdf".into(), small_pdf(1, 4000)),
        ZipEntry::File("vedlegg-2.pdf".into(), small_pdf(2, 5000)),
    ])
    .unwrap();
    let kept = world
        .block_on(world.fake.add_forsendelse(NewForsendelse::zip(
            &keep.spec.username,
            "samlet.zip",
            Plaintext::Bytes(entries_zip.clone()),
        )))
        .unwrap();

    let mut agent = world.spawn_agent().unwrap();
    let unzip_ids = vec![zipped.id.clone(), digisos.id.clone()];
    world
        .wait_published(&mut agent, &unzip, &unzip_ids, LIMIT)
        .unwrap();
    world
        .wait_published(&mut agent, &keep, std::slice::from_ref(&kept), LIMIT)
        .unwrap();

    // Unpacked: the entries, as filmetadata describes them; no .zip.
    let d = read_delivered(&unzip.inn_of(&zipped.id)).unwrap();
    let meta = world.fake.forsendelse(&zipped.id).unwrap();
    let want: BTreeMap<String, String> = meta
        .filmetadata
        .iter()
        .map(|f| (f.filnavn.clone(), f.sha256hash.clone()))
        .collect();
    let got: BTreeMap<String, String> = d
        .files
        .iter()
        .map(|(k, v)| (k.clone(), sha256_hex(v)))
        .collect();
    assert_eq!(got, want, "the zip's entries, byte for byte");

    // Digisos: soknad.pdf unpacked, digisosId in the journal.
    let d = read_delivered(&unzip.inn_of(&digisos.id)).unwrap();
    assert!(
        d.files.contains_key("soknad.pdf"),
        "{:?}",
        d.files.keys().collect::<Vec<_>>()
    );
    world
        .wait_state(
            &mut agent,
            std::slice::from_ref(&digisos.id),
            "acked",
            LIMIT,
        )
        .unwrap();
    let row = world.journal_row(&digisos.id).unwrap().unwrap();
    assert_eq!(row.digisos_id, digisos.digisos_id, "{row:?}");
    let row = world.journal_row(&zipped.id).unwrap().unwrap();
    assert_eq!(row.digisos_id, None);

    // unzip = false: the zip as it is.
    let d = read_delivered(&keep.inn_of(&kept)).unwrap();
    assert_eq!(d.files.len(), 1, "{:?}", d.files.keys().collect::<Vec<_>>());
    assert!(
        d.files.get("samlet.zip") == Some(&entries_zip),
        "the .zip delivered byte for byte as samlet.zip; got {:?}",
        d.files.keys().collect::<Vec<_>>()
    );
    world
        .wait_acked(&mut agent, &[zipped.id, digisos.id, kept], LIMIT)
        .unwrap();
    agent.assert_running().unwrap();
}

/// A zip holding a single PDF (a common shape): `filmetadata` declares the
/// entry, whose size is smaller than the zip around it. It is delivered
/// unpacked, not refused as "longer than declared"; so is one with a single
/// incompressible entry, deflated.
#[test]
fn a_zip_with_a_single_entry_is_delivered() {
    let world = World::single(System::new("ms-a").ack(Ack::OnDelivery)).unwrap();
    let sys = world.first().unwrap().clone();
    let generated = world
        .block_on(world.fake.generate_with(GenerateSpec::new(
            1,
            20_000,
            GeneratedKind::Zip { entries: 1 },
        )))
        .unwrap()
        .remove(0);
    let pdf = small_pdf(7, 9000);
    let deflated = world
        .block_on(world.fake.add_forsendelse(NewForsendelse::zip(
            &sys.spec.username,
            "ett-vedlegg.zip",
            Plaintext::Bytes(
                zip_bytes(&[ZipEntry::File("vedtak.pdf".into(), pdf.clone())]).unwrap(),
            ),
        )))
        .unwrap();
    let ids = vec![generated.id.clone(), deflated.clone()];

    let mut agent = world.spawn_agent().unwrap();
    world
        .wait(&mut agent, "both acked or failed", LIMIT, || {
            ids.iter()
                .all(|id| matches!(world.state_of(id).as_deref(), Some("acked" | "failed")))
        })
        .unwrap();
    for id in &ids {
        let row = world.journal_row(id).unwrap().unwrap();
        assert_eq!(row.state, "acked", "a one-entry zip was refused: {row:?}");
    }
    let d = read_delivered(&sys.inn_of(&deflated)).unwrap();
    assert!(
        d.files.get("vedtak.pdf") == Some(&pdf),
        "{:?}",
        d.files.keys()
    );
    let d = read_delivered(&sys.inn_of(&generated.id)).unwrap();
    let meta = world.fake.forsendelse(&generated.id).unwrap();
    assert_eq!(
        d.files
            .iter()
            .map(|(k, v)| (k.clone(), sha256_hex(v)))
            .collect::<Vec<_>>(),
        vec![(
            meta.filmetadata[0].filnavn.clone(),
            meta.filmetadata[0].sha256hash.clone()
        )]
    );
    agent.assert_running().unwrap();
}

/// 450 forsendelser waiting: the agent pages again at once while a page comes
/// back full (200), so all arrive long before the next `poll_interval` (10 min).
#[test]
fn pages_past_200_without_waiting_for_the_poll_interval() {
    let world = World::single(
        System::new("ms-a")
            .ack(Ack::OnDelivery)
            .poll_interval("10m"),
    )
    .unwrap();
    let sys = world.first().unwrap().clone();
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
            mottak_fixtures::svarinn::EventKind::List { ids } => Some(ids.len()),
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
    agent.assert_running().unwrap();
}

/// Many small forsendelser moving fast, nothing going wrong: each step runs
/// once per forsendelse. No forsendelse is downloaded twice, no step is taken
/// again on a stale copy of its journal row (which shows as an ERROR such as
/// "cannot go from acked to acked" after a second kvitterMottak), nothing is
/// left in staging, and nothing is logged as an error or a warning.
#[test]
fn each_step_runs_once_when_nothing_goes_wrong() {
    let world =
        World::single(System::new("ms-a").ack(Ack::OnDelivery).poll_interval("2s")).unwrap();
    let sys = world.first().unwrap().clone();
    let ids = world.block_on(world.fake.generate(450, 500)).unwrap();

    let mut agent = world.spawn_agent().unwrap();
    world
        .wait_published(&mut agent, &sys, &ids, Duration::from_secs(240))
        .unwrap();
    world
        .wait_state(&mut agent, &ids, "acked", Duration::from_secs(120))
        .unwrap();
    world
        .wait_polls(&mut agent, &sys.spec.username, 1, LIMIT)
        .unwrap();
    let out = agent.output_text();
    let events = world.fake.events();
    let errors: Vec<&str> = out
        .lines()
        .filter(|l| l.contains(" ERROR ") || l.contains(" WARN "))
        .collect();
    let repeated: Vec<String> = ids
        .iter()
        .filter_map(|id| {
            let n = kvitteringer_of(&events, id).len();
            (n > 1).then(|| format!("{id}: {n} kvitteringer"))
        })
        .collect();
    assert!(
        errors.is_empty(),
        "{} errors/warnings in a run where nothing went wrong:\n{}\nkvitterMottak sent more than once (fake's log): {repeated:#?}",
        errors.len(),
        errors.join("\n")
    );
    let twice: Vec<&String> = ids
        .iter()
        .filter(|id| download_starts(&events, id) != 1)
        .collect();
    assert!(twice.is_empty(), "downloaded more than once: {twice:?}");
    let staged = mottak_tests::harness::walk(&sys.staging()).unwrap();
    assert!(staged.is_empty(), "left in staging: {staged:?}");
}

/// Installs a check, run inside the fake when it accepts a kvittering: with
/// `published`, `inn/<id>/` must hold `forsendelse.json` and the file(s) with
/// the sha256 SvarInn declared; otherwise (on-import) the folder must have
/// left `inn/` and not be in `feilet/`. Returns the violations seen.
fn ack_checker(
    world: &World,
    sys: &mottak_tests::harness::Installed,
    published: bool,
) -> Arc<Mutex<Vec<String>>> {
    mottak_tests::harness::check_at_kvittering(world, sys, published)
}
