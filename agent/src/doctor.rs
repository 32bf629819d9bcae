//! The result of `mottak-agent doctor` (see `commands::doctor`): the shape
//! of `--json`, the file it leaves in the agent's state dir, and what the
//! console's Integrations view is given of it.
//!
//! Doctor is a separate process (run by the installer, often while the
//! agent runs), so the hand-over is a file: doctor writes
//! `state_dir/doctor-last.json` (to a temporary name, then renamed, so a
//! reader never sees half of it), and the running agent's state builder reads
//! it when it changes ([`LastResult`]). No journal write and no socket: doctor
//! works before the agent was ever started, and the agent needs nothing but
//! a read of its own folder.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use mottak_protocol::console::{DOCTOR_LINES, DoctorLine, DoctorResult, Text};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The file under `state_dir` holding the last result (the JSON of `--json`).
pub const LAST_RESULT_FILE: &str = "doctor-last.json";
/// A last-result file larger than this is not read (doctor writes a few KiB).
const MAX_RESULT_BYTES: u64 = 1 << 20;

/// What became of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    /// Not applicable or not configured (never counts as a failure).
    Skip,
}

/// One online check: what, the result, and the fix when it failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// The mottakersystem's name.
    pub scope: String,
    /// `dns`, `tcp`, `tls`, `svarinn`, `maskinporten`, `digisos`, `fiks-io`, `drop-folder`.
    pub kind: String,
    /// What was checked (a host, an address, a folder).
    pub subject: String,
    pub outcome: Outcome,
    /// What was seen.
    pub detail: String,
    /// What to do, when it failed (or a hint when it passed).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fix: Option<String>,
}

/// A `check-config` finding, as doctor reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfflineFinding {
    /// `error`, `warning` or `note`.
    pub severity: String,
    /// `config`, `agent`, or a mottakersystem's name.
    pub scope: String,
    pub subject: String,
    pub message: String,
}

/// Everything doctor found: the `--json` shape and the stored last result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoctorReport {
    /// The config file checked.
    pub config: String,
    /// When the run finished (RFC 3339, UTC).
    pub finished_at: String,
    /// Always true: nothing was acknowledged, reported or uploaded.
    pub read_only: bool,
    pub offline: Vec<OfflineFinding>,
    pub checks: Vec<Check>,
    /// The exit code (0 all passed).
    pub exit_code: u8,
}

impl DoctorReport {
    pub fn failed(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| c.outcome == Outcome::Fail)
            .count()
    }

    pub fn offline_errors(&self) -> usize {
        self.offline
            .iter()
            .filter(|f| f.severity == "error")
            .count()
    }

    /// The last line of the human output.
    pub fn summary(&self) -> String {
        let passed = self
            .checks
            .iter()
            .filter(|c| c.outcome == Outcome::Pass)
            .count();
        match (self.failed(), self.offline_errors()) {
            (0, 0) => format!("all {passed} online checks passed, no config errors"),
            (f, o) => format!(
                "{f} of {} online checks failed, {o} config error{}: see the fix under each",
                self.checks.len(),
                if o == 1 { "" } else { "s" }
            ),
        }
    }

    /// `finished_at` as Unix ms (0 when it does not parse).
    pub fn finished_at_ms(&self) -> i64 {
        OffsetDateTime::parse(&self.finished_at, &Rfc3339)
            .map(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0))
            .unwrap_or(0)
    }

    /// What the console shows for `mottakersystem`: its own checks, and
    /// the config errors that are its own or the whole config's.
    pub fn for_console(&self, mottakersystem: &str) -> DoctorResult {
        let mine = self.checks.iter().filter(|c| c.scope == mottakersystem);
        let count = |o: Outcome| {
            u32::try_from(mine.clone().filter(|c| c.outcome == o).count()).unwrap_or(u32::MAX)
        };
        let config_errors: Vec<&OfflineFinding> = self
            .offline
            .iter()
            .filter(|f| f.severity == "error")
            .filter(|f| f.scope == mottakersystem || f.scope == "config" || f.scope == "agent")
            .collect();
        let failures = config_errors
            .iter()
            .map(|f| DoctorLine {
                kind: "config".to_owned(),
                subject: Text::new(f.subject.clone()),
                detail: Text::new(f.message.clone()),
                fix: None,
            })
            .chain(
                mine.clone()
                    .filter(|c| c.outcome == Outcome::Fail)
                    .map(|c| DoctorLine {
                        kind: c.kind.clone(),
                        subject: Text::new(c.subject.clone()),
                        detail: Text::new(c.detail.clone()),
                        fix: c.fix.clone().map(Text::new),
                    }),
            )
            .take(DOCTOR_LINES)
            .collect();
        DoctorResult {
            at: self.finished_at_ms(),
            exit_code: self.exit_code,
            passed: count(Outcome::Pass),
            failed: count(Outcome::Fail),
            skipped: count(Outcome::Skip),
            config_errors: u32::try_from(config_errors.len()).unwrap_or(u32::MAX),
            failures,
        }
    }
}

