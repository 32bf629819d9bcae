//! Snapshot tests of every view (ratatui's TestBackend + insta), in both
//! languages, at 80x24 and 120x40, in the high-contrast theme, with the
//! dialogs, the help, and each connection state. Review changes with
//! `cargo insta review` (or INSTA_UPDATE=always, then read the .snap diff).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use mottak_console::app::{Action, App, ClientEvent, View};
use mottak_console::i18n::Lang;
use mottak_console::theme::ThemeKind;
use mottak_protocol::console::Role;
use ratatui::crossterm::event::KeyCode;
use ratatui::style::Color;
use support::{NOW, app, ch, draw, key, typed};

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

fn lang_name(l: Lang) -> &'static str {
    match l {
        Lang::Nb => "nb",
        Lang::En => "en",
    }
}

fn view_name(v: View) -> &'static str {
    v.names()[0]
}

#[test]
fn every_view_in_both_languages_and_two_sizes() {
    for lang in [Lang::En, Lang::Nb] {
        for view in View::ALL {
            for (w, h) in SIZES {
                let mut a = app(lang, Role::Admin);
                a.view = view;
                insta::assert_snapshot!(
                    format!("{}_{}_{w}x{h}", view_name(view), lang_name(lang)),
                    draw(&a, w, h)
                );
            }
        }
    }
}

#[test]
fn failed_imports_with_the_detail_pane_and_marks() {
    for lang in [Lang::En, Lang::Nb] {
        for (w, h) in SIZES {
            let mut a = app(lang, Role::Operator);
            a.update(ch('2'));
            a.update(ch(' '));
            a.update(key(KeyCode::Enter));
            insta::assert_snapshot!(
                format!("failed_detail_{}_{w}x{h}", lang_name(lang)),
                draw(&a, w, h)
            );
        }
    }
}

#[test]
fn high_contrast_uses_no_colours_and_says_the_same_in_words() {
    for view in View::ALL {
        let mut a = app(Lang::En, Role::Admin);
        a.theme = ThemeKind::HighContrast;
        a.view = view;
        let colours = support::colours(&a, 80, 24);
        assert!(
            colours.iter().all(|c| *c == Color::Reset),
            "{view:?}: {colours:?}"
        );
        let hc = draw(&a, 80, 24);
        a.theme = ThemeKind::Default;
        assert_eq!(
            hc,
            draw(&a, 80, 24),
            "{view:?}: the text must not depend on the theme"
        );
        if view == View::Overview {
            insta::assert_snapshot!("overview_high_contrast_80x24", hc);
        }
    }
}

#[test]
fn a_viewer_sees_a_read_only_badge_and_no_actions() {
    let mut a = app(Lang::En, Role::Viewer);
    a.view = View::Failed;
    let screen = draw(&a, 80, 24);
    assert!(screen.contains("[READ-ONLY]"), "{screen}");
    let footer = screen.lines().last().unwrap();
    assert!(
        !footer.contains("retry") && !footer.contains("mark"),
        "{footer}"
    );
    insta::assert_snapshot!("failed_viewer_en_80x24", screen);
    a.update(ch('?'));
    let help = draw(&a, 80, 24);
    assert!(
        !help.contains("retry") && !help.contains("mark permanent"),
        "{help}"
    );
    insta::assert_snapshot!("help_viewer_en_80x24", help);
}

#[test]
fn help_is_generated_from_the_key_map() {
    for lang in [Lang::En, Lang::Nb] {
        let mut a = app(lang, Role::Operator);
        a.update(ch('2'));
        a.update(ch('?'));
        insta::assert_snapshot!(
            format!("help_failed_operator_{}_80x24", lang_name(lang)),
            draw(&a, 80, 24)
        );
    }
}

