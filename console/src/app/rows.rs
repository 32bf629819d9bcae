//! The rows of each view as `ui` draws them: filtered, sorted, with their
//! sort columns and keys, and the small queue counts the views and `headless` share.

use mottak_protocol::console::{
    AuditEntry, FailedImport, ForsendelseState, Membership, OutboundItem, OutboundState,
    QueueHealth, RoleGrant,
};

use super::{App, View};
use crate::i18n::Texts;

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

pub(super) fn key_of(f: &FailedImport) -> FailedKey {
    (f.mottakersystem.clone(), f.id.raw().to_owned())
}

/// A saksoppdatering's key: (mottakersystem, update id).
pub fn out_key(r: OutboundRow<'_>) -> FailedKey {
    (
        r.mottakersystem.to_owned(),
        r.item.update_id.raw().to_owned(),
    )
}

impl App {
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

    pub(super) fn row_count(&self, view: View) -> usize {
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
