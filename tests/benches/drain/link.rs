//! inbound_drain's link-bound runs: the fake SvarInn answers every request after a
//! simulated round trip, and the agent drains a backlog next to the script peer
//! (`tests/benches/script_peer.sh`, what kommuner run today) on the same fake; then a
//! 429/503 storm, during which the agent's request rate must fall within seconds.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use mottak_fixtures::svarinn::{Event, EventKind, Fault, RequestKind, RetryAfter, Scope};

use super::{AgentOptions, Bed, Run, bed, env_or, fake_report, sync_all, verify_inn};

/// At a 20 ms round trip: the agent at least this many times the script peer's rate...
const TARGET_SCRIPT_RATIO: f64 = 10.0;
/// ... and at least this many forsendelser of 20 KB a second.
const TARGET_LINK_RATE: f64 = 400.0;
/// The round trip the targets are set at.
const TARGET_ROUND_TRIP_MS: u64 = 20;
/// During a storm, from its third second on, the agent's requests per second are at most
/// this fraction of its rate before.
const TARGET_STORM_FRACTION: f64 = 0.1;
/// The agent's default `max_concurrent_downloads` (the harness's systems pin 3): these runs
/// measure the agent as installed, unless `MOTTAK_BENCH_DOWNLOADS` says otherwise.
const DEFAULT_CEILING: u32 = 16;
/// The `Retry-After` the storm sends, in seconds.
const STORM_RETRY_AFTER: u64 = 2;

/// The knobs of these runs (see the bench's module doc).
pub(super) struct LinkOptions {
    n: usize,
    script_n: usize,
    size: u64,
    round_trips_ms: Vec<u64>,
    storm_secs: u64,
    storm_n: usize,
}

impl LinkOptions {
    pub(super) fn from_env() -> Result<Self> {
        let round_trips_ms = std::env::var("MOTTAK_BENCH_ROUND_TRIPS")
            .unwrap_or_else(|_| "20,50".into())
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<u64>().context("MOTTAK_BENCH_ROUND_TRIPS"))
            .collect::<Result<_>>()?;
        Ok(LinkOptions {
            n: env_or("MOTTAK_BENCH_LINK_N", 2_000)?,
            script_n: env_or("MOTTAK_BENCH_SCRIPT_N", 100)?,
            size: env_or("MOTTAK_BENCH_LINK_SIZE", 20_000)?,
            round_trips_ms,
            storm_secs: env_or("MOTTAK_BENCH_STORM_SECS", 10)?,
            storm_n: env_or("MOTTAK_BENCH_STORM_N", 4_000)?,
        })
    }
}

/// Each round trip's agent and script runs, then the storm.
pub(super) fn link_runs(opts: &AgentOptions, link: &LinkOptions) -> Result<Vec<(bool, String)>> {
    let opts = &AgentOptions {
        log_level: opts.log_level.clone(),
        downloads: Some(opts.downloads.unwrap_or(DEFAULT_CEILING)),
        state_base: opts.state_base.clone(),
    };
    let mut verdicts = Vec::new();
    for (i, &rt) in link.round_trips_ms.iter().enumerate() {
        verdicts.extend(round_trip_run(i + 3, rt, opts, link)?);
    }
    if link.storm_secs > 0 {
        verdicts.extend(storm(3 + link.round_trips_ms.len(), opts, link)?);
    }
    Ok(verdicts)
}

/// A drain's rate two ways: from the peer's start, and from its first request to its last
/// acknowledgement (the link-bound part, without the process's start).
struct Drained {
    from_start: f64,
    from_first_request: f64,
}

fn round_trip_run(
    number: usize,
    rt_ms: u64,
    opts: &AgentOptions,
    link: &LinkOptions,
) -> Result<Vec<(bool, String)>> {
    let bed = bed(&format!("link-{rt_ms}ms"), opts)?;
    let round_trip = Duration::from_millis(rt_ms);
    bed.world.fake.set_round_trip(round_trip);
    println!();
    println!(
        "{number}. link: the fake answers every request after {rt_ms} ms; {} x {} B by the script peer, then {} x {} B by the agent (on-delivery, max_concurrent_downloads {}), on the same fake",
        link.script_n,
        link.size,
        link.n,
        link.size,
        opts.downloads
            .map_or("(default)".to_owned(), |d| d.to_string()),
    );
    let script = script_run(&bed, link.script_n, link.size)?;
    println!(
        "   script peer: {:.1} forsendelser/s from its start ({:.1}/s from its first request)",
        script.from_start, script.from_first_request
    );
    let agent = agent_run(&bed, link.n, link.size)?;
    let ratio = agent.from_start / script.from_start;
    println!(
        "   agent: {:.1} forsendelser/s from its start ({:.1}/s from its first request)",
        agent.from_start, agent.from_first_request
    );
    println!(
        "   agent/script: {ratio:.1}x from the start ({:.1}x from the first request){}",
        agent.from_first_request / script.from_first_request,
        if rt_ms == TARGET_ROUND_TRIP_MS {
            format!(
                "; targets at {TARGET_ROUND_TRIP_MS} ms: >= {TARGET_SCRIPT_RATIO:.0}x and >= {TARGET_LINK_RATE:.0}/s"
            )
        } else {
            String::new()
        }
    );
    bed.close();
    if rt_ms != TARGET_ROUND_TRIP_MS {
        return Ok(Vec::new());
    }
    Ok(vec![
        (
            ratio >= TARGET_SCRIPT_RATIO,
            format!(
                "link {rt_ms} ms: agent {:.1}/s = {ratio:.1}x the script peer's {:.1}/s (target >= {TARGET_SCRIPT_RATIO:.0}x)",
                agent.from_start, script.from_start
            ),
        ),
        (
            agent.from_start >= TARGET_LINK_RATE,
            format!(
                "link {rt_ms} ms: agent {:.1} forsendelser/s of {} B (target >= {TARGET_LINK_RATE:.0}/s)",
                agent.from_start, link.size
            ),
        ),
    ])
}

