//! Without a screen: `mottak status [--json]` prints the overview once;
//! `mottak check` is a Nagios/Icinga plugin (one line with perfdata; exit
//! 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).

use std::fmt::Write as _;

use mottak_protocol::console::{
    AgentInfo, Alert, ConsoleState, FiksIoLink, ForsendelseState, OutboundState, OutboundStatus,
    PipelineStatus, QueueHealth, Severity,
};
use serde::Serialize;

use crate::alerts::title_with_system;
use crate::app::{Welcome, in_progress, needs_person, queue_count};
use crate::human::age;
use crate::i18n::{Lang, fill};
use crate::outbound;
use crate::theme::Level;

/// A monitoring verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Warning,
    Critical,
    Unknown,
}

impl Status {
    /// The plugin exit code.
    pub fn code(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Warning => 1,
            Status::Critical => 2,
            Status::Unknown => 3,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warning => "WARNING",
            Status::Critical => "CRITICAL",
            Status::Unknown => "UNKNOWN",
        }
    }
}

/// Thresholds for [`check_line`]: each applies to the failed imports and,
/// on its own, to the failed saksoppdateringer (the perfdata carries both).
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    pub warn_failed: u64,
    pub crit_failed: Option<u64>,
}

/// The state's verdict: the worst of its alerts, the failed imports and the
/// failed saksoppdateringer (each) against the thresholds, and the two-hour line.
pub fn verdict(state: &ConsoleState, now_ms: i64, th: Thresholds) -> Status {
    let mut s = Status::Ok;
    for a in &state.alerts {
        s = s.max(match a.severity {
            Severity::Info => Status::Ok,
            Severity::Warning => Status::Warning,
            Severity::Critical => Status::Critical,
        });
    }
    for failed in [failed_total(state), outbound::failed_total(state)] {
        if th.crit_failed.is_some_and(|c| failed >= c) {
            s = s.max(Status::Critical);
        } else if th.warn_failed > 0 && failed >= th.warn_failed {
            s = s.max(Status::Warning);
        }
    }
    if state
        .queues
        .iter()
        .filter_map(|q| q.oldest_unacknowledged.as_ref())
        .any(|o| now_ms >= o.warning_at)
    {
        s = s.max(Status::Critical);
    }
    s
}

/// Failed imports waiting for a person (the queues' counts: not capped).
pub fn failed_total(state: &ConsoleState) -> u64 {
    let from_queues: u64 = state.queues.iter().map(needs_person).sum();
    from_queues.max(state.failed.total)
}

fn count(state: &ConsoleState, s: ForsendelseState) -> u64 {
    state.queues.iter().map(|q| queue_count(q, s)).sum()
}

fn oldest_unacked_ms(state: &ConsoleState, now_ms: i64) -> i64 {
    state
        .queues
        .iter()
        .filter_map(|q| q.oldest_unacknowledged.as_ref())
        .map(|o| now_ms - o.since)
        .max()
        .unwrap_or(0)
        .max(0)
}

/// The plugin's one line (without newline).
pub fn check_line(state: &ConsoleState, now_ms: i64, th: Thresholds) -> (Status, String) {
    let status = verdict(state, now_ms, th);
    let failed = failed_total(state);
    let crit = state
        .alerts
        .iter()
        .filter(|a| a.severity == Severity::Critical)
        .count();
    let warn = state
        .alerts
        .iter()
        .filter(|a| a.severity == Severity::Warning)
        .count();
    let mut summary = String::new();
    if let Some(a) = state.alerts.first().filter(|a| a.severity > Severity::Info) {
        let _ = write!(summary, "{}", one_alert(a));
        if state.alerts.len() > 1 {
            let _ = write!(summary, " (+{} more)", state.alerts.len() - 1);
        }
        summary.push_str("; ");
    }
    if state.outbound.is_empty() {
        let _ = write!(summary, "{failed} failed import(s) need a person");
    } else {
        let _ = write!(
            summary,
            "{failed} failed import(s) and {} failed saksoppdatering(er) need a person, {} saksoppdatering(er) queued",
            outbound::failed_total(state),
            outbound::queued_total(state)
        );
    }
    let _ = write!(summary, ", {} mottakersystem(er)", state.queues.len());
    let oldest = oldest_unacked_ms(state, now_ms) / 1000;
    let line_s = mottak_protocol::console::UNACKED_WARNING_MS / 1000;
    let delivered: u64 = state
        .queues
        .iter()
        .map(|q| q.throughput.delivered_last_hour)
        .sum();
    let crit_failed = th.crit_failed.map(|c| c.to_string()).unwrap_or_default();
    let mut perf = format!(
        "failed={failed};{};{crit_failed};0 rejected={} retry_wait={} oldest_unacked={oldest}s;;{line_s};0 delivered_last_hour={delivered};;;0 alerts_critical={crit} alerts_warning={warn}",
        th.warn_failed,
        count(state, ForsendelseState::Rejected),
        count(state, ForsendelseState::RetryWait),
    );
    if !state.outbound.is_empty() {
        let _ = write!(
            perf,
            " outbound_failed={};{};{crit_failed};0 outbound_queued={};;;0",
            outbound::failed_total(state),
            th.warn_failed,
            outbound::queued_total(state),
        );
    }
    let links: Vec<&FiksIoLink> = fiks_io_links(state).map(|(_, l)| l).collect();
    if !links.is_empty() {
        let sum = |f: fn(&FiksIoLink) -> u64| links.iter().map(|l| f(l)).sum::<u64>();
        let _ = write!(
            perf,
            " fiks_io_down={};;;0 fiks_io_waiting={};;;0 fiks_io_unacked={};;;0 fiks_io_receipts_owed={};;;0 fiks_io_receipts_failing={};1;;0 fiks_io_failed={};1;;0",
            links.iter().filter(|l| !l.is_up()).count(),
            sum(|l| l.waiting_at_fiks.unwrap_or(0)),
            sum(|l| u64::from(l.unacked)),
            sum(|l| u64::from(l.receipts_owed)),
            sum(|l| u64::from(l.receipts_failing)),
            sum(|l| u64::from(l.failed)),
        );
    }
    // Perfdata must not contain '|' in the text part.
    let summary = summary.replace('|', "/");
    (
        status,
        format!("MOTTAK {} - {summary} | {perf}", status.word()),
    )
}

