//! `cargo bench -p mottak-demo --bench console_100k`
//!
//! With 100,000 failed forsendelser in the journal: how long the real console `mottak` takes
//! from its start to the first complete screen, and how much memory it needs (targets: under
//! 500 ms and under 100 MiB), against a real `mottak-agent run`; and how long the agent takes
//! to build the console state (its snapshot) from such a journal.
//!
//! The journal is seeded through the agent's journal API (rows listed in pages), then made
//! `failed` with three failed download attempts each in one SQL transaction (the API commits
//! and fsyncs every transition on its own, which would take minutes for 100,000). The console
//! runs in tmux (a real pseudo-terminal) with `--exit-after-first-frame`, which prints
//! `first_frame_ms=.. peak_rss_kib=..` on stderr; the first run is a warm-up.
//!
//! Environment: `MOTTAK_BENCH_FAILED` (default 100000), `MOTTAK_BENCH_RUNS` (default 7),
//! `MOTTAK_BENCH_KEEP` (set: keep the temporary folder with the journal and the logs).

#[allow(dead_code)]
#[path = "../src/bins.rs"]
mod bins;
#[allow(dead_code)]
#[path = "../src/procs.rs"]
mod procs;
#[allow(dead_code)]
#[path = "../src/setup.rs"]
mod setup;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use mottak_agent::clock::SystemClock;
use mottak_agent::console_api::state::{Builder, StateSettings, SystemSource};
use mottak_agent::dropfolder::DropFolder;
use mottak_agent::inbound::worker::WorkerHealth;
use mottak_agent::journal::{Journal, NewForsendelse};
use mottak_agent::names::ForsendelseId;
use mottak_fixtures::svarinn::{FakeSvarInn, MottakersystemSpec};
use mottak_protocol::console::AgentInfo;

const TARGET_MS: f64 = 500.0;
const TARGET_KIB: f64 = 100.0 * 1024.0;

fn env_usize(name: &str, default: usize) -> Result<usize> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("{name}={v:?} is not a number")),
        Err(_) => Ok(default),
    }
}

