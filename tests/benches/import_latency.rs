//! How soon the agent acts on what the fagsystem does in the drop folder, end to end: the real
//! `mottak-agent run` (built in the bench profile) against the fakes in this process.
//!
//! `cargo bench -p mottak-tests --bench import_latency`
//!
//! 1. Import → acknowledgement (`ack = "on-import"`): `MOTTAK_BENCH_N` (default 100)
//!    forsendelser of 20 KB are published into `inn/` (a one-hour `poll_interval`: the first
//!    poll at start lists them all; no later poll helps). Then, one at a time, `MOTTAK_BENCH_GAP_MS`
//!    (default 50) apart, the bench plays the fagsystem: it renames `inn/<id>/` out of `inn/`
//!    and times until the fake SvarInn records the kvittering (its own clock, this process).
//!    Target: median ≤ 50 ms, p99 ≤ 200 ms.
//! 2. `KLAR` → update: `MOTTAK_BENCH_UPDATES` (default 50) small updates (one hendelse, no
//!    files), each for its own case: `ut/<digisos-id>/digisos-soker.json`, then `KLAR`, timed
//!    from the `KLAR` until the fake Fiks Digisos records the accepted update. One update first,
//!    untimed, so the Maskinporten token is fetched before. Target: median ≤ 100 ms.
//!
//! Both run with the default `rescan_interval` (30 s): what is measured is the watcher, not the
//! safety net. The machine's load average is printed: other builds on it show in the figures.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use common::{build_agent, env_or, loadavg, ms, quantile, source_revision, verdict};
use mottak_fixtures::svarinn::EventKind;
use mottak_tests::harness::{Ack, Agent, System, World, unit_environment};
use mottak_tests::outbound_harness::{Options, OutboundWorld, case_id, mottatt, soker};
use time::OffsetDateTime;

const TARGET_IMPORT_MEDIAN: Duration = Duration::from_millis(50);
const TARGET_IMPORT_P99: Duration = Duration::from_millis(200);
const TARGET_KLAR_MEDIAN: Duration = Duration::from_millis(100);
/// The longest one step may take before the bench gives up.
const LIMIT: Duration = Duration::from_secs(60);

fn main() -> Result<()> {
    let n: usize = env_or("MOTTAK_BENCH_N", 100)?;
    let updates: u32 = env_or("MOTTAK_BENCH_UPDATES", 50)?;
    let gap = Duration::from_millis(env_or("MOTTAK_BENCH_GAP_MS", 50)?);
    let agent = build_agent()?;
    println!(
        "import_latency: agent {} built from {}; load average {}",
        agent.display(),
        source_revision(),
        loadavg()
    );
    let mut verdicts = Vec::new();
    if n > 0 {
        verdicts.extend(import_to_ack(n, gap)?);
    }
    if updates > 0 {
        verdicts.extend(klar_to_update(updates, gap)?);
    }
    println!();
    println!("summary (load average now {}):", loadavg());
    for (ok, what) in &verdicts {
        println!("  {} {what}", verdict(*ok));
    }
    Ok(())
}

fn spawn(world: &World) -> Result<Agent> {
    let (mut cmd, output) = world.agent_command()?;
    for (key, value) in unit_environment()? {
        cmd.env(key, value);
    }
    Agent::spawn(&mut cmd, output)
}

/// Prints the figures of `samples` against the targets; returns the verdicts.
fn report(
    what: &str,
    mut samples: Vec<Duration>,
    targets: &[(&str, f64, Duration)],
) -> Vec<(bool, String)> {
    samples.sort();
    let (p50, p99) = (quantile(&samples, 0.5), quantile(&samples, 0.99));
    println!(
        "   {what}: n {}, min {}, median {}, p90 {}, p99 {}, max {}",
        samples.len(),
        ms(samples.first().copied().unwrap_or_default()),
        ms(p50),
        ms(quantile(&samples, 0.9)),
        ms(p99),
        ms(samples.last().copied().unwrap_or_default()),
    );
    targets
        .iter()
        .map(|(name, q, target)| {
            let got = quantile(&samples, *q);
            let line = format!("{what}: {name} {} (target ≤ {})", ms(got), ms(*target));
            println!("   {} {line}", verdict(got <= *target));
            (got <= *target, line)
        })
        .collect()
}

fn since(t0: OffsetDateTime, t1: OffsetDateTime) -> Duration {
    Duration::try_from(t1 - t0).unwrap_or(Duration::ZERO)
}

// ---------------------------------------------------------------------------------------------
// 1. A folder taken out of inn/ → kvitterMottak.

