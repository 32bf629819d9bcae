//! The console ⇄ agent protocol: every message on the websocket, as JSON text
//! frames with a `type` field (`#[serde(tag = "type")]`).
//!
//! ```text
//! console                                   agent
//!   hello {protocol}                 ──▶
//!                                    ◀──   welcome {protocol, agent_version, user, roles, permissions}
//!   subscribe                        ──▶
//!                                    ◀──   snapshot {seq: n, state}
//!                                    ◀──   delta {seq: n+1, patches}   (gap-free; a gap means: subscribe again)
//!   command {id, command}            ──▶
//!                                    ◀──   result {id, ok {message} | error {code, message}}
//!   anything malformed or unknown    ──▶
//!                                    ◀──   error {code, message}
//! ```
//!
//! - Times are Unix milliseconds (UTC).
//! - The [`ConsoleState`] a snapshot carries is patched by each delta with
//!   [`ConsoleState::apply`]; the agent computes the patches with [`diff`], so
//!   `apply(old, diff(old, new)) == new` (tested).
//! - Every string in the console state that came from outside is a masking
//!   type: free text (titles, sender names, errors, `feil.txt`, audit
//!   reasons) a [`Text`], ids and folder names a console may act on an
//!   [`ExternalId`]. Both mask fødselsnumre ([`crate::fnr`]) whenever they are
//!   serialised: nothing sent to a console can carry one. A plain `String`
//!   field holds only what the agent itself makes (its config, enum-like
//!   words, identities it authenticated), each saying why.
//! - Who may do what is decided here, once ([`Role::permissions`],
//!   [`Command::permission`]), so the console hides exactly what the agent refuses.
//!
//! One file per part: `text` (the masking types), `roles` (who may do
//! what), `messages` (the frames), `state` and `outbound` (what a console
//! sees; `fiks_io` the Fiks IO link), `delta` (diff and apply); everything is re-exported here.

mod delta;
mod fiks_io;
mod messages;
mod outbound;
mod roles;
mod state;
mod text;

#[cfg(test)]
mod tests;

pub use delta::{Patch, diff};
pub use fiks_io::{FIKS_IO_DOWN_CRITICAL_MS, FIKS_IO_RECEIPT_CRITICAL_MS, FiksIoLink};
pub use messages::{ClientMessage, Command, ErrorCode, Outcome, ServerMessage, Target, close_code};
pub use outbound::{
    FiksLink, IgnoredEntry, MaskinportenLink, OUTBOUND_WINDOW, OutboundItem, OutboundState,
    OutboundStatus, UnmovedUpdate,
};
pub use roles::{Permission, Principal, Role, RoleGrant, Scope, SystemPermissions, Transport};
pub use state::{
    AccessList, AgentInfo, Alert, AuditEntry, CertificateStatus, ConsoleState, Coverage,
    DoctorLine, DoctorResult, DropFolderStatus, DuplicateLink, Duplicates, ExpiryLevel,
    FailedImport, FailedImports, ForsendelseState, HistoryEntry, InnFolder, IntegrationStatus,
    Membership, MembershipSource, OldestUnacknowledged, PauseInfo, PipelineStatus, QueueHealth,
    Severity, StaleInInn, SvarInnLink, Throughput,
};
pub use text::{ExternalId, FNR_MASK, Text, mask_fnr};

/// The protocol version this code speaks; `hello` must name it. A state
/// field added with a serde default (`ConsoleState::outbound`,
/// `ConsoleState::pipelines`) keeps it: a console reads an older agent's
/// state without it (an older console does not know the new patch op and
/// says the agent is newer).
/// 2: `retry` and `mark_permanent` name their [`Target`] by kind.
pub const PROTOCOL_VERSION: u32 = 2;
/// The largest frame the agent accepts from a console.
pub const MAX_CLIENT_FRAME_BYTES: usize = 64 * 1024;
/// SvarInn warns the sender when a forsendelse is not acknowledged within two hours.
pub const UNACKED_WARNING_MS: i64 = 2 * 60 * 60 * 1000;
/// A certificate this close to its end is a warning.
pub const CERT_WARNING_DAYS: i64 = 30;
/// How many audit entries a snapshot carries (newest).
pub const AUDIT_WINDOW: usize = 200;
/// How many history lines each failed import carries (newest).
pub const HISTORY_WINDOW: usize = 20;
/// How many failing lines of the last `mottak-agent doctor` run a
/// mottakersystem's integrations carry (the rest only counted).
pub const DOCTOR_LINES: usize = 20;
/// The throughput sparkline: buckets of this many milliseconds...
pub const THROUGHPUT_BUCKET_MS: i64 = 5 * 60 * 1000;
/// ...this many of them (one hour).
pub const THROUGHPUT_BUCKETS: usize = 12;
/// The longest command id.
pub const MAX_COMMAND_ID_LEN: usize = 64;
/// The longest reason a person may give.
pub const MAX_REASON_LEN: usize = 2000;
