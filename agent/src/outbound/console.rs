//! The outbound part of the console state (`mottak_protocol::console::
//! OutboundStatus`): the queue and failures from the journal (read-only
//! connection of the state builder), Fiks's and Maskinporten's status from
//! the worker's memory, and the alerts they raise.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use mottak_protocol::alert::AlertKind;
use mottak_protocol::console::{
    Alert, CertificateStatus, ExpiryLevel, ExternalId, FiksLink, HISTORY_WINDOW, HistoryEntry,
    IgnoredEntry, MaskinportenLink, OUTBOUND_WINDOW, OutboundItem, OutboundStatus, Severity, Text,
    UnmovedUpdate,
};
use time::OffsetDateTime;

use super::worker::OutboundHealth;
use crate::config::Mottakersystem;
use crate::console_api::alert_text;
use crate::journal::outbound::{OutboundRow, OutboundState};
use crate::journal::{Journal, JournalError};
use crate::keys::{self, Expiry};

/// What the console needs to know of one mottakersystem's outbound side.
#[derive(Debug, Clone)]
pub struct OutboundSource {
    pub name: String,
    pub drop_folder: PathBuf,
    pub fiks_url: String,
    pub fiks_org_id: String,
    pub maskinporten_url: String,
    pub client_id: String,
    pub health: Arc<OutboundHealth>,
}

impl OutboundSource {
    /// For a mottakersystem with `[mottakersystem.digisos]`.
    pub fn from_config(system: &Mottakersystem, health: Arc<OutboundHealth>) -> Option<Self> {
        let d = system.digisos.as_ref()?;
        Some(OutboundSource {
            name: system.name.as_str().to_owned(),
            drop_folder: system.drop_folder.clone(),
            fiks_url: d.fiks_api_url.as_str().trim_end_matches('/').to_owned(),
            fiks_org_id: d.fiks_org_id.clone(),
            maskinporten_url: d.maskinporten.url.as_str().to_owned(),
            client_id: d.maskinporten.client_id.clone(),
            health,
        })
    }
}

/// The journal's part of one [`OutboundStatus`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalView {
    pub counts: BTreeMap<OutboundState, u64>,
    pub queue: Vec<OutboundItem>,
    pub failures: Vec<OutboundItem>,
    pub last_sent_at: Option<i64>,
}

fn item(reader: &Journal, row: OutboundRow) -> Result<OutboundItem, JournalError> {
    let mut history: Vec<HistoryEntry> = reader
        .outbound_history(&row.mottakersystem, &row.update_id)?
        .into_iter()
        .map(|a| HistoryEntry {
            at: a.at,
            action: a.action,
            outcome: a.outcome,
            error: a.error.map(Text::from),
        })
        .collect();
    if history.len() > HISTORY_WINDOW {
        history.drain(..history.len() - HISTORY_WINDOW);
    }
    Ok(OutboundItem {
        update_id: ExternalId::from(row.update_id),
        digisos_id: ExternalId::from(row.digisos_id),
        state: row.state,
        claimed_at: row.claimed_at,
        updated_at: row.updated_at,
        attempts: row.attempts,
        next_attempt_at: row.next_attempt_at,
        last_error: row.last_error.map(Text::from),
        failed_folder: row.failed_folder.map(ExternalId::from),
        history,
    })
}

/// Reads the journal's part for every source.
pub fn read_journal(
    reader: &Journal,
    sources: &[OutboundSource],
) -> Result<BTreeMap<String, JournalView>, JournalError> {
    let counts = reader.outbound_counts()?;
    let mut out = BTreeMap::new();
    for s in sources {
        let mut view = JournalView {
            counts: OutboundState::ALL.into_iter().map(|st| (st, 0)).collect(),
            ..JournalView::default()
        };
        for c in counts.iter().filter(|c| c.mottakersystem == s.name) {
            view.counts.insert(c.state, c.count);
        }
        for row in reader.outbound_rows(
            &s.name,
            &[OutboundState::Queued, OutboundState::RetryWait],
            OUTBOUND_WINDOW,
        )? {
            view.queue.push(item(reader, row)?);
        }
        for row in reader.outbound_rows(&s.name, &[OutboundState::Failed], OUTBOUND_WINDOW)? {
            view.failures.push(item(reader, row)?);
        }
        view.last_sent_at = reader.outbound_last_sent(&s.name)?;
        out.insert(s.name.clone(), view);
    }
    Ok(out)
}

