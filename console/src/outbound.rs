//! The outbound side as a person reads it: how Fiks Digisos, Maskinporten
//! and each mottakersystem's saksoppdateringer are doing, as a [`Level`]
//! and words. Pure; shared by the views, `status` and `check`.

use mottak_protocol::console::{
    CertificateStatus, ConsoleState, OutboundItem, OutboundState, OutboundStatus,
};

use crate::human::age;
use crate::i18n::{Texts, fill};
use crate::theme::Level;

/// The agent raises `outbound-stuck` when the oldest queued update waited this long.
pub const STUCK_AFTER_MS: i64 = 15 * 60 * 1000;

/// The prefix of an outbound update id (`ut.<ms>.<n>.<digisos-id>`); a
/// forsendelse id (a UUID) never starts with it.
pub const UPDATE_ID_PREFIX: &str = "ut.";

/// True for an outbound update id (as `forsendelse` in `retry` and `mark_permanent`).
pub fn is_update_id(id: &str) -> bool {
    id.starts_with(UPDATE_ID_PREFIX)
}

pub fn count(o: &OutboundStatus, s: OutboundState) -> u64 {
    o.counts.get(&s).copied().unwrap_or(0)
}

/// Failed saksoppdateringer over every mottakersystem (the counts: not capped).
pub fn failed_total(state: &ConsoleState) -> u64 {
    state
        .outbound
        .iter()
        .map(|o| count(o, OutboundState::Failed))
        .sum()
}

/// Queued and retry-waiting saksoppdateringer over every mottakersystem.
pub fn queued_total(state: &ConsoleState) -> u64 {
    state
        .outbound
        .iter()
        .map(|o| count(o, OutboundState::Queued) + count(o, OutboundState::RetryWait))
        .sum()
}

/// The oldest queued update has waited longer than the agent allows.
pub fn stuck(o: &OutboundStatus, now_ms: i64) -> bool {
    o.queue
        .iter()
        .map(|i| i.claimed_at)
        .min()
        .is_some_and(|at| now_ms - at > STUCK_AFTER_MS)
}

/// One link's verdict: level, a short word, and the line that explains it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkStatus {
    pub level: Level,
    pub word: &'static str,
    pub text: String,
}

impl LinkStatus {
    /// `✔ OK`: the symbol and the word.
    pub fn label(&self) -> String {
        format!("{} {}", self.level.symbol(), self.word)
    }
}

/// When an update last went out, as an age (`2m`), or `never`.
pub fn last_sent(o: &OutboundStatus, now_ms: i64, t: &Texts) -> String {
    o.last_sent_at
        .map_or_else(|| t.never.to_owned(), |at| age(now_ms - at))
}

/// How Fiks Digisos answered last.
pub fn fiks_status(o: &OutboundStatus, now_ms: i64, t: &Texts) -> LinkStatus {
    if let Some(e) = &o.setup_error {
        return LinkStatus {
            level: Level::Critical,
            word: t.w_stopped,
            text: fill(t.out_setup_error, &[&e.masked()]),
        };
    }
    let f = &o.fiks;
    let error_is_newest = match (f.last_error_at, f.last_ok_at) {
        (Some(e), Some(ok)) => e > ok,
        (Some(_), None) => true,
        (None, _) => f.last_error.is_some() && f.last_ok_at.is_none(),
    };
    if error_is_newest && let Some(e) = &f.last_error {
        let at = f
            .last_error_at
            .map_or_else(String::new, |at| age(now_ms - at));
        return LinkStatus {
            level: if stuck(o, now_ms) {
                Level::Critical
            } else {
                Level::Warning
            },
            word: t.w_error,
            text: fill(t.fiks_error, &[&at, &e.masked()]),
        };
    }
    match f.last_ok_at {
        Some(ok) => LinkStatus {
            level: Level::Ok,
            word: t.w_ok,
            text: fill(t.fiks_ok, &[&age(now_ms - ok)]),
        },
        None => LinkStatus {
            level: Level::Info,
            word: t.w_waiting,
            text: t.fiks_not_yet.to_owned(),
        },
    }
}

/// The worst of the virksomhetssertifikat's chain.
pub fn chain_level(certs: &[CertificateStatus]) -> Level {
    certs
        .iter()
        .map(|c| Level::from(c.level))
        .max()
        .unwrap_or(Level::Ok)
}

/// Maskinporten: the token, its last error, and the chain's expiry.
pub fn maskinporten_status(o: &OutboundStatus, now_ms: i64, t: &Texts) -> LinkStatus {
    if let Some(e) = &o.setup_error {
        return LinkStatus {
            level: Level::Critical,
            word: t.w_stopped,
            text: fill(t.out_setup_error, &[&e.masked()]),
        };
    }
    let m = &o.maskinporten;
    let chain = chain_level(&m.certificates);
    let error_is_newest = match (m.last_error_at, m.last_token_at) {
        (Some(e), Some(tok)) => e > tok,
        (_, None) => m.last_error.is_some(),
        (None, Some(_)) => false,
    };
    if error_is_newest && let Some(e) = &m.last_error {
        let at = m
            .last_error_at
            .map_or_else(String::new, |at| age(now_ms - at));
        let level = if stuck(o, now_ms) {
            Level::Critical
        } else {
            Level::Warning
        };
        return LinkStatus {
            level: level.max(chain),
            word: t.w_error,
            text: fill(t.fiks_error, &[&at, &e.masked()]),
        };
    }
    let (level, word, text) = match (m.token_expires_at, m.last_token_at) {
        (Some(exp), _) if exp > now_ms => (
            Level::Ok,
            t.w_ok,
            fill(t.mp_token_valid, &[&age(exp - now_ms)]),
        ),
        (_, Some(at)) => (
            Level::Ok,
            t.w_ok,
            fill(t.mp_token_old, &[&age(now_ms - at)]),
        ),
        (_, None) => (Level::Info, t.w_waiting, t.mp_no_token.to_owned()),
    };
    if chain >= Level::Warning {
        // The token works, but not for long: the chain is the news.
        let days = m.certificates.iter().filter_map(|c| c.days_left).min();
        let text = match days {
            Some(d) if d < 0 => fill(t.mp_chain_expired, &[&-d]),
            Some(d) => fill(t.mp_chain_days, &[&d]),
            None => t.unreadable.to_owned(),
        };
        return LinkStatus {
            level: level.max(chain),
            word: chain.word(t),
            text,
        };
    }
    LinkStatus { level, word, text }
}

