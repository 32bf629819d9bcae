//! Who gets a connection slot on the console listeners, and how refusals
//! are counted and logged.
//!
//! Each listener has its own slots, so none can starve another:
//! - the Unix socket: `console_max_connections` for anyone who may open it,
//!   and `console_admin_reserve` more for an admin only ([`is_admin`]:
//!   root, or a user an access list makes admin), decided from the peer's
//!   credentials and the name service before a byte is read (root at once;
//!   others after a lookup in their own task, at most `admin_checks` at a
//!   time, never in the accept loop);
//! - `[agent.remote]`: `max_unauthenticated` connections not yet past the
//!   client-certificate check (at most `max_unauthenticated_per_address` of
//!   them from one address, IPv6 by /64), and `max_connections` past it;
//! - `metrics`: [`METRICS_MAX_CONNECTIONS`].
//!
//! A refused connection is closed at once. Refusals, connections that fail
//! before `hello` and failed accepts are counted (for `/metrics`) and
//! logged per listener and kind: the first after a quiet spell at once, then
//! at most one line per [`SUMMARY_INTERVAL`] with the count, the reasons and
//! the peers that caused most. A flood costs a few lines, not one per
//! connection.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use mottak_protocol::console::{Role, Transport};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::roles::{AccessData, Identity};
use crate::config::{AgentSettings, Config, RemoteSettings};

/// How often a listener's counted refusals are logged, at most.
pub const SUMMARY_INTERVAL: Duration = Duration::from_secs(10);
/// How long an accept loop waits after `accept` failed (out of file
/// descriptors, typically) before it tries again.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(250);
/// Metrics requests answered at once.
pub const METRICS_MAX_CONNECTIONS: usize = 16;
/// The peers named in a summary line.
const TOP_PEERS: usize = 3;
/// Distinct peers counted per interval; the rest are "others".
const MAX_PEERS: usize = 1024;

/// A listening socket of the console API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Listener {
    /// `console_socket`.
    Socket,
    /// `[agent.remote]`.
    Remote,
    /// `metrics`.
    Metrics,
}

impl Listener {
    /// The `listener` label in metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            Listener::Socket => "socket",
            Listener::Remote => "remote",
            Listener::Metrics => "metrics",
        }
    }

    pub fn of(transport: Transport) -> Listener {
        match transport {
            Transport::LocalSocket => Listener::Socket,
            Transport::Tls => Listener::Remote,
        }
    }

    fn connection(self) -> &'static str {
        match self {
            Listener::Socket => "console socket connection",
            Listener::Remote => "remote console connection",
            Listener::Metrics => "metrics connection",
        }
    }
}

/// What happened to a connection that did not become a console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Event {
    /// The socket's `console_max_connections` are taken; the caller is no admin.
    SocketFull,
    /// The socket's slots and `console_admin_reserve` are taken.
    AdminReserveFull,
    /// `max_unauthenticated` connections are in their handshake.
    UnauthenticatedFull,
    /// `max_unauthenticated_per_address` from this address are in their handshake.
    AddressFull,
    /// `max_connections` consoles are connected over TLS.
    RemoteFull,
    /// [`METRICS_MAX_CONNECTIONS`] requests are being answered.
    MetricsFull,
    /// The TLS handshake failed: no client certificate, one not from
    /// `client_ca`, or not TLS at all.
    TlsRefused,
    /// The websocket upgrade failed.
    NotWebsocket,
    /// The deadline for the handshakes and `hello` passed.
    Timeout,
    /// The peer cannot be named (a uid without a passwd entry, a
    /// certificate without a usable CN).
    UnknownIdentity,
    /// `hello`, but the caller holds no role.
    NoRole,
    /// `accept` itself failed.
    AcceptFailed,
}

/// The kinds of [`Event`], each logged (and counted) on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Refused at a limit, closed at once.
    Refused,
    /// Ended before it became a console.
    Failed,
    /// `accept` failed.
    AcceptFailed,
}

