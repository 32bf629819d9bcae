//! The console's state machine: `App::update(Action) -> Vec<Effect>`, pure
//! (time arrives as [`Action::Tick`], the agent's messages as
//! [`Action::Client`]; nothing here touches a socket or the terminal).
//!
//! Every command to the agent goes through one choke point,
//! [`App::propose`]: it decides how much confirmation the command needs
//! ([`confirm_level`]), opens the dialog, and only [`App::confirm`] turns a
//! confirmed proposal into [`Effect::Send`]. Cancel is the default in every
//! dialog; marking permanent asks for a reason and then a typed word.

use std::collections::{BTreeMap, BTreeSet};

use mottak_protocol::console::{
    AuditEntry, Command, ConsoleState, ErrorCode, FailedImport, ForsendelseState, Membership,
    OutboundItem, OutboundState, Outcome, Permission, Principal, QueueHealth, Role, RoleGrant,
    Scope, ServerMessage, SystemPermissions, Transport,
};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::i18n::{Lang, Texts, fill};
use crate::keymap::{self, KeyAction};
use crate::outbound::is_update_id;
use crate::theme::{Level, ThemeKind};

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

/// Per view: selection, filter, sort, detail pane.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListState {
    pub selected: usize,
    pub filter: String,
    /// Index into the view's sort columns.
    pub sort: usize,
    pub descending: bool,
    pub detail: bool,
}

impl ListState {
    /// The list's rows: those `matches` finds the filter in (lowercased;
    /// every row when there is none), in `cmp`'s order, reversed when the
    /// list is sorted descending.
    fn rows<T>(
        &self,
        rows: impl Iterator<Item = T>,
        matches: impl Fn(&T, &str) -> bool,
        cmp: impl Fn(&T, &T) -> std::cmp::Ordering,
    ) -> Vec<T> {
        let needle = self.filter.to_lowercase();
        let mut rows: Vec<T> = rows
            .filter(|r| needle.is_empty() || matches(r, &needle))
            .collect();
        rows.sort_by(|a, b| {
            let o = cmp(a, b);
            if self.descending { o.reverse() } else { o }
        });
        rows
    }
}

/// How much confirmation a command needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConfirmLevel {
    /// Harmless: sent at once (poll now).
    None,
    /// A yes/no dialog with Cancel focused.
    YesNo,
    /// A reason, then a typed word.
    Typed,
}

/// The confirmation each command needs: the single table the choke point reads.
pub fn confirm_level(c: &Command) -> ConfirmLevel {
    match c {
        Command::PollNow { .. } => ConfirmLevel::None,
        Command::MarkPermanent { .. } => ConfirmLevel::Typed,
        Command::Retry { .. }
        | Command::MoveToInn { .. }
        | Command::Pause { .. }
        | Command::Resume { .. }
        | Command::Grant { .. }
        | Command::Revoke { .. }
        | Command::AddMember { .. }
        | Command::RemoveMember { .. } => ConfirmLevel::YesNo,
    }
}

/// Where a confirmation dialog is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    YesNo { ok_focused: bool },
    Reason { input: String, error: bool },
    Typed { input: String, error: bool },
}

/// A proposal waiting for the person's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    pub question: String,
    pub commands: Vec<Command>,
    pub label: String,
    pub stage: Stage,
    /// The reason given (mark permanent), once given.
    pub reason: Option<String>,
    /// What the reason stage asks, and the word the typed stage wants:
    /// marking a forsendelse permanent and discarding a saksoppdatering
    /// differ in who is told and in the word typed.
    pub reason_prompt: &'static str,
    pub typed_word: &'static str,
}

/// What a free-text prompt is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    AddGrant,
    AddMember,
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

/// A row of the access view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessRow<'a> {
    Grant(&'a RoleGrant),
    Member(&'a Membership),
}

/// Failed-import sort columns, in `s` order.
pub const FAILED_SORTS: [FailedSort; 7] = [
    FailedSort::Age,
    FailedSort::System,
    FailedSort::State,
    FailedSort::Tittel,
    FailedSort::Avsender,
    FailedSort::Attempts,
    FailedSort::Id,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailedSort {
    Age,
    System,
    State,
    Tittel,
    Avsender,
    Attempts,
    Id,
}

impl FailedSort {
    pub fn label(self, t: &Texts) -> &'static str {
        match self {
            FailedSort::Age => t.col_age,
            FailedSort::System => t.col_system,
            FailedSort::State => t.col_state,
            FailedSort::Tittel => t.col_tittel,
            FailedSort::Avsender => t.col_avsender,
            FailedSort::Attempts => t.col_attempts,
            FailedSort::Id => t.col_id,
        }
    }
}

/// Overview sort columns.
pub const QUEUE_SORTS: [QueueSort; 3] = [QueueSort::System, QueueSort::Failed, QueueSort::Oldest];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueSort {
    System,
    Failed,
    Oldest,
}

impl QueueSort {
    pub fn label(self, t: &Texts) -> &'static str {
        match self {
            QueueSort::System => t.col_system,
            QueueSort::Failed => t.col_failed,
            QueueSort::Oldest => t.col_oldest,
        }
    }
}

/// Audit sort columns (newest first by default).
pub const AUDIT_SORTS: [AuditSort; 3] = [AuditSort::Time, AuditSort::Who, AuditSort::Action];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditSort {
    Time,
    Who,
    Action,
}

impl AuditSort {
    pub fn label(self, t: &Texts) -> &'static str {
        match self {
            AuditSort::Time => t.col_time,
            AuditSort::Who => t.col_who,
            AuditSort::Action => t.col_action,
        }
    }
}

