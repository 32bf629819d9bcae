//! The outbound side of the drop folder is written by another party (the
//! fagsystem, or whoever has its account): nothing it leaves in `ut/` or
//! `ut-feilet/` may make the agent write outside the drop folder, read a file
//! from outside it, block, or drop an update without a word. Each test plants
//! what an attacker would (links out of the drop folder, dangling links,
//! FIFOs, names that are not UTF-8) beside the agent's private files, and
//! checks those files are untouched and the operator or the fagsystem is told.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Result, bail};
use mottak_fixtures::digisos::{Fault, RequestKind, Scope};
use mottak_protocol::console::{Command as ConsoleCommand, Outcome};
use mottak_tests::harness::{entries, walk};
use mottak_tests::outbound_harness::{
    Options, OutboundWorld, SYSTEM, case_id, mottatt, pdf, soker, vedtak,
};

const LIMIT: Duration = Duration::from_secs(30);

/// Every file below `dir` with its bytes (links as `-> target`), to compare
/// a folder outside the drop folder before and after.
fn snapshot(dir: &Path) -> Result<Vec<(PathBuf, Vec<u8>)>> {
    let mut out = Vec::new();
    for rel in walk(dir)? {
        let p = dir.join(&rel);
        let meta = fs::symlink_metadata(&p)?;
        let bytes = if meta.file_type().is_symlink() {
            format!("-> {}", fs::read_link(&p)?.display()).into_bytes()
        } else if meta.is_file() {
            fs::read(&p)?
        } else {
            Vec::new()
        };
        out.push((rel, bytes));
    }
    out.sort();
    Ok(out)
}

fn mkfifo(path: &Path) -> Result<()> {
    let status = std::process::Command::new("mkfifo").arg(path).status()?;
    if !status.success() {
        bail!("mkfifo {} failed", path.display());
    }
    Ok(())
}

