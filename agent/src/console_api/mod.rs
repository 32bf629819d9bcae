//! The console API: what consoles see of the agent and what they may do.
//!
//! Module map:
//! - `accounts`: users and groups through the name service (local, SSSD, LDAP): peer uid → login
//!   name and groups, a group's members; with deadlines, shared lookups and a short cache.
//! - `roles`: who may do what, pure: applicable grants, roles per mottakersystem, command
//!   checks, who can act on failed imports.
//! - `state`: the [`ConsoleState`](mottak_protocol::console::ConsoleState) built from each
//!   side's part (`inbound::console`, `outbound::console`) and the access list; alerts; what
//!   each caller may see.
//! - `alert_text`: each alert built from its kind and data ([`mottak_protocol::alert`]),
//!   with the agent's English for it.
//! - `commands`: console commands, checked, done and audited, idempotent by id; each is
//!   done by the side it targets (`inbound::actions`, `outbound::actions`) or is an
//!   access-list change.
//! - `admission`: connection slots per listener (the socket's admin reserve, the TLS
//!   listener's unauthenticated ones) and the counted, summarised log of refusals.
//! - `server`: the console socket and its accept loop; `server::session`, one websocket
//!   session (limits and deadlines, snapshot + deltas), over the socket or TLS.
//! - `tls`: the optional `[agent.remote]` listener (client certificate CN = user).
//! - `metrics`: the optional Prometheus `/metrics`.
//!
//! The access list and the audit log live in the journal (`journal::access`).
//!
//! [`start`] binds every listener before it returns, so `run` can tell
//! systemd `READY=1` only once consoles can connect.

pub mod accounts;
pub mod admission;
pub mod alert_text;
pub mod commands;
pub mod metrics;
pub mod roles;
pub mod server;
pub mod state;
pub mod tls;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::Config;
use crate::journal::{Journal, JournalError, SharedJournal, SystemClock};
use admission::{Admission, Limits};
use commands::{CommandRunner, SystemControl};
use server::{BindError, Hub, ServerSettings};
use state::{Builder, Built, StateSettings, SystemSource};
use tls::TlsSetupError;

/// Tunables of the console API (defaults for production; tests shorten them).
#[derive(Clone, Default)]
pub struct Settings {
    pub state: StateSettings,
    pub server: ServerSettings,
    /// The outbound workers (mottakersystemer with `[mottakersystem.digisos]`).
    pub outbound: Vec<crate::outbound::console::OutboundSource>,
    /// The Fiks IO pipelines (mottakersystemer with `[mottakersystem.fiks_io]`).
    pub fiks_io: Vec<crate::fiks_io::console::FiksIoSource>,
    /// What the workers and clients count and time, for `/metrics`.
    pub telemetry: Arc<crate::telemetry::Telemetry>,
    /// Every pipeline the daemon supervises (`Channels::pipelines`): listed
    /// on consoles and in `/metrics`, whatever their channel.
    pub pipelines: Vec<Arc<dyn crate::pipeline::Pipeline>>,
    /// Told when any pipeline's loop turns (`Channels::turned`): the state is
    /// rebuilt then, not on a clock.
    pub turned: Arc<Notify>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("state", &self.state)
            .field("server", &self.server)
            .field("outbound", &self.outbound)
            .field("pipelines", &self.pipelines.len())
            .finish_non_exhaustive()
    }
}

/// Why the console API could not start; the agent does not start either
/// (systemd shows the message).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the console API cannot read the journal: {0}")]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Socket(#[from] BindError),
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    #[error(
        "cannot listen on [agent] metrics = \"{addr}\": {source}; is the port in use? Choose another or remove the key"
    )]
    Metrics {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the console API's first state could not be built: {0}")]
    Task(String),
}

/// The running console API.
#[derive(Debug)]
pub struct ConsoleApi {
    /// The latest state (also what `/metrics` serves).
    pub state: watch::Receiver<Arc<Built>>,
    pub hub: Arc<Hub>,
    tasks: JoinSet<()>,
    socket: PathBuf,
}

