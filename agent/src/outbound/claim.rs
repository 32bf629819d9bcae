//! The drop folder's outbound side: finding updates the fagsystem has
//! finished (`ut/<digisos-id>/KLAR`), claiming them by one rename into
//! `.mottak/`, moving bad ones to `ut-feilet/<digisos-id>-<time>/` with
//! `feil.txt`, and sent or superseded ones to `ut-sendt/<digisos-id>-<time>/`
//! with `kvittering.json`.
//!
//! Both moves are made durable as the inbound publish makes `inn/<id>/`
//! durable (through [`FsOps`]): the file the agent writes and every other
//! file of the folder fsynced, then the folder, then the rename, then both
//! parent folders.
//!
//! A claimed folder is named `ut.<claimed ms>.<n>.<original name>`: it
//! starts with `ut.` (never ends in `.partial`, which inbound staging owns),
//! and the time and counter make it unique even when the fagsystem writes the
//! same case again at once.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use time::OffsetDateTime;
use time::macros::format_description;

use crate::dropfolder::{FsOps, RealFs, STAGING_DIR, UT_DIR, UT_FEILET_DIR, UT_SENDT_DIR};
use crate::names::sanitize_or;

/// The file the fagsystem writes last: the folder is complete.
pub const KLAR: &str = "KLAR";
/// The update itself.
pub const SOKER_JSON: &str = "digisos-soker.json";
/// What went wrong, in `ut-feilet/<..>/`.
pub const FEIL_TXT: &str = "feil.txt";
/// What became of the update, in `ut-sendt/<..>/`.
pub const KVITTERING_JSON: &str = "kvittering.json";
/// How many `-<n>` suffixes are tried for a name already taken in `ut-sendt/`.
const MAX_SUFFIX: u32 = 1000;
/// Prefix of claimed folders in `.mottak/`.
pub const CLAIM_PREFIX: &str = "ut.";

/// The outbound folders of one drop folder.
#[derive(Clone)]
pub struct OutFolders {
    root: PathBuf,
    /// Renames and fsyncs (tests make them fail).
    fs: Arc<dyn FsOps>,
}

impl std::fmt::Debug for OutFolders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutFolders")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

/// A folder in `ut/` whose `KLAR` is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready {
    /// The folder's name in `ut/`, as the fagsystem wrote it.
    pub name: String,
}

