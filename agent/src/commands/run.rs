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
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::channels::Channels;
use crate::clock::{Clock, SystemClock};
use crate::config::{self, Config};
use crate::console_api;
use crate::journal::{Journal, SharedJournal, State};
use crate::systemd::Notifier;
use crate::telemetry::Telemetry;
use crate::{logging, pipeline};

/// The blocking pool's size: enough for every download's decryption (at
/// most 32 per mottakersystem) to run beside the file work of the others.
const MAX_BLOCKING_THREADS: usize = 64;

/// `mottak-agent run` with the config file at `config_path`.
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
    let result = runtime.block_on(daemon(config));
    if let Err(err) = &result {
        error!("stopping: {}", super::one_line(err));
    }
    result.map(|()| ExitCode::SUCCESS)
}

async fn daemon(config: Config) -> anyhow::Result<()> {
    let notifier = Notifier::from_env();
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
    let shutdown = CancellationToken::new();
    let mut workers = tokio::task::JoinSet::new();
    for pipeline in &channels.pipelines {
        workers.spawn(pipeline::supervise(Arc::clone(pipeline), shutdown.clone()));
    }

    // READY=1 only once consoles can connect: the socket is bound in start().
    let console = console_api::start(
        &config,
        journal.clone(),
        channels.inbound,
        console_api::Settings {
            outbound: channels.outbound,
            telemetry: Arc::clone(&telemetry),
            pipelines: channels.pipelines.clone(),
            ..console_api::Settings::default()
        },
        shutdown.clone(),
    )
    .await
    .context("cannot start the console API")?;
    notifier.ready();
    info!("ready");

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
            () = terminate_signal() => break,
            _ = status_tick.tick() => {
                let stalled: Vec<String> = channels
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
                let line = status_line(&journal).await;
                if line != last_status {
                    notifier.status(&line);
                    last_status = line;
                }
            }
        }
    }
    info!("SIGTERM: draining");
    notifier.stopping();
    shutdown.cancel();
    while workers.join_next().await.is_some() {}
    let writes = journal.stats();
    info!(
        writes = writes.jobs,
        group_commits = writes.commits,
        "journal writes since start"
    );
    console.stopped().await;
    info!("stopped");
    Ok(())
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

/// SIGTERM (systemd) or SIGINT (a person at a terminal).
async fn terminate_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        error!("cannot listen for SIGTERM; stop the agent with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
