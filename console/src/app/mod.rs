//! The console's state machine: `App::update(Action) -> Vec<Effect>`, pure
//! (time arrives as [`Action::Tick`], the agent's messages as
//! [`Action::Client`]; nothing here touches a socket or the terminal).
//!
//! Every command to the agent goes through one choke point,
//! [`App::propose`]: it decides how much confirmation the command needs
//! ([`confirm_level`]), opens the dialog, and only [`App::confirm`] turns a
//! confirmed proposal into [`Effect::Send`]. Cancel is the default in every
//! dialog; marking permanent asks for a reason and then a typed word.
//!
//! This file holds the types and the update entry (the agent's messages, the
//! batches' results); rows, the cursor, keys, actions, the confirmation, the
//! prompt and the `:` line are submodules, one concern each.

use std::collections::{BTreeMap, BTreeSet};

use mottak_protocol::console::{
    Command, ConsoleState, ErrorCode, Outcome, Permission, Role, RoleGrant, ServerMessage,
    SystemPermissions, Transport,
};
use ratatui::crossterm::event::KeyEvent;

use crate::i18n::{Lang, Texts, fill};
use crate::theme::{Level, ThemeKind};

mod actions;
mod command_line;
mod confirm;
mod keys;
mod prompt;
mod rows;
mod selection;

pub use command_line::{completions, view_by_name};
pub use confirm::{Confirm, ConfirmLevel, Stage, confirm_level};
pub use prompt::{PromptKind, parse_grant, parse_member};
pub use rows::{
    AUDIT_SORTS, AccessRow, AuditSort, FAILED_SORTS, FailedKey, FailedSort, ListState,
    OUTBOUND_SORTS, OutboundRow, OutboundSort, QUEUE_SORTS, QueueSort, failed_since, in_progress,
    needs_person, out_key, queue_count, short_id,
};

/// The views, in Tab order. Outbound sits beside Failed imports: the two
/// lists of work a person must do, one per direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum View {
    Overview,
    Failed,
    Outbound,
    Integrations,
    Access,
    Audit,
}

impl View {
    pub const ALL: [View; 6] = [
        View::Overview,
        View::Failed,
        View::Outbound,
        View::Integrations,
        View::Access,
        View::Audit,
    ];

    pub fn index(self) -> usize {
        match self {
            View::Overview => 0,
            View::Failed => 1,
            View::Outbound => 2,
            View::Integrations => 3,
            View::Access => 4,
            View::Audit => 5,
        }
    }

    /// The names `:` accepts (English first, then bokmål).
    pub fn names(self) -> &'static [&'static str] {
        match self {
            View::Overview => &["overview", "oversikt"],
            View::Failed => &["failed", "imports", "feilet", "importer"],
            View::Outbound => &["outbound", "utgående", "utgaende", "saksoppdateringer"],
            View::Integrations => &["integrations", "integrasjoner"],
            View::Access => &["access", "acl", "tilgang"],
            View::Audit => &["audit", "log", "logg", "revisjon"],
        }
    }

    pub fn title(self, t: &Texts) -> &'static str {
        match self {
            View::Overview => t.view_overview,
            View::Failed => t.view_failed,
            View::Outbound => t.view_outbound,
            View::Integrations => t.view_integrations,
            View::Access => t.view_access,
            View::Audit => t.view_audit,
        }
    }

    /// The tab's name on narrow screens.
    pub fn short_title(self, t: &Texts) -> &'static str {
        match self {
            View::Overview => t.tab_overview,
            View::Failed => t.tab_failed,
            View::Outbound => t.tab_outbound,
            View::Integrations => t.tab_integrations,
            View::Access => t.tab_access,
            View::Audit => t.tab_audit,
        }
    }

    fn next(self) -> View {
        View::ALL[(self.index() + 1) % View::ALL.len()]
    }

    fn prev(self) -> View {
        View::ALL[(self.index() + View::ALL.len() - 1) % View::ALL.len()]
    }
}

/// What the agent said about the caller in `welcome`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Welcome {
    pub user: String,
    pub transport: Transport,
    pub agent_version: String,
    pub roles: Vec<RoleGrant>,
    pub permissions: Vec<SystemPermissions>,
}

impl Welcome {
    /// From a `welcome` message; `None` for any other message.
    pub fn from_message(m: &ServerMessage) -> Option<Welcome> {
        match m {
            ServerMessage::Welcome {
                agent_version,
                user,
                transport,
                roles,
                permissions,
                ..
            } => Some(Welcome {
                user: user.clone(),
                transport: *transport,
                agent_version: agent_version.clone(),
                roles: roles.clone(),
                permissions: permissions.clone(),
            }),
            _ => None,
        }
    }

    /// The highest role held anywhere.
    pub fn top_role(&self) -> Option<Role> {
        self.permissions.iter().map(|p| p.role).max()
    }

    pub fn may(&self, p: Permission, mottakersystem: &str) -> bool {
        self.permissions
            .iter()
            .any(|s| s.mottakersystem == mottakersystem && s.permissions.contains(&p))
    }

