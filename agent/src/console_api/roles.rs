//! Who may do what, as pure functions of the access list: the grants that
//! apply to a caller, their role per mottakersystem, whether a command is
//! allowed, and who can act on each mottakersystem's failed imports.
//!
//! A grant to a group applies to the group's members in the access list
//! and, for local (Unix socket) callers, to the members of the system group
//! of that name (local or from the directory, as the name service says:
//! `accounts`). Certificate users (TLS) get only access-list groups: a
//! certificate CN is not an account of the machine.
//!
//! Access *decisions* only: the access list is stored by `journal::access`
//! and edited from the command line by `commands::access`.

use std::collections::{BTreeMap, BTreeSet};

use mottak_protocol::console::{
    Command, Coverage, ErrorCode, Permission, Principal, Role, RoleGrant, Scope, SystemPermissions,
    Transport,
};

use crate::journal::access::Member;

/// The longest user or group name accepted.
pub const MAX_NAME_LEN: usize = 128;

/// Who is calling, as the transport established it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Login name (socket) or certificate CN (TLS).
    pub user: String,
    pub transport: Transport,
    /// System groups, local or from the directory (socket callers only).
    pub unix_groups: BTreeSet<String>,
}

impl Identity {
    /// The audit log's `via`.
    pub fn via(&self) -> &'static str {
        match self.transport {
            Transport::LocalSocket => "local_socket",
            Transport::Tls => "tls",
        }
    }
}

/// The access list as the journal holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessData {
    pub grants: Vec<RoleGrant>,
    pub members: Vec<Member>,
}

impl AccessData {
    /// The access-list groups `user` is in.
    pub fn groups_of(&self, user: &str) -> BTreeSet<String> {
        self.members
            .iter()
            .filter(|m| m.user == user)
            .map(|m| m.group.clone())
            .collect()
    }

    /// Every grant that applies to `who`, sorted.
    pub fn applicable(&self, who: &Identity) -> Vec<RoleGrant> {
        let mut groups = self.groups_of(&who.user);
        groups.extend(who.unix_groups.iter().cloned());
        let mut out: Vec<RoleGrant> = self
            .grants
            .iter()
            .filter(|g| match &g.principal {
                Principal::User(u) => u == &who.user,
                Principal::Group(gr) => groups.contains(gr),
            })
            .cloned()
            .collect();
        out.sort();
        out
    }

    /// The caller's highest role on each configured mottakersystem (absent: none).
    pub fn roles(&self, who: &Identity, systems: &[String]) -> BTreeMap<String, Role> {
        roles_by_system(&self.applicable(who), systems)
    }
}

/// The highest role per mottakersystem the grants give.
pub fn roles_by_system(grants: &[RoleGrant], systems: &[String]) -> BTreeMap<String, Role> {
    let mut out = BTreeMap::new();
    for system in systems {
        if let Some(role) = grants
            .iter()
            .filter(|g| g.scope.covers(system))
            .map(|g| g.role)
            .max()
        {
            out.insert(system.clone(), role);
        }
    }
    out
}

/// The `welcome` permissions for these roles.
pub fn permissions(roles: &BTreeMap<String, Role>) -> Vec<SystemPermissions> {
    roles
        .iter()
        .map(|(system, role)| SystemPermissions {
            mottakersystem: system.clone(),
            role: *role,
            permissions: role.permissions(),
        })
        .collect()
}

/// Whether the grants make the caller admin over all mottakersystemer
/// (a `*` grant: present and future ones).
fn admin_everywhere(grants: &[RoleGrant]) -> bool {
    grants
        .iter()
        .any(|g| g.scope == Scope::All && g.role == Role::Admin)
}