/// One mottakersystem's outbound side, all told.
pub fn outbound_level(o: &OutboundStatus, now_ms: i64, t: &Texts) -> Level {
    let failed = if count(o, OutboundState::Failed) > 0 {
        Level::Warning
    } else {
        Level::Ok
    };
    let stuck = if stuck(o, now_ms) {
        Level::Critical
    } else {
        Level::Ok
    };
    fiks_status(o, now_ms, t)
        .level
        .max(maskinporten_status(o, now_ms, t).level)
        .max(failed)
        .max(stuck)
}

/// The level of one update.
pub fn item_level(s: OutboundState) -> Level {
    match s {
        OutboundState::Failed => Level::Critical,
        OutboundState::RetryWait => Level::Warning,
        _ => Level::Info,
    }
}

/// The word for an update's state.
pub fn item_word(t: &Texts, s: OutboundState) -> &'static str {
    match s {
        OutboundState::Queued => t.ost_queued,
        OutboundState::RetryWait => t.ost_retry,
        OutboundState::Failed => t.ost_failed,
        _ => t.ost_other,
    }
}

/// What to do about an update, in words.
pub fn item_todo(t: &Texts, s: OutboundState) -> Option<&'static str> {
    match s {
        OutboundState::Failed => Some(t.todo_out_failed),
        OutboundState::RetryWait => Some(t.todo_out_retry_wait),
        OutboundState::Queued => Some(t.todo_out_queued),
        _ => None,
    }
}

/// The line of an error that says most in a table cell: feil.txt's first
/// problem (`- ...`), else its first line.
pub fn first_line(item: &OutboundItem) -> String {
    let Some(e) = &item.last_error else {
        return String::new();
    };
    let text = e.masked();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.clone().next().unwrap_or_default();
    lines
        .find_map(|l| l.strip_prefix("- "))
        .unwrap_or(first)
        .trim()
        .to_owned()
}

/// The case id as shown in a table (a UUID's first group).
pub fn short_case(item: &OutboundItem) -> &str {
    let id = item.digisos_id.raw();
    id.get(..8).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::EN;
    use mottak_protocol::console::{ExpiryLevel, FiksLink, MaskinportenLink, Text};

    fn status() -> OutboundStatus {
        OutboundStatus {
            mottakersystem: "nav-frogn".into(),
            counts: OutboundState::ALL.into_iter().map(|s| (s, 0)).collect(),
            fiks: FiksLink::default(),
            maskinporten: MaskinportenLink::default(),
            ..OutboundStatus::default()
        }
    }

    #[test]
    fn links_read_as_levels_and_words() {
        let mut o = status();
        assert_eq!(fiks_status(&o, 1000, &EN).level, Level::Info);
        assert_eq!(outbound_level(&o, 1000, &EN), Level::Info);
        o.fiks.last_ok_at = Some(0);
        assert_eq!(fiks_status(&o, 60_000, &EN).text, "last answer 1m ago");
        o.fiks.last_error = Some(Text::from("Fiks answered 503"));
        o.fiks.last_error_at = Some(30_000);
        let s = fiks_status(&o, 60_000, &EN);
        assert_eq!((s.level, s.word), (Level::Warning, "ERROR"));
        assert!(s.text.contains("503"), "{}", s.text);
        // An error older than the last success is history.
        o.fiks.last_ok_at = Some(40_000);
        assert_eq!(fiks_status(&o, 60_000, &EN).level, Level::Ok);
        o.setup_error = Some(Text::from("cannot read integrasjon_passord"));
        let s = maskinporten_status(&o, 60_000, &EN);
        assert_eq!((s.level, s.word), (Level::Critical, "STOPPED"));
        o.setup_error = None;
        o.maskinporten.token_expires_at = Some(120_000);
        o.maskinporten.last_token_at = Some(1_000);
        assert_eq!(
            maskinporten_status(&o, 60_000, &EN).text,
            "token valid 1m more"
        );
        o.maskinporten.certificates.push(CertificateStatus {
            path: "leaf".into(),
            not_after: None,
            days_left: Some(-1),
            level: ExpiryLevel::Expired,
            error: None,
        });
        let s = maskinporten_status(&o, 60_000, &EN);
        assert_eq!((s.level, s.word), (Level::Critical, "CRITICAL"));
        assert!(is_update_id("ut.1.0.x") && !is_update_id("aaaa-ut."));
    }
}