/// The fake's sequence number of its last event so far (0: none yet).
fn last_seq(bed: &Bed) -> u64 {
    bed.world.fake.events().last().map_or(0, |e| e.seq)
}

/// From the first request after event `after` to the last acknowledgement of `ids`.
fn link_bound(bed: &Bed, after: u64, ids: &[String]) -> Result<Duration> {
    let events: Vec<Event> = bed
        .world
        .fake
        .events()
        .into_iter()
        .filter(|e| e.seq > after)
        .collect();
    let first = events.first().context("no requests")?.elapsed;
    let wanted: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
    let last = events
        .iter()
        .filter(|e| {
            matches!(e.kind, EventKind::Kvittering { .. })
                && e.forsendelse
                    .as_deref()
                    .is_some_and(|id| wanted.contains(id))
        })
        .map(|e| e.elapsed)
        .max()
        .context("no acknowledgements")?;
    Ok(last.saturating_sub(first))
}

/// Runs `script_peer.sh` over `n` new forsendelser, into a folder of its own.
fn script_run(bed: &Bed, n: usize, size: u64) -> Result<Drained> {
    let sys = bed.system()?;
    let ids = bed.world.block_on(bed.world.fake.generate(n, size))?;
    sync_all()?;
    let dest = bed.root().join("script-inn");
    let work = bed.root().join("script-work");
    fs::create_dir_all(&dest)?;
    fs::create_dir_all(&work)?;
    let password = fs::read_to_string(&sys.password_path)?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/script_peer.sh");
    let after = last_seq(bed);
    let started = Instant::now();
    let out = Command::new("sh")
        .arg(&script)
        .env("SVARINN_URL", bed.world.fake.base_url())
        .env("SVARINN_USER", &sys.spec.username)
        .env("SVARINN_PASSWORD", password.trim_end())
        .env("KEY", &sys.key_path)
        .env("DEST", &dest)
        .env("WORK", &work)
        .output()
        .with_context(|| format!("run {}", script.display()))?;
    let wall = started.elapsed();
    if !out.status.success() {
        bail!(
            "{} failed ({}): {}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let delivered = fs::read_dir(&dest)?.count();
    ensure!(
        delivered == n,
        "the script peer delivered {delivered} of {n}"
    );
    let acked = bed.world.fake.acked_ids();
    ensure!(
        ids.iter().all(|id| acked.contains(id)),
        "the script peer left some unacknowledged"
    );
    let link = link_bound(bed, after, &ids)?;
    Ok(Drained {
        from_start: n as f64 / wall.as_secs_f64(),
        from_first_request: n as f64 / link.as_secs_f64(),
    })
}

/// Starts the agent on `n` new forsendelser and waits until all are acknowledged.
fn agent_run(bed: &Bed, n: usize, size: u64) -> Result<Drained> {
    let ids = bed.world.block_on(bed.world.fake.generate(n, size))?;
    sync_all()?;
    let after = last_seq(bed);
    let acked_before = bed.world.fake.acked_ids().len();
    let mut agent = Run::spawn(bed)?;
    let wall = wait_acked(bed, &mut agent, acked_before + n, Duration::from_secs(300))?;
    let started_at = agent.started_at;
    agent.stop()?;
    let events: Vec<Event> = bed
        .world
        .fake
        .events()
        .into_iter()
        .filter(|e| e.seq > after)
        .collect();
    fake_report(&events, started_at, n, wall.as_secs_f64());
    match verify_inn(bed, &ids) {
        Ok(bytes) => println!(
            "   verified: {n} folders in inn/, each once, {bytes} bytes as declared, every id acknowledged"
        ),
        Err(e) => println!("   VERIFICATION FAILED: {e:#}"),
    }
    let link = link_bound(bed, after, &ids)?;
    Ok(Drained {
        from_start: n as f64 / wall.as_secs_f64(),
        from_first_request: n as f64 / link.as_secs_f64(),
    })
}

/// Waits until the fake holds `acked` acknowledgements; the time since the agent started.
fn wait_acked(bed: &Bed, agent: &mut Run, acked: usize, limit: Duration) -> Result<Duration> {
    loop {
        let now = agent.started.elapsed();
        let got = bed.world.fake.acked_ids().len();
        if got >= acked {
            return Ok(now);
        }
        if now > limit {
            bail!(
                "only {got} of {acked} acknowledged after {:.0} s; the agent's output ends with:\n{}",
                now.as_secs_f64(),
                agent.tail()
            );
        }
        agent.agent.assert_running()?;
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A backlog drains at a 20 ms round trip; then for `storm_secs` every download is answered
/// 429 and every other request 503, each with `Retry-After: 2`; then the storm ends.
fn storm(number: usize, opts: &AgentOptions, link: &LinkOptions) -> Result<Vec<(bool, String)>> {
    let bed = bed("storm", opts)?;
    let fake = &bed.world.fake;
    fake.set_round_trip(Duration::from_millis(TARGET_ROUND_TRIP_MS));
    println!();
    println!(
        "{number}. storm: {} x {} B at a {TARGET_ROUND_TRIP_MS} ms round trip; after 3 s of draining, {} s of 429 (downloads) and 503 (everything else), each with Retry-After: {STORM_RETRY_AFTER}",
        link.storm_n, link.size, link.storm_secs
    );
    let ids = bed.world.block_on(fake.generate(link.storm_n, link.size))?;
    sync_all()?;
    let mut agent = Run::spawn(&bed)?;
    wait_acked(&bed, &mut agent, 1, Duration::from_secs(60))?;
    std::thread::sleep(Duration::from_secs(3));
    let throttle = |status| Fault::Throttle {
        status,
        retry_after: RetryAfter::Seconds(STORM_RETRY_AFTER),
    };
    let mut storm = Vec::new();
    for (status, kind) in [
        (429, RequestKind::Download),
        (503, RequestKind::List),
        (503, RequestKind::Kvittering),
        (503, RequestKind::MottakFeilet),
    ] {
        storm.push(fake.inject(throttle(status), Scope::every(kind))?);
    }
    let acked_at_storm = fake.acked_ids().len();
    std::thread::sleep(Duration::from_secs(link.storm_secs));
    for id in storm {
        fake.remove_fault(id);
    }
    let ended = Instant::now();
    let acked_in_storm = fake.acked_ids().len() - acked_at_storm;
    let drained = wait_acked(&bed, &mut agent, link.storm_n, Duration::from_secs(600));
    let after_storm = ended.elapsed();
    agent.stop()?;

    let events = fake.events();
    let refused = |e: &&Event| e.faults.iter().any(|f| matches!(f, Fault::Throttle { .. }));
    let first = events
        .iter()
        .find(refused)
        .context("the storm refused nothing")?;
    let last = events
        .iter()
        .rev()
        .find(refused)
        .context("no last refusal")?;
    let from = usize::try_from(first.elapsed.as_secs())?;
    let to = usize::try_from(last.elapsed.as_secs())?;
    let per_second = fake.requests_per_second();
    let at = |s: usize| per_second.get(s).copied().unwrap_or(0);
    let shown: Vec<String> = (from.saturating_sub(3)..(to + 6).min(per_second.len()))
        .map(|s| {
            let mark = if s == from {
                " [storm begins]"
            } else if s == to + 1 {
                " [storm over]"
            } else {
                ""
            };
            format!("{}{mark}", at(s))
        })
        .collect();
    println!(
        "   the agent's requests per second, from 3 s before the storm to 5 s after: {}",
        shown.join(", ")
    );
    let before = (from.saturating_sub(3)..from).map(at).sum::<u32>() as f64 / 3.0;
    let late: Vec<u32> = (from + 2..to.max(from + 2)).map(at).collect();
    let during = late.iter().sum::<u32>() as f64 / late.len().max(1) as f64;
    let refusals = events.iter().filter(refused).count();
    println!(
        "   before the storm {before:.0} requests/s; from its third second to its end {during:.1} requests/s ({:.1}% of before; target <= {:.0}%); {refusals} requests refused in all; {acked_in_storm} acknowledged while it lasted",
        100.0 * during / before.max(1.0),
        100.0 * TARGET_STORM_FRACTION
    );
    match &drained {
        Ok(_) => println!(
            "   after the storm the backlog drained in {:.1} s (downloads refused in it wait out their step's backoff, 5 s and more)",
            after_storm.as_secs_f64()
        ),
        Err(e) => println!("   after the storm the backlog did not drain: {e:#}"),
    }
    let verified = drained.is_ok() && verify_inn(&bed, &ids).is_ok();
    bed.close();
    Ok(vec![
        (
            during <= before * TARGET_STORM_FRACTION,
            format!(
                "storm: {during:.1} requests/s from its third second, {before:.0}/s before (target <= {:.0}%)",
                100.0 * TARGET_STORM_FRACTION
            ),
        ),
        (
            verified,
            format!(
                "storm: all {} in inn/ once, acknowledged after it",
                link.storm_n
            ),
        ),
    ])
}