fn main() -> Result<()> {
    // `cargo bench` passes --bench; nothing else to parse.
    let failed = env_usize("MOTTAK_BENCH_FAILED", 100_000)?;
    let runs = env_usize("MOTTAK_BENCH_RUNS", 7)?.max(1);

    let exe = std::env::current_exe()?;
    // target/<profile>/deps/<bench> → target/<profile>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("cannot find the target folder")?;
    let bins = bins::locate_in(profile_dir, false)?;
    let user = setup::login_name()?;
    let tmp = tempfile::Builder::new()
        .prefix("mottak-bench-console-")
        .tempdir()?;
    let root = tmp.path().to_path_buf();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let systems = setup::prepare(&root, &bins)?;
    let fake = {
        let mut b = FakeSvarInn::builder().storage_dir(root.join("fake-svarinn"));
        for s in &systems {
            b = b.mottakersystem(MottakersystemSpec::new(
                s.username,
                s.password,
                s.cert_pem.clone(),
            ));
        }
        rt.block_on(b.start())?
    };
    let config = setup::write_config(&root, &systems, fake.base_url(), None, None)?;
    setup::grant_access(&bins, &config, &user, &systems)?;
    let journal_path = root.join("state").join("journal.sqlite");

    println!(
        "console_100k: {failed} failed forsendelser over {} mottakersystemer, {runs} console runs \
         (load average {}: the figures depend on what else the machine is doing)",
        systems.len(),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let t = Instant::now();
    let names: Vec<&str> = systems.iter().map(|s| s.name).collect();
    seed(&journal_path, &names, failed)?;
    println!(
        "  seeded the journal in {:.1} s ({} MB)",
        t.elapsed().as_secs_f64(),
        std::fs::metadata(&journal_path)?.len() / 1_000_000
    );

    // The agent's side, in-process: the state builder the console API runs.
    let sources: Vec<SystemSource> = systems
        .iter()
        .map(|s| SystemSource {
            name: s.name.to_owned(),
            svarinn_url: fake.base_url().to_owned(),
            svarinn_api: mottak_agent::config::SvarInnApi::V1,
            certificates: vec![root.join("keys").join(format!("{}.crt", s.name))],
            drop: DropFolder::new(s.drop_folder(&root)),
            min_free_space: 512 << 20,
            health: Arc::new(WorkerHealth::default()),
        })
        .collect();
    let reader = Journal::open_read_only(&journal_path, Arc::new(SystemClock))?;
    let settings = StateSettings {
        // Every build reads the journal again: the cost of a build after a change.
        journal_every: Duration::ZERO,
        ..StateSettings::default()
    };
    let mut builder = Builder::new(sources, reader, settings, AgentInfo::default());
    let t = Instant::now();
    let built = builder.build(time::OffsetDateTime::now_utc())?;
    let first_build = t.elapsed();
    let mut rebuilds = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        builder.build(time::OffsetDateTime::now_utc())?;
        rebuilds.push(ms(t.elapsed()));
    }
    let t = Instant::now();
    let json = serde_json::to_vec(&built.state)?;
    let serialize = t.elapsed();
    println!(
        "  agent snapshot build (console_api::state::Builder): first {:.0} ms, after a change {:.0} ms (median of 5); \
         {} of {} failed imports carried, JSON {:.1} MB serialised in {:.0} ms",
        ms(first_build),
        median(&mut rebuilds),
        built.state.failed.items.len(),
        built.state.failed.total,
        json.len() as f64 / 1e6,
        ms(serialize)
    );
    drop(builder);

    // The console against the real agent.
    if Command::new("tmux").arg("-V").output().is_err() {
        println!("  SKIP the console runs: tmux is not installed (they need a pseudo-terminal)");
        return Ok(());
    }
    let mut cmd = Command::new(&bins.agent);
    cmd.arg("run")
        .arg("--config")
        .arg(&config)
        .current_dir(&root);
    for var in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "RUST_LOG", "LISTEN_FDS"] {
        cmd.env_remove(var);
    }
    let mut agent = procs::Proc::spawn_background("mottak-agent", cmd, &root.join("agent.log"))?;
    let socket = root.join("state").join("console.sock");
    let start = Instant::now();
    while !socket.exists() {
        if let Some(status) = agent.exited() {
            bail!("mottak-agent exited ({status}):\n{}", agent.log_tail(20));
        }
        if start.elapsed() > Duration::from_secs(60) {
            bail!(
                "mottak-agent did not open its socket:\n{}",
                agent.log_tail(20)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    println!(
        "  agent up (socket) {:.0} ms after start",
        ms(start.elapsed())
    );

    let mut frame_ms = Vec::new();
    let mut rss_kib = Vec::new();
    let mut wall_ms = Vec::new();
    for i in 0..=runs {
        let r = console_run(&bins.console, &socket, &root, i)?;
        if i == 0 {
            println!(
                "  warm-up: first_frame_ms={:.0} peak_rss_kib={:.0} (not counted)",
                r.0, r.1
            );
            continue;
        }
        frame_ms.push(r.0);
        rss_kib.push(r.1);
        wall_ms.push(r.2);
    }
    let status = agent.stop(Duration::from_secs(20));
    let fm = (median(&mut frame_ms), max(&frame_ms));
    let rk = (median(&mut rss_kib), max(&rss_kib));
    let wm = (median(&mut wall_ms), max(&wall_ms));
    println!(
        "  console start → first complete screen: median {:.0} ms, max {:.0} ms (target < {TARGET_MS:.0} ms): {}",
        fm.0,
        fm.1,
        verdict(fm.1 < TARGET_MS)
    );
    println!(
        "  console peak RSS: median {:.1} MiB, max {:.1} MiB (target < 100 MiB): {}",
        rk.0 / 1024.0,
        rk.1 / 1024.0,
        verdict(rk.1 < TARGET_KIB)
    );
    println!(
        "  (process start to exit, seen from outside through tmux: median {:.0} ms, max {:.0} ms)",
        wm.0, wm.1
    );
    println!(
        "  agent stopped: {}",
        status.map_or_else(|| "not reaped".to_owned(), |s| s.to_string())
    );
    rt.block_on(fake.shutdown());
    if std::env::var_os("MOTTAK_BENCH_KEEP").is_some() {
        println!("  kept {}", tmp.keep().display());
    }
    Ok(())
}

fn verdict(pass: bool) -> &'static str {
    if pass { "PASS" } else { "MISS" }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NAN, f64::max)
}

