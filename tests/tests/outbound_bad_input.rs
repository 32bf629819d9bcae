//! Outbound bad input, end to end: every kind lands in
//! `ut-feilet/<name>-<time>/` with a `feil.txt` naming the problem; nothing
//! of it reaches Fiks; a good update beside them is still sent.

use std::time::Duration;

use anyhow::Result;
use mottak_fixtures::digisos::{Fault, RequestKind, Scope};
use mottak_tests::outbound_harness::{
    Options, OutboundWorld, case_id, mottatt, pdf, soker, vedtak,
};
use serde_json::json;

const LIMIT: Duration = Duration::from_secs(30);

#[test]
fn every_kind_of_bad_input_lands_in_ut_feilet_with_a_useful_feil_txt() -> Result<()> {
    let w = OutboundWorld::start(Options {
        cases: (1..=8).map(case_id).collect(),
        ..Options::default()
    })?;
    let [bad_json, schema, missing, unknown, refused, forbidden, good] =
        [1, 2, 3, 99, 5, 6, 7].map(case_id);
    // Fiks refuses two well-formed updates: 400 with its own words, and 403.
    w.fiks.inject(
        Fault::BadRequest("Ugyldig saksoppdatering: testfeil".into()),
        Scope::every(RequestKind::Update).case(refused.clone()),
    );
    w.fiks.inject(
        Fault::Forbidden,
        Scope::every(RequestKind::Update).case(forbidden.clone()),
    );
    let mut agent = w.spawn_agent()?;

    w.write_raw_update(&bad_json, b"{\"version\": \"1.0.0\", \"hendelser\": [", &[])?;
    w.write_update(
        &schema,
        &soker(vec![
            mottatt(0),
            json!({"type": "soknadsStatus", "hendelsestidspunkt": "2026-11-21T10:00:00Z", "status": "KANSKJE"}),
        ]),
        &[],
        LIMIT,
    )?;
    w.write_update(
        &missing,
        &soker(vec![mottatt(0), vedtak(3, "sak-1", "vedtak.pdf")]),
        &[("annet.pdf", &pdf("x"))],
        LIMIT,
    )?;
    w.write_update(&unknown, &soker(vec![mottatt(0)]), &[], LIMIT)?;
    w.write_update(&refused, &soker(vec![mottatt(0)]), &[], LIMIT)?;
    w.write_update(&forbidden, &soker(vec![mottatt(0)]), &[], LIMIT)?;
    w.write_update("ikke-en-sak", &soker(vec![mottatt(0)]), &[], LIMIT)?;
    let good_doc = soker(vec![mottatt(0)]);
    w.write_update(&good, &good_doc, &[], LIMIT)?;

    let cases: [(&str, &[&str]); 7] = [
        (&bad_json, &["not valid JSON", "line 1"]),
        (
            &schema,
            &[
                "hendelser[1] (soknadsStatus)",
                "hendelsestidspunkt",
                "status",
            ],
        ),
        (&missing, &["no file vedtak.pdf", "fil:vedtak.pdf"]),
        (&unknown, &["Fiks refused", "400"]),
        (
            &refused,
            &["Fiks refused", "400", "Ugyldig saksoppdatering: testfeil"],
        ),
        (&forbidden, &["Fiks refused", "403"]),
        ("ikke-en-sak", &["not a digisos-id", "ut/<digisos-id>/"]),
    ];
    for (name, expect) in cases {
        let (folder, feil) = w.wait_feilet(&mut agent, &format!("{name}-"), LIMIT)?;
        eprintln!("--- ut-feilet/{folder}/feil.txt\n{feil}");
        for e in expect {
            assert!(
                feil.contains(e),
                "ut-feilet/{folder}/feil.txt lacks {e:?}:\n{feil}"
            );
        }
        assert!(feil.contains("What to do"), "{feil}");
        // The fagsystem's files came along.
        assert!(
            w.ut_feilet()?
                .join(&folder)
                .join("digisos-soker.json")
                .is_file()
        );
        // Named <name>-<yyyymmdd>T<hhmmss>.<ms>Z.
        let suffix = &folder[name.len() + 1..];
        assert!(
            suffix.len() >= 20 && suffix.as_bytes()[8] == b'T' && suffix.contains('Z'),
            "{folder}"
        );
    }
    w.wait_latest(&mut agent, &good, &good_doc, LIMIT)?;
    for case in [&bad_json, &schema, &missing, &refused, &forbidden] {
        assert!(w.fiks.updates(case).is_empty(), "{case} reached Fiks");
    }
    // Nothing was uploaded for the update whose file is missing.
    assert!(w.fiks.files(&missing).is_empty());
    let rows = w.journal_outbound()?;
    assert_eq!(
        rows.iter().filter(|r| r.2 == "failed").count(),
        7,
        "{rows:?}"
    );
    assert!(mottak_tests::harness::entries(&w.ut()?).is_empty());
    // Only the good update is in ut-sendt/; the failures are not.
    let sendt = w.wait_sendt(&mut agent, 1, LIMIT)?;
    assert_eq!(sendt.len(), 1, "{sendt:?}");
    assert!(
        sendt[0].name.starts_with(&format!("{good}-")),
        "{}",
        sendt[0].name
    );
    assert_eq!(sendt[0].status(), "sendt");
    w.check_sendt(&sendt[0], &w.journal_outbound_rows()?)?;
    assert!(w.claims()?.is_empty(), "{:?}", w.claims()?);
    let log = agent.output_text();
    assert!(log.contains("moved to ut-feilet"), "{log}");
    agent.terminate(LIMIT)?;
    Ok(())
}
