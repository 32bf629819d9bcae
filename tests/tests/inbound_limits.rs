//! A hostile SvarInn against the real agent (issue 12, points 6 and 7): an
//! endless or oversized body never takes more than `max_forsendelse_size` of
//! the drop folder's disk and ends `failed` with the limit named; a full disk
//! only makes downloads wait; a list of 100,000 items is read as the 200 the
//! API promises and logs a bounded number of lines.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use mottak_fixtures::svarinn::{Fault, NewForsendelse, Plaintext, RequestKind, Scope};
use mottak_tests::harness::{
    Ack, Installed, System, World, count_lists, download_starts, mottak_feilet_of, small_pdf,
};

const LIMIT: Duration = Duration::from_secs(120);
const MIB: u64 = 1 << 20;

fn add_pdf(world: &World, sys: &Installed, n: usize, len: usize) -> String {
    world
        .block_on(world.fake.add_forsendelse(NewForsendelse::pdf(
            &sys.spec.username,
            format!("dokument-{n}.pdf"),
            Plaintext::Bytes(small_pdf(n, len)),
        )))
        .unwrap()
}

fn add_generated(world: &World, sys: &Installed, seed: u64, size: u64) -> String {
    world
        .block_on(world.fake.add_forsendelse(NewForsendelse::pdf(
            &sys.spec.username,
            format!("stor-{seed}.pdf"),
            Plaintext::Generated { seed, size },
        )))
        .unwrap()
}

/// Bytes of every file under `dir` (0 when it is gone).
fn tree_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => tree_size(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

/// An endless indefinite-length body with `size = 0` in the list, a body
/// larger than declared-nothing, and one whose declared size is over the cap:
/// the staging never holds more than the cap (+ a write buffer), each ends
/// `failed` at once with the limit named and mottakFeilet(permanent=false),
/// the declared one is never downloaded, and the others are delivered.
#[test]
fn over_cap_bodies_fail_at_once_and_never_fill_the_disk() {
    let world = World::single(
        System::new("ms-a")
            .ack(Ack::OnDelivery)
            .extra("max_forsendelse_size = \"4MiB\""),
    )
    .unwrap();
    let sys = world.first().unwrap().clone();
    let f = &world.fake;
    let endless = add_pdf(&world, &sys, 0, 8000);
    let undeclared = add_generated(&world, &sys, 1, 6 * MIB);
    let declared = add_generated(&world, &sys, 2, 6 * MIB);
    let good: Vec<String> = (3..6).map(|n| add_pdf(&world, &sys, n, 20_000)).collect();
    for id in [&endless, &undeclared] {
        f.inject(
            Fault::UndeclaredSize,
            Scope::forsendelse(id).on(RequestKind::List),
        )
        .unwrap();
    }
    f.inject(
        Fault::EndlessBody,
        Scope::forsendelse(&endless).on(RequestKind::Download),
    )
    .unwrap();

    let mut agent = world.spawn_agent().unwrap();
    let bad = [endless.clone(), undeclared.clone(), declared.clone()];
    let mut largest = 0u64;
    world
        .wait(
            &mut agent,
            "the over-cap forsendelser failed",
            LIMIT,
            || {
                largest = largest.max(tree_size(&sys.staging()));
                bad.iter()
                    .all(|id| world.state_of(id).as_deref() == Some("failed"))
            },
        )
        .unwrap();
    world
        .wait_published(&mut agent, &sys, &good, LIMIT)
        .unwrap();
    world
        .wait(&mut agent, "mottakFeilet for each", LIMIT, || {
            let events = f.events();
            bad.iter()
                .all(|id| !mottak_feilet_of(&events, id).is_empty())
        })
        .unwrap();
    assert!(
        largest <= 4 * MIB + MIB,
        "the staging held {largest} bytes, over the 4 MiB cap"
    );
    let events = f.events();
    for id in &bad {
        let row = world.journal_row(id).unwrap().unwrap();
        let error = row.last_error.unwrap_or_default();
        assert!(
            error.contains("max_forsendelse_size (4 MiB)"),
            "{id}: {error}"
        );
        let reports = mottak_feilet_of(&events, id);
        assert_eq!(reports.len(), 1, "{id}: {reports:?}");
        assert!(!reports[0].1, "not permanent: {reports:?}");
        assert!(reports[0].0.contains("max_forsendelse_size"), "{reports:?}");
        assert!(!sys.inn_of(id).exists(), "{id} was published");
    }
    // Failed at once: one download each, none for the one declared too large.
    assert_eq!(download_starts(&events, &endless), 1);
    assert_eq!(download_starts(&events, &undeclared), 1);
    assert_eq!(download_starts(&events, &declared), 0);
    let endless_row = world.journal_row(&endless).unwrap().unwrap();
    assert!(
        endless_row
            .last_error
            .unwrap_or_default()
            .contains("was cut there"),
        "cut as it streamed"
    );
    // The staging of the failed ones is gone.
    world
        .wait(&mut agent, "an empty staging folder", LIMIT, || {
            tree_size(&sys.staging()) == 0
        })
        .unwrap();
}

/// A list of 100,003 items (3 forsendelser, then junk): the first 200 are
/// taken, one warning says how many more were ignored and one how many of
/// those taken could not be read, per poll; the 3 are delivered. A list over
/// 8 MiB is refused unread with a clear error. The log stays small.
#[test]
fn a_huge_list_is_read_as_one_page_with_bounded_logging() {
    let world =
        World::single(System::new("ms-a").ack(Ack::OnDelivery).poll_interval("1s")).unwrap();
    let sys = world.first().unwrap().clone();
    let f = &world.fake;
    let ids: Vec<String> = (0..3).map(|n| add_pdf(&world, &sys, n, 8000)).collect();
    let padding = f
        .inject(
            Fault::ExtraListItems(100_000),
            Scope::every(RequestKind::List),
        )
        .unwrap();
    let mut agent = world.spawn_agent().unwrap();
    world.wait_published(&mut agent, &sys, &ids, LIMIT).unwrap();
    world
        .wait_polls(&mut agent, &sys.spec.username, 2, LIMIT)
        .unwrap();
    f.remove_fault(padding);
    // 1,000,000 items: about 20 MB, over the 8 MiB a list may be.
    f.inject(
        Fault::ExtraListItems(1_000_000),
        Scope::every(RequestKind::List),
    )
    .unwrap();
    world
        .wait(&mut agent, "a refused oversized list", LIMIT, || {
            agent_text(&world).contains("larger than 8 MiB")
        })
        .unwrap();
    world
        .wait_polls(&mut agent, &sys.spec.username, 1, LIMIT)
        .unwrap();
    agent.terminate(Duration::from_secs(30)).unwrap();

    let log = agent.output_text();
    let polls = count_lists(&f.events(), &sys.spec.username);
    // While the 3 are listed: 100,003 items, 197 of the 200 taken are junk;
    // after their kvittering: 100,000 and 200.
    let ignored: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("took the first 200 and ignored 998"))
        .collect();
    assert!(ignored[0].contains("ignored 99803"), "{log}");
    assert!(ignored.len() <= polls, "{} > {polls}", ignored.len());
    let unreadable: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("list items do not match SvarInn's API"))
        .collect();
    assert!(unreadable.len() <= polls, "{} > {polls}", unreadable.len());
    assert!(
        unreadable[0].contains("197 list items") && unreadable[0].contains("first: ekstra-0"),
        "{}",
        unreadable[0]
    );
    // A handful of lines per poll and per forsendelse, whatever the list held.
    let lines = log.lines().count();
    assert!(
        lines <= 40 + 4 * polls,
        "{lines} log lines for {polls} polls:\n{log}"
    );
}

