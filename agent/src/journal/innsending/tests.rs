//! Tests of the innsending claims and duplicate links (`super`).

use std::path::Path;
use std::sync::Arc;

use time::macros::datetime;

use super::*;
use crate::journal::{Clock, FILE_NAME, ManualClock, SharedJournal};

const SYS: &str = "nav-frogn";

fn key(r: &str) -> InnsendingKey {
    InnsendingKey {
        digisos_id: "d3b07384-d9a0-4c4b-8b5a-2e1c2f9e9a11".into(),
        ekstern_ref: r.into(),
    }
}

fn open(dir: &Path) -> (Journal, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(datetime!(2026-12-04 21:00 UTC)));
    (
        Journal::open(&dir.join(FILE_NAME), clock.clone()).unwrap(),
        clock,
    )
}

#[test]
fn the_first_claim_wins_and_holds_against_the_other_channel() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, clock) = open(dir.path());
    assert_eq!(j.innsending_claim(SYS, &key("r1")).unwrap(), None);
    assert_eq!(
        j.claim_innsending(SYS, &key("r1"), Channel::FiksIo, "m-1")
            .unwrap(),
        Claim::Ours
    );
    clock.advance(std::time::Duration::from_secs(30 * 60));
    let holder = ClaimHolder {
        channel: Channel::FiksIo,
        id: "m-1".into(),
        at: datetime!(2026-12-04 21:00 UTC),
    };
    assert_eq!(
        j.claim_innsending(SYS, &key("r1"), Channel::SvarInn, "f-1")
            .unwrap(),
        Claim::DeliveredBy(holder.clone())
    );
    // Another id on the same channel is a duplicate too: never twice.
    assert_eq!(
        j.claim_innsending(SYS, &key("r1"), Channel::FiksIo, "m-2")
            .unwrap(),
        Claim::DeliveredBy(holder.clone())
    );
    assert_eq!(j.innsending_claim(SYS, &key("r1")).unwrap(), Some(holder));
    // Another eksternRef (an ettersendelse of the same case), or another
    // mottakersystem, is another innsending.
    assert_eq!(
        j.claim_innsending(SYS, &key("r2"), Channel::SvarInn, "f-1")
            .unwrap(),
        Claim::Ours
    );
    assert_eq!(
        j.claim_innsending("byggesak", &key("r1"), Channel::SvarInn, "f-1")
            .unwrap(),
        Claim::Ours
    );
}

#[test]
fn claiming_again_with_the_same_channel_and_id_is_ours_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, clock) = open(dir.path());
    assert_eq!(
        j.claim_innsending(SYS, &key("r1"), Channel::SvarInn, "f-1")
            .unwrap(),
        Claim::Ours
    );
    drop(j);
    let (mut j, _) = open(dir.path());
    clock.advance(std::time::Duration::from_secs(3600));
    assert_eq!(
        j.claim_innsending(SYS, &key("r1"), Channel::SvarInn, "f-1")
            .unwrap(),
        Claim::Ours
    );
    // The claim keeps its first time.
    assert_eq!(
        j.innsending_claim(SYS, &key("r1")).unwrap().unwrap().at,
        datetime!(2026-12-04 21:00 UTC)
    );
    assert!(matches!(
        j.claim_innsending(SYS, &key("r1"), Channel::FiksIo, "m-1")
            .unwrap(),
        Claim::DeliveredBy(ClaimHolder { channel: Channel::SvarInn, ref id, .. }) if id == "f-1"
    ));
}

/// A crash between the claim and anything after it (the transaction not
/// committed) leaves no claim; a committed one survives the crash.
#[test]
fn an_uncommitted_claim_is_gone_after_a_crash_and_a_committed_one_stays() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) = open(dir.path());
    j.claim_innsending(SYS, &key("kept"), Channel::FiksIo, "m-1")
        .unwrap();
    {
        let tx = j
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .unwrap();
        claim_in(&tx, SYS, &key("lost"), Channel::FiksIo, "m-2", 0).unwrap();
        // Dropped without commit: what a crash before the commit leaves.
    }
    drop(j);
    let (mut j, _) = open(dir.path());
    assert_eq!(j.innsending_claim(SYS, &key("lost")).unwrap(), None);
    assert_eq!(
        j.claim_innsending(SYS, &key("lost"), Channel::SvarInn, "f-9")
            .unwrap(),
        Claim::Ours
    );
    assert!(matches!(
        j.claim_innsending(SYS, &key("kept"), Channel::SvarInn, "f-1")
            .unwrap(),
        Claim::DeliveredBy(_)
    ));
}