/// Every mottakersystem's Fiks IO link, with its name.
fn fiks_io_links(state: &ConsoleState) -> impl Iterator<Item = (&str, &FiksIoLink)> {
    state
        .integrations
        .iter()
        .filter_map(|i| Some((i.mottakersystem.as_str(), i.fiks_io.as_ref()?)))
}

/// One mottakersystem's Fiks IO link in `status --json`.
#[derive(Debug, Serialize)]
pub struct FiksIoJson<'a> {
    pub mottakersystem: &'a str,
    #[serde(flatten)]
    pub link: &'a FiksIoLink,
}

/// `nav-frogn: title` (once: the outbound alerts' titles already start so).
fn one_alert(a: &Alert) -> String {
    title_with_system(a, a.title.masked().into_owned())
}

/// What `status --json` prints.
#[derive(Debug, Serialize)]
pub struct StatusJson<'a> {
    pub status: Status,
    pub user: &'a str,
    pub role: Option<&'static str>,
    pub agent: &'a AgentInfo,
    pub failed_total: u64,
    pub queues: &'a [QueueHealth],
    pub alerts: &'a [Alert],
    /// Failed saksoppdateringer (in `ut-feilet/`) over every mottakersystem.
    pub outbound_failed_total: u64,
    /// Per mottakersystem with `[mottakersystem.digisos]`: counts, queue,
    /// failures, Fiks and Maskinporten (the agent's own names).
    pub outbound: &'a [OutboundStatus],
    /// Every pipeline (each channel of each mottakersystem): up, or why it
    /// cannot start, and paused.
    pub pipelines: &'a [PipelineStatus],
    /// Per mottakersystem with `[mottakersystem.fiks_io]`: the link, the
    /// queues on both sides, the receipts.
    pub fiks_io: Vec<FiksIoJson<'a>>,
}

pub fn status_json(welcome: &Welcome, state: &ConsoleState, now_ms: i64) -> anyhow::Result<String> {
    let doc = StatusJson {
        status: verdict(
            state,
            now_ms,
            Thresholds {
                warn_failed: 1,
                crit_failed: None,
            },
        ),
        user: &welcome.user,
        role: welcome.top_role().map(|r| r.as_str()),
        agent: &state.agent,
        failed_total: failed_total(state),
        queues: &state.queues,
        alerts: &state.alerts,
        outbound_failed_total: outbound::failed_total(state),
        outbound: &state.outbound,
        pipelines: &state.pipelines,
        fiks_io: fiks_io_links(state)
            .map(|(mottakersystem, link)| FiksIoJson {
                mottakersystem,
                link,
            })
            .collect(),
    };
    Ok(serde_json::to_string_pretty(&doc)?)
}

