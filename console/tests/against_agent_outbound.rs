//! The console's outbound side against a real agent (its `run` code in a
//! thread of this test) with the fake Maskinporten and the fake Fiks
//! Digisos: two saksoppdateringer Fiks refuses (403) land in `ut-feilet/`;
//! `mottak status --json` and `mottak check` (the real binary) count them;
//! the console's client + `App` send one again after a yes (Fiks accepts it
//! this time) and discard the other after a reason and the typed word, and
//! both leave the list. One agent per process (its logging is
//! process-global), so one test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use mottak_console::app::{App, View};
use mottak_fixtures::digisos::{Fault, RequestKind, Scope};
use mottak_protocol::console::OutboundState;
use mottak_tests::outbound_harness::{Options, OutboundWorld, case_id, mottatt, soker};
use ratatui::crossterm::event::KeyCode;
use support::agent::{Console, agent, grant_me_operator, mottak, text, wait_for};
use support::{ch, key};

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn failed_saksoppdateringer_counted_retried_and_discarded_from_the_console() {
    let (again, dropped) = (case_id(1), case_id(2));
    let w = OutboundWorld::start(Options {
        cases: vec![again.clone(), dropped.clone()],
        ..Options::default()
    })
    .unwrap();
    let config = w.world.config_path.display().to_string();
    let socket = w.world.root.join("state/console.sock");
    grant_me_operator(&config);
    // Fiks refuses every update (403: the integration lacks the privilege).
    w.fiks
        .inject(Fault::Forbidden, Scope::every(RequestKind::Update));
    let run_config = config.clone();
    std::thread::spawn(move || agent(&["run", "--config", &run_config]));
    for case in [&again, &dropped] {
        w.write_update(case, &soker(vec![mottatt(0)]), &[], LIMIT)
            .unwrap();
        // One at a time, so the first is the oldest.
        wait_for("the update in ut-feilet/", LIMIT, || {
            w.feilet_folders()
                .unwrap()
                .iter()
                .any(|f| f.starts_with(case.as_str()))
                .then_some(())
        });
    }

    // status --json and check count them.
    let json = wait_for(
        "two failed saksoppdateringer in status --json",
        LIMIT,
        || {
            let o = mottak(&socket, &["status", "--json"]);
            if !o.status.success() {
                return None;
            }
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            (v["outbound_failed_total"] == 2).then_some(v)
        },
    );
    assert_eq!(json["outbound"][0]["mottakersystem"], "nav-ut");
    assert_eq!(json["outbound"][0]["failures"].as_array().unwrap().len(), 2);
    let check = mottak(&socket, &["check"]);
    let line = text(&check);
    assert_eq!(check.status.code(), Some(1), "{line}");
    assert!(line.contains("2 failed saksoppdatering(er)"), "{line}");
    assert!(line.contains(" outbound_failed=2;1;;0 "), "{line}");
    let crit = mottak(&socket, &["check", "--crit-failed", "2"]);
    assert_eq!(crit.status.code(), Some(2), "{}", text(&crit));
    let plain = mottak(&socket, &["status"]);
    assert!(
        text(&plain).contains("Outbound to Fiks Digisos:"),
        "{}",
        text(&plain)
    );

    // Fiks is fixed; the console sends one again and discards the other.
    w.fiks.clear_faults();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut con = Console::connect(&socket, "o", LIMIT);
        con.pump_until(|a| a.complete() && a.outbound_rows().len() == 2)
            .await;
        let app = &mut con.app;
        app.update(ch('3'));
        assert_eq!(app.view, View::Outbound);
        let first = app.selected_outbound().unwrap();
        assert_eq!(first.item.digisos_id, again);
        assert_eq!(first.item.state, OutboundState::Failed);
        assert!(
            first
                .item
                .last_error
                .as_ref()
                .is_some_and(|e| e.raw().contains("403")),
            "{:?}",
            first.item.last_error
        );
        // Send it again: asks first.
        assert!(app.update(ch('r')).is_empty());
        let effects = app.update(ch('y'));
        con.send(effects).await;
        con.pump_until(|a: &App| {
            a.in_flight() == 0
                && a.outbound_rows()
                    .iter()
                    .all(|r| r.item.digisos_id != again || r.item.state != OutboundState::Failed)
        })
        .await;
        let toast = con.app.toast.clone().unwrap();
        assert!(toast.text.contains("done"), "{toast:?}");
        // Discard the other: a reason, then the word.
        con.pump_until(|a| a.outbound_rows().len() == 1).await;
        let app = &mut con.app;
        assert_eq!(app.selected_outbound().unwrap().item.digisos_id, dropped);
        assert!(app.update(ch('P')).is_empty());
        support::typed(app, "the case was closed");
        app.update(key(KeyCode::Enter));
        support::typed(app, "discard");
        let effects = app.update(key(KeyCode::Enter));
        con.send(effects).await;
        con.pump_until(|a| a.in_flight() == 0 && a.outbound_rows().is_empty())
            .await;
        let toast = con.app.toast.clone().unwrap();
        assert!(toast.text.contains("done"), "{toast:?}");
        let screen = support::draw(&con.app, 80, 24);
        assert!(screen.contains("Nothing queued or failed"), "{screen}");
    });
    // Fiks got the retried one; the discarded one is discarded in the journal.
    wait_for("Fiks to hold the retried update", LIMIT, || {
        w.fiks.latest_update(&again).map(|_| ())
    });
    assert!(w.fiks.latest_update(&dropped).is_none());
    let rows = w.journal_outbound().unwrap();
    assert!(
        rows.iter()
            .any(|(_, case, state)| case == &dropped && state == "discarded"),
        "{rows:?}"
    );
    // Nothing left for a person on the outbound side.
    let check = mottak(&socket, &["check"]);
    assert!(
        text(&check).contains(" outbound_failed=0;1;;0 "),
        "{}",
        text(&check)
    );
}
