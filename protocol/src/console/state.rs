//! [`ConsoleState`], everything a console shows, and its inbound parts:
//! queues, failed imports, integrations, alerts, access lists, audit.
//! The outbound parts are in `outbound.rs`, the diffing in `delta.rs`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::alert::AlertKind;

use super::{ExternalId, OutboundStatus, RoleGrant, Text};

/// Where a forsendelse is in the inbound pipeline: the agent's journal stores
/// these by their `as_str` names, and consoles see the same values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForsendelseState {
    /// Seen in `hentNyeForsendelser`; to be downloaded.
    Listed,
    /// Decrypted and verified in its staging folder; to be published.
    Downloaded,
    /// Durably published in `inn/<id>/`.
    Delivered,
    /// The fagsystem took the folder out of `inn/` (not into `feilet/`).
    Imported,
    /// `kvitterMottak` succeeded. Final.
    Acked,
    /// A temporary failure; the row returns to the state it left
    /// (`resume_state`) at `next_attempt_at`.
    RetryWait,
    /// Needs a person: the content failed `max_decrypt_attempts` times.
    Failed,
    /// The fagsystem moved the folder to `feilet/`.
    Rejected,
    /// Given up for good: mottakFeilet permanent=true, SvarUt takes another
    /// channel. Final.
    Permanent,
}

impl ForsendelseState {
    pub const ALL: [ForsendelseState; 9] = [
        ForsendelseState::Listed,
        ForsendelseState::Downloaded,
        ForsendelseState::Delivered,
        ForsendelseState::Imported,
        ForsendelseState::Acked,
        ForsendelseState::RetryWait,
        ForsendelseState::Failed,
        ForsendelseState::Rejected,
        ForsendelseState::Permanent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ForsendelseState::Listed => "listed",
            ForsendelseState::Downloaded => "downloaded",
            ForsendelseState::Delivered => "delivered",
            ForsendelseState::Imported => "imported",
            ForsendelseState::Acked => "acked",
            ForsendelseState::RetryWait => "retry_wait",
            ForsendelseState::Failed => "failed",
            ForsendelseState::Rejected => "rejected",
            ForsendelseState::Permanent => "permanent",
        }
    }

    pub fn parse(s: &str) -> Option<ForsendelseState> {
        ForsendelseState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
    }

    /// No transition leaves a final state.
    pub fn is_final(self) -> bool {
        matches!(self, ForsendelseState::Acked | ForsendelseState::Permanent)
    }

    /// States a `retry_wait` may return to (the steps that can fail
    /// temporarily and be tried again).
    pub fn is_resumable(self) -> bool {
        matches!(
            self,
            ForsendelseState::Listed
                | ForsendelseState::Downloaded
                | ForsendelseState::Delivered
                | ForsendelseState::Imported
        )
    }

    /// Still owed an acknowledgement or a person's decision: everything but
    /// `acked` and `permanent`.
    pub fn is_unacknowledged(self) -> bool {
        !self.is_final()
    }

    /// The states listed under "failed imports".
    pub fn needs_attention(self) -> bool {
        matches!(
            self,
            ForsendelseState::Failed | ForsendelseState::Rejected | ForsendelseState::RetryWait
        )
    }
}

impl fmt::Display for ForsendelseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything a console shows. Each list is kept in a canonical order
/// ([`ConsoleState::normalize`]) so a diff is stable.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConsoleState {
    pub agent: AgentInfo,
    /// Per mottakersystem, by name.
    pub queues: Vec<QueueHealth>,
    pub failed: FailedImports,
    /// Per mottakersystem, by name.
    pub integrations: Vec<IntegrationStatus>,
    /// Worst first.
    pub alerts: Vec<Alert>,
    pub access: AccessList,
    /// Newest last, at most [`AUDIT_WINDOW`](super::AUDIT_WINDOW); empty unless the caller may read it.
    pub audit: Vec<AuditEntry>,
    /// Per mottakersystem with `[mottakersystem.digisos]`, by name: the
    /// saksoppdateringer to Fiks Digisos. Absent from older agents.
    #[serde(default)]
    pub outbound: Vec<OutboundStatus>,
    /// Every pipeline the agent runs (each channel of each mottakersystem),
    /// by mottakersystem and kind: whatever it carries, the same fields.
    /// Absent from older agents.
    #[serde(default)]
    pub pipelines: Vec<PipelineStatus>,
}

