//! A saksoppdatering Fiks accepted, whose folder cannot be handed back to
//! the fagsystem (`ut-sendt/` is a file, not a folder), against a real agent
//! (its `run` code in a thread of this test) with the fake Maskinporten and
//! the fake Fiks Digisos: `mottak status --json` shows the alert naming the
//! update and the folder, nothing is sent again, and once `ut-sendt/` is a
//! folder again the update moves there with its kvittering and the alert
//! goes. One agent per process (its logging is process-global), so one test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::Path;
use std::time::Duration;

use mottak_fixtures::digisos::RequestKind;
use mottak_tests::outbound_harness::{Options, OutboundWorld, case_id, mottatt, soker};
use serde_json::Value;
use support::agent::{agent, grant_me_operator, mottak, text, wait_for};

const LIMIT: Duration = Duration::from_secs(60);
const KEY: &str = "outbound-unmoved/nav-ut";

fn status(socket: &Path) -> Option<Value> {
    let o = mottak(socket, &["status", "--json"]);
    o.status
        .success()
        .then(|| serde_json::from_slice(&o.stdout).unwrap())
}

fn alert(v: &Value) -> Option<Value> {
    v["alerts"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == KEY)
        .cloned()
}

#[test]
fn a_sent_update_that_cannot_reach_ut_sendt_is_alerted_until_it_moves() {
    let case = case_id(1);
    let w = OutboundWorld::start(Options {
        cases: vec![case.clone()],
        ..Options::default()
    })
    .unwrap();
    let config = w.world.config_path.display().to_string();
    let socket = w.world.root.join("state/console.sock");
    grant_me_operator(&config);
    let run_config = config.clone();
    std::thread::spawn(move || agent(&["run", "--config", &run_config]));
    // The outbound pipeline lays out the drop folder as it sets up (after
    // the console answers); once it runs, break ut-sendt/.
    wait_for("the outbound pipeline up", LIMIT, || {
        status(&socket)?["pipelines"]
            .as_array()?
            .iter()
            .any(|p| p["kind"] == "outbound" && p["up"] == true)
            .then_some(())
    });
    let sendt = w.ut_sendt().unwrap();
    assert!(sendt.is_dir());
    std::fs::remove_dir(&sendt).unwrap();
    std::fs::write(&sendt, b"not a folder").unwrap();

    w.write_update(&case, &soker(vec![mottatt(0)]), &[], LIMIT)
        .unwrap();
    let a = wait_for("the unmoved alert", LIMIT, || alert(&status(&socket)?));
    let title = a["title"].as_str().unwrap();
    let detail = a["detail"].as_str().unwrap();
    assert_eq!(
        title, "nav-ut: 1 finished saksoppdatering not handed back to the fagsystem",
        "{a}"
    );
    assert!(
        detail.contains(&format!(".{case} to ut-sendt/ fails")),
        "the update and the folder are named: {detail}"
    );
    let check = mottak(&socket, &["check"]);
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));
    // Sent once, and not again while it waits to move.
    let sent = || {
        w.fiks
            .events()
            .into_iter()
            .filter(|e| e.kind == RequestKind::Update && e.status == 202)
            .count()
    };
    assert_eq!(sent(), 1);
    assert_eq!(w.claims().unwrap().len(), 1, "still in .mottak/");

    std::fs::remove_file(&sendt).unwrap();
    std::fs::create_dir(&sendt).unwrap();
    let moved = wait_for("the update in ut-sendt/", LIMIT, || {
        let s = w.sendt().ok()?;
        (s.len() == 1).then_some(s)
    });
    assert_eq!(moved[0].status(), "sendt");
    wait_for("the alert gone", LIMIT, || {
        alert(&status(&socket)?).is_none().then_some(())
    });
    assert_eq!(sent(), 1);
    assert!(w.claims().unwrap().is_empty());
}
