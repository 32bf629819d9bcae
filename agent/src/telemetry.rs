//! What the daemon counts and times as it works, for `/metrics`
//! (`console_api::metrics` renders it): SvarInn calls by operation and
//! answer, how long a forsendelse takes from listed to published and from
//! published to imported and acknowledged, Maskinporten token fetches, Fiks
//! answers and uploads.
//!
//! SvarInn's figures are kept per API (`api="v1"|"v2"`): a mottakersystem switched from
//! one to the other keeps the old API's counts beside the new one's.
//!
//! One [`SystemTelemetry`] per mottakersystem, handed to its clients and
//! workers by `commands::run`; a client without one (`check-config`,
//! tests) records nothing. Every label is from a closed set (the
//! configured mottakersystemer, the enums here): never an id or a URL, so
//! the number of series is fixed by the config.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mottak_protocol::listed::SvarInnApi;
use time::OffsetDateTime;

/// Upper bounds (seconds) for calls to SvarInn: a list or an ack takes
/// well under a second; a download's head can wait on KS's storage.
pub const CALL_BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0];

/// Upper bounds (seconds) for a forsendelse's journey: from seconds to
/// past KS's two-hour line (7200), where SvarInn warns the sender.
pub const JOURNEY_BUCKETS: &[f64] = &[
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 5400.0, 7200.0,
    14400.0, 28800.0, 86400.0,
];

/// A Prometheus histogram with fixed buckets, lock-free.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Non-cumulative: `counts[i]` for `bounds[i-1] < v <= bounds[i]`; the
    /// last one is past every bound (`+Inf`).
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
}

/// A histogram's figures at one moment, cumulative as the text format wants.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// `(le, count of observations <= le)`, the bounds only (`+Inf` is `count`).
    pub buckets: Vec<(f64, u64)>,
    pub count: u64,
    pub sum_seconds: f64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, d: Duration) {
        let seconds = d.as_secs_f64();
        let i = self.bounds.partition_point(|b| *b < seconds);
        if let Some(c) = self.counts.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Observes the time from `from` to `to` (0 if the clock stepped back).
    pub fn observe_between(&self, from: OffsetDateTime, to: OffsetDateTime) {
        let d = to - from;
        self.observe(Duration::try_from(d).unwrap_or(Duration::ZERO));
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut running = 0u64;
        let mut buckets = Vec::with_capacity(self.bounds.len());
        for (bound, c) in self.bounds.iter().zip(&self.counts) {
            running += c.load(Ordering::Relaxed);
            buckets.push((*bound, running));
        }
        let past = self.counts.last().map_or(0, |c| c.load(Ordering::Relaxed));
        HistogramSnapshot {
            buckets,
            count: running + past,
            sum_seconds: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

/// How a call ended: the HTTP status class, or `error` when no answer came
/// (connection refused, TLS, timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    Success,
    Redirect,
    ClientError,
    ServerError,
    NoAnswer,
}

impl StatusClass {
    pub const ALL: [StatusClass; 5] = [
        StatusClass::Success,
        StatusClass::Redirect,
        StatusClass::ClientError,
        StatusClass::ServerError,
        StatusClass::NoAnswer,
    ];

    pub fn of(status: reqwest::StatusCode) -> Self {
        if status.is_success() {
            StatusClass::Success
        } else if status.is_redirection() {
            StatusClass::Redirect
        } else if status.is_client_error() {
            StatusClass::ClientError
        } else if status.is_server_error() {
            StatusClass::ServerError
        } else {
            // 1xx as a final answer: as odd as no answer.
            StatusClass::NoAnswer
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            StatusClass::Success => "2xx",
            StatusClass::Redirect => "3xx",
            StatusClass::ClientError => "4xx",
            StatusClass::ServerError => "5xx",
            StatusClass::NoAnswer => "error",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The SvarInn operations the agent calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SvarInnOp {
    /// `hentNyeForsendelser`.
    List,
    /// `hentForsendelsefil` (timed to the answer's head; the body streams after).
    Download,
    /// `kvitterMottak`.
    Ack,
    /// `mottakFeilet`.
    ReportFailure,
}

impl SvarInnOp {
    pub const ALL: [SvarInnOp; 4] = [
        SvarInnOp::List,
        SvarInnOp::Download,
        SvarInnOp::Ack,
        SvarInnOp::ReportFailure,
    ];

    pub fn label(self) -> &'static str {
        match self {
            SvarInnOp::List => "list",
            SvarInnOp::Download => "download",
            SvarInnOp::Ack => "ack",
            SvarInnOp::ReportFailure => "report_failure",
        }
    }
}

/// The Fiks Digisos calls the agent makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FiksOp {
    PublicKey,
    ListFiles,
    Upload,
    PostUpdate,
    /// Fiks IO: a receipt sent.
    FiksIoSend,
    /// Fiks IO: a large message fetched from the dokumentlager.
    Dokumentlager,
}

impl FiksOp {
    pub const ALL: [FiksOp; 6] = [
        FiksOp::PublicKey,
        FiksOp::ListFiles,
        FiksOp::Upload,
        FiksOp::PostUpdate,
        FiksOp::FiksIoSend,
        FiksOp::Dokumentlager,
    ];

    pub fn label(self) -> &'static str {
        match self {
            FiksOp::PublicKey => "public_key",
            FiksOp::ListFiles => "list_files",
            FiksOp::Upload => "upload",
            FiksOp::PostUpdate => "post_update",
            FiksOp::FiksIoSend => "fiks_io_send",
            FiksOp::Dokumentlager => "dokumentlager",
        }
    }
}

/// Why a Maskinporten token fetch failed (`maskinporten::TokenError`'s kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFailure {
    Network,
    Refused,
    Server,
    Malformed,
    Sign,
}

impl TokenFailure {
    pub const ALL: [TokenFailure; 5] = [
        TokenFailure::Network,
        TokenFailure::Refused,
        TokenFailure::Server,
        TokenFailure::Malformed,
        TokenFailure::Sign,
    ];

    pub fn label(self) -> &'static str {
        match self {
            TokenFailure::Network => "network",
            TokenFailure::Refused => "refused",
            TokenFailure::Server => "server",
            TokenFailure::Malformed => "malformed",
            TokenFailure::Sign => "sign",
        }
    }
}

