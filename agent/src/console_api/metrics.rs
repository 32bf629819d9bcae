//! `metrics = "127.0.0.1:9464"` under `[agent]`: Prometheus text format
//! (version 0.0.4) at `GET /metrics`, from the same state consoles see.
//! A minimal HTTP/1.1 responder: one request per connection, a bounded
//! request head, a deadline; anything else than `GET /metrics` gets 404.
//! Unauthenticated, so it answers at most
//! [`METRICS_MAX_CONNECTIONS`](super::admission::METRICS_MAX_CONNECTIONS)
//! connections at once and closes the rest at once (counted, and logged
//! as a summary), so a flood cannot use up the agent's file descriptors.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use mottak_protocol::console::{CertificateStatus, ConsoleState, ExpiryLevel, FiksIoLink};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::admission::{
    ACCEPT_BACKOFF, Admission, Event, Kind, Listener, address_key, address_label,
};
use super::state::Built;
use crate::clock::to_millis;
use crate::pipeline::{Health, Pipeline};
use crate::telemetry::{
    FiksOp, Histogram, HistogramSnapshot, StatusClass, SvarInnOp, SystemTelemetry, Telemetry,
    TokenFailure,
};

const MAX_REQUEST_HEAD: usize = 8 * 1024;
const DEADLINE: Duration = Duration::from_secs(5);

/// Answers `GET /metrics` until shutdown.
pub async fn serve(
    listener: TcpListener,
    state: watch::Receiver<Arc<Built>>,
    admission: Arc<Admission>,
    telemetry: Arc<Telemetry>,
    pipelines: Vec<Arc<dyn Pipeline>>,
    shutdown: CancellationToken,
) {
    let pipelines = Arc::new(pipelines);
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                let Some(slot) = admission.metrics.try_take() else {
                    let peer = address_label(address_key(peer.ip()));
                    admission.note(Listener::Metrics, Event::MetricsFull, &peer, None);
                    continue;
                };
                let state = state.clone();
                let admission = Arc::clone(&admission);
                let telemetry = Arc::clone(&telemetry);
                let pipelines = Arc::clone(&pipelines);
                tokio::spawn(async move {
                    let answered = answer(stream, state, &admission, &telemetry, &pipelines);
                    if tokio::time::timeout(DEADLINE, answered).await.is_err() {
                        debug!("a metrics request did not finish in time");
                    }
                    drop(slot);
                });
            }
            Err(err) => {
                // Out of file descriptors, typically: wait rather than spin.
                admission.note(
                    Listener::Metrics,
                    Event::AcceptFailed,
                    "-",
                    Some(&err.to_string()),
                );
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

async fn answer(
    mut stream: tokio::net::TcpStream,
    state: watch::Receiver<Arc<Built>>,
    admission: &Admission,
    telemetry: &Telemetry,
    pipelines: &[Arc<dyn Pipeline>],
) {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > MAX_REQUEST_HEAD {
            let _ = respond(&mut stream, "431 Request Header Fields Too Large", "").await;
            return;
        }
    }
    let line = head.split(|b| *b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split(' ');
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method != "GET" || (path != "/metrics" && !path.starts_with("/metrics?")) {
        let _ = respond(&mut stream, "404 Not Found", "only GET /metrics is here\n").await;
        return;
    }
    let built = Arc::clone(&state.borrow());
    let mut body = render(&built, to_millis(time::OffsetDateTime::now_utc()));
    render_listeners(&mut body, admission);
    render_telemetry(&mut body, telemetry, &built);
    render_pipelines(&mut body, pipelines);
    let _ = respond(&mut stream, "200 OK", &body).await;
}

async fn respond(
    stream: &mut tokio::net::TcpStream,
    status: &str,
    body: &str,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// A label value, escaped as the text format requires.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", label(v)))
            .collect();
        if labels.is_empty() {
            let _ = writeln!(self.out, "{name} {value}");
        } else {
            let _ = writeln!(self.out, "{name}{{{}}} {value}", labels.join(","));
        }
    }

    /// One histogram series: `_bucket` per bound and `+Inf`, `_sum`, `_count`.
    fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &HistogramSnapshot) {
        let bucket = format!("{name}_bucket");
        for (le, n) in &h.buckets {
            let le = le.to_string();
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            self.sample(&bucket, &with_le, n);
        }
        let mut with_le = labels.to_vec();
        with_le.push(("le", "+Inf"));
        self.sample(&bucket, &with_le, h.count);
        self.sample(&format!("{name}_sum"), labels, h.sum_seconds);
        self.sample(&format!("{name}_count"), labels, h.count);
    }
}

