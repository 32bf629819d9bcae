//! The agent process: a running `mottak-agent run`, its output, its exit, and
//! stopping it by SIGKILL (a crash) or SIGTERM (a clean stop).

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

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
