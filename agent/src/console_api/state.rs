//! The state consoles see ([`ConsoleState`]), built from the journal (a
//! read-only connection of its own, so building never holds up the
//! pipeline's writes), the workers' health, the drop folders and the
//! certificate files; the alerts derived from it; and the part of it each
//! caller may see ([`visible_to`]).
//!
//! Building is cheap when nothing changed: the journal part is rebuilt only
//! when the journal's fingerprint moves (or every few seconds, for the time
//! windows), the access part when the audit log grows (every access change
//! and every command writes a line), the drop folders every few seconds and
//! the certificates every minute.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use mottak_protocol::alert::AlertKind;
use mottak_protocol::console::{
    AccessList, AgentInfo, Alert, AuditEntry, CertificateStatus, ConsoleState, Coverage,
    DropFolderStatus, ExpiryLevel, FailedImport, FailedImports, ForsendelseState, HISTORY_WINDOW,
    HistoryEntry, InnFolder, IntegrationStatus, OldestUnacknowledged, PauseInfo, QueueHealth, Role,
    Severity, StaleInInn, SvarInnLink, THROUGHPUT_BUCKET_MS, THROUGHPUT_BUCKETS, Text, Throughput,
    UNACKED_WARNING_MS,
};
use time::OffsetDateTime;

use super::access::AccessData;
use super::accounts::Directory;
use super::alert_text;
use crate::clock::to_millis;
use crate::dropfolder::dirfd::{Dir, DirError, Kind};
use crate::dropfolder::{DropFolder, INN, STAGING};
use crate::inbound::worker::WorkerHealth;
use crate::journal::console_queries::SystemStats;
use crate::journal::{Journal, JournalError, Row, State};
use crate::keys::{self, Expiry};
use crate::outbound::console::OutboundSource;

/// How many failed imports a state carries at most (the oldest by name);
/// `FailedImports::total` still counts them all.
pub const FAILED_CAP: usize = 5000;
/// How many stale `inn/` folders are named per mottakersystem.
const STALE_NAMED: usize = 20;
/// Free space under this is a warning.
const LOW_FREE_BYTES: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

/// One mottakersystem, as the state builder reads it.
#[derive(Debug, Clone)]
pub struct SystemSource {
    pub name: String,
    pub svarinn_url: String,
    pub certificates: Vec<PathBuf>,
    pub drop: DropFolder,
    /// `min_free_space`: downloads wait below it.
    pub min_free_space: u64,
    pub health: Arc<WorkerHealth>,
}

/// How often each part is refreshed, and the thresholds shown.
#[derive(Debug, Clone)]
pub struct StateSettings {
    /// The builder's turn.
    pub tick: Duration,
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
struct JournalPart {
    queues: BTreeMap<String, QueueHealth>,
    failed: FailedImports,
    delivered: BTreeMap<String, (u64, u64)>,
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
    sources: Vec<SystemSource>,
    reader: Journal,
    settings: StateSettings,
    agent: AgentInfo,
    data_version: Option<i64>,
    journal_key: Option<(String, i64)>,
    journal_at: Option<Instant>,
    journal: JournalPart,
    history: HashMap<(String, String), (i64, Vec<HistoryEntry>)>,
    audit_head: Option<i64>,
    access_at: Option<Instant>,
    access: AccessPart,
    folders_at: Option<Instant>,
    folders: BTreeMap<String, (StaleInInn, DropFolderStatus)>,
    certs_at: Option<Instant>,
    certs: BTreeMap<String, Vec<CertificateStatus>>,
    /// Mottakersystemer with `[mottakersystem.digisos]` (see `outbound::console`).
    outbound: Vec<OutboundSource>,
    outbound_at: Option<Instant>,
    outbound_journal: BTreeMap<String, crate::outbound::console::JournalView>,
    /// `mottak-agent doctor`'s last result, read with the drop folders.
    doctor: Option<crate::doctor::LastResult>,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder").finish_non_exhaustive()
    }
}

