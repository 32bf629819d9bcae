//! `kvittering.json`: what the agent tells the fagsystem about an update it
//! finished, in `ut-sendt/<digisos-id>-<time>/` beside the update's own files.
//! A fagsystem only reads and writes files; this is how it learns that its
//! update reached Fiks (`"status": "sendt"`), or that a newer one for the same
//! case went instead (`"status": "erstattet"`).
//!
//! ```json
//! {
//!   "kvitteringVersjon": 1,
//!   "status": "sendt",
//!   "digisosId": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
//!   "oppdateringId": "ut.1795255665123.0.3fa85f64-5717-4562-b3fc-2c963f66afa6",
//!   "hentet": "2026-11-21T10:07:45.123Z", "hentetMs": 1795255665123,
//!   "sendt": "2026-11-21T10:07:46.020Z", "sendtMs": 1795255666020,
//!   "filer": [{"filnavn": "vedtak.pdf", "dokumentlagerDokumentId": "...",
//!              "sha256": "...", "storrelse": 182311,
//!              "pekere": ["/hendelser/1/vedtaksfil/referanse/id"]}],
//!   "sendtDokument": "digisos-soker.json in this folder, ..."
//! }
//! ```
//!
//! The document as sent is not copied: it is `digisos-soker.json` in the same
//! folder with, at each of `filer[].pekere` (JSON pointers), `fil:<filnavn>`
//! replaced by that file's `dokumentlagerDokumentId`; nothing else differs.
//!
//! Finishing a claim is three steps, so no file is read or fsynced while the
//! journal is held: [`facts`] (journal), [`build`] and [`move_finished`]
//! (folder, blocking), then a history note (journal). The journal's `sent` or
//! `superseded` is durable before the first of them, and the claimed folder
//! leaves `.mottak/` in one rename, so a crash anywhere is finished by doing
//! them again ([`finish_claim`]): the folder is moved, never sent again.

use std::collections::{BTreeMap, HashMap};

use mottak_protocol::digisos::find_placeholders;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::macros::format_description;

use super::claim::{self, OutFolders};
use super::validate;
use crate::journal::outbound::{OutboundRow, OutboundState};
use crate::journal::{Journal, JournalError};

/// The format's version; raised only when a field changes meaning.
pub const VERSJON: u32 = 1;

/// What became of the update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fiks Digisos accepted it.
    Sendt,
    /// Not sent: a newer update for the same case was claimed before it went.
    Erstattet,
}

/// The contents of `kvittering.json`. Times are UTC, ISO-8601 with
/// milliseconds, and the same instant as Unix ms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Kvittering {
    pub kvittering_versjon: u32,
    pub status: Status,
    /// The case (the folder's name in `ut/`, lowercase).
    pub digisos_id: String,
    /// The agent's id for this update (its claimed folder's name); the
    /// journal, the console, log lines and `erstattetAv` use it.
    pub oppdatering_id: String,
    /// When the agent took the folder from `ut/`.
    pub hentet: String,
    pub hentet_ms: i64,
    /// When Fiks accepted it (`sendt` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sendt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sendt_ms: Option<i64>,
    /// Each `fil:` file and the `dokumentlagerDokumentId` it was given
    /// (`sendt` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filer: Option<Vec<Fil>>,
    /// How the document Fiks received differs from `digisos-soker.json`
    /// (`sendt` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sendt_dokument: Option<String>,
    /// When it was superseded (`erstattet` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erstattet: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erstattet_ms: Option<i64>,
    /// The `oppdateringId` of the newer update that superseded this one
    /// (`erstattet` only). Its own `kvittering.json` (in `ut-sendt/`) or
    /// `feil.txt` (in `ut-feilet/`) says what became of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erstattet_av: Option<String>,
    /// Anything out of the ordinary, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merknad: Option<String>,
}

/// One file the update referred to with `fil:<filnavn>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fil {
    pub filnavn: String,
    /// Fiks's id for the file on the case (`None` only when it could not be
    /// found again after a restart; `merknad` says why).
    pub dokumentlager_dokument_id: Option<String>,
    /// SHA-256 of the file, lowercase hex.
    pub sha256: Option<String>,
    /// Bytes.
    pub storrelse: Option<u64>,
    /// JSON pointers of the `id`s in `digisos-soker.json` that named it.
    pub pekere: Vec<String>,
}

