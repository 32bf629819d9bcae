//! `App::update` alone: keys, views, filters, sort, marks, the confirmation
//! choke point (cancel is the default, the typed word must match), hidden
//! actions by role, results, and the connection states.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use mottak_console::app::{Action, ClientEvent, Effect, Mode, Stage, View};
use mottak_console::i18n::Lang;
use mottak_protocol::console::{
    Command, ErrorCode, ForsendelseState, OutboundState, Outcome, Patch, Principal, Role, Scope,
    ServerMessage,
};
use ratatui::crossterm::event::KeyCode;
use support::{NOW, app, ch, ctrl, key, typed};

fn sends(effects: &[Effect]) -> Vec<&Command> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { command, .. } => Some(command),
            Effect::Quit => None,
        })
        .collect()
}

fn ids(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { id, .. } => Some(id.clone()),
            Effect::Quit => None,
        })
        .collect()
}

#[test]
fn views_by_tab_number_and_name() {
    let mut a = app(Lang::En, Role::Admin);
    assert_eq!(a.view, View::Overview);
    a.update(key(KeyCode::Tab));
    assert_eq!(a.view, View::Failed);
    a.update(key(KeyCode::BackTab));
    a.update(key(KeyCode::BackTab));
    assert_eq!(a.view, View::Audit);
    a.update(ch('4'));
    assert_eq!(a.view, View::Integrations);
    // `:` with a name, a unique prefix, and Tab completion.
    a.update(ch(':'));
    typed(&mut a, "acc");
    a.update(key(KeyCode::Enter));
    assert_eq!(a.view, View::Access);
    a.update(ch(':'));
    typed(&mut a, "fe");
    a.update(key(KeyCode::Tab));
    match &a.mode {
        Mode::Command { input, .. } => assert_eq!(input, "feilet"),
        other => panic!("{other:?}"),
    }
    a.update(key(KeyCode::Enter));
    assert_eq!(a.view, View::Failed);
    a.update(ch(':'));
    typed(&mut a, "nonsense");
    a.update(key(KeyCode::Enter));
    assert_eq!(a.view, View::Failed);
    assert!(a.toast.as_ref().unwrap().text.contains("nonsense"));
    // Quit by key, by :q and by Ctrl-C (from any mode).
    assert_eq!(a.update(ch('q')), vec![Effect::Quit]);
    a.update(ch(':'));
    typed(&mut a, "q");
    assert_eq!(a.update(key(KeyCode::Enter)), vec![Effect::Quit]);
    a.update(ch('/'));
    assert_eq!(a.update(ctrl('c')), vec![Effect::Quit]);
}

#[test]
fn movement_with_vim_keys_and_arrows_stays_in_bounds() {
    let mut a = app(Lang::En, Role::Operator);
    a.update(ch('2'));
    assert_eq!(a.list().selected, 0);
    a.update(ch('j'));
    a.update(key(KeyCode::Down));
    assert_eq!(a.list().selected, 2);
    a.update(ch('G'));
    assert_eq!(a.list().selected, 3);
    a.update(ch('j'));
    assert_eq!(a.list().selected, 3);
    a.update(ch('k'));
    a.update(key(KeyCode::Up));
    assert_eq!(a.list().selected, 1);
    a.update(ch('g'));
    assert_eq!(a.list().selected, 0);
    a.update(ctrl('d'));
    assert_eq!(a.list().selected, 3);
    a.update(Action::ScrollUp);
    assert_eq!(a.list().selected, 2);
}