/// Outbound sort columns: what needs a person first, then age.
pub const OUTBOUND_SORTS: [OutboundSort; 4] = [
    OutboundSort::State,
    OutboundSort::Age,
    OutboundSort::System,
    OutboundSort::Case,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundSort {
    State,
    Age,
    System,
    Case,
}

impl OutboundSort {
    pub fn label(self, t: &Texts) -> &'static str {
        match self {
            OutboundSort::State => t.col_state,
            OutboundSort::Age => t.col_age,
            OutboundSort::System => t.col_system,
            OutboundSort::Case => t.col_case,
        }
    }
}

/// A row of the outbound view: a failed or queued saksoppdatering and its
/// mottakersystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundRow<'a> {
    pub mottakersystem: &'a str,
    pub item: &'a OutboundItem,
}

/// Failed first (they need a person), then retry-wait, then queued.
fn outbound_state_rank(s: OutboundState) -> u8 {
    match s {
        OutboundState::Failed => 0,
        OutboundState::RetryWait => 1,
        OutboundState::Queued => 2,
        _ => 3,
    }
}

/// A failed import's key.
pub type FailedKey = (String, String);

fn key_of(f: &FailedImport) -> FailedKey {
    (f.mottakersystem.clone(), f.id.raw().to_owned())
}

