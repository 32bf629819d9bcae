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

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::alert::AlertKind;

/// The protocol version this code speaks; `hello` must name it.
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

// ---------------------------------------------------------------------------------------------
// Masked text

/// Free text from outside that may hold a fødselsnummer (titles, sender
/// names, errors, `feil.txt`, reasons): stored as received, masked whenever
/// it is serialised or displayed ([`crate::fnr`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Text(String);

impl Text {
    pub fn new(s: impl Into<String>) -> Self {
        Text(s.into())
    }

    /// The text as received (unmasked): for comparisons inside the agent only.
    pub fn raw(&self) -> &str {
        &self.0
    }

    /// The text as a console sees it.
    pub fn masked(&self) -> Cow<'_, str> {
        mask_fnr(&self.0)
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text(s.to_owned())
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text(s)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.masked())
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Text)
    }
}

/// An id or name that came from outside and that a console may act on: a
/// SvarInn forsendelse id, a folder name the fagsystem chose in `ut/`,
/// `inn/` or `feilet/` (and the update ids and `ut-feilet/` names made from
/// it), a command id or target a console sent (in the audit log). Stored as
/// received; serialised (and displayed) with every fødselsnummer masked
/// ([`crate::fnr`]), so UUIDs and hashes stay readable, and a folder named
/// after a person's fødselsnummer reaches no console.
///
/// A console sends back the id it was shown. A masked id cannot be a real
/// one (`*` is in neither a forsendelse id nor a claimed folder's name), so
/// the agent looks it up among its ids by [`ExternalId::shown`]: the masked
/// form is only ever a name for the one real id that shows as it (the agent
/// refuses a command when several do). On a console the value is the shown form.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExternalId(String);

impl ExternalId {
    pub fn new(s: impl Into<String>) -> Self {
        ExternalId(s.into())
    }

    /// The id as received (on the agent: unmasked, for keys and lookups
    /// inside the agent only; on a console: the shown form it received).
    pub fn raw(&self) -> &str {
        &self.0
    }

    /// The id as a console sees it.
    pub fn shown(&self) -> Cow<'_, str> {
        crate::fnr::mask(&self.0)
    }
}

impl From<&str> for ExternalId {
    fn from(s: &str) -> Self {
        ExternalId(s.to_owned())
    }
}

impl From<String> for ExternalId {
    fn from(s: String) -> Self {
        ExternalId(s)
    }
}

impl PartialEq<str> for ExternalId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for ExternalId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for ExternalId {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl fmt::Display for ExternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown())
    }
}

impl Serialize for ExternalId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.shown())
    }
}

impl<'de> Deserialize<'de> for ExternalId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(ExternalId)
    }
}

/// The mask written over a fødselsnummer ([`crate::fnr::MASK`]).
pub const FNR_MASK: &str = crate::fnr::MASK;

/// Masks every fødselsnummer ([`crate::fnr::mask`], the one rule). Borrowed
/// when there is nothing to mask.
pub fn mask_fnr(s: &str) -> Cow<'_, str> {
    crate::fnr::mask(s)
}

// ---------------------------------------------------------------------------------------------
// Roles, scopes, permissions

/// What a person may do, per mottakersystem. Ordered: a higher role may do
/// everything a lower one may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Sees queues, failures, integrations, alerts and access lists.
    Viewer,
    /// Also acts on failures and on the pipeline: retry, move back to
    /// `inn/`, mark permanent, pause and resume, poll now.
    Operator,
    /// Also manages access lists and reads the audit log.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Everything this role allows, in [`Permission::ALL`] order.
    pub fn permissions(self) -> Vec<Permission> {
        Permission::ALL
            .into_iter()
            .filter(|p| self >= p.minimum_role())
            .collect()
    }

    pub fn allows(self, p: Permission) -> bool {
        self >= p.minimum_role()
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing a console can do or see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    View,
    Retry,
    MoveToInn,
    MarkPermanent,
    Pause,
    Resume,
    PollNow,
    ManageAccess,
    ReadAudit,
}

impl Permission {
    pub const ALL: [Permission; 9] = [
        Permission::View,
        Permission::Retry,
        Permission::MoveToInn,
        Permission::MarkPermanent,
        Permission::Pause,
        Permission::Resume,
        Permission::PollNow,
        Permission::ManageAccess,
        Permission::ReadAudit,
    ];

    /// The lowest role that has it.
    pub fn minimum_role(self) -> Role {
        match self {
            Permission::View => Role::Viewer,
            Permission::Retry
            | Permission::MoveToInn
            | Permission::MarkPermanent
            | Permission::Pause
            | Permission::Resume
            | Permission::PollNow => Role::Operator,
            Permission::ManageAccess | Permission::ReadAudit => Role::Admin,
        }
    }
}

/// Which mottakersystemer a grant covers: all of them (`"*"` on the wire,
/// including ones added later), or one by name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    All,
    Mottakersystem(String),
}

impl Scope {
    pub fn covers(&self, mottakersystem: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Mottakersystem(m) => m == mottakersystem,
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Scope::All => "*",
            Scope::Mottakersystem(m) => m,
        }
    }

    pub fn parse(s: &str) -> Scope {
        if s == "*" {
            Scope::All
        } else {
            Scope::Mottakersystem(s.to_owned())
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::All => f.write_str("all mottakersystemer"),
            Scope::Mottakersystem(m) => f.write_str(m),
        }
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.is_empty() {
            return Err(serde::de::Error::custom(
                "a scope is \"*\" or a mottakersystem's name, not empty",
            ));
        }
        Ok(Scope::parse(&s))
    }
}

/// Who a grant is for: one person (login name, or a client certificate's
/// CN), or a group of people.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Principal {
    User(String),
    Group(String),
}

impl Principal {
    pub fn name(&self) -> &str {
        match self {
            Principal::User(n) | Principal::Group(n) => n,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Principal::User(_) => "user",
            Principal::Group(_) => "group",
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind(), self.name())
    }
}

/// A role over a scope, given to a user or a group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RoleGrant {
    pub principal: Principal,
    pub role: Role,
    pub scope: Scope,
}

