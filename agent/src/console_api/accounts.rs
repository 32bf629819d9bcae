//! Local accounts from `/etc/passwd` and `/etc/group`: the login name of a
//! peer uid, a user's groups, a group's members. Read as files (no libc, no
//! NSS): accounts that exist only in LDAP/SSSD are not found, and such a
//! user is refused with a message that says so.

use std::collections::BTreeSet;
use std::path::Path;

pub const PASSWD: &str = "/etc/passwd";
pub const GROUP: &str = "/etc/group";

/// One line of `/etc/passwd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// One line of `/etc/group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// The machine's local accounts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accounts {
    pub users: Vec<User>,
    pub groups: Vec<Group>,
}

impl Accounts {
    /// Reads `/etc/passwd` and `/etc/group`; a file that cannot be read
    /// counts as empty (the caller then finds nobody, and says so).
    pub fn load() -> Accounts {
        Accounts::from_files(Path::new(PASSWD), Path::new(GROUP))
    }

    pub fn from_files(passwd: &Path, group: &Path) -> Accounts {
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        Accounts::parse(&read(passwd), &read(group))
    }

    /// Parses the two files' text; malformed lines are skipped.
    pub fn parse(passwd: &str, group: &str) -> Accounts {
        let users = passwd
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|line| {
                let f: Vec<&str> = line.split(':').collect();
                if f.len() < 4 || f[0].is_empty() {
                    return None;
                }
                Some(User {
                    name: f[0].to_owned(),
                    uid: f[2].parse().ok()?,
                    gid: f[3].parse().ok()?,
                })
            })
            .collect();
        let groups = group
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|line| {
                let f: Vec<&str> = line.split(':').collect();
                if f.len() < 3 || f[0].is_empty() {
                    return None;
                }
                Some(Group {
                    name: f[0].to_owned(),
                    gid: f[2].parse().ok()?,
                    members: f
                        .get(3)
                        .map(|m| {
                            m.split(',')
                                .map(str::trim)
                                .filter(|s| !s.is_empty())
                                .map(str::to_owned)
                                .collect()
                        })
                        .unwrap_or_default(),
                })
            })
            .collect();
        Accounts { users, groups }
    }

    /// The login name of `uid` (the first entry, as getpwuid does).
    pub fn user_name(&self, uid: u32) -> Option<&str> {
        self.users
            .iter()
            .find(|u| u.uid == uid)
            .map(|u| u.name.as_str())
    }

    pub fn gid_of(&self, group: &str) -> Option<u32> {
        self.groups.iter().find(|g| g.name == group).map(|g| g.gid)
    }

    /// The groups `user` belongs to: its primary group and every group
    /// listing it.
    pub fn groups_of(&self, user: &str) -> BTreeSet<String> {
        let primary = self.users.iter().find(|u| u.name == user).map(|u| u.gid);
        self.groups
            .iter()
            .filter(|g| Some(g.gid) == primary || g.members.iter().any(|m| m == user))
            .map(|g| g.name.clone())
            .collect()
    }

    /// The members of `group`: those it lists and those whose primary group it is.
    pub fn members_of(&self, group: &str) -> BTreeSet<String> {
        let Some(g) = self.groups.iter().find(|g| g.name == group) else {
            return BTreeSet::new();
        };
        let mut out: BTreeSet<String> = g.members.iter().cloned().collect();
        out.extend(
            self.users
                .iter()
                .filter(|u| u.gid == g.gid)
                .map(|u| u.name.clone()),
        );
        out
    }
}

/// The uid of this process (the owner of `/proc/self`).
pub fn current_uid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD_TEXT: &str = "root:x:0:0:root:/root:/bin/bash
# a comment
kari:x:1000:1000:Kari:/home/kari:/bin/bash
ola:x:1001:1001::/home/ola:/bin/sh
broken line
mottak:x:999:999::/var/lib/mottak:/usr/sbin/nologin
";
    const GROUP_TEXT: &str = "root:x:0:
kari:x:1000:
ola:x:1001:
mottak-ops:x:990:kari, ola ,
mottak:x:999:
drift:x:991:ola
";

    #[test]
    fn names_groups_and_members() {
        let a = Accounts::parse(PASSWD_TEXT, GROUP_TEXT);
        assert_eq!(a.user_name(0), Some("root"));
        assert_eq!(a.user_name(1000), Some("kari"));
        assert_eq!(a.user_name(4242), None);
        assert_eq!(a.gid_of("mottak-ops"), Some(990));
        assert_eq!(
            a.groups_of("ola").into_iter().collect::<Vec<_>>(),
            ["drift", "mottak-ops", "ola"]
        );
        assert_eq!(
            a.members_of("mottak-ops").into_iter().collect::<Vec<_>>(),
            ["kari", "ola"]
        );
        assert_eq!(
            a.members_of("mottak").into_iter().collect::<Vec<_>>(),
            ["mottak"]
        );
        assert!(a.members_of("nope").is_empty());
    }

    #[test]
    fn the_real_files_name_root() {
        let a = Accounts::load();
        assert_eq!(a.user_name(0), Some("root"));
        assert!(current_uid().is_some());
    }
}