/// Answers by status class, one counter each.
#[derive(Debug, Default)]
pub struct ByStatus([AtomicU64; StatusClass::ALL.len()]);

impl ByStatus {
    pub fn add(&self, class: StatusClass) {
        if let Some(c) = self.0.get(class.index()) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn get(&self, class: StatusClass) -> u64 {
        self.0
            .get(class.index())
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }
}

/// One SvarInn operation's calls.
#[derive(Debug)]
pub struct Calls {
    pub duration: Histogram,
    pub answers: ByStatus,
}

/// One mottakersystem's figures.
#[derive(Debug)]
pub struct SystemTelemetry {
    /// V1's calls, then V2's.
    svarinn: [[Calls; SvarInnOp::ALL.len()]; 2],
    /// Whether the mottakersystem speaks V2 now (its clients say so when they get this).
    speaks_v2: AtomicBool,
    /// First listed by SvarInn → durably in `inn/`.
    pub listed_to_published: Histogram,
    /// In `inn/` → the fagsystem took it (on-import only).
    pub published_to_imported: Histogram,
    /// In `inn/` → acknowledged to SvarInn (`kvitterMottak` answered).
    pub published_to_acknowledged: Histogram,
    fiks: [ByStatus; FiksOp::ALL.len()],
    /// Files uploaded to Fiks, failed uploads, and the uploaded files' bytes.
    pub uploads: AtomicU64,
    pub upload_failures: AtomicU64,
    pub uploaded_bytes: AtomicU64,
    /// Token requests sent to Maskinporten (cached tokens are not counted).
    pub token_fetches: AtomicU64,
    token_failures: [AtomicU64; TokenFailure::ALL.len()],
}

impl Default for SystemTelemetry {
    fn default() -> Self {
        SystemTelemetry {
            svarinn: [(); 2].map(|()| {
                SvarInnOp::ALL.map(|_| Calls {
                    duration: Histogram::new(CALL_BUCKETS),
                    answers: ByStatus::default(),
                })
            }),
            speaks_v2: AtomicBool::new(false),
            listed_to_published: Histogram::new(JOURNEY_BUCKETS),
            published_to_imported: Histogram::new(JOURNEY_BUCKETS),
            published_to_acknowledged: Histogram::new(JOURNEY_BUCKETS),
            fiks: Default::default(),
            uploads: AtomicU64::new(0),
            upload_failures: AtomicU64::new(0),
            uploaded_bytes: AtomicU64::new(0),
            token_fetches: AtomicU64::new(0),
            token_failures: Default::default(),
        }
    }
}

impl SystemTelemetry {
    pub fn svarinn(&self, api: SvarInnApi, op: SvarInnOp) -> &Calls {
        // ALL lists every variant in declaration order.
        &self.svarinn[usize::from(api == SvarInnApi::V2)][op as usize]
    }