/// A saksoppdatering's key: (mottakersystem, update id).
pub fn out_key(r: OutboundRow<'_>) -> FailedKey {
    (
        r.mottakersystem.to_owned(),
        r.item.update_id.raw().to_owned(),
    )
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
    // Rows of each view (filtered and sorted), shared with `ui`.

    /// The failed imports shown: filtered, sorted.
    pub fn failed_rows(&self) -> Vec<&FailedImport> {
        let Some(state) = &self.state else {
            return Vec::new();
        };
        let l = &self.lists[View::Failed.index()];
        let sort = FAILED_SORTS.get(l.sort).copied().unwrap_or(FailedSort::Age);
        l.rows(
            state.failed.items.iter(),
            |f, n| failed_matches(f, n),
            |a, b| {
                match sort {
                    FailedSort::Age => failed_since(a).cmp(&failed_since(b)),
                    FailedSort::System => a.mottakersystem.cmp(&b.mottakersystem),
                    FailedSort::State => a.state.cmp(&b.state),
                    FailedSort::Tittel => a.tittel.raw().cmp(b.tittel.raw()),
                    FailedSort::Avsender => a
                        .avsender
                        .as_ref()
                        .map(|t| t.raw())
                        .cmp(&b.avsender.as_ref().map(|t| t.raw())),
                    FailedSort::Attempts => (a.attempts + a.content_failures)
                        .cmp(&(b.attempts + b.content_failures))
                        .reverse(),
                    FailedSort::Id => a.id.cmp(&b.id),
                }
                .then_with(|| key_cmp(a, b))
            },
        )
    }

    /// The failed import under the cursor.
    pub fn selected_failed(&self) -> Option<&FailedImport> {
        let rows = self.failed_rows();
        let i = self.lists[View::Failed.index()].selected;
        rows.get(i).copied()
    }

    /// The outbound view's rows: every mottakersystem's failures and queue,
    /// filtered, sorted.
    pub fn outbound_rows(&self) -> Vec<OutboundRow<'_>> {
        let Some(state) = &self.state else {
            return Vec::new();
        };
        let l = &self.lists[View::Outbound.index()];
        let all = state.outbound.iter().flat_map(|o| {
            o.failures
                .iter()
                .chain(o.queue.iter())
                .map(|item| OutboundRow {
                    mottakersystem: &o.mottakersystem,
                    item,
                })
        });
        let sort = OUTBOUND_SORTS
            .get(l.sort)
            .copied()
            .unwrap_or(OutboundSort::State);
        l.rows(
            all,
            |r, n| outbound_matches(r, n),
            |a, b| {
                match sort {
                    OutboundSort::State => outbound_state_rank(a.item.state)
                        .cmp(&outbound_state_rank(b.item.state))
                        .then_with(|| a.item.claimed_at.cmp(&b.item.claimed_at)),
                    OutboundSort::Age => a.item.claimed_at.cmp(&b.item.claimed_at),
                    OutboundSort::System => a.mottakersystem.cmp(b.mottakersystem),
                    OutboundSort::Case => a.item.digisos_id.cmp(&b.item.digisos_id),
                }
                .then_with(|| a.mottakersystem.cmp(b.mottakersystem))
                .then_with(|| a.item.update_id.cmp(&b.item.update_id))
            },
        )
    }

    /// The saksoppdatering under the cursor.
    pub fn selected_outbound(&self) -> Option<OutboundRow<'_>> {
        let i = self.lists[View::Outbound.index()].selected;
        self.outbound_rows().get(i).copied()
    }

    pub fn queue_rows(&self) -> Vec<&QueueHealth> {
        let Some(state) = &self.state else {
            return Vec::new();
        };
        let l = &self.lists[View::Overview.index()];
        let sort = QUEUE_SORTS
            .get(l.sort)
            .copied()
            .unwrap_or(QueueSort::System);
        let matches = |q: &&QueueHealth, n: &str| q.mottakersystem.to_lowercase().contains(n);
        l.rows(state.queues.iter(), matches, |a, b| match sort {
            QueueSort::System => a.mottakersystem.cmp(&b.mottakersystem),
            QueueSort::Failed => needs_person(b)
                .cmp(&needs_person(a))
                .then_with(|| a.mottakersystem.cmp(&b.mottakersystem)),
            QueueSort::Oldest => oldest(a)
                .cmp(&oldest(b))
                .then_with(|| a.mottakersystem.cmp(&b.mottakersystem)),
        })
    }

    pub fn integration_rows(&self) -> Vec<&mottak_protocol::console::IntegrationStatus> {
        let Some(state) = &self.state else {
            return Vec::new();
        };
        let needle = self.lists[View::Integrations.index()].filter.to_lowercase();
        state
            .integrations
            .iter()
            .filter(|i| {
                needle.is_empty()
                    || i.mottakersystem.to_lowercase().contains(&needle)
                    || i.drop_folder.path.to_lowercase().contains(&needle)
                    || i.svarinn.url.to_lowercase().contains(&needle)
            })
            .collect()
    }

    pub fn access_rows(&self) -> Vec<AccessRow<'_>> {
        let Some(state) = &self.state else {
            return Vec::new();
        };
        let needle = self.lists[View::Access.index()].filter.to_lowercase();
        let grants = state.access.grants.iter().filter(|g| {
            needle.is_empty()
                || format!(
                    "{} {} {} {}",
                    g.principal.kind(),
                    g.principal.name(),
                    g.role,
                    g.scope.as_str()
                )
                .to_lowercase()
                .contains(&needle)
        });
        let members = state.access.members.iter().filter(|m| {
            needle.is_empty()
                || format!("{} {}", m.user, m.group)
                    .to_lowercase()
                    .contains(&needle)
        });
        grants
            .map(AccessRow::Grant)
            .chain(members.map(AccessRow::Member))
            .collect()
    }

    pub fn audit_rows(&self) -> Vec<&AuditEntry> {
        let Some(state) = &self.state else {
            return Vec::new();
        };
        let l = &self.lists[View::Audit.index()];
        let sort = AUDIT_SORTS.get(l.sort).copied().unwrap_or(AuditSort::Time);
        l.rows(
            state.audit.iter(),
            |e, n| audit_matches(e, n),
            |a, b| match sort {
                AuditSort::Time => b.seq.cmp(&a.seq),
                AuditSort::Who => a.who.cmp(&b.who).then_with(|| b.seq.cmp(&a.seq)),
                AuditSort::Action => a.action.cmp(&b.action).then_with(|| b.seq.cmp(&a.seq)),
            },
        )
    }

    fn row_count(&self, view: View) -> usize {
        match view {
            View::Overview => self.queue_rows().len(),
            View::Failed => self.failed_rows().len(),
            View::Outbound => self.outbound_rows().len(),
            View::Integrations => self.integration_rows().len(),
            View::Access => self.access_rows().len(),
            View::Audit => self.audit_rows().len(),
        }
    }

    /// The label of the current view's sort column.
    pub fn sort_label(&self, view: View) -> &'static str {
        let t = self.t();
        let i = self.lists[view.index()].sort;
        match view {
            View::Overview => QUEUE_SORTS.get(i).map_or("", |s| s.label(t)),
            View::Failed => FAILED_SORTS.get(i).map_or("", |s| s.label(t)),
            View::Outbound => OUTBOUND_SORTS.get(i).map_or("", |s| s.label(t)),
            View::Audit => AUDIT_SORTS.get(i).map_or("", |s| s.label(t)),
            View::Integrations | View::Access => "",
        }
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

    /// Keeps the cursor on the same failed import, drops marks of rows gone.
    fn after_data_change(&mut self) {
        if let Some(state) = &self.state {
            let present: BTreeSet<(&str, &str)> = state
                .failed
                .items
                .iter()
                .map(|f| (f.mottakersystem.as_str(), f.id.raw()))
                .collect();
            self.marks
                .retain(|(s, i)| present.contains(&(s.as_str(), i.as_str())));
            // Only failed saksoppdateringer can be marked; one that left the
            // failures (retried, discarded) loses its mark.
            let failed: BTreeSet<(&str, &str)> = state
                .outbound
                .iter()
                .flat_map(|o| {
                    o.failures
                        .iter()
                        .filter(|i| i.state == OutboundState::Failed)
                        .map(|i| (o.mottakersystem.as_str(), i.update_id.raw()))
                })
                .collect();
            self.out_marks
                .retain(|(s, i)| failed.contains(&(s.as_str(), i.as_str())));
        }
        if let Some(key) = self.selected_failed.clone() {
            let pos = self
                .failed_rows()
                .iter()
                .position(|f| f.mottakersystem == key.0 && f.id == key.1);
            if let Some(pos) = pos {
                self.lists[View::Failed.index()].selected = pos;
            }
        }
        if let Some(key) = self.selected_outbound.clone() {
            let pos = self
                .outbound_rows()
                .iter()
                .position(|r| r.mottakersystem == key.0 && r.item.update_id == key.1);
            if let Some(pos) = pos {
                self.lists[View::Outbound.index()].selected = pos;
            }
        }
        self.clamp_all();
        self.remember_failed();
        self.remember_outbound();
    }

    fn remember_failed(&mut self) {
        self.selected_failed = self.selected_failed().map(key_of);
    }

    fn remember_outbound(&mut self) {
        self.selected_outbound = self.selected_outbound().map(|r| {
            (
                r.mottakersystem.to_owned(),
                r.item.update_id.raw().to_owned(),
            )
        });
    }

    /// Remembers the row under the cursor of the lists that keep it.
    fn remember(&mut self) {
        match self.view {
            View::Failed => self.remember_failed(),
            View::Outbound => self.remember_outbound(),
            _ => {}
        }
    }

    fn clamp_all(&mut self) {
        for v in View::ALL {
            let n = self.row_count(v);
            let l = &mut self.lists[v.index()];
            if l.selected >= n {
                l.selected = n.saturating_sub(1);
            }
        }
    }

    fn move_by(&mut self, delta: isize) {
        let n = self.row_count(self.view);
        let l = self.list_mut();
        let cur = l.selected as isize;
        let max = n.saturating_sub(1) as isize;
        l.selected = (cur + delta).clamp(0, max.max(0)) as usize;
        self.integrations_offset = 0;
        self.remember();
    }

    fn set_selected(&mut self, i: usize) {
        let n = self.row_count(self.view);
        self.list_mut().selected = i.min(n.saturating_sub(1));
        self.integrations_offset = 0;
        self.remember();
    }

    fn toast(&mut self, level: Level, text: String) {
        self.toast = Some(Toast {
            level,
            text,
            at: self.now_ms,
        });
    }

    fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if key.kind == ratatui::crossterm::event::KeyEventKind::Release {
            return Vec::new();
        }
        // Ctrl-C always leaves, whatever the mode.
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            return vec![Effect::Quit];
        }
        match self.mode.clone() {
            Mode::Normal => self.on_normal_key(key),
            Mode::Help => {
                match key.code {
                    KeyCode::Char('j') | KeyCode::Down => {
                        self.help_scroll = self.help_scroll.saturating_add(1)
                    }
                    KeyCode::Char('k') | KeyCode::Up => {
                        self.help_scroll = self.help_scroll.saturating_sub(1)
                    }
                    _ => {
                        self.mode = Mode::Normal;
                        self.help_scroll = 0;
                    }
                }
                Vec::new()
            }
            Mode::Filter => {
                match key.code {
                    KeyCode::Esc => {
                        self.list_mut().filter.clear();
                        self.mode = Mode::Normal;
                    }
                    KeyCode::Enter => self.mode = Mode::Normal,
                    KeyCode::Backspace => {
                        self.list_mut().filter.pop();
                    }
                    KeyCode::Char(c) => self.list_mut().filter.push(c),
                    _ => {}
                }
                self.list_mut().selected = 0;
                self.remember();
                Vec::new()
            }
            Mode::Command {
                input,
                typed,
                completion,
            } => self.on_command_key(key, input, typed, completion),
            Mode::Confirm(c) => self.on_confirm_key(key, c),
            Mode::Prompt { kind, input, .. } => self.on_prompt_key(key, kind, input),
        }
    }

    fn on_normal_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Some(b) = keymap::lookup(self.view, &key) else {
            return Vec::new();
        };
        if let Some(p) = b.needs
            && !self.allowed(p)
        {
            // Hidden from this role: the key does nothing but say so.
            let text = self.t().not_allowed.to_owned();
            self.toast(Level::Warning, text);
            return Vec::new();
        }
        match b.action {
            KeyAction::Quit => return vec![Effect::Quit],
            KeyAction::Help => {
                self.mode = Mode::Help;
                self.help_scroll = 0;
            }
            KeyAction::NextView => self.view = self.view.next(),
            KeyAction::PrevView => self.view = self.view.prev(),
            KeyAction::GotoView(v) => self.view = v,
            KeyAction::CommandMode => {
                self.mode = Mode::Command {
                    input: String::new(),
                    typed: String::new(),
                    completion: 0,
                }
            }
            KeyAction::Down => self.move_by(1),
            KeyAction::Up => self.move_by(-1),
            KeyAction::Top => self.set_selected(0),
            KeyAction::Bottom => self.set_selected(usize::MAX),
            KeyAction::PageDown if self.view == View::Integrations => {
                self.integrations_offset =
                    self.integrations_offset.saturating_add(self.page.max(1));
            }
            KeyAction::PageUp if self.view == View::Integrations => {
                self.integrations_offset =
                    self.integrations_offset.saturating_sub(self.page.max(1));
            }
            KeyAction::PageDown => self.move_by(self.page.max(1) as isize),
            KeyAction::PageUp => self.move_by(-(self.page.max(1) as isize)),
            KeyAction::Filter => self.mode = Mode::Filter,
            KeyAction::Escape => {
                let view = self.view;
                let l = self.list_mut();
                if l.detail {
                    l.detail = false;
                } else if !l.filter.is_empty() {
                    l.filter.clear();
                } else if view == View::Failed {
                    self.marks.clear();
                } else if view == View::Outbound {
                    self.out_marks.clear();
                }
                self.toast = None;
            }
            KeyAction::Sort => {
                let n = match self.view {
                    View::Overview => QUEUE_SORTS.len(),
                    View::Failed => FAILED_SORTS.len(),
                    View::Outbound => OUTBOUND_SORTS.len(),
                    View::Audit => AUDIT_SORTS.len(),
                    View::Integrations | View::Access => 1,
                };
                let l = self.list_mut();
                l.sort = (l.sort + 1) % n;
                l.descending = false;
                self.after_sort();
            }
            KeyAction::ReverseSort => {
                let l = self.list_mut();
                l.descending = !l.descending;
                self.after_sort();
            }
            KeyAction::Detail => {
                let l = self.list_mut();
                l.detail = !l.detail;
            }
            KeyAction::Mark if self.view == View::Outbound => {
                let Some(row) = self.selected_outbound() else {
                    return Vec::new();
                };
                if row.item.state != OutboundState::Failed {
                    let text = self.t().out_only_failed.to_owned();
                    self.toast(Level::Warning, text);
                    return Vec::new();
                }
                let k = out_key(row);
                if !self.out_marks.remove(&k) {
                    self.out_marks.insert(k);
                }
                self.move_by(1);
            }
            KeyAction::MarkAll if self.view == View::Outbound => {
                let keys: Vec<FailedKey> = self
                    .outbound_rows()
                    .into_iter()
                    .filter(|r| r.item.state == OutboundState::Failed)
                    .map(out_key)
                    .collect();
                self.out_marks.extend(keys);
            }
            KeyAction::UnmarkAll if self.view == View::Outbound => self.out_marks.clear(),
            KeyAction::Mark => {
                if let Some(k) = self.selected_failed().map(key_of) {
                    if !self.marks.remove(&k) {
                        self.marks.insert(k);
                    }
                    self.move_by(1);
                }
            }
            KeyAction::MarkAll => {
                let keys: Vec<FailedKey> = self.failed_rows().into_iter().map(key_of).collect();
                self.marks.extend(keys);
            }
            KeyAction::UnmarkAll => self.marks.clear(),
            KeyAction::Retry if self.view == View::Outbound => {
                return self.act_on_outbound(KeyAction::Retry);
            }
            KeyAction::Discard => return self.act_on_outbound(KeyAction::Discard),
            KeyAction::Retry => return self.act_on_failed(KeyAction::Retry),
            KeyAction::MoveToInn => return self.act_on_failed(KeyAction::MoveToInn),
            KeyAction::MarkPermanent => return self.act_on_failed(KeyAction::MarkPermanent),
            KeyAction::PauseResume | KeyAction::PollNow => return self.act_on_queue(b.action),
            KeyAction::AddGrant => {
                self.mode = Mode::Prompt {
                    kind: PromptKind::AddGrant,
                    input: String::new(),
                    error: false,
                }
            }
            KeyAction::AddMember => {
                self.mode = Mode::Prompt {
                    kind: PromptKind::AddMember,
                    input: String::new(),
                    error: false,
                }
            }
            KeyAction::Remove => return self.remove_access_row(),
            KeyAction::Theme => {
                self.theme = match self.theme {
                    ThemeKind::Default => ThemeKind::HighContrast,
                    ThemeKind::HighContrast => ThemeKind::Default,
                }
            }
            KeyAction::Lang => {
                self.lang = match self.lang {
                    Lang::Nb => Lang::En,
                    Lang::En => Lang::Nb,
                }
            }
        }
        Vec::new()
    }

    fn after_sort(&mut self) {
        if matches!(self.view, View::Failed | View::Outbound) {
            // Keep the cursor on the same forsendelse or saksoppdatering.
            self.after_data_change();
        } else {
            self.list_mut().selected = 0;
        }
    }

    /// The failed imports an action applies to: the marked ones, or the one
    /// under the cursor.
    fn chosen_failed(&self) -> Vec<&FailedImport> {
        if self.marks.is_empty() {
            return self.selected_failed().into_iter().collect();
        }
        let Some(state) = &self.state else {
            return Vec::new();
        };
        state
            .failed
            .items
            .iter()
            .filter(|f| self.marks.contains(&key_of(f)))
            .collect()
    }

    fn act_on_failed(&mut self, what: KeyAction) -> Vec<Effect> {
        let t = self.t();
        let (perm, applies): (Permission, fn(ForsendelseState) -> bool) = match what {
            KeyAction::Retry => (Permission::Retry, |s| {
                matches!(s, ForsendelseState::Failed | ForsendelseState::RetryWait)
            }),
            KeyAction::MoveToInn => (Permission::MoveToInn, |s| s == ForsendelseState::Rejected),
            _ => (Permission::MarkPermanent, |s| s.needs_attention()),
        };
        let chosen: Vec<FailedImport> = self.chosen_failed().into_iter().cloned().collect();
        let allowed: Vec<&FailedImport> = chosen
            .iter()
            .filter(|f| self.may(perm, &f.mottakersystem))
            .collect();
        if !chosen.is_empty() && allowed.is_empty() {
            self.toast(Level::Warning, t.not_allowed.to_owned());
            return Vec::new();
        }
        let targets: Vec<&FailedImport> =
            allowed.into_iter().filter(|f| applies(f.state)).collect();
        if targets.is_empty() {
            self.toast(Level::Warning, t.nothing_applies.to_owned());
            return Vec::new();
        }
        let n = targets.len();
        let one = (n == 1).then(|| {
            format!(
                " {}/{}",
                targets[0].mottakersystem,
                short_id(targets[0].id.raw())
            )
        });
        let (question, label, commands): (String, String, Vec<Command>) = match what {
            KeyAction::Retry => (
                fill(t.ask_retry, &[&n]),
                t.k_retry.to_owned(),
                targets
                    .iter()
                    .map(|f| Command::Retry {
                        mottakersystem: f.mottakersystem.clone(),
                        forsendelse: f.id.raw().to_owned(),
                    })
                    .collect(),
            ),
            KeyAction::MoveToInn => (
                fill(t.ask_move_to_inn, &[&n]),
                t.k_move_to_inn.to_owned(),
                targets
                    .iter()
                    .map(|f| Command::MoveToInn {
                        mottakersystem: f.mottakersystem.clone(),
                        forsendelse: f.id.raw().to_owned(),
                    })
                    .collect(),
            ),
            _ => (
                fill(t.ask_mark_permanent, &[&n]),
                t.k_mark_permanent.to_owned(),
                targets
                    .iter()
                    .map(|f| Command::MarkPermanent {
                        mottakersystem: f.mottakersystem.clone(),
                        forsendelse: f.id.raw().to_owned(),
                        reason: String::new(),
                    })
                    .collect(),
            ),
        };
        let question = match one {
            Some(which) => format!("{question}{which}"),
            None => question,
        };
        self.propose(question, label, commands)
    }

    /// Retry or discard the marked saksoppdateringer, or the one under the
    /// cursor (only failed ones; the agent handles the queue by itself).
    fn act_on_outbound(&mut self, what: KeyAction) -> Vec<Effect> {
        let t = self.t();
        let chosen: Vec<(String, OutboundItem)> = if self.out_marks.is_empty() {
            self.selected_outbound()
                .map(|r| (r.mottakersystem.to_owned(), r.item.clone()))
                .into_iter()
                .collect()
        } else {
            self.outbound_rows()
                .into_iter()
                .filter(|r| self.out_marks.contains(&out_key(*r)))
                .map(|r| (r.mottakersystem.to_owned(), r.item.clone()))
                .collect()
        };
        if chosen.is_empty() {
            self.toast(Level::Warning, t.nothing_applies.to_owned());
            return Vec::new();
        }
        let perm = if what == KeyAction::Discard {
            Permission::MarkPermanent
        } else {
            Permission::Retry
        };
        let allowed: Vec<&(String, OutboundItem)> = chosen
            .iter()
            .filter(|(sys, _)| self.may(perm, sys))
            .collect();
        if allowed.is_empty() {
            self.toast(Level::Warning, t.not_allowed.to_owned());
            return Vec::new();
        }
        let targets: Vec<&(String, OutboundItem)> = allowed
            .into_iter()
            .filter(|(_, item)| item.state == OutboundState::Failed)
            .collect();
        if targets.is_empty() {
            self.toast(Level::Warning, t.out_only_failed.to_owned());
            return Vec::new();
        }
        let question = match targets.as_slice() {
            [(sys, item)] => {
                let which = format!("{} ({sys})", item.digisos_id);
                if what == KeyAction::Discard {
                    fill(t.ask_out_discard, &[&which])
                } else {
                    fill(t.ask_out_retry, &[&which])
                }
            }
            many if what == KeyAction::Discard => fill(t.ask_out_discard_n, &[&many.len()]),
            many => fill(t.ask_out_retry_n, &[&many.len()]),
        };
        let commands = targets
            .iter()
            .map(|(sys, item)| {
                if what == KeyAction::Discard {
                    Command::MarkPermanent {
                        mottakersystem: sys.clone(),
                        forsendelse: item.update_id.raw().to_owned(),
                        reason: String::new(),
                    }
                } else {
                    Command::Retry {
                        mottakersystem: sys.clone(),
                        forsendelse: item.update_id.raw().to_owned(),
                    }
                }
            })
            .collect();
        let label = if what == KeyAction::Discard {
            t.k_discard
        } else {
            t.k_out_retry
        };
        self.propose(question, label.to_owned(), commands)
    }

    fn act_on_queue(&mut self, what: KeyAction) -> Vec<Effect> {
        let t = self.t();
        let rows = self.queue_rows();
        let Some(q) = rows.get(self.lists[View::Overview.index()].selected) else {
            return Vec::new();
        };
        let sys = q.mottakersystem.clone();
        let paused = q.paused.is_some();
        let (perm, command, question, label) = match what {
            KeyAction::PollNow => (
                Permission::PollNow,
                Command::PollNow {
                    mottakersystem: sys.clone(),
                },
                fill(t.ask_poll, &[&sys]),
                t.k_poll_now,
            ),
            _ if paused => (
                Permission::Resume,
                Command::Resume {
                    mottakersystem: sys.clone(),
                },
                fill(t.ask_resume, &[&sys]),
                t.k_pause,
            ),
            _ => (
                Permission::Pause,
                Command::Pause {
                    mottakersystem: sys.clone(),
                    reason: None,
                },
                fill(t.ask_pause, &[&sys]),
                t.k_pause,
            ),
        };
        if !self.may(perm, &sys) {
            self.toast(Level::Warning, t.not_allowed.to_owned());
            return Vec::new();
        }
        self.propose(question, label.to_owned(), vec![command])
    }

    fn remove_access_row(&mut self) -> Vec<Effect> {
        let t = self.t();
        let rows = self.access_rows();
        let Some(row) = rows.get(self.lists[View::Access.index()].selected).copied() else {
            return Vec::new();
        };
        let (command, question) = match row {
            AccessRow::Grant(g) => (
                Command::Revoke {
                    principal: g.principal.clone(),
                    role: g.role,
                    scope: g.scope.clone(),
                },
                fill(t.ask_revoke, &[&g.role, &g.scope.as_str(), &g.principal]),
            ),
            AccessRow::Member(m) => (
                Command::RemoveMember {
                    user: m.user.clone(),
                    group: m.group.clone(),
                },
                fill(t.ask_remove_member, &[&m.user, &m.group]),
            ),
        };
        if let AccessRow::Member(m) = row
            && m.source == mottak_protocol::console::MembershipSource::UnixGroup
        {
            // /etc/group is not the agent's to change.
            self.toast(Level::Warning, t.nothing_applies.to_owned());
            return Vec::new();
        }
        self.propose(question, t.k_remove.to_owned(), vec![command])
    }

    // -----------------------------------------------------------------------------------------
    // The confirmation choke point

    /// Every command to the agent starts here. Harmless ones are sent at
    /// once; the rest open a dialog, and only [`App::confirm`] sends them.
    pub fn propose(
        &mut self,
        question: String,
        label: String,
        commands: Vec<Command>,
    ) -> Vec<Effect> {
        let level = commands
            .iter()
            .map(confirm_level)
            .max()
            .unwrap_or(ConfirmLevel::None);
        let t = self.t();
        // Discarding saksoppdateringer tells nobody outside: its own words.
        let discard = !commands.is_empty()
            && commands.iter().all(|c| {
                matches!(c, Command::MarkPermanent { forsendelse, .. } if is_update_id(forsendelse))
            });
        let confirm = Confirm {
            question,
            commands,
            label,
            stage: match level {
                ConfirmLevel::Typed => Stage::Reason {
                    input: String::new(),
                    error: false,
                },
                _ => Stage::YesNo { ok_focused: false },
            },
            reason: None,
            reason_prompt: if discard {
                t.reason_prompt_discard
            } else {
                t.reason_prompt
            },
            typed_word: if discard {
                t.typed_word_discard
            } else {
                t.typed_word
            },
        };
        if level == ConfirmLevel::None {
            return self.confirm(confirm);
        }
        self.mode = Mode::Confirm(confirm);
        Vec::new()
    }

    /// Sends a confirmed proposal: one command per row, each with its own id.
    fn confirm(&mut self, c: Confirm) -> Vec<Effect> {
        self.mode = Mode::Normal;
        let batch = self.next_batch;
        self.next_batch += 1;
        let mut out = Vec::new();
        for mut command in c.commands {
            if let (Command::MarkPermanent { reason, .. }, Some(r)) = (&mut command, &c.reason) {
                reason.clone_from(r);
            }
            let id = format!("{}-{}", self.id_prefix, self.next_id);
            self.next_id += 1;
            self.pending.insert(id.clone(), batch);
            out.push(Effect::Send { id, command });
        }
        self.batches.insert(
            batch,
            Batch {
                label: c.label.clone(),
                total: out.len(),
                ok: 0,
                failed: 0,
                first_error: None,
            },
        );
        // Marks are used up by the action they were for.
        self.marks.clear();
        self.out_marks.clear();
        let text = fill(self.t().sent, &[&c.label]);
        self.toast(Level::Info, text);
        out
    }

    fn cancel(&mut self) {
        self.mode = Mode::Normal;
        let text = self.t().cancelled.to_owned();
        self.toast(Level::Info, text);
    }

    fn on_confirm_key(&mut self, key: KeyEvent, mut c: Confirm) -> Vec<Effect> {
        match &mut c.stage {
            Stage::YesNo { ok_focused } => match key.code {
                KeyCode::Esc | KeyCode::Char('n' | 'N' | 'q') => self.cancel(),
                KeyCode::Char('y' | 'Y') => return self.confirm(c),
                KeyCode::Left
                | KeyCode::Right
                | KeyCode::Tab
                | KeyCode::BackTab
                | KeyCode::Char('h' | 'l') => {
                    *ok_focused = !*ok_focused;
                    self.mode = Mode::Confirm(c);
                }
                KeyCode::Enter => {
                    if *ok_focused {
                        return self.confirm(c);
                    }
                    self.cancel();
                }
                _ => {}
            },
            Stage::Reason { input, error } => match key.code {
                KeyCode::Esc => self.cancel(),
                KeyCode::Enter => {
                    let reason = input.trim().to_owned();
                    if reason.is_empty() {
                        *error = true;
                    } else {
                        c.reason = Some(reason);
                        c.stage = Stage::Typed {
                            input: String::new(),
                            error: false,
                        };
                    }
                    self.mode = Mode::Confirm(c);
                }
                KeyCode::Backspace => {
                    input.pop();
                    self.mode = Mode::Confirm(c);
                }
                KeyCode::Char(ch) => {
                    if input.chars().count() < mottak_protocol::console::MAX_REASON_LEN {
                        input.push(ch);
                    }
                    *error = false;
                    self.mode = Mode::Confirm(c);
                }
                _ => {}
            },
            Stage::Typed { input, error } => match key.code {
                KeyCode::Esc => self.cancel(),
                KeyCode::Enter => {
                    if input.trim() == c.typed_word {
                        return self.confirm(c);
                    }
                    *error = true;
                    self.mode = Mode::Confirm(c);
                }
                KeyCode::Backspace => {
                    input.pop();
                    self.mode = Mode::Confirm(c);
                }
                KeyCode::Char(ch) => {
                    input.push(ch);
                    *error = false;
                    self.mode = Mode::Confirm(c);
                }
                _ => {}
            },
        }
        Vec::new()
    }

    fn on_prompt_key(&mut self, key: KeyEvent, kind: PromptKind, mut input: String) -> Vec<Effect> {
        let t = self.t();
        match key.code {
            KeyCode::Esc => self.cancel(),
            KeyCode::Backspace => {
                input.pop();
                self.mode = Mode::Prompt {
                    kind,
                    input,
                    error: false,
                };
            }
            KeyCode::Char(c) => {
                input.push(c);
                self.mode = Mode::Prompt {
                    kind,
                    input,
                    error: false,
                };
            }
            KeyCode::Enter => {
                let parsed = match kind {
                    PromptKind::AddGrant => parse_grant(&input).map(|(principal, role, scope)| {
                        let q = fill(t.ask_grant, &[&principal, &role, &scope.as_str()]);
                        (
                            q,
                            Command::Grant {
                                principal,
                                role,
                                scope,
                            },
                        )
                    }),
                    PromptKind::AddMember => parse_member(&input).map(|(user, group)| {
                        let q = fill(t.ask_add_member, &[&user, &group]);
                        (q, Command::AddMember { user, group })
                    }),
                };
                match parsed {
                    Some((question, command)) => {
                        let label = match kind {
                            PromptKind::AddGrant => t.k_add_grant,
                            PromptKind::AddMember => t.k_add_member,
                        };
                        self.mode = Mode::Normal;
                        return self.propose(question, label.to_owned(), vec![command]);
                    }
                    None => {
                        self.mode = Mode::Prompt {
                            kind,
                            input,
                            error: true,
                        }
                    }
                }
            }
            _ => {}
        }
        Vec::new()
    }

    fn on_command_key(
        &mut self,
        key: KeyEvent,
        mut input: String,
        typed: String,
        completion: usize,
    ) -> Vec<Effect> {
        match key.code {
            KeyCode::Esc => self.mode = Mode::Normal,
            KeyCode::Tab => {
                // Complete the typed prefix; Tab again cycles through the candidates.
                let matches = completions(&typed);
                if let Some(name) = matches.get(completion % matches.len().max(1)) {
                    self.mode = Mode::Command {
                        input: (*name).to_owned(),
                        typed,
                        completion: completion + 1,
                    };
                }
            }
            KeyCode::Backspace => {
                input.pop();
                self.mode = Mode::Command {
                    typed: input.clone(),
                    input,
                    completion: 0,
                };
            }
            KeyCode::Char(c) => {
                input.push(c);
                self.mode = Mode::Command {
                    typed: input.clone(),
                    input,
                    completion: 0,
                };
            }
            KeyCode::Enter => {
                self.mode = Mode::Normal;
                let word = input.trim().to_lowercase();
                if matches!(word.as_str(), "q" | "quit" | "avslutt") {
                    return vec![Effect::Quit];
                }
                if word.is_empty() {
                    return Vec::new();
                }
                match view_by_name(&word) {
                    Some(v) => self.view = v,
                    None => {
                        let text = fill(self.t().unknown_view, &[&word]);
                        self.toast(Level::Warning, text);
                    }
                }
            }
            _ => {}
        }
        Vec::new()
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

fn key_cmp(a: &FailedImport, b: &FailedImport) -> std::cmp::Ordering {
    a.mottakersystem
        .cmp(&b.mottakersystem)
        .then_with(|| a.id.cmp(&b.id))
}

/// When a failed import's clock started: sent, else first seen.
pub fn failed_since(f: &FailedImport) -> i64 {
    f.sendt_at.unwrap_or(f.first_seen_at)
}

fn failed_matches(f: &FailedImport, needle: &str) -> bool {
    let hay = [
        Some(f.id.raw()),
        Some(f.mottakersystem.as_str()),
        Some(f.state.as_str()),
        Some(&*f.tittel.masked()),
        f.avsender.as_ref().map(|a| a.raw()),
        f.last_error.as_ref().map(|e| e.raw()),
        f.forsendelse_type.as_ref().map(|t| t.raw()),
    ];
    hay.iter()
        .flatten()
        .any(|h| h.to_lowercase().contains(needle))
}

fn outbound_matches(r: &OutboundRow<'_>, needle: &str) -> bool {
    let i = r.item;
    let hay = [
        Some(i.update_id.raw()),
        Some(i.digisos_id.raw()),
        Some(r.mottakersystem),
        Some(i.state.as_str()),
        i.failed_folder.as_ref().map(|f| f.raw()),
    ];
    hay.iter()
        .flatten()
        .any(|h| h.to_lowercase().contains(needle))
        || i.last_error
            .as_ref()
            .is_some_and(|e| e.masked().to_lowercase().contains(needle))
}

fn audit_matches(e: &AuditEntry, needle: &str) -> bool {
    let hay = format!(
        "{} {} {} {} {} {} {}",
        e.who,
        e.via,
        e.action,
        e.mottakersystem.as_ref().map_or("", |m| m.raw()),
        e.target.as_ref().map_or("", |t| t.raw()),
        e.reason
            .as_ref()
            .map(|r| r.masked().into_owned())
            .unwrap_or_default(),
        e.outcome.masked()
    );
    hay.to_lowercase().contains(needle)
}

/// How many forsendelser of a queue are in state `s`.
pub fn queue_count(q: &QueueHealth, s: ForsendelseState) -> u64 {
    q.counts.get(&s).copied().unwrap_or(0)
}

/// Failed, rejected and retry-wait forsendelser of a queue.
pub fn needs_person(q: &QueueHealth) -> u64 {
    [
        ForsendelseState::Failed,
        ForsendelseState::Rejected,
        ForsendelseState::RetryWait,
    ]
    .into_iter()
    .map(|s| queue_count(q, s))
    .sum()
}

/// Forsendelser of a queue on their way: listed, downloaded, delivered to
/// `inn/`, imported (not yet acknowledged).
pub fn in_progress(q: &QueueHealth) -> u64 {
    [
        ForsendelseState::Listed,
        ForsendelseState::Downloaded,
        ForsendelseState::Delivered,
        ForsendelseState::Imported,
    ]
    .into_iter()
    .map(|s| queue_count(q, s))
    .sum()
}

fn oldest(q: &QueueHealth) -> i64 {
    q.oldest_unacknowledged
        .as_ref()
        .map_or(i64::MAX, |o| o.since)
}

/// The first 8 characters of an id (a UUID's first group).
pub fn short_id(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// View names that start with `prefix` (each name once).
pub fn completions(prefix: &str) -> Vec<&'static str> {
    let p = prefix.trim().to_lowercase();
    View::ALL
        .iter()
        .flat_map(|v| v.names().iter().copied())
        .filter(|n| n.starts_with(&p))
        .collect()
}

/// A view by a name or an unambiguous prefix of one.
pub fn view_by_name(word: &str) -> Option<View> {
    if let Some(v) = View::ALL.into_iter().find(|v| v.names().contains(&word)) {
        return Some(v);
    }
    let hits: BTreeSet<View> = View::ALL
        .into_iter()
        .filter(|v| v.names().iter().any(|n| n.starts_with(word)))
        .collect();
    if hits.len() == 1 {
        hits.into_iter().next()
    } else {
        None
    }
}

/// `user kari operator nav-frogn` → a grant.
pub fn parse_grant(s: &str) -> Option<(Principal, Role, Scope)> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [kind, name, role, scope] = parts.as_slice() else {
        return None;
    };
    let principal = match *kind {
        "user" | "bruker" => Principal::User((*name).to_owned()),
        "group" | "gruppe" => Principal::Group((*name).to_owned()),
        _ => return None,
    };
    let role = Role::parse(role)?;
    Some((principal, role, Scope::parse(scope)))
}

/// `kari drift` → (user, group).
pub fn parse_member(s: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [user, group] = parts.as_slice() else {
        return None;
    };
    Some(((*user).to_owned(), (*group).to_owned()))
}