/// The metrics text for `built` at `now_ms`.
pub fn render(built: &Built, now_ms: i64) -> String {
    let mut out = String::new();
    let mut f = Family { out: &mut out };
    let s = &built.state;

    f.header(
        "mottak_forsendelser",
        "gauge",
        "Forsendelser in the journal by mottakersystem and state.",
    );
    for q in &s.queues {
        for (state, n) in &q.counts {
            f.sample(
                "mottak_forsendelser",
                &[
                    ("mottakersystem", &q.mottakersystem),
                    ("state", state.as_str()),
                ],
                n,
            );
        }
    }
    f.header(
        "mottak_oldest_unacknowledged_age_seconds",
        "gauge",
        "Age of the oldest forsendelse not yet acknowledged (0 when none); SvarInn warns the sender at 7200.",
    );
    for q in &s.queues {
        let age = q
            .oldest_unacknowledged
            .as_ref()
            .map_or(0, |o| (now_ms - o.since).max(0) / 1000);
        f.sample(
            "mottak_oldest_unacknowledged_age_seconds",
            &[("mottakersystem", &q.mottakersystem)],
            age,
        );
    }
    f.header(
        "mottak_inn_stale_folders",
        "gauge",
        "Folders in inn/ longer than inn_warning_after.",
    );
    for q in &s.queues {
        f.sample(
            "mottak_inn_stale_folders",
            &[("mottakersystem", &q.mottakersystem)],
            q.stale_in_inn.count,
        );
    }
    f.header(
        "mottak_paused",
        "gauge",
        "1 while a person has paused the mottakersystem.",
    );
    for q in &s.queues {
        f.sample(
            "mottak_paused",
            &[("mottakersystem", &q.mottakersystem)],
            u8::from(q.paused.is_some()),
        );
    }
    f.header(
        "mottak_polls_total",
        "counter",
        "Polls of SvarInn since the agent started.",
    );
    for (m, (polls, _)) in &built.polls {
        f.sample("mottak_polls_total", &[("mottakersystem", m)], polls);
    }
    f.header(
        "mottak_poll_failures_total",
        "counter",
        "Failed polls of SvarInn since the agent started.",
    );
    for (m, (_, failures)) in &built.polls {
        f.sample(
            "mottak_poll_failures_total",
            &[("mottakersystem", m)],
            failures,
        );
    }
    f.header(
        "mottak_poll_consecutive_failures",
        "gauge",
        "Failed polls in a row (0 after a success).",
    );
    for i in &s.integrations {
        f.sample(
            "mottak_poll_consecutive_failures",
            &[("mottakersystem", &i.mottakersystem)],
            i.svarinn.consecutive_failures,
        );
    }
    f.header(
        "mottak_delivered_forsendelser_total",
        "counter",
        "Forsendelser delivered into inn/ (journal rows that reached delivered).",
    );
    for m in &built.systems {
        let (n, _) = built.delivered.get(m).copied().unwrap_or_default();
        f.sample(
            "mottak_delivered_forsendelser_total",
            &[("mottakersystem", m)],
            n,
        );
    }
    f.header(
        "mottak_delivered_bytes_total",
        "counter",
        "Declared bytes of the forsendelser delivered into inn/.",
    );
    for m in &built.systems {
        let (_, bytes) = built.delivered.get(m).copied().unwrap_or_default();
        f.sample(
            "mottak_delivered_bytes_total",
            &[("mottakersystem", m)],
            bytes,
        );
    }
    // The SvarInn decryption certificates, then each Maskinporten
    // virksomhetssertifikat chain (`chain[n] ...` for its path).
    let certificates: Vec<(&str, &str, &CertificateStatus)> = s
        .integrations
        .iter()
        .flat_map(|i| {
            i.certificates
                .iter()
                .map(|c| (i.mottakersystem.as_str(), "svarinn", c))
        })
        .chain(s.outbound.iter().flat_map(|o| {
            o.maskinporten
                .certificates
                .iter()
                .map(|c| (o.mottakersystem.as_str(), "maskinporten", c))
        }))
        .collect();
    f.header(
        "mottak_certificate_expiry_timestamp_seconds",
        "gauge",
        "When each configured certificate expires (Unix seconds); purpose svarinn (decryption) or maskinporten (the grant's chain).",
    );
    for (m, purpose, c) in &certificates {
        if let Some(t) = c.not_after {
            f.sample(
                "mottak_certificate_expiry_timestamp_seconds",
                &[
                    ("mottakersystem", m),
                    ("purpose", purpose),
                    ("path", &c.path),
                ],
                t / 1000,
            );
        }
    }
    f.header(
        "mottak_certificate_unreadable",
        "gauge",
        "1 for a configured certificate that cannot be read.",
    );
    for (m, purpose, c) in &certificates {
        f.sample(
            "mottak_certificate_unreadable",
            &[
                ("mottakersystem", m),
                ("purpose", purpose),
                ("path", &c.path),
            ],
            u8::from(c.level == ExpiryLevel::Unreadable),
        );
    }
    f.header(
        "mottak_drop_folder_writable",
        "gauge",
        "1 when the agent can write in the drop folder.",
    );
    for i in &s.integrations {
        f.sample(
            "mottak_drop_folder_writable",
            &[("mottakersystem", &i.mottakersystem)],
            u8::from(i.drop_folder.writable),
        );
    }
    f.header(
        "mottak_drop_folder_free_bytes",
        "gauge",
        "Free space on the drop folder's filesystem for the agent.",
    );
    for i in &s.integrations {
        if let Some(free) = i.drop_folder.free_bytes {
            f.sample(
                "mottak_drop_folder_free_bytes",
                &[("mottakersystem", &i.mottakersystem)],
                free,
            );
        }
    }
    f.header(
        "mottak_drop_folder_min_free_bytes",
        "gauge",
        "min_free_space: downloads wait while the drop folder has less free.",
    );
    for i in &s.integrations {
        if let Some(min) = i.drop_folder.min_free_bytes {
            f.sample(
                "mottak_drop_folder_min_free_bytes",
                &[("mottakersystem", &i.mottakersystem)],
                min,
            );
        }
    }
    f.header(
        "mottak_saksoppdateringer",
        "gauge",
        "Saksoppdateringer (ut/ to Fiks Digisos) in the journal by mottakersystem and state.",
    );
    for o in &s.outbound {
        for (state, n) in &o.counts {
            f.sample(
                "mottak_saksoppdateringer",
                &[
                    ("mottakersystem", &o.mottakersystem),
                    ("state", state.as_str()),
                ],
                n,
            );
        }
    }
    f.header(
        "mottak_outbound_setup_failing",
        "gauge",
        "1 while the outbound worker cannot start (Maskinporten key, integrasjon_passord, ut/ folders).",
    );
    for o in &s.outbound {
        f.sample(
            "mottak_outbound_setup_failing",
            &[("mottakersystem", &o.mottakersystem)],
            u8::from(o.setup_error.is_some()),
        );
    }
    f.header(
        "mottak_maskinporten_failing",
        "gauge",
        "1 while the last Maskinporten token fetch failed (cleared by the next success).",
    );
    for o in &s.outbound {
        f.sample(
            "mottak_maskinporten_failing",
            &[("mottakersystem", &o.mottakersystem)],
            u8::from(o.maskinporten.last_error.is_some()),
        );
    }
    fiks_io(&mut f, s);
    out
}

