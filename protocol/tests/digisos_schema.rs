//! NAV's own test documents for `digisos-soker.json`, every one of them, through
//! `validate_soker`: each valid one accepted, each `feil-*.json` rejected with a message that
//! names the field at fault (`tests/data/digisos-filformat/`, see its PROVENANCE.md).
//!
//! Documents of one part (`parts/avsender/`, `parts/filreferanse/`, `parts/hendelse/**`) are
//! put where that part goes in an otherwise minimal valid document first, so the whole schema
//! is exercised as the agent uses it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use mottak_protocol::digisos::{SchemaError, validate_soker};
use serde_json::{Value, json};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/digisos-filformat/src/test/resources/json/digisos/soker")
}

fn all_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            all_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    out.sort();
}

fn minimal() -> Value {
    json!({
        "version": "1.0.0",
        "avsender": {"systemnavn": "Testsystemet", "systemversjon": "1.0.0"},
        "hendelser": [
            {"type": "soknadsStatus", "hendelsestidspunkt": "2018-10-04T13:37:00.134Z", "status": "MOTTATT"}
        ]
    })
}

/// The document to validate, and the pointer where the part was placed ("" for a whole one).
fn document_for(rel: &Path, part: Value) -> (Value, &'static str) {
    let rel = rel.to_string_lossy();
    if rel.starts_with("parts/avsender/") {
        let mut doc = minimal();
        doc["avsender"] = part;
        (doc, "/avsender")
    } else if rel.starts_with("parts/hendelse/") {
        let mut doc = minimal();
        doc["hendelser"].as_array_mut().unwrap().push(part);
        (doc, "/hendelser/1")
    } else if rel.starts_with("parts/filreferanse/") {
        let mut doc = minimal();
        doc["hendelser"].as_array_mut().unwrap().push(json!({
            "type": "vedtakFattet",
            "hendelsestidspunkt": "2018-10-05T13:37:00.134Z",
            "saksreferanse": "SAK1",
            "vedtaksfil": {"referanse": part}
        }));
        (doc, "/hendelser/1/vedtaksfil/referanse")
    } else {
        assert!(!rel.starts_with("parts/"), "unknown part folder: {rel}");
        (part, "")
    }
}

/// The field each `feil-*` case is about (a pointer relative to where the part sits), so the
/// test checks that the message names that field and not just any.
fn expected_field(name: &str) -> &'static str {
    match name {
        "feil-mangler-avsender.json" => "/avsender",
        "feil-mangler-hendelser.json" => "/hendelser",
        "feil-mangler-version.json" => "/version",
        "feil-mangler-systemnavn.json" => "/systemnavn",
        "feil-mangler-systemversjon.json" => "/systemversjon",
        "feil-dokument-har-feil-dokumentreferanse.json" => "/dokumenter/0/dokumentreferanse",
        "feil-dokument-mangler-dokumenttype.json" => "/dokumenter/0/dokumenttype",
        "feil-dokument-mangler-innsendelsesfrist.json" => "/dokumenter/0/innsendelsesfrist",
        "feil-mangler-forvaltningsbrev-referanse.json" => "/forvaltningsbrev/referanse",
        "feil-mangler-vedlegg-tittel.json" => "/vedlegg/0/tittel",
        "feil-hendelse-eksisterer-ikke.json" => "/type",
        "feil-hendelse-er-tom.json" => "/type",
        "feil-hendelse-mangler-hendelsestidspunkt.json" => "/hendelsestidspunkt",
        "feil-mangler-forvaltningsbrev.json" => "/forvaltningsbrev",
        "feil-status-eksisterer-ikke.json" | "feil-status-mangler.json" => "/status",
        "feil-navKontor-har-fem-siffer.json"
        | "feil-navKontor-har-seks-siffer.json"
        | "feil-navKontor-har-tre-siffer.json"
        | "feil-navKontor-mangler.json" => "/navKontor",
        "feil-mangler-vedlegg-referanse.json" => "/vedlegg/0/referanse",
        "feil-mangler-vedtaksfil-referanse.json" => "/vedtaksfil/referanse",
        "feil-mangler-vedtaksfil.json" => "/vedtaksfil",
        other => panic!("no expected field for {other}: add one"),
    }
}

