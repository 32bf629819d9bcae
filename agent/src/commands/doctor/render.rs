//! The human rendering of a [`DoctorReport`]: one line per check, the fix
//! under it. Apart from the probes so the text can be tested without a network.

use crate::doctor::{DoctorReport, Outcome};

/// The human rendering: one line per check, the fix indented under it.
pub fn render(report: &DoctorReport) -> String {
    let mut out = format!(
        "mottak-agent doctor {} (read-only: nothing is acknowledged, reported or uploaded)\n",
        report.config
    );
    out.push_str("== offline (check-config) ==\n");
    if report.offline.is_empty() {
        out.push_str("pass    config: no findings\n");
    }
    for f in &report.offline {
        out.push_str(&format!("{:<7} [{}] {}\n", f.severity, f.scope, f.subject));
        for line in f.message.lines() {
            out.push_str(&format!("        {line}\n"));
        }
    }
    out.push_str("== online (per mottakersystem) ==\n");
    for c in &report.checks {
        let word = match c.outcome {
            Outcome::Pass => "pass",
            Outcome::Fail => "FAIL",
            Outcome::Skip => "skip",
        };
        out.push_str(&format!(
            "{word:<7} [{}] {} {}: {}\n",
            c.scope, c.kind, c.subject, c.detail
        ));
        if let Some(fix) = &c.fix {
            let label = if c.outcome == Outcome::Fail {
                "fix"
            } else {
                "note"
            };
            out.push_str(&format!("        {label}: {fix}\n"));
        }
    }
    out.push_str(&format!(
        "{} (exit {})\n",
        report.summary(),
        report.exit_code
    ));
    out
}
