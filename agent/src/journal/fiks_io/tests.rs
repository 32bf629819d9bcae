//! The Fiks IO journal's transitions, receipt duty and claims, on a real SQLite file.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use super::*;
use crate::clock::{Clock, ManualClock};

const S: &str = "nav-frogn";

fn journal() -> (tempfile::TempDir, Journal, Arc<ManualClock>) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
    ));
    let j = Journal::open(&dir.path().join("journal.sqlite"), clock.clone()).unwrap();
    (dir, j, clock)
}

fn key(d: &str, e: &str) -> InnsendingKey {
    InnsendingKey {
        digisos_id: d.into(),
        ekstern_ref: e.into(),
    }
}

fn melding(id: &str) -> NewMelding {
    NewMelding {
        melding_id: id.into(),
        melding_type: "no.nav.digisos.soknad.v1".into(),
        avsender_konto: "aaaaaaaa-0000-4000-8000-000000000001".into(),
        svar_til: None,
        dokumentlager_id: None,
    }
}

#[test]
fn a_message_goes_received_staged_delivered_imported_with_its_receipt() {
    let (_d, mut j, clock) = journal();
    let row = j.fiks_io_received(S, &melding("m1")).unwrap();
    assert_eq!(row.state, FiksIoState::Received);
    assert_eq!(row.receipt, ReceiptDuty::None);
    assert_eq!(row.melding, melding("m1"));
    clock.advance(Duration::from_secs(1));
    j.fiks_io_stage(S, "m1", Some(&key("d-1", "e-1")), "/s/m1.cms", 42, true)
        .unwrap();
    let row = j.fiks_io_row(S, "m1").unwrap().unwrap();
    assert_eq!(row.state, FiksIoState::Staged);
    assert_eq!(row.digisos_id.as_deref(), Some("d-1"));
    assert_eq!(row.ekstern_ref.as_deref(), Some("e-1"));
    assert_eq!(row.kept_copy.as_deref(), Some("/s/m1.cms"));
    assert_eq!(row.size, Some(42));
    assert!(row.staged_at.unwrap() > row.received_at);
    j.fiks_io_delivered(S, "m1", true).unwrap();
    let row = j.fiks_io_row(S, "m1").unwrap().unwrap();
    assert_eq!(
        (row.state, row.receipt),
        (FiksIoState::Delivered, ReceiptDuty::Owed)
    );
    j.fiks_io_copy_dropped(S, "m1").unwrap();
    assert_eq!(j.fiks_io_row(S, "m1").unwrap().unwrap().kept_copy, None);
    j.fiks_io_imported(S, "m1").unwrap();
    j.fiks_io_receipt_sent(S, "m1").unwrap();
    let row = j.fiks_io_row(S, "m1").unwrap().unwrap();
    assert_eq!(
        (row.state, row.receipt),
        (FiksIoState::Imported, ReceiptDuty::Sent)
    );
    assert!(row.receipt_sent_at.is_some() && row.imported_at.is_some());
}

#[test]
fn a_redelivery_is_recognised_and_changes_nothing() {
    let (_d, mut j, _c) = journal();
    j.fiks_io_received(S, &melding("m1")).unwrap();
    j.fiks_io_stage(S, "m1", None, "/k", 1, false).unwrap();
    j.fiks_io_delivered(S, "m1", false).unwrap();
    let mut again = melding("m1");
    again.melding_type = "changed".into();
    let row = j.fiks_io_received(S, &again).unwrap();
    assert_eq!(row.state, FiksIoState::Delivered);
    assert!(row.state.is_settled());
    assert_eq!(row.melding.melding_type, "no.nav.digisos.soknad.v1");
    assert_eq!(row.receipt, ReceiptDuty::None);
    // Another mottakersystem's message of the same id is its own.
    let other = j.fiks_io_received("other", &melding("m1")).unwrap();
    assert_eq!(other.state, FiksIoState::Received);
}

#[test]
fn illegal_transitions_are_refused_and_change_nothing() {
    let (_d, mut j, _c) = journal();
    j.fiks_io_received(S, &melding("m1")).unwrap();
    // Not delivered before it is staged.
    let err = j.fiks_io_delivered(S, "m1", true).unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot go from received to delivered"),
        "{err}"
    );
    assert_eq!(
        j.fiks_io_row(S, "m1").unwrap().unwrap().state,
        FiksIoState::Received
    );
    assert!(matches!(
        j.fiks_io_imported(S, "nope"),
        Err(JournalError::NotFound { .. })
    ));
}

#[test]
fn a_failed_message_keeps_its_copy_and_owes_no_receipt_until_retried() {
    let (_d, mut j, _c) = journal();
    j.fiks_io_received(S, &melding("m1")).unwrap();
    j.fiks_io_failed(S, "m1", "no key fits", Some("/state/m1.cms"))
        .unwrap();
    let row = j.fiks_io_row(S, "m1").unwrap().unwrap();
    assert_eq!(row.state, FiksIoState::Failed);
    assert_eq!(row.receipt, ReceiptDuty::None);
    assert_eq!(row.reason.as_deref(), Some("no key fits"));
    assert_eq!(row.kept_copy.as_deref(), Some("/state/m1.cms"));
    assert!(row.state.is_settled());
    assert!(FiksIoState::Failed.can_become(FiksIoState::Received));
    assert!(!FiksIoState::Failed.can_become(FiksIoState::Delivered));
}

