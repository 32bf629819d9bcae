//! Who may do what: roles, permissions, scopes and principals, decided here
//! once so the console hides exactly what the agent refuses. (Not `access`:
//! the agent has three modules by that name meaning other things.)

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

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