impl OutFolders {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self::with_fs(root, Arc::new(RealFs))
    }

    /// With `fs` doing the renames and fsyncs.
    pub fn with_fs(root: impl Into<PathBuf>, fs: Arc<dyn FsOps>) -> Self {
        OutFolders {
            root: root.into(),
            fs,
        }
    }

    pub fn ut(&self) -> PathBuf {
        self.root.join(UT_DIR)
    }

    pub fn ut_feilet(&self) -> PathBuf {
        self.root.join(UT_FEILET_DIR)
    }

    pub fn ut_sendt(&self) -> PathBuf {
        self.root.join(UT_SENDT_DIR)
    }

    pub fn staging(&self) -> PathBuf {
        self.root.join(STAGING_DIR)
    }

    /// `.mottak/<update_id>/`.
    pub fn claimed(&self, update_id: &str) -> PathBuf {
        self.staging().join(update_id)
    }

    /// Folders in `ut/` with `KLAR`, oldest `KLAR` first. Hidden entries
    /// (the fagsystem's temporary folders) and plain files are skipped.
    pub fn ready(&self) -> io::Result<Vec<Ready>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(self.ut())? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                // Not UTF-8: claimed anyway under a repaired name, so it is not lost.
                let raw = entry.file_name().to_string_lossy().into_owned();
                if entry.file_type().is_ok_and(|t| t.is_dir()) && entry.path().join(KLAR).is_file()
                {
                    out.push((std::time::SystemTime::UNIX_EPOCH, Ready { name: raw }));
                }
                continue;
            };
            if name.starts_with('.') || !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let klar = entry.path().join(KLAR);
            match fs::symlink_metadata(&klar) {
                Ok(m) if m.is_file() => {
                    out.push((
                        m.modified().unwrap_or(std::time::SystemTime::UNIX_EPOCH),
                        Ready { name },
                    ));
                }
                _ => {}
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.name.cmp(&b.1.name)));
        Ok(out.into_iter().map(|(_, r)| r).collect())
    }

    /// Claims `ut/<name>/` by renaming it to `.mottak/<update_id>/` and
    /// makes the rename durable (both folders fsynced). Returns the
    /// update id. `Ok(None)` when the folder is gone (someone else took it).
    pub fn claim(&self, ready: &Ready, now: OffsetDateTime, n: u64) -> io::Result<Option<String>> {
        let update_id = claim_name(&ready.name, now, n);
        let from = self.ut().join(&ready.name);
        let to = self.claimed(&update_id);
        match self.fs.rename(&from, &to) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        }
        self.fs.sync_dir(&self.staging())?;
        self.fs.sync_dir(&self.ut())?;
        Ok(Some(update_id))
    }

    /// Claimed folders in `.mottak/`.
    pub fn claims(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(self.staging())? {
            let entry = entry?;
            if let Ok(name) = entry.file_name().into_string()
                && name.starts_with(CLAIM_PREFIX)
                && entry.file_type().is_ok_and(|t| t.is_dir())
            {
                out.push(name);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Writes `feil.txt` into the claimed folder and moves it to
    /// `ut-feilet/<failed_folder>/`. Already there (a crash after the move):
    /// nothing to do.
    pub fn move_to_feilet(
        &self,
        update_id: &str,
        failed_folder: &str,
        feil_txt: &str,
    ) -> io::Result<()> {
        let from = self.claimed(update_id);
        let to = self.ut_feilet().join(failed_folder);
        if !from.is_dir() {
            if to.is_dir() {
                return Ok(());
            }
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} is gone", from.display()),
            ));
        }
        self.write_durably(&from, FEIL_TXT, feil_txt.as_bytes())?;
        if to.exists() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} already exists", to.display()),
            ));
        }
        self.rename_durably(&from, &to)
    }

    /// Writes `kvittering.json` into the claimed folder and moves it to
    /// `ut-sendt/<base>/`, or `ut-sendt/<base>-2/`, `-3`, ... when that name
    /// is taken (two updates of a case finished in the same millisecond, or
    /// a clock set back). Returns the folder's name in `ut-sendt/`;
    /// `Ok(None)` when the claimed folder is not there (moved already).
    ///
    /// Called only after the journal says `sent` or `superseded`, so a crash
    /// anywhere in here is finished by calling it again: the claimed folder
    /// is still in `.mottak/` until the one rename takes it away, and a
    /// `kvittering.json` written before the crash is written again.
    pub fn move_to_sendt(
        &self,
        update_id: &str,
        base: &str,
        kvittering: &[u8],
    ) -> io::Result<Option<String>> {
        let from = self.claimed(update_id);
        if !from.is_dir() {
            return Ok(None);
        }
        self.write_durably(&from, KVITTERING_JSON, kvittering)?;
        let name = self.free_sendt_name(base)?;
        self.rename_durably(&from, &self.ut_sendt().join(&name))?;
        Ok(Some(name))
    }

    /// `base`, or the first of `base-2`, `base-3`, ... not in `ut-sendt/`.
    /// Only the agent creates folders there (one worker per drop folder),
    /// so a name free now is free at the rename.
    fn free_sendt_name(&self, base: &str) -> io::Result<String> {
        let dir = self.ut_sendt();
        if !dir.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "{} is missing; the agent creates it at start (restart it, or create it like ut-feilet/)",
                    dir.display()
                ),
            ));
        }
        let taken = |name: &str| fs::symlink_metadata(dir.join(name)).is_ok();
        if !taken(base) {
            return Ok(base.to_owned());
        }
        (2..=MAX_SUFFIX)
            .map(|n| format!("{base}-{n}"))
            .find(|name| !taken(name))
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!(
                        "{} and {MAX_SUFFIX} suffixed names are all taken",
                        dir.join(base).display()
                    ),
                )
            })
    }

    /// Writes `name` into `dir` (replacing one left by an earlier attempt),
    /// then fsyncs every file in `dir` and `dir` itself, as the inbound
    /// publish does before its rename.
    fn write_durably(&self, dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
        let path = dir.join(name);
        let mut f = fs::File::create(&path)?;
        f.write_all(bytes)?;
        drop(f);
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                self.fs.sync_file(&entry.path())?;
            }
        }
        self.fs.sync_dir(dir)
    }

    /// Renames a claimed folder out of `.mottak/` and fsyncs both parents.
    fn rename_durably(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.fs.rename(from, to)?;
        if let Some(parent) = to.parent() {
            self.fs.sync_dir(parent)?;
        }
        self.fs.sync_dir(&self.staging())
    }

    /// Moves `ut-feilet/<failed_folder>/` back to `.mottak/<update_id>/`
    /// (a person retries it); its `feil.txt` is removed.
    pub fn take_back_from_feilet(&self, failed_folder: &str, update_id: &str) -> io::Result<()> {
        let from = self.ut_feilet().join(failed_folder);
        let to = self.claimed(update_id);
        if to.is_dir() && !from.exists() {
            return Ok(());
        }
        self.fs.rename(&from, &to)?;
        self.fs.sync_dir(&self.staging())?;
        self.fs.sync_dir(&self.ut_feilet())?;
        match fs::remove_file(to.join(FEIL_TXT)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }
}

