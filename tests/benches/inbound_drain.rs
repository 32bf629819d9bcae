//! The inbound pipeline's throughput and memory, end to end: the real `mottak-agent run`
//! (built in the bench profile) against the fake SvarInn running in this process, in the
//! tests' [`World`] (fake, keys, config, drop folder, the agent as a child).
//!
//! `cargo bench -p mottak-tests --bench inbound_drain`
//!
//! Cargo builds no other package's binaries for a bench, so the bench first runs
//! `cargo build --profile bench -p mottak-agent --bin mottak-agent` itself: the agent measured
//! is the one [`mottak_tests::binary`] finds next to this bench (`target/release/`), never a
//! stale or test-profile build.
//!
//! 1. Drain: `MOTTAK_BENCH_N` (default 5,000) forsendelser of `MOTTAK_BENCH_SIZE` bytes
//!    (default 100,000) wait in the fake. The agent starts in `on-delivery` mode with a
//!    one-hour `poll_interval`, so everything after the first page of 200 comes from the agent
//!    paging again at once while pages are full. Timed from the agent's start until the fake
//!    holds every acknowledgement. Printed next to it: the cost of a bare
//!    write + fsync + rename + directory fsync of one file of the same size, measured in this
//!    run in the drop folder itself, before the agent starts and after it stops.
//! 2. Big: one forsendelse of `MOTTAK_BENCH_BIG_MIB` MiB (default 1024; `0` skips).
//! 3. Link (`drain/link.rs`), for each round trip in `MOTTAK_BENCH_ROUND_TRIPS` (ms, default
//!    `20,50`; empty skips): the fake holds every answer back that long; the script peer
//!    (`benches/script_peer.sh`: curl, `openssl cms -decrypt`, sha256sum, mv, curl, one
//!    forsendelse at a time, as kommuner run it today) drains `MOTTAK_BENCH_SCRIPT_N` (default
//!    100), then the agent `MOTTAK_BENCH_LINK_N` (default 2,000; `max_concurrent_downloads`
//!    16, the agent's default, where the harness pins 3; or `MOTTAK_BENCH_DOWNLOADS`), both of
//!    `MOTTAK_BENCH_LINK_SIZE` bytes (default 20,000), on the same fake; the rates and their
//!    ratio. Targets at 20 ms: the agent at least 10x the script and at least 400/s.
//! 4. Storm: `MOTTAK_BENCH_STORM_N` (default 4,000) at 20 ms; after 3 s, for
//!    `MOTTAK_BENCH_STORM_SECS` (default 10; `0` skips) every download is answered 429 and every
//!    other request 503, with `Retry-After: 2`. Printed: the agent's requests per second around
//!    it (the fake counts them). Target: from the storm's third second at most 10% of the rate
//!    before.
//!
//! `MOTTAK_BENCH_N=0` skips the drain (1.), e.g. to run only the link runs.
//!
//! The agent runs with the `Environment=` of `systemd/mottak-agent.service`
//! (`MALLOC_ARENA_MAX=2`), as in production. Without it glibc gives busy
//! blocking threads arenas of their own and the resident memory creeps up
//! (56.5 MiB after 10,000 instead of 38.4 MiB).
//!
//! Peak RSS is the agent's `VmHWM`, read from `/proc/<pid>/status` just before it is stopped
//! with SIGTERM. Every forsendelse is then checked in `inn/`: there exactly once, with the
//! size and sha256 the fake declared in its `filmetadata`.
//!
//! Targets of the drain (2-core machine): 200 forsendelser/s or more, per-forsendelse cost at most 3x the
//! bare publish, agent peak RSS under 64 MiB (both runs).
//!
//! Diagnostics printed with the figures: where the time went (the fake's list calls and
//! download concurrency, the journal's commits per forsendelse, CPU of the agent and of this
//! process, which hosts the fake and competes with the agent for the same two cores).
//!
//! Other knobs: `MOTTAK_BENCH_DIR` (where the temporary world goes; default the system's
//! temporary folder), `MOTTAK_BENCH_BARE_N` (bare publishes per measurement, default 300),
//! `MOTTAK_BENCH_LOG_LEVEL` (the agent's `log_level`, default `info`, the production default),
//! `MOTTAK_BENCH_DOWNLOADS` (the agent's `max_concurrent_downloads`; unset: its default),
//! `MOTTAK_BENCH_KEEP` (keep the temporary folders: agent output, journal, drop folder),
//! `MOTTAK_BENCH_STATE_DIR` (diagnosis only: put the journal elsewhere, e.g. on a tmpfs such
//! as `/dev/shm`, to see what the journal's fsyncs cost; the figures are then not the target's).

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use mottak_fixtures::svarinn::{Event, EventKind};
use mottak_tests::harness::{
    Agent, FORSENDELSE_JSON, Installed, System, World, attempt_counts, entries, sha256_file,
    unit_environment,
};
use mottak_tests::procfs::{self, ProcStatus};
use time::OffsetDateTime;