impl Builder {
    pub fn new(
        sources: Vec<SystemSource>,
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
            journal: JournalPart::default(),
            history: HashMap::new(),
            audit_head: None,
            access_at: None,
            access: AccessPart::default(),
            folders_at: None,
            folders: BTreeMap::new(),
            certs_at: None,
            certs: BTreeMap::new(),
            outbound: Vec::new(),
            outbound_at: None,
            outbound_journal: BTreeMap::new(),
            doctor: None,
        }
    }

    /// Shows the last `mottak-agent doctor` result stored in `state_dir`.
    pub fn set_doctor_dir(&mut self, state_dir: &std::path::Path) {
        self.doctor = Some(crate::doctor::LastResult::new(state_dir));
    }

    /// The outbound workers to show (none unless `[mottakersystem.digisos]`).
    pub fn set_outbound(&mut self, sources: Vec<OutboundSource>) {
        self.outbound = sources;
        self.outbound_at = None;
    }

    pub fn settings(&self) -> &StateSettings {
        &self.settings
    }

    /// Builds the state at `now`. Blocking (SQLite, the filesystem).
    pub fn build(&mut self, now: OffsetDateTime) -> Result<Built, JournalError> {
        let now_ms = to_millis(now);
        let mono = Instant::now();
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
                    let (stale, mut status) = read_drop_folder(&s.drop, threshold);
                    status.min_free_bytes = Some(s.min_free_space);
                    (s.name.clone(), (stale, status))
                })
                .collect();
            if let Some(d) = self.doctor.as_mut() {
                d.refresh();
            }
            self.folders_at = Some(mono);
        }
        if due(self.certs_at, self.settings.certificates_every) {
            self.certs = self
                .sources
                .iter()
                .map(|s| (s.name.clone(), read_certificates(&s.certificates, now)))
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
                .unwrap_or_else(|| empty_queue(&s.name));
            let (stale, drop_status) = self.folders.get(&s.name).cloned().unwrap_or_default();
            queue.stale_in_inn = stale;
            queue.paused = self.access.paused.get(&s.name).cloned();
            state.queues.push(queue);
            state.integrations.push(IntegrationStatus {
                mottakersystem: s.name.clone(),
                svarinn: svarinn_link(s),
                certificates: self.certs.get(&s.name).cloned().unwrap_or_default(),
                drop_folder: drop_status,
                doctor: self
                    .doctor
                    .as_ref()
                    .and_then(crate::doctor::LastResult::report)
                    .map(|r| r.for_console(&s.name)),
            });
            polls.insert(
                s.name.clone(),
                (
                    s.health.polls.load(Ordering::Relaxed),
                    s.health.poll_failures.load(Ordering::Relaxed),
                ),
            );
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
        state.alerts = alerts(&state, now_ms);
        state
            .alerts
            .extend(crate::outbound::console::alerts(&state.outbound, now_ms));
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

    fn read_journal(&mut self, now_ms: i64) -> Result<JournalPart, JournalError> {
        let mut part = JournalPart::default();
        let counts = self.reader.counts()?;
        let hour_ago = now_ms - 60 * 60 * 1000;
        let buckets_end = (now_ms.div_euclid(THROUGHPUT_BUCKET_MS) + 1) * THROUGHPUT_BUCKET_MS;
        let span = THROUGHPUT_BUCKET_MS * i64::try_from(THROUGHPUT_BUCKETS).unwrap_or(12);
        let buckets_start = buckets_end - span;
        // One pass over the journal for every mottakersystem's figures.
        let stats: HashMap<String, SystemStats> = self
            .reader
            .console_stats(buckets_start.min(hour_ago), hour_ago)?
            .into_iter()
            .map(|s| (s.mottakersystem.clone(), s))
            .collect();
        for s in &self.sources {
            let stat = stats.get(&s.name);
            let mut queue = empty_queue(&s.name);
            for c in counts.iter().filter(|c| c.mottakersystem == s.name) {
                queue.counts.insert(c.state, c.count);
            }
            queue.oldest_unacknowledged =
                stat.and_then(|st| st.oldest_unacked.clone())
                    .map(|o| OldestUnacknowledged {
                        id: mottak_protocol::console::ExternalId::from(o.id),
                        state: o.state,
                        since: o.since,
                        warning_at: o.since.saturating_add(UNACKED_WARNING_MS),
                    });
            let delivered: &[i64] = stat.map_or(&[], |st| &st.delivered_since);
            let mut buckets = vec![0u64; THROUGHPUT_BUCKETS];
            for t in delivered {
                if *t >= buckets_start
                    && let Ok(i) = usize::try_from((t - buckets_start) / THROUGHPUT_BUCKET_MS)
                    && let Some(b) = buckets.get_mut(i)
                {
                    *b += 1;
                }
            }
            queue.throughput = Throughput {
                delivered_last_hour: delivered.iter().filter(|t| **t >= hour_ago).count() as u64,
                acked_last_hour: stat.map_or(0, |st| st.acked_since),
                delivered_buckets: buckets,
                buckets_end,
            };
            part.queues.insert(s.name.clone(), queue);
        }
        part.failed.total = counts
            .iter()
            .filter(|c| matches!(c.state, State::Failed | State::Rejected | State::RetryWait))
            .map(|c| c.count)
            .sum();
        let rows = self
            .reader
            .console_needing_attention(self.settings.failed_cap)?;
        let mut keep = HashMap::with_capacity(rows.len());
        for row in rows {
            let key = (row.mottakersystem.clone(), row.id.as_str().to_owned());
            let stamp = to_millis(row.updated_at);
            let history = match self.history.remove(&key) {
                Some((at, h)) if at == stamp => h,
                _ => {
                    let all = self.reader.history(&row.mottakersystem, &row.id)?;
                    let skip = all.len().saturating_sub(HISTORY_WINDOW);
                    all.into_iter()
                        .skip(skip)
                        .map(|a| HistoryEntry {
                            at: to_millis(a.at),
                            action: a.action,
                            outcome: a.outcome,
                            error: a.error.map(Text::from),
                        })
                        .collect()
                }
            };
            part.failed.items.push(failed_import(&row, history.clone()));
            keep.insert(key, (stamp, history));
        }
        self.history = keep;
        part.delivered = stats
            .values()
            .filter(|st| st.delivered_total > 0)
            .map(|st| {
                (
                    st.mottakersystem.clone(),
                    (st.delivered_total, st.delivered_bytes),
                )
            })
            .collect();
        Ok(part)
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
            Directory::system().group_members_blocking(&super::access::acting_groups(&access));
        let coverage = super::access::coverage(&access, &members, &systems);
        Ok(AccessPart {
            access,
            paused,
            audit,
            coverage,
        })
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn system_ms(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn empty_queue(name: &str) -> QueueHealth {
    QueueHealth {
        mottakersystem: name.to_owned(),
        counts: ForsendelseState::ALL.into_iter().map(|s| (s, 0)).collect(),
        ..QueueHealth::default()
    }
}

fn failed_import(row: &Row, history: Vec<HistoryEntry>) -> FailedImport {
    FailedImport {
        mottakersystem: row.mottakersystem.clone(),
        id: mottak_protocol::console::ExternalId::from(row.id.as_str()),
        state: row.state,
        tittel: Text::from(row.tittel.as_str()),
        avsender: row.avsender_navn.as_deref().map(Text::from),
        forsendelse_type: row.forsendelse_type.as_deref().map(Text::from),
        sendt_at: row.sendt_at.map(to_millis),
        size: row.size,
        first_seen_at: to_millis(row.first_seen_at),
        updated_at: to_millis(row.updated_at),
        attempts: row.attempts,
        content_failures: row.content_failures,
        last_error: row.last_error.as_deref().map(Text::from),
        reason: row.reason.as_deref().map(Text::from),
        next_attempt_at: row.next_attempt_at.map(to_millis),
        resume_state: row.resume_state,
        reported_to_svarinn: row.feil_reported_at.is_some(),
        history,
    }
}

fn svarinn_link(s: &SystemSource) -> SvarInnLink {
    let status = s
        .health
        .status
        .lock()
        .map(|g| g.clone())
        .unwrap_or_else(|p| p.into_inner().clone());
    // While the worker cannot start, why is the link's error.
    let setup = s.health.pipeline.setup_failure();
    SvarInnLink {
        url: s.svarinn_url.clone(),
        last_poll_at: status.last_poll_at.map(to_millis),
        last_success_at: status.last_success_at.map(to_millis),
        consecutive_failures: setup
            .as_ref()
            .map_or(status.consecutive_failures, |f| f.attempts),
        last_error: setup.map(|f| f.error).or(status.last_error).map(Text::from),
        latency_ms: status
            .last_latency
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        resolved: status.resolved.iter().map(ToString::to_string).collect(),
    }
}

/// What sits in `inn/` too long, whether the agent can write, free space.
/// Read through the drop folder's handles: nothing in it is followed or
/// opened, only listed and `lstat`ed.
fn read_drop_folder(drop: &DropFolder, threshold_ms: i64) -> (StaleInInn, DropFolderStatus) {
    let now = system_ms(SystemTime::now());
    let mut stale = StaleInInn {
        threshold_ms,
        ..StaleInInn::default()
    };
    let mut status = DropFolderStatus {
        path: drop.root().display().to_string(),
        ..DropFolderStatus::default()
    };
    let root = match drop.open_root() {
        Ok(root) => root,
        Err(err) => {
            status.error = Some(Text::from(err.to_string()));
            return (stale, status);
        }
    };
    let inn = root.open_dir(&INN);
    let listed = match &inn {
        Ok(dir) => dir.entries().map(Some).map_err(|e| e.to_string()),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.to_string()),
    };
    match listed {
        Ok(Some(entries)) => {
            let mut old: Vec<InnFolder> = entries
                .into_iter()
                .filter(|e| e.meta.kind == Kind::Dir)
                .filter_map(|e| {
                    let since = system_ms(e.meta.changed);
                    (now - since >= threshold_ms).then(|| InnFolder {
                        name: mottak_protocol::console::ExternalId::from(
                            e.name.to_string_lossy().into_owned(),
                        ),
                        since,
                    })
                })
                .collect();
            old.sort_by(|a, b| a.since.cmp(&b.since).then_with(|| a.name.cmp(&b.name)));
            stale.count = old.len() as u64;
            old.truncate(STALE_NAMED);
            stale.oldest = old;
        }
        Ok(None) => {}
        Err(err) => {
            status.error = Some(Text::from(format!("cannot list inn/: {err}")));
        }
    }
    // Whether the agent may write where it writes (its staging folder and
    // inn/, or the root before the layout exists), without writing: a probe
    // file could be left behind by a crash, and the fagsystem and tests see
    // every file in these folders.
    let dirs: Vec<Result<Dir, DirError>> = match root.open_dir(&STAGING) {
        Ok(staging) => vec![Ok(staging), inn],
        Err(_) => vec![Ok(root.clone())],
    };
    status.writable = status.error.is_none();
    for dir in dirs {
        if let Err(err) = dir.and_then(|d| d.check_writable()) {
            status.writable = false;
            status.error = Some(Text::from(format!(
                "{err}; the agent's user needs write access to the drop folder"
            )));
            break;
        }
    }
    if let Ok(space) = root.space() {
        if space.read_only {
            status.writable = false;
            status.error = Some(Text::from(format!(
                "{} is on a read-only filesystem; remount it read-write",
                drop.root().display()
            )));
        }
        status.free_bytes = Some(space.free_bytes / MIB * MIB);
        status.total_bytes = Some(space.total_bytes);
    }
    (stale, status)
}

fn read_certificates(paths: &[PathBuf], now: OffsetDateTime) -> Vec<CertificateStatus> {
    paths
        .iter()
        .map(|p| match keys::load_certificate(p) {
            Ok(cert) => {
                let (level, days_left) = match keys::expiry(cert.not_after, now) {
                    Expiry::Valid { days_left } => (ExpiryLevel::Ok, days_left),
                    Expiry::ExpiresSoon { days_left } => (ExpiryLevel::ExpiresSoon, days_left),
                    Expiry::Expired { days_ago } => (ExpiryLevel::Expired, -days_ago),
                };
                CertificateStatus {
                    path: p.display().to_string(),
                    not_after: Some(to_millis(cert.not_after)),
                    days_left: Some(days_left),
                    level,
                    error: None,
                }
            }
            Err(err) => CertificateStatus {
                path: p.display().to_string(),
                not_after: None,
                days_left: None,
                level: ExpiryLevel::Unreadable,
                error: Some(Text::from(err.to_string())),
            },
        })
        .collect()
}

/// The alerts the state calls for at `now_ms`, per mottakersystem.
pub fn alerts(state: &ConsoleState, now_ms: i64) -> Vec<Alert> {
    let mut out = Vec::new();
    let mut push = |system: &str, severity, since, kind| {
        out.push(alert_text::alert(system, severity, since, kind, now_ms));
    };
    for q in &state.queues {
        let m = q.mottakersystem.as_str();
        if let Some(o) = &q.oldest_unacknowledged {
            let age = now_ms - o.since;
            let severity = if now_ms >= o.warning_at {
                Some(Severity::Critical)
            } else if age >= UNACKED_WARNING_MS / 2 {
                Some(Severity::Warning)
            } else {
                None
            };
            if let Some(severity) = severity {
                push(
                    m,
                    severity,
                    Some(o.since),
                    AlertKind::Unacknowledged {
                        id: o.id.clone(),
                        state: o.state,
                        since: o.since,
                    },
                );
            }
        }
        let count = |s| q.counts.get(&s).copied().unwrap_or(0);
        let failed = count(ForsendelseState::Failed);
        let rejected = count(ForsendelseState::Rejected);
        if failed + rejected > 0 {
            push(
                m,
                Severity::Warning,
                None,
                AlertKind::NeedsPerson { failed, rejected },
            );
        }
        if q.stale_in_inn.count > 0 {
            push(
                m,
                Severity::Warning,
                q.stale_in_inn.oldest.first().map(|f| f.since),
                AlertKind::StaleInn {
                    count: q.stale_in_inn.count,
                    threshold_ms: q.stale_in_inn.threshold_ms,
                },
            );
        }
        if let Some(p) = &q.paused {
            push(
                m,
                Severity::Info,
                Some(p.at),
                AlertKind::Paused { by: p.by.clone() },
            );
        }
    }
    for i in &state.integrations {
        let m = i.mottakersystem.as_str();
        let link = &i.svarinn;
        if link.consecutive_failures >= 3 {
            let long = link
                .last_success_at
                .is_none_or(|t| now_ms - t >= 60 * 60 * 1000);
            push(
                m,
                if long {
                    Severity::Critical
                } else {
                    Severity::Warning
                },
                link.last_success_at,
                AlertKind::Svarinn {
                    consecutive_failures: link.consecutive_failures,
                    last_error: link.last_error.clone(),
                    url: link.url.clone(),
                    resolved: link.resolved.clone(),
                },
            );
        }
        for c in &i.certificates {
            let severity = match c.level {
                ExpiryLevel::Ok => continue,
                ExpiryLevel::ExpiresSoon | ExpiryLevel::Unreadable => Severity::Warning,
                ExpiryLevel::Expired => Severity::Critical,
            };
            push(
                m,
                severity,
                c.not_after,
                AlertKind::Certificate {
                    path: c.path.clone(),
                    level: c.level,
                    days_left: c.days_left,
                },
            );
        }
        let d = &i.drop_folder;
        if !d.writable {
            push(
                m,
                Severity::Critical,
                None,
                AlertKind::DropFolder {
                    path: d.path.clone(),
                    error: d.error.clone(),
                },
            );
        } else if let (Some(free), Some(floor)) = (d.free_bytes, d.min_free_bytes)
            && free < floor
        {
            push(
                m,
                Severity::Critical,
                None,
                AlertKind::DiskFloor {
                    path: d.path.clone(),
                    free_bytes: free,
                    min_free_bytes: floor,
                },
            );
        } else if let Some(free) = d.free_bytes
            && free < LOW_FREE_BYTES.max(d.min_free_bytes.unwrap_or(0).saturating_mul(2))
        {
            push(
                m,
                Severity::Warning,
                None,
                AlertKind::DiskLow {
                    path: d.path.clone(),
                    free_bytes: free,
                },
            );
        }
    }
    for c in &state.access.coverage {
        if c.warning.is_some() {
            push(
                &c.mottakersystem,
                Severity::Warning,
                None,
                AlertKind::Coverage {
                    can_act: c.can_act.clone(),
                },
            );
        }
    }
    out
}

/// The part of `state` a caller with `roles` may see: only their
/// mottakersystemer; the audit log only where they are admin (access changes
/// over all systems to any admin). The access list itself is visible to all
/// callers, so everyone knows whom to ask.
pub fn visible_to(state: &ConsoleState, roles: &BTreeMap<String, Role>) -> ConsoleState {
    let sees = |m: &str| roles.contains_key(m);
    let any_admin = roles.values().any(|r| *r == Role::Admin);
    let queues: Vec<QueueHealth> = state
        .queues
        .iter()
        .filter(|q| sees(&q.mottakersystem))
        .cloned()
        .collect();
    let total = queues
        .iter()
        .flat_map(|q| q.counts.iter())
        .filter(|(s, _)| s.needs_attention())
        .map(|(_, n)| *n)
        .sum();
    ConsoleState {
        agent: state.agent.clone(),
        queues,
        failed: FailedImports {
            total,
            items: state
                .failed
                .items
                .iter()
                .filter(|f| sees(&f.mottakersystem))
                .cloned()
                .collect(),
        },
        integrations: state
            .integrations
            .iter()
            .filter(|i| sees(&i.mottakersystem))
            .cloned()
            .collect(),
        alerts: state
            .alerts
            .iter()
            .filter(|a| a.mottakersystem.as_deref().is_none_or(sees))
            .cloned()
            .collect(),
        access: AccessList {
            grants: state.access.grants.clone(),
            members: state.access.members.clone(),
            coverage: state
                .access
                .coverage
                .iter()
                .filter(|c| sees(&c.mottakersystem))
                .cloned()
                .collect(),
        },
        audit: state
            .audit
            .iter()
            .filter(|e| match &e.mottakersystem {
                Some(m) => roles.get(m.raw()) == Some(&Role::Admin),
                None => any_admin,
            })
            .cloned()
            .collect(),
        outbound: state
            .outbound
            .iter()
            .filter(|o| sees(&o.mottakersystem))
            .cloned()
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{Change, FILE_NAME, ManualClock, NewForsendelse, SystemClock};
    use crate::names::ForsendelseId;
    use mottak_protocol::console::{Principal, RoleGrant, Scope};
    use time::macros::datetime;

    fn source(dir: &std::path::Path, name: &str) -> SystemSource {
        let root = dir.join(name);
        std::fs::create_dir_all(root.join("inn")).unwrap();
        SystemSource {
            name: name.into(),
            svarinn_url: "https://svarut.ks.no".into(),
            certificates: vec![dir.join("missing.crt")],
            drop: DropFolder::new(root),
            min_free_space: 512 << 20,
            health: Arc::new(WorkerHealth::default()),
        }
    }

    fn new(id: &str, tittel: &str) -> NewForsendelse {
        NewForsendelse {
            id: ForsendelseId::parse(id).unwrap(),
            tittel: tittel.into(),
            avsender_navn: Some("NAV".into()),
            forsendelse_type: None,
            sendt_at: Some(datetime!(2026-11-21 05:00 UTC)),
            size: Some(100),
            raw_json: "{}".into(),
        }
    }

    #[test]
    fn builds_queues_failures_alerts_and_filters_by_role() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let clock = Arc::new(ManualClock::new(datetime!(2026-11-21 08:00 UTC)));
        let mut w = Journal::open(&path, clock.clone()).unwrap();
        w.record_listed("a", &new("f1", "Søknad 01019012480"))
            .unwrap();
        w.transition(
            "a",
            &ForsendelseId::parse("f1").unwrap(),
            Change::Failed {
                error: "checksum".into(),
            },
        )
        .unwrap();
        w.record_listed("b", &new("f2", "ok")).unwrap();
        w.grant(
            &RoleGrant {
                principal: Principal::User("kari".into()),
                role: Role::Operator,
                scope: Scope::Mottakersystem("a".into()),
            },
            &crate::journal::access::AuditNote {
                who: "root".into(),
                via: "cli".into(),
                action: "grant".into(),
                mottakersystem: Some("a".into()),
                target: None,
                reason: None,
                outcome: "ok".into(),
                command_id: None,
            },
        )
        .unwrap();
        let reader = Journal::open_read_only(&path, Arc::new(SystemClock)).unwrap();
        let mut b = Builder::new(
            vec![source(dir.path(), "a"), source(dir.path(), "b")],
            reader,
            StateSettings::default(),
            AgentInfo::default(),
        );
        let built = b.build(datetime!(2026-11-21 08:00 UTC)).unwrap();
        let s = &built.state;
        assert_eq!(s.queues.len(), 2);
        assert_eq!(s.queues[0].counts[&ForsendelseState::Failed], 1);
        assert_eq!(s.failed.total, 1);
        assert_eq!(s.failed.items[0].id, "f1");
        assert_eq!(
            s.failed.items[0].last_error.as_ref().unwrap().raw(),
            "checksum"
        );
        assert!(!s.failed.items[0].history.is_empty());
        // Sent at 05:00, now 08:00: past SvarInn's two hours.
        let crit: Vec<&Alert> = s
            .alerts
            .iter()
            .filter(|a| a.severity == Severity::Critical)
            .collect();
        assert!(
            crit.iter().any(|a| a.key == "unacknowledged/a"),
            "{:?}",
            s.alerts
        );
        assert!(s.alerts.iter().any(|a| a.key.starts_with("certificate/a/")));
        let coverage = s.alerts.iter().find(|a| a.key == "coverage/a").unwrap();
        // The console puts "a: " first; the title does not say it again.
        assert!(
            coverage.title.raw().contains("can act on failed imports:")
                && !coverage.title.raw().contains(" of a"),
            "{}",
            coverage.title.raw()
        );
        assert!(s.integrations[0].drop_folder.writable);
        let wire = serde_json::to_string(s).unwrap();
        assert!(!wire.contains("01019012480"));

        // kari sees only a, and no audit (not admin).
        let mut roles = BTreeMap::new();
        roles.insert("a".to_owned(), Role::Operator);
        let v = visible_to(s, &roles);
        assert_eq!(v.queues.len(), 1);
        assert_eq!(v.integrations.len(), 1);
        assert!(
            v.alerts
                .iter()
                .all(|a| a.mottakersystem.as_deref() == Some("a"))
        );
        assert!(v.audit.is_empty());
        roles.insert("a".to_owned(), Role::Admin);
        assert_eq!(visible_to(s, &roles).audit.len(), 1);

        // Nothing changed: the same state.
        let again = b.build(datetime!(2026-11-21 08:00 UTC)).unwrap();
        assert_eq!(again.state, built.state);
    }

    /// Below `min_free_space` downloads wait: a critical alert naming both
    /// numbers; above it but low, the warning as before; plenty, none.
    #[test]
    fn free_space_under_the_floor_is_a_critical_alert() {
        use mottak_protocol::console::{DropFolderStatus, IntegrationStatus};
        let with_free = |free: u64| ConsoleState {
            integrations: vec![IntegrationStatus {
                mottakersystem: "a".into(),
                drop_folder: DropFolderStatus {
                    path: "/srv/a".into(),
                    writable: true,
                    free_bytes: Some(free),
                    total_bytes: Some(100 << 30),
                    min_free_bytes: Some(512 << 20),
                    ..DropFolderStatus::default()
                },
                ..IntegrationStatus::default()
            }],
            ..ConsoleState::default()
        };
        let disk = |free: u64| -> Vec<Alert> {
            alerts(&with_free(free), 0)
                .into_iter()
                .filter(|a| a.key.starts_with("disk"))
                .collect()
        };
        let low = disk(100 << 20);
        assert_eq!(low.len(), 1, "{low:?}");
        assert_eq!(low[0].key, "disk-floor/a");
        assert_eq!(low[0].severity, Severity::Critical);
        assert!(
            low[0].title.raw().contains("only 100 MiB free")
                && low[0].title.raw().contains("min_free_space (512 MiB)"),
            "{}",
            low[0].title.raw()
        );
        let near = disk(600 << 20);
        assert_eq!(near.len(), 1, "{near:?}");
        assert_eq!(
            (near[0].key.as_str(), near[0].severity),
            ("disk/a", Severity::Warning)
        );
        assert!(disk(10 << 30).is_empty());
    }
}