/// The Fiks IO links (`[mottakersystem.fiks_io]`), from the console state:
/// up, the queues on both sides, the receipts, the messages kept as failed.
/// One series family of a Fiks IO link: name, type, help, the value (none: no sample).
type LinkFamily = (
    &'static str,
    &'static str,
    &'static str,
    fn(&FiksIoLink) -> Option<u64>,
);

fn fiks_io(f: &mut Family<'_>, s: &ConsoleState) {
    let links: Vec<(&str, &FiksIoLink)> = s
        .integrations
        .iter()
        .filter_map(|i| Some((i.mottakersystem.as_str(), i.fiks_io.as_ref()?)))
        .collect();
    let families: [LinkFamily; 7] = [
        (
            "mottak_fiks_io_up",
            "gauge",
            "1 while connected to Fiks IO and consuming the konto's queue.",
            |l| Some(u64::from(l.is_up())),
        ),
        (
            "mottak_fiks_io_waiting_at_fiks",
            "gauge",
            "Messages waiting at Fiks for the konto (the kontokatalog's antallUavhentedeMeldinger), as last read.",
            |l| l.waiting_at_fiks,
        ),
        (
            "mottak_fiks_io_unacked",
            "gauge",
            "Messages received from Fiks IO and not yet acknowledged.",
            |l| Some(u64::from(l.unacked)),
        ),
        (
            "mottak_fiks_io_delivered_total",
            "counter",
            "Fiks IO messages delivered to inn/ since the agent started.",
            |l| Some(l.delivered),
        ),
        (
            "mottak_fiks_io_failed",
            "gauge",
            "Fiks IO messages kept as failed (not decrypted, manifest wrong): a person must act.",
            |l| Some(u64::from(l.failed)),
        ),
        (
            "mottak_fiks_io_receipts_owed",
            "gauge",
            "Receipts owed to Fiks IO and not sent yet.",
            |l| Some(u64::from(l.receipts_owed)),
        ),
        (
            "mottak_fiks_io_receipts_failing",
            "gauge",
            "Receipts owed to Fiks IO whose last attempt failed.",
            |l| Some(u64::from(l.receipts_failing)),
        ),
    ];
    for (name, kind, help, value) in families {
        f.header(name, kind, help);
        for (m, l) in &links {
            if let Some(v) = value(l) {
                f.sample(name, &[("mottakersystem", m)], v);
            }
        }
    }
}