/// What the caller may do on one mottakersystem (in `welcome`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemPermissions {
    pub mottakersystem: String,
    /// The highest role the caller holds there.
    pub role: Role,
    pub permissions: Vec<Permission>,
}

/// How the caller reached the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// The Unix socket; the user is the peer's login name.
    LocalSocket,
    /// The TLS listener; the user is the client certificate's CN.
    Tls,
}

// ---------------------------------------------------------------------------------------------
// Messages

/// Console → agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// First message: the protocol version the console speaks.
    Hello {
        protocol: u32,
        /// Free text, e.g. `mottak 0.1.0`; logged.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client: Option<String>,
    },
    /// Start (or restart) the stream: a snapshot, then deltas.
    Subscribe,
    /// Do something; answered by a `result` with the same `id`. Sending the
    /// same `id` again returns the first result and does nothing again.
    Command { id: String, command: Command },
}

/// What a console asks the agent to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// A forsendelse: `failed` → downloaded again now; `retry_wait` → tried
    /// again now. An outbound update: a failed saksoppdatering is moved back
    /// from `ut-feilet/` and sent again (refused when a newer one for the case
    /// was sent or is queued).
    Retry {
        mottakersystem: String,
        target: Target,
    },
    /// `rejected`: move `feilet/<id>/` back into `inn/` for the fagsystem.
    MoveToInn {
        mottakersystem: String,
        forsendelse: String,
    },
    /// A forsendelse: give up for good, mottakFeilet permanent=true with
    /// `reason` (required). An outbound update: the failed saksoppdatering is
    /// discarded (its folder stays in `ut-feilet/`).
    MarkPermanent {
        mottakersystem: String,
        target: Target,
        reason: String,
    },
    /// Stop polling and moving forsendelser of a mottakersystem (kept over restarts).
    Pause {
        mottakersystem: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    Resume {
        mottakersystem: String,
    },
    /// Poll SvarInn now instead of at the next interval.
    PollNow {
        mottakersystem: String,
    },
    /// Give a role; the caller must be admin over the whole scope.
    Grant {
        principal: Principal,
        role: Role,
        scope: Scope,
    },
    /// Take a role away; the caller must be admin over the whole scope.
    Revoke {
        principal: Principal,
        role: Role,
        scope: Scope,
    },
    /// Put a user in a group; the caller must be admin over all the group's scopes.
    AddMember {
        user: String,
        group: String,
    },
    RemoveMember {
        user: String,
        group: String,
    },
}

/// What `retry` and `mark_permanent` act on, by kind: on the wire
/// `{"forsendelse": "<id>"}` or `{"update": "<update_id>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Target {
    /// An inbound forsendelse, by its SvarInn id.
    Forsendelse(String),
    /// An outbound saksoppdatering, by its `update_id` (see [`OutboundItem`]).
    Update(String),
}

impl Target {
    /// The id, whatever its kind.
    pub fn id(&self) -> &str {
        match self {
            Target::Forsendelse(id) | Target::Update(id) => id,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl Command {
    /// The name on the wire (and in the audit log).
    pub fn name(&self) -> &'static str {
        match self {
            Command::Retry { .. } => "retry",
            Command::MoveToInn { .. } => "move_to_inn",
            Command::MarkPermanent { .. } => "mark_permanent",
            Command::Pause { .. } => "pause",
            Command::Resume { .. } => "resume",
            Command::PollNow { .. } => "poll_now",
            Command::Grant { .. } => "grant",
            Command::Revoke { .. } => "revoke",
            Command::AddMember { .. } => "add_member",
            Command::RemoveMember { .. } => "remove_member",
        }
    }

    /// The permission it needs (over [`Command::mottakersystem`] or the
    /// grant's scope).
    pub fn permission(&self) -> Permission {
        match self {
            Command::Retry { .. } => Permission::Retry,
            Command::MoveToInn { .. } => Permission::MoveToInn,
            Command::MarkPermanent { .. } => Permission::MarkPermanent,
            Command::Pause { .. } => Permission::Pause,
            Command::Resume { .. } => Permission::Resume,
            Command::PollNow { .. } => Permission::PollNow,
            Command::Grant { .. }
            | Command::Revoke { .. }
            | Command::AddMember { .. }
            | Command::RemoveMember { .. } => Permission::ManageAccess,
        }
    }

    /// The mottakersystem it acts on, for commands on one.
    pub fn mottakersystem(&self) -> Option<&str> {
        match self {
            Command::Retry { mottakersystem, .. }
            | Command::MoveToInn { mottakersystem, .. }
            | Command::MarkPermanent { mottakersystem, .. }
            | Command::Pause { mottakersystem, .. }
            | Command::Resume { mottakersystem }
            | Command::PollNow { mottakersystem } => Some(mottakersystem),
            Command::Grant { scope, .. } | Command::Revoke { scope, .. } => match scope {
                Scope::All => None,
                Scope::Mottakersystem(m) => Some(m),
            },
            Command::AddMember { .. } | Command::RemoveMember { .. } => None,
        }
    }

    /// What it acts on, for the audit log (`nav-frogn/<id>`, `user alice`).
    pub fn target(&self) -> String {
        match self {
            Command::Retry {
                mottakersystem,
                target,
            }
            | Command::MarkPermanent {
                mottakersystem,
                target,
                ..
            } => format!("{mottakersystem}/{target}"),
            Command::MoveToInn {
                mottakersystem,
                forsendelse,
            } => format!("{mottakersystem}/{forsendelse}"),
            Command::Pause { mottakersystem, .. }
            | Command::Resume { mottakersystem }
            | Command::PollNow { mottakersystem } => mottakersystem.clone(),
            Command::Grant {
                principal,
                role,
                scope,
            }
            | Command::Revoke {
                principal,
                role,
                scope,
            } => format!("{principal}: {role} over {}", scope.as_str()),
            Command::AddMember { user, group } | Command::RemoveMember { user, group } => {
                format!("user {user} in group {group}")
            }
        }
    }

    /// The reason a person gave, if any.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Command::MarkPermanent { reason, .. } => Some(reason),
            Command::Pause { reason, .. } => reason.as_deref(),
            _ => None,
        }
    }
}