/// What the journal knows about a finished update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub row: OutboundRow,
    /// `superseded`: the newer update and when (Unix ms).
    pub erstattet: Option<(String, i64)>,
    /// `sent`: the case's uploaded files, sha256 → `dokumentlagerDokumentId`.
    pub case_files: HashMap<String, String>,
}

impl Facts {
    /// When the update was finished (sent or superseded), Unix ms: it names
    /// its `ut-sendt/` folder.
    pub fn finished_ms(&self) -> i64 {
        match (&self.erstattet, self.row.sent_at) {
            (Some((_, at)), _) => *at,
            (None, Some(at)) => at,
            (None, None) => self.row.updated_at,
        }
    }
}

/// Step 1 (journal): the facts of `update_id`, when it is `sent` or
/// `superseded` (else `None`: it still needs its claim, or it failed).
pub fn facts(
    j: &Journal,
    mottakersystem: &str,
    update_id: &str,
) -> Result<Option<Facts>, JournalError> {
    let Some(row) = j.outbound_row(mottakersystem, update_id)? else {
        return Ok(None);
    };
    match row.state {
        OutboundState::Sent => {
            let case_files = j
                .outbound_case_files(mottakersystem, &row.digisos_id)?
                .into_iter()
                .filter_map(|f| f.dokument_id.map(|id| (f.sha256, id)))
                .collect();
            Ok(Some(Facts {
                row,
                erstattet: None,
                case_files,
            }))
        }
        OutboundState::Superseded => {
            let erstattet = match j.outbound_superseded_by(mottakersystem, update_id)? {
                Some(pair) => pair,
                // No note (cannot happen: the note is written with the state).
                None => (String::new(), row.updated_at),
            };
            Ok(Some(Facts {
                row,
                erstattet: Some(erstattet),
                case_files: HashMap::new(),
            }))
        }
        _ => Ok(None),
    }
}

/// The files of a sent update, from its document and the sha256 of each
/// file: pointers grouped by file, in the order the document names them.
pub fn filer(
    doc: &Value,
    files: &BTreeMap<String, (String, u64)>,
    ids: &HashMap<String, String>,
) -> Vec<Fil> {
    let mut out: Vec<Fil> = Vec::new();
    for p in find_placeholders(doc) {
        if let Some(f) = out.iter_mut().find(|f| f.filnavn == p.filename) {
            f.pekere.push(p.pointer);
            continue;
        }
        let (sha256, storrelse) = match files.get(&p.filename) {
            Some((sha, size)) => (Some(sha.clone()), Some(*size)),
            None => (None, None),
        };
        out.push(Fil {
            dokumentlager_dokument_id: sha256.as_ref().and_then(|s| ids.get(s).cloned()),
            filnavn: p.filename,
            sha256,
            storrelse,
            pekere: vec![p.pointer],
        });
    }
    out
}

/// Step 2 (folder, blocking): the kvittering. For a sent update, `known`
/// holds its files when the caller has them (right after the post); else
/// (a restart) they are read from the claimed folder again: the document's
/// placeholders, each file's sha256, looked up in `facts.case_files`.
pub fn build(facts: &Facts, folders: &OutFolders, known: Option<Vec<Fil>>) -> Kvittering {
    let row = &facts.row;
    let mut k = Kvittering {
        kvittering_versjon: VERSJON,
        status: Status::Sendt,
        digisos_id: row.digisos_id.clone(),
        oppdatering_id: row.update_id.clone(),
        hentet: iso(row.claimed_at),
        hentet_ms: row.claimed_at,
        sendt: None,
        sendt_ms: None,
        filer: None,
        sendt_dokument: None,
        erstattet: None,
        erstattet_ms: None,
        erstattet_av: None,
        merknad: None,
    };
    if let Some((by, at)) = &facts.erstattet {
        k.status = Status::Erstattet;
        k.erstattet = Some(iso(*at));
        k.erstattet_ms = Some(*at);
        k.erstattet_av = (!by.is_empty()).then(|| by.clone());
        k.merknad = Some(
            "Not sent to Fiks Digisos: a newer update for the same case (erstattetAv) was \
             claimed before this one went, and each update carries the whole history, so only \
             the newest is sent. The newer one's kvittering.json (ut-sendt/) or feil.txt \
             (ut-feilet/) names it as oppdateringId."
                .to_owned(),
        );
        return k;
    }
    let sent_at = facts.finished_ms();
    k.sendt = Some(iso(sent_at));
    k.sendt_ms = Some(sent_at);
    let filer = match known {
        Some(f) => f,
        None => match read_again(folders, facts) {
            Ok(f) => f,
            Err(problem) => {
                k.merknad = Some(format!(
                    "Sent (Fiks accepted it), but after a restart its files could not be read \
                     again to list their dokumentlagerDokumentId: {problem}"
                ));
                Vec::new()
            }
        },
    };
    if k.merknad.is_none() && filer.iter().any(|f| f.dokumentlager_dokument_id.is_none()) {
        k.merknad = Some(
            "Sent (Fiks accepted it), but the dokumentlagerDokumentId of a file with no id \
             here was not found in the agent's journal after a restart."
                .to_owned(),
        );
    }
    k.filer = Some(filer);
    k.sendt_dokument = Some(format!(
        "{} in this folder, with \"fil:<filnavn>\" at each of filer[].pekere replaced by that \
         file's dokumentlagerDokumentId; nothing else differs",
        claim::SOKER_JSON
    ));
    k
}