#[test]
fn confirmation_dialogs() {
    for lang in [Lang::En, Lang::Nb] {
        let l = lang_name(lang);
        let mut a = app(lang, Role::Operator);
        a.update(ch('2'));
        a.update(ch('r'));
        insta::assert_snapshot!(format!("confirm_retry_{l}_80x24"), draw(&a, 80, 24));
        a.update(key(KeyCode::Esc));
        a.update(ch('P'));
        typed(&mut a, "sendt i posten");
        insta::assert_snapshot!(format!("confirm_reason_{l}_80x24"), draw(&a, 80, 24));
        a.update(key(KeyCode::Enter));
        typed(&mut a, "perm");
        a.update(key(KeyCode::Enter));
        insta::assert_snapshot!(
            format!("confirm_typed_mismatch_{l}_80x24"),
            draw(&a, 80, 24)
        );
    }
}

#[test]
fn outbound_detail_and_its_dialogs() {
    for lang in [Lang::En, Lang::Nb] {
        let l = lang_name(lang);
        for (w, h) in SIZES {
            let mut a = app(lang, Role::Operator);
            a.update(ch('3'));
            a.update(key(KeyCode::Enter));
            let screen = draw(&a, w, h);
            assert!(screen.contains("ut-feilet/"), "{screen}");
            insta::assert_snapshot!(format!("outbound_detail_{l}_{w}x{h}"), screen);
        }
        let mut a = app(lang, Role::Operator);
        a.update(ch('3'));
        a.update(ch('r'));
        insta::assert_snapshot!(format!("confirm_out_retry_{l}_80x24"), draw(&a, 80, 24));
        a.update(key(KeyCode::Esc));
        a.update(ch('P'));
        insta::assert_snapshot!(
            format!("confirm_discard_reason_{l}_80x24"),
            draw(&a, 80, 24)
        );
        typed(&mut a, "fagsystemet sender ny");
        a.update(key(KeyCode::Enter));
        insta::assert_snapshot!(format!("confirm_discard_typed_{l}_80x24"), draw(&a, 80, 24));
    }
}

/// nav-frogn's block scrolled into view: Fiks Digisos (an error, what to
/// do), Maskinporten and the virksomhetssertifikat's days left.
#[test]
fn integrations_show_fiks_and_maskinporten() {
    for lang in [Lang::En, Lang::Nb] {
        for (w, h) in SIZES {
            let mut a = app(lang, Role::Admin);
            a.update(ch('4'));
            a.update(ch('G'));
            if h < 40 {
                // The block is taller than the screen: PgDn reads on.
                a.update(key(KeyCode::PageDown));
            }
            let screen = draw(&a, w, h);
            assert!(
                screen.contains("Fiks Digisos") && screen.contains("Maskinporten"),
                "{screen}"
            );
            insta::assert_snapshot!(
                format!("integrations_outbound_{}_{w}x{h}", lang_name(lang)),
                screen
            );
        }
    }
}

/// The last `mottak-agent doctor` run in each mottakersystem's block: its
/// time and age, the counts, each failing line with its fix; "never run"
/// where there is none (the snapshots above hold the whole screens).
#[test]
fn integrations_show_the_last_doctor_run_with_its_time() {
    let mut a = app(Lang::En, Role::Admin);
    a.update(ch('4'));
    let top = draw(&a, 120, 40);
    assert!(
        top.contains("• Pre-flight     never run: run `mottak-agent doctor` before go-live"),
        "{top}"
    );
    assert!(
        top.contains("✔ Pre-flight     2025-11-19 12:00 UTC (2d 0h ago) · all 9 checks passed"),
        "{top}"
    );
    a.update(ch('G'));
    let frogn = draw(&a, 120, 40);
    for want in [
        "✖ Pre-flight     2025-11-21 09:00 UTC (3h 00m ago) · 1 failed, 7 passed",
        "✖ tcp svarut.ks.no 193.161.171.11:443: no answer within 5s (dropped)",
        "→ open the firewall for outgoing TCP to svarut.ks.no at 193.161.171.11 port 443",
    ] {
        assert!(frogn.contains(want), "{want:?} not in\n{frogn}");
    }
    let mut nb = app(Lang::Nb, Role::Admin);
    nb.update(ch('4'));
    nb.update(ch('G'));
    let frogn = draw(&nb, 120, 40);
    assert!(
        frogn.contains(
            "✖ Forhåndssjekk  2025-11-21 09:00 UTC (for 3h 00m siden) · 1 feilet, 7 bestått"
        ),
        "{frogn}"
    );
}

