//! `demo/fagsystem-ut.sh`, the example fagsystem's outbound side, keeps the drop folder
//! contract for saksoppdateringer (docs/drop-folder.md, "Out"). The test plays the agent and
//! Fiks: it takes `ut/<digisosId>/` once `KLAR` is there, checks the document against NAV's
//! schema (with the `fil:` placeholders resolved) and its files, and answers with
//! `ut-sendt/<..>/kvittering.json` or `ut-feilet/<..>/feil.txt`, as the agent does.
//!
//! What the script must do: answer only the imported NAV søknader, with the case's whole
//! history growing one step at a time (MOTTATT; UNDER_BEHANDLING; vedtakFattet with
//! `fil:vedtak.pdf` and a PDF, FERDIGBEHANDLET); write every BAD_EVERY-th update wrong (a
//! schema error, a missing file) and, seeing it in `ut-feilet/`, write it again right; wait
//! while an update Fiks refused sits in `ut-feilet/`, and go on once it has been sent after all.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mottak_protocol::digisos::{placeholder_files, replace_placeholders, validate_soker};
use serde_json::Value;

const CASE: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

struct Script(Child);

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The agent and Fiks, played by the test.
struct Agent {
    drop: PathBuf,
    /// Folder names in ut-sendt/ and ut-feilet/ carry a time; a counter keeps them in order.
    clock: u32,
}

/// What the test did with one update.
#[derive(Debug)]
enum Outcome {
    Sent(Value),
    Invalid(String),
    Refused(String),
}

impl Agent {
    /// Waits for `ut/<CASE>/KLAR`, takes the folder, and judges it; `refuse` plays a Fiks that
    /// answers 403 to a valid one.
    fn next(&mut self, refuse: bool) -> (PathBuf, Outcome) {
        let ut = self.drop.join("ut").join(CASE);
        wait("an update with KLAR in ut/", || ut.join("KLAR").is_file());
        self.clock += 1;
        let name = format!("{CASE}-20261121T1000{:02}.000Z", self.clock);
        let text = fs::read_to_string(ut.join("digisos-soker.json")).unwrap();
        let mut doc: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("digisos-soker.json is not JSON ({e}):\n{text}"));
        let mut problems = Vec::new();
        let mut ids = HashMap::new();
        for file in placeholder_files(&doc) {
            match fs::read(ut.join(&file)) {
                Ok(bytes) if bytes.starts_with(b"%PDF-") => {
                    ids.insert(file, "12345678-9abc-def0-1234-56789abcdef0".to_owned());
                }
                Ok(_) => problems.push(format!("{file} is not a PDF")),
                Err(_) => problems.push(format!("there is no file {file} in the folder")),
            }
        }
        let original = doc.clone();
        if problems.is_empty() {
            replace_placeholders(&mut doc, &ids).unwrap();
            if let Err(errors) = validate_soker(&doc) {
                problems.extend(errors.iter().map(ToString::to_string));
            }
        }
        let outcome = if !problems.is_empty() {
            Outcome::Invalid(problems.join("; "))
        } else if refuse {
            Outcome::Refused("403 Forbidden: the integration lacks the Digisos privilege".into())
        } else {
            Outcome::Sent(original)
        };
        let dest = match &outcome {
            Outcome::Sent(_) => self.drop.join("ut-sendt").join(&name),
            _ => self.drop.join("ut-feilet").join(&name),
        };
        fs::rename(&ut, &dest).unwrap();
        match &outcome {
            Outcome::Sent(_) => fs::write(
                dest.join("kvittering.json"),
                format!(
                    "{{\n  \"kvitteringVersjon\": 1,\n  \"status\": \"sendt\",\n  \"digisosId\": \"{CASE}\"\n}}\n"
                ),
            )
            .unwrap(),
            Outcome::Invalid(p) | Outcome::Refused(p) => fs::write(
                dest.join("feil.txt"),
                format!("The saksoppdatering for {CASE} was not sent.\n\nProblems:\n- {p}\n"),
            )
            .unwrap(),
        }
        (dest, outcome)
    }

    /// An operator's retry of a refused update, and Fiks accepting it this time.
    fn retry(&mut self, failed: &Path) -> Value {
        self.clock += 1;
        let name = format!("{CASE}-20261121T1000{:02}.000Z", self.clock);
        let dest = self.drop.join("ut-sendt").join(name);
        fs::rename(failed, &dest).unwrap();
        fs::remove_file(dest.join("feil.txt")).unwrap();
        fs::write(dest.join("kvittering.json"), "{\"status\": \"sendt\"}\n").unwrap();
        serde_json::from_str(&fs::read_to_string(dest.join("digisos-soker.json")).unwrap()).unwrap()
    }
}