/// What the workers and clients counted and timed (`crate::telemetry`),
/// appended to `out`. Outbound figures only for the mottakersystemer with
/// `[mottakersystem.digisos]` (those `built` has an outbound status for).
pub fn render_telemetry(out: &mut String, telemetry: &Telemetry, built: &Built) {
    let mut f = Family { out };
    let systems = telemetry.systems();
    let outbound: Vec<_> = systems
        .iter()
        .filter(|(m, _)| built.state.outbound.iter().any(|o| &o.mottakersystem == m))
        .collect();

    f.header(
        "mottak_svarinn_request_duration_seconds",
        "histogram",
        "SvarInn calls by API (v1, v2) and operation (list, download: to the answer's head, ack, report_failure), answered or not.",
    );
    for (m, t) in &systems {
        for api in t.svarinn_apis() {
            for op in SvarInnOp::ALL {
                let labels = [
                    ("mottakersystem", m.as_str()),
                    ("api", api.as_str()),
                    ("operation", op.label()),
                ];
                f.histogram(
                    "mottak_svarinn_request_duration_seconds",
                    &labels,
                    &t.svarinn(api, op).duration.snapshot(),
                );
            }
        }
    }
    f.header(
        "mottak_svarinn_responses_total",
        "counter",
        "SvarInn calls by API, operation and status class (2xx, 3xx, 4xx, 5xx, error: no answer).",
    );
    for (m, t) in &systems {
        for api in t.svarinn_apis() {
            for op in SvarInnOp::ALL {
                for class in StatusClass::ALL {
                    f.sample(
                        "mottak_svarinn_responses_total",
                        &[
                            ("mottakersystem", m.as_str()),
                            ("api", api.as_str()),
                            ("operation", op.label()),
                            ("status", class.label()),
                        ],
                        t.svarinn(api, op).answers.get(class),
                    );
                }
            }
        }
    }
    f.header(
        "mottak_svarinn_download_concurrency",
        "gauge",
        "Downloads (and, apart, acknowledgements and reports) the inbound worker lets be in flight at once now: grows while SvarInn answers quickly and work waits, halves on 429, 503 or rising latency, never over max_concurrent_downloads.",
    );
    for (m, t) in &systems {
        if let Some(limit) = t.download_concurrency() {
            f.sample(
                "mottak_svarinn_download_concurrency",
                &[("mottakersystem", m.as_str())],
                limit,
            );
        }
    }
    for (name, help, pick) in [
        (
            "mottak_forsendelse_listed_to_published_seconds",
            "From first listed by SvarInn to durably in inn/ (a restart in between counts).",
            (|t| &t.listed_to_published) as fn(&SystemTelemetry) -> &Histogram,
        ),
        (
            "mottak_forsendelse_published_to_imported_seconds",
            "From in inn/ to taken by the fagsystem (ack = \"on-import\" only).",
            |t| &t.published_to_imported,
        ),
        (
            "mottak_forsendelse_published_to_acknowledged_seconds",
            "From in inn/ to acknowledged to SvarInn (kvitterMottak); KS warns the sender 7200 s after sending.",
            |t| &t.published_to_acknowledged,
        ),
    ] {
        f.header(name, "histogram", help);
        for (m, t) in &systems {
            f.histogram(name, &[("mottakersystem", m.as_str())], &pick(t).snapshot());
        }
    }

    f.header(
        "mottak_fiks_responses_total",
        "counter",
        "Fiks Digisos answers by operation (public_key, list_files, upload, post_update) and status class (error: no answer).",
    );
    for (m, t) in &outbound {
        for op in FiksOp::ALL {
            for class in StatusClass::ALL {
                f.sample(
                    "mottak_fiks_responses_total",
                    &[
                        ("mottakersystem", m.as_str()),
                        ("operation", op.label()),
                        ("status", class.label()),
                    ],
                    t.fiks(op).get(class),
                );
            }
        }
    }
    for (name, help, pick) in [
        (
            "mottak_fiks_uploads_total",
            "Files uploaded to Fiks Digisos.",
            (|t| &t.uploads) as fn(&SystemTelemetry) -> &AtomicU64,
        ),
        (
            "mottak_fiks_upload_failures_total",
            "File uploads to Fiks Digisos that failed (retried or refused).",
            |t| &t.upload_failures,
        ),
        (
            "mottak_fiks_uploaded_bytes_total",
            "Bytes of the files uploaded to Fiks Digisos (before encryption).",
            |t| &t.uploaded_bytes,
        ),
        (
            "mottak_maskinporten_token_fetches_total",
            "Token requests to Maskinporten (a cached token is not one).",
            |t| &t.token_fetches,
        ),
    ] {
        f.header(name, "counter", help);
        for (m, t) in &outbound {
            f.sample(
                name,
                &[("mottakersystem", m.as_str())],
                pick(t).load(Ordering::Relaxed),
            );
        }
    }
    f.header(
        "mottak_maskinporten_token_failures_total",
        "counter",
        "Failed token requests to Maskinporten by reason (network, refused, server, malformed, sign).",
    );
    for (m, t) in &outbound {
        for why in TokenFailure::ALL {
            f.sample(
                "mottak_maskinporten_token_failures_total",
                &[("mottakersystem", m.as_str()), ("reason", why.label())],
                t.token_failures(why),
            );
        }
    }
}

