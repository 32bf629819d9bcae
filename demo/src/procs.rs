//! The demo's child processes. Background parts (the agent, the fagsystem scripts) run in
//! process groups of their own, so the terminal's Ctrl-C reaches only the demo and the
//! console, and the demo stops them in order; stopping one stops its whole group (a shell
//! script's `sleep` too). Whatever is still running when a [`Proc`] is dropped is killed.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rustix::process::{Pid, Signal, kill_process, kill_process_group};

/// A child the demo started.
#[derive(Debug)]
pub struct Proc {
    pub name: String,
    child: Child,
    /// Where its stdout and stderr go (`None`: the terminal).
    pub log: Option<PathBuf>,
    /// Leads a process group of its own.
    own_group: bool,
    exited: Option<ExitStatus>,
}

impl Proc {
    /// Starts `cmd` in a new process group, stdin from /dev/null, stdout and stderr to `log`.
    pub fn spawn_background(name: &str, mut cmd: Command, log: &Path) -> Result<Proc> {
        let out = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let err = out
            .try_clone()
            .with_context(|| format!("opening {} twice", log.display()))?;
        cmd.stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting the {name} ({:?})", cmd.get_program()))?;
        Ok(Proc {
            name: name.to_owned(),
            child,
            log: Some(log.to_path_buf()),
            own_group: true,
            exited: None,
        })
    }

    /// Starts `cmd` on the demo's terminal, in the demo's (foreground) process group.
    pub fn spawn_foreground(name: &str, mut cmd: Command) -> Result<Proc> {
        let child = cmd
            .spawn()
            .with_context(|| format!("starting the {name} ({:?})", cmd.get_program()))?;
        Ok(Proc {
            name: name.to_owned(),
            child,
            log: None,
            own_group: false,
            exited: None,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its exit status, once it has exited (reaps it).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none()
            && let Ok(Some(status)) = self.child.try_wait()
        {
            self.exited = Some(status);
        }
        self.exited
    }

    fn signal(&self, sig: Signal) {
        let Some(pid) = i32::try_from(self.child.id()).ok().and_then(Pid::from_raw) else {
            return;
        };
        // ESRCH (already gone) is the only expected failure, and harmless.
        let _ = if self.own_group {
            kill_process_group(pid, sig)
        } else {
            kill_process(pid, sig)
        };
    }

    /// SIGTERM, up to `grace` to exit, then SIGKILL. Returns how it ended.
    pub fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        if self.exited().is_none() {
            self.signal(Signal::TERM);
            let deadline = Instant::now() + grace;
            while self.exited().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        if self.exited().is_none() {
            self.signal(Signal::KILL);
            if let Ok(status) = self.child.wait() {
                self.exited = Some(status);
            }
        }
        // Anything the leader left in its group (a script's `sleep`) goes too.
        if self.own_group {
            self.signal(Signal::KILL);
        }
        self.exited
    }

    /// The last `lines` lines of its log, for error messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let Some(log) = &self.log else {
            return String::new();
        };
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.exited().is_none() {
            self.signal(Signal::KILL);
            let _ = self.child.wait();
        }
        if self.own_group {
            self.signal(Signal::KILL);
        }
    }
}
