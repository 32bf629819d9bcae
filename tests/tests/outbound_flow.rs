//! Outbound, end to end: the real agent takes saksoppdateringer from `ut/`
//! and delivers them to the strict fake Fiks Digisos, with tokens from the
//! strict fake Maskinporten, and tells the fagsystem what became of each in
//! `ut-sendt/<digisos-id>-<time>/kvittering.json`.

use std::time::Duration;

use anyhow::Result;
use mottak_fixtures::digisos::{Fault, RequestKind, Scope};
use mottak_tests::outbound_harness::{
    Options, OutboundWorld, case_id, compact, dokumentlager_ids, ensure, iso, mottatt, pdf, soker,
    under_behandling, vedtak,
};
use mottak_tests::wait_until;
use serde_json::json;

const LIMIT: Duration = Duration::from_secs(30);

/// A new case gets `soknadsStatus MOTTATT`; the claimed folder then moves
/// to `ut-sendt/<digisos-id>-<time>/` with a `kvittering.json` saying it was
/// sent (its update id, the journal's times), and the journal says `sent`.
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
    let sendt = w.wait_sendt(&mut agent, 1, LIMIT)?;
    assert!(w.claims()?.is_empty(), "{:?}", w.claims()?);
    assert!(mottak_tests::harness::entries(&w.ut()?).is_empty());
    let rows = w.journal_outbound()?;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].1, case);
    assert_eq!(rows[0].2, "sent");

    // The receipt, field by field, against the journal.
    assert_eq!(sendt.len(), 1);
    let s = &sendt[0];
    let full = w.journal_outbound_rows()?;
    let row = &full[&rows[0].0];
    let sent_at = row.sent_at.unwrap_or_default();
    assert_eq!(s.name, format!("{case}-{}", compact(sent_at)));
    assert_eq!(
        s.kvittering,
        json!({
            "kvitteringVersjon": 1,
            "status": "sendt",
            "digisosId": case,
            "oppdateringId": row.update_id,
            "hentet": iso(row.claimed_at),
            "hentetMs": row.claimed_at,
            "sendt": iso(sent_at),
            "sendtMs": sent_at,
            "filer": [],
            "sendtDokument": "digisos-soker.json in this folder, with \"fil:<filnavn>\" at each of filer[].pekere replaced by that file's dokumentlagerDokumentId; nothing else differs",
        })
    );
    // The fagsystem's own files came along, as written.
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.dir.join("digisos-soker.json"))?)?;
    assert_eq!(written, doc);
    assert!(s.dir.join("KLAR").is_file());
    assert_eq!(w.check_sendt(s, &full)?, Some(doc));
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
    // The kvittering names the id the PDF got, and where it went.
    let sendt = w.wait_sendt(&mut agent, 1, LIMIT)?;
    let filer = &sendt[0].kvittering["filer"];
    assert_eq!(
        filer,
        &json!([{
            "filnavn": "vedtak.pdf",
            "dokumentlagerDokumentId": f.dokumentlager_dokument_id,
            "sha256": f.sha256,
            "storrelse": vedtak_pdf.len(),
            "pekere": ["/hendelser/1/vedtaksfil/referanse/id"],
        }]),
        "{}",
        sendt[0].kvittering
    );
    assert_eq!(
        w.check_sendt(&sendt[0], &w.journal_outbound_rows()?)?,
        Some(got)
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
    // Its kvittering names the same id: the PDF was not uploaded again.
    let sendt = w.wait_sendt(&mut agent, 2, LIMIT)?;
    let rows = w.journal_outbound_rows()?;
    let second_receipt = sendt
        .iter()
        .find(|s| rows[s.update_id()].claim_seq == 2)
        .ok_or_else(|| anyhow::anyhow!("no kvittering for the second update"))?;
    assert_eq!(
        second_receipt.kvittering["filer"][0]["dokumentlagerDokumentId"],
        json!(f.dokumentlager_dokument_id)
    );
    assert_eq!(w.check_sendt(second_receipt, &rows)?, Some(got));
    assert!(w.claims()?.is_empty());
    agent.terminate(LIMIT)?;
    Ok(())
}