fn agent_text(world: &World) -> String {
    world.all_logs().unwrap_or_default()
}

/// A small tmpfs mounted over a folder while the test runs.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// `None` (with the reason printed) where mounting is not allowed.
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs(dir.to_owned())),
            Ok(o) => {
                eprintln!(
                    "skipped: cannot mount a tmpfs (needs root): {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("skipped: cannot run mount: {e}");
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The drop folder on a 16 MiB tmpfs with `min_free_space = 8MiB`: with a
/// ballast leaving 6 MiB free nothing is downloaded (retry_wait, the limit
/// named, never failed); with 11 MiB free a small one goes through and a
/// 5 MiB one of undeclared size stops mid-write; once the ballast is gone it
/// is delivered too. Each is delivered once, nothing fails.
#[test]
fn low_free_space_waits_and_delivers_once_space_is_back() {
    let world = World::single(
        System::new("ms-a")
            .ack(Ack::OnDelivery)
            .extra("min_free_space = \"8MiB\""),
    )
    .unwrap();
    let sys = world.first().unwrap().clone();
    let Some(_tmpfs) = Tmpfs::mount(&sys.drop_folder, "16m") else {
        return;
    };
    let ballast = sys.drop_folder.join("ballast.bin");
    std::fs::write(&ballast, vec![0xA5u8; 10 << 20]).unwrap();
    let f = &world.fake;
    let small = add_pdf(&world, &sys, 0, 100_000);
    let big = add_generated(&world, &sys, 7, 5 * MIB);
    f.inject(
        Fault::UndeclaredSize,
        Scope::forsendelse(&big).on(RequestKind::List),
    )
    .unwrap();

    let mut agent = world.spawn_agent().unwrap();
    let both = [small.clone(), big.clone()];
    world
        .wait(&mut agent, "both waiting for space", LIMIT, || {
            both.iter().all(|id| {
                world.journal_row(id).ok().flatten().is_some_and(|r| {
                    r.state == "retry_wait"
                        && r.last_error
                            .as_deref()
                            .is_some_and(|e| e.contains("min_free_space keeps 8 MiB"))
                })
            })
        })
        .unwrap();
    let events = f.events();
    assert_eq!(
        download_starts(&events, &small),
        0,
        "downloaded on a full disk"
    );
    assert_eq!(
        download_starts(&events, &big),
        0,
        "downloaded on a full disk"
    );

    // 11 MiB free: the small one fits; the big one passes the check before
    // it starts (its size is not declared) and is stopped while it writes.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&ballast)
        .unwrap()
        .set_len(5 * MIB)
        .unwrap();
    world
        .wait_published(&mut agent, &sys, std::slice::from_ref(&small), LIMIT)
        .unwrap();
    world
        .wait(
            &mut agent,
            "the big one stopped while writing",
            LIMIT,
            || {
                download_starts(&f.events(), &big) >= 1
                    && world.state_of(&big).as_deref() == Some("retry_wait")
            },
        )
        .unwrap();
    assert!(!sys.is_published(&big));

    std::fs::remove_file(&ballast).unwrap();
    world
        .wait_published(&mut agent, &sys, std::slice::from_ref(&big), LIMIT)
        .unwrap();
    world.wait_state(&mut agent, &both, "acked", LIMIT).unwrap();
    let events = f.events();
    for id in &both {
        assert!(
            mottak_feilet_of(&events, id).is_empty(),
            "{id} reported failed"
        );
    }
    assert!(
        world
            .journal_rows()
            .unwrap()
            .iter()
            .all(|r| r.state != "failed"),
        "{}",
        world.journal_summary()
    );
    agent.terminate(Duration::from_secs(30)).unwrap();
}