impl Event {
    /// The `reason` label in metrics.
    pub fn id(self) -> &'static str {
        match self {
            Event::SocketFull => "socket_full",
            Event::AdminReserveFull => "admin_reserve_full",
            Event::UnauthenticatedFull => "unauthenticated_full",
            Event::AddressFull => "address_full",
            Event::RemoteFull => "remote_full",
            Event::MetricsFull => "metrics_full",
            Event::TlsRefused => "tls_refused",
            Event::NotWebsocket => "not_websocket",
            Event::Timeout => "timeout",
            Event::UnknownIdentity => "unknown_identity",
            Event::NoRole => "no_role",
            Event::AcceptFailed => "accept_failed",
        }
    }

    pub fn kind(self) -> Kind {
        match self {
            Event::SocketFull
            | Event::AdminReserveFull
            | Event::UnauthenticatedFull
            | Event::AddressFull
            | Event::RemoteFull
            | Event::MetricsFull => Kind::Refused,
            Event::TlsRefused
            | Event::NotWebsocket
            | Event::Timeout
            | Event::UnknownIdentity
            | Event::NoRole => Kind::Failed,
            Event::AcceptFailed => Kind::AcceptFailed,
        }
    }

    /// What happened, for a person reading the log.
    fn text(self) -> &'static str {
        match self {
            Event::SocketFull => {
                "all console_max_connections slots are taken and the caller is not an admin"
            }
            Event::AdminReserveFull => {
                "all console_max_connections slots and the console_admin_reserve are taken"
            }
            Event::UnauthenticatedFull => {
                "max_unauthenticated connections are still in their handshake"
            }
            Event::AddressFull => {
                "max_unauthenticated_per_address connections from this address are still in their handshake"
            }
            Event::RemoteFull => "max_connections remote consoles are connected",
            Event::MetricsFull => "as many metrics requests as the agent answers at once are open",
            Event::TlsRefused => {
                "refused in the TLS handshake (no client certificate, one not issued by client_ca, or not TLS)"
            }
            Event::NotWebsocket => "not a websocket upgrade",
            Event::Timeout => "no hello before the handshake deadline",
            Event::UnknownIdentity => "console refused: unknown identity",
            Event::NoRole => "console refused: no role",
            Event::AcceptFailed => "accept failed",
        }
    }
}

impl Kind {
    fn what(self, listener: Listener) -> String {
        let connection = listener.connection();
        match self {
            Kind::Refused => format!("{connection} refused"),
            Kind::Failed => format!("{connection} ended before it became a console"),
            Kind::AcceptFailed => format!("accepting a {connection} failed"),
        }
    }
}

/// A fixed number of connections; a slot is given back when dropped.
#[derive(Debug)]
pub struct Slots {
    max: usize,
    free: Arc<Semaphore>,
}

impl Slots {
    pub fn new(max: usize) -> Slots {
        Slots {
            max,
            free: Arc::new(Semaphore::new(max)),
        }
    }

    pub fn try_take(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.free).try_acquire_owned().ok()
    }

    pub fn in_use(&self) -> usize {
        self.max.saturating_sub(self.free.available_permits())
    }

    pub fn max(&self) -> usize {
        self.max
    }
}

/// Connections per peer address, each at most `max`.
#[derive(Debug)]
pub struct PerAddress {
    max: usize,
    held: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One connection counted for an address; uncounted when dropped.
#[derive(Debug)]
pub struct AddressSlot {
    address: IpAddr,
    held: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl PerAddress {
    pub fn new(max: usize) -> PerAddress {
        PerAddress {
            max,
            held: Arc::default(),
        }
    }

    /// A slot for `address` (see [`address_key`]), unless it holds `max`.
    pub fn try_take(&self, address: IpAddr) -> Option<AddressSlot> {
        let mut held = lock(&self.held);
        let n = held.entry(address).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            address,
            held: Arc::clone(&self.held),
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut held = lock(&self.held);
        if let Some(n) = held.get_mut(&self.address) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                held.remove(&self.address);
            }
        }
    }
}

/// The address a peer is counted under: IPv4 as it is (also when mapped
/// into IPv6), IPv6 by its /64, which one end site usually holds whole.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

/// How a counted address is shown: `10.0.0.5`, `2001:db8:1:2::/64`.
pub fn address_label(key: IpAddr) -> String {
    match key {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("{v6}/64"),
    }
}

/// Whether a socket caller counts as an admin before `hello`, for the
/// admin reserve: root, or a user the access list (as of the latest
/// state) gives the admin role over any mottakersystem or `*`.
pub fn is_admin(uid: u32, identity: Option<&Identity>, access: &AccessData) -> bool {
    uid == 0
        || identity.is_some_and(|who| {
            access
                .applicable(who)
                .iter()
                .any(|grant| grant.role == Role::Admin)
        })
}