#[test]
fn filter_narrows_every_table_and_esc_clears_it() {
    let mut a = app(Lang::En, Role::Admin);
    a.update(ch('2'));
    a.update(ch('/'));
    typed(&mut a, "vedtak");
    // Live while typing: "Vedtak" and "Klage på vedtak".
    assert_eq!(a.failed_rows().len(), 2);
    a.update(key(KeyCode::Enter));
    assert_eq!(a.mode, Mode::Normal);
    assert_eq!(a.failed_rows().len(), 2);
    // The masked form is what is searched: a fødselsnummer cannot be found.
    a.update(key(KeyCode::Esc));
    assert_eq!(a.failed_rows().len(), 4);
    a.update(ch('/'));
    typed(&mut a, "01019012480");
    assert_eq!(a.failed_rows().len(), 0);
    a.update(key(KeyCode::Esc));
    assert_eq!(a.failed_rows().len(), 4);
    // Other views.
    a.update(ch('1'));
    a.update(ch('/'));
    typed(&mut a, "bygg");
    a.update(key(KeyCode::Enter));
    assert_eq!(a.queue_rows().len(), 1);
    a.update(ch('6'));
    a.update(ch('/'));
    typed(&mut a, "refused");
    a.update(key(KeyCode::Enter));
    assert_eq!(a.audit_rows().len(), 1);
    a.update(ch('5'));
    a.update(ch('/'));
    typed(&mut a, "drift");
    a.update(key(KeyCode::Enter));
    assert_eq!(a.access_rows().len(), 3);
    a.update(ch('4'));
    a.update(ch('/'));
    typed(&mut a, "barne");
    a.update(key(KeyCode::Enter));
    assert_eq!(a.integration_rows().len(), 1);
}

#[test]
fn sort_cycles_columns_and_keeps_the_cursor_on_its_row() {
    let mut a = app(Lang::En, Role::Operator);
    a.update(ch('2'));
    let ages: Vec<&str> = a.failed_rows().iter().map(|f| &f.id.raw()[..4]).collect();
    assert_eq!(ages, ["eeee", "aaaa", "bbbb", "ffff"], "oldest first");
    a.update(ch('j'));
    assert_eq!(&a.selected_failed().unwrap().id.raw()[..4], "aaaa");
    a.update(ch('S'));
    let rev: Vec<&str> = a.failed_rows().iter().map(|f| &f.id.raw()[..4]).collect();
    assert_eq!(rev, ["ffff", "bbbb", "aaaa", "eeee"]);
    assert_eq!(
        &a.selected_failed().unwrap().id.raw()[..4],
        "aaaa",
        "cursor follows"
    );
    a.update(ch('s')); // mottakersystem
    a.update(ch('s')); // state
    assert_eq!(a.sort_label(View::Failed), "state");
    let states: Vec<ForsendelseState> = a.failed_rows().iter().map(|f| f.state).collect();
    assert_eq!(
        states,
        [
            ForsendelseState::RetryWait,
            ForsendelseState::Failed,
            ForsendelseState::Failed,
            ForsendelseState::Rejected
        ]
    );
}

#[test]
fn cancel_is_the_default_and_nothing_is_sent_without_a_yes() {
    let mut a = app(Lang::En, Role::Operator);
    a.update(ch('2'));
    a.update(ch('j')); // aaaa, failed
    assert!(a.update(ch('r')).is_empty());
    assert!(matches!(
        &a.mode,
        Mode::Confirm(c) if c.stage == Stage::YesNo { ok_focused: false }
    ));
    // Enter on the default button cancels.
    assert!(a.update(key(KeyCode::Enter)).is_empty());
    assert_eq!(a.mode, Mode::Normal);
    // Esc and n cancel too.
    a.update(ch('r'));
    assert!(a.update(key(KeyCode::Esc)).is_empty());
    a.update(ch('r'));
    assert!(a.update(ch('n')).is_empty());
    assert_eq!(a.mode, Mode::Normal);
    // Moving to OK, then Enter, sends it.
    a.update(ch('r'));
    a.update(key(KeyCode::Right));
    let e = a.update(key(KeyCode::Enter));
    assert_eq!(
        sends(&e),
        [&Command::Retry {
            mottakersystem: "nav-frogn".into(),
            forsendelse: "aaaa1111-0000-4000-8000-000000000001".into()
        }]
    );
    // And `y` directly.
    a.update(ch('r'));
    assert_eq!(sends(&a.update(ch('y'))).len(), 1);
}

