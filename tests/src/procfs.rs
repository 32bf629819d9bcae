//! Readings of a process from `/proc` (memory, threads, CPU time, I/O) and of the
//! machine's load: Linux only, for benches that measure the real agent.

use std::collections::BTreeMap;
use std::fs;
use std::process::Command;

use anyhow::{Result, anyhow};

/// The memory and thread lines of `/proc/<pid>/status`, in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcStatus {
    pub hwm_kib: u64,
    pub rss_kib: u64,
    /// VmRSS = RssAnon (heap, stacks) + RssFile (mapped files) + RssShmem (SQLite's -shm).
    pub anon_kib: u64,
    pub file_kib: u64,
    pub shmem_kib: u64,
    pub threads: u64,
}

/// Reads `/proc/<pid>/status`.
pub fn status(pid: u32) -> Result<ProcStatus> {
    let text = fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> Result<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow!("no {name} in /proc/{pid}/status"))
    };
    Ok(ProcStatus {
        hwm_kib: field("VmHWM:")?,
        rss_kib: field("VmRSS:")?,
        anon_kib: field("RssAnon:")?,
        file_kib: field("RssFile:")?,
        shmem_kib: field("RssShmem:")?,
        threads: field("Threads:")?,
    })
}

/// User and system CPU seconds of a process (`self` or a pid).
pub fn cpu_seconds(pid: &str, clk_tck: f64) -> Result<(f64, f64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = text
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow!("unreadable /proc/{pid}/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime 15.
    let get = |i: usize| -> Result<f64> {
        fields
            .get(i - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .map(|v| v as f64 / clk_tck)
            .ok_or_else(|| anyhow!("no field {i} in /proc/{pid}/stat"))
    };
    Ok((get(14)?, get(15)?))
}

/// The kernel's clock ticks per second (`getconf CLK_TCK`; 100 if unknown), the
/// unit of [`cpu_seconds`]'s fields.
pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(100.0)
}

/// `/proc/<pid>/io`: bytes the process caused to be written to storage, and write syscalls.
pub fn io(pid: u32) -> BTreeMap<String, u64> {
    fs::read_to_string(format!("/proc/{pid}/io"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_owned(), v.trim().parse().ok()?))
        })
        .collect()
}

/// `/proc/loadavg`'s first three fields: how busy the (shared) machine was.
pub fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".to_owned())
}