/// What was counted for one listener and kind since its last line.
#[derive(Debug, Default)]
struct Window {
    last_line: Option<Instant>,
    count: u64,
    events: BTreeMap<Event, u64>,
    peers: HashMap<String, u64>,
    other_peers: u64,
    last_detail: Option<String>,
}

/// The limits of every listener, and the counts and log lines of what
/// they refused.
#[derive(Debug)]
pub struct Admission {
    /// `console_max_connections`.
    pub socket: Slots,
    /// `console_admin_reserve`.
    pub admin_reserve: Slots,
    /// Name-service lookups of socket peers that came when the socket was
    /// full, to learn whether they are admins (as many as the reserve). Kept
    /// apart from the reserve so a flood of others cannot hold it, and root
    /// needs none.
    pub admin_checks: Slots,
    /// `[agent.remote] max_unauthenticated`.
    pub unauthenticated: Slots,
    /// `[agent.remote] max_unauthenticated_per_address`.
    pub per_address: PerAddress,
    /// `[agent.remote] max_connections`.
    pub remote: Slots,
    pub metrics: Slots,
    interval: Duration,
    windows: Mutex<BTreeMap<(Listener, Kind), Window>>,
    totals: Mutex<BTreeMap<(Listener, Event), u64>>,
    /// Told when a refusal waits for a summary line (the summaries sleep otherwise).
    counted: Notify,
}

/// The limits of an [`Admission`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub socket: usize,
    pub admin_reserve: usize,
    pub unauthenticated: usize,
    pub unauthenticated_per_address: usize,
    pub remote: usize,
}

impl Limits {
    /// The config's limits (the `[agent.remote]` ones as their defaults
    /// when there is no such table: they are then never used).
    pub fn of(config: &Config) -> Limits {
        let agent = &config.agent;
        let remote = agent.remote.as_ref();
        let defaults = Limits::default();
        Limits {
            socket: agent.console_max_connections,
            admin_reserve: agent.console_admin_reserve,
            unauthenticated: remote.map_or(defaults.unauthenticated, |r| r.max_unauthenticated),
            unauthenticated_per_address: remote.map_or(defaults.unauthenticated_per_address, |r| {
                r.max_unauthenticated_per_address
            }),
            remote: remote.map_or(defaults.remote, |r| r.max_connections),
        }
    }
}

