use super::dirfd::{FsOps, RealFs};
use super::*;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Real operations, logged, with switchable faults.
#[derive(Default)]
struct Faulty {
    fail_rename: AtomicBool,
    fail_sync_inn: AtomicBool,
    log: Mutex<Vec<String>>,
}

impl Faulty {
    fn log(&self, s: String) {
        self.log.lock().unwrap().push(s);
    }
    fn take_log(&self) -> Vec<String> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

fn short(p: &Path) -> String {
    // The last two components: enough to read the log.
    let mut parts: Vec<String> = p
        .components()
        .rev()
        .take(2)
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.reverse();
    parts.join("/")
}

impl FsOps for Faulty {
    fn rename(
        &self,
        from: &Dir,
        from_name: &Name,
        to: &Dir,
        to_name: &Name,
        replace: Replace,
    ) -> io::Result<()> {
        self.log(format!(
            "rename {} {}",
            short(&from.path_of(from_name)),
            short(&to.path_of(to_name))
        ));
        if self.fail_rename.load(Ordering::SeqCst) {
            return Err(io::Error::other("injected rename failure"));
        }
        RealFs.rename(from, from_name, to, to_name, replace)
    }
    fn sync_file(&self, file: &File, path: &Path) -> io::Result<()> {
        self.log(format!("sync_file {}", short(path)));
        RealFs.sync_file(file, path)
    }
    fn sync_dir(&self, dir: &Dir) -> io::Result<()> {
        self.log(format!("sync_dir {}", short(dir.path())));
        if dir.path().ends_with(INN_DIR) && self.fail_sync_inn.load(Ordering::SeqCst) {
            return Err(io::Error::other("injected fsync failure"));
        }
        RealFs.sync_dir(dir)
    }
}

fn id(s: &str) -> ForsendelseId {
    ForsendelseId::parse(s).unwrap()
}

fn name(s: &str) -> SafeName {
    crate::names::sanitize_file_name(s).unwrap()
}

fn setup() -> (tempfile::TempDir, DropFolder, Arc<Faulty>) {
    let dir = tempfile::tempdir().unwrap();
    let faulty = Arc::new(Faulty::default());
    let drop = DropFolder::with_fs(dir.path(), faulty.clone());
    drop.ensure_layout().unwrap();
    faulty.take_log();
    (dir, drop, faulty)
}

fn forsendelse_json(id: &str) -> Vec<u8> {
    format!("{{\"id\":\"{id}\",\"tittel\":\"Søknad\"}}").into_bytes()
}

fn staged(drop: &DropFolder, s: &str) -> Staging {
    let st = drop.stage(&id(s)).unwrap();
    st.write_forsendelse_json(&forsendelse_json(s)).unwrap();
    let mut f = st.create_file(&name("vedtak æøå.pdf")).unwrap();
    f.write_all(b"%PDF-1.4").unwrap();
    st
}

#[test]
fn layout_is_created_once_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let drop = DropFolder::new(dir.path());
    let created = drop.ensure_layout().unwrap();
    let names: Vec<_> = created
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, LAYOUT);
    let mode = fs::metadata(dir.path().join(STAGING_DIR))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, ".mottak/ is private to the agent");
    assert!(drop.ensure_layout().unwrap().is_empty());
    drop.check_same_filesystem().unwrap();

    // A group-shared, setgid drop folder: the new folders are shared alike.
    let shared = tempfile::tempdir().unwrap();
    fs::set_permissions(shared.path(), fs::Permissions::from_mode(0o2770)).unwrap();
    DropFolder::new(shared.path()).ensure_layout().unwrap();
    let mode = |n: &str| {
        fs::metadata(shared.path().join(n))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode(INN_DIR), 0o2770);
    assert_eq!(mode(FEILET_DIR), 0o2770);
    assert_eq!(mode(STAGING_DIR), 0o700);
    // A staging folder becomes inn/<id>/ as it is: it carries inn/'s mode.
    let drop = DropFolder::new(shared.path());
    let st = drop.stage(&id("s1")).unwrap();
    assert_eq!(
        fs::metadata(st.path()).unwrap().permissions().mode() & 0o7777,
        0o2770
    );

    let missing = DropFolder::new(dir.path().join("nope"));
    assert!(matches!(
        missing.ensure_layout(),
        Err(DropError::NoRoot { .. })
    ));
}