mod common;
#[path = "drain/link.rs"]
mod link;

use common::{build_agent, env_or, source_revision};

const MIB: u64 = 1024 * 1024;
const TARGET_RATE: f64 = 200.0;
const TARGET_RATIO: f64 = 3.0;
const TARGET_RSS_KIB: u64 = 64 * 1024;

fn main() -> Result<()> {
    let n: usize = env_or("MOTTAK_BENCH_N", 5_000)?;
    let size: u64 = env_or("MOTTAK_BENCH_SIZE", 100_000)?;
    let big_mib: u64 = env_or("MOTTAK_BENCH_BIG_MIB", 1024)?;
    let bare_n: usize = env_or("MOTTAK_BENCH_BARE_N", 300)?;
    let opts = AgentOptions {
        log_level: std::env::var("MOTTAK_BENCH_LOG_LEVEL").unwrap_or_else(|_| "info".into()),
        downloads: std::env::var("MOTTAK_BENCH_DOWNLOADS")
            .ok()
            .map(|v| v.parse::<u32>())
            .transpose()
            .context("MOTTAK_BENCH_DOWNLOADS")?,
        state_base: std::env::var_os("MOTTAK_BENCH_STATE_DIR").map(PathBuf::from),
    };
    let link_opts = link::LinkOptions::from_env()?;
    let agent = build_agent()?;
    let clk_tck = procfs::clock_ticks();

    let mut verdicts = Vec::new();
    println!(
        "inbound_drain: {n} forsendelser x {size} B, then {}; agent {} built from {}",
        if big_mib == 0 {
            "no big forsendelse".to_owned()
        } else {
            format!("1 x {big_mib} MiB")
        },
        agent.display(),
        source_revision()
    );
    let unit_env = unit_environment()?
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ");
    println!("the agent runs with the environment its systemd unit sets: {unit_env}");
    if n > 0 {
        verdicts.extend(drain(n, size, bare_n, &opts, clk_tck)?);
    }
    if big_mib > 0 {
        verdicts.extend(big(big_mib, &opts, clk_tck)?);
    }
    verdicts.extend(link::link_runs(&opts, &link_opts)?);
    println!();
    println!("summary:");
    for (ok, what) in &verdicts {
        println!("  {} {what}", if *ok { "PASS" } else { "MISS" });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The world: the harness's, with one system as production would poll it.

struct AgentOptions {
    log_level: String,
    downloads: Option<u32>,
    /// Where `state_dir` goes instead of the bench folder (diagnosis).
    state_base: Option<PathBuf>,
}

struct Bed {
    world: World,
    /// Holds journal.sqlite when `MOTTAK_BENCH_STATE_DIR` puts it outside the world.
    state: Option<tempfile::TempDir>,
}

impl Bed {
    fn root(&self) -> &Path {
        self.world.dir()
    }

    fn system(&self) -> Result<&Installed> {
        self.world.first()
    }

    /// Stops the fake; removes the folders unless `MOTTAK_BENCH_KEEP` is set.
    fn close(self) {
        if std::env::var_os("MOTTAK_BENCH_KEEP").is_some() {
            let state = self.state.map(|s| s.keep());
            let root = self.world.keep();
            println!(
                "   kept (MOTTAK_BENCH_KEEP): {}{}",
                root.display(),
                state.map_or(String::new(), |s| format!(" and {}", s.display()))
            );
        }
    }
}

/// One system `bench`: on-delivery, unzip, a one-hour `poll_interval` (paging is the
/// agent's, not the poll's), `max_concurrent_downloads` from `MOTTAK_BENCH_DOWNLOADS`.
fn bed(label: &str, opts: &AgentOptions) -> Result<Bed> {
    let mut system = System::new("bench").poll_interval("1h");
    if let Some(d) = opts.downloads {
        system = system.max_concurrent_downloads(d);
    }
    let mut builder = World::builder().system(system).log_level(&opts.log_level);
    if let Some(base) = std::env::var_os("MOTTAK_BENCH_DIR") {
        builder = builder.temp_in(base);
    }
    let state = match &opts.state_base {
        Some(base) => Some(
            tempfile::Builder::new()
                .prefix(&format!("mottak-bench-{label}-state-"))
                .tempdir_in(base)
                .context("create the state folder")?,
        ),
        None => None,
    };
    if let Some(state) = &state {
        builder = builder.state_dir(state.path());
    }
    Ok(Bed {
        world: builder.start()?,
        state,
    })
}

/// Flush everything written so far (the fake's ciphertexts), so the agent's fsyncs do not
/// pay for the setup's writeback.
fn sync_all() -> Result<Duration> {
    let t = Instant::now();
    let status = Command::new("sync").status().context("run sync")?;
    ensure!(status.success(), "sync failed: {status}");
    Ok(t.elapsed())
}

// ---------------------------------------------------------------------------------------------
// The agent process: the harness's, with the unit's environment and its start time.

struct Run {
    agent: Agent,
    started: Instant,
    started_at: OffsetDateTime,
}

impl Run {
    fn spawn(bed: &Bed) -> Result<Run> {
        let (mut cmd, output) = bed.world.agent_command()?;
        for (key, value) in unit_environment()? {
            cmd.env(key, value);
        }
        let started_at = OffsetDateTime::now_utc();
        let started = Instant::now();
        Ok(Run {
            agent: Agent::spawn(&mut cmd, output)?,
            started,
            started_at,
        })
    }

    fn pid(&self) -> u32 {
        self.agent.pid()
    }

    fn tail(&self) -> String {
        self.agent.output_tail(30)
    }

    fn proc_status(&self) -> Result<ProcStatus> {
        procfs::status(self.pid())
    }

    /// SIGTERM, then wait for the clean drain; SIGKILL (on drop) after 60 s.
    fn stop(mut self) -> Result<Duration> {
        let t = Instant::now();
        let status = self.agent.terminate(Duration::from_secs(60))?;
        if !status.success() {
            println!("  note: the agent exited with {status} after SIGTERM");
        }
        Ok(t.elapsed())
    }
}

// ---------------------------------------------------------------------------------------------
// The bare publish: what one durable file costs on this filesystem with nothing else around it.

#[derive(Debug, Clone, Copy)]
struct Stats {
    mean: Duration,
    p50: Duration,
    p90: Duration,
}

fn stats(mut v: Vec<Duration>) -> Stats {
    v.sort();
    let total: Duration = v.iter().sum();
    let count = u32::try_from(v.len().max(1)).unwrap_or(u32::MAX);
    let at = |q: usize| v.get((v.len() * q / 100).min(v.len().saturating_sub(1)));
    Stats {
        mean: total / count,
        p50: at(50).copied().unwrap_or_default(),
        p90: at(90).copied().unwrap_or_default(),
    }
}

/// `iterations` times: create a file, write `size` bytes, fsync it, rename it, fsync the
/// folder. In `dir` (created, then removed).
fn bare_publish(dir: &Path, size: u64, iterations: usize) -> Result<Stats> {
    fs::create_dir_all(dir)?;
    let mut buf = vec![0u8; usize::try_from(size)?];
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for b in &mut buf {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x.to_le_bytes()[0];
    }
    let mut times = Vec::with_capacity(iterations);
    for i in 0..iterations {
        let t = Instant::now();
        let tmp = dir.join(format!(".tmp-{i}"));
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(&buf)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, dir.join(format!("file-{i}")))?;
        File::open(dir)?.sync_all()?;
        times.push(t.elapsed());
    }
    fs::remove_dir_all(dir)?;
    Ok(stats(times))
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

// ---------------------------------------------------------------------------------------------
// Checking inn/.

/// Every id is in `inn/` exactly once (nothing else is), with `forsendelse.json` naming it
/// and one file of the declared size and sha256; nothing is left in staging or `feilet/`.
/// Returns the plaintext bytes checked.
fn verify_inn(bed: &Bed, ids: &[String]) -> Result<u64> {
    let sys = bed.system()?;
    let wanted: HashSet<&str> = ids.iter().map(String::as_str).collect();
    let mut seen = HashSet::new();
    let mut bytes = 0u64;
    let mut problems = Vec::new();
    for entry in fs::read_dir(sys.inn())? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !wanted.contains(name.as_str()) {
            problems.push(format!("inn/{name}: not one of the forsendelser"));
            continue;
        }
        if !seen.insert(name.clone()) {
            problems.push(format!("inn/{name}: twice"));
            continue;
        }
        match check_folder(&bed.world, &name, &entry.path()) {
            Ok(b) => bytes += b,
            Err(e) => problems.push(format!("inn/{name}: {e:#}")),
        }
    }
    for id in ids {
        if !seen.contains(id.as_str()) {
            problems.push(format!("{id}: not in inn/"));
        }
    }
    for sub in [".mottak", "feilet"] {
        let left = entries(&sys.drop_folder.join(sub));
        if !left.is_empty() {
            problems.push(format!(
                "{sub}/ holds {} entries: {:?}",
                left.len(),
                &left[..left.len().min(5)]
            ));
        }
    }
    if !problems.is_empty() {
        bail!(
            "{} problems in the drop folder, first ones:\n  {}",
            problems.len(),
            problems[..problems.len().min(10)].join("\n  ")
        );
    }
    Ok(bytes)
}

fn check_folder(world: &World, id: &str, folder: &Path) -> Result<u64> {
    let meta = world
        .fake
        .forsendelse(id)
        .ok_or_else(|| anyhow!("the fake does not know it"))?;
    let declared = meta
        .filmetadata
        .first()
        .ok_or_else(|| anyhow!("no filmetadata"))?;
    let json: serde_json::Value = serde_json::from_slice(&fs::read(folder.join(FORSENDELSE_JSON))?)
        .context("forsendelse.json")?;
    ensure!(json["id"] == id, "forsendelse.json names {}", json["id"]);
    let files: Vec<PathBuf> = fs::read_dir(folder)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().is_some_and(|n| n != FORSENDELSE_JSON))
        .collect();
    let [file] = files.as_slice() else {
        bail!("{} files besides forsendelse.json", files.len());
    };
    let (sha, len) = sha256_file(file)?;
    ensure!(
        len == declared.size,
        "{} is {len} bytes, declared {}",
        file.display(),
        declared.size
    );
    ensure!(
        sha.eq_ignore_ascii_case(&declared.sha256hash),
        "{} has sha256 {sha}, declared {}",
        file.display(),
        declared.sha256hash
    );
    Ok(len)
}