/// One pipeline (a channel of one mottakersystem), as every channel reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineStatus {
    pub mottakersystem: String,
    /// What it carries: `inbound` (SvarInn), `outbound` (Fiks Digisos), or
    /// a channel's own word: the agent's, never from outside.
    pub kind: String,
    /// Set up and running its loop; false while setting up (its first
    /// attempt, or retrying: then `setup_error` says why).
    pub up: bool,
    /// Why setup fails, while it does (one line, with what to do).
    pub setup_error: Option<Text>,
    /// Setup attempts in a row that failed (0 once set up).
    pub setup_attempts: u32,
    /// Paused by a person (the queue's `paused` says who and why).
    pub paused: bool,
}

/// The agent itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentInfo {
    /// The agent's own version (built in).
    pub version: String,
    /// The machine's name, from the kernel: set by the kommune's admins.
    pub hostname: String,
    pub started_at: i64,
}

/// One mottakersystem's queue.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueHealth {
    /// A name from the agent's config (so are all `mottakersystem` fields).
    pub mottakersystem: String,
    /// Every state, zero included.
    pub counts: BTreeMap<ForsendelseState, u64>,
    /// The forsendelse waiting longest for its acknowledgement (any state
    /// but acked and permanent).
    pub oldest_unacknowledged: Option<OldestUnacknowledged>,
    pub throughput: Throughput,
    /// Folders the fagsystem has not taken from `inn/` within the set time.
    pub stale_in_inn: StaleInInn,
    /// Set while paused by a person.
    pub paused: Option<PauseInfo>,
    /// Digisos innsendinger that came again by another channel and were acknowledged there
    /// without being delivered again. `#[serde(default)]`: absent from older agents.
    #[serde(default)]
    pub duplicates: Duplicates,
}

/// Innsendinger not delivered twice (see [`QueueHealth::duplicates`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Duplicates {
    /// Every one so far.
    pub total: u64,
    /// The latest few, newest first.
    pub latest: Vec<DuplicateLink>,
}

/// One delivery not delivered again, and the delivery that was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuplicateLink {
    /// The channel it came by again: `svarinn` or `fiks-io` (the agent's words).
    pub channel: String,
    /// Its forsendelse id or `melding-id`.
    pub id: ExternalId,
    /// The channel that delivered the innsending: `svarinn` or `fiks-io`.
    pub delivered_by: String,
    /// That delivery's forsendelse id or `melding-id`.
    pub delivered_as: ExternalId,
    pub digisos_id: ExternalId,
    /// When it was found to be a duplicate.
    pub at: i64,
}

/// The oldest unacknowledged forsendelse and SvarInn's two-hour line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OldestUnacknowledged {
    /// SvarInn's id for it.
    pub id: ExternalId,
    pub state: ForsendelseState,
    /// When SvarUt sent it (or, unknown, when the agent first saw it).
    pub since: i64,
    /// `since` + two hours: SvarInn warns the sender from then on.
    pub warning_at: i64,
}

/// Forsendelser delivered into `inn/` and acknowledged over the last hour.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Throughput {
    pub delivered_last_hour: u64,
    pub acked_last_hour: u64,
    /// Deliveries per [`THROUGHPUT_BUCKET_MS`](super::THROUGHPUT_BUCKET_MS), oldest first,
    /// [`THROUGHPUT_BUCKETS`](super::THROUGHPUT_BUCKETS) of them; the last one ends at `buckets_end`.
    pub delivered_buckets: Vec<u64>,
    pub buckets_end: i64,
}

/// What sits in `inn/` longer than `threshold_ms`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaleInInn {
    pub threshold_ms: i64,
    pub count: u64,
    /// The oldest ones (a few), oldest first.
    pub oldest: Vec<InnFolder>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InnFolder {
    /// The folder's name: anything the fagsystem left in `inn/`.
    pub name: ExternalId,
    /// When it appeared in `inn/`.
    pub since: i64,
}