/// Writes `ut/<name>/` by hand: `files` as given (bytes, or a link to a path
/// when the bytes start with `->`), a FIFO for each of `fifos`, `KLAR` last
/// unless it is among them.
fn plant(
    w: &OutboundWorld,
    name: &OsStr,
    files: &[(&str, Planted<'_>)],
    with_klar: bool,
) -> Result<PathBuf> {
    let dir = w.ut()?.join(name);
    fs::create_dir_all(&dir)?;
    for (file, what) in files {
        let path = dir.join(file);
        match what {
            Planted::Bytes(b) => fs::write(&path, b)?,
            Planted::Link(to) => symlink(to, &path)?,
            Planted::Fifo => mkfifo(&path)?,
        }
    }
    if with_klar {
        fs::write(dir.join("KLAR"), b"")?;
    }
    Ok(dir)
}

/// One case of [`links_and_fifos_inside_an_update_fail_it_naming_the_file`]:
/// case number, its files, whether `KLAR` is written, words `feil.txt` must hold.
type Planting<'a> = (u32, Vec<(&'a str, Planted<'a>)>, bool, &'a [&'a str]);

enum Planted<'a> {
    Bytes(&'a [u8]),
    Link(&'a Path),
    Fifo,
}

/// Point 1: a bad update whose `feil.txt` is a link to a file outside the
/// drop folder (here the Maskinporten private key), or a dangling link to
/// where a file outside could be created. The agent's report replaces the
/// link in the folder it moves to `ut-feilet/`; the key is byte for byte
/// what it was, and nothing is created at the dangling link's target.
#[test]
fn a_feil_txt_link_is_replaced_by_the_report_never_written_through() -> Result<()> {
    let w = OutboundWorld::start(Options::default())?;
    let key = w.secrets_dir().join("virksomhet.pem");
    let key_before = fs::read(&key)?;
    let journal = w.world.journal_path();
    let created = w.world.root.join("created-through-a-link");
    let mut agent = w.spawn_agent()?;
    let [into_key, into_journal, dangling] = [1, 2, 3].map(case_id);
    // Once the agent is up, its journal exists and is worth overwriting.
    mottak_tests::wait_until("the journal", LIMIT, || journal.is_file())?;

    let bad = b"{\"version\": \"1.0.0\", \"hendelser\": [".as_slice();
    for (case, target) in [
        (&into_key, &key),
        (&into_journal, &journal),
        (&dangling, &created),
    ] {
        plant(
            &w,
            OsStr::new(case),
            &[
                ("digisos-soker.json", Planted::Bytes(bad)),
                ("feil.txt", Planted::Link(target)),
            ],
            true,
        )?;
    }
    for case in [&into_key, &into_journal, &dangling] {
        let (folder, feil) = w.wait_feilet(&mut agent, &format!("{case}-"), LIMIT)?;
        let path = w.ut_feilet()?.join(&folder).join("feil.txt");
        let meta = fs::symlink_metadata(&path)?;
        assert!(
            meta.is_file(),
            "ut-feilet/{folder}/feil.txt is still a link: {meta:?}"
        );
        assert!(feil.contains("not valid JSON"), "{feil}");
        assert!(feil.contains("What to do"), "{feil}");
    }
    assert_eq!(fs::read(&key)?, key_before, "the private key was written");
    assert!(
        !created.exists() && fs::symlink_metadata(&created).is_err(),
        "the dangling link's target was created"
    );
    // The journal is whole: it opens, and holds the three failures.
    let rows = w.journal_outbound()?;
    assert_eq!(
        rows.iter().filter(|r| r.2 == "failed").count(),
        3,
        "{rows:?}"
    );
    agent.terminate(LIMIT)?;
    Ok(())
}

/// Point 5: an operator retries a failed update whose folder in `ut-feilet/`
/// was replaced by a link to a folder outside the drop folder, holding an
/// update and a file. The retry is refused with the reason, the row stays
/// failed, nothing from outside is uploaded, nothing is written there. Put
/// back as a real folder, the same retry sends it.
#[test]
fn a_retry_of_a_failure_whose_folder_became_a_link_is_refused() -> Result<()> {
    let case = case_id(1);
    let w = OutboundWorld::start(Options::default())?;
    w.grant_operator()?;
    // Refused once by Fiks: a failure an operator may retry.
    w.fiks.inject(
        Fault::BadRequest("midlertidig feil hos Fiks".into()),
        Scope::every(RequestKind::Update).case(case.clone()).once(),
    );
    let mut agent = w.spawn_agent()?;
    let doc = soker(vec![mottatt(0)]);
    w.write_update(&case, &doc, &[], LIMIT)?;
    let (folder, feil) = w.wait_feilet(&mut agent, &format!("{case}-"), LIMIT)?;
    assert!(feil.contains("Fiks refused"), "{feil}");
    let update_id = w
        .journal_outbound()?
        .into_iter()
        .find(|r| r.2 == "failed")
        .map(|r| r.0)
        .ok_or_else(|| anyhow::anyhow!("no failed row"))?;

    // The fagsystem's account swaps the folder for a link to one outside.
    let outside = w.world.root.join("outside");
    fs::create_dir(&outside)?;
    let secret = pdf("not for Fiks");
    fs::write(outside.join("vedtak.pdf"), &secret)?;
    fs::write(
        outside.join("digisos-soker.json"),
        serde_json::to_vec(&soker(vec![mottatt(0), vedtak(1, "s", "vedtak.pdf")]))?,
    )?;
    let before = snapshot(&outside)?;
    let in_feilet = w.ut_feilet()?.join(&folder);
    let aside = w.world.root.join("the-real-folder");
    fs::rename(&in_feilet, &aside)?;
    symlink(&outside, &in_feilet)?;

    let retry = || ConsoleCommand::Retry {
        mottakersystem: SYSTEM.into(),
        forsendelse: update_id.clone(),
    };
    match w.console_command(retry(), LIMIT)? {
        Outcome::Error { message, .. } => {
            assert!(message.contains("symbolic link"), "{message}");
            assert!(message.contains(&folder), "{message}");
        }
        ok => panic!("a retry through a link was accepted: {ok:?}"),
    }
    let state = |id: &str| {
        w.journal_outbound()
            .ok()
            .and_then(|rows| rows.into_iter().find(|r| r.0 == id).map(|r| r.2))
    };
    assert_eq!(state(&update_id).as_deref(), Some("failed"));
    // A turn of the worker goes by (another update is sent), and still
    // nothing of the outside folder went anywhere.
    let other = case_id(2);
    let other_doc = soker(vec![mottatt(0)]);
    w.write_update(&other, &other_doc, &[], LIMIT)?;
    w.wait_latest(&mut agent, &other, &other_doc, LIMIT)?;
    assert!(
        w.fiks.files(&case).is_empty(),
        "a file from outside was uploaded"
    );
    assert_eq!(
        w.fiks.updates(&case).len(),
        0,
        "{:?}",
        w.fiks.updates(&case)
    );
    assert_eq!(snapshot(&outside)?, before, "the outside folder changed");
    assert!(fs::symlink_metadata(&in_feilet)?.file_type().is_symlink());
    assert!(!w.claims()?.contains(&update_id), "{:?}", w.claims()?);

    // The real folder back: the same retry sends it.
    fs::remove_file(&in_feilet)?;
    fs::rename(&aside, &in_feilet)?;
    match w.console_command(retry(), LIMIT)? {
        Outcome::Ok { message } => assert!(message.contains("queued again"), "{message}"),
        err => panic!("the retry was refused: {err:?}"),
    }
    w.wait_latest(&mut agent, &case, &doc, LIMIT)?;
    assert_eq!(snapshot(&outside)?, before);
    agent.terminate(LIMIT)?;
    Ok(())
}

/// Point 5, in `ut/`: a folder whose name is not UTF-8 is claimed under a
/// repaired name and ends in `ut-feilet/` with a `feil.txt` saying why; a
/// link to a folder outside (holding a good update) and a FIFO are never
/// followed or opened, and are reported: one warning in the log, and an
/// alert in the console naming each. A good update beside them is sent.
#[test]
fn entries_in_ut_that_are_not_folders_are_reported_not_followed() -> Result<()> {
    // Names without long digit runs, so the log's masking leaves them readable.
    let linked = "3fa85f64-5717-4562-b3fc-abcdefabcdef".to_owned();
    let fifo = "3fa85f64-5717-4562-b3fc-fedcbafedcba".to_owned();
    let good = case_id(1);
    let w = OutboundWorld::start(Options::default())?;
    w.grant_operator()?;
    let mut agent = w.spawn_agent()?;

    let outside = w.world.root.join("outside-update");
    fs::create_dir(&outside)?;
    fs::write(
        outside.join("digisos-soker.json"),
        serde_json::to_vec(&soker(vec![mottatt(0), vedtak(1, "s", "vedtak.pdf")]))?,
    )?;
    fs::write(outside.join("vedtak.pdf"), pdf("outside"))?;
    fs::write(outside.join("KLAR"), b"")?;
    let before = snapshot(&outside)?;
    mottak_tests::wait_until("ut/", LIMIT, || w.ut().is_ok_and(|u| u.is_dir()))?;
    symlink(&outside, w.ut()?.join(&linked))?;
    mkfifo(&w.ut()?.join(&fifo))?;

    let raw = OsStr::from_bytes(b"sak-\xff\xfe");
    plant(
        &w,
        raw,
        &[(
            "digisos-soker.json",
            Planted::Bytes(&serde_json::to_vec(&soker(vec![mottatt(0)]))?),
        )],
        true,
    )?;
    let (folder, feil) = w.wait_feilet(&mut agent, "sak-", LIMIT)?;
    eprintln!("--- ut-feilet/{folder}/feil.txt\n{feil}");
    assert!(feil.contains("not UTF-8"), "{feil}");
    assert!(feil.contains("not a digisos-id"), "{feil}");
    assert!(
        w.ut_feilet()?
            .join(&folder)
            .join("digisos-soker.json")
            .is_file()
    );
    assert!(
        fs::symlink_metadata(w.ut()?.join(raw)).is_err(),
        "still in ut/"
    );

    let good_doc = soker(vec![mottatt(0)]);
    w.write_update(&good, &good_doc, &[], LIMIT)?;
    w.wait_latest(&mut agent, &good, &good_doc, LIMIT)?;
    // The console lists both as an alert, naming each and why.
    let mut alert = None;
    mottak_tests::wait_until("the outbound-ignored alert", LIMIT, || {
        alert = w.console_state(LIMIT).ok().and_then(|s| {
            s.alerts
                .into_iter()
                .find(|a| a.key == format!("outbound-ignored/{SYSTEM}"))
        });
        alert.is_some()
    })?;
    let alert = alert.unwrap_or_else(|| unreachable!());
    let detail = alert.detail.raw().to_owned();
    assert!(
        detail.contains(&linked) && detail.contains("symbolic link"),
        "{detail}"
    );
    assert!(
        detail.contains(&fifo) && detail.contains("FIFO"),
        "{detail}"
    );

    // Never followed: nothing of the outside folder reached Fiks or changed.
    assert!(w.fiks.updates(&linked).is_empty());
    assert!(w.fiks.files(&linked).is_empty());
    assert_eq!(snapshot(&outside)?, before, "the outside folder changed");
    assert!(
        fs::symlink_metadata(w.ut()?.join(&linked))?
            .file_type()
            .is_symlink()
    );
    // Warned once each, not at every turn (several turns have passed).
    let log = agent.output_text();
    for name in [&linked, &fifo] {
        let n = log
            .lines()
            .filter(|l| l.contains(name.as_str()) && l.contains("not followed"))
            .count();
        assert_eq!(n, 1, "warnings about ut/{name}:\n{log}");
    }
    agent.terminate(LIMIT)?;
    Ok(())
}

/// Files inside an update that are links (to files outside) or FIFOs:
/// `digisos-soker.json`, a referenced PDF, `KLAR`. None is followed or
/// opened to block; each update fails with a `feil.txt` naming the file and
/// why; nothing from outside is uploaded; a good update is sent meanwhile
/// and the agent stops on SIGTERM.
#[test]
fn links_and_fifos_inside_an_update_fail_it_naming_the_file() -> Result<()> {
    let w = OutboundWorld::start(Options {
        cases: (1..=8).map(case_id).collect(),
        ..Options::default()
    })?;
    let outside = w.world.root.join("outside.json");
    let secret_pdf = w.world.root.join("outside.pdf");
    let json = serde_json::to_vec(&soker(vec![mottatt(0), vedtak(1, "s", "vedtak.pdf")]))?;
    fs::write(&outside, &json)?;
    fs::write(&secret_pdf, pdf("outside"))?;
    let mut agent = w.spawn_agent()?;
    mottak_tests::wait_until("ut/", LIMIT, || w.ut().is_ok_and(|u| u.is_dir()))?;

    let pdf_bytes = pdf("inside");
    let expect: [Planting<'_>; 6] = [
        (
            1,
            vec![
                ("digisos-soker.json", Planted::Link(&outside)),
                ("vedtak.pdf", Planted::Bytes(&pdf_bytes)),
            ],
            true,
            &["digisos-soker.json", "symbolic link"],
        ),
        (
            2,
            vec![("digisos-soker.json", Planted::Fifo)],
            true,
            &["digisos-soker.json", "FIFO"],
        ),
        (
            3,
            vec![
                ("digisos-soker.json", Planted::Bytes(&json)),
                ("vedtak.pdf", Planted::Link(&secret_pdf)),
            ],
            true,
            &["vedtak.pdf", "symbolic link"],
        ),
        (
            4,
            vec![
                ("digisos-soker.json", Planted::Bytes(&json)),
                ("vedtak.pdf", Planted::Fifo),
            ],
            true,
            &["vedtak.pdf", "FIFO"],
        ),
        (
            5,
            vec![
                ("digisos-soker.json", Planted::Bytes(&json)),
                ("vedtak.pdf", Planted::Bytes(&pdf_bytes)),
                ("KLAR", Planted::Link(&outside)),
            ],
            false,
            &["KLAR", "symbolic link"],
        ),
        (
            6,
            vec![
                ("digisos-soker.json", Planted::Bytes(&json)),
                ("vedtak.pdf", Planted::Bytes(&pdf_bytes)),
                ("KLAR", Planted::Fifo),
            ],
            false,
            &["KLAR", "FIFO"],
        ),
    ];
    for (n, files, klar, _) in &expect {
        plant(&w, OsStr::new(&case_id(*n)), files, *klar)?;
    }
    let good = case_id(7);
    let good_doc = soker(vec![mottatt(0), vedtak(1, "s", "vedtak.pdf")]);
    w.write_update(&good, &good_doc, &[("vedtak.pdf", &pdf_bytes)], LIMIT)?;
    for (n, _, _, words) in &expect {
        let case = case_id(*n);
        let (folder, feil) = w.wait_feilet(&mut agent, &format!("{case}-"), LIMIT)?;
        eprintln!("--- ut-feilet/{folder}/feil.txt\n{feil}");
        for word in *words {
            assert!(
                feil.contains(word),
                "{case}: feil.txt lacks {word:?}:\n{feil}"
            );
        }
        assert!(
            w.fiks.files(&case).is_empty(),
            "{case}: a file was uploaded"
        );
        assert!(w.fiks.updates(&case).is_empty(), "{case}: sent");
    }
    w.wait_latest(&mut agent, &good, &good_doc, LIMIT)?;
    let shas = w.fiks.upload_count_by_sha256();
    let outside_sha = mottak_tests::harness::sha256_hex(&fs::read(&secret_pdf)?);
    assert!(
        !shas.contains_key(&outside_sha),
        "the outside PDF was uploaded"
    );
    assert_eq!(fs::read(&outside)?, json);
    assert!(entries(&w.ut()?).is_empty(), "{:?}", entries(&w.ut()?));
    agent.terminate(LIMIT)?;
    Ok(())
}