    /// The mottakersystem speaks `api` (from now on).
    pub fn speaks(&self, api: SvarInnApi) {
        self.speaks_v2
            .store(api == SvarInnApi::V2, Ordering::Relaxed);
    }

    /// The APIs to show SvarInn figures for: the one spoken now (even before its first
    /// call), and the other if it was called since start.
    pub fn svarinn_apis(&self) -> Vec<SvarInnApi> {
        let now = if self.speaks_v2.load(Ordering::Relaxed) {
            SvarInnApi::V2
        } else {
            SvarInnApi::V1
        };
        let called = |api| {
            SvarInnOp::ALL
                .iter()
                .any(|op| self.svarinn(api, *op).duration.snapshot().count > 0)
        };
        [SvarInnApi::V1, SvarInnApi::V2]
            .into_iter()
            .filter(|api| *api == now || called(*api))
            .collect()
    }

    /// A call to SvarInn `api` that took `took` and ended as `class`.
    pub fn svarinn_call(&self, api: SvarInnApi, op: SvarInnOp, took: Duration, class: StatusClass) {
        let calls = self.svarinn(api, op);
        calls.duration.observe(took);
        calls.answers.add(class);
    }

    pub fn fiks(&self, op: FiksOp) -> &ByStatus {
        &self.fiks[op as usize]
    }

    pub fn token_failed(&self, why: TokenFailure) {
        self.token_failures[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn token_failures(&self, why: TokenFailure) -> u64 {
        self.token_failures[why as usize].load(Ordering::Relaxed)
    }
}

/// Every mottakersystem's [`SystemTelemetry`], by name.
#[derive(Debug, Default)]
pub struct Telemetry {
    systems: Mutex<BTreeMap<String, Arc<SystemTelemetry>>>,
}

impl Telemetry {
    /// The figures of `mottakersystem` (created on first use).
    pub fn system(&self, mottakersystem: &str) -> Arc<SystemTelemetry> {
        let mut systems = self.systems.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(systems.entry(mottakersystem.to_owned()).or_default())
    }

    /// Every mottakersystem's figures, by name.
    pub fn systems(&self) -> Vec<(String, Arc<SystemTelemetry>)> {
        let systems = self.systems.lock().unwrap_or_else(|p| p.into_inner());
        systems
            .iter()
            .map(|(k, v)| (k.clone(), Arc::clone(v)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_inclusive() {
        let h = Histogram::new(&[1.0, 5.0]);
        h.observe(Duration::from_millis(500));
        h.observe(Duration::from_secs(1));
        h.observe(Duration::from_secs(3));
        h.observe(Duration::from_secs(60));
        let s = h.snapshot();
        assert_eq!(s.buckets, vec![(1.0, 2), (5.0, 3)]);
        assert_eq!(s.count, 4);
        assert!((s.sum_seconds - 64.5).abs() < 1e-9, "{}", s.sum_seconds);
    }

    #[test]
    fn a_clock_stepped_back_counts_as_zero() {
        let h = Histogram::new(&[1.0]);
        let now = OffsetDateTime::now_utc();
        h.observe_between(now, now - Duration::from_secs(10));
        assert_eq!(h.snapshot().buckets, vec![(1.0, 1)]);
    }

    #[test]
    fn every_enum_indexes_its_own_slot() {
        for (i, op) in SvarInnOp::ALL.iter().enumerate() {
            assert_eq!(*op as usize, i);
        }
        for (i, op) in FiksOp::ALL.iter().enumerate() {
            assert_eq!(*op as usize, i);
        }
        for (i, c) in StatusClass::ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
        }
        for (i, t) in TokenFailure::ALL.iter().enumerate() {
            assert_eq!(*t as usize, i);
        }
    }
}
