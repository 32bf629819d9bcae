//! The agent's English for each [`AlertKind`], written from the kind's data
//! (the console writes bokmål from the same data: `console/src/alerts.rs`).
//! [`alert`] is how both sides build an alert, so a kind, its key and its
//! words cannot drift apart.

use mottak_protocol::alert::AlertKind;
use mottak_protocol::console::{Alert, ExpiryLevel, ForsendelseState, Severity, Text};

const MIB: u64 = 1 << 20;

/// The alert about `kind` for `mottakersystem`, with its English at `now_ms`.
pub fn alert(
    mottakersystem: &str,
    severity: Severity,
    since: Option<i64>,
    kind: AlertKind,
    now_ms: i64,
) -> Alert {
    let (title, detail) = english(&kind, mottakersystem, now_ms);
    Alert {
        key: kind.key(mottakersystem),
        severity,
        mottakersystem: Some(mottakersystem.to_owned()),
        about: Some(kind),
        title: Text::from(title),
        detail: Text::from(detail),
        since,
    }
}

/// `kind`'s title (one line: what is wrong) and detail (what to do).
pub fn english(kind: &AlertKind, m: &str, now_ms: i64) -> (String, String) {
    let plural = |n: u64, one: &'static str, many: &'static str| if n == 1 { one } else { many };
    match kind {
        AlertKind::Unacknowledged { id, state, since } => {
            let what = match state {
                ForsendelseState::Failed => {
                    "it failed: retry it, or mark it permanent so the sender uses another channel"
                }
                ForsendelseState::Rejected => {
                    "the fagsystem rejected it (feilet/): move it back to inn/ or mark it permanent"
                }
                ForsendelseState::Delivered => {
                    "it waits in inn/: check that the fagsystem is importing"
                }
                _ => "the agent has not fetched it yet: check the SvarInn integration",
            };
            (
                format!(
                    "forsendelse {id} has waited {} for its acknowledgement (SvarInn warns the sender after 2 h)",
                    human(now_ms - since)
                ),
                what.to_owned(),
            )
        }
        AlertKind::NeedsPerson { failed, rejected } => (
            format!(
                "{} forsendelser need a person ({failed} failed, {rejected} rejected by the fagsystem)",
                failed + rejected
            ),
            "open failed imports: retry, move back to inn/, or mark permanent with a reason".into(),
        ),
        AlertKind::StaleInn {
            count,
            threshold_ms,
        } => (
            format!(
                "{count} folders have sat in inn/ for more than {}",
                human(*threshold_ms)
            ),
            "the fagsystem is not picking up: check that its import runs".into(),
        ),
        AlertKind::Paused { by } => (
            format!("paused by {by}"),
            "nothing is fetched or acknowledged until someone resumes it".into(),
        ),
        AlertKind::Svarinn {
            consecutive_failures,
            last_error,
            url,
            resolved,
        } => (
            format!("SvarInn polls failed {consecutive_failures} times in a row"),
            format!(
                "last error: {}; check the network and firewall towards {url} ({})",
                last_error.as_ref().map_or("unknown", |e| e.raw()),
                if resolved.is_empty() {
                    "not resolved".to_owned()
                } else {
                    resolved.join(", ")
                }
            ),
        ),
        AlertKind::Certificate {
            path,
            level,
            days_left,
        } => (
            match level {
                ExpiryLevel::ExpiresSoon => format!(
                    "certificate {path} expires in {} days",
                    days_left.unwrap_or(0)
                ),
                ExpiryLevel::Expired => format!("certificate {path} has expired"),
                ExpiryLevel::Unreadable | ExpiryLevel::Ok => {
                    format!("certificate {path} cannot be read")
                }
            },
            "make a new key and certificate (mottak-agent keygen), upload it to SvarInn's Service tab, and add both to the config".into(),
        ),
        AlertKind::DropFolder { path, error } => (
            format!("the drop folder {path} cannot be used"),
            error
                .as_ref()
                .map_or_else(|| "check its permissions".to_owned(), |e| e.raw().to_owned()),
        ),
        AlertKind::DiskFloor {
            path,
            free_bytes,
            min_free_bytes,
        } => (
            format!(
                "downloads wait: only {} MiB free on the drop folder {path}, under min_free_space ({} MiB)",
                free_bytes / MIB,
                min_free_bytes / MIB
            ),
            "free space on that filesystem; the waiting forsendelser are downloaded within a minute after, nothing is lost".into(),
        ),
        AlertKind::DiskLow { path, free_bytes } => (
            format!(
                "only {} MiB free on the drop folder {path}",
                free_bytes / MIB
            ),
            "free space, or the next large forsendelse cannot be delivered".into(),
        ),
        AlertKind::Coverage { can_act } => (
            match can_act.as_slice() {
                [one] => format!(
                    "only {one} can act on failed imports: grant the operator role to one more person, so someone can act when they are away"
                ),
                _ => format!(
                    "nobody can act on failed imports: grant the operator role to two people (mottak-agent access grant --user NAME --role operator --system {m})"
                ),
            },
            "an admin can grant the operator role from the console or with mottak-agent access grant".into(),
        ),
        AlertKind::OutboundSetup { error } => (
            format!("{m}: saksoppdateringer cannot be sent to Fiks"),
            format!(
                "the outbound worker cannot start: {}; fix it and the agent retries by itself (mottak-agent check-config helps)",
                error.raw()
            ),
        ),
        AlertKind::OutboundFailed { count } => (
            format!(
                "{m}: {count} saksoppdatering{} not sent (ut-feilet/)",
                plural(*count, "", "er")
            ),
            "each has a feil.txt naming its problems; have the fagsystem write the case again, or retry or discard it here".into(),
        ),
        AlertKind::OutboundUnmoved {
            count,
            update_id,
            to,
            error,
        } => (
            format!(
                "{m}: {count} finished saksoppdatering{} not handed back to the fagsystem",
                plural(*count, "", "er")
            ),
            format!(
                "moving {update_id} to {to}/ fails: {}; the fagsystem sees the outcome (kvittering.json or feil.txt) only once it moves. Check that folder: it must exist and be writable by the agent, with free space. The agent tries again every second",
                error.raw()
            ),
        ),
        AlertKind::OutboundIgnored { count, first } => {
            let mut named: Vec<String> = first.iter().map(|i| i.reason.raw().to_owned()).collect();
            let more = count.saturating_sub(first.len() as u64);
            if more > 0 {
                named.push(format!("and {more} more"));
            }
            (
                format!(
                    "{m}: {count} entr{} in ut/ not a folder, left alone",
                    plural(*count, "y", "ies")
                ),
                format!(
                    "{}. Someone with the fagsystem's account put them there; the agent never follows a link out of the drop folder. Ask the fagsystem's owner what they are",
                    named.join("; ")
                ),
            )
        }
        AlertKind::OutboundStuck { last_error } => (
            format!("{m}: saksoppdateringer waiting more than 15 minutes for Fiks"),
            format!(
                "the applicants do not see their case's status on nav.no; last error: {}",
                last_error
                    .as_ref()
                    .map_or("see the queue's last errors", |e| e.raw())
            ),
        ),
        AlertKind::FiksIoDown {
            amqp_url,
            last_error,
        } => (
            format!("{m}: no connection to Fiks IO"),
            format!(
                "søknader wait at Fiks, which sends them by SvarInn instead once they wait too long (nothing is lost); last error: {}; check the network towards {amqp_url}, the IntegrasjonPassord and Maskinporten (mottak-agent doctor)",
                last_error.as_ref().map_or("none yet", |e| e.raw())
            ),
        ),
        AlertKind::FiksIoReceipts {
            failing,
            last_error,
        } => (
            format!(
                "{m}: {failing} Fiks IO receipt{} cannot be sent",
                plural(u64::from(*failing), "", "s")
            ),
            format!(
                "the søknader are in inn/, but without a receipt Fiks sends them again by SvarInn (Mottak does not deliver them twice); last error: {}; the agent keeps trying",
                last_error.as_ref().map_or("unknown", |e| e.raw())
            ),
        ),
        AlertKind::FiksIoFailed { count } => (
            format!(
                "{m}: {count} Fiks IO message{} could not be delivered",
                plural(u64::from(*count), "", "s")
            ),
            "they could not be decrypted or their manifest did not match; they are kept (encrypted, under the state directory) and no receipt was sent, so Fiks sends them by SvarInn, where Mottak delivers them. Check that private_keys in [mottakersystem.fiks_io] matches the key uploaded to the Fiks IO konto".into(),
        ),
    }
}