#[test]
fn actions_apply_only_where_the_state_allows() {
    let mut a = app(Lang::En, Role::Operator);
    a.update(ch('2'));
    // eeee is rejected: retry does not apply, move back to inn/ does.
    a.update(ch('r'));
    assert_eq!(a.mode, Mode::Normal);
    assert!(
        a.toast
            .as_ref()
            .unwrap()
            .text
            .contains("None of the chosen")
    );
    a.update(ch('i'));
    let e = a.update(ch('y'));
    assert!(matches!(sends(&e)[..], [Command::MoveToInn { .. }]));
}

#[test]
fn marks_and_bulk_actions_send_one_command_per_row_with_unique_ids() {
    let mut a = app(Lang::En, Role::Operator);
    a.update(ch('2'));
    a.update(ch('a')); // all four
    assert_eq!(a.marks.len(), 4);
    a.update(ch(' ')); // unmarks eeee, moves to aaaa
    assert_eq!(a.marks.len(), 3);
    a.update(ch('r'));
    match &a.mode {
        Mode::Confirm(c) => {
            // aaaa, bbbb (failed) and ffff (retry_wait); eeee was unmarked.
            assert_eq!(c.commands.len(), 3);
            assert!(c.question.contains('3'), "{}", c.question);
        }
        other => panic!("{other:?}"),
    }
    let e = a.update(ch('y'));
    let got = ids(&e);
    assert_eq!(got.len(), 3);
    let mut unique = got.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 3, "{got:?}");
    assert!(a.marks.is_empty(), "marks are used up by the action");
    assert_eq!(a.in_flight(), 3);
    // Results come back: two ok, one refused → a summary naming the failure.
    a.update(Action::Client(ClientEvent::Message(Box::new(
        ServerMessage::Result {
            id: got[0].clone(),
            outcome: Outcome::Ok {
                message: "retrying".into(),
            },
        },
    ))));
    a.update(Action::Client(ClientEvent::Message(Box::new(
        ServerMessage::Result {
            id: got[1].clone(),
            outcome: Outcome::error(ErrorCode::WrongState, "already acked"),
        },
    ))));
    assert_eq!(a.in_flight(), 1);
    a.update(Action::Client(ClientEvent::Message(Box::new(
        ServerMessage::Result {
            id: got[2].clone(),
            outcome: Outcome::Ok {
                message: "retrying".into(),
            },
        },
    ))));
    let toast = a.toast.clone().unwrap().text;
    assert!(
        toast.contains("2 of 3") && toast.contains("already acked"),
        "{toast}"
    );
    // Esc clears marks.
    a.update(ch('a'));
    a.update(key(KeyCode::Esc));
    assert!(a.marks.is_empty());
}

#[test]
fn mark_permanent_needs_a_reason_and_the_typed_word() {
    let mut a = app(Lang::En, Role::Operator);
    a.update(ch('2'));
    a.update(ch('j'));
    a.update(ch('P'));
    assert!(matches!(&a.mode, Mode::Confirm(c) if matches!(c.stage, Stage::Reason { .. })));
    // y is text here, not a yes; an empty reason is refused.
    assert!(a.update(key(KeyCode::Enter)).is_empty());
    assert!(
        matches!(&a.mode, Mode::Confirm(c) if c.stage == Stage::Reason { input: String::new(), error: true })
    );
    assert!(typed(&mut a, "y").is_empty());
    a.update(key(KeyCode::Backspace));
    typed(&mut a, "sendt i posten");
    a.update(key(KeyCode::Enter));
    assert!(matches!(&a.mode, Mode::Confirm(c) if matches!(c.stage, Stage::Typed { .. })));
    // The wrong word: nothing is sent, the dialog stays.
    typed(&mut a, "yes");
    assert!(a.update(key(KeyCode::Enter)).is_empty());
    assert!(
        matches!(&a.mode, Mode::Confirm(c) if matches!(c.stage, Stage::Typed { error: true, .. }))
    );
    for _ in 0..3 {
        a.update(key(KeyCode::Backspace));
    }
    typed(&mut a, "permanent");
    let e = a.update(key(KeyCode::Enter));
    assert_eq!(
        sends(&e),
        [&Command::MarkPermanent {
            mottakersystem: "nav-frogn".into(),
            forsendelse: "aaaa1111-0000-4000-8000-000000000001".into(),
            reason: "sendt i posten".into(),
        }]
    );
    // Esc at the typed stage cancels everything.
    a.update(ch('P'));
    typed(&mut a, "r");
    a.update(key(KeyCode::Enter));
    typed(&mut a, "permanent");
    assert!(a.update(key(KeyCode::Esc)).is_empty());
    assert_eq!(a.mode, Mode::Normal);
}

