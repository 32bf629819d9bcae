//! The agent process: a running `mottak-agent run`, its output, its exit, and
//! stopping it by SIGKILL (a crash) or SIGTERM (a clean stop); the environment
//! its systemd unit gives it.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use crate::ChildGuard;

/// A running `mottak-agent run`.
#[derive(Debug)]
pub struct Agent {
    pub guard: ChildGuard,
    /// Its stdout and stderr.
    pub output: PathBuf,
    status: Option<ExitStatus>,
}

impl Agent {
    pub fn spawn(cmd: &mut Command, output: PathBuf) -> Result<Agent> {
        Ok(Agent {
            guard: ChildGuard::spawn("mottak-agent", cmd)?,
            output,
            status: None,
        })
    }

    pub fn pid(&self) -> u32 {
        self.guard.id()
    }

    /// Its exit status, if it has exited (reaped).
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none()
            && let Ok(Some(st)) = self.guard.child.try_wait()
        {
            self.status = Some(st);
        }
        self.status
    }

    /// Fails if the agent has exited.
    pub fn assert_running(&mut self) -> Result<()> {
        match self.try_status() {
            None => Ok(()),
            Some(st) => bail!(
                "the agent exited ({st})\n--- agent output (tail) ---\n{}",
                self.output_tail(60)
            ),
        }
    }

    /// Everything it printed so far.
    pub fn output_text(&self) -> String {
        let mut bytes = Vec::new();
        if let Ok(mut f) = File::open(&self.output) {
            let _ = f.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Its last `n` lines of output.
    pub fn output_tail(&self, n: usize) -> String {
        let text = self.output_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// SIGKILL and reap: a crash.
    pub fn kill(&mut self) -> Result<()> {
        self.guard.kill()?;
        Ok(())
    }

    /// SIGTERM (through `kill(1)`: no `unsafe` here), then wait up to `limit`
    /// for the exit.
    pub fn terminate(&mut self, limit: Duration) -> Result<ExitStatus> {
        if let Some(st) = self.try_status() {
            bail!(
                "the agent had already exited ({st}) before SIGTERM\n{}",
                self.output_tail(60)
            );
        }
        let pid = self.pid().to_string();
        let st = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .context("run kill -TERM")?;
        if !st.success() {
            bail!("kill -TERM {pid} failed: {st}");
        }
        self.wait_exit(limit)
    }

    /// Waits up to `limit` for the agent to exit on its own.
    pub fn wait_exit(&mut self, limit: Duration) -> Result<ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(st) = self.try_status() {
                return Ok(st);
            }
            if start.elapsed() > limit {
                bail!(
                    "the agent did not exit within {limit:?}\n--- agent output (tail) ---\n{}",
                    self.output_tail(60)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The `Environment=` assignments of the shipped unit (`MALLOC_ARENA_MAX=2`):
/// the agent is measured as systemd runs it.
pub fn unit_environment() -> Result<Vec<(String, String)>> {
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd/mottak-agent.service");
    let text = fs::read_to_string(&unit).with_context(|| format!("read {}", unit.display()))?;
    let mut vars = Vec::new();
    for line in text.lines() {
        let Some(words) = line.trim().strip_prefix("Environment=") else {
            continue;
        };
        for word in words.split_whitespace() {
            let (key, value) = word.split_once('=').ok_or_else(|| {
                anyhow!("{}: Environment= word without '=': {word}", unit.display())
            })?;
            vars.push((key.to_owned(), value.to_owned()));
        }
    }
    Ok(vars)
}
