//! What an agent with nothing to do costs: the real `mottak-agent run` (built in the bench
//! profile) with many idle mottakersystemer against the fake SvarInn in this process.
//!
//! `cargo bench -p mottak-tests --bench idle_cost`
//!
//! `MOTTAK_BENCH_SYSTEMS` (default 50) mottakersystemer, each with its own drop folder,
//! `poll_interval = "5m"`, on-import, nothing waiting at the fake. Once every one has polled
//! once and `MOTTAK_BENCH_SETTLE_SECS` (default 5) have passed, the agent's CPU time (user +
//! system, `/proc/<pid>/stat`) is read over `MOTTAK_BENCH_IDLE_SECS` (default 60), and its
//! RSS and threads at the end (`/proc/<pid>/status`). Then the same with one mottakersystem.
//! The requests the fake saw in the window are printed (none are due with a 5-minute poll).
//!
//! Targets (50 systems): at most 0.1 s CPU per minute, at most 40 MiB RSS. The agent runs
//! with its systemd unit's environment (`MALLOC_ARENA_MAX=2`). The machine's load average is
//! printed: other work on it shows in the CPU figure (the agent's time is its own, but a
//! busy machine makes each wake-up dearer).

mod common;

use std::time::{Duration, Instant};

use anyhow::Result;
use common::{build_agent, env_or, loadavg, source_revision, verdict};
use mottak_fixtures::svarinn::EventKind;
use mottak_tests::harness::{Ack, Agent, System, World, unit_environment};
use mottak_tests::procfs;

const TARGET_CPU_PER_MIN: f64 = 0.1;
const TARGET_RSS_KIB: u64 = 40 * 1024;

fn main() -> Result<()> {
    let systems: usize = env_or("MOTTAK_BENCH_SYSTEMS", 50)?;
    let settle = Duration::from_secs(env_or("MOTTAK_BENCH_SETTLE_SECS", 5)?);
    let window = Duration::from_secs(env_or("MOTTAK_BENCH_IDLE_SECS", 60)?.max(1));
    let agent = build_agent()?;
    println!(
        "idle_cost: agent {} built from {}; load average {}",
        agent.display(),
        source_revision(),
        loadavg()
    );
    let mut verdicts = Vec::new();
    let many = measure(systems, settle, window)?;
    verdicts.push((
        many.cpu_per_min <= TARGET_CPU_PER_MIN,
        format!(
            "{systems} idle mottakersystemer: {:.3} s CPU per minute (target ≤ {TARGET_CPU_PER_MIN})",
            many.cpu_per_min
        ),
    ));
    verdicts.push((
        many.rss_kib <= TARGET_RSS_KIB,
        format!(
            "{systems} idle mottakersystemer: RSS {:.1} MiB (target ≤ {} MiB)",
            many.rss_kib as f64 / 1024.0,
            TARGET_RSS_KIB / 1024
        ),
    ));
    if systems != 1 {
        let one = measure(1, settle, window)?;
        println!(
            "   for comparison, 1 system: {:.3} s CPU per minute, RSS {:.1} MiB, {} threads",
            one.cpu_per_min,
            one.rss_kib as f64 / 1024.0,
            one.threads
        );
    }
    println!();
    println!("summary (load average now {}):", loadavg());
    for (ok, what) in &verdicts {
        println!("  {} {what}", verdict(*ok));
    }
    Ok(())
}

struct Idle {
    cpu_per_min: f64,
    rss_kib: u64,
    threads: u64,
}

fn measure(systems: usize, settle: Duration, window: Duration) -> Result<Idle> {
    let mut builder = World::builder().log_level("info");
    for i in 0..systems {
        builder = builder.system(
            System::new(&format!("idle-{i:02}"))
                .ack(Ack::OnImport)
                .poll_interval("5m"),
        );
    }
    let t = Instant::now();
    let world = builder.start()?;
    println!();
    println!(
        "{systems} idle mottakersystem(er), poll_interval 5m, on-import, rescan_interval 30 s (default); world set up in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let (mut cmd, output) = world.agent_command()?;
    for (key, value) in unit_environment()? {
        cmd.env(key, value);
    }
    let mut agent = Agent::spawn(&mut cmd, output)?;
    let users: Vec<String> = world
        .systems
        .iter()
        .map(|s| s.spec.username.clone())
        .collect();
    world.wait(
        &mut agent,
        "every system's first poll",
        Duration::from_secs(120),
        || {
            let events = world.fake.events();
            users.iter().all(|u| {
                events.iter().any(|e| {
                    e.mottakersystem.as_deref() == Some(u.as_str())
                        && matches!(e.kind, EventKind::List { .. })
                })
            })
        },
    )?;
    std::thread::sleep(settle);
    let clk_tck = procfs::clock_ticks();
    let pid = agent.pid().to_string();
    let requests_before = world.fake.events().len();
    let (u0, s0) = procfs::cpu_seconds(&pid, clk_tck)?;
    let t0 = Instant::now();
    std::thread::sleep(window);
    let (u1, s1) = procfs::cpu_seconds(&pid, clk_tck)?;
    let elapsed = t0.elapsed().as_secs_f64();
    let status = procfs::status(agent.pid())?;
    let requests = world.fake.events().len() - requests_before;
    let cpu = (u1 - u0) + (s1 - s0);
    let per_min = cpu * 60.0 / elapsed;
    println!(
        "   over {elapsed:.1} s: CPU {cpu:.3} s (user {:.3}, system {:.3}) = {per_min:.3} s per minute (target ≤ {TARGET_CPU_PER_MIN}); RSS {:.1} MiB (target ≤ {} MiB; anon {:.1}, file {:.1}, shmem {:.1}), {} threads; {requests} requests at the fake",
        u1 - u0,
        s1 - s0,
        status.rss_kib as f64 / 1024.0,
        TARGET_RSS_KIB / 1024,
        status.anon_kib as f64 / 1024.0,
        status.file_kib as f64 / 1024.0,
        status.shmem_kib as f64 / 1024.0,
        status.threads,
    );
    println!(
        "   {} CPU, {} RSS",
        verdict(per_min <= TARGET_CPU_PER_MIN),
        verdict(status.rss_kib <= TARGET_RSS_KIB)
    );
    let exit = agent.terminate(Duration::from_secs(60))?;
    if !exit.success() {
        println!("   note: the agent exited with {exit} after SIGTERM");
    }
    Ok(Idle {
        cpu_per_min: per_min,
        rss_kib: status.rss_kib,
        threads: status.threads,
    })
}
