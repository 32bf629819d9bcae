//! `mottak-agent run`: the daemon.
//!
//! Opens the journal, supervises every pipeline [`Channels`] lists for the
//! config (each independent: one that cannot start or reach its service
//! never holds up the others), starts the console API (its socket bound
//! before systemd hears `READY=1`), reports queue depth in `STATUS=`, pings
//! the watchdog while every pipeline's loop turns, and drains on SIGTERM.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::channels::Channels;
use crate::clock::{Clock, SystemClock};
use crate::config::{self, Config};
use crate::console_api;
use crate::journal::{Journal, SharedJournal, State};
use crate::logging;
use crate::pipeline::{self, Pipeline};
use crate::systemd::Notifier;
use crate::telemetry::Telemetry;

/// The blocking pool's size: enough for every download's decryption (at
/// most 32 per mottakersystem) to run beside the file work of the others.
const MAX_BLOCKING_THREADS: usize = 64;

/// `mottak-agent run` with the config file at `config_path`: [`daemon`] until
/// SIGTERM or SIGINT.
pub fn run(config_path: &Path) -> anyhow::Result<ExitCode> {
    let config = config::load(config_path)?;
    std::fs::create_dir_all(&config.agent.log_dir)
        .with_context(|| format!("cannot create log_dir {}", config.agent.log_dir.display()))?;
    let _log_guard = logging::init(&logging::LogOptions {
        filter: config.agent.log_level.clone(),
        log_dir: Some(config.agent.log_dir.clone()),
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // File work, decryption and journal reads run on blocking threads;
        // past this many they queue instead of each costing a thread (memory).
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .thread_name("mottak-agent")
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(async {
        let shutdown = CancellationToken::new();
        tokio::spawn(cancel_on_signal(shutdown.clone()));
        daemon(config, shutdown, Notifier::from_env()).await
    });
    if let Err(err) = &result {
        error!("stopping: {}", super::one_line(err));
    }
    result.map(|()| ExitCode::SUCCESS)
}

/// The agent: [`Daemon::start`], then [`Daemon::serve`] until `shutdown` is
/// cancelled. `mottak-agent run` cancels it on SIGTERM; a test runs the
/// agent in its own process this way (as mini-redis runs its server).
pub async fn daemon(
    config: Config,
    shutdown: CancellationToken,
    notifier: Notifier,
) -> anyhow::Result<()> {
    Daemon::start(config, notifier).await?.serve(shutdown).await
}

/// A started agent: its pipelines supervised, its console API listening.
pub struct Daemon {
    notifier: Notifier,
    journal: SharedJournal,
    pipelines: Vec<Arc<dyn Pipeline>>,
    workers: JoinSet<()>,
    console: console_api::ConsoleApi,
    /// Stops the pipelines and the console API (cancelled by [`Daemon::serve`]
    /// when its caller's token is).
    stop: CancellationToken,
}

impl Daemon {
    /// Opens the journal, supervises every pipeline [`Channels`] lists and
    /// starts the console API; `READY=1` once its sockets are bound.
    pub async fn start(config: Config, notifier: Notifier) -> anyhow::Result<Daemon> {
        std::fs::create_dir_all(&config.agent.state_dir).with_context(|| {
            format!(
                "cannot create state_dir {}",
                config.agent.state_dir.display()
            )
        })?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let journal_path = config.agent.journal_path();
        let journal = Journal::open(&journal_path, Arc::clone(&clock))
            .with_context(|| format!("cannot open the journal {}", journal_path.display()))?;
        let journal = SharedJournal::new(journal);
        info!(journal = %journal_path.display(), mottakersystemer = config.mottakersystemer.len(), "mottak-agent starting");
        // Pauses set by a person from a console hold over restarts.
        for system in &config.mottakersystemer {
            if journal.is_paused(system.name.as_str()) {
                warn!(mottakersystem = %system.name, "paused from the console: nothing is fetched until someone resumes it");
            }
        }

        let telemetry = Arc::new(Telemetry::default());
        let channels = Channels::from_config(&config, &journal, &journal_path, &clock, &telemetry);
        let stop = CancellationToken::new();
        let mut workers = JoinSet::new();
        for pipeline in &channels.pipelines {
            workers.spawn(pipeline::supervise(Arc::clone(pipeline), stop.clone()));
        }

        // READY=1 only once consoles can connect: the socket is bound in start().
        let console = console_api::start(
            &config,
            journal.clone(),
            channels.inbound,
            console_api::Settings {
                outbound: channels.outbound,
                fiks_io: channels.fiks_io,
                telemetry: Arc::clone(&telemetry),
                pipelines: channels.pipelines.clone(),
                turned: Arc::clone(&channels.turned),
                ..console_api::Settings::default()
            },
            stop.clone(),
        )
        .await;
        let console = match console {
            Ok(console) => console,
            Err(err) => {
                // The pipelines already started: stop them before saying why.
                stop.cancel();
                while workers.join_next().await.is_some() {}
                return Err(err).context("cannot start the console API");
            }
        };
        notifier.ready();
        info!("ready");
        Ok(Daemon {
            notifier,
            journal,
            pipelines: channels.pipelines,
            workers,
            console,
            stop,
        })
    }

    /// Every pipeline it supervises (a test waits on their [`pipeline::Health`]).
    pub fn pipelines(&self) -> &[Arc<dyn Pipeline>] {
        &self.pipelines
    }

    /// Reports `STATUS=` and pings the watchdog while every pipeline's loop
    /// turns, until `shutdown`; then drains: the pipelines finish their work
    /// in flight and the console API closes.
    pub async fn serve(mut self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let notifier = &self.notifier;
        let mut status_tick = tokio::time::interval(
            notifier
                .watchdog_interval()
                .unwrap_or(Duration::from_secs(10))
                .min(Duration::from_secs(10)),
        );
        // A loop that has not turned within the watchdog's timeout (twice the
        // ping interval) withholds the ping.
        let stalled_after = notifier
            .watchdog_interval()
            .map_or(Duration::MAX, |i| i.saturating_mul(2));
        let mut last_status = String::new();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = status_tick.tick() => {
                    let stalled: Vec<String> = self
                        .pipelines
                        .iter()
                        .filter(|p| !p.health().turned_within(stalled_after))
                        .map(|p| format!("{} {}", p.mottakersystem(), p.kind()))
                        .collect();
                    if stalled.is_empty() {
                        notifier.watchdog();
                    } else {
                        warn!(stalled = %stalled.join(", "), "a worker's loop has not turned for a watchdog interval; withholding WATCHDOG=1");
                    }
                    let line = status_line(&self.journal).await;
                    if line != last_status {
                        notifier.status(&line);
                        last_status = line;
                    }
                }
            }
        }
        info!("shutting down: draining");
        notifier.stopping();
        self.stop.cancel();
        while self.workers.join_next().await.is_some() {}
        let writes = self.journal.stats();
        info!(
            writes = writes.jobs,
            group_commits = writes.commits,
            "journal writes since start"
        );
        self.console.stopped().await;
        info!("stopped");
        Ok(())
    }
}

/// `STATUS=`: what `systemctl status` shows in one line.
async fn status_line(journal: &SharedJournal) -> String {
    match journal.call(|j| j.counts()).await {
        Ok(counts) => {
            let sum = |pred: &dyn Fn(State) -> bool| -> u64 {
                counts
                    .iter()
                    .filter(|c| pred(c.state))
                    .map(|c| c.count)
                    .sum()
            };
            let queued =
                sum(&|s| matches!(s, State::Listed | State::Downloaded | State::RetryWait));
            let waiting = sum(&|s| matches!(s, State::Delivered | State::Imported));
            let failed = sum(&|s| matches!(s, State::Failed | State::Rejected));
            let acked = sum(&|s| s == State::Acked);
            format!(
                "{queued} to fetch, {waiting} waiting for the fagsystem or kvittering, {failed} need a person, {acked} done"
            )
        }
        Err(err) => format!("journal unreadable: {err}"),
    }
}

/// Cancels `shutdown` on SIGTERM (systemd) or SIGINT (a person at a terminal).
async fn cancel_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        error!("cannot listen for SIGTERM; stop the agent with SIGKILL");
        return;
    };
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    info!("{name}: stopping");
    shutdown.cancel();
}