/// Who paused a mottakersystem, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PauseInfo {
    /// Who paused it: an identity the agent authenticated (a login name or a
    /// client certificate's CN from the kommune's own CA), shown as it is
    /// granted so that access can be managed by it.
    pub by: String,
    pub at: i64,
    pub reason: Option<Text>,
}

/// The failed imports: every forsendelse in `failed`, `rejected` or `retry_wait`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedImports {
    /// How many there are; `items` holds at most the agent's cap of them
    /// (the oldest), so `total` may be larger.
    pub total: u64,
    /// By mottakersystem, then id as shown (then as received).
    pub items: Vec<FailedImport>,
}

/// One forsendelse that needs (or may need) a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedImport {
    pub mottakersystem: String,
    /// SvarInn's id for it; also its folder's name in `inn/` and `feilet/`.
    pub id: ExternalId,
    pub state: ForsendelseState,
    pub tittel: Text,
    pub avsender: Option<Text>,
    /// SvarInn's metadata, as the sender set it.
    pub forsendelse_type: Option<Text>,
    pub sendt_at: Option<i64>,
    pub size: Option<u64>,
    pub first_seen_at: i64,
    pub updated_at: i64,
    /// Failed attempts at the current step.
    pub attempts: u32,
    /// Failed decryptions or checksum checks.
    pub content_failures: u32,
    pub last_error: Option<Text>,
    /// The fagsystem's `feil.txt` (rejected), or why it was made permanent.
    pub reason: Option<Text>,
    /// For `retry_wait`: when it is tried again, and the step it returns to.
    pub next_attempt_at: Option<i64>,
    pub resume_state: Option<ForsendelseState>,
    /// mottakFeilet was sent (for `failed`).
    pub reported_to_svarinn: bool,
    /// The newest [`HISTORY_WINDOW`](super::HISTORY_WINDOW) lines, oldest first.
    pub history: Vec<HistoryEntry>,
}

/// One line of a forsendelse's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: i64,
    /// `download`, `publish`, `kvitterMottak`, `transition`, ...: the
    /// agent's own words.
    pub action: String,
    /// `ok`, `failed`, `content-failed`, or `from -> to`: the agent's own
    /// words and state names.
    pub outcome: String,
    pub error: Option<Text>,
}

/// A mottakersystem's integrations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrationStatus {
    /// From the config.
    pub mottakersystem: String,
    pub svarinn: SvarInnLink,
    pub certificates: Vec<CertificateStatus>,
    pub drop_folder: DropFolderStatus,
    /// The last `mottak-agent doctor` run, as it concerns this
    /// mottakersystem; `None` when it never ran (or from older agents).
    #[serde(default)]
    pub doctor: Option<DoctorResult>,
    /// The Fiks IO link, for a mottakersystem with `[mottakersystem.fiks_io]`;
    /// `None` otherwise (and from older agents).
    #[serde(default)]
    pub fiks_io: Option<super::FiksIoLink>,
}

/// What the last `mottak-agent doctor` found for one mottakersystem
/// (its own checks, and the config errors that are not another's).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoctorResult {
    /// When the run finished (Unix ms).
    pub at: i64,
    /// The whole run's exit code: 0 only when every check of every
    /// mottakersystem passed and the config had no error.
    pub exit_code: u8,
    pub passed: u32,
    pub failed: u32,
    pub skipped: u32,
    /// Config errors (`check-config`) of this mottakersystem or the config as a whole.
    pub config_errors: u32,
    /// The failing lines, config errors first, at most [`DOCTOR_LINES`](super::DOCTOR_LINES).
    pub failures: Vec<DoctorLine>,
}

/// One failing line of a doctor run: what was checked, what was seen, the fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoctorLine {
    /// `config`, `dns`, `tcp`, `tls`, `svarinn`, `maskinporten`, `digisos`,
    /// `drop-folder`: the agent's own words.
    pub kind: String,
    /// A host and address, a folder, a key: may quote the config or a server.
    pub subject: Text,
    /// What was seen (may quote a server's answer).
    pub detail: Text,
    pub fix: Option<Text>,
}

