//! Checks a claimed update before anything leaves: every problem is found
//! (not only the first), so `feil.txt` names them all.
//!
//! - the folder's name is a digisos-id (a UUID);
//! - `digisos-soker.json` is there, not too large, UTF-8 JSON, an object;
//! - every `fil:<name>` placeholder names a regular file in the folder
//!   (not a link, not empty, not `KLAR` or the update itself);
//! - before it is sent ([`check_unsent`]): no file is named `kvittering.json`
//!   (the receipt would overwrite it);
//! - with each placeholder replaced by a dummy id, the document passes NAV's
//!   schema (`mottak_protocol::digisos::validate_soker`).

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use mottak_protocol::digisos::{self, check_filename, find_placeholders, validate_soker};
use serde_json::Value;

use super::claim::{FEIL_TXT, KLAR, KVITTERING_JSON, SOKER_JSON};

/// `digisos-soker.json` is a history of hendelser, never this large.
pub const MAX_SOKER_BYTES: u64 = 10 * 1024 * 1024;

/// A file the update references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    /// The name after `fil:`.
    pub filename: String,
    pub path: PathBuf,
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
pub fn check_unsent(dir: &Path, name: &str) -> Result<Prepared, Vec<String>> {
    let taken = fs::symlink_metadata(dir.join(KVITTERING_JSON)).is_ok();
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

/// Checks the claimed folder `dir`, whose original name was `name`.
/// `Err` holds one line per problem.
pub fn prepare(dir: &Path, name: &str) -> Result<Prepared, Vec<String>> {
    let mut problems = Vec::new();
    let digisos_id = name.to_ascii_lowercase();
    if !digisos::is_uuid(name) {
        problems.push(format!(
            "the folder name {name:?} is not a digisos-id: write each update to ut/<digisos-id>/, where the digisos-id is the UUID the søknad came with (e.g. ut/3fa85f64-5717-4562-b3fc-2c963f66afa6/)"
        ));
    }
    let doc = match read_soker(dir) {
        Ok(doc) => Some(doc),
        Err(p) => {
            problems.push(p);
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
        let path = dir.join(&p.filename);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => problems.push(format!(
                "{}: {} is a symbolic link; put the file itself in the folder",
                p.pointer, p.filename
            )),
            Ok(m) if !m.is_file() => problems.push(format!(
                "{}: {} is not a regular file",
                p.pointer, p.filename
            )),
            Ok(m) if m.len() == 0 => {
                problems.push(format!("{}: {} is empty", p.pointer, p.filename))
            }
            Ok(m) => {
                files.insert(
                    p.filename.clone(),
                    LocalFile {
                        filename: p.filename.clone(),
                        path,
                        size: m.len(),
                    },
                );
            }
            Err(_) => problems.push(format!(
                "{}: \"fil:{}\" is referenced, but there is no file {} in the folder",
                p.pointer, p.filename, p.filename
            )),
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

fn read_soker(dir: &Path) -> Result<Value, String> {
    let path = dir.join(SOKER_JSON);
    let meta = fs::symlink_metadata(&path).map_err(|_| {
        format!("there is no {SOKER_JSON} in the folder: the update itself is missing (write it before KLAR)")
    })?;
    if !meta.is_file() {
        return Err(format!("{SOKER_JSON} is not a regular file"));
    }
    if meta.len() > MAX_SOKER_BYTES {
        return Err(format!(
            "{SOKER_JSON} is {} bytes, more than the {MAX_SOKER_BYTES} an update may be",
            meta.len()
        ));
    }
    let mut bytes = Vec::new();
    fs::File::open(&path)
        .and_then(|f| f.take(MAX_SOKER_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read {SOKER_JSON}: {e}"))?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        format!(
            "{SOKER_JSON} is not UTF-8 text (at byte {})",
            e.valid_up_to()
        )
    })?;
    let doc: Value = serde_json::from_str(text.trim_start_matches('\u{feff}')).map_err(|e| {
        format!(
            "{SOKER_JSON} is not valid JSON: {} at line {}, column {}",
            describe_json_error(&e),
            e.line(),
            e.column()
        )
    })?;
    if !doc.is_object() {
        return Err(format!(
            "{SOKER_JSON} must hold one JSON object ({{\"version\": ..., \"avsender\": ..., \"hendelser\": [...]}})"
        ));
    }
    Ok(doc)
}

fn describe_json_error(e: &serde_json::Error) -> String {
    // serde_json's message ends with " at line L column C"; we add our own.
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// SHA-256 of a file, lowercase hex (blocking).
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut f = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
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
    use super::*;

    const CASE: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

    fn soker(hendelser: &str) -> String {
        format!(
            r#"{{"version":"1.0.0","avsender":{{"systemnavn":"Fagsystem","systemversjon":"1"}},"hendelser":[{hendelser}]}}"#
        )
    }

    const MOTTATT: &str = r#"{"type":"soknadsStatus","hendelsestidspunkt":"2026-11-21T10:00:00.000Z","status":"MOTTATT"}"#;
    const VEDTAK: &str = r#"{"type":"vedtakFattet","hendelsestidspunkt":"2026-11-21T11:00:00.000Z","saksreferanse":"s1","utfall":"INNVILGET","vedtaksfil":{"referanse":{"type":"dokumentlager","id":"fil:vedtak.pdf"}}}"#;

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
        let p = prepare(d.path(), &CASE.to_uppercase()).unwrap();
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
        let problems = prepare(d.path(), "not-a-case").unwrap_err();
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
        let p = prepare(d.path(), CASE).unwrap_err();
        assert!(
            p[0].contains("not valid JSON") && p[0].contains("line 1"),
            "{p:?}"
        );
        let d = tempfile::tempdir().unwrap();
        let p = prepare(d.path(), CASE).unwrap_err();
        assert!(p[0].contains("no digisos-soker.json"), "{p:?}");
        let d = folder("[1]", &[]);
        assert!(prepare(d.path(), CASE).unwrap_err()[0].contains("one JSON object"));
        let d = folder(
            &soker(&format!("{MOTTATT},{VEDTAK}")),
            &[("vedtak.pdf", b"")],
        );
        let p = prepare(d.path(), CASE).unwrap_err();
        assert!(p.iter().any(|l| l.contains("vedtak.pdf is empty")), "{p:?}");
        let d = folder(&soker(""), &[]);
        let p = prepare(d.path(), CASE).unwrap_err();
        assert!(p.iter().any(|l| l.contains("hendelser")), "{p:?}");
    }

    #[test]
    fn the_agents_own_file_names_are_not_documents() {
        for own in [KLAR, FEIL_TXT, KVITTERING_JSON, SOKER_JSON] {
            let json = soker(&format!("{MOTTATT},{VEDTAK}")).replace("vedtak.pdf", own);
            let d = folder(&json, &[]);
            fs::write(d.path().join(own), b"x").unwrap();
            fs::write(d.path().join(SOKER_JSON), &json).unwrap();
            let p = prepare(d.path(), CASE).unwrap_err();
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
        let p = check_unsent(d.path(), CASE).unwrap_err();
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("named kvittering.json"), "{p:?}");
        assert_eq!(fs::read(d.path().join(KVITTERING_JSON)).unwrap(), b"{}");
        // Beside other problems, all are named.
        fs::remove_file(d.path().join("vedtak.pdf")).unwrap();
        assert_eq!(check_unsent(d.path(), CASE).unwrap_err().len(), 2);
        // The receipt is the agent's own once sent: the files still read.
        fs::write(d.path().join("vedtak.pdf"), b"%PDF-1.4 x").unwrap();
        assert!(prepare(d.path(), CASE).is_ok());
    }

    #[test]
    fn the_sha256_of_a_file_is_lowercase_hex() {
        let d = folder("{}", &[("a", b"abc")]);
        assert_eq!(
            sha256_file(&d.path().join("a")).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn links_are_refused() {
        let d = folder(&soker(&format!("{MOTTATT},{VEDTAK}")), &[]);
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("vedtak.pdf")).unwrap();
        let p = prepare(d.path(), CASE).unwrap_err();
        assert!(p.iter().any(|l| l.contains("symbolic link")), "{p:?}");
    }

    #[test]
    fn feil_txt_lists_every_problem() {
        let t = feil_txt(CASE, "ut.1.0.x", &["a".into(), "b".into()]);
        assert!(t.contains("- a\n- b\n"), "{t}");
        assert!(t.contains(CASE));
    }
}
