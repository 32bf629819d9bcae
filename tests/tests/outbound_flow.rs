//! Outbound, end to end: the real agent takes saksoppdateringer from `ut/`
//! and delivers them to the strict fake Fiks Digisos, with tokens from the
//! strict fake Maskinporten.

use std::time::Duration;

use anyhow::Result;
use mottak_fixtures::digisos::{Fault, RequestKind, Scope};
use mottak_tests::outbound_harness::{
    Options, OutboundWorld, case_id, dokumentlager_ids, ensure, mottatt, pdf, soker,
    under_behandling, vedtak,
};
use mottak_tests::wait_until;

const LIMIT: Duration = Duration::from_secs(30);

/// A new case gets `soknadsStatus MOTTATT`; the claimed folder is gone
/// afterwards and the journal says `sent`.
#[test]
fn a_new_case_gets_mottatt() -> Result<()> {
    let w = OutboundWorld::start(Options::default())?;
    let mut agent = w.spawn_agent()?;
    let case = case_id(1);
    let doc = soker(vec![mottatt(0)]);
    w.write_update(&case, &doc, &[], LIMIT)?;
    let got = w.wait_latest(&mut agent, &case, &doc, LIMIT)?;
    assert_eq!(got, doc, "sent as written: no placeholders to replace");
    assert_eq!(w.fiks.updates(&case).len(), 1);
    wait_until("the claim to be removed", LIMIT, || {
        mottak_tests::harness::entries(&w.staging().unwrap())
            .iter()
            .all(|n| !n.starts_with("ut."))
    })?;
    assert!(mottak_tests::harness::entries(&w.ut()?).is_empty());
    let rows = w.journal_outbound()?;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].1, case);
    assert_eq!(rows[0].2, "sent");
    // One token was enough.
    assert_eq!(w.mp.issued().len(), 1);
    agent.terminate(LIMIT)?;
    Ok(())
}

/// A `vedtakFattet` with its PDF: the file is uploaded (streamed, chunked,
/// encrypted to Fiks's key: the fake decrypts it and the bytes match), its
/// id replaces the placeholder; a later update referencing the same PDF
/// does not upload it again.
#[test]
fn a_vedtak_with_its_pdf() -> Result<()> {
    let w = OutboundWorld::start(Options::default())?;
    let mut agent = w.spawn_agent()?;
    let case = case_id(2);
    let vedtak_pdf = pdf("vedtak for case 2");
    let first = soker(vec![mottatt(0), vedtak(5, "sak-1", "vedtak.pdf")]);
    w.write_update(&case, &first, &[("vedtak.pdf", &vedtak_pdf)], LIMIT)?;
    let got = w.wait_latest(&mut agent, &case, &first, LIMIT)?;
    let files = w.fiks.files(&case);
    assert_eq!(files.len(), 1, "{files:?}");
    let f = &files[0];
    assert_eq!(f.plaintext.as_slice(), vedtak_pdf.as_slice());
    assert_eq!(f.filnavn, "vedtak.pdf");
    assert_eq!(f.mimetype, "application/pdf");
    assert_eq!(f.storrelse, vedtak_pdf.len() as u64);
    assert!(
        f.chunked,
        "the upload is streamed with Transfer-Encoding: chunked"
    );
    assert_eq!(
        dokumentlager_ids(&got),
        std::slice::from_ref(&f.dokumentlager_dokument_id)
    );

    // The next update carries the whole history again, the same PDF included.
    let second = soker(vec![
        mottatt(0),
        vedtak(5, "sak-1", "vedtak.pdf"),
        under_behandling(9),
    ]);
    w.write_update(&case, &second, &[("vedtak.pdf", &vedtak_pdf)], LIMIT)?;
    let got = w.wait_latest(&mut agent, &case, &second, LIMIT)?;
    assert_eq!(
        dokumentlager_ids(&got),
        std::slice::from_ref(&f.dokumentlager_dokument_id)
    );
    assert_eq!(w.fiks.files(&case).len(), 1);
    assert!(w.double_uploads().is_empty(), "{:?}", w.double_uploads());
    assert_eq!(w.fiks.updates(&case).len(), 2);
    agent.terminate(LIMIT)?;
    Ok(())
}

/// Several updates for one case queued while Fiks is down: only the newest
/// is sent; the older ones are journaled `superseded` and their claims removed.
#[test]
fn only_the_newest_of_queued_updates_is_sent() -> Result<()> {
    let w = OutboundWorld::start(Options::default())?;
    let case = case_id(3);
    // Every update fails until the fault is cleared.
    w.fiks
        .inject(Fault::Status(503), Scope::every(RequestKind::Update));
    let mut agent = w.spawn_agent()?;
    let mut docs = Vec::new();
    for i in 0..4u32 {
        let mut h = vec![mottatt(0)];
        for k in 0..i {
            h.push(under_behandling(10 + k));
        }
        let doc = soker(h);
        w.write_update(&case, &doc, &[], LIMIT)?;
        docs.push(doc);
    }
    wait_until("all four claimed", LIMIT, || {
        w.journal_outbound().map(|r| r.len() == 4).unwrap_or(false)
    })?;
    w.fiks.clear_faults();
    let newest = docs.last().cloned().unwrap_or_default();
    w.wait_latest(&mut agent, &case, &newest, Duration::from_secs(60))?;
    // Give a wrongly queued older update the chance to go out after it.
    std::thread::sleep(Duration::from_secs(2));
    let accepted = w.fiks.updates(&case);
    assert_eq!(accepted, [newest], "only the newest reached Fiks");
    let states: Vec<String> = w.journal_outbound()?.into_iter().map(|r| r.2).collect();
    assert_eq!(
        states.last().map(String::as_str),
        Some("sent"),
        "{states:?}"
    );
    assert!(states[..3].iter().all(|s| s == "superseded"), "{states:?}");
    let claims: Vec<String> = mottak_tests::harness::entries(&w.staging()?)
        .into_iter()
        .filter(|n| n.starts_with("ut."))
        .collect();
    ensure(
        &agent,
        claims.is_empty(),
        &format!("claims left: {claims:?}"),
    )?;
    agent.terminate(LIMIT)?;
    Ok(())
}
