//! `demo/fagsystem.sh`, the example fagsystem, keeps the drop folder contract: it imports a
//! folder by taking it out of `inn/`, turns one down by moving it to `feilet/<id>/` with a
//! `feil.txt`, and imports a folder it turned down once it is back in `inn/`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Script(Child);

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn forsendelse(inn: &Path, id: &str) {
    let dir = inn.join(id);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("dokument.pdf"), b"%PDF-1.7").unwrap();
    fs::write(
        dir.join("forsendelse.json"),
        format!("{{\"id\":\"{id}\",\"tittel\":\"Brev {id}\",\"status\":\"Klar for mottak\"}}"),
    )
    .unwrap();
}

fn wait(what: &str, ok: impl Fn() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn imports_rejects_every_nth_and_imports_a_rejected_one_moved_back() {
    let tmp = tempfile::tempdir().unwrap();
    let drop = tmp.path().join("drop");
    let archive = tmp.path().join("arkiv");
    let inn = drop.join("inn");
    fs::create_dir_all(&inn).unwrap();
    // The agent's staging folder is never touched.
    fs::create_dir_all(drop.join(".mottak").join("x.partial")).unwrap();
    let ids = ["a1", "a2", "a3", "a4"];
    for id in ids {
        forsendelse(&inn, id);
    }
    let log = fs::File::create(tmp.path().join("log")).unwrap();
    let _script = Script(
        Command::new("sh")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/fagsystem.sh"))
            .arg(&drop)
            .arg(&archive)
            .arg("2")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    wait("inn/ emptied", || {
        fs::read_dir(&inn).unwrap().next().is_none()
    });
    let rejected: Vec<String> = fs::read_dir(drop.join("feilet"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        rejected.len(),
        2,
        "every 2nd of 4 turned down: {rejected:?}"
    );
    for id in &rejected {
        let reason = fs::read_to_string(drop.join("feilet").join(id).join("feil.txt")).unwrap();
        assert!(!reason.trim().is_empty());
        assert!(
            drop.join("feilet")
                .join(id)
                .join("forsendelse.json")
                .is_file()
        );
    }
    for id in ids {
        assert!(
            archive.join(id).is_dir() != rejected.iter().any(|r| r == id),
            "{id}: either imported or turned down"
        );
    }
    assert!(drop.join(".mottak").join("x.partial").is_dir());

    // An admin moves a rejected one back: imported this time.
    let back = &rejected[0];
    fs::rename(drop.join("feilet").join(back), inn.join(back)).unwrap();
    wait("the moved-back folder imported", || {
        archive.join(back).join("forsendelse.json").is_file()
    });
    assert!(!inn.join(back).exists());
    let log = fs::read_to_string(tmp.path().join("log")).unwrap();
    assert!(log.contains("sendt tilbake av en admin"), "{log}");
}