/// `.mottak/` replaced by a link (to another filesystem, or anywhere the
/// fagsystem likes) is refused, never followed. (A mount there is caught by
/// `check_same_filesystem`, which compares the two handles' devices.)
#[test]
fn a_linked_staging_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), dir.path().join(STAGING_DIR)).unwrap();
    let drop = DropFolder::new(dir.path());
    let err = drop.ensure_layout().unwrap_err();
    assert!(
        matches!(err, DropError::Dir(DirError::SymbolicLink { .. })),
        "{err}"
    );
    assert!(
        err.to_string().contains(".mottak is a symbolic link"),
        "{err}"
    );
    assert!(drop.stage(&id("a1")).is_err());
    assert_eq!(fs::read_dir(elsewhere.path()).unwrap().count(), 0);
}

#[test]
fn publish_syncs_then_renames_then_syncs_inn() {
    let (dir, drop, faulty) = setup();
    let st = staged(&drop, "a1");
    let published = drop.publish(st).unwrap();
    assert_eq!(
        published,
        Published::New {
            path: dir.path().join("inn/a1")
        }
    );
    let mut log = faulty.take_log();
    // The two file fsyncs come in directory order; sort just them.
    log[..2].sort();
    assert_eq!(
        log,
        [
            "sync_file a1.partial/forsendelse.json".to_owned(),
            "sync_file a1.partial/vedtak æøå.pdf".to_owned(),
            "sync_dir .mottak/a1.partial".to_owned(),
            "rename .mottak/a1.partial inn/a1".to_owned(),
            format!("sync_dir {}", short(&dir.path().join(INN_DIR))),
            format!("sync_dir {}", short(&dir.path().join(STAGING_DIR))),
        ]
    );
    assert_eq!(
        fs::read(dir.path().join("inn/a1/vedtak æøå.pdf")).unwrap(),
        b"%PDF-1.4"
    );
    assert!(!dir.path().join(".mottak/a1.partial").exists());
}

#[test]
fn a_failed_rename_leaves_the_staging_for_a_retry() {
    let (dir, drop, faulty) = setup();
    let st = staged(&drop, "a1");
    faulty.fail_rename.store(true, Ordering::SeqCst);
    let err = drop.publish(st).unwrap_err();
    assert!(err.to_string().contains("injected rename failure"), "{err}");
    assert!(!dir.path().join("inn/a1").exists());
    faulty.fail_rename.store(false, Ordering::SeqCst);
    let st = drop.existing_staging(&id("a1")).unwrap();
    assert!(matches!(drop.publish(st).unwrap(), Published::New { .. }));
    assert!(dir.path().join("inn/a1/forsendelse.json").exists());
}

/// The crash between the rename and the journal: the folder is in inn/,
/// the journal still says `downloaded`. The retry finds it and does not
/// write it again.
#[test]
fn a_folder_already_in_inn_is_recognised_not_written_again() {
    let (dir, drop, faulty) = setup();
    faulty.fail_sync_inn.store(true, Ordering::SeqCst);
    let err = drop.publish(staged(&drop, "a1")).unwrap_err();
    assert!(err.to_string().contains("injected fsync failure"), "{err}");
    assert!(dir.path().join("inn/a1").is_dir(), "the rename happened");
    // The fagsystem starts importing: a file is already gone.
    fs::remove_file(dir.path().join("inn/a1/vedtak æøå.pdf")).unwrap();

    faulty.fail_sync_inn.store(false, Ordering::SeqCst);
    faulty.take_log();
    let again = staged(&drop, "a1");
    let published = drop.publish(again).unwrap();
    assert!(matches!(published, Published::AlreadyThere { .. }));
    let log = faulty.take_log();
    assert!(log.iter().all(|l| !l.starts_with("rename")), "{log:?}");
    assert!(
        log.iter().any(|l| l.ends_with("/inn")),
        "inn/ is fsynced: {log:?}"
    );
    assert!(
        !dir.path().join("inn/a1/vedtak æøå.pdf").exists(),
        "not written again"
    );
    assert!(
        !dir.path().join(".mottak/a1.partial").exists(),
        "staging discarded"
    );
}