// ---------------------------------------------------------------------------------------------
// The journal, read after the agent stopped.

/// The agent's own count at shutdown: "journal writes since start writes=N group_commits=M".
fn group_commits(stderr: &Path) -> Option<(u64, u64)> {
    let text = fs::read_to_string(stderr).ok()?;
    let line = text
        .lines()
        .rev()
        .find(|l| l.contains("journal writes since start"))?;
    let field = |name: &str| -> Option<u64> {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .and_then(|v| v.parse().ok())
    };
    Some((field("writes=")?, field("group_commits=")?))
}

// ---------------------------------------------------------------------------------------------
// 1. The drain.

fn drain(
    n: usize,
    size: u64,
    bare_n: usize,
    opts: &AgentOptions,
    clk_tck: f64,
) -> Result<Vec<(bool, String)>> {
    let bed = bed("drain", opts)?;
    let sys = bed.system()?;
    println!();
    println!(
        "1. drain: {n} x {size} B in {}, on-delivery, poll_interval 1h, max_concurrent_downloads {}, log_level {}",
        bed.root().display(),
        opts.downloads
            .map_or("(default)".to_owned(), |d| d.to_string()),
        opts.log_level
    );
    if opts.state_base.is_some() {
        println!(
            "   DIAGNOSIS: the journal is in {} (MOTTAK_BENCH_STATE_DIR), not next to the drop folder",
            bed.world.state_dir.display()
        );
    }
    let t = Instant::now();
    let ids = bed.world.block_on(bed.world.fake.generate(n, size))?;
    let generated = t.elapsed();
    let synced = sync_all()?;
    println!(
        "   setup: the fake generated and encrypted {n} in {:.1} s; sync {:.1} s",
        generated.as_secs_f64(),
        synced.as_secs_f64()
    );

    let bare_dir = sys.drop_folder.join("bench-bare");
    let bare_before = bare_publish(&bare_dir, size, bare_n)?;
    println!(
        "   bare write+fsync+rename+dir-fsync of {size} B in the drop folder, {bare_n}x before the agent: mean {} (p50 {}, p90 {})",
        ms(bare_before.mean),
        ms(bare_before.p50),
        ms(bare_before.p90)
    );

    let load_before = procfs::load_average();
    let (self_user0, self_sys0) = procfs::cpu_seconds("self", clk_tck)?;
    let mut agent = Run::spawn(&bed)?;
    let pid = agent.pid();
    let limit = Duration::from_secs(600).max(Duration::from_millis(200) * u32::try_from(n)?);
    let marks = [1usize, n / 4, n / 2, 3 * n / 4, n];
    let mut reached: Vec<Option<(Duration, u64)>> = vec![None; marks.len()];
    let mut last_status = ProcStatus::default();
    let wall = loop {
        let acked = bed.world.fake.acked_ids().len();
        let now = agent.started.elapsed();
        for (slot, mark) in reached.iter_mut().zip(marks) {
            if slot.is_none() && acked >= mark.max(1) {
                let rss = agent.proc_status().map_or(0, |s| s.rss_kib);
                *slot = Some((now, rss));
            }
        }
        if acked >= n {
            break now;
        }
        if now > limit {
            bail!(
                "only {acked} of {n} acknowledged after {:.0} s; the agent's output ends with:\n{}",
                now.as_secs_f64(),
                agent.tail()
            );
        }
        agent.agent.assert_running()?;
        if let Ok(s) = agent.proc_status() {
            last_status = s;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (self_user1, self_sys1) = procfs::cpu_seconds("self", clk_tck)?;
    let status = agent.proc_status().unwrap_or(last_status);
    let (agent_user, agent_sys) = procfs::cpu_seconds(&pid.to_string(), clk_tck)?;
    let io = procfs::io(pid);
    let started_at = agent.started_at;
    let stderr = agent.agent.output.clone();
    let load_after = procfs::load_average();
    let stop = agent.stop()?;

    let events = bed.world.fake.events();
    let t = Instant::now();
    let verified = verify_inn(&bed, &ids);
    let verify_time = t.elapsed();
    let acked: HashSet<String> = bed.world.fake.acked_ids().into_iter().collect();
    let all_acked = ids.iter().all(|id| acked.contains(id));
    let commits = attempt_counts(&bed.world.journal_path()).unwrap_or_default();
    let bare_after = bare_publish(&bare_dir, size, bare_n)?;

    // Figures.
    let secs = wall.as_secs_f64();
    let rate = n as f64 / secs;
    let per = wall / u32::try_from(n)?;
    let bare = (bare_before.mean + bare_after.mean) / 2;
    let ratio = per.as_secs_f64() / bare.as_secs_f64();
    let cores = 2.0 * secs;
    println!(
        "   bare again after the agent stopped: mean {} (p50 {}, p90 {}); the ratio below uses the mean of both, {}",
        ms(bare_after.mean),
        ms(bare_after.p50),
        ms(bare_after.p90),
        ms(bare)
    );
    println!(
        "   drained: {n} acknowledged {:.2} s after the agent started: {rate:.1} forsendelser/s",
        secs
    );
    println!(
        "   machine load average (1, 5, 15 min) when the agent started: {load_before}; when it was done: {load_after} (2 cores; other work on the machine slows fsyncs and the agent)"
    );
    println!(
        "   per forsendelse: {} = {ratio:.2}x the bare publish ({}); {:.2}x the bare before, {:.2}x the bare after",
        ms(per),
        ms(bare),
        per.as_secs_f64() / bare_before.mean.as_secs_f64(),
        per.as_secs_f64() / bare_after.mean.as_secs_f64()
    );
    println!(
        "   agent peak RSS (VmHWM): {} (VmRSS at the end {} = anon {} + file {} + shmem {}; {} threads); stopped {:.2} s after SIGTERM",
        mib(status.hwm_kib),
        mib(status.rss_kib),
        mib(status.anon_kib),
        mib(status.file_kib),
        mib(status.shmem_kib),
        status.threads,
        stop.as_secs_f64()
    );
    let mut progress = Vec::new();
    let mut prev = (0usize, 0.0f64);
    for (m, r) in marks.iter().zip(&reached) {
        if let Some((t, rss)) = r {
            let t = t.as_secs_f64();
            let rate = if *m > prev.0 && t > prev.1 {
                format!(
                    ", {:.0}/s since the last mark",
                    (m - prev.0) as f64 / (t - prev.1)
                )
            } else {
                String::new()
            };
            progress.push(format!("{m} at {t:.2} s (VmRSS {}{rate})", mib(*rss)));
            prev = (*m, t);
        }
    }
    println!("   acknowledged: {}", progress.join("; "));
    println!(
        "   CPU: agent user {agent_user:.1} s + sys {agent_sys:.1} s ({:.0}% of 2 cores, {:.2} ms/forsendelse); \
         this process (the fake + the ack poller) user {:.1} s + sys {:.1} s ({:.0}% of 2 cores, {:.2} ms/forsendelse)",
        100.0 * (agent_user + agent_sys) / cores,
        1e3 * (agent_user + agent_sys) / n as f64,
        self_user1 - self_user0,
        self_sys1 - self_sys0,
        100.0 * (self_user1 - self_user0 + self_sys1 - self_sys0) / cores,
        1e3 * (self_user1 - self_user0 + self_sys1 - self_sys0) / n as f64,
    );
    let cpu_per =
        (agent_user + agent_sys + self_user1 - self_user0 + self_sys1 - self_sys0) / n as f64;
    println!(
        "   CPU-bound ceiling: at {:.2} ms of CPU per forsendelse (agent + fake), 2 cores could do at most {:.0}/s",
        1e3 * cpu_per,
        2.0 / cpu_per
    );
    if let (Some(wb), Some(sw)) = (io.get("write_bytes"), io.get("syscw")) {
        println!(
            "   agent I/O: {:.0} KB written to storage and {:.1} write calls per forsendelse",
            *wb as f64 / 1e3 / n as f64,
            *sw as f64 / n as f64
        );
    }
    let total_rows: u64 = commits.values().sum();
    println!(
        "   journal: {total_rows} history rows = {:.2} per forsendelse: {}",
        total_rows as f64 / n as f64,
        commits
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    match group_commits(&stderr) {
        Some((writes, commits)) => println!(
            "   journal: {writes} writes by the pipeline in {commits} group commits = {:.2} commits (WAL fsyncs, synchronous=FULL) per forsendelse, {:.1} writes per commit",
            commits as f64 / n as f64,
            writes as f64 / commits.max(1) as f64
        ),
        None => println!("   journal: the agent did not report its group commits"),
    }
    fake_report(&events, started_at, n, secs);
    println!(
        "   agent output: {} ({} KB)",
        stderr.display(),
        fs::metadata(&stderr).map(|m| m.len() / 1000).unwrap_or(0)
    );
    let verified_ok = match &verified {
        Ok(bytes) => {
            println!(
                "   verified in {:.1} s: {n} folders in inn/, each exactly once, {bytes} bytes, sizes and sha256 as declared; nothing left in .mottak/ or feilet/; every id acknowledged: {all_acked}",
                verify_time.as_secs_f64()
            );
            all_acked
        }
        Err(e) => {
            println!("   VERIFICATION FAILED: {e:#}");
            false
        }
    };
    bed.close();
    Ok(vec![
        (
            rate >= TARGET_RATE,
            format!("drain: {rate:.1} forsendelser/s (target >= {TARGET_RATE:.0}/s)"),
        ),
        (
            ratio <= TARGET_RATIO,
            format!(
                "drain: {} per forsendelse = {ratio:.2}x the bare publish {} (target <= {TARGET_RATIO:.0}x)",
                ms(per),
                ms(bare)
            ),
        ),
        (
            status.hwm_kib < TARGET_RSS_KIB,
            format!(
                "drain: agent peak RSS {} (target < 64 MiB)",
                mib(status.hwm_kib)
            ),
        ),
        (
            verified_ok,
            format!("drain: all {n} in inn/ exactly once with the right sha256, all acknowledged"),
        ),
    ])
}

/// What the fake saw: list calls (paging), downloads in flight, acknowledgements.
fn fake_report(events: &[Event], started_at: OffsetDateTime, n: usize, secs: f64) {
    let rel = |e: &Event| (e.at - started_at).as_seconds_f64();
    let lists: Vec<(f64, usize)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::List { ids } => Some((rel(e), ids.len())),
            _ => None,
        })
        .collect();
    let mut starts: HashMap<&str, f64> = HashMap::new();
    let mut busy = 0.0f64;
    let mut downloads = 0usize;
    let mut first_kvittering = 0usize;
    let mut repeat_kvittering = 0usize;
    let mut rejected = 0usize;
    for e in events {
        match &e.kind {
            EventKind::DownloadStart { .. } => {
                downloads += 1;
                if let Some(id) = e.forsendelse.as_deref() {
                    starts.insert(id, rel(e));
                }
            }
            EventKind::DownloadEnd { .. } => {
                if let Some(s) = e.forsendelse.as_deref().and_then(|id| starts.remove(id)) {
                    busy += rel(e) - s;
                }
            }
            EventKind::Kvittering { first: true } => first_kvittering += 1,
            EventKind::Kvittering { first: false } => repeat_kvittering += 1,
            EventKind::Rejected { .. } => rejected += 1,
            _ => {}
        }
    }
    let shown: Vec<String> = lists.iter().map(|(t, k)| format!("{t:.1}s:{k}")).collect();
    println!(
        "   fake: {} list calls (time after agent start : forsendelser listed) {}",
        lists.len(),
        shown.join(" ")
    );
    let gaps: Vec<f64> = lists.windows(2).map(|w| w[1].0 - w[0].0).collect();
    if !gaps.is_empty() {
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        println!(
            "   fake: a page of up to 200 every {mean:.2} s on average ({:.2} ms per forsendelse listed)",
            1e3 * mean / 200.0
        );
    }
    // Page turns: the agent lists again only once the page's work is done, and records the
    // new page in the journal before it downloads anything from it.
    let kvitteringer: Vec<f64> = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Kvittering { .. }))
        .map(rel)
        .collect();
    let download_starts: Vec<f64> = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::DownloadStart { .. }))
        .map(rel)
        .collect();
    let (mut before, mut after, mut turns) = (0.0f64, 0.0f64, 0usize);
    for (t, listed) in lists.iter().skip(1) {
        let last_ack = kvitteringer.iter().rev().find(|k| **k <= *t);
        let first_download = download_starts.iter().find(|d| **d >= *t);
        if let Some(k) = last_ack {
            before += t - k;
        }
        if *listed > 0
            && let Some(d) = first_download
        {
            after += d - t;
        }
        turns += 1;
    }
    if turns > 0 {
        println!(
            "   page turns: {turns}; last kvittering -> next list {:.1} ms, list -> first download of the page {:.1} ms on average; {:.2} s in all = {:.1}% of the wall time with no download or kvittering",
            1e3 * before / turns as f64,
            1e3 * after / turns.max(1) as f64,
            before + after,
            100.0 * (before + after) / secs
        );
    }
    println!(
        "   fake: {downloads} downloads (expected {n}), on average {:.2} in flight (body time summed / wall), {first_kvittering} first kvitteringer, {repeat_kvittering} repeated, {rejected} rejected requests",
        busy / secs
    );
}

