//! The one key map: every key the console answers to in its normal mode,
//! with the view it works in, the permission it needs and its help text.
//! `?` help and the footer's hints are generated from [`BINDINGS`], so what
//! is shown is what works, and an action the role may not perform is never
//! shown.

use mottak_protocol::console::Permission;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::app::View;
use crate::i18n::Texts;

/// What a key asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAction {
    Quit,
    Help,
    NextView,
    PrevView,
    CommandMode,
    GotoView(View),
    Down,
    Up,
    Top,
    Bottom,
    PageDown,
    PageUp,
    Filter,
    Escape,
    Sort,
    ReverseSort,
    Mark,
    MarkAll,
    UnmarkAll,
    Detail,
    Retry,
    MoveToInn,
    MarkPermanent,
    /// Give up on a failed saksoppdatering (`mark_permanent` of its update id).
    Discard,
    PauseResume,
    PollNow,
    AddGrant,
    AddMember,
    Remove,
    Theme,
    Lang,
}

/// One key, as crossterm reports it. Shift is ignored for characters
/// (`G` arrives as `Char('G')` with or without SHIFT, depending on the terminal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
}

const fn ch(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        ctrl: false,
    }
}

const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        ctrl: true,
    }
}

const fn code(code: KeyCode) -> Key {
    Key { code, ctrl: false }
}

/// Where a binding works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Where {
    Everywhere,
    In(&'static [View]),
}

impl Where {
    pub fn covers(self, view: View) -> bool {
        match self {
            Where::Everywhere => true,
            Where::In(views) => views.contains(&view),
        }
    }
}

/// One line of the key map.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub keys: &'static [Key],
    /// How the keys are written in help (`j ↓`).
    pub label: &'static str,
    pub action: KeyAction,
    pub scope: Where,
    /// Hidden unless the caller has this permission on some mottakersystem.
    pub needs: Option<Permission>,
    pub help: fn(&Texts) -> &'static str,
    /// Shown in the footer's short list.
    pub footer: bool,
}

const TABLES: &[View] = &[
    View::Overview,
    View::Failed,
    View::Outbound,
    View::Integrations,
    View::Access,
    View::Audit,
];
const SORTED: &[View] = &[View::Overview, View::Failed, View::Outbound, View::Audit];
const FAILED: &[View] = &[View::Failed];
const OUTBOUND: &[View] = &[View::Outbound];
const WITH_DETAIL: &[View] = &[View::Failed, View::Outbound];
const OVERVIEW: &[View] = &[View::Overview];
const ACCESS: &[View] = &[View::Access];

