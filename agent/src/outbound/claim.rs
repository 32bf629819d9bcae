//! The drop folder's outbound side: finding updates the fagsystem has
//! finished (`ut/<digisos-id>/KLAR`), claiming them by one rename into
//! `.mottak/`, moving bad ones to `ut-feilet/<digisos-id>-<time>/` with
//! `feil.txt`, and sent or superseded ones to `ut-sendt/<digisos-id>-<time>/`
//! with `kvittering.json`.
//!
//! Every operation goes through [`crate::dropfolder::dirfd`]: relative to
//! directory handles, by single names, never following a link. The
//! fagsystem writes `ut/` and may replace anything it wrote with a link or
//! a FIFO at any moment, so nothing here is checked and then used by path:
//! a folder is opened (a link refused) and then used through its handle,
//! and the agent's own files (`feil.txt`, `kvittering.json`) are written
//! under a temporary name and renamed over whatever is there, so a link of
//! that name is replaced, never written through.
//!
//! Both moves are made durable as the inbound publish makes `inn/<id>/`
//! durable (renames and fsyncs through [`FsOps`]): the file the agent writes
//! and every other regular file of the folder fsynced, then the folder,
//! then the rename, then both parent folders.
//!
//! A claimed folder is named `ut.<claimed ms>.<n>.<original name>`: it
//! starts with `ut.` (never ends in `.partial`, which inbound staging owns),
//! and the time and counter make it unique even when the fagsystem writes the
//! same case again at once. A name that is not UTF-8 is claimed under a
//! repaired one (each bad byte shown as U+FFFD), so it is not lost: its
//! check then fails and says why.

use std::path::PathBuf;
use std::sync::Arc;

use time::OffsetDateTime;
use time::macros::format_description;

use super::error::FeiletProblem;
use crate::dropfolder::dirfd::{Dir, DirError, FsOps, Kind, Name, RealFs, Replace};
use crate::dropfolder::{STAGING_DIR, UT_DIR, UT_FEILET_DIR, UT_SENDT_DIR};
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
/// The mode of the files the agent writes (less the umask, as `File::create`).
const FILE_MODE: u32 = 0o666;

/// The outbound folders of one drop folder. Holds the root's path only to
/// open it (it is the admin's, from the config) and for messages.
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

/// A folder in `ut/` with an entry named `KLAR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready {
    /// The folder's name in `ut/`, as the fagsystem wrote it (maybe not UTF-8).
    pub name: Name,
}

impl Ready {
    /// The name as text, each byte that is not UTF-8 shown as U+FFFD.
    pub fn shown(&self) -> String {
        self.name.to_string_lossy().into_owned()
    }
}

/// An entry in `ut/` that is not a folder the agent may claim: a symbolic
/// link (to a folder or not), a FIFO, a socket, a device. Never followed or
/// opened; reported (a log line, an alert in the console) while it is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    /// The entry's name, escaped for a message.
    pub name: String,
    pub kind: Kind,
}

impl Ignored {
    /// Why it is left alone, in a sentence for the log and the console.
    pub fn reason(&self) -> String {
        format!(
            "ut/{} is {}, not a folder: not followed and not claimed; the agent sends only real folders written into ut/ (remove it, and write the update as a folder)",
            self.name,
            self.kind.described()
        )
    }
}

/// What `ut/` holds: folders ready to claim, and entries left alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UtScan {
    /// Oldest `KLAR` first.
    pub ready: Vec<Ready>,
    pub ignored: Vec<Ignored>,
    /// Folders without `KLAR` yet (being written), in name order: watched
    /// for their `KLAR`.
    pub waiting: Vec<Name>,
}

