//! Checks a claimed update before anything leaves: every problem is found
//! (not only the first), so `feil.txt` names them all.
//!
//! - the folder's name is a digisos-id (a UUID);
//! - `digisos-soker.json` is there, not too large, UTF-8 JSON, an object;
//! - every `fil:<name>` placeholder names a regular file in the folder
//!   (not a link or a FIFO, not empty, not `KLAR` or the update itself),
//!   and `KLAR` is a regular file; nothing is opened but regular files,
//!   and never through a link ([`crate::dropfolder::dirfd`]);
//! - before it is sent ([`check_unsent`]): no file is named `kvittering.json`
//!   (the receipt would overwrite it);
//! - with each placeholder replaced by a dummy id, the document passes NAV's
//!   schema (`mottak_protocol::digisos::validate_soker`).

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;

use mottak_protocol::digisos::{self, check_filename, find_placeholders, validate_soker};
use serde_json::Value;

use super::claim::{FEIL_TXT, KLAR, KVITTERING_JSON, SOKER_JSON};
use crate::dropfolder::dirfd::{Dir, DirError, Kind, Name};

/// `digisos-soker.json` is a history of hendelser, never this large.
pub const MAX_SOKER_BYTES: u64 = 10 * 1024 * 1024;

/// A file the update references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    /// The name after `fil:`.
    pub filename: String,
    /// The same, as a name in the claimed folder.
    pub name: Name,
    pub size: u64,
}

/// An update that passed every local check.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// The digisos-id, lowercase.
    pub digisos_id: String,
    /// The document with its placeholders still in.
    pub doc: Value,
    /// The referenced files, by name.
    pub files: BTreeMap<String, LocalFile>,
}

/// [`prepare`] for an update not yet sent, which also may not hold a file
/// named `kvittering.json`: the receipt is written under that name once Fiks
/// has the update, and would overwrite the fagsystem's file. (A sent one's
/// folder may hold the agent's own receipt from before a crash.)
pub fn check_unsent(dir: &Dir, name: &str) -> Result<Prepared, Vec<String>> {
    let taken = !matches!(dir.stat(&Name::fixed(KVITTERING_JSON)), Ok(None));
    match (prepare(dir, name), taken) {
        (checked, false) => checked,
        (checked, true) => {
            let mut problems = checked.err().unwrap_or_default();
            problems.push(format!(
                "the folder holds a file named {KVITTERING_JSON}: that is the name of the agent's receipt, written into the folder once Fiks has the update; give your file another name"
            ));
            Err(problems)
        }
    }
}

/// "vedtak.pdf is a symbolic link: ..." for a file of the update that is
/// not a regular file.
fn not_regular(file: &str, kind: Kind) -> String {
    match kind {
        Kind::Symlink => format!(
            "{file} is a symbolic link; the agent never follows links in the drop folder: put the file itself in the folder"
        ),
        kind => format!(
            "{file} is {}, not a regular file; the agent reads only regular files: put the file itself in the folder",
            kind.described()
        ),
    }
}

