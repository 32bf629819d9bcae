//! What the benches (`inbound_drain`, `import_latency`, `idle_cost`) share: building the agent in the
//! bench profile, the revision measured, knobs from the environment, and quantiles.

// Each bench uses its own part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, ensure};

/// Builds the agent in the bench profile (cargo builds no other package's binaries for a
/// bench) and returns its path: the one [`mottak_tests::binary`] finds next to the bench.
pub fn build_agent() -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let status = Command::new(cargo)
        .args([
            "build",
            "--profile",
            "bench",
            "--locked",
            "-p",
            "mottak-agent",
        ])
        .args(["--bin", "mottak-agent", "--manifest-path"])
        .arg(&manifest)
        .status()
        .context("run cargo build for the agent")?;
    ensure!(status.success(), "building the agent failed: {status}");
    mottak_tests::binary("mottak-agent")
}

/// The commit, and whether agent/ or protocol/ differ from it.
pub fn source_revision() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(&root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let Some(rev) = git(&["rev-parse", "--short", "HEAD"]) else {
        return "an unknown revision".to_owned();
    };
    match git(&["status", "--porcelain", "--", "agent/src", "protocol/src"]) {
        Some(s) if !s.is_empty() => {
            format!("{rev} + uncommitted changes in agent/src or protocol/src")
        }
        _ => rev,
    }
}

/// `name` from the environment, parsed, or `default`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .map_err(|e| anyhow!("{name}={v:?} is not a number: {e}")),
        Err(_) => Ok(default),
    }
}

/// The `q`-th quantile (0..=1) of `sorted`, nearest rank.
#[allow(clippy::cast_possible_truncation)]
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// The load average, to say how busy the machine was.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// PASS or MISS.
pub fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "MISS" }
}