fn name(s: &str) -> Result<Name, DirError> {
    Name::new(s)
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

    /// `ut/`'s path, for messages (and tests); never opened by path.
    pub fn ut(&self) -> PathBuf {
        self.root.join(UT_DIR)
    }

    /// `ut-feilet/`'s path, for messages.
    pub fn ut_feilet(&self) -> PathBuf {
        self.root.join(UT_FEILET_DIR)
    }

    /// `ut-sendt/`'s path, for messages.
    pub fn ut_sendt(&self) -> PathBuf {
        self.root.join(UT_SENDT_DIR)
    }

    /// `.mottak/`'s path, for messages.
    pub fn staging(&self) -> PathBuf {
        self.root.join(STAGING_DIR)
    }

    /// `.mottak/<update_id>/`'s path, for messages.
    pub fn claimed(&self, update_id: &str) -> PathBuf {
        self.staging().join(update_id)
    }

    /// Opens one of the drop folder's own folders (`ut/`, `.mottak/`, ...);
    /// a link in its place is refused.
    fn open(&self, sub: &'static str) -> Result<Dir, DirError> {
        Dir::open_root(&self.root, self.fs.clone())?.open_dir(&Name::fixed(sub))
    }

    pub fn ut_dir(&self) -> Result<Dir, DirError> {
        self.open(UT_DIR)
    }

    pub fn staging_dir(&self) -> Result<Dir, DirError> {
        self.open(STAGING_DIR)
    }

    pub fn ut_feilet_dir(&self) -> Result<Dir, DirError> {
        self.open(UT_FEILET_DIR)
    }

    pub fn ut_sendt_dir(&self) -> Result<Dir, DirError> {
        self.open(UT_SENDT_DIR)
    }

    /// The claimed folder `.mottak/<update_id>/`, opened; `Ok(None)` when it
    /// is not there. Anything but a folder in its place is refused.
    pub fn claimed_dir(&self, update_id: &str) -> Result<Option<Dir>, DirError> {
        match self.staging_dir()?.open_dir(&name(update_id)?) {
            Ok(dir) => Ok(Some(dir)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Folders in `ut/` with `KLAR`, oldest `KLAR` first, and the entries
    /// that are not folders (links, FIFOs, ...), which are never followed.
    /// Hidden entries (the fagsystem's temporary folders) and plain files
    /// are skipped. A `KLAR` that is not a regular file still makes the
    /// folder ready: its check fails and `feil.txt` says why, rather than
    /// the folder waiting for ever without a word.
    pub fn scan_ut(&self) -> Result<UtScan, DirError> {
        let ut = self.ut_dir()?;
        let klar = Name::fixed(KLAR);
        let mut ready = Vec::new();
        let mut ignored = Vec::new();
        let mut waiting = Vec::new();
        for entry in ut.entries()? {
            if entry.name.as_bytes().starts_with(b".") {
                continue;
            }
            match entry.meta.kind {
                Kind::Dir => {}
                Kind::File => continue,
                kind => {
                    ignored.push(Ignored {
                        name: entry.name.to_string_lossy().escape_debug().to_string(),
                        kind,
                    });
                    continue;
                }
            }
            let dir = match ut.open_dir(&entry.name) {
                Ok(dir) => dir,
                // Claimed or moved meanwhile, or swapped for a link: next turn.
                Err(_) => continue,
            };
            // A folder that cannot be looked into is not ready yet; it
            // must not hold up the others.
            match dir.stat(&klar) {
                Ok(Some(m)) => ready.push((
                    m.modified,
                    Ready {
                        name: entry.name.clone(),
                    },
                )),
                Ok(None) => waiting.push(entry.name.clone()),
                Err(_) => {}
            }
        }
        ready.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.name.cmp(&b.1.name)));
        ignored.sort_by(|a, b| a.name.cmp(&b.name));
        waiting.sort();
        Ok(UtScan {
            ready: ready.into_iter().map(|(_, r)| r).collect(),
            ignored,
            waiting,
        })
    }

    /// Folders in `ut/` with `KLAR` ([`Self::scan_ut`] without the ignored).
    pub fn ready(&self) -> Result<Vec<Ready>, DirError> {
        Ok(self.scan_ut()?.ready)
    }

    /// Claims `ut/<name>/` by renaming it to `.mottak/<update_id>/` and
    /// makes the rename durable (both folders fsynced). Returns the
    /// update id. `Ok(None)` when the folder is gone (someone else took it)
    /// or is no longer a folder (swapped for a link since it was listed:
    /// the next scan reports it).
    pub fn claim(
        &self,
        ready: &Ready,
        now: OffsetDateTime,
        n: u64,
    ) -> Result<Option<String>, DirError> {
        let ut = self.ut_dir()?;
        let staging = self.staging_dir()?;
        match ut.stat(&ready.name)? {
            Some(m) if m.kind == Kind::Dir => {}
            _ => return Ok(None),
        }
        let update_id = claim_name(&ready.shown(), now, n);
        let to = name(&update_id)?;
        match ut.rename(&ready.name, &staging, &to, Replace::Never) {
            Ok(()) => {}
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        }
        // The entry moved is whatever was there at the rename: a link
        // swapped in since the stat goes back to ut/, where it is reported.
        if let Err(e) = staging.open_dir(&to) {
            if e.refused_kind().is_some() {
                staging.rename(&to, &ut, &ready.name, Replace::Never)?;
                return Ok(None);
            }
            return Err(e);
        }
        staging.sync()?;
        ut.sync()?;
        Ok(Some(update_id))
    }

    /// Claimed folders in `.mottak/`.
    pub fn claims(&self) -> Result<Vec<String>, DirError> {
        let mut out: Vec<String> = self
            .staging_dir()?
            .entries()?
            .into_iter()
            .filter(|e| e.meta.kind == Kind::Dir)
            .filter_map(|e| e.name.to_str().map(str::to_owned))
            .filter(|n| n.starts_with(CLAIM_PREFIX))
            .collect();
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
    ) -> Result<(), DirError> {
        let staging = self.staging_dir()?;
        let feilet = self.ut_feilet_dir()?;
        let (from, to) = (name(update_id)?, name(failed_folder)?);
        let dir = match staging.open_dir(&from) {
            Ok(dir) => dir,
            Err(e) if e.is_not_found() => {
                return match feilet.stat(&to)? {
                    Some(m) if m.kind == Kind::Dir => Ok(()),
                    _ => Err(e),
                };
            }
            Err(e) => return Err(e),
        };
        write_durably(&dir, FEIL_TXT, feil_txt.as_bytes())?;
        staging.rename(&from, &feilet, &to, Replace::Never)?;
        feilet.sync()?;
        staging.sync()
    }

    /// Writes `kvittering.json` into the claimed folder and moves it to
    /// `ut-sendt/<base>/`, or `ut-sendt/<base>-2/`, `-3`, ... when that name
    /// is taken (two updates of a case finished in the same millisecond, a
    /// clock set back, or an entry the fagsystem left). Returns the folder's
    /// name in `ut-sendt/`; `Ok(None)` when the claimed folder is not there
    /// (moved already).
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
    ) -> Result<Option<String>, DirError> {
        let staging = self.staging_dir()?;
        let from = name(update_id)?;
        let dir = match staging.open_dir(&from) {
            Ok(dir) => dir,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let sendt = self.ut_sendt_dir().map_err(|e| DirError::Io {
            op: "open",
            path: self.ut_sendt(),
            source: std::io::Error::other(format!(
                "it is missing or not a folder ({e}); the agent creates it at start (restart it, or create it like ut-feilet/)"
            )),
        })?;
        write_durably(&dir, KVITTERING_JSON, kvittering)?;
        // Only the agent creates folders in ut-sendt/, but the fagsystem may
        // leave anything there: a name is taken only by an atomic rename
        // that refuses to replace.
        let candidates =
            std::iter::once(base.to_owned()).chain((2..=MAX_SUFFIX).map(|n| format!("{base}-{n}")));
        for candidate in candidates {
            match staging.rename(&from, &sendt, &name(&candidate)?, Replace::Never) {
                Ok(()) => {
                    sendt.sync()?;
                    staging.sync()?;
                    return Ok(Some(candidate));
                }
                Err(e) if e.is_already_exists() => {}
                Err(e) => return Err(e),
            }
        }
        Err(DirError::Io {
            op: "find a free name in",
            path: self.ut_sendt().join(base),
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{base} and {MAX_SUFFIX} suffixed names are all taken"),
            ),
        })
    }

    /// Whether `ut-feilet/<failed_folder>/` is there as the folder the agent
    /// put there. `Err` names what is wrong, for the operator: gone, or
    /// replaced by a link or anything else.
    pub fn check_feilet(&self, failed_folder: &str) -> Result<(), FeiletProblem> {
        let shown = format!("{UT_FEILET_DIR}/{failed_folder}");
        let meta = match self
            .ut_feilet_dir()
            .and_then(|d| d.stat(&name(failed_folder)?))
        {
            Ok(meta) => meta,
            Err(source) => return Err(FeiletProblem::Unreadable { shown, source }),
        };
        match meta {
            None => Err(FeiletProblem::Gone { shown }),
            Some(m) if m.kind == Kind::Dir => Ok(()),
            Some(m) => Err(FeiletProblem::Replaced {
                shown,
                found: m.kind,
            }),
        }
    }

    /// Moves `ut-feilet/<failed_folder>/` back to `.mottak/<update_id>/`
    /// (a person retries it); its `feil.txt` is removed. A link or anything
    /// but a folder in its place is refused, and left where it was.
    pub fn take_back_from_feilet(
        &self,
        failed_folder: &str,
        update_id: &str,
    ) -> Result<(), DirError> {
        let feilet = self.ut_feilet_dir()?;
        let staging = self.staging_dir()?;
        let (from, to) = (name(failed_folder)?, name(update_id)?);
        match feilet.open_dir(&from) {
            Ok(_) => {}
            // Moved back already (a crash after the move)?
            Err(e) if e.is_not_found() => {
                return match staging.stat(&to)? {
                    Some(m) if m.kind == Kind::Dir => Ok(()),
                    _ => Err(e),
                };
            }
            Err(e) => return Err(e),
        }
        feilet.rename(&from, &staging, &to, Replace::Never)?;
        // What moved is what was there at the rename: a link swapped in
        // since the stat goes back, refused.
        let dir = match staging.open_dir(&to) {
            Ok(dir) => dir,
            Err(e) => {
                if e.refused_kind().is_some() {
                    staging.rename(&to, &feilet, &from, Replace::Never)?;
                }
                return Err(e);
            }
        };
        staging.sync()?;
        feilet.sync()?;
        match dir.remove_file(&Name::fixed(FEIL_TXT)) {
            Err(e) if !e.is_not_found() => Err(e),
            _ => Ok(()),
        }
    }
}