/// What `/metrics` says of one pipeline: name, type, help, and its value
/// (`None`: no sample, as before its first turn).
type PipelineFamily = (
    &'static str,
    &'static str,
    &'static str,
    fn(&Health) -> Option<i64>,
);

/// Every pipeline's families, from its [`Health`] alone.
const PIPELINE_FAMILIES: [PipelineFamily; 4] = [
    (
        "mottak_pipeline_up",
        "gauge",
        "1 while the pipeline (pipeline: inbound, outbound, ...) is set up and running its loop; 0 while it sets up or its setup fails.",
        |h| Some(i64::from(h.is_running())),
    ),
    (
        "mottak_pipeline_setup_failed_attempts",
        "gauge",
        "Setup attempts in a row that failed (keys, passwords, folders); 0 once set up.",
        |h| Some(h.setup_failure().map_or(0, |f| i64::from(f.attempts))),
    ),
    (
        "mottak_pipeline_turns_total",
        "counter",
        "Turns of the pipeline's loop since the agent started.",
        |h| Some(i64::try_from(h.turns()).unwrap_or(i64::MAX)),
    ),
    (
        "mottak_pipeline_last_turn_timestamp_seconds",
        "gauge",
        "When the pipeline's loop last turned (or its setup last waited to retry), Unix seconds. An idle loop sleeps until its next poll, retry or rescan.",
        |h| {
            let ms = h.heartbeat_ms();
            (ms > 0).then_some(ms / 1000)
        },
    ),
];