/// The files of a sent update, read from its claimed folder again.
fn read_again(folders: &OutFolders, facts: &Facts) -> Result<Vec<Fil>, String> {
    let dir = folders
        .claimed_dir(&facts.row.update_id)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            format!(
                "{} is gone",
                folders.claimed(&facts.row.update_id).display()
            )
        })?;
    let original = claim::original_name(&facts.row.update_id);
    let prepared = validate::prepare(&dir, original).map_err(|p| p.join("; "))?;
    let mut files = BTreeMap::new();
    for f in prepared.files.values() {
        let sha = validate::sha256_file(&dir, &f.name).map_err(|e| e.to_string())?;
        files.insert(f.filename.clone(), (sha, f.size));
    }
    Ok(filer(&prepared.doc, &files, &facts.case_files))
}

/// Step 2b (folder, blocking): writes the kvittering into the claimed
/// folder and moves it to `ut-sendt/`. Returns the folder's name there;
/// `Ok(None)` when the claimed folder is not there (moved already).
pub fn move_finished(
    folders: &OutFolders,
    facts: &Facts,
    kvittering: &Kvittering,
) -> Result<Option<String>, String> {
    let mut json = serde_json::to_vec_pretty(kvittering).map_err(|e| e.to_string())?;
    json.push(b'\n');
    let base = claim::sendt_name(&facts.row.update_id, time_of(facts.finished_ms()));
    folders
        .move_to_sendt(&facts.row.update_id, &base, &json)
        .map_err(|e| {
            format!(
                "cannot move {} to {}: {e}",
                folders.claimed(&facts.row.update_id).display(),
                folders.ut_sendt().join(&base).display()
            )
        })
}

/// All the steps at once, for a claimed folder whose row is `sent` or
/// `superseded` (the repair after a crash between the journal and the move,
/// run by the worker at its next turn). `Ok(None)`: nothing to do.
pub fn finish_claim(
    j: &mut Journal,
    folders: &OutFolders,
    mottakersystem: &str,
    update_id: &str,
) -> Result<Option<String>, String> {
    if folders
        .claimed_dir(update_id)
        .map_err(|e| e.to_string())?
        .is_none()
    {
        return Ok(None);
    }
    let Some(facts) = facts(j, mottakersystem, update_id).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let k = build(&facts, folders, None);
    let moved = move_finished(folders, &facts, &k)?;
    if let Some(name) = &moved {
        note_moved(j, mottakersystem, update_id, name).map_err(|e| e.to_string())?;
    }
    Ok(moved)
}

/// Step 3 (journal): the move in the update's history.
pub fn note_moved(
    j: &mut Journal,
    mottakersystem: &str,
    update_id: &str,
    folder: &str,
) -> Result<(), JournalError> {
    let to = format!("moved to {}/{folder}", crate::dropfolder::UT_SENDT_DIR);
    j.outbound_note(mottakersystem, update_id, "ut-sendt", "ok", Some(&to))
}

