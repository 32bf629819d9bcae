//! The state consoles see ([`ConsoleState`]), built from each side's
//! sources (`inbound::console`, `outbound::console`: the journal through a
//! read-only connection of its own, so building never holds up the
//! pipeline's writes, the workers' health, the drop folders and the
//! certificate files) and the access list; the alerts derived from it
//! (`alerts`); and the part of it each caller may see (`visibility`).
//!
//! Building is cheap when nothing changed: the journal part is rebuilt only
//! when the journal's fingerprint moves (or every few seconds, for the time
//! windows), the access part when the audit log grows (every access change
//! and every command writes a line), the drop folders every few seconds and
//! the certificates every minute. A build is asked for by a change (a
//! command, a pipeline's turn); without one, only [`Builder::next_refresh`]
//! (a drop-folder read put off, and once a minute the parts that age).

mod alerts;
mod visibility;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mottak_protocol::console::{
    AccessList, AgentInfo, AuditEntry, CertificateStatus, ConsoleState, Coverage, DropFolderStatus,
    IntegrationStatus, PauseInfo, PipelineStatus, StaleInInn, Text,
};
use time::OffsetDateTime;

use super::accounts::Directory;
use super::roles::AccessData;
use crate::clock::to_millis;
use crate::fiks_io::console::FiksIoSource;
use crate::inbound::console::{self as inbound, HistoryCache, InboundSource, JournalView};
use crate::journal::{Journal, JournalError};
use crate::outbound::console::OutboundSource;
use crate::pipeline::Pipeline;

pub use crate::inbound::console::FAILED_CAP;
/// The inbound source's name from before it moved to `inbound::console`.
pub use crate::inbound::console::InboundSource as SystemSource;
pub use alerts::alerts;
pub use visibility::visible_to;

/// How often each part is refreshed, and the thresholds shown.
#[derive(Debug, Clone)]
pub struct StateSettings {
    /// The shortest time between two builds that pipelines' turns asked for.
    pub tick: Duration,
    /// Without any change, the state is still rebuilt this often: time
    /// windows, certificate expiry, free space, folders aging in `inn/`.
    pub idle_every: Duration,
    /// The journal part at least this often, even without change (time windows).
    pub journal_every: Duration,
    pub access_every: Duration,
    pub drop_folders_every: Duration,
    pub certificates_every: Duration,
    /// A folder in `inn/` longer than this is "not picked up".
    pub inn_stale_after: Duration,
    pub failed_cap: usize,
}

impl Default for StateSettings {
    fn default() -> Self {
        StateSettings {
            tick: Duration::from_millis(500),
            idle_every: Duration::from_secs(60),
            journal_every: Duration::from_secs(10),
            access_every: Duration::from_secs(60),
            drop_folders_every: Duration::from_secs(5),
            certificates_every: Duration::from_secs(60),
            inn_stale_after: Duration::from_secs(60 * 60),
            failed_cap: FAILED_CAP,
        }
    }
}

/// One build: the whole state, and what the server and the metrics need
/// besides.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Built {
    pub state: ConsoleState,
    pub access: AccessData,
    /// The audit log's head when `access` was read (read before it, so
    /// `access` is at least this new).
    pub access_version: i64,
    /// The configured mottakersystemer, in config order.
    pub systems: Vec<String>,
    /// Per mottakersystem: forsendelser delivered, their declared bytes.
    pub delivered: BTreeMap<String, (u64, u64)>,
    /// Per mottakersystem: polls, failed polls (since the agent started).
    pub polls: BTreeMap<String, (u64, u64)>,
}

#[derive(Debug, Default)]
struct AccessPart {
    access: AccessData,
    paused: BTreeMap<String, PauseInfo>,
    audit: Vec<AuditEntry>,
    coverage: Vec<Coverage>,
}

/// Builds [`Built`]s; owned by one task, run on the blocking pool.
pub struct Builder {
    sources: Vec<InboundSource>,
    reader: Journal,
    settings: StateSettings,
    agent: AgentInfo,
    data_version: Option<i64>,
    journal_key: Option<(String, i64)>,
    journal_at: Option<Instant>,
    journal: JournalView,
    history: HistoryCache,
    audit_head: Option<i64>,
    access_at: Option<Instant>,
    access: AccessPart,
    folders_at: Option<Instant>,
    /// A change may have touched a drop folder since it was last read.
    folders_wanted: bool,
    folders: BTreeMap<String, (StaleInInn, DropFolderStatus)>,
    /// When the last build ran.
    built_at: Instant,
    certs_at: Option<Instant>,
    certs: BTreeMap<String, Vec<CertificateStatus>>,
    /// Mottakersystemer with `[mottakersystem.digisos]` (see `outbound::console`).
    outbound: Vec<OutboundSource>,
    outbound_at: Option<Instant>,
    outbound_journal: BTreeMap<String, crate::outbound::console::JournalView>,
    /// `mottak-agent doctor`'s last result, read with the drop folders.
    doctor: Option<crate::doctor::LastResult>,
    /// Every pipeline the daemon supervises, whatever its channel.
    pipelines: Vec<Arc<dyn Pipeline>>,
    /// Mottakersystemer with `[mottakersystem.fiks_io]` (see `fiks_io::console`).
    fiks_io: Vec<FiksIoSource>,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder").finish_non_exhaustive()
    }
}