/// Checks the claimed folder `dir`, whose original name was `name`.
/// `Err` holds one line per problem.
pub fn prepare(dir: &Dir, name: &str) -> Result<Prepared, Vec<String>> {
    let mut problems = Vec::new();
    let digisos_id = name.to_ascii_lowercase();
    if !digisos::is_uuid(name) {
        if name.contains(char::REPLACEMENT_CHARACTER) {
            problems.push(format!(
                "the folder's name in ut/ is not UTF-8 text (shown here as {name:?}, each byte that is not UTF-8 as \u{fffd}), so it cannot be a digisos-id"
            ));
        }
        problems.push(format!(
            "the folder name {name:?} is not a digisos-id: write each update to ut/<digisos-id>/, where the digisos-id is the UUID the søknad came with (e.g. ut/3fa85f64-5717-4562-b3fc-2c963f66afa6/)"
        ));
    }
    match dir.stat(&Name::fixed(KLAR)) {
        Ok(Some(m)) if m.kind != Kind::File => problems.push(format!(
            "{}; write {KLAR} as an empty regular file, last",
            not_regular(KLAR, m.kind)
        )),
        _ => {}
    }
    let doc = match read_soker(dir) {
        Ok(doc) => Some(doc),
        Err(e) => {
            problems.push(e.to_string());
            None
        }
    };
    let Some(doc) = doc else {
        return Err(problems);
    };
    let mut files = BTreeMap::new();
    let placeholders = find_placeholders(&doc);
    for p in &placeholders {
        if files.contains_key(&p.filename) {
            continue;
        }
        if let Err(problem) = check_filename(&p.filename) {
            problems.push(format!("{}: {problem}", p.pointer));
            continue;
        }
        if [KLAR, SOKER_JSON, FEIL_TXT, KVITTERING_JSON].contains(&p.filename.as_str()) {
            problems.push(format!(
                "{}: \"fil:{}\" names one of the agent's own files, not a document",
                p.pointer, p.filename
            ));
            continue;
        }
        let missing = || {
            format!(
                "{}: \"fil:{}\" is referenced, but there is no file {} in the folder",
                p.pointer, p.filename, p.filename
            )
        };
        let Ok(file_name) = Name::new(&p.filename) else {
            problems.push(missing());
            continue;
        };
        match dir.stat(&file_name) {
            Ok(Some(m)) if m.kind != Kind::File => problems.push(format!(
                "{}: {}",
                p.pointer,
                not_regular(&p.filename, m.kind)
            )),
            Ok(Some(m)) if m.size == 0 => {
                problems.push(format!("{}: {} is empty", p.pointer, p.filename))
            }
            Ok(Some(m)) => {
                files.insert(
                    p.filename.clone(),
                    LocalFile {
                        filename: p.filename.clone(),
                        name: file_name,
                        size: m.size,
                    },
                );
            }
            Ok(None) => problems.push(missing()),
            Err(e) => problems.push(format!("{}: cannot look at {}: {e}", p.pointer, p.filename)),
        }
    }
    // The schema, with every well-named placeholder replaced by a dummy id
    // (a badly named one stays, is reported above, and its schema error skipped).
    let mut filled = doc.clone();
    for (i, p) in placeholders.iter().enumerate() {
        if check_filename(&p.filename).is_ok()
            && let Some(slot) = filled.pointer_mut(&p.pointer)
        {
            *slot = Value::String(format!("00000000-0000-4000-8000-{:012x}", i + 1));
        }
    }
    if let Err(errors) = validate_soker(&filled) {
        for e in errors {
            // A placeholder left in because its name was bad is already reported.
            if e.path.ends_with("/id")
                && filled
                    .pointer(&e.path)
                    .and_then(Value::as_str)
                    .is_some_and(|s| s.starts_with(digisos::PLACEHOLDER_PREFIX))
            {
                continue;
            }
            problems.push(format!("{SOKER_JSON}: {e}"));
        }
    }
    if problems.is_empty() {
        Ok(Prepared {
            digisos_id,
            doc,
            files,
        })
    } else {
        Err(problems)
    }
}

/// Why `soker.json` cannot be read as an update, before its schema is checked.
#[derive(Debug, thiserror::Error)]
enum SokerError {
    #[error("there is no {f} in the folder: the update itself is missing (write it before KLAR)", f = SOKER_JSON)]
    Missing,
    #[error("{f} is more than the {max} bytes an update may be", f = SOKER_JSON, max = MAX_SOKER_BYTES)]
    TooLarge,
    /// A link, a FIFO, a folder: the text says which.
    #[error("{0}")]
    NotRegular(String),
    #[error("cannot read {f}: {0}", f = SOKER_JSON)]
    Unreadable(DirError),
    #[error("{f} is not UTF-8 text (at byte {valid_up_to})", f = SOKER_JSON)]
    NotUtf8 { valid_up_to: usize },
    #[error("{f} is not valid JSON: {what} at line {line}, column {column}", f = SOKER_JSON)]
    NotJson {
        what: String,
        line: usize,
        column: usize,
    },
    #[error("{f} must hold one JSON object ({{\"version\": ..., \"avsender\": ..., \"hendelser\": [...]}})", f = SOKER_JSON)]
    NotObject,
}

fn read_soker(dir: &Dir) -> Result<Value, SokerError> {
    let bytes = match dir.read_file(&Name::fixed(SOKER_JSON), MAX_SOKER_BYTES) {
        Ok(bytes) => bytes,
        Err(e) if e.is_not_found() => return Err(SokerError::Missing),
        Err(DirError::TooLarge { .. }) => return Err(SokerError::TooLarge),
        Err(e) => {
            return Err(match refused(&e) {
                Some(kind) => SokerError::NotRegular(not_regular(SOKER_JSON, kind)),
                None => SokerError::Unreadable(e),
            });
        }
    };
    let text = std::str::from_utf8(&bytes).map_err(|e| SokerError::NotUtf8 {
        valid_up_to: e.valid_up_to(),
    })?;
    let doc: Value = serde_json::from_str(text.trim_start_matches('\u{feff}')).map_err(|e| {
        SokerError::NotJson {
            what: describe_json_error(&e),
            line: e.line(),
            column: e.column(),
        }
    })?;
    if !doc.is_object() {
        return Err(SokerError::NotObject);
    }
    Ok(doc)
}

/// The kind of entry a [`DirError`] refused, if it refused one for its kind.
pub fn refused(e: &DirError) -> Option<Kind> {
    match e {
        DirError::SymbolicLink { .. } => Some(Kind::Symlink),
        DirError::Fifo { .. } => Some(Kind::Fifo),
        DirError::NotRegularFile { found, .. } | DirError::NotADirectory { found, .. } => {
            Some(*found)
        }
        _ => None,
    }
}

