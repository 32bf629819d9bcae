//! Accounts through the system's name service (NSS: `/etc/passwd` and
//! `/etc/group`, SSSD, LDAP, winbind, whatever `/etc/nsswitch.conf` names):
//! the login name of a socket peer's uid and every group it is in, and the
//! listed members of a group. The calls are libc's (`getpwuid_r`,
//! `getgrouplist`, `getgrgid_r`, `getgrnam_r`) through the `nix` crate, so
//! `unsafe` stays out of this workspace.
//!
//! Those calls block, and a directory behind them can take seconds or hang
//! (SSSD offline, an LDAP server that drops packets). [`Directory`] runs
//! each lookup on a thread of its own, lets a caller wait at most
//! `timeout` for it, shares one lookup between everyone asking the same
//! thing at once, caps the lookups that have not returned, and keeps
//! answers for `ttl`. So a slow directory delays only the console that
//! waits for its own name (and then refuses it, naming the uid and what to
//! check); the accept loop, other consoles and the state builder go on.
//!
//! The lookup threads are plain threads, not tokio's blocking pool: a call
//! hung in the name service would hold the runtime's shutdown (dropping a
//! runtime waits for its blocking tasks) and take a slot the decryptions
//! need. A hung thread ends with the process.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::Hash;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use nix::unistd::{Gid, Uid};

/// A user as the name service gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    /// The primary group.
    pub gid: u32,
}

/// A group as the name service gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub gid: u32,
    /// The members the group lists (`gr_mem`). Users whose primary group it
    /// is are not listed: finding them means enumerating every user, which
    /// directories (SSSD's `enumerate = false`) rightly refuse.
    pub members: BTreeSet<String>,
}

/// A socket peer: its login name and every group it is in (primary and
/// supplementary, as `getgrouplist` gives them; `id NAME` shows the same).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub uid: u32,
    pub name: String,
    pub groups: BTreeSet<String>,
}

/// Why a name could not be looked up. Each message names what was looked
/// up and what to check; they reach the refused console and the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error(
        "uid {uid} is not known to the name service (getpwuid found no entry), so the agent cannot name it and refuses it: `getent passwd {uid}` on the agent's machine must print the user; check the passwd line of /etc/nsswitch.conf (e.g. `passwd: files sss`) and that sssd is running (`systemctl status sssd`)"
    )]
    UnknownUid { uid: u32 },
    #[error(
        "the name service failed to look up {what}: {error}; check /etc/nsswitch.conf and the directory service (`systemctl status sssd`, `{getent}`)"
    )]
    Failed {
        what: String,
        getent: String,
        error: String,
    },
    #[error(
        "the name service did not answer for {what} within {waited:?}: the directory (SSSD, LDAP) is slow or unreachable; check `systemctl status sssd` and that `{getent}` answers quickly, then connect again"
    )]
    TimedOut {
        what: String,
        getent: String,
        waited: Duration,
    },
    #[error(
        "{what} was not looked up: {n} name-service lookups are still waiting for the directory (SSSD, LDAP), which seems to hang; check `systemctl status sssd` and `{getent}`"
    )]
    Busy {
        what: String,
        getent: String,
        n: usize,
    },
}

/// The name service's three questions, so tests can answer them.
/// Implementations block; errors are the C library's, as text.
pub trait NameService: Send + Sync + 'static {
    fn user_by_uid(&self, uid: u32) -> Result<Option<User>, String>;
    /// Every gid `user` is in, its primary group `user.gid` included.
    fn group_ids(&self, user: &User) -> Result<Vec<u32>, String>;
    fn group_by_gid(&self, gid: u32) -> Result<Option<Group>, String>;
    fn group_by_name(&self, name: &str) -> Result<Option<Group>, String>;
}

/// The system's name service, through libc.
#[derive(Debug, Clone, Copy, Default)]
pub struct Nss;

fn group_of(g: nix::unistd::Group) -> Group {
    Group {
        name: g.name,
        gid: g.gid.as_raw(),
        members: g.mem.into_iter().collect(),
    }
}

