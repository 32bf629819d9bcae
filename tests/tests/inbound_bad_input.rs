//! Bad input from outside, against the real agent: hostile file names, zips
//! that escape or explode, list entries that do not match SvarInn's model or
//! carry hostile ids, and a config with an unknown key. Each gives a clear
//! error (or a safe name), nothing lands outside the forsendelse's own
//! folder, and no other forsendelse is affected.
//!
//! The tests of SvarInn's answers run over V1 and V2 (`…_over_v2`); the config test is
//! the same for both.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Component, Path};
use std::time::Duration;

use mottak_fixtures::svarinn::{
    EventKind, Fault, NewForsendelse, Plaintext, RequestKind, Scope, SvarInnApi,
};
use mottak_tests::harness::{
    Ack, Agent, Installed, System, World, ZipEntry, download_starts, entries, kvitteringer_of,
    mottak_feilet_of, read_delivered, sha256_hex, small_pdf, walk, zip_bytes,
};

const LIMIT: Duration = Duration::from_secs(120);

/// Everything under `dir` that is not the drop folder layout or a published
/// forsendelse's own file (`inn/<id>/<file>`): what escaped.
fn outside_layout(sys: &Installed) -> Vec<String> {
    let layout = [".mottak", "inn", "feilet", "ut", "ut-sendt", "ut-feilet"];
    walk(&sys.drop_folder)
        .unwrap()
        .into_iter()
        .filter(|p| {
            let parts: Vec<_> = p.components().collect();
            let top = parts
                .first()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .unwrap_or_default();
            let ok = match parts.len() {
                1 => layout.contains(&top.as_str()),
                2 | 3 => top == "inn",
                _ => false,
            };
            !ok
        })
        .map(|p| p.display().to_string())
        .collect()
}

/// Only the paths of the API configured were asked for (the fake answers the other's 404).
fn assert_one_api(world: &World) {
    let other = world.fake.other_api_requests();
    assert!(other.is_empty(), "requests to the other API: {other:?}");
}

/// No symlink anywhere under `dir`.
fn symlinks(dir: &Path) -> Vec<String> {
    walk(dir)
        .unwrap()
        .into_iter()
        .filter(|p| {
            std::fs::symlink_metadata(dir.join(p))
                .map(|m| m.file_type().is_symlink())
                .unwrap_or(false)
        })
        .map(|p| p.display().to_string())
        .collect()
}

/// A name that is safe as one path component on ext4 and over SMB.
fn assert_safe_name(name: &str, from: &str) {
    let p = Path::new(name);
    assert!(
        p.components().count() == 1 && matches!(p.components().next(), Some(Component::Normal(_))),
        "{from:?} became {name:?}: not one plain component"
    );
    assert!(!name.contains('/') && !name.contains('\\'), "{name:?}");
    assert!(!name.chars().any(char::is_control), "{name:?}");
    assert!(!name.starts_with('.'), "{from:?} became hidden {name:?}");
    assert!(
        !name.is_empty() && name.len() <= 255,
        "{from:?} became {} bytes",
        name.len()
    );
}

#[test]
fn hostile_file_names_are_made_safe() {
    hostile_file_names_are_made_safe_over(SvarInnApi::V1);
}

#[test]
fn hostile_file_names_are_made_safe_over_v2() {
    hostile_file_names_are_made_safe_over(SvarInnApi::V2);
}