fn time_of(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `2026-11-21T10:07:45.123Z`.
pub fn iso(ms: i64) -> String {
    let fmt =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    time_of(ms).format(&fmt).unwrap_or_else(|_| ms.to_string())
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::sync::Arc;

    use super::*;
    use crate::dropfolder::{STAGING_DIR, UT_DIR, UT_FEILET_DIR, UT_SENDT_DIR};
    use crate::journal::ManualClock;
    use crate::journal::outbound::OutboundFile;

    const CASE: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

    #[test]
    fn iso_has_milliseconds_in_utc() {
        assert_eq!(iso(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn files_list_every_pointer_once_per_file() {
        let doc = serde_json::json!({"hendelser": [
            {"vedtaksfil": {"referanse": {"type": "dokumentlager", "id": "fil:a.pdf"}}},
            {"vedtaksfil": {"referanse": {"type": "dokumentlager", "id": "fil:b.pdf"}}},
            {"vedtaksfil": {"referanse": {"type": "dokumentlager", "id": "fil:a.pdf"}}},
        ]});
        let files = BTreeMap::from([
            ("a.pdf".to_owned(), ("aa".to_owned(), 1)),
            ("b.pdf".to_owned(), ("bb".to_owned(), 2)),
        ]);
        let ids = HashMap::from([("aa".to_owned(), "id-a".to_owned())]);
        let f = filer(&doc, &files, &ids);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].filnavn, "a.pdf");
        assert_eq!(f[0].dokumentlager_dokument_id.as_deref(), Some("id-a"));
        assert_eq!(
            f[0].pekere,
            [
                "/hendelser/0/vedtaksfil/referanse/id",
                "/hendelser/2/vedtaksfil/referanse/id"
            ]
        );
        assert_eq!(f[1].dokumentlager_dokument_id, None);
        assert_eq!(f[1].storrelse, Some(2));
    }

    fn world() -> (tempfile::TempDir, Journal, OutFolders) {
        let dir = tempfile::tempdir().unwrap();
        let drop = dir.path().join("drop");
        for d in [UT_DIR, UT_FEILET_DIR, UT_SENDT_DIR, STAGING_DIR] {
            fs::create_dir_all(drop.join(d)).unwrap();
        }
        let clock = Arc::new(ManualClock::new(
            OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
        ));
        let j = Journal::open(&dir.path().join("j.sqlite"), clock).unwrap();
        (dir, j, OutFolders::new(drop))
    }

    const DOC: &str = r#"{"version":"1.0.0","avsender":{"systemnavn":"F","systemversjon":"1"},"hendelser":[{"type":"soknadsStatus","hendelsestidspunkt":"2026-11-21T10:00:00.000Z","status":"MOTTATT"},{"type":"vedtakFattet","hendelsestidspunkt":"2026-11-21T11:00:00.000Z","saksreferanse":"s1","utfall":"INNVILGET","vedtaksfil":{"referanse":{"type":"dokumentlager","id":"fil:vedtak.pdf"}}}]}"#;

    /// A claimed folder with DOC and its PDF.
    fn claimed(f: &OutFolders, id: &str) {
        fs::create_dir(f.claimed(id)).unwrap();
        fs::write(f.claimed(id).join(claim::SOKER_JSON), DOC).unwrap();
        fs::write(f.claimed(id).join("vedtak.pdf"), b"%PDF-1.4 vedtak").unwrap();
        fs::write(f.claimed(id).join(claim::KLAR), b"").unwrap();
    }

    fn read(f: &OutFolders, name: &str) -> Kvittering {
        let text =
            fs::read_to_string(f.ut_sendt().join(name).join(claim::KVITTERING_JSON)).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// The crash window: the journal says `sent` (and `superseded`), the
    /// agent died before the folders moved. The repair moves each to
    /// `ut-sendt/` with a kvittering rebuilt from the journal and the folder
    /// (the dokumentlager id found again by the file's sha256), never sends,
    /// and is a no-op when run again. A kvittering.json half-written before
    /// the crash is replaced.
    #[test]
    fn a_sent_claim_left_by_a_crash_is_moved_with_a_rebuilt_kvittering() {
        let (_d, mut j, f) = world();
        let old = format!("ut.1700000000000.0.{CASE}");
        let new = format!("ut.1700000000001.1.{CASE}");
        claimed(&f, &old);
        claimed(&f, &new);
        j.outbound_claimed("s", &old, CASE).unwrap();
        j.outbound_claimed("s", &new, CASE).unwrap();
        j.outbound_superseded("s", &old, &new).unwrap();
        let sha = validate::sha256_file(
            &f.claimed_dir(&new).unwrap().unwrap(),
            &crate::dropfolder::dirfd::Name::new("vedtak.pdf").unwrap(),
        )
        .unwrap();
        j.outbound_file_uploading(
            "s",
            &OutboundFile {
                digisos_id: CASE.into(),
                sha256: sha.clone(),
                filnavn: "vedtak.pdf".into(),
                storrelse: 15,
                dokument_id: None,
            },
        )
        .unwrap();
        j.outbound_file_uploaded("s", CASE, &sha, "dok-1").unwrap();
        assert!(j.outbound_sent("s", &new, 1, 15).unwrap());
        // Half a kvittering from before the crash.
        fs::write(f.claimed(&new).join(claim::KVITTERING_JSON), b"{\"stat").unwrap();

        let moved = finish_claim(&mut j, &f, "s", &new).unwrap().unwrap();
        assert!(moved.starts_with(&format!("{CASE}-2023")), "{moved}");
        assert!(!f.claimed(&new).exists());
        let k = read(&f, &moved);
        assert_eq!(k.status, Status::Sendt);
        assert_eq!(k.oppdatering_id, new);
        assert_eq!(k.digisos_id, CASE);
        let row = j.outbound_row("s", &new).unwrap().unwrap();
        assert_eq!(k.sendt_ms, row.sent_at);
        assert_eq!(k.sendt.as_deref(), Some(iso(row.sent_at.unwrap()).as_str()));
        let filer = k.filer.unwrap();
        assert_eq!(filer.len(), 1);
        assert_eq!(filer[0].filnavn, "vedtak.pdf");
        assert_eq!(filer[0].dokumentlager_dokument_id.as_deref(), Some("dok-1"));
        assert_eq!(filer[0].sha256.as_deref(), Some(sha.as_str()));
        assert_eq!(filer[0].pekere, ["/hendelser/1/vedtaksfil/referanse/id"]);
        assert_eq!(k.merknad, None);
        // The update's own files went with it.
        assert!(f.ut_sendt().join(&moved).join("vedtak.pdf").is_file());
        assert!(f.ut_sendt().join(&moved).join(claim::SOKER_JSON).is_file());
        // Done: again is a no-op.
        assert_eq!(finish_claim(&mut j, &f, "s", &new).unwrap(), None);

        // The superseded one, sent in the same millisecond: a suffix.
        let moved_old = finish_claim(&mut j, &f, "s", &old).unwrap().unwrap();
        assert_eq!(moved_old, format!("{moved}-2"));
        let k = read(&f, &moved_old);
        assert_eq!(k.status, Status::Erstattet);
        assert_eq!(k.erstattet_av.as_deref(), Some(new.as_str()));
        assert!(k.erstattet_ms.is_some() && k.sendt.is_none() && k.filer.is_none());
        assert_eq!(f.claims().unwrap(), Vec::<String>::new());
        let history: Vec<String> = j
            .outbound_history("s", &new)
            .unwrap()
            .into_iter()
            .map(|a| format!("{} {}", a.action, a.error.unwrap_or_default()))
            .collect();
        assert_eq!(
            history.last().unwrap(),
            &format!("ut-sendt moved to ut-sendt/{moved}")
        );
    }

    /// Rows still pending or failed are not the repair's business.
    #[test]
    fn only_sent_and_superseded_claims_are_finished() {
        let (_d, mut j, f) = world();
        let id = format!("ut.1700000000000.0.{CASE}");
        claimed(&f, &id);
        assert_eq!(finish_claim(&mut j, &f, "s", &id).unwrap(), None);
        j.outbound_claimed("s", &id, CASE).unwrap();
        assert_eq!(finish_claim(&mut j, &f, "s", &id).unwrap(), None);
        j.outbound_failed("s", &id, "x", "post", "400").unwrap();
        assert_eq!(finish_claim(&mut j, &f, "s", &id).unwrap(), None);
        assert!(f.claimed(&id).is_dir());
    }
}