/// An answer of `getpwuid_r`/`getgr*_r`: besides "no entry" (0 and no
/// result), these errors mean "not found" too (getpwnam(3): ENOENT, ESRCH,
/// EBADF, EPERM), as nss_wrapper and some directory modules say it.
fn found<T>(answer: nix::Result<Option<T>>) -> Result<Option<T>, String> {
    use nix::errno::Errno;
    match answer {
        Ok(found) => Ok(found),
        Err(Errno::ENOENT | Errno::ESRCH | Errno::EBADF | Errno::EPERM) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

impl NameService for Nss {
    fn user_by_uid(&self, uid: u32) -> Result<Option<User>, String> {
        found(nix::unistd::User::from_uid(Uid::from_raw(uid))).map(|u| {
            u.map(|u| User {
                name: u.name,
                uid: u.uid.as_raw(),
                gid: u.gid.as_raw(),
            })
        })
    }

    fn group_ids(&self, user: &User) -> Result<Vec<u32>, String> {
        let name = std::ffi::CString::new(user.name.as_str())
            .map_err(|_| format!("the login name {:?} holds a NUL byte", user.name))?;
        nix::unistd::getgrouplist(&name, Gid::from_raw(user.gid))
            .map(|gids| gids.into_iter().map(Gid::as_raw).collect())
            .map_err(|e| e.to_string())
    }

    fn group_by_gid(&self, gid: u32) -> Result<Option<Group>, String> {
        found(nix::unistd::Group::from_gid(Gid::from_raw(gid))).map(|g| g.map(group_of))
    }

    fn group_by_name(&self, name: &str) -> Result<Option<Group>, String> {
        found(nix::unistd::Group::from_name(name)).map(|g| g.map(group_of))
    }
}

/// Looks up a peer: its name, then its groups' names (a gid the name
/// service cannot name is left out: no grant can name it either). Blocks.
pub fn lookup_peer(ns: &dyn NameService, uid: u32) -> Result<Peer, LookupError> {
    let failed = |what: String, error: String| LookupError::Failed {
        what,
        getent: format!("getent passwd {uid}"),
        error,
    };
    let user = ns
        .user_by_uid(uid)
        .map_err(|e| failed(format!("uid {uid}"), e))?
        .ok_or(LookupError::UnknownUid { uid })?;
    let what = || format!("the groups of uid {uid} ({})", user.name);
    let mut groups = BTreeSet::new();
    for gid in ns.group_ids(&user).map_err(|e| failed(what(), e))? {
        if let Some(g) = ns.group_by_gid(gid).map_err(|e| failed(what(), e))? {
            groups.insert(g.name);
        }
    }
    Ok(Peer {
        uid,
        name: user.name,
        groups,
    })
}

/// Looks up a group by name (`None`: the name service has none). Blocks.
pub fn lookup_group(ns: &dyn NameService, name: &str) -> Result<Option<Group>, LookupError> {
    ns.group_by_name(name).map_err(|error| LookupError::Failed {
        what: format!("group {name}"),
        getent: format!("getent group {name}"),
        error,
    })
}

/// The effective uid of this process.
pub fn current_uid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// How long answers are kept and waited for.
#[derive(Debug, Clone)]
pub struct DirectorySettings {
    /// An answer is reused this long (a group change reaches new console
    /// connections within it; SSSD keeps its own cache besides).
    pub ttl: Duration,
    /// A caller waits this long for the name service, then is refused.
    pub timeout: Duration,
    /// Lookups that have not returned yet, at most; more are refused at once.
    pub max_in_flight: usize,
}

impl Default for DirectorySettings {
    fn default() -> Self {
        DirectorySettings {
            ttl: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            max_in_flight: 8,
        }
    }
}

/// The name service with deadlines, shared lookups and a short cache.
pub struct Directory {
    ns: Arc<dyn NameService>,
    settings: DirectorySettings,
    peers: Cache<u32, Peer>,
    groups: Cache<String, Option<Group>>,
    in_flight: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("settings", &self.settings)
            .field("in_flight", &self.in_flight.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Directory {
    /// The process's directory: the system's name service, default settings.
    pub fn system() -> &'static Directory {
        static SYSTEM: OnceLock<Directory> = OnceLock::new();
        SYSTEM.get_or_init(|| Directory::new(Arc::new(Nss), DirectorySettings::default()))
    }

    pub fn new(ns: Arc<dyn NameService>, settings: DirectorySettings) -> Directory {
        Directory {
            ns,
            settings,
            peers: Cache::default(),
            groups: Cache::default(),
            in_flight: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The peer with `uid`: a cached answer, or one the name service gives
    /// within `timeout`.
    pub async fn peer(&self, uid: u32) -> Result<Peer, LookupError> {
        let flight = self.peer_flight(uid)?;
        flight.wait(self.settings.timeout).await.unwrap_or_else(|| {
            Err(self.timed_out(format!("uid {uid}"), format!("getent passwd {uid}")))
        })
    }

    /// [`Directory::peer`] for code off the async runtime.
    pub fn peer_blocking(&self, uid: u32) -> Result<Peer, LookupError> {
        let flight = self.peer_flight(uid)?;
        flight
            .wait_blocking(self.settings.timeout)
            .unwrap_or_else(|| {
                Err(self.timed_out(format!("uid {uid}"), format!("getent passwd {uid}")))
            })
    }

    /// The group `name` (`None`: the name service has none).
    pub async fn group(&self, name: &str) -> Result<Option<Group>, LookupError> {
        let flight = self.group_flight(name)?;
        flight
            .wait(self.settings.timeout)
            .await
            .unwrap_or_else(|| Err(self.group_timed_out(name)))
    }

    /// Several groups at once, for code off the async runtime: every lookup
    /// starts before the first is waited for, and all share one deadline.
    pub fn groups_blocking(
        &self,
        names: &BTreeSet<String>,
    ) -> BTreeMap<String, Result<Option<Group>, LookupError>> {
        let flights: Vec<_> = names
            .iter()
            .map(|n| (n.clone(), self.group_flight(n)))
            .collect();
        let deadline = Instant::now() + self.settings.timeout;
        flights
            .into_iter()
            .map(|(name, flight)| {
                let result = flight.and_then(|f| {
                    f.wait_blocking(deadline.saturating_duration_since(Instant::now()))
                        .unwrap_or_else(|| Err(self.group_timed_out(&name)))
                });
                (name, result)
            })
            .collect()
    }

    /// The members the name service lists for each of `names`; a group it
    /// has none of, or could not look up in time, has none (logged).
    pub fn group_members_blocking(
        &self,
        names: &BTreeSet<String>,
    ) -> BTreeMap<String, BTreeSet<String>> {
        self.groups_blocking(names)
            .into_iter()
            .filter_map(|(name, found)| match found {
                Ok(group) => group.map(|g| (name, g.members)),
                Err(err) => {
                    tracing::debug!(group = %name, error = %err, "the members of a group are not known");
                    None
                }
            })
            .collect()
    }

    fn timed_out(&self, what: String, getent: String) -> LookupError {
        LookupError::TimedOut {
            what,
            getent,
            waited: self.settings.timeout,
        }
    }

    fn group_timed_out(&self, name: &str) -> LookupError {
        self.timed_out(format!("group {name}"), format!("getent group {name}"))
    }

    fn peer_flight(&self, uid: u32) -> Result<Arc<Flight<Peer>>, LookupError> {
        let ns = Arc::clone(&self.ns);
        self.flight(
            &self.peers,
            uid,
            || (format!("uid {uid}"), format!("getent passwd {uid}")),
            move || lookup_peer(ns.as_ref(), uid),
        )
    }

    fn group_flight(&self, name: &str) -> Result<Arc<Flight<Option<Group>>>, LookupError> {
        let ns = Arc::clone(&self.ns);
        let owned = name.to_owned();
        self.flight(
            &self.groups,
            name.to_owned(),
            || (format!("group {name}"), format!("getent group {name}")),
            move || lookup_group(ns.as_ref(), &owned),
        )
    }

    /// The lookup of `key`: the one in the cache when it is still under way
    /// or answered within `ttl`, else a new one on a thread of its own.
    fn flight<K, V>(
        &self,
        cache: &Cache<K, V>,
        key: K,
        describe: impl Fn() -> (String, String),
        lookup: impl FnOnce() -> Result<V, LookupError> + Send + 'static,
    ) -> Result<Arc<Flight<V>>, LookupError>
    where
        K: Hash + Eq,
        V: Keep + Clone + Send + 'static,
    {
        let mut entries = lock(&cache.entries);
        let ttl = self.settings.ttl;
        if let Some(f) = entries.get(&key)
            && f.usable(ttl)
        {
            return Ok(Arc::clone(f));
        }
        let n = self.in_flight.load(Ordering::Acquire);
        if n >= self.settings.max_in_flight {
            let (what, getent) = describe();
            return Err(LookupError::Busy { what, getent, n });
        }
        if entries.len() >= 1024 {
            entries.retain(|_, f| f.usable(ttl));
        }
        let flight = Arc::new(Flight::default());
        entries.insert(key, Arc::clone(&flight));
        drop(entries);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        let landing = Arc::clone(&flight);
        let in_flight = Arc::clone(&self.in_flight);
        let spawned = std::thread::Builder::new()
            .name("mottak-nss".into())
            .spawn(move || {
                let result = lookup();
                in_flight.fetch_sub(1, Ordering::AcqRel);
                landing.land(result);
            });
        if let Err(err) = spawned {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            let (what, getent) = describe();
            flight.land(Err(LookupError::Failed {
                what,
                getent,
                error: format!("cannot start a thread for the lookup: {err}"),
            }));
        }
        Ok(flight)
    }
}

/// Whether an answer may be reused: only found names are; a miss or an
/// error is asked again next time (the user may just have been created).
pub trait Keep {
    fn keep(&self) -> bool;
}

impl Keep for Peer {
    fn keep(&self) -> bool {
        true
    }
}

impl Keep for Option<Group> {
    fn keep(&self) -> bool {
        self.is_some()
    }
}

struct Cache<K, V> {
    entries: Mutex<HashMap<K, Arc<Flight<V>>>>,
}

impl<K, V> Default for Cache<K, V> {
    fn default() -> Self {
        Cache {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

/// One lookup: under way until it lands; waited for by threads (condvar)
/// and tasks (notify) alike.
struct Flight<V> {
    landed: Mutex<Option<Landed<V>>>,
    threads: Condvar,
    tasks: tokio::sync::Notify,
}

struct Landed<V> {
    at: Instant,
    result: Result<V, LookupError>,
}

impl<V> Default for Flight<V> {
    fn default() -> Self {
        Flight {
            landed: Mutex::new(None),
            threads: Condvar::new(),
            tasks: tokio::sync::Notify::new(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<V: Keep + Clone> Flight<V> {
    /// Under way, or answered with something kept and not older than `ttl`.
    fn usable(&self, ttl: Duration) -> bool {
        match &*lock(&self.landed) {
            None => true,
            Some(l) => l.at.elapsed() < ttl && l.result.as_ref().is_ok_and(Keep::keep),
        }
    }

    fn land(&self, result: Result<V, LookupError>) {
        *lock(&self.landed) = Some(Landed {
            at: Instant::now(),
            result,
        });
        self.threads.notify_all();
        self.tasks.notify_waiters();
    }

    fn peek(&self) -> Option<Result<V, LookupError>> {
        lock(&self.landed).as_ref().map(|l| l.result.clone())
    }

    /// The answer, or `None` when it did not land within `timeout`.
    async fn wait(&self, timeout: Duration) -> Option<Result<V, LookupError>> {
        let landed = async {
            loop {
                let notified = self.tasks.notified();
                tokio::pin!(notified);
                // Registered before the check, so a landing in between wakes it.
                notified.as_mut().enable();
                if let Some(r) = self.peek() {
                    return r;
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, landed).await.ok()
    }

    fn wait_blocking(&self, timeout: Duration) -> Option<Result<V, LookupError>> {
        let guard = lock(&self.landed);
        let (guard, _) = self
            .threads
            .wait_timeout_while(guard, timeout, |l| l.is_none())
            .unwrap_or_else(PoisonError::into_inner);
        guard.as_ref().map(|l| l.result.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    /// A name service from two tables; uids in `slow` wait for `release`.
    #[derive(Default)]
    struct Fake {
        users: Vec<User>,
        groups: Vec<Group>,
        slow: Vec<u32>,
        release: Mutex<bool>,
        released: Condvar,
        asked: AtomicU32,
    }

    impl Fake {
        fn open(&self) {
            *lock(&self.release) = true;
            self.released.notify_all();
        }
    }

    impl NameService for Fake {
        fn user_by_uid(&self, uid: u32) -> Result<Option<User>, String> {
            self.asked.fetch_add(1, Ordering::SeqCst);
            if self.slow.contains(&uid) {
                let g = lock(&self.release);
                let _g = self.released.wait_while(g, |r| !*r).unwrap();
            }
            if uid == 666 {
                return Err("EIO: Input/output error".into());
            }
            Ok(self.users.iter().find(|u| u.uid == uid).cloned())
        }
        fn group_ids(&self, user: &User) -> Result<Vec<u32>, String> {
            let mut out = vec![user.gid];
            out.extend(
                self.groups
                    .iter()
                    .filter(|g| g.members.contains(&user.name))
                    .map(|g| g.gid),
            );
            Ok(out)
        }
        fn group_by_gid(&self, gid: u32) -> Result<Option<Group>, String> {
            Ok(self.groups.iter().find(|g| g.gid == gid).cloned())
        }
        fn group_by_name(&self, name: &str) -> Result<Option<Group>, String> {
            Ok(self.groups.iter().find(|g| g.name == name).cloned())
        }
    }

    fn fake(slow: &[u32]) -> Arc<Fake> {
        let user = |name: &str, uid, gid| User {
            name: name.into(),
            uid,
            gid,
        };
        let group = |name: &str, gid, members: &[&str]| Group {
            name: name.into(),
            gid,
            members: members.iter().map(|m| (*m).to_owned()).collect(),
        };
        Arc::new(Fake {
            users: vec![
                user("ola.nordmann@kommune.local", 70000, 70000),
                user("kari", 1000, 1000),
                user("treg", 4000, 4000),
            ],
            groups: vec![
                group("domain users@kommune.local", 70000, &[]),
                group("nav-drift", 70001, &["ola.nordmann@kommune.local", "kari"]),
            ],
            slow: slow.to_vec(),
            ..Fake::default()
        })
    }

    fn settings() -> DirectorySettings {
        DirectorySettings {
            ttl: Duration::from_secs(60),
            timeout: Duration::from_millis(300),
            max_in_flight: 2,
        }
    }

    #[tokio::test]
    async fn a_peer_is_named_with_its_groups_and_then_served_from_the_cache() {
        let ns = fake(&[]);
        let dir = Directory::new(ns.clone(), settings());
        let ola = dir.peer(70000).await.unwrap();
        assert_eq!(ola.name, "ola.nordmann@kommune.local");
        assert_eq!(
            ola.groups.iter().map(String::as_str).collect::<Vec<_>>(),
            ["domain users@kommune.local", "nav-drift"]
        );
        // Kari's primary gid 1000 has no name: left out.
        let kari = dir.peer(1000).await.unwrap();
        assert_eq!(kari.groups.into_iter().collect::<Vec<_>>(), ["nav-drift"]);
        let asked = ns.asked.load(Ordering::SeqCst);
        assert_eq!(dir.peer(70000).await.unwrap(), ola);
        assert_eq!(
            ns.asked.load(Ordering::SeqCst),
            asked,
            "served from the cache"
        );
        assert_eq!(dir.peer_blocking(70000).unwrap(), ola);
    }

    #[tokio::test]
    async fn misses_and_errors_name_the_uid_and_are_asked_again() {
        let ns = fake(&[]);
        let dir = Directory::new(ns.clone(), settings());
        let err = dir.peer(4242).await.unwrap_err();
        assert_eq!(err, LookupError::UnknownUid { uid: 4242 });
        let msg = err.to_string();
        for want in ["uid 4242", "nsswitch.conf", "sssd", "getent passwd 4242"] {
            assert!(msg.contains(want), "{want:?} in {msg}");
        }
        let before = ns.asked.load(Ordering::SeqCst);
        dir.peer(4242).await.unwrap_err();
        assert_eq!(
            ns.asked.load(Ordering::SeqCst),
            before + 1,
            "a miss is not kept"
        );
        let msg = dir.peer(666).await.unwrap_err().to_string();
        assert!(msg.contains("uid 666") && msg.contains("EIO"), "{msg}");
    }

    #[tokio::test]
    async fn a_hanging_directory_times_out_alone_shares_one_lookup_and_is_capped() {
        let ns = fake(&[4000, 1000]);
        let dir = Directory::new(ns.clone(), settings());
        let started = Instant::now();
        // Two consoles of the same slow user: one lookup, both refused in time.
        let (a, b) = tokio::join!(dir.peer(4000), dir.peer(4000));
        assert!(started.elapsed() < Duration::from_secs(2));
        for r in [a, b] {
            let msg = r.unwrap_err().to_string();
            assert!(
                msg.contains("uid 4000") && msg.contains("within 300ms") && msg.contains("sssd"),
                "{msg}"
            );
        }
        assert_eq!(ns.asked.load(Ordering::SeqCst), 1, "one shared lookup");
        // Meanwhile another user is answered at once.
        assert_eq!(
            dir.peer(70000).await.unwrap().name,
            "ola.nordmann@kommune.local"
        );
        // A second hanging uid fills the cap (2): a third lookup is refused at once.
        dir.peer(1000).await.unwrap_err();
        let t = Instant::now();
        let msg = dir.peer(4242).await.unwrap_err().to_string();
        assert!(t.elapsed() < Duration::from_millis(100), "refused at once");
        assert!(
            msg.contains("uid 4242") && msg.contains("2 name-service lookups"),
            "{msg}"
        );
        // The directory answers: the lookups land, and the next ask uses them.
        ns.open();
        let deadline = Instant::now() + Duration::from_secs(10);
        while dir.in_flight.load(Ordering::SeqCst) > 0 {
            assert!(Instant::now() < deadline, "the lookups never landed");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(dir.peer(4000).await.unwrap().name, "treg");
        assert_eq!(
            ns.asked.load(Ordering::SeqCst),
            3,
            "the landed answer was kept"
        );
    }

    #[test]
    fn groups_are_looked_up_together_off_the_runtime() {
        let dir = Directory::new(fake(&[]), settings());
        let names: BTreeSet<String> = ["nav-drift", "nope"].map(String::from).into();
        let got = dir.groups_blocking(&names);
        let drift = got["nav-drift"].as_ref().unwrap().as_ref().unwrap();
        assert_eq!(
            drift.members.iter().map(String::as_str).collect::<Vec<_>>(),
            ["kari", "ola.nordmann@kommune.local"]
        );
        assert_eq!(got["nope"], Ok(None));
    }

    #[test]
    fn the_system_name_service_names_root() {
        let root = lookup_peer(&Nss, 0).unwrap();
        assert_eq!(root.name, "root");
        assert!(root.groups.contains("root"), "{:?}", root.groups);
        assert_eq!(lookup_group(&Nss, "root").unwrap().unwrap().gid, 0);
        assert_eq!(lookup_group(&Nss, "no-such-group-mottak").unwrap(), None);
        assert_eq!(Directory::system().peer_blocking(0).unwrap().name, "root");
        let _ = current_uid();
    }
}