#[test]
fn a_viewer_sees_outbound_without_its_actions() {
    let mut a = app(Lang::En, Role::Viewer);
    a.update(ch('3'));
    let screen = draw(&a, 80, 24);
    let footer = screen.lines().last().unwrap();
    assert!(
        !footer.contains("send again") && !footer.contains("discard"),
        "{footer}"
    );
    insta::assert_snapshot!("outbound_viewer_en_80x24", screen);
    a.update(ch('?'));
    let help = draw(&a, 80, 24);
    assert!(
        !help.contains("send again") && !help.contains("discard"),
        "{help}"
    );
}

/// An agent without digisos (or an older one): no outbound table in the
/// overview, no count on the tab, and the view says why it is empty.
#[test]
fn without_digisos_the_outbound_parts_stay_out_of_the_way() {
    use mottak_protocol::console::ServerMessage;
    for lang in [Lang::En, Lang::Nb] {
        let mut state = support::sample_state();
        state.outbound.clear();
        state.alerts.retain(|al| !al.key.starts_with("outbound"));
        let mut a = app(lang, Role::Operator);
        a.update(Action::Client(ClientEvent::Message(Box::new(
            ServerMessage::Snapshot { seq: 2, state },
        ))));
        let overview = draw(&a, 80, 24);
        assert!(!overview.contains("Fiks"), "{overview}");
        a.update(ch('3'));
        let screen = draw(&a, 80, 24);
        assert!(screen.contains("[mottakersystem.digisos]"), "{screen}");
        assert!(
            !screen.contains("(0)]"),
            "no count without digisos: {screen}"
        );
    }
}

/// Every channel of a mottakersystem on one line, whatever it carries: one
/// the console knows by its own words, one it does not (a newer agent's) by
/// the agent's name, with why it cannot start and what to do.
#[test]
fn integrations_list_every_channel_and_one_that_cannot_start() {
    use mottak_protocol::console::{PipelineStatus, ServerMessage};
    let channel =
        |kind: &str, up: bool, paused: bool, error: Option<&str>, attempts: u32| PipelineStatus {
            mottakersystem: "barnevern".into(),
            kind: kind.into(),
            up,
            setup_error: error.map(Into::into),
            setup_attempts: attempts,
            paused,
        };
    for (lang, want) in [
        (
            Lang::En,
            [
                "✖ barnevern  CRITICAL",
                "✖ Channels       SvarInn → inn/ ✔ running · svarut-v3 ✖ cannot start (3 attempts)",
                "no key for konto 4f1c",
                "→ The svarut-v3 channel cannot start",
            ],
        ),
        (
            Lang::Nb,
            [
                "✖ barnevern  KRITISK",
                "✖ Kanaler        SvarInn → inn/ ✔ kjører · svarut-v3 ✖ kan ikke starte (3 forsøk)",
                "no key for konto 4f1c",
                "→ Kanalen svarut-v3 kan ikke starte",
            ],
        ),
    ] {
        let mut state = support::sample_state();
        state.pipelines = vec![
            channel("inbound", true, false, None, 0),
            channel("svarut-v3", false, false, Some("no key for konto 4f1c"), 3),
        ];
        state.normalize();
        let mut a = app(lang, Role::Admin);
        a.update(Action::Client(ClientEvent::Message(Box::new(
            ServerMessage::Snapshot { seq: 2, state },
        ))));
        a.update(ch('4'));
        let screen = draw(&a, 120, 40);
        for w in want {
            assert!(screen.contains(w), "{w:?} not in\n{screen}");
        }
    }
}