#[test]
fn the_typed_word_is_the_languages_own() {
    let mut a = app(Lang::Nb, Role::Operator);
    a.update(ch('2'));
    a.update(ch('P'));
    typed(&mut a, "grunn");
    a.update(key(KeyCode::Enter));
    typed(&mut a, "permanent");
    assert_eq!(sends(&a.update(key(KeyCode::Enter))).len(), 1);
}

#[test]
fn a_viewer_has_no_actions_and_the_keys_do_nothing() {
    let mut a = app(Lang::En, Role::Viewer);
    assert!(a.read_only());
    a.update(ch('2'));
    for c in ['r', 'i', 'P', ' ', 'a'] {
        assert!(a.update(ch(c)).is_empty());
        assert_eq!(a.mode, Mode::Normal, "{c}");
    }
    assert!(a.marks.is_empty());
    a.update(ch('1'));
    assert!(a.update(ch('p')).is_empty());
    assert_eq!(a.mode, Mode::Normal);
    a.update(ch('5'));
    assert!(a.update(ch('n')).is_empty());
    assert_eq!(a.mode, Mode::Normal);
}

#[test]
fn an_operator_may_not_manage_access() {
    let mut a = app(Lang::En, Role::Operator);
    assert!(!a.read_only());
    a.update(ch('5'));
    a.update(ch('d'));
    assert_eq!(a.mode, Mode::Normal);
    assert!(!a.allowed(mottak_protocol::console::Permission::ManageAccess));
}

#[test]
fn permissions_are_per_mottakersystem() {
    let mut a = app(Lang::En, Role::Operator);
    // Operator on barnevern only: nav-frogn's rows are out of reach.
    let mut w = support::welcome("kari", Role::Operator);
    w.permissions.retain(|p| p.mottakersystem == "barnevern");
    a.update(Action::Client(ClientEvent::Connected(Box::new(w))));
    a.update(ch('2'));
    a.update(ch('j'));
    assert!(a.update(ch('r')).is_empty());
    assert_eq!(a.mode, Mode::Normal);
    assert!(a.toast.as_ref().unwrap().text.contains("does not allow"));
}

#[test]
fn admins_add_and_remove_access_with_confirmation() {
    let mut a = app(Lang::En, Role::Admin);
    a.update(ch('5'));
    a.update(ch('n'));
    typed(&mut a, "user ola operator");
    a.update(key(KeyCode::Enter));
    assert!(
        matches!(a.mode, Mode::Prompt { error: true, .. }),
        "incomplete: kept open"
    );
    typed(&mut a, " nav-frogn");
    assert!(a.update(key(KeyCode::Enter)).is_empty(), "asks first");
    let e = a.update(ch('y'));
    assert_eq!(
        sends(&e),
        [&Command::Grant {
            principal: Principal::User("ola".into()),
            role: Role::Operator,
            scope: Scope::Mottakersystem("nav-frogn".into()),
        }]
    );
    // Remove the first row (user kari admin *): a revoke, after a yes.
    a.update(ch('g'));
    a.update(ch('d'));
    let e = a.update(ch('y'));
    assert_eq!(
        sends(&e),
        [&Command::Revoke {
            principal: Principal::User("kari".into()),
            role: Role::Admin,
            scope: Scope::All,
        }]
    );
    a.update(ch('m'));
    typed(&mut a, "ola drift");
    a.update(key(KeyCode::Enter));
    let e = a.update(ch('y'));
    assert!(matches!(sends(&e)[..], [Command::AddMember { .. }]));
    // A Unix group's member is not the agent's to remove.
    a.update(ch('G'));
    a.update(ch('d'));
    assert_eq!(a.mode, Mode::Normal);
}