/// The key map.
pub static BINDINGS: &[Binding] = &[
    Binding {
        keys: &[ch('?'), code(KeyCode::F(1))],
        label: "?",
        action: KeyAction::Help,
        scope: Where::Everywhere,
        needs: None,
        help: |t| t.k_help,
        footer: true,
    },
    Binding {
        keys: &[ch('q'), ctrl('c')],
        label: "q ^C",
        action: KeyAction::Quit,
        scope: Where::Everywhere,
        needs: None,
        help: |t| t.k_quit,
        footer: true,
    },
    Binding {
        keys: &[code(KeyCode::Tab)],
        label: "Tab",
        action: KeyAction::NextView,
        scope: Where::Everywhere,
        needs: None,
        help: |t| t.k_next_view,
        footer: false,
    },
    Binding {
        keys: &[code(KeyCode::BackTab)],
        label: "S-Tab",
        action: KeyAction::PrevView,
        scope: Where::Everywhere,
        needs: None,
        help: |t| t.k_prev_view,
        footer: false,
    },
    Binding {
        keys: &[ch(':')],
        label: ":",
        action: KeyAction::CommandMode,
        scope: Where::Everywhere,
        needs: None,
        help: |t| t.k_goto_view,
        footer: false,
    },
    Binding {
        keys: &[ch('1')],
        label: "1-6",
        action: KeyAction::GotoView(View::Overview),
        scope: Where::Everywhere,
        needs: None,
        help: |t| t.k_view_n,
        footer: false,
    },
    Binding {
        keys: &[ch('2')],
        label: "",
        action: KeyAction::GotoView(View::Failed),
        scope: Where::Everywhere,
        needs: None,
        help: |t| t.k_view_n,
        footer: false,
    },
    Binding {
        keys: &[ch('3')],
        label: "",
        action: KeyAction::GotoView(View::Outbound),
        scope: Where::Everywhere,
        needs: None,
        help: |t| t.k_view_n,
        footer: false,
    },
    Binding {
        keys: &[ch('4')],
        label: "",
        action: KeyAction::GotoView(View::Integrations),
        scope: Where::Everywhere,
        needs: None,
        help: |t| t.k_view_n,
        footer: false,
    },
    Binding {
        keys: &[ch('5')],
        label: "",
        action: KeyAction::GotoView(View::Access),
        scope: Where::Everywhere,
        needs: None,
        help: |t| t.k_view_n,
        footer: false,
    },
    Binding {
        keys: &[ch('6')],
        label: "",
        action: KeyAction::GotoView(View::Audit),
        scope: Where::Everywhere,
        needs: None,
        help: |t| t.k_view_n,
        footer: false,
    },
    Binding {
        keys: &[ch('j'), code(KeyCode::Down)],
        label: "j ↓",
        action: KeyAction::Down,
        scope: Where::In(TABLES),
        needs: None,
        help: |t| t.k_down,
        footer: false,
    },
    Binding {
        keys: &[ch('k'), code(KeyCode::Up)],
        label: "k ↑",
        action: KeyAction::Up,
        scope: Where::In(TABLES),
        needs: None,
        help: |t| t.k_up,
        footer: false,
    },
    Binding {
        keys: &[ch('g'), code(KeyCode::Home)],
        label: "g Home",
        action: KeyAction::Top,
        scope: Where::In(TABLES),
        needs: None,
        help: |t| t.k_top,
        footer: false,
    },
    Binding {
        keys: &[ch('G'), code(KeyCode::End)],
        label: "G End",
        action: KeyAction::Bottom,
        scope: Where::In(TABLES),
        needs: None,
        help: |t| t.k_bottom,
        footer: false,
    },
    Binding {
        keys: &[ctrl('d'), code(KeyCode::PageDown)],
        label: "^D PgDn",
        action: KeyAction::PageDown,
        scope: Where::In(TABLES),
        needs: None,
        help: |t| t.k_page_down,
        footer: false,
    },
    Binding {
        keys: &[ctrl('u'), code(KeyCode::PageUp)],
        label: "^U PgUp",
        action: KeyAction::PageUp,
        scope: Where::In(TABLES),
        needs: None,
        help: |t| t.k_page_up,
        footer: false,
    },
    Binding {
        keys: &[ch('/')],
        label: "/",
        action: KeyAction::Filter,
        scope: Where::In(TABLES),
        needs: None,
        help: |t| t.k_filter,
        footer: true,
    },
    Binding {
        keys: &[code(KeyCode::Esc)],
        label: "Esc",
        action: KeyAction::Escape,
        scope: Where::Everywhere,
        needs: None,
        help: |t| t.k_clear,
        footer: false,
    },
    Binding {
        keys: &[ch('s')],
        label: "s",
        action: KeyAction::Sort,
        scope: Where::In(SORTED),
        needs: None,
        help: |t| t.k_sort,
        footer: false,
    },
    Binding {
        keys: &[ch('S')],
        label: "S",
        action: KeyAction::ReverseSort,
        scope: Where::In(SORTED),
        needs: None,
        help: |t| t.k_reverse,
        footer: false,
    },
    Binding {
        keys: &[code(KeyCode::Enter)],
        label: "Enter",
        action: KeyAction::Detail,
        scope: Where::In(WITH_DETAIL),
        needs: None,
        help: |t| t.k_detail,
        footer: true,
    },
    Binding {
        keys: &[ch(' ')],
        label: "Space",
        action: KeyAction::Mark,
        scope: Where::In(FAILED),
        needs: Some(Permission::Retry),
        help: |t| t.k_mark,
        footer: true,
    },
    Binding {
        keys: &[ch('a')],
        label: "a",
        action: KeyAction::MarkAll,
        scope: Where::In(FAILED),
        needs: Some(Permission::Retry),
        help: |t| t.k_mark_all,
        footer: false,
    },
    Binding {
        keys: &[ch('A')],
        label: "A",
        action: KeyAction::UnmarkAll,
        scope: Where::In(FAILED),
        needs: Some(Permission::Retry),
        help: |t| t.k_unmark_all,
        footer: false,
    },
    Binding {
        keys: &[ch('r')],
        label: "r",
        action: KeyAction::Retry,
        scope: Where::In(FAILED),
        needs: Some(Permission::Retry),
        help: |t| t.k_retry,
        footer: true,
    },
    Binding {
        keys: &[ch('i')],
        label: "i",
        action: KeyAction::MoveToInn,
        scope: Where::In(FAILED),
        needs: Some(Permission::MoveToInn),
        help: |t| t.k_move_to_inn,
        footer: true,
    },
    Binding {
        keys: &[ch('P')],
        label: "P",
        action: KeyAction::MarkPermanent,
        scope: Where::In(FAILED),
        needs: Some(Permission::MarkPermanent),
        help: |t| t.k_mark_permanent,
        footer: true,
    },
    Binding {
        keys: &[ch('r')],
        label: "r",
        action: KeyAction::Retry,
        scope: Where::In(OUTBOUND),
        needs: Some(Permission::Retry),
        help: |t| t.k_out_retry,
        footer: true,
    },
    Binding {
        keys: &[ch('P')],
        label: "P",
        action: KeyAction::Discard,
        scope: Where::In(OUTBOUND),
        needs: Some(Permission::MarkPermanent),
        help: |t| t.k_discard,
        footer: true,
    },
    // Marks as in Failed imports, but out of the footer: at 80 columns it
    // would push out r and P, the two actions of this view.
    Binding {
        keys: &[ch(' ')],
        label: "Space",
        action: KeyAction::Mark,
        scope: Where::In(OUTBOUND),
        needs: Some(Permission::Retry),
        help: |t| t.k_mark,
        footer: false,
    },
    Binding {
        keys: &[ch('a')],
        label: "a",
        action: KeyAction::MarkAll,
        scope: Where::In(OUTBOUND),
        needs: Some(Permission::Retry),
        help: |t| t.k_mark_all,
        footer: false,
    },
    Binding {
        keys: &[ch('A')],
        label: "A",
        action: KeyAction::UnmarkAll,
        scope: Where::In(OUTBOUND),
        needs: Some(Permission::Retry),
        help: |t| t.k_unmark_all,
        footer: false,
    },
    Binding {
        keys: &[ch('p')],
        label: "p",
        action: KeyAction::PauseResume,
        scope: Where::In(OVERVIEW),
        needs: Some(Permission::Pause),
        help: |t| t.k_pause,
        footer: true,
    },
    Binding {
        keys: &[ch('o')],
        label: "o",
        action: KeyAction::PollNow,
        scope: Where::In(OVERVIEW),
        needs: Some(Permission::PollNow),
        help: |t| t.k_poll_now,
        footer: true,
    },
    Binding {
        keys: &[ch('n')],
        label: "n",
        action: KeyAction::AddGrant,
        scope: Where::In(ACCESS),
        needs: Some(Permission::ManageAccess),
        help: |t| t.k_add_grant,
        footer: true,
    },
    Binding {
        keys: &[ch('m')],
        label: "m",
        action: KeyAction::AddMember,
        scope: Where::In(ACCESS),
        needs: Some(Permission::ManageAccess),
        help: |t| t.k_add_member,
        footer: true,
    },
    Binding {
        keys: &[ch('d'), code(KeyCode::Delete)],
        label: "d Del",
        action: KeyAction::Remove,
        scope: Where::In(ACCESS),
        needs: Some(Permission::ManageAccess),
        help: |t| t.k_remove,
        footer: true,
    },
    Binding {
        keys: &[ch('T')],
        label: "T",
        action: KeyAction::Theme,
        scope: Where::Everywhere,
        needs: None,
        help: |t| t.k_theme,
        footer: false,
    },
    Binding {
        keys: &[ch('L')],
        label: "L",
        action: KeyAction::Lang,
        scope: Where::Everywhere,
        needs: None,
        help: |t| t.k_lang,
        footer: false,
    },
];