/// Rounds the script has finished (`.saker/rounds`; 0 before the first).
fn rounds(archive: &Path) -> u64 {
    fs::read_to_string(archive.join(".saker").join("rounds"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Returns once the script has done `n` more rounds: rounds in which it would have
/// written what the test checks it did not.
fn wait_rounds(archive: &Path, n: u64) {
    let target = rounds(archive) + n;
    wait(&format!("{n} rounds of the script"), || {
        rounds(archive) >= target
    });
}

fn wait(what: &str, ok: impl Fn() -> bool) {
    mottak_fixtures::kit::wait_until(what, Duration::from_secs(20), ok).unwrap();
}

/// `type` or `type:status` of each hendelse.
fn hendelser(doc: &Value) -> Vec<String> {
    doc["hendelser"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let t = h["type"].as_str().unwrap();
            match h.get("status").and_then(Value::as_str) {
                Some(s) if t == "soknadsStatus" => format!("{t}:{s}"),
                _ => t.to_owned(),
            }
        })
        .collect()
}

#[test]
fn answers_a_soknad_step_by_step_rewrites_its_mistakes_and_waits_for_a_retry() {
    let tmp = tempfile::tempdir().unwrap();
    let drop = tmp.path().join("drop");
    let archive = tmp.path().join("arkiv");
    for d in ["ut", "ut-sendt", "ut-feilet"] {
        fs::create_dir_all(drop.join(d)).unwrap();
    }
    // An imported søknad (the zip unpacked by the agent) and an ordinary forsendelse.
    let soknad = archive.join("0b7f3d2e-1c4a-4e8b-9f6d-2a1b3c4d5e6f");
    fs::create_dir_all(&soknad).unwrap();
    fs::write(
        soknad.join("forsendelseMetadata.json"),
        format!("{{\n  \"eksternRef\": \"x-1\",\n  \"digisosId\": \"{CASE}\"\n}}\n"),
    )
    .unwrap();
    fs::create_dir_all(archive.join("brev")).unwrap();
    fs::write(archive.join("brev").join("forsendelse.json"), "{}").unwrap();

    let log_path = tmp.path().join("log");
    let log = fs::File::create(&log_path).unwrap();
    let _script = Script(
        Command::new("sh")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/fagsystem-ut.sh"))
            .arg(&drop)
            .arg(&archive)
            .arg("2") // every 2nd update wrong
            .arg("1") // a round a second
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let mut agent = Agent {
        drop: drop.clone(),
        clock: 0,
    };

    // Update 1: MOTTATT, valid; Fiks refuses it. The script waits for an operator.
    let (failed, outcome) = agent.next(true);
    assert!(matches!(outcome, Outcome::Refused(_)), "{outcome:?}");
    wait_rounds(&archive, 2);
    assert!(
        !drop.join("ut").join(CASE).exists(),
        "wrote the next update while the refused one waits for a retry"
    );
    let first = agent.retry(&failed);
    assert_eq!(hendelser(&first), ["soknadsStatus:MOTTATT"]);

    // Update 2 is wrong on purpose (a status the schema does not know); 3 is the same, right.
    let (_, outcome) = agent.next(false);
    match outcome {
        Outcome::Invalid(p) => assert!(p.contains("status"), "{p}"),
        other => panic!("update 2 should be wrong: {other:?}"),
    }
    let (_, outcome) = agent.next(false);
    let Outcome::Sent(second) = outcome else {
        panic!("update 3 should be right: {outcome:?}")
    };
    assert_eq!(
        hendelser(&second),
        [
            "soknadsStatus:MOTTATT",
            "saksStatus",
            "soknadsStatus:UNDER_BEHANDLING"
        ]
    );
    assert_eq!(
        second["hendelser"][0], first["hendelser"][0],
        "history kept"
    );

    // Update 4 forgets its vedtak.pdf; 5 has it.
    let (_, outcome) = agent.next(false);
    match outcome {
        Outcome::Invalid(p) => assert!(p.contains("vedtak.pdf"), "{p}"),
        other => panic!("update 4 should miss its file: {other:?}"),
    }
    let (sent, outcome) = agent.next(false);
    let Outcome::Sent(third) = outcome else {
        panic!("update 5 should be right: {outcome:?}")
    };
    assert_eq!(
        hendelser(&third),
        [
            "soknadsStatus:MOTTATT",
            "saksStatus",
            "soknadsStatus:UNDER_BEHANDLING",
            "vedtakFattet",
            "soknadsStatus:FERDIGBEHANDLET"
        ]
    );
    assert_eq!(
        third["hendelser"][3]["vedtaksfil"]["referanse"]["id"],
        "fil:vedtak.pdf"
    );
    assert_eq!(
        &third["hendelser"].as_array().unwrap()[..3],
        &second["hendelser"].as_array().unwrap()[..],
        "history kept"
    );
    assert!(
        fs::read(sent.join("vedtak.pdf"))
            .unwrap()
            .starts_with(b"%PDF-")
    );

    // The case is done: nothing more is written, and only the søknad was answered.
    wait_rounds(&archive, 2);
    assert!(fs::read_dir(drop.join("ut")).unwrap().next().is_none());
    let log = fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("venter på at en admin"), "{log}");
    assert!(log.contains("skriver den riktig på nytt"), "{log}");
    assert_eq!(log.matches("sendt til Fiks").count(), 3, "{log}");
}