/// Whether the caller holds `permission` over `scope`.
pub fn allowed_over(grants: &[RoleGrant], permission: Permission, scope: &Scope) -> bool {
    match scope {
        Scope::All => grants
            .iter()
            .any(|g| g.scope == Scope::All && g.role.allows(permission)),
        Scope::Mottakersystem(m) => grants
            .iter()
            .any(|g| g.scope.covers(m) && g.role.allows(permission)),
    }
}

/// A refusal: the error code and a message for the person.
pub type Refusal = (ErrorCode, String);

/// Checks a command against the caller's grants (`applicable`), the
/// configured mottakersystemer and the whole access list. `Ok` means allowed.
pub fn check(
    command: &Command,
    who: &Identity,
    applicable: &[RoleGrant],
    systems: &[String],
    access: &AccessData,
) -> Result<(), Refusal> {
    let permission = command.permission();
    let forbidden = |over: &str| {
        (
            ErrorCode::Forbidden,
            format!(
                "{} may not {} over {over}: that needs the {} role there; ask an admin to grant it",
                who.user,
                command.name(),
                permission.minimum_role()
            ),
        )
    };
    match command {
        Command::Grant { scope, .. } | Command::Revoke { scope, .. } => {
            if let Scope::Mottakersystem(m) = scope
                && !systems.contains(m)
            {
                return Err(unknown_system(m, systems));
            }
            if !allowed_over(applicable, permission, scope) {
                return Err(forbidden(scope.as_str()));
            }
            Ok(())
        }
        Command::AddMember { group, .. } | Command::RemoveMember { group, .. } => {
            // Changing a group's members hands out all of the group's roles:
            // the caller must be admin over every scope the group holds.
            let scopes: BTreeSet<&Scope> = access
                .grants
                .iter()
                .filter(|g| g.principal == Principal::Group(group.clone()))
                .map(|g| &g.scope)
                .collect();
            if scopes.is_empty() {
                let admin_somewhere = admin_everywhere(applicable)
                    || systems.iter().any(|m| {
                        allowed_over(applicable, permission, &Scope::Mottakersystem(m.clone()))
                    });
                return if admin_somewhere {
                    Ok(())
                } else {
                    Err(forbidden("any mottakersystem"))
                };
            }
            for scope in scopes {
                if !allowed_over(applicable, permission, scope) {
                    return Err(forbidden(&format!(
                        "{} (group {group} holds a role there)",
                        scope.as_str()
                    )));
                }
            }
            Ok(())
        }
        _ => {
            let Some(system) = command.mottakersystem() else {
                return Err(forbidden("no mottakersystem"));
            };
            if !systems.iter().any(|s| s == system) {
                return Err(unknown_system(system, systems));
            }
            if allowed_over(
                applicable,
                permission,
                &Scope::Mottakersystem(system.to_owned()),
            ) {
                Ok(())
            } else {
                Err(forbidden(system))
            }
        }
    }
}

fn unknown_system(name: &str, systems: &[String]) -> Refusal {
    (
        ErrorCode::NotFound,
        format!(
            "there is no mottakersystem {name:?} in the agent's config (it has: {})",
            systems.join(", ")
        ),
    )
}

/// Why a user or group name from a console or the command line is refused
/// (`kind` is "user" or "group").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("the {kind} name {name:?} is empty or has spaces around it")]
    Blank { kind: String, name: String },
    #[error("the {kind} name {name:?} is longer than {max} characters or holds control characters", max = MAX_NAME_LEN)]
    Unfit { kind: String, name: String },
    #[error("{kind} name \"*\" is reserved for \"all\"")]
    Reserved { kind: String },
}

/// Checks a user or group name from a console or the command line.
pub fn check_name(kind: &str, name: &str) -> Result<(), NameError> {
    let (kind, owned) = (kind.to_owned(), name.to_owned());
    if name.trim().is_empty() || name.trim() != name {
        return Err(NameError::Blank { kind, name: owned });
    }
    if name.chars().count() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(NameError::Unfit { kind, name: owned });
    }
    if name == "*" {
        return Err(NameError::Reserved { kind });
    }
    Ok(())
}