/// The Fiks IO link beside SvarInn: up, with both queues and the receipts;
/// down, with why and what to do; in both languages.
#[test]
fn integrations_show_the_fiks_io_link_up_and_down() {
    use mottak_protocol::console::{FiksIoLink, ServerMessage};
    let now = support::NOW;
    let up = FiksIoLink {
        amqp_url: "amqps://io.fiks.test.ks.no:5671".into(),
        api_url: "https://api.fiks.test.ks.no".into(),
        konto_id: "4f1c2a77-0000-4000-8000-000000000001".into(),
        connected_since: Some(now - 2 * 3_600_000 - 5 * 60_000),
        consumer: Some("amq.ctag-1".into()),
        last_message_at: Some(now - 3 * 60_000),
        waiting_at_fiks: Some(0),
        waiting_read_at: Some(now - 60_000),
        delivered: 12,
        receipts_owed: 1,
        ..FiksIoLink::default()
    };
    let down = FiksIoLink {
        connected_since: None,
        down_since: Some(now - 40 * 60_000),
        last_error: Some("ACCESS_REFUSED - Login was refused".into()),
        receipts_failing: 1,
        oldest_receipt_owed_at: Some(now - 60_000),
        last_receipt_error: Some("503 Service Unavailable".into()),
        ..up.clone()
    };
    let cases = [
        (
            Lang::En,
            up.clone(),
            vec![
                "✔ Fiks IO        amqps://io.fiks.test.ks.no:5671 · konto 4f1c2a77 · connected 2h 05m · last message 3m ago",
                "waiting at Fiks 0 (read 1m ago) · unacked here 0 · delivered 12 · receipts owed 1 (0 failing)",
            ],
        ),
        (
            Lang::Nb,
            up,
            vec![
                "✔ Fiks IO        amqps://io.fiks.test.ks.no:5671 · konto 4f1c2a77 · tilkoblet i 2h 05m · siste melding for 3m siden",
                "venter hos Fiks 0 (lest for 1m siden) · ubekreftet her 0 · levert 12 · kvitteringer skyldig 1 (0 feiler)",
            ],
        ),
        (
            Lang::En,
            down.clone(),
            vec![
                "✖ Fiks IO        amqps://io.fiks.test.ks.no:5671 · konto 4f1c2a77 · down 40m",
                "ACCESS_REFUSED - Login was refused",
                "→ Fiks IO does not take the connection: check the network to amqps://io.fiks.test.ks.no:5671",
                "503 Service Unavailable",
                "→ Receipts to https://api.fiks.test.ks.no fail",
            ],
        ),
        (
            Lang::Nb,
            down,
            vec![
                "✖ Fiks IO        amqps://io.fiks.test.ks.no:5671 · konto 4f1c2a77 · nede i 40m",
                "→ Fiks IO tar ikke imot forbindelsen",
                "→ Kvitteringer til https://api.fiks.test.ks.no feiler",
            ],
        ),
    ];
    for (lang, link, want) in cases {
        let mut state = support::sample_state();
        let i = state
            .integrations
            .iter_mut()
            .find(|i| i.mottakersystem == "barnevern")
            .expect("barnevern in the sample");
        i.fiks_io = Some(link);
        state.normalize();
        let mut a = app(lang, Role::Admin);
        a.update(Action::Client(ClientEvent::Message(Box::new(
            ServerMessage::Snapshot { seq: 2, state },
        ))));
        a.update(ch('4'));
        let screen = draw(&a, 160, 60);
        for w in want {
            assert!(screen.contains(w), "{w:?} not in\n{screen}");
        }
    }
}

/// The agent's alerts are English; in bokmål the known keys are the console's
/// own words, unknown ones stay as the agent wrote them.
#[test]
fn alerts_speak_bokmal_where_the_key_is_known() {
    let a = app(Lang::Nb, Role::Admin);
    let screen = draw(&a, 120, 40);
    for nb in [
        "har ventet 2h 05m på kvittering",
        "nav-frogn: 3 forsendelser trenger en person (2 feilet, 1 avvist av fagsystemet)",
        "nav-frogn: 1 saksoppdatering ble ikke sendt (ut-feilet/)",
        "leveringsmappen /srv/fagsystem/barnevern kan ikke brukes",
    ] {
        assert!(screen.contains(nb), "{nb}\n{screen}");
    }
    for en in ["need a person", "not sent", "cannot be used", "waited"] {
        assert!(!screen.contains(en), "{en}\n{screen}");
    }
    let a = app(Lang::En, Role::Admin);
    let screen = draw(&a, 120, 40);
    assert!(
        screen.contains("nav-frogn: 3 forsendelser need a person"),
        "{screen}"
    );
}