#[test]
fn pause_resume_and_poll_now_from_the_overview() {
    let mut a = app(Lang::En, Role::Operator);
    // barnevern first: poll now goes at once (harmless), pause asks.
    let e = a.update(ch('o'));
    assert!(matches!(sends(&e)[..], [Command::PollNow { .. }]));
    a.update(ch('p'));
    let e = a.update(ch('y'));
    assert!(
        matches!(sends(&e)[..], [Command::Pause { mottakersystem, .. }] if mottakersystem == "barnevern")
    );
    // byggesak is paused: p resumes.
    a.update(ch('j'));
    a.update(ch('p'));
    let e = a.update(ch('y'));
    assert!(
        matches!(sends(&e)[..], [Command::Resume { mottakersystem }] if mottakersystem == "byggesak")
    );
}

#[test]
fn deltas_update_rows_and_drop_marks_of_rows_gone() {
    let mut a = app(Lang::En, Role::Operator);
    a.update(ch('2'));
    a.update(ch('a'));
    a.update(ch('j'));
    a.update(ch('j')); // bbbb
    a.update(Action::Client(ClientEvent::Message(Box::new(
        ServerMessage::Delta {
            seq: 2,
            patches: vec![
                Patch::FailedRemoved {
                    mottakersystem: "nav-frogn".into(),
                    id: "aaaa1111-0000-4000-8000-000000000001".into(),
                },
                Patch::FailedTotal { total: 3 },
            ],
        },
    ))));
    assert_eq!(a.failed_rows().len(), 3);
    assert_eq!(a.marks.len(), 3);
    assert_eq!(
        &a.selected_failed().unwrap().id.raw()[..4],
        "bbbb",
        "cursor stays on its row"
    );
}

#[test]
fn connection_states_and_staleness() {
    let mut a = app(Lang::En, Role::Admin);
    assert!(a.complete() && !a.stale());
    a.update(Action::Client(ClientEvent::Lost {
        error: "broken".into(),
        retry_at: NOW + 1000,
    }));
    assert!(a.stale() && !a.complete());
    assert!(a.state.is_some(), "data is kept while disconnected");
    // Commands while lost are not sent (the client says so).
    a.update(ch('2'));
    a.update(ch('j'));
    a.update(ch('r'));
    let e = a.update(ch('y'));
    let id = ids(&e).remove(0);
    a.update(Action::Client(ClientEvent::NotSent { id }));
    assert!(a.toast.as_ref().unwrap().text.contains("Not connected"));
    assert_eq!(a.in_flight(), 0);
    // Reconnect: still stale until the snapshot.
    a.update(Action::Client(ClientEvent::Connecting { attempt: 2 }));
    a.update(Action::Client(ClientEvent::Connected(Box::new(
        support::welcome("kari", Role::Admin),
    ))));
    assert!(a.stale());
    a.update(Action::Client(ClientEvent::Message(Box::new(
        ServerMessage::Snapshot {
            seq: 7,
            state: support::sample_state(),
        },
    ))));
    assert!(!a.stale() && a.complete());
    a.update(Action::Client(ClientEvent::Resyncing));
    assert!(a.stale());
}

#[test]
fn help_opens_and_any_key_closes_it() {
    let mut a = app(Lang::En, Role::Admin);
    a.update(ch('?'));
    assert_eq!(a.mode, Mode::Help);
    a.update(ch('j'));
    assert_eq!(a.help_scroll, 1);
    a.update(key(KeyCode::Esc));
    assert_eq!(a.mode, Mode::Normal);
}

#[test]
fn language_from_the_environment() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    assert_eq!(Lang::from_vars(env(&[("LANG", "nb_NO.UTF-8")])), Lang::Nb);
    assert_eq!(Lang::from_vars(env(&[("LANG", "en_GB.UTF-8")])), Lang::En);
    assert_eq!(
        Lang::from_vars(env(&[("LANG", "nb_NO.UTF-8"), ("LC_ALL", "C")])),
        Lang::En
    );
    assert_eq!(
        Lang::from_vars(env(&[("LANG", "C"), ("LC_MESSAGES", "no_NO")])),
        Lang::Nb
    );
    assert_eq!(
        Lang::from_vars(env(&[("LC_ALL", ""), ("LANG", "nn_NO")])),
        Lang::Nb
    );
    assert_eq!(Lang::from_vars(env(&[])), Lang::En);
}