/// The link to SvarInn, as the worker last saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SvarInnLink {
    /// `https://svarut.ks.no`, from the config.
    pub url: String,
    /// Which API the mottakersystem speaks (`svarinn_api`); V1 from older agents.
    #[serde(default)]
    pub api: crate::listed::SvarInnApi,
    pub last_poll_at: Option<i64>,
    pub last_success_at: Option<i64>,
    pub last_error: Option<Text>,
    pub latency_ms: Option<u64>,
    pub consecutive_failures: u32,
    /// What SvarInn's host resolved to (firewalls must let these through):
    /// IP addresses the agent formats, never the resolver's text.
    pub resolved: Vec<String>,
}

/// How close a certificate is to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpiryLevel {
    Ok,
    /// Within [`CERT_WARNING_DAYS`](super::CERT_WARNING_DAYS).
    ExpiresSoon,
    Expired,
    /// The file could not be read.
    Unreadable,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateStatus {
    /// The file's path from the config; for a chain fetched from outside
    /// (Maskinporten), the agent's own `chain[n]` label.
    pub path: String,
    pub not_after: Option<i64>,
    /// Negative once expired.
    pub days_left: Option<i64>,
    pub level: ExpiryLevel,
    pub error: Option<Text>,
}

/// The drop folder, as the agent can use it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropFolderStatus {
    /// From the config.
    pub path: String,
    pub writable: bool,
    /// Why not, when not.
    pub error: Option<Text>,
    /// Free space for the agent, rounded down to MiB.
    pub free_bytes: Option<u64>,
    pub total_bytes: Option<u64>,
    /// `min_free_space`: below it downloads wait (absent from older agents).
    #[serde(default)]
    pub min_free_bytes: Option<u64>,
}

/// How bad an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

/// Something a person should look at, derived from the rest of the state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable while the condition lasts (`unacked-2h/nav-frogn`): the
    /// agent's own word and a mottakersystem's name from the config.
    pub key: String,
    pub severity: Severity,
    /// From the config.
    pub mottakersystem: Option<String>,
    /// What it is about, with the data each language is written from.
    /// `None` from an older agent, or a kind this console does not know
    /// (then it shows `title` and `detail`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::alert::known_or_none"
    )]
    pub about: Option<AlertKind>,
    /// One line: what is wrong (the agent's English, from `about`).
    pub title: Text,
    /// What to do about it (the agent's English, from `about`).
    pub detail: Text,
    pub since: Option<i64>,
}

/// The access lists: grants, group members, and who can act where.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessList {
    /// Sorted.
    pub grants: Vec<RoleGrant>,
    /// Sorted.
    pub members: Vec<Membership>,
    /// Per configured mottakersystem, the people who can act on failed
    /// imports (operator or admin); a warning when fewer than two.
    pub coverage: Vec<Coverage>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Membership {
    /// A login name or certificate CN, and a group of the access list or
    /// `/etc/group`: identities the kommune's admins made, shown exactly as
    /// they are granted and revoked.
    pub user: String,
    pub group: String,
    pub source: MembershipSource,
}

/// Where a membership comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MembershipSource {
    /// The agent's own access list (`add_member`, `mottak-agent access member`).
    AccessList,
    /// A system group of the agent's machine (local or from the directory, as the name service gives it).
    UnixGroup,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    pub mottakersystem: String,
    /// Sorted identities (see [`Membership::user`]).
    pub can_act: Vec<String>,
    /// Set when fewer than two people can act: the agent's sentence naming
    /// those identities.
    pub warning: Option<String>,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: i64,
    /// The identity the agent authenticated (see [`PauseInfo::by`]).
    pub who: String,
    /// `local_socket`, `tls`, or `cli`.
    pub via: String,
    /// The command's name: one of the agent's own words.
    pub action: String,
    /// As the command named it: a refused command may name anything.
    pub mottakersystem: Option<ExternalId>,
    /// What it acted on, as the command named it (a forsendelse or update
    /// id a console was shown, a principal).
    pub target: Option<ExternalId>,
    pub reason: Option<Text>,
    /// `ok`, or `refused: ...`, or `failed: ...`.
    pub outcome: Text,
    /// The id the console chose for the command.
    pub command_id: Option<ExternalId>,
}
