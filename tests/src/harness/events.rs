//! Queries over the fake's event log (lists, downloads, kvitteringer, refusals),
//! for assertions and failure messages.

use std::collections::BTreeMap;

use anyhow::Result;
use mottak_fixtures::svarinn::{Event, EventKind, RequestKind};

/// Successful lists served to `username`.
pub fn count_lists(events: &[Event], username: &str) -> usize {
    events
        .iter()
        .filter(|e| {
            matches!(e.kind, EventKind::List { .. })
                && e.mottakersystem.as_deref() == Some(username)
        })
        .count()
}

/// Download starts (headers sent) for `id`.
pub fn download_starts(events: &[Event], id: &str) -> usize {
    events
        .iter()
        .filter(|e| {
            matches!(e.kind, EventKind::DownloadStart { .. })
                && e.forsendelse.as_deref() == Some(id)
        })
        .count()
}

/// Completed downloads of `id`.
pub fn complete_downloads(events: &[Event], id: &str) -> usize {
    events
        .iter()
        .filter(|e| e.is_complete_download_of(id))
        .count()
}

/// Accepted kvitteringer of `id`.
pub fn kvitteringer_of(events: &[Event], id: &str) -> Vec<Event> {
    events
        .iter()
        .filter(|e| e.is_kvittering_of(id))
        .cloned()
        .collect()
}

/// Kvitteringer of `id` that repeat an earlier one without SvarInn having
/// listed `id` again in between (a list served after the earlier kvittering
/// was accepted). Such a repeat answers no lost acknowledgement: it comes from
/// acting on a stale list. Use only where no kvittering request failed (a
/// retry after a timed-out kvittering is a legitimate repeat).
pub fn unjustified_kvitteringer(events: &[Event], id: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut acked_at: Option<u64> = None;
    let mut listed_since = false;
    for e in events {
        match &e.kind {
            EventKind::List { ids } if ids.iter().any(|i| i == id) => listed_since = true,
            EventKind::Kvittering { .. } if e.forsendelse.as_deref() == Some(id) => {
                if let Some(prev) = acked_at
                    && !listed_since
                {
                    out.push(format!(
                        "kvittering #{} of {id} repeats #{prev} although no list served after #{prev} held it",
                        e.seq
                    ));
                }
                acked_at = Some(e.seq);
                listed_since = false;
            }
            _ => {}
        }
    }
    out
}

/// Accepted mottakFeilet calls for `id`: (feilmelding, permanent).
pub fn mottak_feilet_of(events: &[Event], id: &str) -> Vec<(String, bool)> {
    events
        .iter()
        .filter(|e| e.forsendelse.as_deref() == Some(id))
        .filter_map(|e| match &e.kind {
            EventKind::MottakFeilet {
                feilmelding,
                permanent,
            } => Some((feilmelding.clone(), *permanent)),
            _ => None,
        })
        .collect()
}

/// Requests of `kind` refused (any status) for `username`.
pub fn rejected(events: &[Event], username: &str, kind: RequestKind) -> usize {
    events
        .iter()
        .filter(|e| {
            e.mottakersystem.as_deref() == Some(username)
                && matches!(&e.kind, EventKind::Rejected { request, .. } if *request == kind)
        })
        .count()
}

/// Counts of event kinds, for failure messages.
pub fn summarize_events(events: &[Event]) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for e in events {
        let k = match &e.kind {
            EventKind::List { .. } => "list".to_owned(),
            EventKind::DownloadStart { .. } => "download-start".to_owned(),
            EventKind::DownloadEnd { complete, .. } => format!("download-end(complete={complete})"),
            EventKind::Kvittering { first } => format!("kvittering(first={first})"),
            EventKind::MottakFeilet { permanent, .. } => {
                format!("mottakFeilet(permanent={permanent})")
            }
            EventKind::Rejected { request, .. } => format!("rejected({request}, {})", e.status),
        };
        *counts.entry(k).or_default() += 1;
    }
    format!("{counts:?}")
}

/// A port on 127.0.0.1 that nothing listens on (bound, then closed).
pub fn closed_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}