#[test]
fn a_duplicate_is_linked_in_the_claims_transaction_and_may_owe_its_receipt() {
    let (_d, mut j, _c) = journal();
    let k = key("d-1", "e-1");
    // SvarInn delivered it first.
    assert_eq!(
        j.claim_innsending(S, &k, Channel::SvarInn, "f-9").unwrap(),
        Claim::Ours
    );
    j.fiks_io_received(S, &melding("m1")).unwrap();
    let staged = j.fiks_io_stage(S, "m1", Some(&k), "/k", 7, true).unwrap();
    let Staged::Duplicate(holder) = staged else {
        panic!("staged a duplicate: {staged:?}")
    };
    assert_eq!(
        (holder.channel, holder.id.as_str()),
        (Channel::SvarInn, "f-9")
    );
    let row = j.fiks_io_row(S, "m1").unwrap().unwrap();
    assert_eq!(row.state, FiksIoState::Duplicate);
    assert_eq!(row.receipt, ReceiptDuty::Owed);
    assert_eq!(
        row.reason.as_deref(),
        Some("already delivered by SvarInn forsendelse f-9")
    );
    assert_eq!(row.digisos_id.as_deref(), Some("d-1"));
    assert!(row.state.is_settled());
    let dup = j.duplicate_of(S, Channel::FiksIo, "m1").unwrap().unwrap();
    assert_eq!(dup.delivered_by.id, "f-9");
    // The other way round: Fiks IO claims first, SvarInn finds it taken.
    j.fiks_io_received(S, &melding("m2")).unwrap();
    let k2 = key("d-2", "e-2");
    assert_eq!(
        j.fiks_io_stage(S, "m2", Some(&k2), "/k", 7, true).unwrap(),
        Staged::Staged
    );
    let Claim::DeliveredBy(h) = j
        .claim_innsending(S, &k2, Channel::SvarInn, "f-10")
        .unwrap()
    else {
        panic!("SvarInn got a claim Fiks IO holds")
    };
    assert_eq!((h.channel, h.id.as_str()), (Channel::FiksIo, "m2"));
}

#[test]
fn receipts_fall_due_again_after_their_backoff() {
    let (_d, mut j, clock) = journal();
    for id in ["m1", "m2"] {
        j.fiks_io_received(S, &melding(id)).unwrap();
        j.fiks_io_stage(S, id, None, "/k", 1, true).unwrap();
    }
    j.fiks_io_delivered(S, "m1", true).unwrap();
    j.fiks_io_delivered(S, "m2", false).unwrap();
    let now = clock.now_ms();
    let due = j.fiks_io_receipts_due(S, now).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].melding.melding_id, "m1");
    let attempts = j
        .fiks_io_receipt_failed(S, "m1", "Fiks answered 503", now + 5_000)
        .unwrap();
    assert_eq!(attempts, 1);
    assert!(j.fiks_io_receipts_due(S, now).unwrap().is_empty());
    let due = j.fiks_io_receipts_due(S, now + 5_000).unwrap();
    assert_eq!(due[0].receipt_error.as_deref(), Some("Fiks answered 503"));
    j.fiks_io_receipt_sent(S, "m1").unwrap();
    assert!(j.fiks_io_receipts_due(S, now + 10_000).unwrap().is_empty());
    let row = j.fiks_io_row(S, "m1").unwrap().unwrap();
    assert_eq!(row.receipt_error, None);
    assert_eq!(row.receipt_attempts, 1);
}

#[test]
fn rows_are_found_by_state_oldest_first() {
    let (_d, mut j, clock) = journal();
    for id in ["b", "a", "c"] {
        j.fiks_io_received(S, &melding(id)).unwrap();
        clock.advance(Duration::from_millis(5));
    }
    j.fiks_io_stage(S, "c", None, "/k", 1, true).unwrap();
    let ids = |rows: Vec<FiksIoRow>| {
        rows.into_iter()
            .map(|r| r.melding.melding_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(j.fiks_io_in_states(S, &[FiksIoState::Received]).unwrap()),
        ["b", "a"]
    );
    assert_eq!(
        ids(j
            .fiks_io_in_states(S, &[FiksIoState::Staged, FiksIoState::Received])
            .unwrap()),
        ["b", "a", "c"]
    );
    j.fiks_io_unstaged(S, "c").unwrap();
    assert_eq!(
        j.fiks_io_row(S, "c").unwrap().unwrap().state,
        FiksIoState::Received
    );
}

#[test]
fn the_summary_counts_deliveries_failures_and_owed_receipts() {
    let (_d, mut j, _clock) = journal();
    assert_eq!(j.fiks_io_summary(S).unwrap(), FiksIoSummary::default());
    for id in ["m1", "m2"] {
        j.fiks_io_received(S, &melding(id)).unwrap();
        j.fiks_io_stage(S, id, None, "/s/x.cms", 1, true).unwrap();
        j.fiks_io_delivered(S, id, true).unwrap();
    }
    j.fiks_io_received(S, &melding("m3")).unwrap();
    j.fiks_io_failed(S, "m3", "cannot decrypt", Some("/s/m3.cms"))
        .unwrap();
    j.fiks_io_receipt_failed(S, "m2", "503 Service Unavailable", 0)
        .unwrap();
    let s = j.fiks_io_summary(S).unwrap();
    assert_eq!(
        (s.delivered, s.failed, s.receipts_owed, s.receipts_failing),
        (2, 1, 2, 1)
    );
    assert_eq!(
        s.last_receipt_error.as_deref(),
        Some("503 Service Unavailable")
    );
    assert!(s.oldest_receipt_owed_at.is_some());
    assert_eq!(
        j.fiks_io_summary("other").unwrap(),
        FiksIoSummary::default()
    );
}