/// `ut.<ms>.<n>.<name>`, the name repaired when it is not a safe file name.
pub fn claim_name(name: &str, now: OffsetDateTime, n: u64) -> String {
    let ms = now.unix_timestamp_nanos() / 1_000_000;
    let safe = sanitize_or(name, "ukjent");
    format!("{CLAIM_PREFIX}{ms}.{n}.{}", safe.as_str())
}

/// The original folder name inside a claim name (the digisos-id, normally).
pub fn original_name(update_id: &str) -> &str {
    update_id
        .strip_prefix(CLAIM_PREFIX)
        .and_then(|rest| rest.splitn(3, '.').nth(2))
        .unwrap_or(update_id)
}

/// `<year><month><day>T<hour><minute><second>.<ms>Z` (UTC): the time in
/// the names of `ut-feilet/` and `ut-sendt/` folders.
pub fn folder_time(when: OffsetDateTime) -> String {
    let fmt =
        format_description!("[year][month][day]T[hour][minute][second].[subsecond digits:3]Z");
    when.to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_else(|_| when.unix_timestamp().to_string())
}

/// `ut-feilet/<name>-<UTC time>` for an update claimed as `update_id`.
pub fn feilet_name(update_id: &str, now: OffsetDateTime) -> String {
    let when = folder_time(now);
    let name = original_name(update_id);
    // The claim counter keeps two failures in one millisecond apart.
    let n = update_id
        .strip_prefix(CLAIM_PREFIX)
        .and_then(|rest| rest.split('.').nth(1))
        .unwrap_or("0");
    if n == "0" {
        format!("{name}-{when}")
    } else {
        format!("{name}-{when}-{n}")
    }
}