#[test]
fn a_foreign_folder_in_inn_is_not_taken_for_ours() {
    let (dir, drop, _) = setup();
    fs::create_dir(dir.path().join("inn/a1")).unwrap();
    fs::write(
        dir.path().join("inn/a1/forsendelse.json"),
        forsendelse_json("other"),
    )
    .unwrap();
    let err = drop.publish(staged(&drop, "a1")).unwrap_err();
    assert!(matches!(err, DropError::InnOccupied { .. }), "{err}");
    assert!(err.to_string().contains("move it aside"), "{err}");
    assert!(
        dir.path().join(".mottak/a1.partial").exists(),
        "staging kept"
    );
}

#[test]
fn status_tells_waiting_rejected_and_imported_apart() {
    let (dir, drop, _) = setup();
    for s in ["w", "r", "i"] {
        drop.publish(staged(&drop, s)).unwrap();
    }
    // The fagsystem rejects "r" with a reason, imports "i".
    fs::rename(dir.path().join("inn/r"), dir.path().join("feilet/r")).unwrap();
    fs::write(dir.path().join("feilet/r/feil.txt"), "Ukjent saksnummer\n").unwrap();
    fs::rename(dir.path().join("inn/i"), dir.path().join("imported-i")).unwrap();

    assert!(matches!(
        drop.status("w").unwrap(),
        DeliveryStatus::Waiting { .. }
    ));
    assert_eq!(drop.status("i").unwrap(), DeliveryStatus::Imported);
    match drop.status("r").unwrap() {
        DeliveryStatus::Rejected { reason, since } => {
            assert_eq!(reason.as_deref(), Some("Ukjent saksnummer"));
            let age = DeliveryStatus::Rejected {
                reason: None,
                since,
            }
            .age(since + Duration::from_secs(90))
            .unwrap();
            assert_eq!(age, Duration::from_secs(90));
        }
        other => panic!("{other:?}"),
    }
    let scan = drop.scan().unwrap();
    assert!(matches!(scan.status("w"), DeliveryStatus::Waiting { .. }));
    assert!(matches!(
        scan.status("r"),
        DeliveryStatus::Rejected {
            reason: Some(_),
            ..
        }
    ));
    assert_eq!(scan.status("i"), DeliveryStatus::Imported);
    // A stray file in inn/ is not a forsendelse folder.
    fs::write(dir.path().join("inn/stray.txt"), "x").unwrap();
    assert!(!drop.scan().unwrap().inn.contains_key("stray.txt"));
}

#[test]
fn a_rejected_folder_moves_back_to_inn_without_feil_txt() {
    let (dir, drop, _) = setup();
    drop.publish(staged(&drop, "r")).unwrap();
    fs::rename(dir.path().join("inn/r"), dir.path().join("feilet/r")).unwrap();
    fs::write(dir.path().join("feilet/r/feil.txt"), "Feil format").unwrap();
    let feil = drop.retry_rejected(&id("r")).unwrap();
    assert_eq!(feil, FeilTxt::Text("Feil format".into()));
    assert!(dir.path().join("inn/r/forsendelse.json").exists());
    assert!(!dir.path().join("inn/r/feil.txt").exists());
    assert!(!dir.path().join("feilet/r").exists());
    assert!(matches!(
        drop.retry_rejected(&id("r")),
        Err(DropError::NotRejected { .. })
    ));
    // Both present: refuse rather than overwrite.
    fs::create_dir(dir.path().join("feilet/r")).unwrap();
    assert!(matches!(
        drop.retry_rejected(&id("r")),
        Err(DropError::RetryTargetExists { .. })
    ));
}