fn ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// One source's status at `now`: the journal view plus the worker's memory.
pub fn status(
    source: &OutboundSource,
    view: Option<&JournalView>,
    now: OffsetDateTime,
) -> OutboundStatus {
    let view = view.cloned().unwrap_or_default();
    let mut fiks = FiksLink {
        url: source.fiks_url.clone(),
        fiks_org_id: source.fiks_org_id.clone(),
        ..FiksLink::default()
    };
    let mut maskinporten = MaskinportenLink {
        url: source.maskinporten_url.clone(),
        client_id: source.client_id.clone(),
        ..MaskinportenLink::default()
    };
    let client = source.health.fiks.lock().ok().and_then(|f| f.clone());
    if let Some(client) = client {
        let f = client.status();
        fiks.last_ok_at = f.last_ok_at;
        fiks.last_error = f.last_error.map(Text::from);
        fiks.last_error_at = f.last_error_at;
        fiks.public_key = f.public_key.map(Text::from);
        fiks.public_key_not_after = f.public_key_not_after;
        let m = client.maskinporten().status();
        maskinporten.last_token_at = m.last_token_at;
        maskinporten.token_expires_at = m.token_expires_at;
        maskinporten.tokens_fetched = m.tokens_fetched;
        maskinporten.last_error = m.last_error.map(Text::from);
        maskinporten.last_error_at = m.last_error_at;
        maskinporten.certificates = client
            .maskinporten()
            .chain()
            .iter()
            .map(|c| {
                let (level, days_left) = match keys::expiry(c.not_after, now) {
                    Expiry::Valid { days_left } => (ExpiryLevel::Ok, days_left),
                    Expiry::ExpiresSoon { days_left } => (ExpiryLevel::ExpiresSoon, days_left),
                    Expiry::Expired { days_ago } => (ExpiryLevel::Expired, -days_ago),
                };
                CertificateStatus {
                    path: c.description.clone(),
                    not_after: Some(ms(c.not_after)),
                    days_left: Some(days_left),
                    level,
                    error: None,
                }
            })
            .collect();
    }
    OutboundStatus {
        mottakersystem: source.name.clone(),
        counts: view.counts,
        queue: view.queue,
        failures: view.failures,
        last_sent_at: view.last_sent_at,
        fiks,
        maskinporten,
        setup_error: source
            .health
            .pipeline
            .setup_failure()
            .map(|f| Text::from(f.error)),
        unmoved: unmoved(&source.health),
        ignored: ignored(&source.health),
    }
}

/// The entries in `ut/` the worker leaves alone, by name.
fn ignored(health: &OutboundHealth) -> Vec<IgnoredEntry> {
    let Ok(map) = health.ignored.lock() else {
        return Vec::new();
    };
    map.iter()
        .map(|(name, i)| IgnoredEntry {
            name: Text::from(name.clone()),
            reason: Text::from(i.reason.clone()),
            since: i.since_ms,
        })
        .collect()
}

/// How many ignored entries an alert names (the state lists them all).
const IGNORED_NAMED: usize = 5;

/// The worker's failed moves, oldest first.
fn unmoved(health: &OutboundHealth) -> Vec<UnmovedUpdate> {
    let Ok(map) = health.unmoved.lock() else {
        return Vec::new();
    };
    let mut list: Vec<UnmovedUpdate> = map
        .iter()
        .map(|(id, u)| UnmovedUpdate {
            update_id: ExternalId::from(id.as_str()),
            to: u.to.to_owned(),
            error: Text::from(u.error.clone()),
            since: u.since_ms,
        })
        .collect();
    list.sort_by_key(|u| u.since);
    list
}

/// How long updates may wait before the queue is an alert.
pub const STUCK_AFTER_MS: i64 = 15 * 60 * 1000;