    pub fn may_anywhere(&self, p: Permission) -> bool {
        self.permissions.iter().any(|s| s.permissions.contains(&p))
    }

    /// True when the caller may do nothing but look.
    pub fn read_only(&self) -> bool {
        !self
            .permissions
            .iter()
            .any(|s| s.permissions.iter().any(|p| *p != Permission::View))
    }
}

/// What the connection task reports.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// Trying to connect (the first attempt is 1).
    Connecting { attempt: u32 },
    /// Hello answered; a subscribe has been sent.
    Connected(Box<Welcome>),
    /// A message from the agent (snapshot, delta, result, error, welcome).
    Message(Box<ServerMessage>),
    /// The sequence had a gap (or the agent dropped us): subscribed again,
    /// waiting for a fresh snapshot.
    Resyncing,
    /// The connection is gone; the next attempt is at `retry_at` (Unix ms).
    Lost { error: String, retry_at: i64 },
    /// A command could not be sent (not connected).
    NotSent { id: String },
}

/// Input to [`App::update`].
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Key(KeyEvent),
    /// The clock (Unix ms); sent about once a second.
    Tick(i64),
    Client(ClientEvent),
    Resize,
    ScrollUp,
    ScrollDown,
}

/// What the loop must do after an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Send this command to the agent.
    Send {
        id: String,
        command: Command,
    },
    Quit,
}

/// The connection as the header shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conn {
    Connecting { attempt: u32 },
    Connected { since: i64 },
    Lost { error: String, retry_at: i64 },
}

/// The mode the keyboard is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Filter,
    /// `:` and a view's name; `typed` is what was typed before Tab completed it.
    Command {
        input: String,
        typed: String,
        completion: usize,
    },
    Help,
    Confirm(Confirm),
    Prompt {
        kind: PromptKind,
        input: String,
        error: bool,
    },
}

/// A line at the bottom saying what just happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toast {
    pub level: Level,
    pub text: String,
    pub at: i64,
}

/// Commands sent together (a bulk action), counted as results come back.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Batch {
    label: String,
    total: usize,
    ok: usize,
    failed: usize,
    first_error: Option<String>,
}

/// The console.
#[derive(Debug, Clone)]
pub struct App {
    pub lang: Lang,
    pub theme: ThemeKind,
    pub now_ms: i64,
    /// Where the console connects (shown while waiting).
    pub target: String,
    pub conn: Conn,
    pub welcome: Option<Welcome>,
    pub state: Option<ConsoleState>,
    /// A snapshot from the current connection has arrived.
    pub synced: bool,
    pub view: View,
    pub mode: Mode,
    pub lists: [ListState; 6],
    /// Marked failed imports.
    pub marks: BTreeSet<FailedKey>,
    /// Marked failed saksoppdateringer: (mottakersystem, update id).
    pub out_marks: BTreeSet<FailedKey>,
    /// The failed import under the cursor (kept across updates).
    selected_failed: Option<FailedKey>,
    /// The saksoppdatering under the cursor (kept across updates).
    selected_outbound: Option<FailedKey>,
    pub toast: Option<Toast>,
    pub help_scroll: u16,
    /// Integrations: lines scrolled past the top of the selected system's
    /// block (PgDn/PgUp read a block taller than the screen; j/k reset it).
    pub integrations_offset: usize,
    /// Rows a page moves (set by the loop from the terminal's height).
    pub page: usize,
    id_prefix: String,
    next_id: u64,
    pending: BTreeMap<String, u64>,
    batches: BTreeMap<u64, Batch>,
    next_batch: u64,
}

impl App {
    /// `id_prefix` makes command ids unique across runs (the agent keeps
    /// `(user, id)` → outcome, so an id must never be reused).
    pub fn new(lang: Lang, theme: ThemeKind, target: String, id_prefix: String) -> App {
        App {
            lang,
            theme,
            now_ms: 0,
            target,
            conn: Conn::Connecting { attempt: 1 },
            welcome: None,
            state: None,
            synced: false,
            view: View::Overview,
            mode: Mode::Normal,
            lists: Default::default(),
            marks: BTreeSet::new(),
            out_marks: BTreeSet::new(),
            selected_failed: None,
            selected_outbound: None,
            toast: None,
            help_scroll: 0,
            integrations_offset: 0,
            page: 10,
            id_prefix,
            next_id: 1,
            pending: BTreeMap::new(),
            batches: BTreeMap::new(),
            next_batch: 1,
        }
    }

