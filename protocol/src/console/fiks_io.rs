//! The Fiks IO link of a mottakersystem, as its pipeline last saw it: the
//! AMQP connection and consumer, the queue at Fiks, the messages here and
//! the receipts owed. Shown beside SvarInn in a mottakersystem's
//! integrations ([`super::IntegrationStatus::fiks_io`]).

use serde::{Deserialize, Serialize};

use super::Text;

/// A down link is a warning this long, then critical: Fiks falls back to
/// SvarInn for what it cannot deliver, so nothing is lost, but the channel
/// NAV prefers is gone.
pub const FIKS_IO_DOWN_CRITICAL_MS: i64 = 30 * 60 * 1000;
/// A receipt failing this long is critical: Fiks falls back to SvarInn once
/// it has waited for a receipt long enough, and the søknad arrives twice
/// (Mottak delivers it once; the fallback costs the applicant time).
pub const FIKS_IO_RECEIPT_CRITICAL_MS: i64 = 15 * 60 * 1000;

/// The link to Fiks IO, for a mottakersystem with `[mottakersystem.fiks_io]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiksIoLink {
    /// `amqps://io.fiks.ks.no:5671`, from the config (no credentials in it).
    pub amqp_url: String,
    /// `https://api.fiks.ks.no`, from the config: receipts and the dokumentlager.
    pub api_url: String,
    /// The konto the agent consumes, from the config.
    pub konto_id: String,
    /// Connected and consuming since (Unix ms); `None` while down.
    pub connected_since: Option<i64>,
    /// Down since (Unix ms): the connection was lost or never made.
    pub down_since: Option<i64>,
    /// The consumer tag the broker gave, while consuming (the agent's words
    /// or the broker's; no sender's).
    pub consumer: Option<String>,
    /// The last message received (Unix ms).
    pub last_message_at: Option<i64>,
    /// Messages waiting at Fiks (the kontokatalog's
    /// `antallUavhentedeMeldinger`), when it was last read.
    pub waiting_at_fiks: Option<u64>,
    pub waiting_read_at: Option<i64>,
    /// Messages received here and not acknowledged yet (at most the prefetch).
    pub unacked: u32,
    /// Messages delivered to `inn/` since the agent started.
    pub delivered: u64,
    /// Messages kept as failed (could not be decrypted, or their manifest
    /// did not match): a person must retry or mark them.
    pub failed: u32,
    /// Receipts owed to Fiks and not sent yet; of them, those whose last
    /// attempt failed, the oldest owed (Unix ms), and the last error.
    pub receipts_owed: u32,
    pub receipts_failing: u32,
    pub oldest_receipt_owed_at: Option<i64>,
    pub last_receipt_error: Option<Text>,
    /// Why the link is down, or the last error it had (a broker's or
    /// Maskinporten's answer: may quote them).
    pub last_error: Option<Text>,
    pub last_error_at: Option<i64>,
}

impl FiksIoLink {
    /// Connected and consuming.
    pub fn is_up(&self) -> bool {
        self.connected_since.is_some()
    }
}