/// Alerts from the outbound statuses.
pub fn alerts(statuses: &[OutboundStatus], now_ms: i64) -> Vec<Alert> {
    let mut out = Vec::new();
    let mut push = |system: &str, severity, since, kind| {
        out.push(alert_text::alert(system, severity, since, kind, now_ms));
    };
    for s in statuses {
        let m = s.mottakersystem.as_str();
        if let Some(e) = &s.setup_error {
            push(
                m,
                Severity::Critical,
                None,
                AlertKind::OutboundSetup { error: e.clone() },
            );
        }
        let failed = s.counts.get(&OutboundState::Failed).copied().unwrap_or(0);
        if failed > 0 {
            push(
                m,
                Severity::Warning,
                s.failures.first().map(|f| f.updated_at),
                AlertKind::OutboundFailed { count: failed },
            );
        }
        if let Some(first) = s.unmoved.first() {
            push(
                m,
                if now_ms - first.since > STUCK_AFTER_MS {
                    Severity::Critical
                } else {
                    Severity::Warning
                },
                Some(first.since),
                AlertKind::OutboundUnmoved {
                    count: s.unmoved.len() as u64,
                    update_id: first.update_id.clone(),
                    to: first.to.clone(),
                    error: first.error.clone(),
                },
            );
        }
        if !s.ignored.is_empty() {
            push(
                m,
                Severity::Warning,
                s.ignored.iter().map(|i| i.since).min(),
                AlertKind::OutboundIgnored {
                    count: s.ignored.len() as u64,
                    first: s.ignored.iter().take(IGNORED_NAMED).cloned().collect(),
                },
            );
        }
        if let Some(oldest) = s.queue.first()
            && now_ms - oldest.claimed_at > STUCK_AFTER_MS
        {
            push(
                m,
                Severity::Critical,
                Some(oldest.claimed_at),
                AlertKind::OutboundStuck {
                    last_error: s
                        .fiks
                        .last_error
                        .as_ref()
                        .or(s.maskinporten.last_error.as_ref())
                        .cloned(),
                },
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::SystemClock;
    use crate::outbound::worker::Unmoved;

    const CASE: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

    fn source() -> OutboundSource {
        OutboundSource {
            name: "s".into(),
            drop_folder: "/tmp/none".into(),
            fiks_url: "https://api.fiks.test.ks.no".into(),
            fiks_org_id: "11415cd1-e26d-499a-8421-751457dfcbd5".into(),
            maskinporten_url: "https://test.maskinporten.no/token".into(),
            client_id: "c".into(),
            health: Arc::new(OutboundHealth::default()),
        }
    }

    #[test]
    fn the_console_sees_the_queue_failures_counts_and_alerts() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(&dir.path().join("j.sqlite"), Arc::new(SystemClock)).unwrap();
        for n in 0..3 {
            j.outbound_claimed("s", &format!("ut.{n}.0.{CASE}"), CASE)
                .unwrap();
        }
        j.outbound_sent("s", &format!("ut.0.0.{CASE}"), 1, 10)
            .unwrap();
        j.outbound_failed(
            "s",
            &format!("ut.1.0.{CASE}"),
            "f",
            "validate",
            "- bad JSON 01017012343",
        )
        .unwrap();
        j.outbound_claimed("other", "ut.9.0.x", "x").unwrap();
        let src = source();
        let views = read_journal(&j, std::slice::from_ref(&src)).unwrap();
        let now = OffsetDateTime::now_utc();
        let st = status(&src, views.get("s"), now);
        assert_eq!(st.counts[&OutboundState::Sent], 1);
        assert_eq!(st.counts[&OutboundState::Failed], 1);
        assert_eq!(st.counts[&OutboundState::Queued], 1);
        assert_eq!(st.counts[&OutboundState::Discarded], 0);
        assert_eq!(st.queue.len(), 1);
        assert_eq!(st.failures.len(), 1);
        assert_eq!(
            st.failures[0].failed_folder.as_ref().map(|f| f.raw()),
            Some("f")
        );
        assert!(
            st.failures[0]
                .history
                .iter()
                .any(|h| h.action == "validate")
        );
        assert!(st.last_sent_at.is_some());
        assert_eq!(st.fiks.url, "https://api.fiks.test.ks.no");
        // The fødselsnummer in feil.txt never reaches a console.
        let wire = serde_json::to_string(&st).unwrap();
        assert!(!wire.contains("01017012343"), "{wire}");
        // Alerts: one failure; a queue waiting longer than 15 minutes; a worker that cannot start.
        let later = ms(now) + STUCK_AFTER_MS + 60_000;
        src.health
            .pipeline
            .set_setup_failure(Some(crate::pipeline::SetupFailure {
                error: "cannot read integrasjon_passord".into(),
                attempts: 1,
            }));
        let st = status(&src, views.get("s"), now);
        let keys: Vec<String> = alerts(&[st], later).into_iter().map(|a| a.key).collect();
        assert_eq!(
            keys,
            ["outbound-setup/s", "outbound-failed/s", "outbound-stuck/s"]
        );
    }

    #[test]
    fn a_done_update_that_cannot_be_moved_is_an_alert_until_it_moves() {
        let src = source();
        let now = OffsetDateTime::now_utc();
        let since = ms(now) - 5_000;
        src.health.unmoved.lock().unwrap().insert(
            "ut.1.0.x".into(),
            Unmoved {
                to: "ut-sendt",
                error: "ut-sendt/ is not a folder".into(),
                since_ms: since,
            },
        );
        let st = status(&src, None, now);
        assert_eq!(st.unmoved.len(), 1);
        assert_eq!(st.unmoved[0].to, "ut-sendt");
        let alert = |at: i64| {
            alerts(std::slice::from_ref(&st), at)
                .into_iter()
                .find(|a| a.key == "outbound-unmoved/s")
                .unwrap()
        };
        let a = alert(ms(now));
        assert_eq!(a.severity, Severity::Warning);
        assert!(
            a.title
                .raw()
                .contains("1 finished saksoppdatering not handed back")
        );
        assert!(
            a.detail
                .raw()
                .contains("moving ut.1.0.x to ut-sendt/ fails: ut-sendt/ is not a folder"),
            "{}",
            a.detail.raw()
        );
        assert_eq!(a.since, Some(since));
        // Critical once it has waited as long as a stuck queue.
        assert_eq!(
            alert(since + STUCK_AFTER_MS + 1).severity,
            Severity::Critical
        );
        // Moved: gone.
        src.health.unmoved.lock().unwrap().clear();
        let st = status(&src, None, now);
        assert!(
            alerts(&[st], ms(now))
                .iter()
                .all(|a| !a.key.starts_with("outbound-unmoved"))
        );
    }
}
