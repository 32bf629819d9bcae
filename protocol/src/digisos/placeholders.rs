//! `fil:` placeholders and dokumentlager references in a `digisos-soker.json`.
//!
//! The fagsystem cannot know a file's `dokumentlagerDokumentId` before the agent uploads it,
//! so it writes a reference to a local file in its `ut/<digisos-id>/` folder as
//! `{"type": "dokumentlager", "id": "fil:<filename>"}` (`shared/DESIGN.md`, "Outbound"). The
//! agent lists them ([`find_placeholders`]), uploads each file once, then puts the ids Fiks
//! returned in their place ([`replace_placeholders`]). [`dokumentlager_references`] lists the
//! real references, which Fiks checks against the case's files (`shared/reference/digisos.md`
//! §5: "Fiks checks that referenced dokumentlager files exist on the case").
//!
//! Pure functions over `serde_json::Value`; the whole document is walked, wherever the
//! reference sits (vedtaksfil, forvaltningsbrev, vedlegg, or fields NAV adds later).

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

/// What starts a placeholder id.
pub const PLACEHOLDER_PREFIX: &str = "fil:";

/// The filreferanse `type` of a Fiks dokumentlager file.
pub const DOKUMENTLAGER: &str = "dokumentlager";

/// A `{"type": "dokumentlager", "id": "fil:<filename>"}` found in a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    /// JSON pointer of the `id` string: `/hendelser/2/vedtaksfil/referanse/id`.
    pub pointer: String,
    /// What follows `fil:`, as written (not checked: see [`check_filename`]).
    pub filename: String,
}

/// A dokumentlager reference that is not a placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DokumentlagerReference {
    /// JSON pointer of the `id` string.
    pub pointer: String,
    /// The id as written (NAV's schema wants a lowercase UUID).
    pub id: String,
}

/// A placeholder that could not be replaced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaceholderError {
    #[error("{pointer}: file {filename:?} has no dokumentlagerDokumentId (was it uploaded?)")]
    Unresolved { pointer: String, filename: String },
    #[error("{pointer}: {problem}")]
    BadFilename { pointer: String, problem: String },
}

/// Every placeholder, depth first (object keys in the order `serde_json` keeps them); a
/// file referenced twice is listed twice.
pub fn find_placeholders(doc: &Value) -> Vec<Placeholder> {
    let mut out = Vec::new();
    walk(doc, &mut String::new(), &mut |pointer, id| {
        if let Some(filename) = id.strip_prefix(PLACEHOLDER_PREFIX) {
            out.push(Placeholder {
                pointer: format!("{pointer}/id"),
                filename: filename.to_owned(),
            });
        }
    });
    out
}

/// The distinct file names the placeholders refer to, sorted.
pub fn placeholder_files(doc: &Value) -> BTreeSet<String> {
    find_placeholders(doc)
        .into_iter()
        .map(|p| p.filename)
        .collect()
}

/// Every dokumentlager reference that is not a placeholder, depth first.
pub fn dokumentlager_references(doc: &Value) -> Vec<DokumentlagerReference> {
    let mut out = Vec::new();
    walk(doc, &mut String::new(), &mut |pointer, id| {
        if !id.starts_with(PLACEHOLDER_PREFIX) {
            out.push(DokumentlagerReference {
                pointer: format!("{pointer}/id"),
                id: id.to_owned(),
            });
        }
    });
    out
}

/// Checks a placeholder's file name: a plain name in the update's own folder (no path
/// separators, not `.`/`..`, no control characters, not empty, at most 255 bytes).
pub fn check_filename(filename: &str) -> Result<(), String> {
    if filename.is_empty() {
        return Err("the placeholder \"fil:\" names no file".to_owned());
    }
    if filename.len() > 255 {
        return Err(format!(
            "the file name in \"fil:{}…\" is longer than 255 bytes",
            filename.chars().take(40).collect::<String>()
        ));
    }
    if filename == "." || filename == ".." || filename.contains(['/', '\\']) {
        return Err(format!(
            "\"fil:{filename}\" must name a file in the update's own folder, without a path"
        ));
    }
    if filename.chars().any(char::is_control) {
        return Err(format!(
            "the file name in {:?} has control characters",
            format!("fil:{filename}")
        ));
    }
    Ok(())
}