#[test]
fn duplicates_are_linked_once_and_listed_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, clock) = open(dir.path());
    for (r, m) in [("r1", "m-1"), ("r2", "m-2")] {
        j.claim_innsending(SYS, &key(r), Channel::FiksIo, m)
            .unwrap();
    }
    for (r, f) in [("r1", "f-1"), ("r2", "f-2")] {
        clock.advance(std::time::Duration::from_secs(5 * 60));
        let Claim::DeliveredBy(holder) = j
            .claim_innsending(SYS, &key(r), Channel::SvarInn, f)
            .unwrap()
        else {
            panic!("{r} was claimed by Fiks IO");
        };
        j.record_duplicate(SYS, &key(r), Channel::SvarInn, f, &holder)
            .unwrap();
        // Recorded again after a restart: still one link, its first time.
        clock.advance(std::time::Duration::from_secs(60));
        j.record_duplicate(SYS, &key(r), Channel::SvarInn, f, &holder)
            .unwrap();
    }
    let all = j.duplicates(SYS, 10).unwrap();
    assert_eq!(
        all.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        ["f-2", "f-1"]
    );
    let f1 = j
        .duplicate_of(SYS, Channel::SvarInn, "f-1")
        .unwrap()
        .unwrap();
    assert_eq!(f1.key, key("r1"));
    assert_eq!(f1.delivered_by.channel, Channel::FiksIo);
    assert_eq!(f1.delivered_by.id, "m-1");
    assert_eq!(f1.at, datetime!(2026-12-04 21:05 UTC));
    assert_eq!(j.duplicates(SYS, 1).unwrap().len(), 1);
    assert_eq!(j.duplicate_of(SYS, Channel::FiksIo, "f-1").unwrap(), None);
    assert_eq!(j.duplicate_counts().unwrap(), vec![(SYS.to_owned(), 2)]);
    assert!(j.duplicates("byggesak", 10).unwrap().is_empty());
}

#[test]
fn a_delivery_given_up_before_publishing_releases_only_its_own_claim() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) = open(dir.path());
    j.claim_innsending(SYS, &key("r1"), Channel::SvarInn, "f-1")
        .unwrap();
    assert!(!j.release_innsending(SYS, Channel::FiksIo, "f-1").unwrap());
    assert!(!j.release_innsending(SYS, Channel::SvarInn, "f-2").unwrap());
    assert!(j.release_innsending(SYS, Channel::SvarInn, "f-1").unwrap());
    assert_eq!(
        j.claim_innsending(SYS, &key("r1"), Channel::FiksIo, "m-1")
            .unwrap(),
        Claim::Ours
    );
}

/// A SvarInn forsendelse made permanent before it was published releases its claim; one
/// rejected by the fagsystem after delivery and then made permanent keeps it.
#[test]
fn a_forsendelse_given_up_unpublished_releases_its_claim_a_rejected_one_keeps_it() {
    use crate::journal::{Change, NewForsendelse};
    use crate::names::ForsendelseId;
    let dir = tempfile::tempdir().unwrap();
    let (mut j, clock) = open(dir.path());
    let listed = |id: &str| NewForsendelse {
        id: ForsendelseId::parse(id).unwrap(),
        tittel: "Søknad".into(),
        avsender_navn: None,
        forsendelse_type: Some("nav.digisos".into()),
        sendt_at: None,
        size: None,
        raw_json: "{}".into(),
    };
    for (f, r) in [("f-1", "r1"), ("f-2", "r2")] {
        let id = ForsendelseId::parse(f).unwrap();
        j.record_listed(SYS, &listed(f)).unwrap();
        j.transition(SYS, &id, Change::Downloaded).unwrap();
        j.claim_innsending(SYS, &key(r), Channel::SvarInn, f)
            .unwrap();
    }
    // f-1: its publish kept failing, and a person gave up on it.
    let f1 = ForsendelseId::parse("f-1").unwrap();
    j.transition(
        SYS,
        &f1,
        Change::RetryWait {
            next_attempt_at: clock.now(),
            error: "inn/ is not writable".into(),
        },
    )
    .unwrap();
    j.transition(
        SYS,
        &f1,
        Change::Permanent {
            reason: "given up".into(),
        },
    )
    .unwrap();
    assert_eq!(j.innsending_claim(SYS, &key("r1")).unwrap(), None);
    // f-2: delivered, rejected by the fagsystem, then given up.
    let f2 = ForsendelseId::parse("f-2").unwrap();
    j.transition(
        SYS,
        &f2,
        Change::Delivered {
            folder_name: "f-2".into(),
            digisos_id: None,
        },
    )
    .unwrap();
    j.transition(SYS, &f2, Change::Rejected { reason: None })
        .unwrap();
    j.transition(
        SYS,
        &f2,
        Change::Permanent {
            reason: "given up".into(),
        },
    )
    .unwrap();
    assert_eq!(
        j.innsending_claim(SYS, &key("r2")).unwrap().unwrap().id,
        "f-2"
    );
}