// ---------------------------------------------------------------------------------------------
// Outbound: failed saksoppdateringer, retried or discarded through the same choke point

/// The outbound view's first row: the failed update of nav-frogn (failed sort first).
fn failed_update_id() -> String {
    support::update_id(50 * 60_000, support::CASE_A)
}

#[test]
fn the_outbound_view_lists_failures_first_and_is_reachable_three_ways() {
    let mut a = app(Lang::En, Role::Operator);
    a.update(ch('3'));
    assert_eq!(a.view, View::Outbound);
    let states: Vec<OutboundState> = a.outbound_rows().iter().map(|r| r.item.state).collect();
    assert_eq!(
        states,
        [
            OutboundState::Failed,
            OutboundState::RetryWait,
            OutboundState::Queued
        ]
    );
    a.update(ch('1'));
    a.update(key(KeyCode::Tab));
    a.update(key(KeyCode::Tab));
    assert_eq!(a.view, View::Outbound);
    for name in ["utgående", "ut", "outb", "saks"] {
        a.update(ch('1'));
        a.update(ch(':'));
        typed(&mut a, name);
        a.update(key(KeyCode::Enter));
        assert_eq!(a.view, View::Outbound, ":{name}");
    }
    // The filter reaches into feil.txt.
    a.update(ch('/'));
    typed(&mut a, "vedtak.pdf");
    a.update(key(KeyCode::Enter));
    assert_eq!(a.outbound_rows().len(), 1);
    a.update(key(KeyCode::Esc));
    assert_eq!(a.outbound_rows().len(), 3);
}

#[test]
fn retrying_a_failed_saksoppdatering_asks_first_and_sends_its_update_id() {
    let mut a = app(Lang::En, Role::Operator);
    a.update(ch('3'));
    assert!(a.update(ch('r')).is_empty(), "asks first");
    match &a.mode {
        Mode::Confirm(c) => {
            assert_eq!(c.stage, Stage::YesNo { ok_focused: false });
            assert!(c.question.contains(support::CASE_A), "{}", c.question);
            assert!(c.question.contains("ut-feilet/"), "{}", c.question);
        }
        other => panic!("{other:?}"),
    }
    // Enter on the focused Cancel sends nothing.
    assert!(a.update(key(KeyCode::Enter)).is_empty());
    assert_eq!(a.mode, Mode::Normal);
    a.update(ch('r'));
    let e = a.update(ch('y'));
    assert_eq!(
        sends(&e),
        [&Command::Retry {
            mottakersystem: "nav-frogn".into(),
            forsendelse: failed_update_id(),
        }]
    );
}