impl Builder {
    pub fn new(
        sources: Vec<InboundSource>,
        reader: Journal,
        settings: StateSettings,
        agent: AgentInfo,
    ) -> Builder {
        Builder {
            sources,
            reader,
            settings,
            agent,
            data_version: None,
            journal_key: None,
            journal_at: None,
            journal: JournalView::default(),
            history: HistoryCache::default(),
            audit_head: None,
            access_at: None,
            access: AccessPart::default(),
            folders_at: None,
            folders_wanted: false,
            folders: BTreeMap::new(),
            built_at: Instant::now(),
            certs_at: None,
            certs: BTreeMap::new(),
            outbound: Vec::new(),
            outbound_at: None,
            outbound_journal: BTreeMap::new(),
            doctor: None,
            pipelines: Vec::new(),
            fiks_io: Vec::new(),
        }
    }

    /// The pipelines to list (`crate::channels::Channels::pipelines`).
    pub fn set_pipelines(&mut self, pipelines: Vec<Arc<dyn Pipeline>>) {
        self.pipelines = pipelines;
    }

    /// Shows the last `mottak-agent doctor` result stored in `state_dir`.
    pub fn set_doctor_dir(&mut self, state_dir: &std::path::Path) {
        self.doctor = Some(crate::doctor::LastResult::new(state_dir));
    }

    /// The outbound workers to show (none unless `[mottakersystem.digisos]`).
    pub fn set_fiks_io(&mut self, sources: Vec<FiksIoSource>) {
        self.fiks_io = sources;
    }

    pub fn set_outbound(&mut self, sources: Vec<OutboundSource>) {
        self.outbound = sources;
        self.outbound_at = None;
    }

    pub fn settings(&self) -> &StateSettings {
        &self.settings
    }

    /// Something happened (a command, a pipeline's turn): the next build
    /// also reads the drop folders, once their interval allows.
    pub fn note_change(&mut self) {
        self.folders_wanted = true;
    }

    /// When the state should be rebuilt though nothing asked: a drop-folder
    /// read a change asked for and its interval put off, or the idle refresh.
    pub fn next_refresh(&self) -> Instant {
        let idle = self.built_at + self.settings.idle_every;
        match self.folders_at {
            Some(at) if self.folders_wanted => idle.min(at + self.settings.drop_folders_every),
            _ => idle,
        }
    }

