//! The inbound part of the console state: each mottakersystem's queue and
//! failed imports from the journal (read-only connection of the state
//! builder), the SvarInn link from the worker's memory, the drop folder and
//! the certificate files, and the alerts they raise.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use mottak_protocol::alert::AlertKind;
use mottak_protocol::console::{
    Alert, CertificateStatus, DropFolderStatus, DuplicateLink, Duplicates, ExpiryLevel, ExternalId,
    FailedImport, FailedImports, ForsendelseState, HISTORY_WINDOW, HistoryEntry, InnFolder,
    IntegrationStatus, OldestUnacknowledged, QueueHealth, Severity, StaleInInn, SvarInnLink,
    THROUGHPUT_BUCKET_MS, THROUGHPUT_BUCKETS, Text, Throughput, UNACKED_WARNING_MS,
};
use time::OffsetDateTime;

use super::worker::WorkerHealth;
use crate::clock::to_millis;
use crate::console_api::alert_text;
use crate::dropfolder::dirfd::{Dir, DirError, Kind};
use crate::dropfolder::{DropFolder, INN, STAGING};
use crate::journal::console_queries::SystemStats;
use crate::journal::{Journal, JournalError, Row, State};
use crate::keys::{self, Expiry};

/// How many failed imports a state carries at most (the oldest by name);
/// `FailedImports::total` still counts them all.
pub const FAILED_CAP: usize = 5000;
/// How many of the latest duplicates (not delivered twice) are named per mottakersystem.
const DUPLICATES_SHOWN: usize = 5;
/// How many stale `inn/` folders are named per mottakersystem.
const STALE_NAMED: usize = 20;
/// Free space under this is a warning.
const LOW_FREE_BYTES: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

/// One mottakersystem's SvarInn side, as the state builder reads it.
#[derive(Debug, Clone)]
pub struct InboundSource {
    pub name: String,
    pub svarinn_url: String,
    /// Which SvarInn API it speaks (`svarinn_api`).
    pub svarinn_api: crate::config::SvarInnApi,
    pub certificates: Vec<PathBuf>,
    pub drop: DropFolder,
    /// `min_free_space`: downloads wait below it.
    pub min_free_space: u64,
    pub health: Arc<WorkerHealth>,
}

/// The journal's part of the inbound status, for every source.
#[derive(Debug, Default)]
pub struct JournalView {
    pub queues: BTreeMap<String, QueueHealth>,
    pub failed: FailedImports,
    /// Per mottakersystem: forsendelser delivered, their declared bytes.
    pub delivered: BTreeMap<String, (u64, u64)>,
}

/// Each failed import's history as last read, by (mottakersystem, id),
/// with the row's `updated_at`: read again only when the row changed.
#[derive(Debug, Default)]
pub struct HistoryCache(HashMap<(String, String), (i64, Vec<HistoryEntry>)>);

/// Reads the journal's part for every source: counts, the oldest
/// unacknowledged, throughput, and the failed imports (at most `failed_cap`).
pub fn read_journal(
    reader: &Journal,
    sources: &[InboundSource],
    failed_cap: usize,
    history: &mut HistoryCache,
    now_ms: i64,
) -> Result<JournalView, JournalError> {
    let mut part = JournalView::default();
    let counts = reader.counts()?;
    let hour_ago = now_ms - 60 * 60 * 1000;
    let buckets_end = (now_ms.div_euclid(THROUGHPUT_BUCKET_MS) + 1) * THROUGHPUT_BUCKET_MS;
    let span = THROUGHPUT_BUCKET_MS * i64::try_from(THROUGHPUT_BUCKETS).unwrap_or(12);
    let buckets_start = buckets_end - span;
    // One pass over the journal for every mottakersystem's figures.
    let stats: HashMap<String, SystemStats> = reader
        .console_stats(buckets_start.min(hour_ago), hour_ago)?
        .into_iter()
        .map(|s| (s.mottakersystem.clone(), s))
        .collect();
    let duplicates: HashMap<String, u64> = reader.duplicate_counts()?.into_iter().collect();
    for s in sources {
        let stat = stats.get(&s.name);
        let mut queue = empty_queue(&s.name);
        if let Some(&total) = duplicates.get(&s.name) {
            queue.duplicates = Duplicates {
                total,
                latest: reader
                    .duplicates(&s.name, DUPLICATES_SHOWN)?
                    .into_iter()
                    .map(|d| DuplicateLink {
                        channel: d.channel.as_str().to_owned(),
                        id: ExternalId::from(d.id),
                        delivered_by: d.delivered_by.channel.as_str().to_owned(),
                        delivered_as: ExternalId::from(d.delivered_by.id),
                        digisos_id: ExternalId::from(d.key.digisos_id),
                        at: to_millis(d.at),
                    })
                    .collect(),
            };
        }
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
    let rows = reader.console_needing_attention(failed_cap)?;
    let mut keep = HashMap::with_capacity(rows.len());
    for row in rows {
        let key = (row.mottakersystem.clone(), row.id.as_str().to_owned());
        let stamp = to_millis(row.updated_at);
        let history = match history.0.remove(&key) {
            Some((at, h)) if at == stamp => h,
            _ => {
                let all = reader.history(&row.mottakersystem, &row.id)?;
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
    history.0 = keep;
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

fn system_ms(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A mottakersystem's queue with every count at 0.
pub fn empty_queue(name: &str) -> QueueHealth {
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

/// The SvarInn link as the worker last saw it.
pub fn svarinn_link(s: &InboundSource) -> SvarInnLink {
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
        api: s.svarinn_api,
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

/// Polls and failed polls since the agent started.
pub fn polls(s: &InboundSource) -> (u64, u64) {
    (
        s.health.polls.load(Ordering::Relaxed),
        s.health.poll_failures.load(Ordering::Relaxed),
    )
}

/// What sits in `inn/` too long, whether the agent can write, free space.
/// Read through the drop folder's handles: nothing in it is followed or
/// opened, only listed and `lstat`ed.
pub fn read_drop_folder(drop: &DropFolder, threshold_ms: i64) -> (StaleInInn, DropFolderStatus) {
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

/// Each configured certificate's expiry, or why it cannot be read.
pub fn read_certificates(paths: &[PathBuf], now: OffsetDateTime) -> Vec<CertificateStatus> {
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

/// The alerts the inbound side calls for at `now_ms`, per mottakersystem.
pub fn alerts(
    queues: &[QueueHealth],
    integrations: &[IntegrationStatus],
    now_ms: i64,
) -> Vec<Alert> {
    let mut out = Vec::new();
    let mut push = |system: &str, severity, since, kind| {
        out.push(alert_text::alert(system, severity, since, kind, now_ms));
    };
    for q in queues {
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
    for i in integrations {
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
    out
}