// ---------------------------------------------------------------------------------------------
// 2. One big forsendelse.

fn big(big_mib: u64, opts: &AgentOptions, clk_tck: f64) -> Result<Vec<(bool, String)>> {
    let size = big_mib * MIB;
    let bed = bed("big", opts)?;
    println!();
    println!(
        "2. big: 1 x {big_mib} MiB ({size} B) in {}",
        bed.root().display()
    );
    let t = Instant::now();
    let ids = bed.world.block_on(bed.world.fake.generate(1, size))?;
    let generated = t.elapsed();
    let synced = sync_all()?;
    println!(
        "   setup: the fake generated and encrypted it in {:.1} s; sync {:.1} s",
        generated.as_secs_f64(),
        synced.as_secs_f64()
    );
    let mut agent = Run::spawn(&bed)?;
    let pid = agent.pid();
    let limit = Duration::from_secs(1800);
    let mut max_rss = 0u64;
    let mut last_status = ProcStatus::default();
    let wall = loop {
        let now = agent.started.elapsed();
        if !bed.world.fake.acked_ids().is_empty() {
            break now;
        }
        if now > limit {
            bail!(
                "not acknowledged after {:.0} s; the agent's output ends with:\n{}",
                now.as_secs_f64(),
                agent.tail()
            );
        }
        agent.agent.assert_running()?;
        if let Ok(s) = agent.proc_status() {
            max_rss = max_rss.max(s.rss_kib);
            last_status = s;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let status = agent.proc_status().unwrap_or(last_status);
    let (agent_user, agent_sys) = procfs::cpu_seconds(&pid.to_string(), clk_tck)?;
    agent.stop()?;
    let t = Instant::now();
    let verified = verify_inn(&bed, &ids);
    let verify_time = t.elapsed();
    let secs = wall.as_secs_f64();
    let mbps = size as f64 / 1e6 / secs;
    println!(
        "   end to end: acknowledged {secs:.2} s after the agent started: {mbps:.1} MB/s ({:.1} MiB/s)",
        size as f64 / MIB as f64 / secs
    );
    println!(
        "   agent peak RSS (VmHWM): {} (highest VmRSS sampled every 50 ms {}, {} threads); CPU user {agent_user:.1} s + sys {agent_sys:.1} s",
        mib(status.hwm_kib),
        mib(max_rss),
        status.threads
    );
    let ok = match &verified {
        Ok(bytes) => {
            println!(
                "   verified in {:.1} s: {bytes} bytes in inn/, size and sha256 as declared",
                verify_time.as_secs_f64()
            );
            *bytes == size
        }
        Err(e) => {
            println!("   VERIFICATION FAILED: {e:#}");
            false
        }
    };
    bed.close();
    Ok(vec![
        (
            status.hwm_kib < TARGET_RSS_KIB,
            format!(
                "big: agent peak RSS {} for {big_mib} MiB (target < 64 MiB)",
                mib(status.hwm_kib)
            ),
        ),
        (
            ok,
            format!("big: {big_mib} MiB delivered, bytes verified ({mbps:.1} MB/s)"),
        ),
    ])
}