#[test]
fn stale_staging_is_cleaned_except_what_the_journal_needs() {
    let (dir, drop, _) = setup();
    let _a = staged(&drop, "keep");
    let _b = staged(&drop, "stale");
    fs::create_dir(dir.path().join(".mottak/outbound-claim")).unwrap();
    let removed = drop.clean_staging(&|i| i.as_str() == "keep").unwrap();
    assert_eq!(removed, [dir.path().join(".mottak/stale.partial")]);
    assert!(dir.path().join(".mottak/keep.partial").is_dir());
    assert!(
        dir.path().join(".mottak/outbound-claim").is_dir(),
        "not ours"
    );
}

#[test]
fn stage_starts_fresh_and_files_are_never_overwritten() {
    let (_dir, drop, _) = setup();
    let st = staged(&drop, "a1");
    assert!(matches!(
        st.create_file(&name("vedtak æøå.pdf")),
        Err(DropError::Dir(e)) if e.is_already_exists()
    ));
    let st = drop.stage(&id("a1")).unwrap();
    assert_eq!(fs::read_dir(st.path()).unwrap().count(), 0);
}

#[test]
fn locate_after_a_restart() {
    let (dir, drop, _) = setup();
    // Staged, not published.
    let _s = staged(&drop, "s");
    assert_eq!(drop.locate(&id("s"), true).unwrap(), Some(Location::Staged));
    // Published and waiting, or rejected.
    drop.publish(staged(&drop, "w")).unwrap();
    assert!(matches!(
        drop.locate(&id("w"), true).unwrap(),
        Some(Location::Published(DeliveryStatus::Waiting { .. }))
    ));
    // Published and imported already: nowhere, but the journal had recorded
    // the publish attempt.
    drop.publish(staged(&drop, "i")).unwrap();
    fs::remove_dir_all(dir.path().join("inn/i")).unwrap();
    assert_eq!(
        drop.locate(&id("i"), true).unwrap(),
        Some(Location::Published(DeliveryStatus::Imported))
    );
    // Never staged or published: download again.
    assert_eq!(drop.locate(&id("n"), false).unwrap(), None);
}

/// Logs the start and the end of each `inn/` fsync, which takes a while.
#[derive(Default)]
struct SlowSync {
    log: Mutex<Vec<String>>,
}

impl FsOps for SlowSync {
    fn rename(
        &self,
        from: &Dir,
        from_name: &Name,
        to: &Dir,
        to_name: &Name,
        replace: Replace,
    ) -> io::Result<()> {
        RealFs.rename(from, from_name, to, to_name, replace)?;
        self.log.lock().unwrap().push(format!("renamed {to_name}"));
        Ok(())
    }
    fn sync_file(&self, file: &File, path: &Path) -> io::Result<()> {
        RealFs.sync_file(file, path)
    }
    fn sync_dir(&self, dir: &Dir) -> io::Result<()> {
        if !dir.path().ends_with(INN_DIR) {
            return RealFs.sync_dir(dir);
        }
        self.log.lock().unwrap().push("sync start".into());
        std::thread::sleep(std::time::Duration::from_millis(15));
        RealFs.sync_dir(dir)?;
        self.log.lock().unwrap().push("sync end".into());
        Ok(())
    }
}

/// Publishes at the same time share the fsyncs of `inn/`, and none returns
/// before a sync that started after its own rename has ended.
#[test]
fn concurrent_publishes_share_the_inn_fsync_and_wait_for_one_covering_them() {
    let dir = tempfile::tempdir().unwrap();
    let fs_ops = Arc::new(SlowSync::default());
    let drop = DropFolder::with_fs(dir.path(), fs_ops.clone());
    drop.ensure_layout().unwrap();
    let names: Vec<String> = (0..16).map(|n| format!("g{n:02}")).collect();
    let mut staged_all = Vec::new();
    for n in &names {
        let st = staged(&drop, n);
        drop.sync_staging(&st).unwrap();
        staged_all.push(st);
    }
    fs_ops.log.lock().unwrap().clear();
    std::thread::scope(|scope| {
        for st in staged_all {
            let drop = drop.clone();
            let fs_ops = fs_ops.clone();
            scope.spawn(move || {
                let id = st.id().as_str().to_owned();
                let published = drop.publish_synced(st).unwrap();
                assert!(matches!(published, Published::New { .. }));
                fs_ops.log.lock().unwrap().push(format!("returned {id}"));
            });
        }
    });
    let log = fs_ops.log.lock().unwrap().clone();
    let syncs = log.iter().filter(|l| *l == "sync start").count();
    assert!(
        syncs < names.len(),
        "{syncs} syncs for 16 publishes: {log:?}"
    );
    for n in &names {
        let renamed = log
            .iter()
            .position(|l| *l == format!("renamed {n}"))
            .unwrap();
        let returned = log
            .iter()
            .position(|l| *l == format!("returned {n}"))
            .unwrap();
        let covering = log[renamed..returned]
            .iter()
            .position(|l| l == "sync start")
            .map(|i| i + renamed);
        let covering = covering.unwrap_or_else(|| panic!("{n}: no sync after its rename: {log:?}"));
        assert!(
            log[covering..returned].iter().any(|l| l == "sync end"),
            "{n} returned before its sync ended: {log:?}"
        );
        assert!(dir.path().join(INN_DIR).join(n).is_dir());
    }
}

