//! `mottak-agent run`: the daemon.
//!
//! Opens the journal, starts one inbound worker per mottakersystem (each
//! independent: one that cannot start or reach SvarInn never holds up the
//! others) and one outbound worker per mottakersystem with
//! `[mottakersystem.digisos]` (its own journal connection and tasks, supervised
//! the same way), starts the console API (its socket bound, and pauses set from a
//! console restored, before systemd hears `READY=1`), reports queue depth in `STATUS=`, pings
//! the watchdog while every worker's loop turns, and drains on SIGTERM.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::config::{self, Config, Mottakersystem};
use crate::console_api::{self, state::SystemSource};
use crate::dropfolder::DropFolder;
use crate::fiks_client::{FiksClient, FiksTimeouts};
use crate::inbound::worker::{Worker, WorkerHealth};
use crate::journal::{Journal, SharedJournal, State, SystemClock};
use crate::maskinporten::{GrantKey, Maskinporten};
use crate::outbound::console::OutboundSource;
use crate::outbound::{OutboundHealth, OutboundWorker};
use crate::svarinn_client::{SvarInnClient, Timeouts};
use crate::systemd::Notifier;
use crate::telemetry::{SystemTelemetry, Telemetry};
use crate::{keys, logging};

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
    let journal_path = config.agent.journal_path();
    let journal = Journal::open(&journal_path, Arc::new(SystemClock))
        .with_context(|| format!("cannot open the journal {}", journal_path.display()))?;
    let journal = SharedJournal::new(journal);
    info!(journal = %journal_path.display(), mottakersystemer = config.mottakersystemer.len(), "mottak-agent starting");

    let shutdown = CancellationToken::new();
    let mut workers = tokio::task::JoinSet::new();
    let mut health = Vec::new();
    // Pauses set by a person from a console hold over restarts.
    let paused: Vec<String> = journal
        .call(|j| j.paused())
        .await
        .context("cannot read the paused mottakersystemer from the journal")?
        .into_iter()
        .map(|p| p.mottakersystem)
        .collect();
    let mut sources = Vec::new();
    let telemetry = Arc::new(Telemetry::default());
    for system in config.mottakersystemer.clone() {
        let h = Arc::new(WorkerHealth::default());
        if paused.iter().any(|p| p == system.name.as_str()) {
            h.paused.store(true, Ordering::Relaxed);
            warn!(mottakersystem = %system.name, "paused from the console: nothing is fetched until someone resumes it");
        }
        health.push((system.name.as_str().to_owned(), Arc::clone(&h)));
        sources.push(SystemSource {
            name: system.name.as_str().to_owned(),
            svarinn_url: system.svarinn_url.as_str().trim_end_matches('/').to_owned(),
            certificates: system.certificates.clone(),
            drop: DropFolder::new(&system.drop_folder),
            min_free_space: system.min_free_space,
            health: Arc::clone(&h),
        });
        let t = telemetry.system(system.name.as_str());
        workers.spawn(supervise(system, journal.clone(), h, t, shutdown.clone()));
    }
    // Outbound: one worker per mottakersystem with [mottakersystem.digisos],
    // on its own journal connection and tasks, so it never waits on inbound.
    let mut outbound = Vec::new();
    let mut outbound_sources = Vec::new();
    for system in config
        .mottakersystemer
        .iter()
        .filter(|s| s.digisos.is_some())
    {
        let h = Arc::new(OutboundHealth::default());
        outbound.push((system.name.as_str().to_owned(), Arc::clone(&h)));
        if let Some(source) = OutboundSource::from_config(system, Arc::clone(&h)) {
            outbound_sources.push(source);
        }
        workers.spawn(supervise_outbound(
            system.clone(),
            journal_path.clone(),
            h,
            telemetry.system(system.name.as_str()),
            shutdown.clone(),
        ));
    }

    // READY=1 only once consoles can connect: the socket is bound in start().
    let console = console_api::start(
        &config,
        journal.clone(),
        sources,
        console_api::Settings {
            outbound: outbound_sources,
            telemetry: Arc::clone(&telemetry),
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
    let mut last_status = String::new();
    loop {
        tokio::select! {
            () = terminate_signal() => break,
            _ = status_tick.tick() => {
                if all_turning(&health, notifier.watchdog_interval())
                    && outbound_turning(&outbound, notifier.watchdog_interval())
                {
                    notifier.watchdog();
                } else {
                    warn!("a worker's loop has not turned for a watchdog interval; withholding WATCHDOG=1");
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

/// Starts a mottakersystem's worker, retrying its setup (keys, password,
/// drop folder) until it works, so a broken one is reported and retried
/// while the others run.
async fn supervise(
    system: Mottakersystem,
    journal: SharedJournal,
    health: Arc<WorkerHealth>,
    telemetry: Arc<SystemTelemetry>,
    shutdown: CancellationToken,
) {
    let name = system.name.as_str().to_owned();
    let mut failures = 0u32;
    loop {
        health.heartbeat_ms.store(now_ms(), Ordering::Relaxed);
        match setup(
            &system,
            &journal,
            Arc::clone(&health),
            Arc::clone(&telemetry),
        )
        .await
        {
            Ok(worker) => {
                info!(mottakersystem = %name, drop_folder = %system.drop_folder.display(), ack = %system.ack, "worker started");
                Arc::new(worker).run(shutdown).await;
                return;
            }
            Err(err) => {
                failures += 1;
                let delay = crate::backoff::Backoff::NETWORK
                    .delay_with_random_jitter(failures - 1)
                    .min(system.poll_interval);
                error!(mottakersystem = %name, retry_in = ?delay, "cannot start this mottakersystem: {}", super::one_line(&err));
                if let Ok(mut s) = health.status.lock() {
                    s.last_error = Some(super::one_line(&err));
                    s.consecutive_failures = failures;
                }
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = sleep_beating(delay, &health) => {}
                }
            }
        }
    }
}

/// Sleeps while keeping the heartbeat fresh: waiting to retry is progress.
async fn sleep_beating(total: Duration, health: &WorkerHealth) {
    let end = tokio::time::Instant::now() + total;
    while tokio::time::Instant::now() < end {
        health.heartbeat_ms.store(now_ms(), Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(1).min(end - tokio::time::Instant::now())).await;
    }
}

async fn setup(
    system: &Mottakersystem,
    journal: &SharedJournal,
    health: Arc<WorkerHealth>,
    telemetry: Arc<SystemTelemetry>,
) -> anyhow::Result<Worker> {
    let password = system
        .password
        .load_from_process()
        .context("cannot read the SvarInn password")?;
    let recipient_keys = keys::load_recipient_keys(&system.private_keys, &system.certificates)
        .context("cannot load the private keys")?;
    let client = SvarInnClient::new(
        system.svarinn_url.as_str(),
        &system.username,
        password.expose(),
        Timeouts {
            request: system.request_timeout,
            ..Timeouts::default()
        },
    )?
    .with_telemetry(Arc::clone(&telemetry));
    let drop = DropFolder::new(&system.drop_folder);
    let worker = Worker::new(
        system.clone(),
        client,
        drop,
        journal.clone(),
        recipient_keys,
        health,
    )
    .with_telemetry(telemetry);
    worker.recover().await?;
    Ok(worker)
}

fn now_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Every worker's loop turned within the watchdog timeout (twice the ping interval).
fn all_turning(health: &[(String, Arc<WorkerHealth>)], interval: Option<Duration>) -> bool {
    let limit_ms = interval.map_or(i64::MAX, |i| {
        i64::try_from(i.as_millis() * 2).unwrap_or(i64::MAX)
    });
    let now = now_ms();
    health
        .iter()
        .all(|(_, h)| now - h.heartbeat_ms.load(Ordering::Relaxed) <= limit_ms)
}

/// Every outbound worker's loop turned within the watchdog timeout.
fn outbound_turning(health: &[(String, Arc<OutboundHealth>)], interval: Option<Duration>) -> bool {
    let limit_ms = interval.map_or(i64::MAX, |i| {
        i64::try_from(i.as_millis() * 2).unwrap_or(i64::MAX)
    });
    let now = now_ms();
    health
        .iter()
        .all(|(_, h)| now - h.heartbeat_ms.load(Ordering::Relaxed) <= limit_ms)
}

/// Starts a mottakersystem's outbound worker, retrying its setup (grant key,
/// integration password, drop folder) until it works, like [`supervise`].
async fn supervise_outbound(
    system: Mottakersystem,
    journal_path: PathBuf,
    health: Arc<OutboundHealth>,
    telemetry: Arc<SystemTelemetry>,
    shutdown: CancellationToken,
) {
    let name = system.name.as_str().to_owned();
    let mut failures = 0u32;
    loop {
        health.beat();
        let t = Arc::clone(&telemetry);
        match setup_outbound(&system, &journal_path, Arc::clone(&health), t).await {
            Ok(worker) => {
                if let Ok(mut e) = health.setup_error.lock() {
                    *e = None;
                }
                info!(mottakersystem = %name, ut = %system.drop_folder.join("ut").display(), "outbound worker started");
                Arc::new(worker).run(shutdown).await;
                return;
            }
            Err(err) => {
                failures += 1;
                let delay = crate::backoff::Backoff::NETWORK
                    .delay_with_random_jitter(failures - 1)
                    .min(Duration::from_secs(60));
                error!(mottakersystem = %name, retry_in = ?delay, "cannot start sending saksoppdateringer to Fiks: {}", super::one_line(&err));
                if let Ok(mut e) = health.setup_error.lock() {
                    *e = Some(super::one_line(&err));
                }
                let end = tokio::time::Instant::now() + delay;
                while tokio::time::Instant::now() < end {
                    health.beat();
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_secs(1).min(end - tokio::time::Instant::now())) => {}
                    }
                }
            }
        }
    }
}

async fn setup_outbound(
    system: &Mottakersystem,
    journal_path: &std::path::Path,
    health: Arc<OutboundHealth>,
    telemetry: Arc<SystemTelemetry>,
) -> anyhow::Result<OutboundWorker> {
    let Some(d) = system.digisos.clone() else {
        anyhow::bail!("no [mottakersystem.digisos] table");
    };
    let passord = d
        .integrasjon_passord
        .load_from_process()
        .context("cannot read integrasjon_passord")?;
    let key = GrantKey::load(
        &d.maskinporten.private_key,
        &d.maskinporten.certificate_chain,
    )
    .context("cannot load the Maskinporten key")?;
    let maskinporten = Arc::new(
        Maskinporten::new(d.maskinporten.clone(), key, d.request_timeout)
            .context("cannot set up the Maskinporten client")?
            .with_telemetry(Arc::clone(&telemetry)),
    );
    let fiks = Arc::new(
        FiksClient::new(
            d.fiks_api_url.clone(),
            &d.fiks_org_id,
            &d.integrasjon_id,
            passord,
            maskinporten,
            FiksTimeouts {
                request: d.request_timeout,
                upload: d.upload_timeout,
            },
        )?
        .with_telemetry(telemetry),
    );
    DropFolder::new(&system.drop_folder)
        .ensure_layout()
        .context("cannot prepare the drop folder")?;
    let journal = Journal::open(journal_path, Arc::new(SystemClock))
        .with_context(|| format!("cannot open the journal {}", journal_path.display()))?;
    if let Ok(mut f) = health.fiks.lock() {
        *f = Some(Arc::clone(&fiks));
    }
    Ok(OutboundWorker::new(
        system.name.as_str(),
        &system.drop_folder,
        d,
        fiks,
        SharedJournal::new(journal),
        health,
    ))
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