/// `downloaded` → `acked` without publishing only with the duplicate link journaled.
#[test]
fn a_forsendelse_is_acknowledged_as_a_duplicate_only_with_its_link() {
    use crate::journal::{Change, NewForsendelse, State};
    use crate::names::ForsendelseId;
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) = open(dir.path());
    let f1 = ForsendelseId::parse("f-1").unwrap();
    j.record_listed(
        SYS,
        &NewForsendelse {
            id: f1.clone(),
            tittel: "Søknad".into(),
            avsender_navn: None,
            forsendelse_type: Some("nav.digisos".into()),
            sendt_at: None,
            size: None,
            raw_json: "{}".into(),
        },
    )
    .unwrap();
    let dup = || Change::AckedAsDuplicate {
        reason: "delivered as Fiks IO melding m-1".into(),
    };
    let refused = j.transition(SYS, &f1, dup()).unwrap_err();
    assert!(
        refused.to_string().contains("only a downloaded"),
        "{refused}"
    );
    j.transition(SYS, &f1, Change::Downloaded).unwrap();
    let refused = j.transition(SYS, &f1, dup()).unwrap_err();
    assert!(
        refused.to_string().contains("no duplicate link"),
        "{refused}"
    );
    assert_eq!(j.get(SYS, &f1).unwrap().unwrap().state, State::Downloaded);
    j.claim_innsending(SYS, &key("r1"), Channel::FiksIo, "m-1")
        .unwrap();
    let Claim::DeliveredBy(holder) = j
        .claim_innsending(SYS, &key("r1"), Channel::SvarInn, "f-1")
        .unwrap()
    else {
        panic!("Fiks IO holds it");
    };
    j.record_duplicate(SYS, &key("r1"), Channel::SvarInn, "f-1", &holder)
        .unwrap();
    let row = j.transition(SYS, &f1, dup()).unwrap();
    assert_eq!(row.state, State::Acked);
    assert!(row.acked_at.is_some() && row.delivered_at.is_none());
    assert_eq!(
        row.reason.as_deref(),
        Some("delivered as Fiks IO melding m-1")
    );
}

/// The claim and the caller's own note commit together in a group, or
/// neither does.
#[tokio::test]
async fn a_claim_in_a_failing_group_job_is_rolled_back_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let (j, _) = open(dir.path());
    let shared = SharedJournal::new(j);
    let failed = shared
        .write(|j| {
            j.claim_innsending(SYS, &key("r1"), Channel::FiksIo, "m-1")?;
            Err::<(), _>(JournalError::Corrupt("the caller's note failed".into()))
        })
        .await;
    assert!(failed.is_err());
    let claim = shared
        .write(|j| j.claim_innsending(SYS, &key("r1"), Channel::SvarInn, "f-1"))
        .await
        .unwrap();
    assert_eq!(claim, Claim::Ours);
}

#[test]
fn the_key_is_read_from_either_channels_json() {
    let key = InnsendingKey::read(
        &br#"{"eksternRef":"11000001","digisosId":"d3b07384-d9a0-4c4b-8b5a-2e1c2f9e9a11",
             "soknadLeveranseId":{"sendtKanal":"FIKS_IO","id":"0b3a4c5d-0000-4000-8000-000000000001"}}"#[..],
    )
    .unwrap();
    assert_eq!(key.ekstern_ref, "11000001");
    assert_eq!(key.digisos_id, "d3b07384-d9a0-4c4b-8b5a-2e1c2f9e9a11");
    for (bad, why) in [
        (r#"{"digisosId":"d"}"#.to_owned(), "missing field"),
        (
            r#"{"eksternRef":"","digisosId":"d"}"#.to_owned(),
            "eksternRef is empty",
        ),
        (
            r#"{"eksternRef":"a\u0000","digisosId":"d"}"#.to_owned(),
            "control character",
        ),
        (
            format!(r#"{{"eksternRef":"{}","digisosId":"d"}}"#, "x".repeat(300)),
            "longer than",
        ),
        ("not json".to_owned(), "expected"),
        (
            format!(
                r#"{{"eksternRef":"a","digisosId":"d","pad":"{}"}}"#,
                " ".repeat(70_000)
            ),
            "larger than",
        ),
    ] {
        let err = InnsendingKey::read(bad.as_bytes()).unwrap_err();
        assert!(err.contains(why), "{bad:.60}: {err}");
    }
    assert_eq!(InnsendingKey::or_warn(Ok(None), "forsendelse f-1"), None);
    assert_eq!(
        InnsendingKey::or_warn(Err("bad".into()), "forsendelse f-1"),
        None
    );
    assert_eq!(
        InnsendingKey::or_warn(Ok(Some(key.clone())), "forsendelse f-1"),
        Some(key)
    );
}

#[test]
fn channels_round_trip_their_names() {
    for c in [Channel::SvarInn, Channel::FiksIo] {
        assert_eq!(Channel::parse(c.as_str()), Some(c));
    }
    assert_eq!(Channel::FiksIo.as_str(), "fiks-io");
    assert_eq!(Channel::parse("svarut"), None);
}

/// A Fiks IO duplicate touches no forsendelse row; the console still sees it at once.
#[test]
fn a_duplicate_link_moves_the_console_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) = open(dir.path());
    let holder = ClaimHolder {
        channel: Channel::SvarInn,
        id: "f-1".into(),
        at: datetime!(2026-12-04 21:00 UTC),
    };
    let before = j.console_fingerprint().unwrap();
    j.record_duplicate(SYS, &key("r1"), Channel::FiksIo, "m-1", &holder)
        .unwrap();
    assert_ne!(j.console_fingerprint().unwrap(), before);
}