/// Agent → console.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The answer to `hello`; sent again whenever the caller's roles change.
    Welcome {
        protocol: u32,
        agent_version: String,
        /// Who the agent takes the caller for.
        user: String,
        transport: Transport,
        /// Every grant that applies to the caller, directly or through a group.
        roles: Vec<RoleGrant>,
        /// Per configured mottakersystem the caller may see: role and permissions.
        permissions: Vec<SystemPermissions>,
    },
    /// The whole state the caller may see; deltas follow with `seq + 1, + 2, ...`.
    Snapshot { seq: u64, state: ConsoleState },
    /// Changes to apply, in order, to the state of `seq - 1`.
    Delta { seq: u64, patches: Vec<Patch> },
    /// The answer to a command.
    Result {
        id: String,
        #[serde(flatten)]
        outcome: Outcome,
    },
    /// A message the agent could not take, or a refusal before closing.
    Error {
        code: ErrorCode,
        message: String,
        /// The command id, when the error is about one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok { message: String },
    Error { code: ErrorCode, message: String },
}

impl Outcome {
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok { .. })
    }

    pub fn error(code: ErrorCode, message: impl Into<String>) -> Outcome {
        Outcome::Error {
            code,
            message: message.into(),
        }
    }
}

/// Why a message or command was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, an unknown `type`, a missing or wrong field.
    BadMessage,
    /// The frame was larger than [`MAX_CLIENT_FRAME_BYTES`].
    TooLarge,
    /// `hello` named a protocol version the agent does not speak.
    UnsupportedProtocol,
    /// Anything before `hello`, or `hello` twice.
    HelloFirst,
    /// The caller has no role at all; the connection is closed.
    NoAccess,
    /// The caller's role does not allow this command there.
    Forbidden,
    /// No such mottakersystem, forsendelse, grant or member.
    NotFound,
    /// The forsendelse is not in a state this command applies to.
    WrongState,
    /// A value is missing or unusable (an empty reason, a bad name).
    InvalidArgument,
    /// The agent tried and failed (disk, journal); the message says what to do.
    Failed,
    /// The console read too slowly; it is disconnected and must subscribe again.
    SlowConsumer,
    /// The agent is shutting down.
    ShuttingDown,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadMessage => "bad_message",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::UnsupportedProtocol => "unsupported_protocol",
            ErrorCode::HelloFirst => "hello_first",
            ErrorCode::NoAccess => "no_access",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::WrongState => "wrong_state",
            ErrorCode::InvalidArgument => "invalid_argument",
            ErrorCode::Failed => "failed",
            ErrorCode::SlowConsumer => "slow_consumer",
            ErrorCode::ShuttingDown => "shutting_down",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Websocket close codes the agent uses (4xxx: application-defined).
pub mod close_code {
    /// Malformed frames kept coming, or a frame was too large.
    pub const BAD_MESSAGE: u16 = 4400;
    /// No known identity, or no role at all.
    pub const NO_ACCESS: u16 = 4403;
    /// No `hello` in time.
    pub const HELLO_TIMEOUT: u16 = 4408;
    /// `hello` with a protocol version the agent does not speak.
    pub const UNSUPPORTED_PROTOCOL: u16 = 4426;
    /// The console did not read fast enough; subscribe again after reconnecting.
    pub const SLOW_CONSUMER: u16 = 4429;
}

