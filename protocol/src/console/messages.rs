//! The frames on the websocket: console → agent ([`ClientMessage`],
//! [`Command`]), agent → console ([`ServerMessage`], [`Outcome`],
//! [`ErrorCode`]) and the close codes.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{
    ConsoleState, Patch, Permission, Principal, Role, RoleGrant, Scope, SystemPermissions,
    Transport, mask_fnr,
};

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
    /// An outbound saksoppdatering, by its `update_id` (see [`OutboundItem`](super::OutboundItem)).
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
#[allow(
    clippy::large_enum_variant,
    reason = "a message is built, sent and dropped one at a time, never held in bulk; boxing the snapshot would only add an allocation"
)]
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
    /// The frame was larger than [`MAX_CLIENT_FRAME_BYTES`](super::MAX_CLIENT_FRAME_BYTES).
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