impl Key {
    pub fn matches(&self, ev: &KeyEvent) -> bool {
        let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl != self.ctrl || ev.modifiers.contains(KeyModifiers::ALT) {
            return false;
        }
        match (self.code, ev.code) {
            // BackTab arrives as BackTab, or as Tab with SHIFT.
            (KeyCode::BackTab, KeyCode::Tab) => ev.modifiers.contains(KeyModifiers::SHIFT),
            (KeyCode::Tab, KeyCode::Tab) => !ev.modifiers.contains(KeyModifiers::SHIFT),
            (a, b) => a == b,
        }
    }
}

/// The binding for a key in a view, if any.
pub fn lookup(view: View, ev: &KeyEvent) -> Option<&'static Binding> {
    BINDINGS
        .iter()
        .find(|b| b.scope.covers(view) && b.keys.iter().any(|k| k.matches(ev)))
}

/// The lines of `?` help for a view: (keys, what), with the bindings the
/// caller may use (`allowed` says whether a permission is held anywhere).
pub fn help_lines(
    view: View,
    texts: &Texts,
    allowed: impl Fn(Permission) -> bool,
) -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&'static str, &'static str)> = Vec::new();
    for b in BINDINGS {
        if !b.scope.covers(view) || b.label.is_empty() {
            continue;
        }
        if let Some(p) = b.needs
            && !allowed(p)
        {
            continue;
        }
        out.push((b.label, (b.help)(texts)));
    }
    out
}

/// The footer's short list for a view.
pub fn footer_hints(
    view: View,
    texts: &Texts,
    allowed: impl Fn(Permission) -> bool,
) -> Vec<(&'static str, &'static str)> {
    BINDINGS
        .iter()
        .filter(|b| b.footer && b.scope.covers(view))
        .filter(|b| b.needs.is_none_or(&allowed))
        .map(|b| (b.keys_label(), (b.help)(texts)))
        .collect()
}

impl Binding {
    /// The first key's label, for the footer.
    pub fn keys_label(&self) -> &'static str {
        self.label.split(' ').next().unwrap_or(self.label)
    }
}