impl ConsoleApi {
    /// Waits (briefly) for the listeners and sessions to end after
    /// `shutdown`, and removes the socket file.
    pub async fn stopped(mut self) {
        let wait = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(5), wait)
            .await
            .is_err()
        {
            self.tasks.abort_all();
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// Starts the console API for `systems`: builds the first state, binds
/// the console socket (and `[agent.remote]`, and `metrics`), and serves
/// until `shutdown`.
pub async fn start(
    config: &Config,
    journal: SharedJournal,
    systems: Vec<SystemSource>,
    settings: Settings,
    shutdown: CancellationToken,
) -> Result<ConsoleApi, StartError> {
    let journal_path = config.agent.journal_path();
    let reader = Journal::open_read_only(&journal_path, Arc::new(SystemClock))?;
    let agent = mottak_protocol::console::AgentInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        hostname: hostname(),
        started_at: crate::clock::to_millis(time::OffsetDateTime::now_utc()),
    };
    let mut state_settings = settings.state.clone();
    state_settings.inn_stale_after = config.agent.inn_warning_after;
    let mut builder = Builder::new(systems.clone(), reader, state_settings, agent);
    builder.set_outbound(settings.outbound.clone());
    builder.set_fiks_io(settings.fiks_io.clone());
    builder.set_pipelines(settings.pipelines.clone());
    builder.set_doctor_dir(&config.agent.state_dir);
    let (builder, first) = tokio::task::spawn_blocking(move || {
        let first = builder.build(time::OffsetDateTime::now_utc());
        (builder, first)
    })
    .await
    .map_err(|e| StartError::Task(e.to_string()))?;
    let (tx, rx) = watch::channel(Arc::new(first?));
    let rebuild = Arc::new(Notify::new());
    let controls = systems
        .iter()
        .map(|s| {
            (
                s.name.clone(),
                SystemControl {
                    drop: s.drop.clone(),
                    health: Arc::clone(&s.health),
                },
            )
        })
        .collect();
    let mut commands = CommandRunner::new(journal, controls, Arc::clone(&rebuild));
    commands.set_outbound(settings.outbound.clone());
    let commands = Arc::new(commands);
    let hub = Arc::new(Hub {
        state: rx.clone(),
        commands,
        admission: Arc::new(Admission::new(Limits::of(config))),
        settings: settings.server,
        shutdown: shutdown.clone(),
        connected: AtomicUsize::new(0),
        rebuild: Arc::clone(&rebuild),
    });

    let mut tasks = JoinSet::new();
    let socket = config.agent.console_socket.clone();
    let listener = server::bind_unix(&socket).await?;
    info!(socket = %socket.display(), "console socket listening");
    tasks.spawn(server::serve_unix(listener, Arc::clone(&hub)));
    if let Some(remote) = &config.agent.remote {
        let acceptor = tls::acceptor(remote)?;
        let listener = tls::bind(remote).await?;
        info!(listen = %remote.listen, "remote console listener (TLS, client certificates) listening");
        tasks.spawn(tls::serve(
            listener,
            acceptor,
            Arc::clone(&hub),
            remote.handshake_timeout,
        ));
    }
    if let Some(addr) = config.agent.metrics {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Metrics { addr, source })?;
        info!(%addr, "metrics listening at /metrics");
        tasks.spawn(metrics::serve(
            listener,
            rx.clone(),
            Arc::clone(&hub.admission),
            Arc::clone(&settings.telemetry),
            settings.pipelines.clone(),
            shutdown.clone(),
        ));
    }
    tasks.spawn(Arc::clone(&hub.admission).run_summaries(shutdown.clone()));
    tasks.spawn(run_builder(
        builder,
        tx,
        rebuild,
        Arc::clone(&settings.turned),
        shutdown,
    ));
    Ok(ConsoleApi {
        state: rx,
        hub,
        tasks,
        socket,
    })
}

/// Rebuilds the state when a command asks (at once), when a pipeline's loop
/// turned (at most once a `tick`), and when a part of it is due
/// ([`Builder::next_refresh`]: time windows, certificates, a drop folder
/// read put off); publishes it when it changed. Nothing else wakes it.
async fn run_builder(
    mut builder: Builder,
    tx: watch::Sender<Arc<Built>>,
    rebuild: Arc<Notify>,
    turned: Arc<Notify>,
    shutdown: CancellationToken,
) {
    let tick = builder.settings().tick;
    let mut last_error = String::new();
    let mut last_build = tokio::time::Instant::now();
    loop {
        let refresh = tokio::time::Instant::from_std(builder.next_refresh());
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep_until(refresh) => {}
            () = rebuild.notified() => builder.note_change(),
            () = turned.notified() => {
                builder.note_change();
                // A busy loop turns often: one build per tick shows it.
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep_until(last_build + tick) => {}
                    () = rebuild.notified() => {}
                }
            }
        }
        last_build = tokio::time::Instant::now();
        let now = time::OffsetDateTime::now_utc();
        let joined = tokio::task::spawn_blocking(move || {
            let built = builder.build(now);
            (builder, built)
        })
        .await;
        let built = match joined {
            Ok((b, built)) => {
                builder = b;
                built
            }
            Err(err) => {
                warn!(error = %err, "the console state builder stopped; consoles see no more changes until the agent restarts");
                return;
            }
        };
        match built {
            Ok(built) => {
                last_error.clear();
                tx.send_if_modified(|current| {
                    if **current == built {
                        false
                    } else {
                        *current = Arc::new(built);
                        true
                    }
                });
            }
            Err(err) => {
                let msg = err.to_string();
                if msg != last_error {
                    warn!(error = %msg, "building the console state failed; consoles keep the last state");
                    last_error = msg;
                }
            }
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}