#[test]
fn discarding_needs_a_reason_and_the_word_discard_not_permanent() {
    let mut a = app(Lang::En, Role::Operator);
    a.update(ch('3'));
    assert!(a.update(ch('P')).is_empty());
    match &a.mode {
        Mode::Confirm(c) => {
            assert!(matches!(c.stage, Stage::Reason { .. }));
            assert!(c.question.contains("never sent"), "{}", c.question);
            assert_eq!(c.typed_word, "discard");
            assert!(c.reason_prompt.contains("audit log"), "{}", c.reason_prompt);
            assert!(!c.reason_prompt.contains("SvarInn"), "{}", c.reason_prompt);
        }
        other => panic!("{other:?}"),
    }
    assert!(a.update(key(KeyCode::Enter)).is_empty(), "no empty reason");
    typed(&mut a, "fagsystemet sender ny");
    a.update(key(KeyCode::Enter));
    typed(&mut a, "permanent");
    assert!(a.update(key(KeyCode::Enter)).is_empty(), "the wrong word");
    assert!(
        matches!(&a.mode, Mode::Confirm(c) if matches!(c.stage, Stage::Typed { error: true, .. }))
    );
    for _ in 0.."permanent".len() {
        a.update(key(KeyCode::Backspace));
    }
    typed(&mut a, "discard");
    let e = a.update(key(KeyCode::Enter));
    assert_eq!(
        sends(&e),
        [&Command::MarkPermanent {
            mottakersystem: "nav-frogn".into(),
            forsendelse: failed_update_id(),
            reason: "fagsystemet sender ny".into(),
        }]
    );
    // Bokmål wants its own word.
    let mut a = app(Lang::Nb, Role::Operator);
    a.update(ch('3'));
    a.update(ch('P'));
    typed(&mut a, "grunn");
    a.update(key(KeyCode::Enter));
    typed(&mut a, "discard");
    assert!(a.update(key(KeyCode::Enter)).is_empty());
    for _ in 0.."discard".len() {
        a.update(key(KeyCode::Backspace));
    }
    typed(&mut a, "forkast");
    assert_eq!(sends(&a.update(key(KeyCode::Enter))).len(), 1);
    // Marking a forsendelse permanent still wants "permanent".
    a.update(ch('2'));
    a.update(ch('P'));
    match &a.mode {
        Mode::Confirm(c) => assert_eq!(c.typed_word, "permanent"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn queued_saksoppdateringer_are_the_agents_and_cannot_be_acted_on() {
    let mut a = app(Lang::En, Role::Operator);
    a.update(ch('3'));
    for row in 1..=2 {
        a.update(ch('g'));
        for _ in 0..row {
            a.update(ch('j'));
        }
        assert_ne!(
            a.selected_outbound().unwrap().item.state,
            OutboundState::Failed
        );
        for c in ['r', 'P'] {
            assert!(a.update(ch(c)).is_empty());
            assert_eq!(a.mode, Mode::Normal);
            assert!(
                a.toast.as_ref().unwrap().text.contains("Only a failed"),
                "{:?}",
                a.toast
            );
        }
    }
}

#[test]
fn failed_saksoppdateringer_are_marked_and_discarded_together() {
    let mut a = app(Lang::En, Role::Operator);
    let mut nav = support::sample_outbound().remove(0);
    let mut older = support::outbound_item(
        support::CASE_C,
        OutboundState::Failed,
        3 * 60 * 60_000,
        Some("- digisos-soker.json: hendelser[0] (status)"),
    );
    older.update_id = support::update_id(3 * 60 * 60_000, support::CASE_C).into();
    nav.failures.insert(0, older.clone());
    nav.counts.insert(OutboundState::Failed, 2);
    a.update(Action::Client(ClientEvent::Message(Box::new(
        ServerMessage::Delta {
            seq: 2,
            patches: vec![Patch::Outbound(nav)],
        },
    ))));
    a.update(ch('3'));
    // Only failed rows take a mark: "a" marks the two failed, not the queue.
    a.update(ch('a'));
    assert_eq!(a.out_marks.len(), 2);
    a.update(ch('A'));
    assert!(a.out_marks.is_empty());
    // Space marks the row under the cursor and moves on; on a queued one it says why not.
    a.update(ch('g'));
    a.update(ch(' '));
    a.update(ch(' '));
    assert_eq!(a.out_marks.len(), 2, "{:?}", a.out_marks);
    assert!(a.selected_outbound().unwrap().item.state != OutboundState::Failed);
    a.update(ch(' '));
    assert_eq!(a.out_marks.len(), 2);
    assert!(a.toast.as_ref().unwrap().text.contains("Only a failed"));
    // One discard for both: a reason, the typed word, one command each.
    assert!(a.update(ch('P')).is_empty());
    match &a.mode {
        Mode::Confirm(c) => {
            assert!(c.question.starts_with("Discard 2 failed"), "{}", c.question);
            assert_eq!(c.typed_word, "discard");
        }
        other => panic!("{other:?}"),
    }
    typed(&mut a, "skrevet på nytt");
    a.update(key(KeyCode::Enter));
    typed(&mut a, "discard");
    let e = a.update(key(KeyCode::Enter));
    let mut sent: Vec<String> = sends(&e)
        .into_iter()
        .map(|c| match c {
            Command::MarkPermanent {
                forsendelse,
                reason,
                ..
            } => {
                assert_eq!(reason, "skrevet på nytt");
                forsendelse.clone()
            }
            other => panic!("{other:?}"),
        })
        .collect();
    sent.sort();
    let mut want = vec![older.update_id.raw().to_owned(), failed_update_id()];
    want.sort();
    assert_eq!(sent, want);
    // The marks were used up; Esc clears marks too.
    assert!(a.out_marks.is_empty());
    a.update(ch('a'));
    a.update(key(KeyCode::Esc));
    assert!(a.out_marks.is_empty());
    // Retry in bulk asks in the plural.
    a.update(ch('a'));
    a.update(ch('r'));
    match &a.mode {
        Mode::Confirm(c) => assert!(
            c.question.starts_with("Send 2 saksoppdateringer again?"),
            "{}",
            c.question
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn outbound_actions_are_hidden_from_viewers_and_per_mottakersystem() {
    let mut a = app(Lang::En, Role::Viewer);
    a.update(ch('3'));
    for c in ['r', 'P'] {
        assert!(a.update(ch(c)).is_empty());
        assert_eq!(a.mode, Mode::Normal, "{c}");
    }
    let help = mottak_console::keymap::help_lines(View::Outbound, a.t(), |p| a.allowed(p));
    assert!(help.iter().all(|(k, _)| *k != "r" && *k != "P"), "{help:?}");
    let footer = mottak_console::keymap::footer_hints(View::Outbound, a.t(), |p| a.allowed(p));
    assert!(
        footer.iter().all(|(_, what)| !what.contains("discard")),
        "{footer:?}"
    );
    // An operator of barnevern only may not touch nav-frogn's failure.
    let mut a = app(Lang::En, Role::Operator);
    let mut w = support::welcome("kari", Role::Operator);
    w.permissions.retain(|p| p.mottakersystem == "barnevern");
    a.update(Action::Client(ClientEvent::Connected(Box::new(w))));
    a.update(ch('3'));
    assert!(a.update(ch('P')).is_empty());
    assert_eq!(a.mode, Mode::Normal);
    assert!(a.toast.as_ref().unwrap().text.contains("does not allow"));
    // The operator sees both keys.
    let a = app(Lang::En, Role::Operator);
    let help = mottak_console::keymap::help_lines(View::Outbound, a.t(), |p| a.allowed(p));
    assert!(help.contains(&("r", "send again")), "{help:?}");
    assert!(help.contains(&("P", "discard")), "{help:?}");
}

#[test]
fn the_outbound_cursor_stays_on_its_update_across_deltas() {
    let mut a = app(Lang::En, Role::Operator);
    a.update(ch('3'));
    a.update(ch('j')); // the retry-wait one
    let before = a.selected_outbound().unwrap().item.update_id.clone();
    let mut nav = support::sample_outbound().remove(0);
    // A second failure, older than every row: it sorts first.
    let mut older = support::outbound_item(
        support::CASE_C,
        OutboundState::Failed,
        3 * 60 * 60_000,
        Some("- Fiks refused it (403)"),
    );
    older.update_id = support::update_id(3 * 60 * 60_000, support::CASE_C).into();
    nav.failures.insert(0, older);
    nav.counts.insert(OutboundState::Failed, 2);
    a.update(Action::Client(ClientEvent::Message(Box::new(
        ServerMessage::Delta {
            seq: 2,
            patches: vec![Patch::Outbound(nav)],
        },
    ))));
    assert_eq!(a.outbound_rows().len(), 4);
    assert_eq!(a.selected_outbound().unwrap().item.update_id, before);
    // The failure leaves (retried): the rows shrink, the cursor stays in bounds.
    let mut nav = support::sample_outbound().remove(0);
    nav.failures.clear();
    nav.queue.clear();
    a.update(Action::Client(ClientEvent::Message(Box::new(
        ServerMessage::Delta {
            seq: 3,
            patches: vec![Patch::Outbound(nav)],
        },
    ))));
    assert!(a.outbound_rows().is_empty());
    assert!(a.selected_outbound().is_none());
    assert!(a.update(ch('r')).is_empty());
}