/// The last word of the pointer, as the message must show it.
fn field_word(pointer: &str) -> &str {
    pointer.rsplit('/').next().unwrap()
}

#[test]
fn every_nav_test_case() {
    let dir = data_dir();
    let mut files = Vec::new();
    all_files(&dir, &mut files);
    assert_eq!(files.len(), 45, "NAV's test files: 45 expected");
    let (mut accepted, mut rejected) = (0, 0);
    for path in &files {
        let rel = path.strip_prefix(&dir).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let part: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let (doc, at) = document_for(rel, part);
        let result = validate_soker(&doc);
        if name.starts_with("feil-") {
            let errors = result.expect_err(&format!("{} must be rejected", rel.display()));
            let wanted = format!("{at}{}", expected_field(&name));
            let hit: Vec<&SchemaError> = errors.iter().filter(|e| e.path == wanted).collect();
            assert!(
                !hit.is_empty(),
                "{}: no error at {wanted}; got {errors:#?}",
                rel.display()
            );
            for e in &hit {
                let text = e.to_string();
                assert!(
                    text.contains(field_word(&wanted)),
                    "{}: message does not name the field: {text}",
                    rel.display()
                );
                assert!(!text.contains("oneOf"), "{}: jargon: {text}", rel.display());
            }
            println!("{} ->", rel.display());
            for e in &errors {
                println!("    {e}");
            }
            rejected += 1;
        } else {
            if let Err(errors) = result {
                panic!("{} must be accepted; got {errors:#?}", rel.display());
            }
            accepted += 1;
        }
    }
    println!("accepted {accepted}, rejected {rejected}");
    assert_eq!((accepted, rejected), (19, 26));
}

#[test]
fn messages_in_words() {
    let mut doc = minimal();
    doc["hendelser"] = json!([
        {"type": "soknadsStatus", "hendelsestidspunkt": "2018-10-04 13:37", "status": "MOTTATT"},
        {"type": "tildeltNavKontor", "hendelsestidspunkt": "2018-10-04T13:37:00.134Z", "navKontor": "12345"},
        {"type": "utbetaling", "hendelsestidspunkt": "2018-10-04T13:37:00.134Z",
         "utbetalingsreferanse": "U1", "forfallsdato": "04.10.2018", "belop": "5000"},
        {"type": "vedtakFattet", "hendelsestidspunkt": "2018-10-04T13:37:00.134Z", "saksreferanse": "S",
         "vedtaksfil": {"referanse": {"type": "dokumentlager", "id": "12345678-9ABC-DEF0-1234-56789ABCDEF0"}}},
        {"type": "soknadsStatus", "hendelsestidspunkt": "2018-10-04T13:37:00.134Z", "status": "mottatt"}
    ]);
    let errors = validate_soker(&doc).unwrap_err();
    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    for l in &lines {
        println!("{l}");
    }
    let has = |needle: &str| lines.iter().any(|l| l.contains(needle));
    assert!(has(
        "hendelser[0] (soknadsStatus).hendelsestidspunkt: must be a UTC time with milliseconds"
    ));
    assert!(has(
        "hendelser[1] (tildeltNavKontor).navKontor: must be exactly 4 digits"
    ));
    assert!(has(
        "hendelser[2] (utbetaling).forfallsdato: must be a date as YYYY-MM-DD"
    ));
    assert!(has(
        "hendelser[2] (utbetaling).belop: must be a number, not \"5000\""
    ));
    assert!(has(
        "hendelser[3] (vedtakFattet).vedtaksfil.referanse.id: must be a UUID in lowercase hex"
    ));
    assert!(has(
        "hendelser[4] (soknadsStatus).status: \"mottatt\" is not one of the allowed values (\"MOTTATT\""
    ));
    assert_eq!(errors.len(), 6, "{lines:#?}");
    assert!(validate_soker(&json!("not an object")).is_err());
    assert!(validate_soker(&json!({"version": "1.0.0", "avsender": {"systemnavn": "a", "systemversjon": "b"}, "hendelser": []}))
        .unwrap_err()
        .iter()
        .any(|e| e.to_string() == "hendelser: must hold at least one hendelse"));
}