impl ClientMessage {
    /// Parses one text frame. The error says what was wrong, for the `error` reply.
    pub fn parse(text: &str) -> Result<ClientMessage, String> {
        serde_json::from_str(text).map_err(|e| {
            // serde quotes offending values: mask the whole message.
            let head: String = text.chars().take(60).collect();
            mask_fnr(&format!(
                "not a message this agent understands ({e}); it began {head:?}"
            ))
            .into_owned()
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The state a console sees

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
    /// Newest last, at most [`AUDIT_WINDOW`]; empty unless the caller may read it.
    pub audit: Vec<AuditEntry>,
    /// Per mottakersystem with `[mottakersystem.digisos]`, by name: the
    /// saksoppdateringer to Fiks Digisos. Absent from older agents.
    #[serde(default)]
    pub outbound: Vec<OutboundStatus>,
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
    /// Deliveries per [`THROUGHPUT_BUCKET_MS`], oldest first,
    /// [`THROUGHPUT_BUCKETS`] of them; the last one ends at `buckets_end`.
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
    /// By mottakersystem, then id.
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
    /// The newest [`HISTORY_WINDOW`] lines, oldest first.
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
    /// The failing lines, config errors first, at most [`DOCTOR_LINES`].
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
    /// Within [`CERT_WARNING_DAYS`].
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

// ---------------------------------------------------------------------------------------------
// Outbound: saksoppdateringer from the fagsystem's ut/ to Fiks Digisos

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
    /// `update_id` as [`Target::Update`]) or discard it (`mark_permanent`, same).
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
    /// The newest [`HISTORY_WINDOW`] lines, oldest first.
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

// ---------------------------------------------------------------------------------------------
// Deltas

/// One change to a [`ConsoleState`].
// A patch lives from the diff to its serialisation, a few at a time: the
// size of its largest variant (`Outbound`) costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Patch {
    /// Replaces (or adds) the queue of `mottakersystem`.
    Queue(QueueHealth),
    QueueRemoved {
        mottakersystem: String,
    },
    /// Replaces (or adds) the failed import with this mottakersystem and id.
    Failed(FailedImport),
    FailedRemoved {
        mottakersystem: String,
        id: ExternalId,
    },
    FailedTotal {
        total: u64,
    },
    /// Replaces (or adds) the integrations of `mottakersystem`.
    Integration(IntegrationStatus),
    IntegrationRemoved {
        mottakersystem: String,
    },
    Alerts {
        alerts: Vec<Alert>,
    },
    Access(AccessList),
    Audit {
        entries: Vec<AuditEntry>,
    },
    Agent(AgentInfo),
    /// Replaces (or adds) the outbound status of `mottakersystem`.
    Outbound(OutboundStatus),
    OutboundRemoved {
        mottakersystem: String,
    },
}

impl ConsoleState {
    /// Sorts every list into its canonical order.
    pub fn normalize(&mut self) {
        self.queues
            .sort_by(|a, b| a.mottakersystem.cmp(&b.mottakersystem));
        self.integrations
            .sort_by(|a, b| a.mottakersystem.cmp(&b.mottakersystem));
        self.failed
            .items
            .sort_by(|a, b| failed_key(a).cmp(&failed_key(b)));
        self.alerts.sort_by(alert_order);
        self.access.grants.sort();
        self.access.members.sort();
        self.access
            .coverage
            .sort_by(|a, b| a.mottakersystem.cmp(&b.mottakersystem));
        self.audit.sort_by_key(|e| e.seq);
        self.outbound
            .sort_by(|a, b| a.mottakersystem.cmp(&b.mottakersystem));
    }

    /// Applies one patch. Applying a delta's patches in order to the state
    /// of `seq - 1` gives the state of `seq`.
    pub fn apply(&mut self, patch: &Patch) {
        match patch {
            Patch::Queue(q) => upsert_by(&mut self.queues, q.clone(), |x| x.mottakersystem.clone()),
            Patch::QueueRemoved { mottakersystem } => {
                self.queues.retain(|q| &q.mottakersystem != mottakersystem)
            }
            Patch::Failed(item) => {
                let key = failed_key(item);
                match self
                    .failed
                    .items
                    .binary_search_by(|x| failed_key(x).cmp(&key))
                {
                    Ok(i) => self.failed.items[i] = item.clone(),
                    Err(i) => self.failed.items.insert(i, item.clone()),
                }
            }
            Patch::FailedRemoved { mottakersystem, id } => self
                .failed
                .items
                .retain(|x| !(&x.mottakersystem == mottakersystem && &x.id == id)),
            Patch::FailedTotal { total } => self.failed.total = *total,
            Patch::Integration(i) => upsert_by(&mut self.integrations, i.clone(), |x| {
                x.mottakersystem.clone()
            }),
            Patch::IntegrationRemoved { mottakersystem } => self
                .integrations
                .retain(|q| &q.mottakersystem != mottakersystem),
            Patch::Alerts { alerts } => self.alerts = alerts.clone(),
            Patch::Access(a) => self.access = a.clone(),
            Patch::Audit { entries } => self.audit = entries.clone(),
            Patch::Agent(a) => self.agent = a.clone(),
            Patch::Outbound(o) => {
                upsert_by(&mut self.outbound, o.clone(), |x| x.mottakersystem.clone())
            }
            Patch::OutboundRemoved { mottakersystem } => self
                .outbound
                .retain(|o| &o.mottakersystem != mottakersystem),
        }
    }

    /// Applies a delta's patches in order.
    pub fn apply_all(&mut self, patches: &[Patch]) {
        for p in patches {
            self.apply(p);
        }
    }
}

fn failed_key(f: &FailedImport) -> (&str, &str) {
    (&f.mottakersystem, f.id.raw())
}

/// Worst first, then by key.
fn alert_order(a: &Alert, b: &Alert) -> std::cmp::Ordering {
    b.severity.cmp(&a.severity).then_with(|| a.key.cmp(&b.key))
}

fn upsert_by<T, K: Ord>(list: &mut Vec<T>, item: T, key: impl Fn(&T) -> K) {
    let k = key(&item);
    match list.binary_search_by(|x| key(x).cmp(&k)) {
        Ok(i) => list[i] = item,
        Err(i) => list.insert(i, item),
    }
}

/// The patches that take `old` to `new` (both normalised): per-entry for
/// queues, integrations and failed imports; whole sections otherwise.
pub fn diff(old: &ConsoleState, new: &ConsoleState) -> Vec<Patch> {
    let mut out = Vec::new();
    if old.agent != new.agent {
        out.push(Patch::Agent(new.agent.clone()));
    }
    keyed_diff(
        &old.queues,
        &new.queues,
        |q| q.mottakersystem.as_str(),
        |q| Patch::Queue(q.clone()),
        |k| Patch::QueueRemoved {
            mottakersystem: k.to_owned(),
        },
        &mut out,
    );
    {
        let old_items: BTreeMap<(&str, &str), &FailedImport> = old
            .failed
            .items
            .iter()
            .map(|f| (failed_key(f), f))
            .collect();
        let new_keys: BTreeSet<(&str, &str)> = new.failed.items.iter().map(failed_key).collect();
        for (k, _) in old_items.iter().filter(|(k, _)| !new_keys.contains(*k)) {
            out.push(Patch::FailedRemoved {
                mottakersystem: k.0.to_owned(),
                id: ExternalId::from(k.1),
            });
        }
        for item in &new.failed.items {
            if old_items.get(&failed_key(item)) != Some(&item) {
                out.push(Patch::Failed(item.clone()));
            }
        }
        if old.failed.total != new.failed.total {
            out.push(Patch::FailedTotal {
                total: new.failed.total,
            });
        }
    }
    keyed_diff(
        &old.integrations,
        &new.integrations,
        |q| q.mottakersystem.as_str(),
        |q| Patch::Integration(q.clone()),
        |k| Patch::IntegrationRemoved {
            mottakersystem: k.to_owned(),
        },
        &mut out,
    );
    if old.alerts != new.alerts {
        out.push(Patch::Alerts {
            alerts: new.alerts.clone(),
        });
    }
    if old.access != new.access {
        out.push(Patch::Access(new.access.clone()));
    }
    if old.audit != new.audit {
        out.push(Patch::Audit {
            entries: new.audit.clone(),
        });
    }
    keyed_diff(
        &old.outbound,
        &new.outbound,
        |o| o.mottakersystem.as_str(),
        |o| Patch::Outbound(o.clone()),
        |k| Patch::OutboundRemoved {
            mottakersystem: k.to_owned(),
        },
        &mut out,
    );
    out
}

fn keyed_diff<T: PartialEq>(
    old: &[T],
    new: &[T],
    key: impl Fn(&T) -> &str,
    upsert: impl Fn(&T) -> Patch,
    removed: impl Fn(&str) -> Patch,
    out: &mut Vec<Patch>,
) {
    let old_by: BTreeMap<&str, &T> = old.iter().map(|x| (key(x), x)).collect();
    let new_keys: BTreeSet<&str> = new.iter().map(&key).collect();
    for k in old_by.keys().filter(|k| !new_keys.contains(*k)) {
        out.push(removed(k));
    }
    for item in new {
        if old_by.get(key(item)) != Some(&item) {
            out.push(upsert(item));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip_client(m: ClientMessage) {
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(ClientMessage::parse(&text).unwrap(), m, "{text}");
    }

    fn round_trip_server(m: ServerMessage) {
        let text = serde_json::to_string(&m).unwrap();
        let back: ServerMessage = serde_json::from_str(&text).unwrap();
        assert_eq!(back, m, "{text}");
    }

    fn all_commands() -> Vec<Command> {
        let sys = || "nav-frogn".to_owned();
        let id = || "6c5e2a8e-1111-4222-8333-944445555666".to_owned();
        vec![
            Command::Retry {
                mottakersystem: sys(),
                target: Target::Forsendelse(id()),
            },
            Command::Retry {
                mottakersystem: sys(),
                target: Target::Update("ut.1.0.x".into()),
            },
            Command::MoveToInn {
                mottakersystem: sys(),
                forsendelse: id(),
            },
            Command::MarkPermanent {
                mottakersystem: sys(),
                target: Target::Forsendelse(id()),
                reason: "sendt i posten".into(),
            },
            Command::MarkPermanent {
                mottakersystem: sys(),
                target: Target::Update("ut.1.0.x".into()),
                reason: "sendt i posten".into(),
            },
            Command::Pause {
                mottakersystem: sys(),
                reason: Some("fagsystemet oppgraderes".into()),
            },
            Command::Pause {
                mottakersystem: sys(),
                reason: None,
            },
            Command::Resume {
                mottakersystem: sys(),
            },
            Command::PollNow {
                mottakersystem: sys(),
            },
            Command::Grant {
                principal: Principal::User("kari".into()),
                role: Role::Operator,
                scope: Scope::Mottakersystem(sys()),
            },
            Command::Revoke {
                principal: Principal::Group("drift".into()),
                role: Role::Admin,
                scope: Scope::All,
            },
            Command::AddMember {
                user: "kari".into(),
                group: "drift".into(),
            },
            Command::RemoveMember {
                user: "kari".into(),
                group: "drift".into(),
            },
        ]
    }

    pub(super) fn sample_state() -> ConsoleState {
        let mut counts = BTreeMap::new();
        for s in ForsendelseState::ALL {
            counts.insert(s, 0);
        }
        counts.insert(ForsendelseState::Acked, 12);
        counts.insert(ForsendelseState::Failed, 1);
        let mut state = ConsoleState {
            agent: AgentInfo {
                version: "0.1.0".into(),
                hostname: "mottak01".into(),
                started_at: 1_700_000_000_000,
            },
            queues: vec![QueueHealth {
                mottakersystem: "nav-frogn".into(),
                counts,
                oldest_unacknowledged: Some(OldestUnacknowledged {
                    id: "a".into(),
                    state: ForsendelseState::Failed,
                    since: 1_700_000_000_000,
                    warning_at: 1_700_000_000_000 + UNACKED_WARNING_MS,
                }),
                throughput: Throughput {
                    delivered_last_hour: 3,
                    acked_last_hour: 2,
                    delivered_buckets: vec![0; THROUGHPUT_BUCKETS],
                    buckets_end: 1_700_000_300_000,
                },
                stale_in_inn: StaleInInn {
                    threshold_ms: 3_600_000,
                    count: 1,
                    oldest: vec![InnFolder {
                        name: "b".into(),
                        since: 1_699_000_000_000,
                    }],
                },
                paused: Some(PauseInfo {
                    by: "kari".into(),
                    at: 1_700_000_000_000,
                    reason: Some("oppgradering".into()),
                }),
            }],
            failed: FailedImports {
                total: 1,
                items: vec![FailedImport {
                    mottakersystem: "nav-frogn".into(),
                    id: "a".into(),
                    state: ForsendelseState::Failed,
                    tittel: "Søknad fra 01019012480".into(),
                    avsender: Some("NAV".into()),
                    forsendelse_type: Some("nav.digisos".into()),
                    sendt_at: Some(1_700_000_000_000),
                    size: Some(1234),
                    first_seen_at: 1_700_000_000_000,
                    updated_at: 1_700_000_100_000,
                    attempts: 0,
                    content_failures: 3,
                    last_error: Some("checksum mismatch".into()),
                    reason: None,
                    next_attempt_at: None,
                    resume_state: None,
                    reported_to_svarinn: true,
                    history: vec![HistoryEntry {
                        at: 1_700_000_000_000,
                        action: "download".into(),
                        outcome: "content-failed".into(),
                        error: Some("checksum mismatch".into()),
                    }],
                }],
            },
            integrations: vec![IntegrationStatus {
                mottakersystem: "nav-frogn".into(),
                svarinn: SvarInnLink {
                    url: "https://svarut.ks.no".into(),
                    last_poll_at: Some(1),
                    last_success_at: Some(1),
                    last_error: None,
                    latency_ms: Some(120),
                    consecutive_failures: 0,
                    resolved: vec!["10.0.0.1:443".into()],
                },
                certificates: vec![CertificateStatus {
                    path: "/etc/mottak/keys/a.crt".into(),
                    not_after: Some(1_800_000_000_000),
                    days_left: Some(20),
                    level: ExpiryLevel::ExpiresSoon,
                    error: None,
                }],
                drop_folder: DropFolderStatus {
                    path: "/srv/drop".into(),
                    writable: true,
                    error: None,
                    free_bytes: Some(1 << 30),
                    total_bytes: Some(1 << 34),
                    min_free_bytes: None,
                },
                doctor: None,
            }],
            alerts: vec![Alert {
                key: "failed/nav-frogn".into(),
                severity: Severity::Warning,
                mottakersystem: Some("nav-frogn".into()),
                about: None,
                title: "1 forsendelse needs a person".into(),
                detail: "Retry it or mark it permanent".into(),
                since: None,
            }],
            access: AccessList {
                grants: vec![RoleGrant {
                    principal: Principal::User("kari".into()),
                    role: Role::Admin,
                    scope: Scope::All,
                }],
                members: vec![Membership {
                    user: "kari".into(),
                    group: "drift".into(),
                    source: MembershipSource::AccessList,
                }],
                coverage: vec![Coverage {
                    mottakersystem: "nav-frogn".into(),
                    can_act: vec!["kari".into()],
                    warning: Some("only kari can act on failed imports".into()),
                }],
            },
            audit: vec![AuditEntry {
                seq: 1,
                at: 1_700_000_000_000,
                who: "kari".into(),
                via: "cli".into(),
                action: "grant".into(),
                mottakersystem: None,
                target: Some("user kari: admin over *".into()),
                reason: None,
                outcome: "ok".into(),
                command_id: None,
            }],
            outbound: vec![OutboundStatus {
                mottakersystem: "nav-frogn".into(),
                counts: OutboundState::ALL.into_iter().map(|s| (s, 0)).collect(),
                queue: Vec::new(),
                failures: vec![OutboundItem {
                    update_id: "ut.1700000000000.0.3fa85f64-5717-4562-b3fc-2c963f66afa6".into(),
                    digisos_id: "3fa85f64-5717-4562-b3fc-2c963f66afa6".into(),
                    state: OutboundState::Failed,
                    claimed_at: 1_700_000_000_000,
                    updated_at: 1_700_000_001_000,
                    attempts: 0,
                    next_attempt_at: None,
                    last_error: Some("- digisos-soker.json is not valid JSON".into()),
                    failed_folder: Some(
                        "3fa85f64-5717-4562-b3fc-2c963f66afa6-20231114T221320.000Z".into(),
                    ),
                    history: Vec::new(),
                }],
                last_sent_at: None,
                fiks: FiksLink {
                    url: "https://api.fiks.test.ks.no".into(),
                    fiks_org_id: "11415cd1-e26d-499a-8421-751457dfcbd5".into(),
                    ..FiksLink::default()
                },
                maskinporten: MaskinportenLink {
                    url: "https://test.maskinporten.no/token".into(),
                    client_id: "c".into(),
                    ..MaskinportenLink::default()
                },
                setup_error: None,
                unmoved: Vec::new(),
                ignored: vec![IgnoredEntry {
                    name: "3fa85f64-5717-4562-b3fc-2c963f66afa7".into(),
                    reason: "ut/3fa85f64-5717-4562-b3fc-2c963f66afa7 is a symbolic link".into(),
                    since: 1_700_000_002_000,
                }],
            }],
        };
        state.normalize();
        state
    }

    #[test]
    fn outbound_status_diffs_applies_and_is_optional_on_the_wire() {
        let old = sample_state();
        let mut new = old.clone();
        new.outbound[0].counts.insert(OutboundState::Sent, 3);
        new.outbound[0].fiks.last_ok_at = Some(1_700_000_002_000);
        new.outbound.push(OutboundStatus {
            mottakersystem: "aaa".into(),
            ..OutboundStatus::default()
        });
        new.normalize();
        assert_eq!(new.outbound[0].mottakersystem, "aaa");
        let patches = diff(&old, &new);
        assert_eq!(patches.len(), 2, "{patches:?}");
        let mut applied = old.clone();
        applied.apply_all(&patches);
        assert_eq!(applied, new);
        let back = diff(&new, &old);
        assert!(
            back.iter()
                .any(|p| matches!(p, Patch::OutboundRemoved { .. }))
        );
        let mut applied = new.clone();
        applied.apply_all(&back);
        assert_eq!(applied, old);
        // A state from an agent without outbound still parses.
        let mut v = serde_json::to_value(&old).unwrap();
        v.as_object_mut().unwrap().remove("outbound");
        let parsed: ConsoleState = serde_json::from_value(v).unwrap();
        assert!(parsed.outbound.is_empty());
        // Free text is masked like everywhere else.
        let mut with_fnr = old.clone();
        with_fnr.outbound[0].failures[0].last_error = Some("fnr 01017012343 i filen".into());
        let text = serde_json::to_string(&with_fnr).unwrap();
        assert!(!text.contains("01017012343"), "{text}");
        // The patch round-trips.
        let p = Patch::Outbound(new.outbound[1].clone());
        let back: Patch = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn every_client_message_round_trips() {
        round_trip_client(ClientMessage::Hello {
            protocol: PROTOCOL_VERSION,
            client: Some("mottak 0.1.0".into()),
        });
        round_trip_client(ClientMessage::Hello {
            protocol: 7,
            client: None,
        });
        round_trip_client(ClientMessage::Subscribe);
        for (n, command) in all_commands().into_iter().enumerate() {
            round_trip_client(ClientMessage::Command {
                id: format!("c{n}"),
                command,
            });
        }
    }

    #[test]
    fn every_server_message_round_trips() {
        round_trip_server(ServerMessage::Welcome {
            protocol: PROTOCOL_VERSION,
            agent_version: "0.1.0".into(),
            user: "kari".into(),
            transport: Transport::LocalSocket,
            roles: vec![RoleGrant {
                principal: Principal::Group("drift".into()),
                role: Role::Operator,
                scope: Scope::All,
            }],
            permissions: vec![SystemPermissions {
                mottakersystem: "nav-frogn".into(),
                role: Role::Operator,
                permissions: Role::Operator.permissions(),
            }],
        });
        let state = sample_state();
        // Text masks on the way out, so compare the masked form.
        let masked: ConsoleState =
            serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
        round_trip_server(ServerMessage::Snapshot {
            seq: 1,
            state: masked.clone(),
        });
        let mut other = masked.clone();
        other.queues[0].paused = None;
        other.failed.items.clear();
        other.failed.total = 0;
        round_trip_server(ServerMessage::Delta {
            seq: 2,
            patches: diff(&masked, &other),
        });
        round_trip_server(ServerMessage::Result {
            id: "c1".into(),
            outcome: Outcome::Ok {
                message: "retrying".into(),
            },
        });
        round_trip_server(ServerMessage::Result {
            id: "c2".into(),
            outcome: Outcome::error(ErrorCode::Forbidden, "no"),
        });
        round_trip_server(ServerMessage::Error {
            code: ErrorCode::BadMessage,
            message: "x".into(),
            id: None,
        });
    }

    #[test]
    fn the_wire_looks_like_the_documentation() {
        let hello = json!({"type": "hello", "protocol": 1});
        assert_eq!(
            serde_json::from_value::<ClientMessage>(hello).unwrap(),
            ClientMessage::Hello {
                protocol: 1,
                client: None
            }
        );
        let cmd = json!({"type": "command", "id": "c1",
            "command": {"name": "mark_permanent", "mottakersystem": "a", "target": {"forsendelse": "f"}, "reason": "r"}});
        assert!(matches!(
            serde_json::from_value::<ClientMessage>(cmd).unwrap(),
            ClientMessage::Command {
                command: Command::MarkPermanent { target: Target::Forsendelse(f), .. },
                ..
            } if f == "f"
        ));
        let retry = json!({"type": "command", "id": "c3",
            "command": {"name": "retry", "mottakersystem": "a", "target": {"update": "ut.1.0.x"}}});
        assert!(matches!(
            serde_json::from_value::<ClientMessage>(retry).unwrap(),
            ClientMessage::Command {
                command: Command::Retry { target: Target::Update(u), .. },
                ..
            } if u == "ut.1.0.x"
        ));
        let grant = json!({"type": "command", "id": "c2", "command": {"name": "grant",
            "principal": {"group": "drift"}, "role": "operator", "scope": "*"}});
        assert!(matches!(
            serde_json::from_value::<ClientMessage>(grant).unwrap(),
            ClientMessage::Command {
                command: Command::Grant {
                    scope: Scope::All,
                    ..
                },
                ..
            }
        ));
        let ok = serde_json::to_value(ServerMessage::Result {
            id: "c1".into(),
            outcome: Outcome::Ok {
                message: "done".into(),
            },
        })
        .unwrap();
        assert_eq!(
            ok,
            json!({"type": "result", "id": "c1", "ok": {"message": "done"}})
        );
        let err = serde_json::to_value(ServerMessage::Result {
            id: "c1".into(),
            outcome: Outcome::error(ErrorCode::WrongState, "acked"),
        })
        .unwrap();
        assert_eq!(
            err,
            json!({"type": "result", "id": "c1", "error": {"code": "wrong_state", "message": "acked"}})
        );
        let patch = serde_json::to_value(Patch::FailedTotal { total: 3 }).unwrap();
        assert_eq!(patch, json!({"op": "failed_total", "total": 3}));
    }

    #[test]
    fn unknown_or_malformed_messages_are_rejected_with_a_reason() {
        for bad in [
            r#"{"type": "shutdown"}"#,
            r#"{"type": "hello"}"#,
            r#"{"protocol": 1}"#,
            r#"{"type": "hello", "protocol": "one"}"#,
            r#"{"type": "hello", "protocol": 1, "extra": true}"#,
            r#"{"type": "command", "id": "c", "command": {"name": "format_disk"}}"#,
            r#"{"type": "command", "id": "c", "command": {"name": "retry", "mottakersystem": "a"}}"#,
            // Protocol 1's untyped target is refused, not guessed at.
            r#"{"type": "command", "id": "c", "command": {"name": "retry", "mottakersystem": "a", "forsendelse": "f"}}"#,
            r#"{"type": "command", "id": "c", "command": {"name": "retry", "mottakersystem": "a", "target": {"thing": "f"}}}"#,
            r#"{"type": "command", "id": "c", "command": {"name": "grant", "principal": {"robot": "x"}, "role": "admin", "scope": "*"}}"#,
            r#"{"type": "command", "id": "c", "command": {"name": "grant", "principal": {"user": "x"}, "role": "root", "scope": "*"}}"#,
            r#"{"type": "command", "id": "c", "command": {"name": "grant", "principal": {"user": "x"}, "role": "admin", "scope": ""}}"#,
            "not json",
            "",
            "[]",
            "\u{0}\u{1}",
        ] {
            let err = ClientMessage::parse(bad).unwrap_err();
            assert!(err.contains("not a message"), "{bad}: {err}");
        }
    }

    #[test]
    fn an_error_reply_never_echoes_a_fodselsnummer() {
        let err = ClientMessage::parse(r#"{"type":"x","fnr":"01019012480"}"#).unwrap_err();
        assert!(!err.contains("01019012480"), "{err}");
        let err = ClientMessage::parse(r#"{"type":"hello","protocol":"01019012480"}"#).unwrap_err();
        assert!(!err.contains("01019012480"), "{err}");
    }

    #[test]
    fn text_is_masked_whenever_it_is_serialised() {
        let state = sample_state();
        let wire = serde_json::to_string(&ServerMessage::Snapshot { seq: 1, state }).unwrap();
        assert!(!wire.contains("01019012480"), "{wire}");
        assert!(wire.contains("Søknad fra ***********"), "{wire}");
        assert_eq!(mask_fnr("010190 12480 x"), "****** ***** x");
        assert_eq!(mask_fnr("123456789012"), "123456789012");
        assert_eq!(mask_fnr("1234567890"), "1234567890");
        assert!(matches!(mask_fnr("no digits"), Cow::Borrowed(_)));
        assert_eq!(Text::from("a 01019012480").raw(), "a 01019012480");
        assert_eq!(Text::from("a 01019012480").to_string(), "a ***********");
    }

    /// Ids and folder names from outside are masked too, in a snapshot and
    /// in a delta, while UUIDs stay readable; the agent keeps the raw id.
    #[test]
    fn ids_from_outside_are_masked_whenever_they_are_serialised() {
        const FNR: &str = "01019012480";
        let mut state = sample_state();
        let uuid = state.outbound[0].failures[0].digisos_id.clone();
        {
            let o = &mut state.outbound[0].failures[0];
            o.update_id = format!("ut.1700000000000.0.{FNR}").into();
            o.digisos_id = FNR.into();
            o.failed_folder = Some(format!("{FNR}-20231114T221320.000Z").into());
        }
        state.outbound[0].unmoved.push(UnmovedUpdate {
            update_id: format!("ut.1700000000001.0.{uuid}").into(),
            to: "ut-sendt".into(),
            error: "no".into(),
            since: 1,
        });
        state.failed.items[0].id = format!("sak-{FNR}").into();
        state.queues[0].oldest_unacknowledged.as_mut().unwrap().id = FNR.into();
        state.queues[0].stale_in_inn.oldest[0].name = FNR.into();
        state.audit[0].target = Some(format!("nav-frogn/{FNR}").into());
        state.audit[0].mottakersystem = Some(FNR.into());
        state.audit[0].command_id = Some(FNR.into());
        state.failed.items[0].forsendelse_type = Some(FNR.into());
        let wire = serde_json::to_string(&ServerMessage::Snapshot {
            seq: 1,
            state: state.clone(),
        })
        .unwrap();
        assert!(!wire.contains(FNR), "{wire}");
        assert!(
            wire.contains("\"update_id\":\"ut.1700000000000.0.***********\""),
            "{wire}"
        );
        assert!(
            wire.contains("\"failed_folder\":\"***********-20231114T221320.000Z\""),
            "{wire}"
        );
        assert!(wire.contains("\"id\":\"sak-***********\""), "{wire}");
        // The agent still has the real id; UUIDs are shown as they are.
        assert_eq!(state.outbound[0].failures[0].digisos_id.raw(), FNR);
        assert_eq!(uuid.shown(), uuid.raw());
        assert!(
            wire.contains(&format!("\"ut.1700000000001.0.{uuid}\"")),
            "{wire}"
        );
        // A delta removing a failed import names it masked as well.
        let mut gone = state.clone();
        gone.failed.items.clear();
        let delta = serde_json::to_string(&ServerMessage::Delta {
            seq: 2,
            patches: diff(&state, &gone),
        })
        .unwrap();
        assert!(delta.contains("failed_removed"), "{delta}");
        assert!(!delta.contains(FNR), "{delta}");
        // What a console received and sends back is the shown form.
        let seen: ConsoleState =
            serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
        assert_eq!(
            seen.outbound[0].failures[0].update_id,
            "ut.1700000000000.0.***********"
        );
        assert_eq!(
            state.outbound[0].failures[0].update_id.shown(),
            seen.outbound[0].failures[0].update_id.raw()
        );
    }

    #[test]
    fn roles_are_ordered_and_permissions_follow() {
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
        assert_eq!(Role::Viewer.permissions(), vec![Permission::View]);
        let op = Role::Operator.permissions();
        assert!(op.contains(&Permission::MarkPermanent));
        assert!(!op.contains(&Permission::ManageAccess));
        assert_eq!(Role::Admin.permissions(), Permission::ALL.to_vec());
        for c in all_commands() {
            let p = c.permission();
            assert!(!Role::Viewer.allows(p), "{}", c.name());
            assert!(Role::Admin.allows(p), "{}", c.name());
            let needs_admin = matches!(
                c,
                Command::Grant { .. }
                    | Command::Revoke { .. }
                    | Command::AddMember { .. }
                    | Command::RemoveMember { .. }
            );
            assert_eq!(Role::Operator.allows(p), !needs_admin, "{}", c.name());
        }
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Scope::parse("*"), Scope::All);
        assert!(Scope::All.covers("x"));
        assert!(!Scope::Mottakersystem("a".into()).covers("b"));
    }

    #[test]
    fn apply_of_diff_gives_the_new_state() {
        let old = sample_state();
        let mut new = old.clone();
        // Change each kind of section.
        new.queues[0].counts.insert(ForsendelseState::Acked, 13);
        new.queues.push(QueueHealth {
            mottakersystem: "aaa-first".into(),
            ..QueueHealth::default()
        });
        new.failed.items[0].attempts = 1;
        let mut second = new.failed.items[0].clone();
        second.id = "0-before".into();
        new.failed.items.push(second);
        new.failed.total = 2;
        new.integrations[0].svarinn.consecutive_failures = 2;
        new.alerts.push(Alert {
            key: "crit".into(),
            severity: Severity::Critical,
            mottakersystem: None,
            about: None,
            title: "x".into(),
            detail: "y".into(),
            since: None,
        });
        new.access.grants.clear();
        new.audit.push(AuditEntry {
            seq: 2,
            ..old.audit[0].clone()
        });
        new.normalize();
        assert_eq!(new.alerts[0].key, "crit", "worst first");
        let patches = diff(&old, &new);
        let mut applied = old.clone();
        applied.apply_all(&patches);
        assert_eq!(applied, new);
        // And back: removals.
        let back = diff(&new, &old);
        assert!(back.iter().any(|p| matches!(p, Patch::QueueRemoved { .. })));
        assert!(
            back.iter()
                .any(|p| matches!(p, Patch::FailedRemoved { .. }))
        );
        let mut applied = new.clone();
        applied.apply_all(&back);
        assert_eq!(applied, old);
        // No change, no patches.
        assert!(diff(&old, &old).is_empty());
    }

    #[test]
    fn command_metadata() {
        for c in all_commands() {
            assert!(!c.name().is_empty());
            assert!(!c.target().is_empty());
            let v = serde_json::to_value(&c).unwrap();
            assert_eq!(v["name"], c.name());
        }
        let c = Command::Grant {
            principal: Principal::User("x".into()),
            role: Role::Admin,
            scope: Scope::All,
        };
        assert_eq!(c.mottakersystem(), None);
        assert_eq!(c.target(), "user x: admin over *");
    }
}
