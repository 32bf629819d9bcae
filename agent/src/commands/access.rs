//! `mottak-agent access`: the access lists from the command line, for the
//! first admin and for scripts. Every change is written to the audit log
//! (`via = cli`, `who` = the login name running the command).
//!
//! ```text
//! mottak-agent access grant --user kari --role admin --all
//! mottak-agent access grant --group drift --role operator --system nav-frogn
//! mottak-agent access add-member --user ola --group drift
//! mottak-agent access list
//! ```
//!
//! Run it as the agent's user, or as root: a journal created by root is
//! given to the owner of `state_dir`, so the agent can still write it.

use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use mottak_protocol::console::{Principal, Role, RoleGrant, Scope};

use crate::config::{self, Config};
use crate::console_api::accounts::{self, Directory, Nss};
use crate::console_api::roles::{AccessData, acting_groups, check_name, coverage};
use crate::journal::access::AuditNote;
use crate::journal::{Journal, SystemClock};

/// Arguments of `mottak-agent access`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Give a user or a group a role over one or more mottakersystemer (or all).
    Grant(GrantArgs),
    /// Take a role away (the same arguments as the grant).
    Revoke(GrantArgs),
    /// Put a user in a group of the access list.
    AddMember(MemberArgs),
    /// Take a user out of a group of the access list.
    RemoveMember(MemberArgs),
    /// Print the grants, the members and who can act on each mottakersystem.
    List,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("who").required(true).args(["user", "group"])))]
