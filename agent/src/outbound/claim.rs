//! The drop folder's outbound side: finding updates the fagsystem has
//! finished (`ut/<digisos-id>/KLAR`), claiming them by one rename into
//! `.mottak/`, and moving bad ones to `ut-feilet/<digisos-id>-<time>/` with
//! `feil.txt`.
//!
//! A claimed folder is named `ut.<claimed ms>.<n>.<original name>`: it
//! starts with `ut.` (never ends in `.partial`, which inbound staging owns),
//! and the time and counter make it unique even when the fagsystem writes the
//! same case again at once.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use time::macros::format_description;

use crate::dropfolder::{STAGING_DIR, UT_DIR, UT_FEILET_DIR};
use crate::names::sanitize_or;

/// The file the fagsystem writes last: the folder is complete.
pub const KLAR: &str = "KLAR";
/// The update itself.
pub const SOKER_JSON: &str = "digisos-soker.json";
/// What went wrong, in `ut-feilet/<..>/`.
pub const FEIL_TXT: &str = "feil.txt";
/// Prefix of claimed folders in `.mottak/`.
pub const CLAIM_PREFIX: &str = "ut.";

/// The outbound folders of one drop folder.
#[derive(Debug, Clone)]
pub struct OutFolders {
    root: PathBuf,
}

/// A folder in `ut/` whose `KLAR` is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready {
    /// The folder's name in `ut/`, as the fagsystem wrote it.
    pub name: String,
}

impl OutFolders {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        OutFolders { root: root.into() }
    }

    pub fn ut(&self) -> PathBuf {
        self.root.join(UT_DIR)
    }

    pub fn ut_feilet(&self) -> PathBuf {
        self.root.join(UT_FEILET_DIR)
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
        match fs::rename(&from, &to) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        }
        sync_dir(&self.staging())?;
        sync_dir(&self.ut())?;
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

    /// Removes a claimed folder (sent or superseded). Gone already is fine.
    pub fn remove_claim(&self, update_id: &str) -> io::Result<()> {
        match fs::remove_dir_all(self.claimed(update_id)) {
            Ok(()) => sync_dir(&self.staging()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
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
        let path = from.join(FEIL_TXT);
        let mut f = fs::File::create(&path)?;
        f.write_all(feil_txt.as_bytes())?;
        f.sync_all()?;
        drop(f);
        sync_dir(&from)?;
        if to.exists() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} already exists", to.display()),
            ));
        }
        fs::rename(&from, &to)?;
        sync_dir(&self.ut_feilet())?;
        sync_dir(&self.staging())?;
        Ok(())
    }

    /// Moves `ut-feilet/<failed_folder>/` back to `.mottak/<update_id>/`
    /// (a person retries it); its `feil.txt` is removed.
    pub fn take_back_from_feilet(&self, failed_folder: &str, update_id: &str) -> io::Result<()> {
        let from = self.ut_feilet().join(failed_folder);
        let to = self.claimed(update_id);
        if to.is_dir() && !from.exists() {
            return Ok(());
        }
        fs::rename(&from, &to)?;
        sync_dir(&self.staging())?;
        sync_dir(&self.ut_feilet())?;
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

/// `ut-feilet/<name>-<UTC time>` for an update claimed as `update_id`.
pub fn feilet_name(update_id: &str, now: OffsetDateTime) -> String {
    let fmt =
        format_description!("[year][month][day]T[hour][minute][second].[subsecond digits:3]Z");
    let when = now
        .to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_else(|_| now.unix_timestamp().to_string());
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

fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
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
        f.remove_claim(id).unwrap();
        f.remove_claim(id).unwrap();
        assert!(f.claims().unwrap().is_empty());
    }

    #[test]
    fn hostile_names_are_repaired_in_the_claim() {
        let id = claim_name("../../etc", t(5), 3);
        assert!(!id.contains('/'), "{id}");
        assert!(id.starts_with("ut.5.3."), "{id}");
        assert_eq!(feilet_name(&id, t(5)).matches('/').count(), 0);
    }
}