/// Replaces every placeholder's `id` with `ids[filename]`. Checks every placeholder first,
/// and changes nothing unless all resolve: on error `doc` is untouched and every problem is
/// listed. Returns how many ids were replaced.
pub fn replace_placeholders(
    doc: &mut Value,
    ids: &HashMap<String, String>,
) -> Result<usize, Vec<PlaceholderError>> {
    let placeholders = find_placeholders(doc);
    let mut errors = Vec::new();
    for p in &placeholders {
        if let Err(problem) = check_filename(&p.filename) {
            errors.push(PlaceholderError::BadFilename {
                pointer: p.pointer.clone(),
                problem,
            });
        } else if !ids.contains_key(&p.filename) {
            errors.push(PlaceholderError::Unresolved {
                pointer: p.pointer.clone(),
                filename: p.filename.clone(),
            });
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut replaced = 0;
    for p in &placeholders {
        if let (Some(slot), Some(id)) = (doc.pointer_mut(&p.pointer), ids.get(&p.filename)) {
            *slot = Value::String(id.clone());
            replaced += 1;
        }
    }
    Ok(replaced)
}

/// Calls `found(pointer_of_the_object, id)` for every object `{"type": "dokumentlager",
/// "id": <string>, ...}`, depth first.
fn walk(value: &Value, pointer: &mut String, found: &mut impl FnMut(&str, &str)) {
    match value {
        Value::Object(map) => {
            if map.get("type").and_then(Value::as_str) == Some(DOKUMENTLAGER)
                && let Some(id) = map.get("id").and_then(Value::as_str)
            {
                found(pointer, id);
            }
            for (key, child) in map {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
                walk(child, pointer, found);
                pointer.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&i.to_string());
                walk(child, pointer, found);
                pointer.truncate(len);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({
            "version": "1.0.0",
            "avsender": {"systemnavn": "x", "systemversjon": "1"},
            "hendelser": [
                {"type": "soknadsStatus", "hendelsestidspunkt": "2018-10-04T13:37:00.134Z", "status": "MOTTATT"},
                {
                    "type": "vedtakFattet",
                    "hendelsestidspunkt": "2018-10-05T13:37:00.134Z",
                    "saksreferanse": "SAK1",
                    "vedtaksfil": {"referanse": {"type": "dokumentlager", "id": "fil:vedtak.pdf"}},
                    "vedlegg": [
                        {"tittel": "a", "referanse": {"type": "dokumentlager", "id": "fil:vedlegg 1.pdf"}},
                        {"tittel": "b", "referanse": {"type": "dokumentlager", "id": "12345678-9abc-def0-1234-56789abcdef0"}},
                        {"tittel": "c", "referanse": {"type": "svarut", "id": "12345678-9abc-def0-1234-56789abcdef1", "nr": 1}},
                        {"tittel": "d", "referanse": {"type": "dokumentlager", "id": "fil:vedtak.pdf"}}
                    ]
                }
            ]
        })
    }

    #[test]
    fn finds_placeholders_in_document_order() {
        let found = find_placeholders(&doc());
        let mut pointers: Vec<_> = found.iter().map(|p| p.pointer.as_str()).collect();
        pointers.sort();
        assert_eq!(
            pointers,
            [
                "/hendelser/1/vedlegg/0/referanse/id",
                "/hendelser/1/vedlegg/3/referanse/id",
                "/hendelser/1/vedtaksfil/referanse/id",
            ]
        );
        assert_eq!(
            placeholder_files(&doc()).into_iter().collect::<Vec<_>>(),
            ["vedlegg 1.pdf", "vedtak.pdf"]
        );
        let refs = dokumentlager_references(&doc());
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].id, "12345678-9abc-def0-1234-56789abcdef0");
        assert_eq!(refs[0].pointer, "/hendelser/1/vedlegg/1/referanse/id");
    }

    #[test]
    fn replaces_all_or_nothing() {
        let mut d = doc();
        let mut ids = HashMap::new();
        ids.insert(
            "vedtak.pdf".to_owned(),
            "aaaaaaaa-0000-0000-0000-000000000001".to_owned(),
        );
        let errors = replace_placeholders(&mut d, &ids).unwrap_err();
        assert_eq!(
            errors,
            [PlaceholderError::Unresolved {
                pointer: "/hendelser/1/vedlegg/0/referanse/id".into(),
                filename: "vedlegg 1.pdf".into()
            }]
        );
        assert_eq!(d, doc(), "untouched on error");

        ids.insert(
            "vedlegg 1.pdf".to_owned(),
            "aaaaaaaa-0000-0000-0000-000000000002".to_owned(),
        );
        assert_eq!(replace_placeholders(&mut d, &ids), Ok(3));
        assert!(find_placeholders(&d).is_empty());
        assert_eq!(
            d.pointer("/hendelser/1/vedtaksfil/referanse/id").unwrap(),
            "aaaaaaaa-0000-0000-0000-000000000001"
        );
        assert_eq!(
            d.pointer("/hendelser/1/vedlegg/3/referanse/id").unwrap(),
            "aaaaaaaa-0000-0000-0000-000000000001"
        );
        assert_eq!(dokumentlager_references(&d).len(), 4);
        super::super::validate_soker(&d).unwrap();
    }

    #[test]
    fn only_dokumentlager_references_are_placeholders() {
        let mut d = json!({"a": {"type": "svarut", "id": "fil:x.pdf", "nr": 1}, "b": "fil:y.pdf"});
        assert!(find_placeholders(&d).is_empty());
        assert!(dokumentlager_references(&d).is_empty());
        assert_eq!(replace_placeholders(&mut d, &HashMap::new()), Ok(0));
    }

    #[test]
    fn bad_file_names_refused() {
        for bad in [
            "",
            ".",
            "..",
            "../etc/passwd",
            "a/b.pdf",
            "a\\b.pdf",
            "a\nb.pdf",
        ] {
            assert!(check_filename(bad).is_err(), "{bad:?}");
            let mut d = json!({"x": {"type": "dokumentlager", "id": format!("fil:{bad}")}});
            let mut ids = HashMap::new();
            ids.insert(bad.to_owned(), "id".to_owned());
            let errors = replace_placeholders(&mut d, &ids).unwrap_err();
            assert!(
                matches!(errors[0], PlaceholderError::BadFilename { .. }),
                "{bad:?}"
            );
        }
        check_filename("vedtak 2024-01-01 (kopi).pdf").unwrap();
        check_filename(&"x".repeat(255)).unwrap();
        assert!(check_filename(&"x".repeat(256)).is_err());
    }
}