/// The overview as text, in `lang`.
pub fn status_text(welcome: &Welcome, state: &ConsoleState, now_ms: i64, lang: Lang) -> String {
    let t = lang.texts();
    let mut out = String::new();
    let via = match welcome.transport {
        mottak_protocol::console::Transport::LocalSocket => "socket",
        mottak_protocol::console::Transport::Tls => "tls",
    };
    let _ = writeln!(
        out,
        "mottak · {} (agent {}) · {}",
        state.agent.hostname,
        state.agent.version,
        fill(
            t.h_as_user,
            &[
                &format!(
                    "{} ({})",
                    welcome.user,
                    welcome.top_role().map_or("-", |r| r.as_str())
                ),
                &via
            ]
        )
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<24} {:>7} {:>7} {:>7} {:>7}  {:<26} {}",
        t.col_system,
        t.col_in_progress,
        t.col_failed,
        t.col_rejected,
        t.col_retry,
        t.col_oldest,
        t.col_last_hour
    );
    for q in &state.queues {
        let c = |s: ForsendelseState| queue_count(q, s);
        let oldest = match &q.oldest_unacknowledged {
            None => t.none.to_owned(),
            Some(o) if now_ms >= o.warning_at => {
                format!("{} ✖ {}", age(now_ms - o.since), t.over_two_hours)
            }
            Some(o) => format!(
                "{} ({})",
                age(now_ms - o.since),
                fill(t.left_before_line, &[&age(o.warning_at - now_ms)])
            ),
        };
        let mut name = q.mottakersystem.clone();
        if let Some(p) = &q.paused {
            name.push_str(&format!(" ⏸ {}", fill(t.paused_by, &[&p.by])));
        }
        let _ = writeln!(
            out,
            "{:<24} {:>7} {:>7} {:>7} {:>7}  {:<26} {}",
            name,
            in_progress(q),
            c(ForsendelseState::Failed),
            c(ForsendelseState::Rejected),
            c(ForsendelseState::RetryWait),
            oldest,
            q.throughput.delivered_last_hour
        );
    }
    if !state.outbound.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "{}:", t.h_outbound);
        let _ = writeln!(
            out,
            "{:<24} {:>7} {:>7} {:>7}  {:<10} {:<14} {}",
            t.col_system,
            t.col_queued,
            t.col_retry,
            t.col_failed,
            t.col_last_sent,
            t.col_fiks,
            t.col_maskinporten
        );
        for o in &state.outbound {
            let fiks = outbound::fiks_status(o, now_ms, t);
            let mp = outbound::maskinporten_status(o, now_ms, t);
            let _ = writeln!(
                out,
                "{:<24} {:>7} {:>7} {:>7}  {:<10} {:<14} {}",
                o.mottakersystem,
                outbound::count(o, OutboundState::Queued),
                outbound::count(o, OutboundState::RetryWait),
                outbound::count(o, OutboundState::Failed),
                outbound::last_sent(o, now_ms, t),
                fiks.label(),
                mp.label(),
            );
            for (name, s) in [(t.fiks_digisos, &fiks), (t.maskinporten, &mp)] {
                if s.level >= Level::Warning {
                    let _ = writeln!(out, "    {name}: {}", s.text);
                }
            }
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", fill(t.h_failed_total, &[&failed_total(state)]));
    if !state.outbound.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            fill(t.h_outbound_failed_total, &[&outbound::failed_total(state)])
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{}:", t.alerts);
    if state.alerts.is_empty() {
        let _ = writeln!(out, "  ✔ {}", t.no_alerts);
    }
    for a in &state.alerts {
        let level = Level::from(a.severity);
        let (title, detail) = crate::alerts::localized(a, now_ms, lang);
        let line = title_with_system(a, title);
        let _ = writeln!(out, "  {} {:<9} {line}", level.symbol(), level.word(t));
        let _ = writeln!(out, "    → {detail}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mottak_protocol::console::{OldestUnacknowledged, Text, UNACKED_WARNING_MS};

    fn state() -> ConsoleState {
        let mut q = QueueHealth {
            mottakersystem: "nav-frogn".into(),
            ..QueueHealth::default()
        };
        q.counts.insert(ForsendelseState::Failed, 2);
        ConsoleState {
            queues: vec![q],
            ..ConsoleState::default()
        }
    }

    const TH: Thresholds = Thresholds {
        warn_failed: 1,
        crit_failed: Some(5),
    };

    #[test]
    fn verdicts_follow_failures_alerts_and_the_two_hour_line() {
        let mut s = state();
        assert_eq!(verdict(&s, 0, TH), Status::Warning);
        s.queues[0].counts.insert(ForsendelseState::Failed, 5);
        assert_eq!(verdict(&s, 0, TH), Status::Critical);
        s.queues[0].counts.insert(ForsendelseState::Failed, 0);
        assert_eq!(verdict(&s, 0, TH), Status::Ok);
        s.queues[0].oldest_unacknowledged = Some(OldestUnacknowledged {
            id: "a".into(),
            state: ForsendelseState::Delivered,
            since: 0,
            warning_at: UNACKED_WARNING_MS,
        });
        assert_eq!(verdict(&s, UNACKED_WARNING_MS - 1, TH), Status::Ok);
        assert_eq!(verdict(&s, UNACKED_WARNING_MS, TH), Status::Critical);
    }

    #[test]
    fn the_check_line_has_a_summary_and_perfdata() {
        let mut s = state();
        s.alerts.push(Alert {
            key: "k".into(),
            severity: Severity::Warning,
            mottakersystem: Some("nav-frogn".into()),
            about: None,
            title: Text::from("2 need a person | 01019012480"),
            detail: Text::from("x"),
            since: None,
        });
        let (st, line) = check_line(&s, 0, TH);
        assert_eq!(st, Status::Warning);
        assert!(
            line.starts_with("MOTTAK WARNING - nav-frogn: 2 need a person / ***********"),
            "{line}"
        );
        let (_, perf) = line.split_once(" | ").unwrap();
        assert!(perf.starts_with("failed=2;1;5;0 "), "{perf}");
        assert!(!line.contains('\n'));
        assert_eq!(line.matches('|').count(), 1, "{line}");
        assert!(
            !line.contains("outbound"),
            "no digisos, no outbound: {line}"
        );
    }

    #[test]
    fn the_fiks_io_links_have_perfdata_of_their_own() {
        use mottak_protocol::console::{FiksIoLink, IntegrationStatus};
        let mut s = state();
        let (_, line) = check_line(&s, 0, TH);
        assert!(!line.contains("fiks_io"), "no fiks_io, no perfdata: {line}");
        let link = |up: bool, waiting: u64, failing: u32| FiksIoLink {
            connected_since: up.then_some(1),
            waiting_at_fiks: Some(waiting),
            unacked: 2,
            receipts_owed: failing + 1,
            receipts_failing: failing,
            ..FiksIoLink::default()
        };
        for (name, l) in [
            ("nav-frogn", link(true, 3, 0)),
            ("nav-as", link(false, 4, 1)),
        ] {
            s.integrations.push(IntegrationStatus {
                mottakersystem: name.into(),
                fiks_io: Some(l),
                ..IntegrationStatus::default()
            });
        }
        let (_, line) = check_line(&s, 0, TH);
        assert!(
            line.ends_with(" fiks_io_down=1;;;0 fiks_io_waiting=7;;;0 fiks_io_unacked=4;;;0 fiks_io_receipts_owed=3;;;0 fiks_io_receipts_failing=1;1;;0 fiks_io_failed=0;1;;0"),
            "{line}"
        );
    }

    #[test]
    fn failed_saksoppdateringer_count_on_their_own_with_perfdata() {
        let mut s = state();
        s.queues[0].counts.insert(ForsendelseState::Failed, 0);
        let mut o = OutboundStatus {
            mottakersystem: "nav-frogn".into(),
            ..OutboundStatus::default()
        };
        o.counts.insert(OutboundState::Queued, 3);
        s.outbound.push(o);
        let (st, line) = check_line(&s, 0, TH);
        assert_eq!(st, Status::Ok, "{line}");
        assert!(line.contains("0 failed saksoppdatering(er)"), "{line}");
        assert!(
            line.ends_with(" outbound_failed=0;1;5;0 outbound_queued=3;;;0"),
            "{line}"
        );
        s.outbound[0].counts.insert(OutboundState::Failed, 1);
        let (st, line) = check_line(&s, 0, TH);
        assert_eq!(st, Status::Warning, "{line}");
        assert!(line.contains("outbound_failed=1;1;5;0"), "{line}");
        s.outbound[0].counts.insert(OutboundState::Failed, 5);
        assert_eq!(verdict(&s, 0, TH), Status::Critical);
        // An outbound alert's title names its system once.
        s.alerts.push(Alert {
            key: "outbound-failed/nav-frogn".into(),
            severity: Severity::Warning,
            mottakersystem: Some("nav-frogn".into()),
            about: Some(mottak_protocol::alert::AlertKind::OutboundFailed { count: 5 }),
            title: Text::from("nav-frogn: 5 saksoppdateringer not sent (ut-feilet/)"),
            detail: Text::from("x"),
            since: None,
        });
        let (_, line) = check_line(&s, 0, TH);
        assert!(
            line.starts_with("MOTTAK CRITICAL - nav-frogn: 5 saksoppdateringer not sent"),
            "{line}"
        );
        let text = status_text(
            &Welcome {
                user: "kari".into(),
                transport: mottak_protocol::console::Transport::LocalSocket,
                agent_version: "0.1.0".into(),
                roles: Vec::new(),
                permissions: Vec::new(),
            },
            &s,
            0,
            Lang::Nb,
        );
        assert!(text.contains("Utgående til Fiks Digisos:"), "{text}");
        assert!(
            text.contains("saksoppdateringer som ikke ble sendt (ut-feilet/): 5"),
            "{text}"
        );
        assert!(
            text.contains("nav-frogn: 5 saksoppdateringer ble ikke sendt (ut-feilet/)"),
            "the alert in bokmål: {text}"
        );
    }
}