/// Writes `file` into `dir` (replacing whatever has that name: a file left
/// by an earlier attempt, or a link, never written through), then fsyncs
/// every regular file in `dir` and `dir` itself, as the inbound publish
/// does before its rename.
fn write_durably(dir: &Dir, file: &'static str, bytes: &[u8]) -> Result<(), DirError> {
    dir.write_atomic(&Name::fixed(file), bytes, FILE_MODE, Replace::Allow)?;
    for entry in dir.entries()? {
        if entry.meta.kind != Kind::File {
            continue;
        }
        match dir.sync_file(&entry.name) {
            // Gone or swapped for something else since the listing: the
            // fagsystem's own doing, and nothing the agent wrote.
            Err(e) if e.is_not_found() || e.refused_kind().is_some() => {}
            other => other?,
        }
    }
    dir.sync()
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
    use std::fs;
    use std::io;
    use std::path::Path;

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
        assert_eq!(
            ready,
            [Ready {
                name: Name::new(case).unwrap()
            }]
        );
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
                    name: Name::new("gone").unwrap()
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
        fn rename(
            &self,
            from: &Dir,
            from_name: &Name,
            to: &Dir,
            to_name: &Name,
            replace: Replace,
        ) -> io::Result<()> {
            if self.fail.load(std::sync::atomic::Ordering::SeqCst)
                && to.path().ends_with(UT_SENDT_DIR)
            {
                return Err(io::Error::other("injected: crashed before the rename"));
            }
            let done = RealFs.rename(from, from_name, to, to_name, replace);
            if done.is_ok() && to.path().ends_with(UT_SENDT_DIR) {
                self.renames
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            done
        }
        fn sync_file(&self, file: &std::fs::File, path: &Path) -> io::Result<()> {
            RealFs.sync_file(file, path)
        }
        fn sync_dir(&self, dir: &Dir) -> io::Result<()> {
            RealFs.sync_dir(dir)
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

    /// Issue 12, point 1: `feil.txt` (or `kvittering.json`) left in the
    /// update as a link to a file outside, or a dangling one: the agent's
    /// file replaces the link; the target is untouched, or never created.
    #[test]
    fn the_agents_files_replace_links_of_their_name_and_never_write_through_them() {
        let (d, f) = folders();
        fs::create_dir(d.path().join(UT_SENDT_DIR)).unwrap();
        let outside = tempfile::tempdir().unwrap();
        let key = outside.path().join("agent.key");
        fs::write(&key, b"-----BEGIN PRIVATE KEY-----").unwrap();
        let nowhere = outside.path().join("created");
        for (id, name, target) in [
            ("ut.1.0.a", FEIL_TXT, &key),
            ("ut.1.1.b", FEIL_TXT, &nowhere),
            ("ut.1.2.c", KVITTERING_JSON, &key),
            ("ut.1.3.d", KVITTERING_JSON, &nowhere),
        ] {
            fs::create_dir(f.claimed(id)).unwrap();
            std::os::unix::fs::symlink(target, f.claimed(id).join(name)).unwrap();
            let out = if name == FEIL_TXT {
                f.move_to_feilet(id, id, "- the report\n").unwrap();
                f.ut_feilet().join(id)
            } else {
                let moved = f.move_to_sendt(id, id, b"{}").unwrap().unwrap();
                f.ut_sendt().join(moved)
            };
            let written = out.join(name);
            assert!(fs::symlink_metadata(&written).unwrap().is_file(), "{id}");
            assert!(!fs::read(&written).unwrap().is_empty(), "{id}");
        }
        assert_eq!(fs::read(&key).unwrap(), b"-----BEGIN PRIVATE KEY-----");
        assert!(fs::symlink_metadata(&nowhere).is_err());
    }

    /// Issue 12, point 5: a link, a FIFO, a socket in `ut/` are listed as
    /// ignored, never followed; a folder whose name is not UTF-8 is claimed
    /// under a repaired name; a folder whose `KLAR` is a link or a FIFO is
    /// ready (its check then says why), not left waiting without a word.
    #[test]
    fn ut_entries_that_are_not_folders_are_ignored_and_named_and_odd_names_are_claimed() {
        use std::os::unix::ffi::OsStrExt;
        let (_d, f) = folders();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join(KLAR), b"").unwrap();
        std::os::unix::fs::symlink(outside.path(), f.ut().join("linked")).unwrap();
        mkfifo(&f.ut().join("fifo"));
        let _socket = std::os::unix::net::UnixListener::bind(f.ut().join("socket")).unwrap();
        let raw = std::ffi::OsStr::from_bytes(b"sak-\xff");
        fs::create_dir(f.ut().join(raw)).unwrap();
        fs::write(f.ut().join(raw).join(KLAR), b"").unwrap();
        fs::create_dir(f.ut().join("klar-is-a-link")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join(KLAR),
            f.ut().join("klar-is-a-link").join(KLAR),
        )
        .unwrap();
        fs::create_dir(f.ut().join("klar-is-a-fifo")).unwrap();
        mkfifo(&f.ut().join("klar-is-a-fifo").join(KLAR));

        let scan = f.scan_ut().unwrap();
        let ignored: Vec<(&str, Kind)> = scan
            .ignored
            .iter()
            .map(|i| (i.name.as_str(), i.kind))
            .collect();
        assert_eq!(
            ignored,
            [
                ("fifo", Kind::Fifo),
                ("linked", Kind::Symlink),
                ("socket", Kind::Socket)
            ]
        );
        assert!(scan.ignored[1].reason().contains("not followed"));
        let mut ready: Vec<String> = scan.ready.iter().map(Ready::shown).collect();
        ready.sort();
        assert_eq!(ready, ["klar-is-a-fifo", "klar-is-a-link", "sak-\u{fffd}"]);

        let odd = scan
            .ready
            .iter()
            .find(|r| r.name.as_bytes() == raw.as_bytes());
        let id = f.claim(odd.unwrap(), t(7), 0).unwrap().unwrap();
        assert_eq!(id, "ut.7.0.sak-\u{fffd}");
        assert!(fs::symlink_metadata(f.ut().join(raw)).is_err());
        assert!(f.claimed(&id).join(KLAR).is_file());
        // The link's target was never touched.
        assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 1);
    }

    /// Issue 12, point 5: a retry of a failure whose folder in `ut-feilet/`
    /// was replaced by a link to a folder outside is refused and leaves the
    /// link where it was; nothing from outside reaches `.mottak/`.
    #[test]
    fn a_failed_folder_replaced_by_a_link_is_never_taken_back() {
        let (_d, f) = folders();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join(SOKER_JSON), b"{}").unwrap();
        fs::write(outside.path().join(FEIL_TXT), b"theirs").unwrap();
        std::os::unix::fs::symlink(outside.path(), f.ut_feilet().join("f1")).unwrap();
        let why = f.check_feilet("f1").unwrap_err().to_string();
        assert!(
            why.contains("symbolic link") && why.contains("ut-feilet/f1"),
            "{why}"
        );
        let err = f.take_back_from_feilet("f1", "ut.1.0.case").unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(
            fs::symlink_metadata(f.ut_feilet().join("f1"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(f.claims().unwrap().is_empty());
        assert!(fs::symlink_metadata(f.claimed("ut.1.0.case")).is_err());
        assert_eq!(fs::read(outside.path().join(FEIL_TXT)).unwrap(), b"theirs");
        assert!(
            f.check_feilet("gone")
                .unwrap_err()
                .to_string()
                .contains("is gone")
        );
        // A file in its place is refused too.
        fs::write(f.ut_feilet().join("f2"), b"x").unwrap();
        assert!(
            f.check_feilet("f2")
                .unwrap_err()
                .to_string()
                .contains("a regular file")
        );
        assert!(f.take_back_from_feilet("f2", "ut.1.1.case").is_err());
    }

    #[test]
    fn hostile_names_are_repaired_in_the_claim() {
        let id = claim_name("../../etc", t(5), 3);
        assert!(!id.contains('/'), "{id}");
        assert!(id.starts_with("ut.5.3."), "{id}");
        assert_eq!(feilet_name(&id, t(5)).matches('/').count(), 0);
    }
}