/// One `mottak --exit-after-first-frame` in a fresh tmux session of 120x40: (first_frame_ms,
/// peak_rss_kib, wall ms from the tmux command to the session's end).
fn console_run(console: &Path, socket: &Path, root: &Path, i: usize) -> Result<(f64, f64, f64)> {
    let err: PathBuf = root.join(format!("console-{i}.stderr"));
    let session = format!("mottak-bench-{}-{i}", std::process::id());
    let shell = format!(
        "exec '{}' --exit-after-first-frame --socket '{}' 2> '{}'",
        console.display(),
        socket.display(),
        err.display()
    );
    let t = Instant::now();
    let status = Command::new("tmux")
        .args(["new-session", "-d", "-s", &session, "-x", "120", "-y", "40"])
        .arg(&shell)
        .status()
        .context("running tmux")?;
    if !status.success() {
        bail!("tmux new-session failed ({status})");
    }
    loop {
        let alive = Command::new("tmux")
            .args(["has-session", "-t", &session])
            .stderr(std::process::Stdio::null())
            .status()?
            .success();
        if !alive {
            break;
        }
        if t.elapsed() > Duration::from_secs(30) {
            let _ = Command::new("tmux")
                .args(["kill-session", "-t", &session])
                .status();
            bail!(
                "the console did not exit within 30 s; its stderr: {}",
                std::fs::read_to_string(&err).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let wall = ms(t.elapsed());
    let text = std::fs::read_to_string(&err).unwrap_or_default();
    let field = |name: &str| -> Option<f64> {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .and_then(|v| v.parse().ok())
    };
    match (field("first_frame_ms="), field("peak_rss_kib=")) {
        (Some(f), Some(r)) => Ok((f, r, wall)),
        _ => bail!("the console printed no figures; its stderr:\n{text}"),
    }
}

/// A forsendelse JSON of about the size SvarInn sends (2 KB), so the journal's rows are as
/// wide as in production and its scans read as many pages.
fn raw_json(k: usize) -> String {
    let pad = "x".repeat(1500);
    format!(
        "{{\"id\":\"{k}\",\"tittel\":\"Forsendelse {k}\",\"status\":\"Klar for mottak\",\"niva\":\"3\",\
         \"mottaker\":{{\"navn\":\"Storevik kommune\"}},\"filmetadata\":[],\"downloadUrl\":\"https://svarut.ks.no/x\",\
         \"metadataFraAvleverendeSystem\":{{\"ekstraMetadata\":[{{\"key\":\"pad\",\"value\":\"{pad}\"}}]}}}}"
    )
}

/// `n` failed forsendelser, spread over `systems`, each with three failed download attempts
/// and reported to SvarInn (so the agent sends no mottakFeilet for them).
fn seed(path: &Path, systems: &[&str], n: usize) -> Result<()> {
    let mut journal = Journal::open(path, Arc::new(SystemClock))?;
    let now = time::OffsetDateTime::now_utc();
    let titles = [
        "Søknad om økonomisk sosialhjelp",
        "Ettersendelse av dokumentasjon",
        "Søknad om tillatelse til tiltak",
        "Nabovarsel for Storgata 12",
        "Klage på vedtak om bostøtte",
    ];
    let avsendere = [
        "NAV Storevik",
        "Storevik kommune",
        "Byggmester AS",
        "Advokat Hansen",
    ];
    let page = 1000;
    let mut i = 0usize;
    while i < n {
        let end = (i + page).min(n);
        let system = systems[(i / page) % systems.len()];
        let rows = (i..end)
            .map(|k| {
                Ok(NewForsendelse {
                    id: ForsendelseId::parse(&format!(
                        "{:08x}-0000-4000-8000-{:012x}",
                        k,
                        k * 7919
                    ))?,
                    tittel: format!("{} ({k})", titles[k % titles.len()]),
                    avsender_navn: Some(avsendere[k % avsendere.len()].to_owned()),
                    forsendelse_type: None,
                    sendt_at: Some(now - time::Duration::minutes((n - k) as i64)),
                    size: Some(100_000 + (k as u64 % 900_000)),
                    raw_json: raw_json(k),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        journal.record_listed_page(system, &rows)?;
        i = end;
    }
    drop(journal);
    let mut conn = rusqlite::Connection::open(path)?;
    let tx = conn.transaction()?;
    let now_ms = now.unix_timestamp() * 1000;
    tx.execute(
        "UPDATE forsendelse SET state = 'failed', attempts = 3, content_failures = 3,
             last_error = 'could not decrypt the forsendelse: bad padding at the end of the content (the file is damaged, or encrypted to another key)',
             feil_reported_at = ?1, updated_at = ?1 - (rowid % 100000) * 1000",
        [now_ms],
    )?;
    for (k, at) in [(0, 30_000), (1, 20_000), (2, 0)] {
        tx.execute(
            "INSERT INTO attempt (mottakersystem, forsendelse_id, at, action, outcome, error)
             SELECT mottakersystem, forsendelse_id, updated_at - ?1, 'download', 'content-failed',
                    'could not decrypt the forsendelse: bad padding at the end of the content (attempt ' || ?2 || ')'
             FROM forsendelse",
            rusqlite::params![at, k + 1],
        )?;
    }
    tx.commit()?;
    Ok(())
}