fn mkfifo(path: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
}

/// A rejected forsendelse whose `feil.txt` the fagsystem (or whoever has
/// its account) made something else than a regular file.
fn rejected_with(make_feil: impl FnOnce(&Path)) -> (tempfile::TempDir, DropFolder) {
    let (dir, drop, _) = setup();
    drop.publish(staged(&drop, "r")).unwrap();
    fs::rename(dir.path().join("inn/r"), dir.path().join("feilet/r")).unwrap();
    make_feil(&dir.path().join("feilet/r/feil.txt"));
    (dir, drop)
}

/// Point 2 of issue 12: `feil.txt` as a link to the agent's private key is
/// never read through: the reason says it was refused, and holds nothing of
/// the key; moving it back removes the link, not the key.
#[test]
fn a_feil_txt_that_links_to_a_secret_is_refused_unread() {
    let secret_dir = tempfile::tempdir().unwrap();
    let key = secret_dir.path().join("agent.key");
    fs::write(&key, "-----BEGIN PRIVATE KEY----- SECRET").unwrap();
    let (dir, drop) = rejected_with(|feil| std::os::unix::fs::symlink(&key, feil).unwrap());
    let DeliveryStatus::Rejected { reason, .. } = drop.status("r").unwrap() else {
        panic!("not rejected")
    };
    let reason = reason.unwrap();
    assert!(
        reason.contains("feil.txt refused: it is a symbolic link"),
        "{reason}"
    );
    assert!(!reason.contains("SECRET"), "{reason}");
    let (scanned, _) = drop.scan().unwrap().feilet["r"].clone();
    assert!(!scanned.unwrap().contains("SECRET"));
    assert_eq!(
        drop.retry_rejected(&id("r")).unwrap(),
        FeilTxt::Refused("a symbolic link")
    );
    assert!(dir.path().join("inn/r/forsendelse.json").exists());
    assert!(fs::symlink_metadata(dir.path().join("inn/r/feil.txt")).is_err());
    assert_eq!(
        fs::read(&key).unwrap(),
        b"-----BEGIN PRIVATE KEY----- SECRET"
    );
}

/// A whole `feilet/<id>` that is a link to a folder outside: not read, not moved.
#[test]
fn a_feilet_folder_that_is_a_link_is_refused() {
    let (dir, drop, _) = setup();
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("feil.txt"), "SECRET").unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("feilet/r")).unwrap();
    let DeliveryStatus::Rejected { reason, .. } = drop.status("r").unwrap() else {
        panic!("not rejected")
    };
    let reason = reason.unwrap();
    assert!(
        reason.contains("refused") && !reason.contains("SECRET"),
        "{reason}"
    );
    let err = drop.retry_rejected(&id("r")).unwrap_err();
    assert!(
        err.to_string().contains("feilet/r is a symbolic link"),
        "{err}"
    );
    assert!(outside.path().join("feil.txt").exists());
    assert!(!dir.path().join("inn/r").exists());
}