/// Why a referenced file cannot be used now that it is opened for its
/// upload (it changed since the check): a line for `feil.txt`, or `None`
/// when the error is the agent's side (retried).
pub fn open_problem(file: &LocalFile, e: &DirError) -> Option<String> {
    if e.is_not_found() {
        return Some(format!(
            "{} was removed from the folder after the agent claimed it",
            file.filename
        ));
    }
    refused(e).map(|kind| {
        format!(
            "{} (it was replaced after the agent claimed the folder)",
            not_regular(&file.filename, kind)
        )
    })
}

fn describe_json_error(e: &serde_json::Error) -> String {
    // serde_json's message ends with " at line L column C"; we add our own.
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// SHA-256 of the first `size` bytes of an open file, lowercase hex
/// (blocking). Read at offsets, so the same handle can be hashed and then
/// uploaded: what is hashed is what is sent, whatever happens to the name.
pub fn sha256_open(file: &File, size: u64) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut pos = 0u64;
    while pos < size {
        let want = usize::try_from(size - pos)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = file.read_at(&mut buf[..want], pos)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("the file is shorter than the {size} bytes it had when it was checked"),
            ));
        }
        hasher.update(&buf[..n]);
        pos += n as u64;
    }
    Ok(hex::encode(hasher.finalize()))
}

/// SHA-256 of the regular file `name` in `dir` (blocking).
pub fn sha256_file(dir: &Dir, name: &Name) -> Result<String, DirError> {
    let file = dir.open_file(name)?;
    let read = |source| DirError::Io {
        op: "read",
        path: dir.path_of(name),
        source,
    };
    let size = file.metadata().map_err(read)?.len();
    sha256_open(&file, size).map_err(|source| DirError::Io {
        op: "read",
        path: dir.path_of(name),
        source,
    })
}