/// File names with `/`, `..`, a leading dot, control characters, a backslash
/// path, 1,000 bytes, or nothing at all (V1: a PDF's, in `Content-Disposition` and
/// in `filmetadata`; V2, which always sends a ZIP: the ZIP's, in
/// `Content-Disposition`, kept whole with `unzip = false`): each forsendelse is
/// delivered into its own folder under a safe name with the right bytes, and
/// nothing is written anywhere else. (Hostile names inside a zip are refused, not
/// made safe: `hostile_zips_are_refused_and_the_others_arrive`.)
fn hostile_file_names_are_made_safe_over(api: SvarInnApi) {
    let system = System::new("ms-a").ack(Ack::OnDelivery);
    let system = match api {
        SvarInnApi::V1 => system,
        SvarInnApi::V2 => system.unzip(false),
    };
    let world = World::single_over(api, system).unwrap();
    let sys = world.first().unwrap().clone();
    let long = format!("{}.pdf", "x".repeat(1000));
    let names = [
        "../../../../etc/passwd.pdf",
        "mappe/undermappe/brev.pdf",
        "/absolutt/sti.pdf",
        "..",
        ".skjult.pdf",
        "kontroll\u{1}\u{7}\ttegn\r\n.pdf",
        "C:\\Windows\\System32\\brev.pdf",
        long.as_str(),
        "",
        "vanlig brev æøå.pdf",
    ];
    let mut made = Vec::new();
    for (n, name) in names.iter().enumerate() {
        let pdf = small_pdf(n, 2000 + n);
        let user = &sys.spec.username;
        let (new, bytes) = match api {
            SvarInnApi::V1 => (
                NewForsendelse::pdf(user, *name, Plaintext::Bytes(pdf.clone())),
                pdf,
            ),
            SvarInnApi::V2 => {
                let zip = zip_bytes(&[ZipEntry::File("brev.pdf".into(), pdf)]).unwrap();
                let new = NewForsendelse::zip(user, *name, Plaintext::Bytes(zip.clone()));
                (new, zip)
            }
        };
        let id = world.block_on(world.fake.add_forsendelse(new)).unwrap();
        made.push((id, *name, bytes));
    }
    let ids: Vec<String> = made.iter().map(|(id, _, _)| id.clone()).collect();

    let mut agent = world.spawn_agent().unwrap();
    world.wait_published(&mut agent, &sys, &ids, LIMIT).unwrap();
    world.wait_acked(&mut agent, &ids, LIMIT).unwrap();
    for (id, name, bytes) in &made {
        let d = read_delivered(&sys.inn_of(id)).unwrap();
        assert_eq!(d.files.len(), 1, "{name:?}: {:?}", d.files.keys());
        let (got_name, got) = d.files.iter().next().unwrap();
        assert_safe_name(got_name, name);
        assert!(got == bytes, "{name:?}: wrong bytes");
    }
    let plain = read_delivered(&sys.inn_of(&made[9].0)).unwrap();
    assert!(
        plain.files.contains_key("vanlig brev æøå.pdf"),
        "an ordinary name is kept as it is: {:?}",
        plain.files.keys()
    );
    let escaped = outside_layout(&sys);
    assert!(escaped.is_empty(), "written outside inn/<id>/: {escaped:?}");
    let passwd: Vec<_> = walk(world.dir())
        .unwrap()
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("passwd") && !p.starts_with("drop/ms-a/inn"))
        .collect();
    assert!(passwd.is_empty(), "{passwd:?}");
    agent.assert_running().unwrap();
    assert_one_api(&world);
}

#[test]
fn hostile_zips_are_refused_and_the_others_arrive() {
    hostile_zips_are_refused_and_the_others_arrive_over(SvarInnApi::V1);
}

#[test]
fn hostile_zips_are_refused_and_the_others_arrive_over_v2() {
    hostile_zips_are_refused_and_the_others_arrive_over(SvarInnApi::V2);
}

