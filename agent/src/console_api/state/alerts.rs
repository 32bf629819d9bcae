//! The alerts of a whole state: each side's (`inbound::console`,
//! `outbound::console`), the Fiks IO link's and the access list's (too few
//! who can act).

use mottak_protocol::alert::AlertKind;
use mottak_protocol::console::{
    Alert, ConsoleState, FIKS_IO_DOWN_CRITICAL_MS, FIKS_IO_RECEIPT_CRITICAL_MS, FiksIoLink,
    Severity,
};

use crate::console_api::alert_text;

/// The alerts the state calls for at `now_ms`, per mottakersystem.
pub fn alerts(state: &ConsoleState, now_ms: i64) -> Vec<Alert> {
    let mut out = crate::inbound::console::alerts(&state.queues, &state.integrations, now_ms);
    for c in &state.access.coverage {
        if c.warning.is_some() {
            out.push(alert_text::alert(
                &c.mottakersystem,
                Severity::Warning,
                None,
                AlertKind::Coverage {
                    can_act: c.can_act.clone(),
                },
                now_ms,
            ));
        }
    }
    out.extend(crate::outbound::console::alerts(&state.outbound, now_ms));
    for i in &state.integrations {
        if let Some(link) = &i.fiks_io {
            out.extend(fiks_io_alerts(&i.mottakersystem, link, now_ms));
        }
    }
    out
}

/// A link down or receipts failing: a warning at once, critical once it
/// lasts (see the thresholds); messages kept as failed: a warning.
fn fiks_io_alerts(m: &str, link: &FiksIoLink, now_ms: i64) -> Vec<Alert> {
    let mut out = Vec::new();
    let lasting = |since: Option<i64>, limit: i64| {
        if since.is_some_and(|s| now_ms - s >= limit) {
            Severity::Critical
        } else {
            Severity::Warning
        }
    };
    if !link.is_up() {
        out.push(alert_text::alert(
            m,
            lasting(link.down_since, FIKS_IO_DOWN_CRITICAL_MS),
            link.down_since,
            AlertKind::FiksIoDown {
                amqp_url: link.amqp_url.clone(),
                last_error: link.last_error.clone(),
            },
            now_ms,
        ));
    }
    if link.receipts_failing > 0 {
        out.push(alert_text::alert(
            m,
            lasting(link.oldest_receipt_owed_at, FIKS_IO_RECEIPT_CRITICAL_MS),
            link.oldest_receipt_owed_at,
            AlertKind::FiksIoReceipts {
                failing: link.receipts_failing,
                last_error: link.last_receipt_error.clone(),
            },
            now_ms,
        ));
    }
    if link.failed > 0 {
        out.push(alert_text::alert(
            m,
            Severity::Warning,
            None,
            AlertKind::FiksIoFailed { count: link.failed },
            now_ms,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use mottak_protocol::console::{IntegrationStatus, Text};

    use super::*;

    fn state_with(link: FiksIoLink) -> ConsoleState {
        ConsoleState {
            integrations: vec![IntegrationStatus {
                mottakersystem: "nav-frogn".into(),
                fiks_io: Some(link),
                ..IntegrationStatus::default()
            }],
            ..ConsoleState::default()
        }
    }

    /// The Fiks IO alerts alone (a default integration's drop folder is
    /// not writable: an alert of its own).
    fn fiks_io_alerts_of(state: &ConsoleState, now_ms: i64) -> Vec<Alert> {
        alerts(state, now_ms)
            .into_iter()
            .filter(|a| a.key.starts_with("fiks-io"))
            .collect()
    }

    fn fiks_io_keys(state: &ConsoleState, now_ms: i64) -> Vec<(String, Severity)> {
        fiks_io_alerts_of(state, now_ms)
            .into_iter()
            .map(|a| (a.key, a.severity))
            .collect()
    }

    #[test]
    fn a_healthy_link_is_no_alert_and_no_link_is_none() {
        let up = FiksIoLink {
            connected_since: Some(1_000),
            ..FiksIoLink::default()
        };
        assert!(fiks_io_keys(&state_with(up), 10_000).is_empty());
        let without = ConsoleState {
            integrations: vec![IntegrationStatus::default()],
            ..ConsoleState::default()
        };
        assert!(fiks_io_keys(&without, 10_000).is_empty());
    }

    #[test]
    fn a_link_down_warns_then_is_critical_once_it_lasts() {
        let down = FiksIoLink {
            amqp_url: "amqps://io.fiks.test.ks.no:5671".into(),
            down_since: Some(0),
            last_error: Some(Text::from("ACCESS_REFUSED - Login was refused")),
            ..FiksIoLink::default()
        };
        let state = state_with(down);
        assert_eq!(
            fiks_io_keys(&state, 60_000),
            [("fiks-io-down/nav-frogn".to_owned(), Severity::Warning)]
        );
        assert_eq!(
            fiks_io_keys(&state, FIKS_IO_DOWN_CRITICAL_MS),
            [("fiks-io-down/nav-frogn".to_owned(), Severity::Critical)]
        );
        let a = &fiks_io_alerts_of(&state, 60_000)[0];
        assert_eq!(a.title.raw(), "nav-frogn: no connection to Fiks IO");
        assert!(
            a.detail
                .raw()
                .contains("ACCESS_REFUSED - Login was refused")
                && a.detail.raw().contains("amqps://io.fiks.test.ks.no:5671"),
            "{}",
            a.detail.raw()
        );
    }

    #[test]
    fn failing_receipts_and_failed_messages_are_alerts_of_their_own() {
        let link = FiksIoLink {
            connected_since: Some(0),
            receipts_owed: 3,
            receipts_failing: 2,
            oldest_receipt_owed_at: Some(0),
            last_receipt_error: Some(Text::from("503 Service Unavailable")),
            failed: 1,
            ..FiksIoLink::default()
        };
        let state = state_with(link);
        assert_eq!(
            fiks_io_keys(&state, 60_000),
            [
                ("fiks-io-receipts/nav-frogn".to_owned(), Severity::Warning),
                ("fiks-io-failed/nav-frogn".to_owned(), Severity::Warning),
            ]
        );
        assert_eq!(
            fiks_io_keys(&state, FIKS_IO_RECEIPT_CRITICAL_MS)[0].1,
            Severity::Critical
        );
        let a = &fiks_io_alerts_of(&state, 60_000)[0];
        assert_eq!(
            a.title.raw(),
            "nav-frogn: 2 Fiks IO receipts cannot be sent"
        );
        assert!(a.detail.raw().contains("503 Service Unavailable"));
    }
}