#[test]
fn connection_states_in_the_header() {
    let mut a = App::new(
        Lang::En,
        ThemeKind::Default,
        "/run/mottak/console.sock".into(),
        "t".into(),
    );
    a.update(Action::Tick(NOW));
    insta::assert_snapshot!("connecting_en_80x24", draw(&a, 80, 24));
    a.update(Action::Client(ClientEvent::Lost {
        error: "cannot connect to /run/mottak/console.sock: No such file or directory (is mottak-agent running? is this its console_socket?)".into(),
        retry_at: NOW + 4_000,
    }));
    let lost = draw(&a, 80, 24);
    assert!(lost.contains("lost — retrying in 4 s"), "{lost}");
    insta::assert_snapshot!("lost_no_data_en_80x24", lost);

    // Data held, then the link drops: the data stays, marked STALE.
    let mut a = app(Lang::Nb, Role::Admin);
    a.update(Action::Client(ClientEvent::Lost {
        error: "the connection broke".into(),
        retry_at: NOW + 2_000,
    }));
    let stale = draw(&a, 80, 24);
    assert!(
        stale.contains("FORELDET") && stale.contains("brudd — prøver igjen om 2 s"),
        "{stale}"
    );
    insta::assert_snapshot!("lost_stale_nb_80x24", stale);
    a.update(Action::Client(ClientEvent::Connecting { attempt: 3 }));
    let again = draw(&a, 80, 24);
    assert!(
        again.contains("kobler til (forsøk 3)") && again.contains("FORELDET"),
        "{again}"
    );
}

#[test]
fn small_and_resized_terminals_do_not_break() {
    for (w, h) in [(80, 24), (40, 10), (20, 5), (200, 60), (1, 1)] {
        for view in View::ALL {
            let mut a = app(Lang::En, Role::Admin);
            a.view = view;
            a.update(Action::Resize);
            let _ = draw(&a, w, h);
            a.update(ch('?'));
            let _ = draw(&a, w, h);
        }
    }
}

/// The agent sends at most 5,000 failed imports (with `total` for the
/// rest): a snapshot that size must draw and update quickly, and the frame
/// must say the list is capped.
#[test]
fn five_thousand_failed_imports_draw_quickly() {
    use mottak_protocol::console::{ForsendelseState, ServerMessage};
    let mut state = support::sample_state();
    state.failed.items = (0..5000)
        .map(|n| {
            support::failed(
                "nav-frogn",
                &format!("{n:08x}-0000-4000-8000-000000000000"),
                ForsendelseState::Failed,
                &format!("Søknad {n}"),
                "NAV Frogn",
                i64::from(n) * 1000,
                "cannot decrypt",
            )
        })
        .collect();
    state.failed.total = 100_000;
    state.normalize();
    let started = std::time::Instant::now();
    let mut a = app(Lang::En, Role::Operator);
    a.update(Action::Client(ClientEvent::Message(Box::new(
        ServerMessage::Snapshot { seq: 2, state },
    ))));
    a.update(ch('2'));
    a.update(ch('G'));
    let screen = draw(&a, 120, 40);
    a.update(ch('/'));
    typed(&mut a, "4999");
    let filtered = draw(&a, 120, 40);
    let took = started.elapsed();
    eprintln!("5,000 rows: snapshot, sort, two frames and a filter in {took:?}");
    assert!(screen.contains("5000 shown of 100000"), "{screen}");
    assert!(
        screen.contains("the agent sends the oldest 5000 of 100000"),
        "{screen}"
    );
    assert!(filtered.contains("1 shown of 100000"), "{filtered}");
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");
}