/// Zips with an entry that escapes (`../`, `a/../../`), an absolute path, a
/// symbolic link, a zip bomb (30 MiB of zeros, ratio ~1000), and two entries
/// of the same name, each next to a harmless entry (so the whole zip must be refused): each is
/// refused with an error naming the problem, reported with mottakFeilet, kept
/// out of `inn/`, and nothing is extracted anywhere; a good zip and a good PDF
/// next to them arrive.
fn hostile_zips_are_refused_and_the_others_arrive_over(api: SvarInnApi) {
    let world = World::single_over(
        api,
        System::new("ms-a")
            .ack(Ack::OnDelivery)
            .max_decrypt_attempts(1),
    )
    .unwrap();
    let sys = world.first().unwrap().clone();
    let user = sys.spec.username.clone();
    let ok_pdf = || ZipEntry::File("ok.pdf".into(), small_pdf(1, 3000));
    let cases: Vec<(&str, Vec<ZipEntry>, &[&str])> = vec![
        (
            "dotdot",
            vec![
                ok_pdf(),
                ZipEntry::File("../escape-dotdot.pdf".into(), small_pdf(2, 100)),
            ],
            &["escape-dotdot", ".."],
        ),
        (
            "deep",
            vec![
                ok_pdf(),
                ZipEntry::File("a/../../../escape-deep.pdf".into(), small_pdf(3, 100)),
            ],
            &["escape-deep", ".."],
        ),
        (
            "absolute",
            vec![
                ok_pdf(),
                ZipEntry::File("/tmp/escape-absolute.pdf".into(), small_pdf(4, 100)),
            ],
            &["escape-absolute", "absolute"],
        ),
        (
            "symlink",
            vec![
                ok_pdf(),
                ZipEntry::Symlink("escape-link.pdf".into(), "/etc/passwd".into()),
            ],
            &["escape-link", "link"],
        ),
        (
            "bomb",
            vec![
                ok_pdf(),
                ZipEntry::File("bomb.pdf".into(), vec![0u8; 30 << 20]),
            ],
            &["bomb", "ratio"],
        ),
        (
            // Two entries named dup.pdf (the second is renamed below): the
            // zip crate would show only the second.
            "duplicate",
            vec![
                ok_pdf(),
                ZipEntry::File("dup.pdf".into(), small_pdf(5, 100)),
                ZipEntry::File("dux.pdf".into(), small_pdf(6, 100)),
            ],
            &["two entries named \"dup.pdf\""],
        ),
    ];
    let mut bad = Vec::new();
    for (label, zip_entries, words) in &cases {
        let mut zip = zip_bytes(zip_entries).unwrap();
        if *label == "duplicate" {
            mottak_fixtures::hostile_zip::rename_entry(&mut zip, "dux.pdf", "dup.pdf").unwrap();
        }
        let id = world
            .block_on(world.fake.add_forsendelse(NewForsendelse::zip(
                &user,
                format!("{label}.zip"),
                Plaintext::Bytes(zip),
            )))
            .unwrap();
        bad.push((id, *label, *words));
    }
    let good_zip = zip_bytes(&[
        ZipEntry::File("vedtak.pdf".into(), small_pdf(10, 5000)),
        ZipEntry::Dir("vedlegg/".into()),
        ZipEntry::File("bilag.pdf".into(), small_pdf(11, 4000)),
    ])
    .unwrap();
    let good = vec![
        world
            .block_on(world.fake.add_forsendelse(NewForsendelse::zip(
                &user,
                "god.zip",
                Plaintext::Bytes(good_zip),
            )))
            .unwrap(),
        world
            .block_on(world.fake.add_forsendelse(NewForsendelse::pdf(
                &user,
                "brev.pdf",
                Plaintext::Bytes(small_pdf(12, 3000)),
            )))
            .unwrap(),
    ];
    let bad_ids: Vec<String> = bad.iter().map(|(id, _, _)| id.clone()).collect();

    let mut agent = world.spawn_agent().unwrap();
    world
        .wait_published(&mut agent, &sys, &good, LIMIT)
        .unwrap();
    world.wait_acked(&mut agent, &good, LIMIT).unwrap();
    world
        .wait_state(&mut agent, &bad_ids, "failed", LIMIT)
        .unwrap();
    world
        .wait(
            &mut agent,
            "mottakFeilet for each refused zip",
            LIMIT,
            || {
                let ev = world.fake.events();
                bad_ids
                    .iter()
                    .all(|id| !mottak_feilet_of(&ev, id).is_empty())
            },
        )
        .unwrap();

    let events = world.fake.events();
    for (id, label, words) in &bad {
        let row = world.journal_row(id).unwrap().unwrap();
        let err = row.last_error.clone().unwrap_or_default();
        assert!(
            words.iter().any(|w| err.to_lowercase().contains(w)),
            "{label}: last_error should name the problem ({words:?}): {err:?}"
        );
        assert!(!sys.inn_of(id).exists(), "{label} published");
        assert!(
            kvitteringer_of(&events, id).is_empty(),
            "{label} acknowledged"
        );
        let reports = mottak_feilet_of(&events, id);
        assert_eq!(reports.len(), 1, "{label}: {reports:?}");
        assert!(!reports[0].1, "{label}: not permanent");
    }
    // The good zip: its two files (the directory entry creates nothing), byte for byte.
    let d = read_delivered(&sys.inn_of(&good[0])).unwrap();
    let mut hashes: Vec<String> = d.files.values().map(|b| sha256_hex(b)).collect();
    hashes.sort();
    let mut want: Vec<String> = vec![
        sha256_hex(&small_pdf(10, 5000)),
        sha256_hex(&small_pdf(11, 4000)),
    ];
    want.sort();
    assert_eq!(hashes, want, "{:?}", d.files.keys());
    // Nothing escaped, nothing linked, nothing half-extracted left behind.
    let escaped: Vec<_> = walk(world.dir())
        .unwrap()
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("escape"))
        .collect();
    assert!(escaped.is_empty(), "{escaped:?}");
    assert!(!Path::new("/tmp/escape-absolute.pdf").exists());
    assert!(symlinks(&sys.drop_folder).is_empty());
    assert!(
        outside_layout(&sys).is_empty(),
        "{:?}",
        outside_layout(&sys)
    );
    let mut want_inn = good.clone();
    want_inn.sort();
    assert_eq!(entries(&sys.inn()), want_inn);
    agent.assert_running().unwrap();
    assert_one_api(&world);
}

#[test]
fn malformed_entries_and_hostile_ids_are_skipped_the_others_arrive() {
    malformed_entries_and_hostile_ids_are_skipped_the_others_arrive_over(SvarInnApi::V1);
}

#[test]
fn malformed_entries_and_hostile_ids_are_skipped_the_others_arrive_over_v2() {
    malformed_entries_and_hostile_ids_are_skipped_the_others_arrive_over(SvarInnApi::V2);
}