/// Every pipeline, whatever its channel, read live from its [`Health`],
/// appended to `out`.
pub fn render_pipelines(out: &mut String, pipelines: &[Arc<dyn Pipeline>]) {
    let mut f = Family { out };
    for (name, kind, help, value) in PIPELINE_FAMILIES {
        f.header(name, kind, help);
        for p in pipelines {
            if let Some(v) = value(p.health()) {
                f.sample(
                    name,
                    &[
                        ("mottakersystem", p.mottakersystem()),
                        ("pipeline", p.kind()),
                    ],
                    v,
                );
            }
        }
    }
}

/// The console listeners' connections, refusals and failures, appended to `out`.
pub fn render_listeners(out: &mut String, admission: &Admission) {
    let mut f = Family { out };
    f.header(
        "mottak_console_connections",
        "gauge",
        "Connections the console listeners hold now, by listener and stage (remote: unauthenticated until the client certificate is checked).",
    );
    let socket = admission.socket.in_use() + admission.admin_reserve.in_use();
    f.sample(
        "mottak_console_connections",
        &[("listener", "socket"), ("stage", "open")],
        socket,
    );
    f.sample(
        "mottak_console_connections",
        &[("listener", "remote"), ("stage", "unauthenticated")],
        admission.unauthenticated.in_use(),
    );
    f.sample(
        "mottak_console_connections",
        &[("listener", "remote"), ("stage", "authenticated")],
        admission.remote.in_use(),
    );
    let totals = admission.totals();
    for (kind, name, help) in [
        (
            Kind::Refused,
            "mottak_console_connections_refused_total",
            "Connections refused at a listener's limit since the agent started, by listener and reason.",
        ),
        (
            Kind::Failed,
            "mottak_console_handshake_failures_total",
            "Connections that ended before they became a console (TLS refused, no websocket, no hello in time, no role), by listener and reason.",
        ),
        (
            Kind::AcceptFailed,
            "mottak_console_accept_errors_total",
            "Failed accepts (out of file descriptors, typically), by listener.",
        ),
    ] {
        f.header(name, "counter", help);
        for ((listener, event), n) in totals.iter().filter(|((_, e), _)| e.kind() == kind) {
            f.sample(
                name,
                &[("listener", listener.label()), ("reason", event.id())],
                n,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mottak_protocol::listed::SvarInnApi;

    #[test]
    fn labels_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn fiks_io_links_are_gauges_per_mottakersystem() {
        use mottak_protocol::console::IntegrationStatus;
        let mut built = Built::default();
        built.state.integrations = vec![
            IntegrationStatus {
                mottakersystem: "nav-frogn".into(),
                fiks_io: Some(FiksIoLink {
                    connected_since: Some(1),
                    waiting_at_fiks: Some(4),
                    receipts_owed: 2,
                    receipts_failing: 1,
                    ..FiksIoLink::default()
                }),
                ..IntegrationStatus::default()
            },
            IntegrationStatus {
                mottakersystem: "byggesak".into(),
                ..IntegrationStatus::default()
            },
        ];
        let text = render(&built, 0);
        for want in [
            "mottak_fiks_io_up{mottakersystem=\"nav-frogn\"} 1",
            "mottak_fiks_io_waiting_at_fiks{mottakersystem=\"nav-frogn\"} 4",
            "mottak_fiks_io_receipts_owed{mottakersystem=\"nav-frogn\"} 2",
            "mottak_fiks_io_receipts_failing{mottakersystem=\"nav-frogn\"} 1",
        ] {
            assert!(text.lines().any(|l| l == want), "{want} not in\n{text}");
        }
        assert!(
            !text.contains("fiks_io_up{mottakersystem=\"byggesak\"}"),
            "{text}"
        );
    }

    #[test]
    fn an_empty_state_renders_headers_only() {
        let text = render(&Built::default(), 0);
        assert!(text.contains("# TYPE mottak_forsendelser gauge"));
        assert!(text.lines().all(|l| l.starts_with('#')), "{text}");
    }

    #[test]
    fn telemetry_renders_histograms_and_keeps_outbound_to_digisos_systems() {
        let telemetry = Telemetry::default();
        let t = telemetry.system("ms-a");
        t.svarinn_call(
            SvarInnApi::V1,
            SvarInnOp::List,
            Duration::from_millis(200),
            StatusClass::Success,
        );
        t.svarinn_call(
            SvarInnApi::V1,
            SvarInnOp::List,
            Duration::from_secs(200),
            StatusClass::NoAnswer,
        );
        t.token_fetches.fetch_add(1, Ordering::Relaxed);
        t.set_download_concurrency(7);
        let mut text = String::new();
        render_telemetry(&mut text, &telemetry, &Built::default());
        let m = "mottakersystem=\"ms-a\",api=\"v1\",operation=\"list\"";
        for line in [
            "mottak_svarinn_download_concurrency{mottakersystem=\"ms-a\"} 7".to_owned(),
            "# TYPE mottak_svarinn_request_duration_seconds histogram".to_owned(),
            format!("mottak_svarinn_request_duration_seconds_bucket{{{m},le=\"0.1\"}} 0"),
            format!("mottak_svarinn_request_duration_seconds_bucket{{{m},le=\"0.25\"}} 1"),
            format!("mottak_svarinn_request_duration_seconds_bucket{{{m},le=\"120\"}} 1"),
            format!("mottak_svarinn_request_duration_seconds_bucket{{{m},le=\"+Inf\"}} 2"),
            format!("mottak_svarinn_request_duration_seconds_sum{{{m}}} 200.2"),
            format!("mottak_svarinn_request_duration_seconds_count{{{m}}} 2"),
            format!("mottak_svarinn_responses_total{{{m},status=\"2xx\"}} 1"),
            format!("mottak_svarinn_responses_total{{{m},status=\"error\"}} 1"),
            "mottak_forsendelse_listed_to_published_seconds_count{mottakersystem=\"ms-a\"} 0"
                .to_owned(),
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        // ms-a has no [mottakersystem.digisos]: the outbound families have no samples.
        assert!(text.contains("# TYPE mottak_maskinporten_token_fetches_total counter"));
        assert!(
            !text
                .lines()
                .any(|l| l.starts_with("mottak_maskinporten") || l.starts_with("mottak_fiks")),
            "{text}"
        );
    }

    #[test]
    fn svarinn_figures_carry_the_api_spoken_and_keep_the_other_once_called() {
        let telemetry = Telemetry::default();
        let quiet = telemetry.system("ms-v2");
        quiet.speaks(SvarInnApi::V2);
        let switched = telemetry.system("ms-switched");
        switched.svarinn_call(
            SvarInnApi::V1,
            SvarInnOp::Ack,
            Duration::from_millis(10),
            StatusClass::Success,
        );
        switched.speaks(SvarInnApi::V2);
        let mut text = String::new();
        render_telemetry(&mut text, &telemetry, &Built::default());
        let count = |m: &str, api: &str| {
            format!(
                "mottak_svarinn_responses_total{{mottakersystem=\"{m}\",api=\"{api}\",operation=\"ack\",status=\"2xx\"}}"
            )
        };
        let has = |line: String| text.lines().any(|l| l == line);
        assert!(has(format!("{} 0", count("ms-v2", "v2"))), "{text}");
        assert!(
            !text.contains("mottakersystem=\"ms-v2\",api=\"v1\""),
            "{text}"
        );
        assert!(has(format!("{} 1", count("ms-switched", "v1"))), "{text}");
        assert!(has(format!("{} 0", count("ms-switched", "v2"))), "{text}");
    }

    #[test]
    fn refusals_are_counted_by_listener_and_reason() {
        let admission = Admission::new(crate::console_api::admission::Limits::default());
        for _ in 0..3 {
            admission.note(Listener::Remote, Event::AddressFull, "10.0.0.1", None);
        }
        admission.note(Listener::Socket, Event::Timeout, "kari", None);
        let _held = admission.unauthenticated.try_take().unwrap();
        let mut text = String::new();
        render_listeners(&mut text, &admission);
        assert!(
            text.contains(
                "mottak_console_connections_refused_total{listener=\"remote\",reason=\"address_full\"} 3\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "mottak_console_handshake_failures_total{listener=\"socket\",reason=\"timeout\"} 1\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "mottak_console_connections{listener=\"remote\",stage=\"unauthenticated\"} 1\n"
            ),
            "{text}"
        );
        assert!(text.contains("# TYPE mottak_console_accept_errors_total counter"));
    }
}
