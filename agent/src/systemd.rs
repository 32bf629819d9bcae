//! Talking to systemd: `READY=1`, `STATUS=`, `WATCHDOG=1`, `STOPPING=1`.
//!
//! Everything here is best-effort: outside systemd (`NOTIFY_SOCKET` unset)
//! each call does nothing, and a failed notification is logged, never fatal,
//! because a daemon that dies for want of a status line helps no one.

use std::time::Duration;

use sd_notify::NotifyState;

/// Sends state notifications to the service manager, if there is one.
#[derive(Debug, Clone)]
pub struct Notifier {
    enabled: bool,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET` and `WATCHDOG_USEC`/`WATCHDOG_PID` from the environment.
    pub fn from_env() -> Self {
        Notifier {
            enabled: std::env::var_os("NOTIFY_SOCKET").is_some(),
            watchdog: sd_notify::watchdog_enabled(),
        }
    }

    /// A notifier that never sends anything (tests, `--no-notify`).
    pub fn disabled() -> Self {
        Notifier {
            enabled: false,
            watchdog: None,
        }
    }

    /// How often the main loop should prove progress: half the watchdog
    /// timeout, as sd_watchdog_enabled(3) advises. `None` when no watchdog is set.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog.map(|timeout| timeout / 2)
    }

    /// The journal is open and the console socket is bound.
    pub fn ready(&self) {
        self.send(&[NotifyState::Ready], "READY=1");
    }

    /// A one-line status shown by `systemctl status`.
    pub fn status(&self, line: &str) {
        self.send(&[NotifyState::Status(line)], "STATUS");
    }

    /// The main loop made progress since the last ping.
    pub fn watchdog(&self) {
        if self.watchdog.is_some() {
            self.send(&[NotifyState::Watchdog], "WATCHDOG=1");
        }
    }

    /// A clean shutdown has begun.
    pub fn stopping(&self) {
        self.send(&[NotifyState::Stopping], "STOPPING=1");
    }

    fn send(&self, states: &[NotifyState<'_>], what: &str) {
        if !self.enabled {
            return;
        }
        if let Err(err) = sd_notify::notify(states) {
            tracing::warn!(error = %err, "could not send {what} to systemd");
        }
    }
}
