//! The states of a forsendelse and the allowed transitions between them,
//! as pure functions (the journal enforces them; tests cover the whole table).
//!
//! ```text
//! listed ─▶ downloaded ─▶ delivered ─▶ imported ─▶ acked
//!                            ├──────────────────────▶ acked     (ack = "on-delivery")
//!                            └─▶ rejected ─▶ delivered           (operator retry)
//! downloaded ─▶ listed                                           (staging lost at restart)
//! listed / downloaded ─▶ failed ─▶ listed                        (operator retry)
//! any of the four steps ─▶ retry_wait ─▶ the step it left        (at next_attempt_at)
//! listed, failed, rejected, retry_wait ─▶ permanent              (a person, or a config rule)
//! downloaded ─▶ acked, never published      (a duplicate of an innsending delivered by another
//!                                            delivery: `can_acknowledge_duplicate`, only with
//!                                            its link in the journal)
//! ```

use crate::config::AckMode;

/// Where a forsendelse is in the inbound pipeline: the journal stores the
/// console protocol's states by their `as_str` names (one enum for both).
pub use mottak_protocol::console::ForsendelseState as State;

/// Whether the journal may move a forsendelse from `from` to `to`.
///
/// A `retry_wait` may return to any resumable state here; the journal also
/// checks it returns to the one it left.
pub fn can_transition(from: State, to: State) -> bool {
    use State::*;
    match from {
        Listed => matches!(to, Downloaded | RetryWait | Failed | Permanent),
        // Back to listed when the staging folder was lost (restart).
        Downloaded => matches!(to, Delivered | Listed | RetryWait | Failed),
        // Acked straight from delivered in `ack = "on-delivery"` mode.
        Delivered => matches!(to, Imported | Rejected | Acked | RetryWait),
        Imported => matches!(to, Acked | RetryWait),
        RetryWait => to.is_resumable() || matches!(to, Failed | Permanent),
        // An operator retries (download again) or gives up.
        Failed => matches!(to, Listed | Permanent),
        // An operator retries (the folder goes back to inn/) or gives up.
        Rejected => matches!(to, Delivered | Permanent),
        Acked | Permanent => false,
    }
}

/// Whether a forsendelse in `from` may be acknowledged as a duplicate, without being
/// published (`Change::AckedAsDuplicate`): only once downloaded, decrypted and checked, which
/// is when it claims its innsending. Apart from [`can_transition`], whose every way into
/// `acked` goes through delivery.
pub fn can_acknowledge_duplicate(from: State) -> bool {
    from == State::Downloaded
}

/// What the pipeline should do about a forsendelse SvarInn lists, given what
/// the journal already knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListedDecision {
    /// Never seen: recorded as `listed`; download it.
    New,
    /// Known and in progress (or waiting for a person): nothing new to do;
    /// the row's own work continues.
    Known(State),
    /// Already acknowledged, yet listed again (the acknowledgement's response
    /// was lost): acknowledge again; never deliver again.
    Reack,
    /// Already given up for good, yet listed again: send mottakFeilet
    /// permanent=true again; never deliver.
    ReportPermanentAgain,
}

/// The decision for a listed forsendelse whose journal state is `existing`.
pub fn decide_listed(existing: Option<State>) -> ListedDecision {
    match existing {
        None => ListedDecision::New,
        Some(State::Acked) => ListedDecision::Reack,
        Some(State::Permanent) => ListedDecision::ReportPermanentAgain,
        Some(other) => ListedDecision::Known(other),
    }
}

/// The next piece of work a row asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// `listed`: download, decrypt, verify into staging.
    Download,
    /// `downloaded`: publish the staging folder into `inn/` (it may already
    /// be there after a crash: the drop folder recognises it).
    Publish,
    /// `delivered` in `on-import` mode: look in `inn/` and `feilet/`.
    AwaitImport,
    /// `delivered` in `on-delivery` mode, or `imported`: `kvitterMottak`.
    Ack,
    /// `failed`, not yet reported: mottakFeilet permanent=false.
    ReportFailure,
    /// `permanent`, not yet reported: mottakFeilet permanent=true.
    ReportPermanent,
}