/// Point 4 of issue 12: a FIFO as `feil.txt` neither blocks the status nor
/// the move back (it is removed unopened).
#[test]
fn a_feil_txt_fifo_never_blocks() {
    let (dir, drop) = rejected_with(mkfifo);
    let started = std::time::Instant::now();
    let DeliveryStatus::Rejected { reason, .. } = drop.status("r").unwrap() else {
        panic!("not rejected")
    };
    assert!(reason.unwrap().contains("refused: it is a FIFO"));
    assert_eq!(
        drop.retry_rejected(&id("r")).unwrap(),
        FeilTxt::Refused("a FIFO (named pipe)")
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(dir.path().join("inn/r/forsendelse.json").exists());
    assert!(fs::symlink_metadata(dir.path().join("inn/r/feil.txt")).is_err());
}

/// A socket is removed unopened too; a folder named `feil.txt` is left,
/// and the move refused with a reason that says what to do.
#[test]
fn a_feil_txt_socket_or_folder() {
    let (dir, drop) = rejected_with(|feil| {
        std::mem::forget(std::os::unix::net::UnixListener::bind(feil).unwrap());
    });
    assert_eq!(
        drop.retry_rejected(&id("r")).unwrap(),
        FeilTxt::Refused("a socket")
    );
    assert!(dir.path().join("inn/r").is_dir());

    let (dir, drop) = rejected_with(|feil| fs::create_dir(feil).unwrap());
    let DeliveryStatus::Rejected { reason, .. } = drop.status("r").unwrap() else {
        panic!("not rejected")
    };
    assert!(reason.unwrap().contains("refused: it is a folder"));
    let err = drop.retry_rejected(&id("r")).unwrap_err();
    assert!(
        err.to_string()
            .contains("feil.txt is a folder, not a regular file"),
        "{err}"
    );
    assert!(dir.path().join("feilet/r/feil.txt").is_dir());
    assert!(!dir.path().join("inn/r").exists());
}

/// A long `feil.txt` is cut, not read whole.
#[test]
fn a_long_feil_txt_is_cut() {
    let (_dir, drop) = rejected_with(|feil| fs::write(feil, "x".repeat(200_000)).unwrap());
    let DeliveryStatus::Rejected { reason, .. } = drop.status("r").unwrap() else {
        panic!("not rejected")
    };
    let reason = reason.unwrap();
    assert!(reason.len() < 70_000 && reason.ends_with("(cut: feil.txt is longer)"));
}

/// Each channel's staging has its own suffix: the SvarInn cleanup at startup never takes a
/// Fiks IO message's staging (or the other way round), and a published Fiks IO folder is
/// recognised as ours by its `melding.json`.
#[test]
fn fiks_io_staging_is_its_own_and_its_melding_json_is_recognised() {
    let (dir, drop, _f) = setup();
    let m = "0e5b4c3a-2d1f-4a9b-8c7d-6e5f4a3b2c1d";
    let svarinn = staged(&drop, "f-1");
    let fiks = drop.stage_for(StagingKind::FiksIo, &id(m)).unwrap();
    fiks.write_melding_json(format!("{{\"meldingId\":\"{m}\"}}").as_bytes())
        .unwrap();
    let removed = drop.clean_staging(&|_| false).unwrap();
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert!(removed[0].ends_with("f-1.partial"));
    assert!(
        drop.existing_staging_for(StagingKind::FiksIo, &id(m))
            .is_some()
    );
    assert!(
        drop.existing_staging(&id(m)).is_none(),
        "not a SvarInn staging"
    );
    drop.discard(svarinn).ok();
    assert_eq!(
        drop.locate_for(StagingKind::FiksIo, &id(m), true).unwrap(),
        Some(Location::Staged)
    );
    // Published, then found again after a crash before the journal heard of it.
    let published = drop.publish(fiks).unwrap();
    assert!(matches!(published, Published::New { .. }));
    let again = drop.stage_for(StagingKind::FiksIo, &id(m)).unwrap();
    assert!(matches!(
        drop.publish(again).unwrap(),
        Published::AlreadyThere { .. }
    ));
    assert!(
        dir.path()
            .join("inn")
            .join(m)
            .join("melding.json")
            .is_file()
    );
    let kept = drop
        .clean_staging_for(StagingKind::FiksIo, &|_| false)
        .unwrap();
    assert!(kept.is_empty(), "{kept:?}");
}