fn import_to_ack(n: usize, gap: Duration) -> Result<Vec<(bool, String)>> {
    let world = World::builder()
        .system(
            System::new("latency")
                .ack(Ack::OnImport)
                .poll_interval("1h"),
        )
        .start()?;
    let sys = world.first()?.clone();
    let ids = world.block_on(world.fake.generate(n, 20_000))?;
    println!();
    println!(
        "1. import → kvittering: {n} forsendelser of 20 KB, on-import, poll_interval 1h, rescan_interval 30 s (default), {} ms between imports",
        gap.as_millis()
    );
    let mut agent = spawn(&world)?;
    world.wait_published(&mut agent, &sys, &ids, LIMIT)?;
    world.wait_state(&mut agent, &ids, "delivered", LIMIT)?;
    let taken = world.dir().join("taken");
    fs::create_dir_all(&taken)?;
    let mut samples = Vec::with_capacity(n);
    for id in &ids {
        std::thread::sleep(gap);
        let t0 = OffsetDateTime::now_utc();
        fs::rename(sys.inn_of(id), taken.join(id)).with_context(|| format!("import {id}"))?;
        let started = Instant::now();
        let acked_at = loop {
            let found = world.fake.kvitteringer().into_iter().find(|e| {
                e.forsendelse.as_deref() == Some(id.as_str())
                    && matches!(e.kind, EventKind::Kvittering { .. })
            });
            if let Some(e) = found {
                break e.at;
            }
            agent.assert_running()?;
            if started.elapsed() > LIMIT {
                bail!(
                    "no kvittering for {id} within {LIMIT:?}\n{}",
                    agent.output_tail(30)
                );
            }
            std::thread::sleep(Duration::from_micros(500));
        };
        samples.push(since(t0, acked_at));
    }
    let status = agent.terminate(LIMIT)?;
    if !status.success() {
        println!("   note: the agent exited with {status} after SIGTERM");
    }
    Ok(report(
        "rename out of inn/ → kvittering at the fake",
        samples,
        &[
            ("median", 0.5, TARGET_IMPORT_MEDIAN),
            ("p99", 0.99, TARGET_IMPORT_P99),
        ],
    ))
}

// ---------------------------------------------------------------------------------------------
// 2. KLAR in ut/ → the update at Fiks.

fn klar_to_update(updates: u32, gap: Duration) -> Result<Vec<(bool, String)>> {
    let cases: Vec<String> = (0..=updates).map(case_id).collect();
    let w = OutboundWorld::start(Options {
        cases: cases.clone(),
        ..Options::default()
    })?;
    // The harness rescans ut/ every 200 ms for its tests; the bench measures the watcher.
    remove_ut_rescan(&w)?;
    println!();
    println!(
        "2. KLAR → update: {updates} small updates (one hendelse, no files), one case each, rescan_interval 30 s (default), {} ms apart",
        gap.as_millis()
    );
    let mut agent = spawn(&w.world)?;
    let ut = w.ut()?;
    let doc = soker(vec![mottatt(0)]);
    let mut samples = Vec::with_capacity(cases.len());
    for (i, case) in cases.iter().enumerate() {
        std::thread::sleep(gap);
        let dir = ut.join(case);
        fs::create_dir_all(&dir)?;
        fs::write(dir.join("digisos-soker.json"), serde_json::to_vec(&doc)?)?;
        let t0 = OffsetDateTime::now_utc();
        fs::write(dir.join("KLAR"), b"")?;
        let started = Instant::now();
        let posted_at = loop {
            let found = w
                .fiks
                .events()
                .into_iter()
                .find(|e| e.is_accepted_update_of(case));
            if let Some(e) = found {
                break e.at;
            }
            agent.assert_running()?;
            if started.elapsed() > LIMIT {
                bail!(
                    "no update of {case} within {LIMIT:?}\n{}",
                    agent.output_tail(30)
                );
            }
            std::thread::sleep(Duration::from_micros(500));
        };
        // The first fetched the Maskinporten token: not what is measured.
        if i > 0 {
            samples.push(since(t0, posted_at));
        }
    }
    let status = agent.terminate(LIMIT)?;
    if !status.success() {
        println!("   note: the agent exited with {status} after SIGTERM");
    }
    Ok(report(
        "KLAR in ut/ → update at the fake Fiks",
        samples,
        &[("median", 0.5, TARGET_KLAR_MEDIAN)],
    ))
}

/// Drops the harness's `poll_interval = "200ms"` from `[mottakersystem.digisos]` in the
/// world's config, so `ut/` is rescanned at the default `rescan_interval`.
fn remove_ut_rescan(w: &OutboundWorld) -> Result<()> {
    let path = &w.world.config_path;
    let text = fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let without = text.replace("poll_interval = \"200ms\"\n", "");
    if without == text {
        bail!("the outbound harness no longer sets the ut/ poll_interval this bench removes");
    }
    fs::write(path, without).with_context(|| format!("write {}", path.display()))
}