/// The text of `feil.txt`.
pub fn feil_txt(digisos_id: &str, update_id: &str, problems: &[String]) -> String {
    let mut out = format!(
        "The saksoppdatering for {digisos_id} was not sent to Fiks Digisos.\n\
         (claimed by mottak-agent as {update_id})\n\nProblems:\n"
    );
    for p in problems {
        out.push_str("- ");
        out.push_str(p);
        out.push('\n');
    }
    if problems.iter().any(|p| p.starts_with("Fiks refused")) {
        out.push_str(
            "\nWhat to do: read Fiks's answer above. If the update itself is wrong, fix it and \
             write it again as ut/<digisos-id>/ with KLAR last. A 403 means the integration lacks \
             the Digisos privilege for this organisation (Fiks forvaltning); an unknown digisosId \
             means the case does not exist at Fiks. Once Fiks's side is fixed, an operator can \
             retry this update from the console (mottak), or discard it.\n",
        );
    } else {
        out.push_str(
            "\nWhat to do: fix the update and write it again as ut/<digisos-id>/ with KLAR last; \
             the agent sends the newest update of each case. This folder is kept for reference.\n",
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    const CASE: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

    fn soker(hendelser: &str) -> String {
        format!(
            r#"{{"version":"1.0.0","avsender":{{"systemnavn":"Fagsystem","systemversjon":"1"}},"hendelser":[{hendelser}]}}"#
        )
    }

    const MOTTATT: &str = r#"{"type":"soknadsStatus","hendelsestidspunkt":"2026-11-21T10:00:00.000Z","status":"MOTTATT"}"#;
    const VEDTAK: &str = r#"{"type":"vedtakFattet","hendelsestidspunkt":"2026-11-21T11:00:00.000Z","saksreferanse":"s1","utfall":"INNVILGET","vedtaksfil":{"referanse":{"type":"dokumentlager","id":"fil:vedtak.pdf"}}}"#;

    fn open(d: &tempfile::TempDir) -> Dir {
        Dir::open_root(
            d.path(),
            std::sync::Arc::new(crate::dropfolder::dirfd::RealFs),
        )
        .unwrap()
    }

    fn folder(json: &str, files: &[(&str, &[u8])]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join(SOKER_JSON), json).unwrap();
        for (n, b) in files {
            fs::write(d.path().join(n), b).unwrap();
        }
        d
    }

    #[test]
    fn a_good_update_with_a_file_is_prepared() {
        let d = folder(
            &soker(&format!("{MOTTATT},{VEDTAK}")),
            &[("vedtak.pdf", b"%PDF-1.4 x"), ("unrelated.txt", b"x")],
        );
        let p = prepare(&open(&d), &CASE.to_uppercase()).unwrap();
        assert_eq!(p.digisos_id, CASE);
        assert_eq!(p.files.len(), 1);
        assert_eq!(p.files["vedtak.pdf"].size, 10);
    }

    #[test]
    fn every_problem_is_named() {
        let bad = soker(&format!(
            r#"{MOTTATT},{VEDTAK},{{"type":"soknadsStatus","hendelsestidspunkt":"2026-11-21T10:00:00Z","status":"KANSKJE"}},{{"type":"forelopigSvar","hendelsestidspunkt":"2026-11-21T10:00:00.000Z","forvaltningsbrev":{{"referanse":{{"type":"dokumentlager","id":"fil:../x.pdf"}}}}}}"#
        ));
        let d = folder(&bad, &[]);
        let problems = prepare(&open(&d), "not-a-case").unwrap_err();
        let all = problems.join("\n");
        assert!(all.contains("not a digisos-id"), "{all}");
        assert!(all.contains("no file vedtak.pdf"), "{all}");
        assert!(all.contains("without a path"), "{all}");
        assert!(all.contains("KANSKJE") || all.contains("status"), "{all}");
        assert!(all.contains("hendelsestidspunkt"), "{all}");
        assert!(problems.len() >= 5, "{all}");
    }

    #[test]
    fn bad_json_missing_update_and_empty_files() {
        let d = folder("{\"version\": ", &[]);
        let p = prepare(&open(&d), CASE).unwrap_err();
        assert!(
            p[0].contains("not valid JSON") && p[0].contains("line 1"),
            "{p:?}"
        );
        let d = tempfile::tempdir().unwrap();
        let p = prepare(&open(&d), CASE).unwrap_err();
        assert!(p[0].contains("no digisos-soker.json"), "{p:?}");
        let d = folder("[1]", &[]);
        assert!(prepare(&open(&d), CASE).unwrap_err()[0].contains("one JSON object"));
        let d = folder(
            &soker(&format!("{MOTTATT},{VEDTAK}")),
            &[("vedtak.pdf", b"")],
        );
        let p = prepare(&open(&d), CASE).unwrap_err();
        assert!(p.iter().any(|l| l.contains("vedtak.pdf is empty")), "{p:?}");
        let d = folder(&soker(""), &[]);
        let p = prepare(&open(&d), CASE).unwrap_err();
        assert!(p.iter().any(|l| l.contains("hendelser")), "{p:?}");
    }

    #[test]
    fn the_agents_own_file_names_are_not_documents() {
        for own in [KLAR, FEIL_TXT, KVITTERING_JSON, SOKER_JSON] {
            let json = soker(&format!("{MOTTATT},{VEDTAK}")).replace("vedtak.pdf", own);
            let d = folder(&json, &[]);
            fs::write(d.path().join(own), b"x").unwrap();
            fs::write(d.path().join(SOKER_JSON), &json).unwrap();
            let p = prepare(&open(&d), CASE).unwrap_err();
            assert!(
                p.iter().any(|l| l.contains("the agent's own files")),
                "{own}: {p:?}"
            );
        }
    }

    #[test]
    fn a_file_named_like_the_receipt_is_refused_before_it_could_be_overwritten() {
        let d = folder(
            &soker(&format!("{MOTTATT},{VEDTAK}")),
            &[("vedtak.pdf", b"%PDF-1.4 x"), (KVITTERING_JSON, b"{}")],
        );
        let p = check_unsent(&open(&d), CASE).unwrap_err();
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("named kvittering.json"), "{p:?}");
        assert_eq!(fs::read(d.path().join(KVITTERING_JSON)).unwrap(), b"{}");
        // Beside other problems, all are named.
        fs::remove_file(d.path().join("vedtak.pdf")).unwrap();
        assert_eq!(check_unsent(&open(&d), CASE).unwrap_err().len(), 2);
        // The receipt is the agent's own once sent: the files still read.
        fs::write(d.path().join("vedtak.pdf"), b"%PDF-1.4 x").unwrap();
        assert!(prepare(&open(&d), CASE).is_ok());
    }

    #[test]
    fn the_sha256_of_a_file_is_lowercase_hex() {
        let d = folder("{}", &[("a", b"abc")]);
        assert_eq!(
            sha256_file(&open(&d), &Name::new("a").unwrap()).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn links_are_refused() {
        let d = folder(&soker(&format!("{MOTTATT},{VEDTAK}")), &[]);
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("vedtak.pdf")).unwrap();
        let p = prepare(&open(&d), CASE).unwrap_err();
        assert!(p.iter().any(|l| l.contains("symbolic link")), "{p:?}");
    }

    #[test]
    fn feil_txt_lists_every_problem() {
        let t = feil_txt(CASE, "ut.1.0.x", &["a".into(), "b".into()]);
        assert!(t.contains("- a\n- b\n"), "{t}");
        assert!(t.contains(CASE));
    }
}