    pub fn t(&self) -> &'static Texts {
        self.lang.texts()
    }

    /// Data is shown but may be out of date (not connected, or resyncing).
    pub fn stale(&self) -> bool {
        self.state.is_some() && !(self.synced && matches!(self.conn, Conn::Connected { .. }))
    }

    /// A complete snapshot from the current connection is held.
    pub fn complete(&self) -> bool {
        self.synced && self.state.is_some() && matches!(self.conn, Conn::Connected { .. })
    }

    pub fn read_only(&self) -> bool {
        self.welcome.as_ref().is_none_or(Welcome::read_only)
    }

    /// The caller holds `p` on some mottakersystem.
    pub fn allowed(&self, p: Permission) -> bool {
        p == Permission::View || self.welcome.as_ref().is_some_and(|w| w.may_anywhere(p))
    }

    pub fn may(&self, p: Permission, mottakersystem: &str) -> bool {
        self.welcome
            .as_ref()
            .is_some_and(|w| w.may(p, mottakersystem))
    }

    pub fn list(&self) -> &ListState {
        &self.lists[self.view.index()]
    }

    fn list_mut(&mut self) -> &mut ListState {
        &mut self.lists[self.view.index()]
    }

    // -----------------------------------------------------------------------------------------
    // update

    pub fn update(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::Tick(now) => {
                self.now_ms = now;
                if let Some(t) = &self.toast
                    && now - t.at > 15_000
                {
                    self.toast = None;
                }
                Vec::new()
            }
            Action::Resize => {
                self.clamp_all();
                Vec::new()
            }
            Action::ScrollUp => {
                self.move_by(-1);
                Vec::new()
            }
            Action::ScrollDown => {
                self.move_by(1);
                Vec::new()
            }
            Action::Client(ev) => {
                self.on_client(ev);
                Vec::new()
            }
            Action::Key(key) => self.on_key(key),
        }
    }

    fn on_client(&mut self, ev: ClientEvent) {
        match ev {
            ClientEvent::Connecting { attempt } => {
                self.conn = Conn::Connecting { attempt };
                self.synced = false;
            }
            ClientEvent::Connected(w) => {
                self.welcome = Some(*w);
                self.conn = Conn::Connected { since: self.now_ms };
                self.synced = false;
            }
            ClientEvent::Resyncing => self.synced = false,
            ClientEvent::Lost { error, retry_at } => {
                self.conn = Conn::Lost { error, retry_at };
                self.synced = false;
                // Commands in flight get no answer on this connection.
                let ids: Vec<String> = self.pending.keys().cloned().collect();
                for id in ids {
                    let msg = self.t().not_connected.to_owned();
                    self.resolve(&id, Err(msg));
                }
            }
            ClientEvent::NotSent { id } => {
                let msg = self.t().not_connected.to_owned();
                self.resolve(&id, Err(msg));
            }
            ClientEvent::Message(m) => self.on_message(*m),
        }
    }

    fn on_message(&mut self, m: ServerMessage) {
        match m {
            ServerMessage::Welcome { .. } => {
                if let Some(w) = Welcome::from_message(&m) {
                    self.welcome = Some(w);
                }
            }
            ServerMessage::Snapshot { state, .. } => {
                self.state = Some(state);
                self.synced = true;
                self.after_data_change();
            }
            ServerMessage::Delta { patches, .. } => {
                if let Some(s) = &mut self.state {
                    s.apply_all(&patches);
                    self.after_data_change();
                }
            }
            ServerMessage::Result { id, outcome } => {
                let r = match outcome {
                    Outcome::Ok { message } => Ok(message),
                    Outcome::Error { code, message } => Err(format!("{code}: {message}")),
                };
                self.resolve(&id, r);
            }
            ServerMessage::Error { code, message, id } => {
                if let Some(id) = id {
                    self.resolve(&id, Err(format!("{code}: {message}")));
                } else {
                    let level = if code == ErrorCode::NoAccess {
                        Level::Critical
                    } else {
                        Level::Warning
                    };
                    let text = fill(self.t().agent_says, &[&format!("{code}: {message}")]);
                    self.toast(level, text);
                }
            }
        }
    }

    fn toast(&mut self, level: Level, text: String) {
        self.toast = Some(Toast {
            level,
            text,
            at: self.now_ms,
        });
    }

    /// Counts a command's result into its batch; the toast says how the
    /// batch went once every result is in.
    fn resolve(&mut self, id: &str, result: Result<String, String>) {
        let Some(batch_id) = self.pending.remove(id) else {
            return;
        };
        let Some(batch) = self.batches.get_mut(&batch_id) else {
            return;
        };
        match result {
            Ok(_) => batch.ok += 1,
            Err(e) => {
                batch.failed += 1;
                if batch.first_error.is_none() {
                    batch.first_error = Some(e);
                }
            }
        }
        if batch.ok + batch.failed < batch.total {
            return;
        }
        let Some(batch) = self.batches.remove(&batch_id) else {
            return;
        };
        let t = self.t();
        let (level, text) = match (&batch.first_error, batch.total) {
            (None, 1) => (Level::Ok, fill(t.done_ok, &[&batch.label])),
            (None, n) => (Level::Ok, fill(t.done_n, &[&batch.ok, &n])),
            (Some(e), _) => (
                Level::Critical,
                format!(
                    "{} · {}",
                    fill(t.done_n, &[&batch.ok, &batch.total]),
                    fill(t.failed_first, &[&batch.failed, e])
                ),
            ),
        };
        self.toast(level, text);
    }

    /// Commands sent and not answered yet.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }
}