/// Writes `report` as `state_dir`'s last result: a temporary file, then a
/// rename, so the agent never reads half of one.
pub fn store(state_dir: &Path, report: &DoctorReport) -> std::io::Result<PathBuf> {
    let path = state_dir.join(LAST_RESULT_FILE);
    let tmp = state_dir.join(format!(".{LAST_RESULT_FILE}.tmp"));
    let json = serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, json)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// The last result as the running agent reads it: re-read only when the
/// file's modification time or size moved.
#[derive(Debug)]
pub struct LastResult {
    path: PathBuf,
    seen: Option<(SystemTime, u64)>,
    report: Option<DoctorReport>,
}

impl LastResult {
    pub fn new(state_dir: &Path) -> Self {
        LastResult {
            path: state_dir.join(LAST_RESULT_FILE),
            seen: None,
            report: None,
        }
    }

    /// The current result, after a look at the file. A missing, oversized or
    /// unreadable file is no result (the console says "never run"); one
    /// that does not parse is logged once per change.
    pub fn refresh(&mut self) -> Option<&DoctorReport> {
        let stamp = std::fs::metadata(&self.path)
            .ok()
            .filter(std::fs::Metadata::is_file)
            .and_then(|m| Some((m.modified().ok()?, m.len())));
        if stamp != self.seen {
            self.seen = stamp;
            self.report = stamp.and_then(|_| self.read());
        }
        self.report.as_ref()
    }

    /// The result as last refreshed.
    pub fn report(&self) -> Option<&DoctorReport> {
        self.report.as_ref()
    }

    fn read(&self) -> Option<DoctorReport> {
        let mut bytes = Vec::new();
        let read = File::open(&self.path)
            .and_then(|f| f.take(MAX_RESULT_BYTES + 1).read_to_end(&mut bytes));
        if let Err(e) = read {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot read the last doctor result; the console shows none");
            return None;
        }
        if bytes.len() as u64 > MAX_RESULT_BYTES {
            tracing::warn!(path = %self.path.display(), "the last doctor result is over 1 MiB; not read (run `mottak-agent doctor` again)");
            return None;
        }
        match serde_json::from_slice(&bytes) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "the last doctor result does not parse; run `mottak-agent doctor` again");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(scope: &str, kind: &str, outcome: Outcome) -> Check {
        Check {
            scope: scope.into(),
            kind: kind.into(),
            subject: format!("{kind} subject"),
            outcome,
            detail: "seen".into(),
            fix: (outcome == Outcome::Fail).then(|| "do this".into()),
        }
    }

    fn report() -> DoctorReport {
        DoctorReport {
            config: "/etc/mottak/agent.toml".into(),
            finished_at: "2026-12-03T14:00:00Z".into(),
            read_only: true,
            offline: vec![
                OfflineFinding {
                    severity: "error".into(),
                    scope: "b".into(),
                    subject: "password".into(),
                    message: "missing".into(),
                },
                OfflineFinding {
                    severity: "warning".into(),
                    scope: "a".into(),
                    subject: "cert".into(),
                    message: "soon".into(),
                },
            ],
            checks: vec![
                check("a", "dns", Outcome::Pass),
                check("a", "tcp", Outcome::Fail),
                check("a", "fiks-io", Outcome::Skip),
                check("b", "svarinn", Outcome::Fail),
            ],
            exit_code: 3,
        }
    }

    #[test]
    fn the_console_gets_each_mottakersystems_own_lines() {
        let r = report();
        let a = r.for_console("a");
        assert_eq!(a.at, 1_796_306_400_000);
        assert_eq!(
            (a.passed, a.failed, a.skipped, a.config_errors),
            (1, 1, 1, 0)
        );
        assert_eq!(a.failures.len(), 1);
        assert_eq!(a.failures[0].kind, "tcp");
        assert_eq!(a.failures[0].fix, Some(Text::new("do this")));
        let b = r.for_console("b");
        assert_eq!((b.failed, b.config_errors), (1, 1));
        assert_eq!(b.failures[0].kind, "config");
        assert_eq!(b.failures[1].kind, "svarinn");
    }

    #[test]
    fn the_agent_reads_a_stored_result_again_only_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let mut last = LastResult::new(dir.path());
        assert!(last.refresh().is_none());
        let mut r = report();
        store(dir.path(), &r).unwrap();
        assert_eq!(last.refresh(), Some(&r));
        r.exit_code = 0;
        r.checks.clear();
        r.finished_at = "2026-12-03T15:00:00.5Z".into();
        store(dir.path(), &r).unwrap();
        assert_eq!(last.refresh().map(|r| r.exit_code), Some(0));
        std::fs::write(dir.path().join(LAST_RESULT_FILE), b"{not json").unwrap();
        assert!(last.refresh().is_none());
    }
}