/// The work for a row in `state`; `feil_reported` says whether mottakFeilet
/// was already sent for it. `None`: nothing to do (waiting for time or a person).
pub fn work_for(state: State, ack: AckMode, feil_reported: bool) -> Option<Work> {
    match state {
        State::Listed => Some(Work::Download),
        State::Downloaded => Some(Work::Publish),
        State::Delivered => Some(match ack {
            AckMode::OnImport => Work::AwaitImport,
            AckMode::OnDelivery => Work::Ack,
        }),
        State::Imported => Some(Work::Ack),
        State::Failed if !feil_reported => Some(Work::ReportFailure),
        State::Permanent if !feil_reported => Some(Work::ReportPermanent),
        State::Failed | State::Permanent | State::Acked | State::RetryWait | State::Rejected => {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use State::*;

    /// The whole table, written out: every pair not listed is refused.
    const ALLOWED: &[(State, State)] = &[
        (Listed, Downloaded),
        (Listed, RetryWait),
        (Listed, Failed),
        (Listed, Permanent),
        (Downloaded, Delivered),
        (Downloaded, Listed),
        (Downloaded, RetryWait),
        (Downloaded, Failed),
        (Delivered, Imported),
        (Delivered, Rejected),
        (Delivered, Acked),
        (Delivered, RetryWait),
        (Imported, Acked),
        (Imported, RetryWait),
        (RetryWait, Listed),
        (RetryWait, Downloaded),
        (RetryWait, Delivered),
        (RetryWait, Imported),
        (RetryWait, Failed),
        (RetryWait, Permanent),
        (Failed, Listed),
        (Failed, Permanent),
        (Rejected, Delivered),
        (Rejected, Permanent),
    ];

    #[test]
    fn the_transition_table_is_exactly_the_design() {
        for from in State::ALL {
            for to in State::ALL {
                assert_eq!(
                    can_transition(from, to),
                    ALLOWED.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn invariants_of_the_table() {
        for from in State::ALL {
            // No self-loops: "the same state" is not a transition.
            assert!(!can_transition(from, from), "{from}");
            // Final states are final.
            if from.is_final() {
                assert!(State::ALL.iter().all(|&to| !can_transition(from, to)));
            }
        }
        // Never acknowledged before delivery: the only ways into acked are
        // from delivered and imported.
        for from in State::ALL {
            if can_transition(from, Acked) {
                assert!(matches!(from, Delivered | Imported), "{from}");
            }
        }
        // Never delivered again once acked or imported.
        assert!(!can_transition(Acked, Delivered));
        assert!(!can_transition(Imported, Delivered));
        // Only a person (failed, rejected, a config rule at listed) or a
        // wait that gives up leads to permanent; never from a delivered
        // folder the fagsystem may still import.
        for from in [Downloaded, Delivered, Imported] {
            assert!(!can_transition(from, Permanent), "{from}");
        }
    }

    #[test]
    fn state_names_round_trip() {
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
        }
        assert_eq!(State::parse("bogus"), None);
    }

    #[test]
    fn listed_again_after_ack_means_ack_again_not_deliver() {
        assert_eq!(decide_listed(None), ListedDecision::New);
        assert_eq!(decide_listed(Some(Acked)), ListedDecision::Reack);
        assert_eq!(
            decide_listed(Some(Permanent)),
            ListedDecision::ReportPermanentAgain
        );
        for s in [
            Listed, Downloaded, Delivered, Imported, RetryWait, Failed, Rejected,
        ] {
            assert_eq!(decide_listed(Some(s)), ListedDecision::Known(s));
        }
    }

    #[test]
    fn work_follows_the_state_and_the_ack_mode() {
        use AckMode::*;
        assert_eq!(work_for(Listed, OnImport, false), Some(Work::Download));
        assert_eq!(work_for(Downloaded, OnImport, false), Some(Work::Publish));
        assert_eq!(
            work_for(Delivered, OnImport, false),
            Some(Work::AwaitImport)
        );
        assert_eq!(work_for(Delivered, OnDelivery, false), Some(Work::Ack));
        assert_eq!(work_for(Imported, OnImport, false), Some(Work::Ack));
        assert_eq!(work_for(Failed, OnImport, false), Some(Work::ReportFailure));
        assert_eq!(work_for(Failed, OnImport, true), None);
        assert_eq!(
            work_for(Permanent, OnImport, false),
            Some(Work::ReportPermanent)
        );
        assert_eq!(work_for(Permanent, OnImport, true), None);
        for s in [Acked, RetryWait, Rejected] {
            assert_eq!(work_for(s, OnImport, false), None, "{s}");
            assert_eq!(work_for(s, OnDelivery, false), None, "{s}");
        }
    }
}
