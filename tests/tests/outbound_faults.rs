//! Outbound faults, end to end: an expired token costs one refresh; 5xx,
//! cut connections and a Maskinporten outage are retried until the update
//! goes through; an upload whose answer was lost is found with `GET
//! .../filer` instead of being uploaded again.

use std::time::Duration;

use anyhow::Result;
use mottak_fixtures::digisos::{Fault, RequestKind, Scope};
use mottak_fixtures::maskinporten as mp;
use mottak_tests::outbound_harness::{
    Options, OutboundWorld, case_id, mottatt, pdf, soker, under_behandling, vedtak,
};

const LIMIT: Duration = Duration::from_secs(40);

fn statuses(w: &OutboundWorld, kind: RequestKind) -> Vec<u16> {
    w.fiks
        .events()
        .into_iter()
        .filter(|e| e.kind == kind)
        .map(|e| e.status)
        .collect()
}

/// A token Fiks no longer accepts (expired at Maskinporten) gets a 401; the
/// agent fetches one fresh token and the same request goes through at once
/// (no backoff, no failure).
#[test]
fn an_expired_token_costs_one_refresh() -> Result<()> {
    let w = OutboundWorld::start(Options::default())?;
    let mut agent = w.spawn_agent()?;
    let case = case_id(1);
    let first = soker(vec![mottatt(0)]);
    w.write_update(&case, &first, &[], LIMIT)?;
    w.wait_latest(&mut agent, &case, &first, LIMIT)?;
    assert_eq!(w.mp.issued().len(), 1);

    w.mp.expire_all_tokens();
    let second = soker(vec![mottatt(0), under_behandling(3)]);
    w.write_update(&case, &second, &[], LIMIT)?;
    w.wait_latest(&mut agent, &case, &second, LIMIT)?;
    assert_eq!(w.mp.issued().len(), 2, "exactly one refresh");
    assert_eq!(statuses(&w, RequestKind::Update), [202, 401, 202]);
    let log = agent.output_text();
    assert!(log.contains("fetching a fresh Maskinporten token"), "{log}");
    assert!(!log.contains("will retry"), "no backoff was needed:\n{log}");

    // Fiks refusing the fresh token too is not the update's fault: it is
    // retried later, never sent to ut-feilet.
    w.fiks
        .inject(Fault::Unauthorized, Scope::next(RequestKind::Update, 2));
    let third = soker(vec![mottatt(0), under_behandling(3), under_behandling(4)]);
    w.write_update(&case, &third, &[], LIMIT)?;
    w.wait_latest(&mut agent, &case, &third, LIMIT)?;
    assert_eq!(w.mp.issued().len(), 4, "one fresh token per 401");
    assert!(w.feilet_folders()?.is_empty());
    let log = agent.output_text();
    assert!(log.contains("even with a fresh token"), "{log}");
    agent.terminate(LIMIT)?;
    Ok(())
}

/// 500s, cut connections and a Maskinporten outage are retried with
/// backoff; the update arrives once everything answers again, and no file
/// is uploaded twice.
#[test]
fn transient_faults_are_retried() -> Result<()> {
    let w = OutboundWorld::start(Options::default())?;
    let case = case_id(2);
    w.mp.inject(mp::Fault::Status(503), mp::Scope::next(2));
    w.fiks
        .inject(Fault::Status(500), Scope::next(RequestKind::Upload, 1));
    w.fiks
        .inject(Fault::Cut, Scope::next(RequestKind::Update, 1));
    w.fiks
        .inject(Fault::Status(502), Scope::next(RequestKind::PublicKey, 1));
    let mut agent = w.spawn_agent()?;
    let doc = soker(vec![mottatt(0), vedtak(2, "sak-1", "vedtak.pdf")]);
    w.write_update(&case, &doc, &[("vedtak.pdf", &pdf("retry"))], LIMIT)?;
    w.wait_latest(&mut agent, &case, &doc, Duration::from_secs(90))?;
    assert!(w.double_uploads().is_empty(), "{:?}", w.double_uploads());
    assert_eq!(w.fiks.files(&case).len(), 1);
    assert!(w.feilet_folders()?.is_empty());
    let log = agent.output_text();
    assert!(log.contains("will retry"), "{log}");
    agent.terminate(LIMIT)?;
    Ok(())
}

/// The upload reached Fiks but its answer was lost: the next attempt finds
/// the file with `GET .../filer` and does not upload it again.
#[test]
fn a_lost_upload_answer_is_reconciled_not_uploaded_again() -> Result<()> {
    let w = OutboundWorld::start(Options::default())?;
    let case = case_id(3);
    w.fiks
        .inject(Fault::CutAfterCommit, Scope::next(RequestKind::Upload, 1));
    let mut agent = w.spawn_agent()?;
    let doc = soker(vec![mottatt(0), vedtak(2, "sak-1", "vedtak.pdf")]);
    w.write_update(&case, &doc, &[("vedtak.pdf", &pdf("lost answer"))], LIMIT)?;
    w.wait_latest(&mut agent, &case, &doc, Duration::from_secs(60))?;
    assert_eq!(w.fiks.files(&case).len(), 1);
    assert!(w.double_uploads().is_empty(), "{:?}", w.double_uploads());
    assert_eq!(
        statuses(&w, RequestKind::Upload).len(),
        1,
        "one upload only"
    );
    assert!(!statuses(&w, RequestKind::ListFiles).is_empty());
    let log = agent.output_text();
    assert!(log.contains("found in GET .../filer"), "{log}");
    agent.terminate(LIMIT)?;
    Ok(())
}