impl Default for Limits {
    /// The config's defaults.
    fn default() -> Self {
        let count = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        Limits {
            socket: count(AgentSettings::CONSOLE_MAX_CONNECTIONS),
            admin_reserve: count(AgentSettings::CONSOLE_ADMIN_RESERVE),
            unauthenticated: count(RemoteSettings::MAX_UNAUTHENTICATED),
            unauthenticated_per_address: count(RemoteSettings::MAX_UNAUTHENTICATED_PER_ADDRESS),
            remote: count(RemoteSettings::MAX_CONNECTIONS),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Counting goes on after a panic elsewhere: the counts stay usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Admission {
    pub fn new(limits: Limits) -> Admission {
        Admission::with_interval(limits, SUMMARY_INTERVAL)
    }

    /// With another summary interval (tests).
    pub fn with_interval(limits: Limits, interval: Duration) -> Admission {
        Admission {
            socket: Slots::new(limits.socket),
            admin_reserve: Slots::new(limits.admin_reserve),
            admin_checks: Slots::new(limits.admin_reserve),
            unauthenticated: Slots::new(limits.unauthenticated),
            per_address: PerAddress::new(limits.unauthenticated_per_address),
            remote: Slots::new(limits.remote),
            metrics: Slots::new(METRICS_MAX_CONNECTIONS),
            interval,
            windows: Mutex::default(),
            totals: Mutex::default(),
            counted: Notify::new(),
        }
    }

    /// Counts `event` from `peer`; logs it now if its listener and kind were
    /// quiet for an interval, else it goes into the next summary line.
    pub fn note(&self, listener: Listener, event: Event, peer: &str, detail: Option<&str>) {
        *lock(&self.totals).entry((listener, event)).or_insert(0) += 1;
        let now = Instant::now();
        let mut windows = lock(&self.windows);
        let window = windows.entry((listener, event.kind())).or_default();
        let quiet = window.count == 0
            && window
                .last_line
                .is_none_or(|t| now.duration_since(t) >= self.interval);
        if quiet {
            window.last_line = Some(now);
            drop(windows);
            let detail = detail.map(|d| format!(" ({d})")).unwrap_or_default();
            warn!(
                listener = listener.label(),
                reason = event.id(),
                peer,
                "{}: {}{detail}, from {peer}; more are counted and logged once every {} s",
                event.kind().what(listener),
                event.text(),
                self.interval.as_secs(),
            );
            return;
        }
        window.count += 1;
        self.counted.notify_one();
        *window.events.entry(event).or_insert(0) += 1;
        let room = window.peers.len() < MAX_PEERS;
        match window.peers.get_mut(peer) {
            Some(n) => *n += 1,
            None if room => {
                window.peers.insert(peer.to_owned(), 1);
            }
            None => window.other_peers += 1,
        }
        if let Some(d) = detail {
            window.last_detail = Some(d.to_owned());
        }
    }

    /// Logs one summary line for each listener and kind that counted
    /// something and has had no line for an interval.
    pub fn flush(&self) {
        let now = Instant::now();
        let due: Vec<((Listener, Kind), Window, Duration)> = {
            let mut windows = lock(&self.windows);
            windows
                .iter_mut()
                .filter(|(_, w)| {
                    w.count > 0
                        && w.last_line
                            .is_none_or(|t| now.duration_since(t) >= self.interval)
                })
                .map(|(key, w)| {
                    let since = w.last_line.map_or(self.interval, |t| now.duration_since(t));
                    let taken = std::mem::take(w);
                    w.last_line = Some(now);
                    (*key, taken, since)
                })
                .collect()
        };
        for ((listener, kind), window, since) in due {
            let (reasons, peers) = window.describe();
            let detail = window
                .last_detail
                .as_deref()
                .map(|d| format!("; the last: {d}"))
                .unwrap_or_default();
            warn!(
                listener = listener.label(),
                count = window.count,
                "{}: {} in the last {} s ({reasons}), from {peers}{detail}",
                kind.what(listener),
                window.count,
                since.as_secs(),
            );
        }
    }

    /// Flushes every second while refusals wait for a summary line, until
    /// `shutdown`, and once more then. Asleep while there are none.
    pub async fn run_summaries(self: Arc<Self>, shutdown: CancellationToken) {
        let every = Duration::from_secs(1).min(self.interval);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.counted.notified() => {}
            }
            while self.waiting() {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(every) => self.flush(),
                }
            }
        }
        self.flush_all();
    }

    /// Some refusal is counted for a summary line not logged yet.
    fn waiting(&self) -> bool {
        lock(&self.windows).values().any(|w| w.count > 0)
    }

    /// Logs what is counted, whatever the interval (at shutdown).
    fn flush_all(&self) {
        for w in lock(&self.windows).values_mut() {
            w.last_line = None;
        }
        self.flush();
    }

    /// Since the agent started: per listener and event, how many.
    pub fn totals(&self) -> BTreeMap<(Listener, Event), u64> {
        lock(&self.totals).clone()
    }
}

