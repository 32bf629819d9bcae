//! The outbound parts of [`super::ConsoleState`]: saksoppdateringer from the
//! fagsystem's `ut/` to Fiks Digisos, and the links they travel over.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{CertificateStatus, ExternalId, HistoryEntry, Text};

/// How many queued and failed saksoppdateringer [`OutboundStatus`] lists per
/// mottakersystem (the oldest); the counts hold them all.
pub const OUTBOUND_WINDOW: usize = 50;

/// A saksoppdatering's state in the agent's journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboundState {
    /// Claimed from `ut/`, waiting for (or in) its upload and post.
    Queued,
    /// A temporary failure (network, 5xx, Maskinporten); tried again at `next_attempt_at`.
    RetryWait,
    /// Fiks accepted it.
    Sent,
    /// A newer update for the same case came before it was sent.
    Superseded,
    /// Bad input or refused by Fiks: in `ut-feilet/`, needs a person.
    Failed,
    /// A person dismissed the failure.
    Discarded,
}

impl OutboundState {
    pub const ALL: [OutboundState; 6] = [
        OutboundState::Queued,
        OutboundState::RetryWait,
        OutboundState::Sent,
        OutboundState::Superseded,
        OutboundState::Failed,
        OutboundState::Discarded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OutboundState::Queued => "queued",
            OutboundState::RetryWait => "retry_wait",
            OutboundState::Sent => "sent",
            OutboundState::Superseded => "superseded",
            OutboundState::Failed => "failed",
            OutboundState::Discarded => "discarded",
        }
    }

    pub fn parse(s: &str) -> Option<OutboundState> {
        OutboundState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Still to be sent (its claimed folder in `.mottak/` is still needed).
    pub fn is_pending(self) -> bool {
        matches!(self, OutboundState::Queued | OutboundState::RetryWait)
    }
}

impl fmt::Display for OutboundState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One mottakersystem's outbound side.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundStatus {
    pub mottakersystem: String,
    /// Every state, zero included.
    #[serde(default)]
    pub counts: BTreeMap<OutboundState, u64>,
    /// `queued` and `retry_wait`, oldest claim first, at most [`OUTBOUND_WINDOW`].
    #[serde(default)]
    pub queue: Vec<OutboundItem>,
    /// `failed` (in `ut-feilet/`), oldest first, at most [`OUTBOUND_WINDOW`].
    /// An operator may retry one (command `retry` with the item's
    /// `update_id` as [`Target::Update`](super::Target::Update)) or discard it (`mark_permanent`, same).
    #[serde(default)]
    pub failures: Vec<OutboundItem>,
    /// When the newest update was sent.
    #[serde(default)]
    pub last_sent_at: Option<i64>,
    #[serde(default)]
    pub fiks: FiksLink,
    #[serde(default)]
    pub maskinporten: MaskinportenLink,
    /// Why the outbound worker cannot start (key, password, folders), while it cannot.
    #[serde(default)]
    pub setup_error: Option<Text>,
    /// Updates done (sent, superseded or failed) whose folder cannot be
    /// moved to `ut-sendt/` or `ut-feilet/`: the fagsystem does not see
    /// their outcome until it moves. Oldest first.
    #[serde(default)]
    pub unmoved: Vec<UnmovedUpdate>,
    /// Entries in `ut/` the agent leaves alone because they are not folders
    /// (a symbolic link, a FIFO, ...): never followed, never claimed, listed
    /// while they are there. By name.
    #[serde(default)]
    pub ignored: Vec<IgnoredEntry>,
}

/// An entry in `ut/` that is not a folder (see [`OutboundStatus::ignored`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IgnoredEntry {
    /// The entry's name in `ut/` (escaped when it is not printable).
    pub name: Text,
    /// What it is and what to do, in a sentence.
    pub reason: Text,
    /// When the agent first saw it.
    pub since: i64,
}

/// A done update stuck in `.mottak/` (see [`OutboundStatus::unmoved`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnmovedUpdate {
    /// See [`OutboundItem::update_id`].
    pub update_id: ExternalId,
    /// `ut-sendt` or `ut-feilet`: the agent's own word.
    pub to: String,
    pub error: Text,
    /// When the move first failed.
    pub since: i64,
}

/// One saksoppdatering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundItem {
    /// The agent's id for it (its claimed folder's name, `ut.<ms>.<n>.<digisos-id>`):
    /// it holds the folder name the fagsystem chose.
    pub update_id: ExternalId,
    /// The case (the folder name the fagsystem wrote in `ut/`).
    pub digisos_id: ExternalId,
    pub state: OutboundState,
    pub claimed_at: i64,
    pub updated_at: i64,
    /// Failed attempts since it was claimed or retried.
    pub attempts: u32,
    #[serde(default)]
    pub next_attempt_at: Option<i64>,
    /// For `failed`: the whole `feil.txt`; otherwise the last error.
    #[serde(default)]
    pub last_error: Option<Text>,
    /// For `failed`: its folder's name in `ut-feilet/` (made from the one
    /// the fagsystem chose).
    #[serde(default)]
    pub failed_folder: Option<ExternalId>,
    /// The newest [`HISTORY_WINDOW`](super::HISTORY_WINDOW) lines, oldest first.
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
}

/// The link to Fiks Digisos, as the outbound worker last saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiksLink {
    /// `https://api.fiks.ks.no`, from the config (as is the org id).
    pub url: String,
    pub fiks_org_id: String,
    pub last_ok_at: Option<i64>,
    pub last_error: Option<Text>,
    pub last_error_at: Option<i64>,
    /// Fiks's encryption certificate, once fetched (issuer and serial, as
    /// Fiks's certificate states them).
    pub public_key: Option<Text>,
    pub public_key_not_after: Option<i64>,
}

/// Maskinporten, as the outbound worker last saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaskinportenLink {
    /// The token endpoint, from the config (as is the client id).
    pub url: String,
    pub client_id: String,
    pub last_token_at: Option<i64>,
    pub token_expires_at: Option<i64>,
    pub tokens_fetched: u64,
    pub last_error: Option<Text>,
    pub last_error_at: Option<i64>,
    /// The virksomhetssertifikat's chain (leaf first), with expiry.
    #[serde(default)]
    pub certificates: Vec<CertificateStatus>,
}