#[command(group(clap::ArgGroup::new("where").required(true).args(["system", "all"])))]
pub struct GrantArgs {
    /// A login name (local console) or a client certificate's CN (remote console).
    #[arg(long)]
    pub user: Option<String>,
    /// A group: of the access list (see add-member), or a system group of that
    /// name, local or from the directory (SSSD, LDAP: as `getent group NAME` shows it).
    #[arg(long)]
    pub group: Option<String>,
    /// viewer, operator or admin.
    #[arg(long, value_parser = parse_role)]
    pub role: Role,
    /// A mottakersystem's name; repeat for several.
    #[arg(long)]
    pub system: Vec<String>,
    /// Every mottakersystem, including ones added later.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, clap::Args)]
pub struct MemberArgs {
    #[arg(long)]
    pub user: String,
    #[arg(long)]
    pub group: String,
}

/// A `--role` that is none of the three.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a role: use viewer, operator or admin")]
pub struct UnknownRole(String);

fn parse_role(s: &str) -> Result<Role, UnknownRole> {
    Role::parse(s).ok_or_else(|| UnknownRole(s.to_owned()))
}

/// `mottak-agent access` with the config file at `config_path` (for
/// `state_dir` and the mottakersystemer).
pub fn run(config_path: &Path, args: &Args) -> anyhow::Result<ExitCode> {
    let config = config::load(config_path)?;
    let systems: Vec<String> = config
        .mottakersystemer
        .iter()
        .map(|m| m.name.as_str().to_owned())
        .collect();
    let mut journal = open_journal(&config)?;
    let who = cli_user();
    let note = |action: &str, mottakersystem: Option<String>, target: String| AuditNote {
        who: who.clone(),
        via: "cli".into(),
        action: action.into(),
        mottakersystem,
        target: Some(target),
        reason: None,
        outcome: "ok".into(),
        command_id: None,
    };
    let mut out = String::new();
    match &args.action {
        Action::Grant(g) | Action::Revoke(g) => {
            let granting = matches!(args.action, Action::Grant(_));
            let action = if granting { "grant" } else { "revoke" };
            for grant in grants_of(g, &systems)? {
                let target = format!(
                    "{}: {} over {}",
                    grant.principal,
                    grant.role,
                    grant.scope.as_str()
                );
                let system = match &grant.scope {
                    Scope::All => None,
                    Scope::Mottakersystem(m) => Some(m.clone()),
                };
                let n = note(action, system, target.clone());
                let changed = if granting {
                    journal.grant(&grant, &n)
                } else {
                    journal.revoke(&grant, &n)
                }
                .with_context(|| format!("cannot {action} {target}"))?;
                let _ = match (granting, changed) {
                    (true, true) => writeln!(out, "granted {target}"),
                    (true, false) => writeln!(out, "already granted: {target}"),
                    (false, true) => writeln!(out, "revoked {target}"),
                    (false, false) => writeln!(
                        out,
                        "no such grant: {target} (see `mottak-agent access list`)"
                    ),
                };
            }
        }
        Action::AddMember(m) | Action::RemoveMember(m) => {
            check_name("user", &m.user).map_err(anyhow::Error::msg)?;
            check_name("group", &m.group).map_err(anyhow::Error::msg)?;
            let adding = matches!(args.action, Action::AddMember(_));
            let action = if adding {
                "add_member"
            } else {
                "remove_member"
            };
            let target = format!("user {} in group {}", m.user, m.group);
            let n = note(action, None, target.clone());
            let changed = if adding {
                journal.add_member(&m.user, &m.group, &n)
            } else {
                journal.remove_member(&m.user, &m.group, &n)
            }
            .with_context(|| format!("cannot change {target}"))?;
            let _ = match (adding, changed) {
                (true, true) => writeln!(out, "added {target}"),
                (true, false) => writeln!(out, "already there: {target}"),
                (false, true) => writeln!(out, "removed {target}"),
                (false, false) => writeln!(out, "not a member: {target}"),
            };
        }
        Action::List => {}
    }
    let access = AccessData {
        grants: journal.grants()?,
        members: journal.members()?,
    };
    if matches!(args.action, Action::List) {
        out.push_str(&listing(&access));
    }
    if let Action::Grant(GrantArgs {
        group: Some(group), ..
    }) = &args.action
        && let Some(note) = group_note(group, &access)
    {
        let _ = writeln!(out, "note: {note}");
    }
    let members = Directory::system().group_members_blocking(&acting_groups(&access));
    for c in coverage(&access, &members, &systems) {
        if let Some(w) = c.warning {
            let _ = writeln!(out, "warning: {w}");
        }
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// The grants a `grant`/`revoke` names: one per `--system`, or one over all.
fn grants_of(g: &GrantArgs, systems: &[String]) -> anyhow::Result<Vec<RoleGrant>> {
    let principal = match (&g.user, &g.group) {
        (Some(u), None) => {
            check_name("user", u).map_err(anyhow::Error::msg)?;
            Principal::User(u.clone())
        }
        (None, Some(gr)) => {
            check_name("group", gr).map_err(anyhow::Error::msg)?;
            Principal::Group(gr.clone())
        }
        _ => bail!("give either --user or --group"),
    };
    if g.all {
        return Ok(vec![RoleGrant {
            principal,
            role: g.role,
            scope: Scope::All,
        }]);
    }
    let mut out = Vec::new();
    for s in &g.system {
        if !systems.contains(s) {
            bail!(
                "there is no mottakersystem {s:?} in the config (it has: {}); use a configured name or --all",
                systems.join(", ")
            );
        }
        out.push(RoleGrant {
            principal: principal.clone(),
            role: g.role,
            scope: Scope::Mottakersystem(s.clone()),
        });
    }
    Ok(out)
}

fn listing(access: &AccessData) -> String {
    let mut out = String::new();
    if access.grants.is_empty() {
        out.push_str("no grants: nobody can use the console. Start with\n  mottak-agent access grant --user YOUR-LOGIN --role admin --all\n");
    } else {
        let _ = writeln!(out, "{:<7} {:<24} {:<9} scope", "kind", "name", "role");
        for g in &access.grants {
            let _ = writeln!(
                out,
                "{:<7} {:<24} {:<9} {}",
                g.principal.kind(),
                g.principal.name(),
                g.role.as_str(),
                g.scope.as_str()
            );
        }
    }
    if !access.members.is_empty() {
        out.push_str(
            "\ngroup members (besides the members of a system or directory group of the same name):\n",
        );
        for m in &access.members {
            let _ = writeln!(out, "  {:<24} {}", m.group, m.user);
        }
    }
    out
}

/// The login name running this command, from the name service (`uid:N`
/// when it has none).
fn cli_user() -> String {
    let uid = accounts::current_uid();
    accounts::lookup_peer(&Nss, uid).map_or_else(|_| format!("uid:{uid}"), |p| p.name)
}

/// A note when a granted group is neither known to the name service nor
/// an access-list group with members: the grant is kept (the group may be
/// filled later), but a mistyped directory name should not go unnoticed.
fn group_note(group: &str, access: &AccessData) -> Option<String> {
    if access.members.iter().any(|m| m.group == group) {
        return None;
    }
    match accounts::lookup_group(&Nss, group) {
        Ok(Some(_)) => None,
        Ok(None) => Some(format!(
            "there is no group {group} in the name service (`getent group {group}` finds none) and none in the access list: the grant applies once either exists; add members with `mottak-agent access add-member --group {group} --user NAME`, or check the directory group's name (through SSSD often `{group}@domain`, as `id USER` shows it)"
        )),
        Err(err) => Some(format!(
            "{err}; the grant is kept and applies to group {group} once the name service knows it"
        )),
    }
}

/// Opens (creating, the first time) the journal in `state_dir`. A journal
/// this command creates as another user than the owner of `state_dir`
/// (root, typically) is handed to that owner, so the agent can write it.
fn open_journal(config: &Config) -> anyhow::Result<Journal> {
    let state_dir = &config.agent.state_dir;
    std::fs::create_dir_all(state_dir)
        .with_context(|| format!("cannot create state_dir {}", state_dir.display()))?;
    let path = config.agent.journal_path();
    let existed = path.exists();
    let journal = Journal::open(&path, Arc::new(SystemClock))
        .with_context(|| format!("cannot open the journal {}", path.display()))?;
    if !existed {
        give_to_owner_of(state_dir, &path)?;
    }
    Ok(journal)
}

fn give_to_owner_of(dir: &Path, journal: &Path) -> anyhow::Result<()> {
    let owner =
        std::fs::metadata(dir).with_context(|| format!("cannot inspect {}", dir.display()))?;
    let mine = std::fs::metadata(journal)
        .with_context(|| format!("cannot inspect {}", journal.display()))?;
    if mine.uid() == owner.uid() {
        return Ok(());
    }
    let mut files = vec![journal.to_owned()];
    for suffix in ["-wal", "-shm"] {
        let mut p = journal.as_os_str().to_owned();
        p.push(suffix);
        let p = PathBuf::from(p);
        if p.exists() {
            files.push(p);
        }
    }
    for f in files {
        std::os::unix::fs::chown(&f, Some(owner.uid()), Some(owner.gid())).with_context(|| {
            format!(
                "created the journal {} but cannot give it to the owner of {} (uid {}); run this command as that user, or chown the file",
                f.display(),
                dir.display(),
                owner.uid()
            )
        })?;
    }
    Ok(())
}