impl Window {
    /// "reason: n, reason: m" and "peer (n), peer (m) and k others".
    fn describe(&self) -> (String, String) {
        let mut reasons = String::new();
        for (event, n) in &self.events {
            if !reasons.is_empty() {
                reasons.push_str("; ");
            }
            let _ = write!(reasons, "{}: {n}", event.text());
        }
        let mut peers: Vec<(&String, &u64)> = self.peers.iter().collect();
        peers.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        let mut text = String::new();
        for (peer, n) in peers.iter().take(TOP_PEERS) {
            if !text.is_empty() {
                text.push_str(", ");
            }
            let _ = write!(text, "{peer} ({n})");
        }
        let others: u64 =
            peers.iter().skip(TOP_PEERS).map(|(_, n)| **n).sum::<u64>() + self.other_peers;
        if others > 0 {
            let _ = write!(text, " and {others} more from other peers");
        }
        (reasons, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::access::Member;
    use mottak_protocol::console::{Principal, RoleGrant, Scope};

    fn limits() -> Limits {
        Limits {
            socket: 2,
            admin_reserve: 1,
            unauthenticated: 3,
            unauthenticated_per_address: 2,
            remote: 1,
        }
    }

    #[test]
    fn slots_come_back_when_dropped() {
        let a = Admission::new(limits());
        let one = a.socket.try_take().unwrap();
        let _two = a.socket.try_take().unwrap();
        assert!(a.socket.try_take().is_none());
        assert_eq!(a.socket.in_use(), 2);
        drop(one);
        assert!(a.socket.try_take().is_some());
    }

    #[test]
    fn one_address_cannot_take_every_unauthenticated_slot() {
        let a = Admission::new(limits());
        let attacker: IpAddr = "10.0.0.9".parse().unwrap();
        let first = a.per_address.try_take(attacker).unwrap();
        let _second = a.per_address.try_take(attacker).unwrap();
        assert!(a.per_address.try_take(attacker).is_none());
        assert!(
            a.per_address
                .try_take("10.0.0.10".parse().unwrap())
                .is_some()
        );
        drop(first);
        assert!(a.per_address.try_take(attacker).is_some());
    }

    #[test]
    fn ipv6_peers_count_by_their_64_and_mapped_ipv4_as_ipv4() {
        let a = address_key("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = address_key("2001:db8:1:2:bbbb::7".parse().unwrap());
        assert_eq!(a, b);
        assert_eq!(address_label(a), "2001:db8:1:2::/64");
        assert_ne!(a, address_key("2001:db8:1:3::1".parse().unwrap()));
        assert_eq!(
            address_key("::ffff:10.1.2.3".parse().unwrap()),
            "10.1.2.3".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn admin_means_root_or_an_admin_role_anywhere() {
        let access = AccessData {
            grants: vec![
                RoleGrant {
                    principal: Principal::Group("drift".into()),
                    role: Role::Admin,
                    scope: Scope::Mottakersystem("ms-a".into()),
                },
                RoleGrant {
                    principal: Principal::User("ola".into()),
                    role: Role::Operator,
                    scope: Scope::All,
                },
            ],
            members: vec![Member {
                user: "kari".into(),
                group: "drift".into(),
            }],
        };
        let who = |user: &str| Identity {
            user: user.into(),
            transport: Transport::LocalSocket,
            unix_groups: Default::default(),
        };
        assert!(is_admin(0, None, &access));
        assert!(is_admin(1000, Some(&who("kari")), &access));
        assert!(!is_admin(1001, Some(&who("ola")), &access));
        assert!(!is_admin(1002, None, &access));
        // A Unix group named in a grant counts too.
        let mut per = who("per");
        per.unix_groups.insert("drift".into());
        assert!(is_admin(1003, Some(&per), &access));
    }

    #[test]
    fn a_flood_is_counted_and_summarised_with_its_top_peers() {
        let a = Admission::with_interval(limits(), Duration::from_secs(3600));
        for i in 0..1000u32 {
            let peer = if i % 10 == 0 { "10.0.0.2" } else { "10.0.0.1" };
            a.note(Listener::Remote, Event::AddressFull, peer, None);
        }
        a.note(
            Listener::Remote,
            Event::UnauthenticatedFull,
            "10.0.0.3",
            None,
        );
        let windows = lock(&a.windows);
        let w = &windows[&(Listener::Remote, Kind::Refused)];
        // The first (from 10.0.0.2) was logged at once; 1000 wait for the summary.
        assert_eq!(w.count, 1000);
        let (reasons, peers) = w.describe();
        assert!(
            reasons.contains("from this address are still in their handshake: 999"),
            "{reasons}"
        );
        assert!(
            reasons.contains("max_unauthenticated connections are still in their handshake: 1"),
            "{reasons}"
        );
        assert_eq!(peers, "10.0.0.1 (900), 10.0.0.2 (99), 10.0.0.3 (1)");
        drop(windows);
        assert_eq!(a.totals()[&(Listener::Remote, Event::AddressFull)], 1000);
    }

    #[test]
    fn many_peers_are_summarised_as_others() {
        let a = Admission::new(limits());
        for i in 0..(MAX_PEERS + 10) {
            a.note(
                Listener::Socket,
                Event::SocketFull,
                &format!("uid {i}"),
                None,
            );
        }
        let windows = lock(&a.windows);
        let (_, peers) = windows[&(Listener::Socket, Kind::Refused)].describe();
        // The first was logged at once; of the rest, three are named.
        assert!(
            peers.ends_with(&format!(
                " and {} more from other peers",
                MAX_PEERS + 10 - 1 - 3
            )),
            "{peers}"
        );
    }
}