/// `ut-sendt/<name>-<UTC time>` for an update claimed as `update_id` and
/// sent (or superseded) at `when`; [`OutFolders::move_to_sendt`] adds a
/// suffix when the name is taken.
pub fn sendt_name(update_id: &str, when: OffsetDateTime) -> String {
    format!("{}-{}", original_name(update_id), folder_time(when))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folders() -> (tempfile::TempDir, OutFolders) {
        let dir = tempfile::tempdir().unwrap();
        for d in [UT_DIR, UT_FEILET_DIR, STAGING_DIR] {
            fs::create_dir(dir.path().join(d)).unwrap();
        }
        let f = OutFolders::new(dir.path());
        (dir, f)
    }

    fn t(ms: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap()
    }

    #[test]
    fn only_folders_with_klar_are_ready_and_claiming_moves_them_whole() {
        let (_d, f) = folders();
        let case = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
        fs::create_dir(f.ut().join(case)).unwrap();
        fs::write(f.ut().join(case).join(SOKER_JSON), "{}").unwrap();
        fs::create_dir(f.ut().join("still-writing")).unwrap();
        fs::create_dir(f.ut().join(".tmp")).unwrap();
        fs::write(f.ut().join(".tmp").join(KLAR), "").unwrap();
        fs::write(f.ut().join("a-file"), "").unwrap();
        assert!(f.ready().unwrap().is_empty());
        fs::write(f.ut().join(case).join(KLAR), "").unwrap();
        let ready = f.ready().unwrap();
        assert_eq!(ready, [Ready { name: case.into() }]);
        let id = f
            .claim(&ready[0], t(1_700_000_000_123), 0)
            .unwrap()
            .unwrap();
        assert_eq!(id, format!("ut.1700000000123.0.{case}"));
        assert_eq!(original_name(&id), case);
        assert!(!f.ut().join(case).exists());
        assert!(f.claimed(&id).join(SOKER_JSON).is_file());
        assert_eq!(f.claims().unwrap(), std::slice::from_ref(&id));
        // The fagsystem may write the case again at once.
        fs::create_dir(f.ut().join(case)).unwrap();
        fs::write(f.ut().join(case).join(KLAR), "").unwrap();
        let again = f
            .claim(&f.ready().unwrap()[0], t(1_700_000_000_123), 1)
            .unwrap()
            .unwrap();
        assert_ne!(again, id);
        assert_eq!(f.claims().unwrap().len(), 2);
        // A folder taken by someone else in between is not an error.
        assert_eq!(
            f.claim(
                &Ready {
                    name: "gone".into()
                },
                t(1),
                2
            )
            .unwrap(),
            None
        );
    }

    #[test]
    fn a_bad_update_moves_to_ut_feilet_with_feil_txt_and_can_come_back() {
        let (_d, f) = folders();
        let id = "ut.1700000000123.0.case-1";
        fs::create_dir(f.claimed(id)).unwrap();
        fs::write(f.claimed(id).join(SOKER_JSON), "{").unwrap();
        let name = feilet_name(id, t(1_700_000_000_123));
        assert_eq!(name, "case-1-20231114T221320.123Z");
        f.move_to_feilet(id, &name, "- bad JSON\n").unwrap();
        assert!(!f.claimed(id).exists());
        let out = f.ut_feilet().join(&name);
        assert_eq!(
            fs::read_to_string(out.join(FEIL_TXT)).unwrap(),
            "- bad JSON\n"
        );
        assert!(out.join(SOKER_JSON).is_file());
        // Again after a crash: already done.
        f.move_to_feilet(id, &name, "- bad JSON\n").unwrap();
        f.take_back_from_feilet(&name, id).unwrap();
        assert!(f.claimed(id).join(SOKER_JSON).is_file());
        assert!(!f.claimed(id).join(FEIL_TXT).exists());
        fs::remove_dir_all(f.claimed(id)).unwrap();
        assert!(f.claims().unwrap().is_empty());
    }

    /// Renames into `ut-sendt/` fail while `fail` is set (a crash between
    /// the kvittering and the rename, as far as the folders can tell).
    struct FailingRename {
        fail: std::sync::atomic::AtomicBool,
        renames: std::sync::atomic::AtomicU32,
    }

    impl FsOps for FailingRename {
        fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
            if self.fail.load(std::sync::atomic::Ordering::SeqCst)
                && to.parent().is_some_and(|p| p.ends_with(UT_SENDT_DIR))
            {
                return Err(io::Error::other("injected: crashed before the rename"));
            }
            self.renames
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            RealFs.rename(from, to)
        }
        fn sync_file(&self, path: &Path) -> io::Result<()> {
            RealFs.sync_file(path)
        }
        fn sync_dir(&self, path: &Path) -> io::Result<()> {
            RealFs.sync_dir(path)
        }
    }

    #[test]
    fn a_finished_update_moves_to_ut_sendt_with_its_kvittering_and_a_taken_name_gets_a_suffix() {
        let dir = tempfile::tempdir().unwrap();
        for d in [UT_DIR, UT_FEILET_DIR, UT_SENDT_DIR, STAGING_DIR] {
            fs::create_dir(dir.path().join(d)).unwrap();
        }
        let ops = Arc::new(FailingRename {
            fail: true.into(),
            renames: 0.into(),
        });
        let f = OutFolders::with_fs(dir.path(), ops.clone());
        let case = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
        let a = format!("ut.1700000000123.0.{case}");
        let b = format!("ut.1700000000123.1.{case}");
        let c = format!("ut.1700000000999.2.{case}");
        for id in [&a, &b, &c] {
            fs::create_dir(f.claimed(id)).unwrap();
            fs::write(f.claimed(id).join(SOKER_JSON), id.as_bytes()).unwrap();
        }
        // Same case, same millisecond (and so the same second).
        let base = sendt_name(&a, t(1_700_000_000_123));
        assert_eq!(base, format!("{case}-20231114T221320.123Z"));
        assert_eq!(sendt_name(&b, t(1_700_000_000_123)), base);

        // The rename fails: the claim stays, with its kvittering written.
        assert!(f.move_to_sendt(&a, &base, b"{\"n\":1}").is_err());
        assert!(f.claimed(&a).join(KVITTERING_JSON).is_file());
        assert!(fs::read_dir(f.ut_sendt()).unwrap().next().is_none());
        // The next turn finishes it.
        ops.fail.store(false, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(
            f.move_to_sendt(&a, &base, b"{\"n\":1}").unwrap(),
            Some(base.clone())
        );
        assert_eq!(f.move_to_sendt(&a, &base, b"{\"n\":1}").unwrap(), None);
        assert_eq!(ops.renames.load(std::sync::atomic::Ordering::SeqCst), 1);

        let second = f.move_to_sendt(&b, &base, b"{\"n\":2}").unwrap().unwrap();
        assert_eq!(second, format!("{base}-2"));
        // A name the fagsystem emptied but left (an empty folder) is not
        // replaced either.
        fs::create_dir(f.ut_sendt().join(format!("{base}-3"))).unwrap();
        let third = f.move_to_sendt(&c, &base, b"{\"n\":3}").unwrap().unwrap();
        assert_eq!(third, format!("{base}-4"));
        for (name, id, n) in [(&base, &a, 1), (&second, &b, 2), (&third, &c, 3)] {
            let out = f.ut_sendt().join(name);
            assert_eq!(
                fs::read_to_string(out.join(KVITTERING_JSON)).unwrap(),
                format!("{{\"n\":{n}}}")
            );
            assert_eq!(fs::read_to_string(out.join(SOKER_JSON)).unwrap(), *id);
        }
        assert!(f.claims().unwrap().is_empty());
    }

    #[test]
    fn a_missing_ut_sendt_is_named_in_the_error() {
        let (_d, f) = folders();
        let id = "ut.1.0.case-1";
        fs::create_dir(f.claimed(id)).unwrap();
        let err = f.move_to_sendt(id, "case-1-x", b"{}").unwrap_err();
        assert!(err.to_string().contains("ut-sendt"), "{err}");
        assert!(f.claimed(id).is_dir());
    }

    #[test]
    fn hostile_names_are_repaired_in_the_claim() {
        let id = claim_name("../../etc", t(5), 3);
        assert!(!id.contains('/'), "{id}");
        assert!(id.starts_with("ut.5.3."), "{id}");
        assert_eq!(feilet_name(&id, t(5)).matches('/').count(), 0);
    }
}
