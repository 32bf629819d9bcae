//! What `check-config` found and how it is printed: the findings and their
//! severities, the summary line, the text the command writes. Apart from the
//! checks so `doctor` can read the same findings.

use std::fmt;

use mottak_protocol::listed::SvarInnApi;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The agent will not work: exit code 1.
    Error,
    /// Works, but needs attention soon.
    Warning,
    /// Done or worth knowing (a folder created).
    Note,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        })
    }
}

/// One problem (or note), located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// `config`, `agent`, or a mottakersystem's name.
    pub scope: String,
    /// What was checked: a key and its value, e.g. `private_keys[0] /etc/...`.
    pub subject: String,
    /// What is wrong and what to do.
    pub message: String,
}

/// Everything [`check`](super::check) found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    /// How many mottakersystemer were checked.
    pub mottakersystemer: usize,
    /// Which SvarInn API each mottakersystem speaks (`svarinn_api`), in config order.
    /// Printed, not a finding: it changes no count or verdict.
    pub apis: Vec<(String, SvarInnApi)>,
    /// Where each mottakersystem with `[mottakersystem.fiks_io]` receives,
    /// one line each, in config order. Printed, not a finding.
    pub fiks_io: Vec<(String, String)>,
}

impl Report {
    pub(super) fn push(
        &mut self,
        severity: Severity,
        scope: &str,
        subject: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.findings.push(Finding {
            severity,
            scope: scope.to_owned(),
            subject: subject.into(),
            message: message.into(),
        });
    }

    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    pub fn has_errors(&self) -> bool {
        self.count(Severity::Error) > 0
    }

    /// The last line: a count and a verdict.
    pub fn summary(&self) -> String {
        let (e, w, n) = (
            self.count(Severity::Error),
            self.count(Severity::Warning),
            self.count(Severity::Note),
        );
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        let counts = format!(
            "{}, {}, {}",
            plural(e, "error"),
            plural(w, "warning"),
            plural(n, "note")
        );
        let checked = plural(self.mottakersystemer, "mottakersystem");
        if e > 0 {
            format!("{counts} ({checked} checked): fix the errors before starting the agent")
        } else if w > 0 {
            format!("{counts} ({checked} checked): the agent can start; see the warnings")
        } else {
            format!("{counts} ({checked} checked): the config is ready")
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for finding in &self.findings {
            writeln!(
                f,
                "{:<7} [{}] {}",
                finding.severity, finding.scope, finding.subject
            )?;
            for line in finding.message.lines() {
                writeln!(f, "        {line}")?;
            }
        }
        for (name, api) in &self.apis {
            let label = api.as_str();
            write!(
                f,
                "speaks  [{name}] SvarInn {label} (svarinn_api = \"{label}\""
            )?;
            if *api == SvarInnApi::V1 {
                write!(
                    f,
                    "; KS marks V1 deprecated: docs/install.md says how to switch to \"v2\""
                )?;
            }
            writeln!(f, ")")?;
        }
        for (name, line) in &self.fiks_io {
            writeln!(f, "speaks  [{name}] {line}")?;
        }
        writeln!(f, "{}", self.summary())
    }
}
