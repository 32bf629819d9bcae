//! What an alert is about, with its data ([`AlertKind`]), so each reader's
//! language is written from the data: the agent's English
//! (`agent/src/console_api/alert_text.rs`) and the console's bokmål
//! (`console/src/alerts.rs`). The agent's English title and detail travel
//! beside it ([`crate::console::Alert`]) for a console that does not know a
//! kind yet.

use serde::{Deserialize, Serialize};

use crate::console::{ExpiryLevel, ExternalId, ForsendelseState, IgnoredEntry, Text};

/// What an [`crate::console::Alert`] is about. Every kind belongs to the
/// alert's mottakersystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AlertKind {
    /// The oldest unacknowledged forsendelse nears or passed SvarInn's two hours.
    Unacknowledged {
        id: ExternalId,
        state: ForsendelseState,
        /// Unix ms it has waited since.
        since: i64,
    },
    /// Forsendelser in `failed` or `rejected`.
    NeedsPerson { failed: u64, rejected: u64 },
    /// Folders sitting in `inn/` longer than `threshold_ms`.
    StaleInn { count: u64, threshold_ms: i64 },
    /// Paused from a console, by this identity.
    Paused { by: String },
    /// SvarInn polls failing in a row.
    Svarinn {
        consecutive_failures: u32,
        last_error: Option<Text>,
        url: String,
        /// The addresses its host resolved to.
        resolved: Vec<String>,
    },
    /// A certificate expiring, expired or unreadable (never `Ok`).
    Certificate {
        path: String,
        level: ExpiryLevel,
        days_left: Option<i64>,
    },
    /// The drop folder cannot be used.
    DropFolder { path: String, error: Option<Text> },
    /// Little free space on the drop folder's filesystem.
    DiskLow { path: String, free_bytes: u64 },
    /// Less free space than `min_free_space`: downloads wait.
    DiskFloor {
        path: String,
        free_bytes: u64,
        min_free_bytes: u64,
    },
    /// Fewer than two people can act on failed imports; these can.
    Coverage { can_act: Vec<String> },
    /// The outbound pipeline cannot start.
    OutboundSetup { error: Text },
    /// Saksoppdateringer in `ut-feilet/`.
    OutboundFailed { count: u64 },
    /// Finished updates whose folder could not be moved back; the first of them.
    OutboundUnmoved {
        count: u64,
        update_id: ExternalId,
        to: String,
        error: Text,
    },
    /// Entries in `ut/` that are not folders: how many, and the first few.
    OutboundIgnored {
        count: u64,
        first: Vec<IgnoredEntry>,
    },
    /// Updates waiting more than 15 minutes for Fiks; the last error seen.
    OutboundStuck { last_error: Option<Text> },
    /// The Fiks IO link is down (no connection, or no consumer on the konto).
    FiksIoDown {
        amqp_url: String,
        last_error: Option<Text>,
    },
    /// Receipts owed to Fiks IO that keep failing.
    FiksIoReceipts {
        failing: u32,
        last_error: Option<Text>,
    },
    /// Fiks IO messages kept as failed (cannot be decrypted, manifest wrong).
    FiksIoFailed { count: u32 },
}

impl AlertKind {
    /// The alert's key for `mottakersystem`: stable while the condition
    /// lasts, so a console can tell a new alert from one it has shown.
    pub fn key(&self, mottakersystem: &str) -> String {
        let word = match self {
            AlertKind::Unacknowledged { .. } => "unacknowledged",
            AlertKind::NeedsPerson { .. } => "needs-person",
            AlertKind::StaleInn { .. } => "stale-inn",
            AlertKind::Paused { .. } => "paused",
            AlertKind::Svarinn { .. } => "svarinn",
            AlertKind::Certificate { path, .. } => {
                return format!("certificate/{mottakersystem}/{path}");
            }
            AlertKind::DropFolder { .. } => "drop-folder",
            AlertKind::DiskLow { .. } => "disk",
            AlertKind::DiskFloor { .. } => "disk-floor",
            AlertKind::Coverage { .. } => "coverage",
            AlertKind::OutboundSetup { .. } => "outbound-setup",
            AlertKind::OutboundFailed { .. } => "outbound-failed",
            AlertKind::OutboundUnmoved { .. } => "outbound-unmoved",
            AlertKind::OutboundIgnored { .. } => "outbound-ignored",
            AlertKind::OutboundStuck { .. } => "outbound-stuck",
            AlertKind::FiksIoDown { .. } => "fiks-io-down",
            AlertKind::FiksIoReceipts { .. } => "fiks-io-receipts",
            AlertKind::FiksIoFailed { .. } => "fiks-io-failed",
        };
        format!("{word}/{mottakersystem}")
    }
}

/// Reads [`crate::console::Alert::about`]: a kind a newer agent added, or
/// data this console cannot read, is `None` (the console then shows the
/// agent's English) instead of failing the whole state.
pub(crate) fn known_or_none<'de, D>(deserializer: D) -> Result<Option<AlertKind>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(value.and_then(|v| serde_json::from_value(v).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_travel_tagged_and_mask_what_came_from_outside() {
        let kind = AlertKind::OutboundUnmoved {
            count: 2,
            update_id: ExternalId::from("ut/01019012480"),
            to: "ut-sendt".into(),
            error: Text::from("fnr 01017012343 in the path"),
        };
        let json = serde_json::to_string(&kind).unwrap();
        assert!(
            json.starts_with(r#"{"kind":"outbound_unmoved","count":2"#),
            "{json}"
        );
        assert!(
            !json.contains("01019012480") && !json.contains("01017012343"),
            "{json}"
        );
        let back: AlertKind = serde_json::from_str(&json).unwrap();
        assert_eq!(back.key("nav-frogn"), "outbound-unmoved/nav-frogn");
    }

    #[test]
    fn an_unknown_kind_reads_as_none_and_the_alert_still_arrives() {
        let json = r#"{"key":"new/m","severity":"warning","mottakersystem":"m",
            "about":{"kind":"from_a_newer_agent","x":1},"title":"t","detail":"d","since":null}"#;
        let a: crate::console::Alert = serde_json::from_str(json).unwrap();
        assert_eq!((a.about, a.title.raw()), (None, "t"));
        let old = r#"{"key":"k","severity":"info","mottakersystem":null,"title":"t","detail":"d","since":null}"#;
        let a: crate::console::Alert = serde_json::from_str(old).unwrap();
        assert_eq!(a.about, None);
    }

    #[test]
    fn keys_name_the_system_and_a_certificate_its_path() {
        let cert = AlertKind::Certificate {
            path: "/etc/mottak/a.pem".into(),
            level: ExpiryLevel::Expired,
            days_left: Some(-1),
        };
        assert_eq!(cert.key("m"), "certificate/m//etc/mottak/a.pem");
        assert_eq!(
            AlertKind::NeedsPerson {
                failed: 1,
                rejected: 0
            }
            .key("m"),
            "needs-person/m"
        );
    }
}