/// The groups granted a role that acts on failed imports: those whose
/// system members [`coverage`] needs.
pub fn acting_groups(access: &AccessData) -> BTreeSet<String> {
    access
        .grants
        .iter()
        .filter(|g| g.role.allows(Permission::Retry))
        .filter_map(|g| match &g.principal {
            Principal::Group(group) => Some(group.clone()),
            Principal::User(_) => None,
        })
        .collect()
}

/// Per configured mottakersystem, the people who can act on failed imports
/// (operator or admin over it), with a warning when fewer than two.
/// `system_members` holds the members the name service lists for the
/// groups of [`acting_groups`] (absent: none known).
pub fn coverage(
    access: &AccessData,
    system_members: &BTreeMap<String, BTreeSet<String>>,
    systems: &[String],
) -> Vec<Coverage> {
    systems
        .iter()
        .map(|system| {
            let mut people: BTreeSet<String> = BTreeSet::new();
            for g in access
                .grants
                .iter()
                .filter(|g| g.scope.covers(system) && g.role.allows(Permission::Retry))
            {
                match &g.principal {
                    Principal::User(u) => {
                        people.insert(u.clone());
                    }
                    Principal::Group(group) => {
                        people.extend(
                            access
                                .members
                                .iter()
                                .filter(|m| &m.group == group)
                                .map(|m| m.user.clone()),
                        );
                        people.extend(system_members.get(group).into_iter().flatten().cloned());
                    }
                }
            }
            let warning = match people.len() {
                0 => Some(format!(
                    "nobody can act on failed imports of {system}: grant the operator role to two people (mottak-agent access grant --user NAME --role operator --system {system})"
                )),
                1 => Some(format!(
                    "only {} can act on failed imports of {system}: grant the operator role to one more person, so someone can act when they are away",
                    people.iter().next().map(String::as_str).unwrap_or("one person")
                )),
                _ => None,
            };
            Coverage {
                mottakersystem: system.clone(),
                can_act: people.into_iter().collect(),
                warning,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mottak_protocol::console::Target;

    fn user(name: &str) -> Identity {
        Identity {
            user: name.into(),
            transport: Transport::LocalSocket,
            unix_groups: BTreeSet::new(),
        }
    }

    fn grant(p: Principal, role: Role, scope: &str) -> RoleGrant {
        RoleGrant {
            principal: p,
            role,
            scope: Scope::parse(scope),
        }
    }

    fn systems() -> Vec<String> {
        vec!["a".into(), "b".into()]
    }

    #[test]
    fn a_member_of_two_groups_has_both() {
        let access = AccessData {
            grants: vec![
                grant(Principal::Group("a-ops".into()), Role::Operator, "a"),
                grant(Principal::Group("b-view".into()), Role::Viewer, "b"),
                grant(Principal::Group("other".into()), Role::Admin, "*"),
            ],
            members: vec![
                Member {
                    user: "kari".into(),
                    group: "a-ops".into(),
                },
                Member {
                    user: "kari".into(),
                    group: "b-view".into(),
                },
            ],
        };
        let roles = access.roles(&user("kari"), &systems());
        assert_eq!(roles.get("a"), Some(&Role::Operator));
        assert_eq!(roles.get("b"), Some(&Role::Viewer));
        assert!(access.roles(&user("ola"), &systems()).is_empty());
        // A Unix group of the same name counts for a local caller.
        let mut ola = user("ola");
        ola.unix_groups.insert("other".into());
        let roles = access.roles(&ola, &systems());
        assert_eq!(roles.get("a"), Some(&Role::Admin));
        assert_eq!(roles.get("b"), Some(&Role::Admin));
        assert_eq!(
            permissions(&roles)[0].permissions,
            Role::Admin.permissions()
        );
    }

    #[test]
    fn commands_need_the_role_over_their_scope() {
        let access = AccessData {
            grants: vec![
                grant(Principal::User("op".into()), Role::Operator, "a"),
                grant(Principal::User("adm-a".into()), Role::Admin, "a"),
                grant(Principal::User("root".into()), Role::Admin, "*"),
                grant(Principal::Group("g".into()), Role::Viewer, "*"),
            ],
            members: vec![],
        };
        let sys = systems();
        let run = |who: &str, c: Command| {
            let id = user(who);
            check(&c, &id, &access.applicable(&id), &sys, &access)
        };
        let retry = |m: &str| Command::Retry {
            mottakersystem: m.into(),
            target: Target::Forsendelse("f".into()),
        };
        assert!(run("op", retry("a")).is_ok());
        assert_eq!(run("op", retry("b")).unwrap_err().0, ErrorCode::Forbidden);
        assert_eq!(run("op", retry("zz")).unwrap_err().0, ErrorCode::NotFound);
        let give = |scope: &str| Command::Grant {
            principal: Principal::User("x".into()),
            role: Role::Viewer,
            scope: Scope::parse(scope),
        };
        assert!(run("adm-a", give("a")).is_ok());
        assert_eq!(run("adm-a", give("b")).unwrap_err().0, ErrorCode::Forbidden);
        assert_eq!(run("adm-a", give("*")).unwrap_err().0, ErrorCode::Forbidden);
        assert!(run("root", give("*")).is_ok());
        assert_eq!(run("op", give("a")).unwrap_err().0, ErrorCode::Forbidden);
        // Group g holds viewer over *: only an admin over * may change its members.
        let add = Command::AddMember {
            user: "x".into(),
            group: "g".into(),
        };
        assert_eq!(
            run("adm-a", add.clone()).unwrap_err().0,
            ErrorCode::Forbidden
        );
        assert!(run("root", add).is_ok());
        // An empty group: any admin.
        let add = Command::AddMember {
            user: "x".into(),
            group: "new".into(),
        };
        assert!(run("adm-a", add.clone()).is_ok());
        assert_eq!(run("op", add).unwrap_err().0, ErrorCode::Forbidden);
        let msg = run("op", retry("b")).unwrap_err().1;
        assert!(
            msg.contains("operator") && msg.contains("ask an admin"),
            "{msg}"
        );
    }

    #[test]
    fn coverage_counts_people_through_users_groups_and_unix_groups() {
        let system_members: BTreeMap<String, BTreeSet<String>> =
            [("mottak-ops".to_owned(), ["ola".to_owned()].into())].into();
        let access = AccessData {
            grants: vec![
                grant(Principal::User("kari".into()), Role::Admin, "a"),
                grant(Principal::Group("mottak-ops".into()), Role::Operator, "a"),
                grant(Principal::User("viewer".into()), Role::Viewer, "*"),
                grant(Principal::Group("drift".into()), Role::Operator, "b"),
            ],
            members: vec![Member {
                user: "per".into(),
                group: "drift".into(),
            }],
        };
        assert_eq!(
            acting_groups(&access).into_iter().collect::<Vec<_>>(),
            ["drift", "mottak-ops"]
        );
        let cov = coverage(&access, &system_members, &systems());
        assert_eq!(cov[0].can_act, ["kari", "ola"]);
        assert_eq!(cov[0].warning, None);
        assert_eq!(cov[1].can_act, ["per"]);
        assert!(cov[1].warning.as_deref().unwrap().contains("only per"));
        let none = coverage(&AccessData::default(), &system_members, &systems());
        assert!(none[0].warning.as_deref().unwrap().contains("nobody"));
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("user", "kari").is_ok());
        assert!(check_name("user", "Kari Nordmann").is_ok());
        for bad in ["", " kari", "a\nb", "*"] {
            assert!(check_name("user", bad).is_err(), "{bad:?}");
        }
        assert!(check_name("user", &"x".repeat(129)).is_err());
    }
}