    /// Builds the state at `now`. Blocking (SQLite, the filesystem).
    pub fn build(&mut self, now: OffsetDateTime) -> Result<Built, JournalError> {
        let now_ms = to_millis(now);
        let mono = Instant::now();
        self.built_at = mono;
        let due = |at: Option<Instant>, every: Duration| at.is_none_or(|t| mono >= t + every);

        // Nothing committed since the last build: the journal queries can wait.
        let version = self.reader.data_version()?;
        let committed = Some(version) != self.data_version;
        self.data_version = Some(version);
        let journal_due = due(self.journal_at, self.settings.journal_every);
        if committed || journal_due {
            let key = self.reader.console_fingerprint()?;
            if self.journal_key.as_ref() != Some(&key) || journal_due {
                self.journal = self.read_journal(now_ms)?;
                self.journal_key = Some(key);
                self.journal_at = Some(mono);
            }
        }
        // Outbound rows are written by the outbound workers' own connection:
        // any commit may be theirs.
        if !self.outbound.is_empty()
            && (committed || due(self.outbound_at, self.settings.journal_every))
        {
            self.outbound_journal =
                crate::outbound::console::read_journal(&self.reader, &self.outbound)?;
            self.outbound_at = Some(mono);
        }
        let access_due = due(self.access_at, self.settings.access_every);
        if committed || access_due {
            let head = self.reader.audit_head()?;
            if Some(head) != self.audit_head || access_due {
                self.access = self.read_access()?;
                self.audit_head = Some(head);
                self.access_at = Some(mono);
            }
        }
        if due(self.folders_at, self.settings.drop_folders_every) {
            let threshold = millis(self.settings.inn_stale_after);
            self.folders = self
                .sources
                .iter()
                .map(|s| {
                    let (stale, mut status) = inbound::read_drop_folder(&s.drop, threshold);
                    status.min_free_bytes = Some(s.min_free_space);
                    (s.name.clone(), (stale, status))
                })
                .collect();
            if let Some(d) = self.doctor.as_mut() {
                d.refresh();
            }
            self.folders_at = Some(mono);
            self.folders_wanted = false;
        }
        if due(self.certs_at, self.settings.certificates_every) {
            self.certs = self
                .sources
                .iter()
                .map(|s| {
                    (
                        s.name.clone(),
                        inbound::read_certificates(&s.certificates, now),
                    )
                })
                .collect();
            self.certs_at = Some(mono);
        }

        let mut state = ConsoleState {
            agent: self.agent.clone(),
            ..ConsoleState::default()
        };
        let mut polls = BTreeMap::new();
        for s in &self.sources {
            let mut queue = self
                .journal
                .queues
                .get(&s.name)
                .cloned()
                .unwrap_or_else(|| inbound::empty_queue(&s.name));
            let (stale, drop_status) = self.folders.get(&s.name).cloned().unwrap_or_default();
            queue.stale_in_inn = stale;
            queue.paused = self.access.paused.get(&s.name).cloned();
            state.queues.push(queue);
            state.integrations.push(IntegrationStatus {
                mottakersystem: s.name.clone(),
                svarinn: inbound::svarinn_link(s),
                certificates: self.certs.get(&s.name).cloned().unwrap_or_default(),
                drop_folder: drop_status,
                doctor: self
                    .doctor
                    .as_ref()
                    .and_then(crate::doctor::LastResult::report)
                    .map(|r| r.for_console(&s.name)),
                fiks_io: match self.fiks_io.iter().find(|f| f.name == s.name) {
                    Some(f) => Some(f.link(&self.reader, self.agent.started_at)?),
                    None => None,
                },
            });
            polls.insert(s.name.clone(), inbound::polls(s));
        }
        state.failed = self.journal.failed.clone();
        state.access = AccessList {
            grants: self.access.access.grants.clone(),
            members: self
                .access
                .access
                .members
                .iter()
                .map(|m| mottak_protocol::console::Membership {
                    user: m.user.clone(),
                    group: m.group.clone(),
                    source: mottak_protocol::console::MembershipSource::AccessList,
                })
                .collect(),
            coverage: self.access.coverage.clone(),
        };
        state.audit = self.access.audit.clone();
        state.outbound = self
            .outbound
            .iter()
            .map(|o| crate::outbound::console::status(o, self.outbound_journal.get(&o.name), now))
            .collect();
        state.pipelines = self
            .pipelines
            .iter()
            .map(|p| pipeline_status(&**p))
            .collect();
        state.alerts = alerts(&state, now_ms);
        state.normalize();
        Ok(Built {
            state,
            access: self.access.access.clone(),
            access_version: self.audit_head.unwrap_or(0),
            systems: self.sources.iter().map(|s| s.name.clone()).collect(),
            delivered: self.journal.delivered.clone(),
            polls,
        })
    }

    fn read_journal(&mut self, now_ms: i64) -> Result<JournalView, JournalError> {
        inbound::read_journal(
            &self.reader,
            &self.sources,
            self.settings.failed_cap,
            &mut self.history,
            now_ms,
        )
    }

    fn read_access(&self) -> Result<AccessPart, JournalError> {
        let access = AccessData {
            grants: self.reader.grants()?,
            members: self.reader.members()?,
        };
        let paused = self
            .reader
            .paused()?
            .into_iter()
            .map(|p| {
                (
                    p.mottakersystem,
                    PauseInfo {
                        by: p.by,
                        at: p.at,
                        reason: p.reason.map(Text::from),
                    },
                )
            })
            .collect();
        let audit = self
            .reader
            .audit_tail(mottak_protocol::console::AUDIT_WINDOW)?
            .into_iter()
            .map(|a| AuditEntry {
                seq: a.seq,
                at: a.at,
                who: a.note.who,
                via: a.note.via,
                action: a.note.action,
                mottakersystem: a
                    .note
                    .mottakersystem
                    .map(mottak_protocol::console::ExternalId::from),
                target: a
                    .note
                    .target
                    .map(mottak_protocol::console::ExternalId::from),
                reason: a.note.reason.map(Text::from),
                outcome: Text::from(a.note.outcome),
                command_id: a
                    .note
                    .command_id
                    .map(mottak_protocol::console::ExternalId::from),
            })
            .collect();
        let systems: Vec<String> = self.sources.iter().map(|s| s.name.clone()).collect();
        let members =
            Directory::system().group_members_blocking(&super::roles::acting_groups(&access));
        let coverage = super::roles::coverage(&access, &members, &systems);
        Ok(AccessPart {
            access,
            paused,
            audit,
            coverage,
        })
    }
}

/// What consoles see of any pipeline: from its [`Health`](crate::pipeline::Health)
/// and the trait alone, so a new channel shows without code of its own here.
pub fn pipeline_status(p: &dyn Pipeline) -> PipelineStatus {
    let health = p.health();
    let failure = health.setup_failure();
    PipelineStatus {
        mottakersystem: p.mottakersystem().to_owned(),
        kind: p.kind().to_owned(),
        up: health.is_running(),
        setup_attempts: failure.as_ref().map_or(0, |f| f.attempts),
        setup_error: failure.map(|f| Text::from(f.error)),
        paused: p.paused(),
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