/// "3 h 12 min", "45 min", "20 s".
fn human(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        s if s >= 3600 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        s if s >= 60 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mottak_protocol::console::ExternalId;

    #[test]
    fn human_durations() {
        assert_eq!(human(20_000), "20 s");
        assert_eq!(human(45 * 60_000), "45 min");
        assert_eq!(human(3 * 3_600_000 + 12 * 60_000), "3 h 12 min");
    }

    #[test]
    fn an_alert_carries_its_kind_its_key_and_the_english_written_from_it() {
        let a = alert(
            "nav-frogn",
            Severity::Critical,
            Some(0),
            AlertKind::Unacknowledged {
                id: ExternalId::from("aaaa"),
                state: ForsendelseState::Delivered,
                since: 0,
            },
            2 * 3_600_000 + 5 * 60_000,
        );
        assert_eq!(a.key, "unacknowledged/nav-frogn");
        assert_eq!(
            a.title.raw(),
            "forsendelse aaaa has waited 2 h 5 min for its acknowledgement (SvarInn warns the sender after 2 h)"
        );
        assert_eq!(
            a.detail.raw(),
            "it waits in inn/: check that the fagsystem is importing"
        );
        assert!(matches!(a.about, Some(AlertKind::Unacknowledged { .. })));
        // Coverage reads as the access list's own warning did, without "of <system>".
        let (t, _) = english(
            &AlertKind::Coverage {
                can_act: vec!["kari".into()],
            },
            "m",
            0,
        );
        assert!(
            t.starts_with("only kari can act on failed imports: grant"),
            "{t}"
        );
        let (t, _) = english(&AlertKind::Coverage { can_act: vec![] }, "m", 0);
        assert!(t.ends_with("--role operator --system m)"), "{t}");
    }
}