/// A list where one entry does not match SvarInn's model and another carries
/// an id that is a path (`../../x`): both are skipped with a warning naming
/// them, nothing is downloaded for them, and the good ones arrive. The
/// malformed one arrives once SvarInn lists it properly.
fn malformed_entries_and_hostile_ids_are_skipped_the_others_arrive_over(api: SvarInnApi) {
    let world = World::single_over(api, System::new("ms-a").ack(Ack::OnDelivery)).unwrap();
    let sys = world.first().unwrap().clone();
    let user = sys.spec.username.clone();
    let add = |n: usize, id: Option<&str>| {
        let mut new = NewForsendelse::pdf(
            &user,
            format!("dokument-{n}.pdf"),
            Plaintext::Bytes(small_pdf(n, 3000)),
        );
        if let Some(id) = id {
            new = new.id(id);
        }
        world.block_on(world.fake.add_forsendelse(new)).unwrap()
    };
    let good = vec![add(0, None), add(1, None)];
    let malformed = add(2, None);
    let hostile = add(3, Some("../../utenfor"));
    let good_after = add(4, None);
    let fault = world
        .fake
        .inject(
            Fault::MalformedEntry,
            Scope::forsendelse(&malformed).on(RequestKind::List),
        )
        .unwrap();

    let mut agent = world.spawn_agent().unwrap();
    let mut all_good = good.clone();
    all_good.push(good_after.clone());
    world
        .wait_published(&mut agent, &sys, &all_good, LIMIT)
        .unwrap();
    world.wait_acked(&mut agent, &all_good, LIMIT).unwrap();
    world.wait_polls(&mut agent, &user, 3, LIMIT).unwrap();
    let events = world.fake.events();
    assert_eq!(download_starts(&events, &malformed), 0);
    assert_eq!(download_starts(&events, &hostile), 0);
    assert!(world.journal_row(&hostile).unwrap().is_none());
    let out = agent.output_text();
    assert!(
        out.lines()
            .any(|l| l.contains(&malformed) && (l.contains("WARN") || l.contains("ERROR"))),
        "a warning naming the malformed entry {malformed}:\n{}",
        agent.output_tail(30)
    );
    assert!(
        out.lines()
            .any(|l| (l.contains("WARN") || l.contains("ERROR"))
                && (l.contains("utenfor") || l.to_lowercase().contains("id"))),
        "a warning about the unusable id:\n{}",
        agent.output_tail(30)
    );
    assert!(
        !world.dir().join("drop").join("utenfor").exists() && !world.dir().join("utenfor").exists()
    );
    assert!(
        outside_layout(&sys).is_empty(),
        "{:?}",
        outside_layout(&sys)
    );

    // SvarInn lists it properly again: it arrives.
    assert!(world.fake.remove_fault(fault));
    world
        .wait_published(&mut agent, &sys, std::slice::from_ref(&malformed), LIMIT)
        .unwrap();
    world
        .wait_acked(&mut agent, std::slice::from_ref(&malformed), LIMIT)
        .unwrap();
    assert!(
        world
            .fake
            .events()
            .iter()
            .any(|e| matches!(&e.kind, EventKind::List { ids } if ids.contains(&hostile))),
        "the hostile id was listed all along"
    );
    agent.assert_running().unwrap();
    assert_one_api(&world);
}

/// An unknown key in the config (a typo): `mottak-agent run` exits non-zero
/// at once, naming the key and its line, in `[agent]` and in
/// `[[mottakersystem]]` alike.
#[test]
fn unknown_config_keys_stop_the_agent_naming_key_and_line() {
    let world = World::single(System::new("ms-a")).unwrap();
    let good = world.config_text().unwrap();
    for (after, typo) in [
        ("log_dir = ", "stat_dir = \"/tmp/x\""),
        ("poll_interval = ", "poll_intervall = \"5m\""),
    ] {
        let mut lines: Vec<String> = good.lines().map(str::to_owned).collect();
        let at = lines.iter().position(|l| l.starts_with(after)).unwrap() + 1;
        lines.insert(at, typo.to_owned());
        let line_no = at + 1;
        let path = world.dir().join(format!("typo-{line_no}.toml"));
        std::fs::write(&path, lines.join("\n")).unwrap();
        let (mut cmd, log) = world.agent_command_for(&path).unwrap();
        let mut agent = Agent::spawn(&mut cmd, log).unwrap();
        let status = agent.wait_exit(Duration::from_secs(30)).unwrap();
        let out = agent.output_text();
        let key = typo.split(' ').next().unwrap();
        assert!(!status.success(), "{typo}: exit {status}\n{out}");
        assert!(out.contains(key), "{typo}: the key is named:\n{out}");
        assert!(
            out.contains(&format!(":{line_no}:")) || out.contains(&format!("line {line_no}")),
            "{typo}: line {line_no} is named:\n{out}"
        );
    }
    assert!(
        world.fake.events().is_empty(),
        "nothing was asked of SvarInn"
    );
}