/// Several updates for one case queued while Fiks is down: only the newest
/// is sent; the older ones are journaled `superseded` and go to `ut-sendt/`
/// too, their kvittering saying `erstattet` by the newest.
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
    // Turns in which a wrongly queued older update would go out after it.
    w.wait_turns("outbound", 3)?;
    let accepted = w.fiks.updates(&case);
    assert_eq!(accepted, [newest], "only the newest reached Fiks");
    let states: Vec<String> = w.journal_outbound()?.into_iter().map(|r| r.2).collect();
    assert_eq!(
        states.last().map(String::as_str),
        Some("sent"),
        "{states:?}"
    );
    assert!(states[..3].iter().all(|s| s == "superseded"), "{states:?}");
    let sendt = w.wait_sendt(&mut agent, 4, LIMIT)?;
    let claims = w.claims()?;
    ensure(
        &agent,
        claims.is_empty(),
        &format!("claims left: {claims:?}"),
    )?;
    let rows = w.journal_outbound_rows()?;
    let newest_id = w
        .journal_outbound()?
        .last()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    assert_eq!(sendt.len(), 4);
    for s in &sendt {
        w.check_sendt(s, &rows)?;
        assert!(s.name.starts_with(&case), "{}", s.name);
        if s.update_id() == newest_id {
            assert_eq!(s.status(), "sendt");
        } else {
            assert_eq!(s.status(), "erstattet", "{}", s.kvittering);
            // Superseded by a newer one of the case (checked above), itself
            // sent or superseded in turn: the chain ends at the newest.
            let mut by = s.kvittering["erstattetAv"].as_str().unwrap_or_default();
            while by != newest_id {
                let next = sendt
                    .iter()
                    .find(|o| o.update_id() == by)
                    .ok_or_else(|| anyhow::anyhow!("{by} has no folder in ut-sendt/"))?;
                by = next.kvittering["erstattetAv"].as_str().unwrap_or_default();
            }
            // What the fagsystem wrote is there to compare with.
            let written: serde_json::Value =
                serde_json::from_slice(&std::fs::read(s.dir.join("digisos-soker.json"))?)?;
            assert!(docs.contains(&written));
        }
    }
    let mut ids: Vec<&str> = sendt.iter().map(|s| s.update_id()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 4, "one folder per update");
    agent.terminate(LIMIT)?;
    Ok(())
}

/// The crash window between the journal's `sent` and the move to
/// `ut-sendt/`, made to last: `ut-sendt/` is a plain file while the update
/// goes out, so the move fails (logged, the claim kept in `.mottak/`); the
/// agent is killed, `ut-sendt/` restored, and the next agent moves the
/// folder with a kvittering rebuilt from the journal (the PDF's id found by
/// its sha256): not posted again, nothing uploaded again.
#[test]
fn a_sent_update_left_in_mottak_is_moved_after_a_restart_not_sent_again() -> Result<()> {
    let w = OutboundWorld::start(Options::default())?;
    let mut agent = w.spawn_agent()?;
    let ut_sendt = w.ut_sendt()?;
    wait_until("the outbound worker to start", LIMIT, || {
        ut_sendt.is_dir() && agent.output_text().contains("outbound worker started")
    })?;
    std::fs::remove_dir(&ut_sendt)?;
    std::fs::write(&ut_sendt, b"not a folder")?;

    let case = case_id(4);
    let vedtak_pdf = pdf("vedtak for case 4");
    let doc = soker(vec![mottatt(0), vedtak(5, "sak-4", "vedtak.pdf")]);
    w.write_update(&case, &doc, &[("vedtak.pdf", &vedtak_pdf)], LIMIT)?;
    let got = w.wait_latest(&mut agent, &case, &doc, LIMIT)?;
    wait_until("the journal to say sent", LIMIT, || {
        w.journal_outbound()
            .is_ok_and(|r| r.iter().any(|r| r.2 == "sent"))
    })?;
    wait_until("the failed move to be logged", LIMIT, || {
        agent.output_text().contains("is missing")
    })?;
    let claims = w.claims()?;
    ensure(
        &agent,
        claims.len() == 1,
        &format!("the claim stays in .mottak/: {claims:?}"),
    )?;
    // Logged once, not at every turn.
    w.wait_turns("outbound", 3)?;
    let log = agent.output_text();
    assert_eq!(
        log.matches("the fagsystem cannot see it").count(),
        1,
        "{log}"
    );
    agent.kill()?;

    std::fs::remove_file(&ut_sendt)?;
    std::fs::create_dir(&ut_sendt)?;
    let mut agent = w.spawn_agent()?;
    let sendt = w.wait_sendt(&mut agent, 1, LIMIT)?;
    assert!(w.claims()?.is_empty(), "{:?}", w.claims()?);
    let rows = w.journal_outbound_rows()?;
    assert_eq!(sendt[0].status(), "sendt");
    assert_eq!(sendt[0].update_id(), claims[0]);
    assert_eq!(w.check_sendt(&sendt[0], &rows)?, Some(got));
    let files = w.fiks.files(&case);
    assert_eq!(
        sendt[0].kvittering["filer"][0]["dokumentlagerDokumentId"],
        json!(files[0].dokumentlager_dokument_id)
    );
    // Moved, not sent again, in the turns that would have sent it.
    w.wait_turns("outbound", 3)?;
    assert_eq!(w.fiks.updates(&case).len(), 1);
    assert_eq!(files.len(), 1);
    assert!(w.double_uploads().is_empty());
    ensure(
        &agent,
        agent
            .output_text()
            .contains("finishing an update journaled as done"),
        "the restart finished the claim",
    )?;
    agent.terminate(LIMIT)?;
    Ok(())
}
