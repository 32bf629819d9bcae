//! `/metrics` of the real agent, inbound and outbound, after real traffic with the strict
//! fakes (one failed SvarInn list, one refused Maskinporten token request on the way):
//! `promtool check metrics` finds nothing to say about a real scrape, and the outbound
//! figures, the SvarInn call histograms and the journey histograms count what happened.
//! Without promtool the promtool part skips loudly (and fails under `CI`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use mottak_fixtures::kit::metrics::scrape;
use mottak_fixtures::promtool;
use mottak_fixtures::svarinn::{Fault, RequestKind, Scope};
use mottak_tests::outbound_harness::{
    Options, OutboundWorld, SYSTEM, case_id, mottatt, pdf, soker, vedtak,
};

const LIMIT: Duration = Duration::from_secs(60);

/// `name{labels}` → value, for the samples of `body` (labels as written, in order).
fn samples(body: &str) -> BTreeMap<String, f64> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

fn get(s: &BTreeMap<String, f64>, series: &str) -> f64 {
    *s.get(series)
        .unwrap_or_else(|| panic!("no {series} in the scrape"))
}

#[test]
fn a_real_scrape_is_clean_and_counts_inbound_and_outbound() -> Result<()> {
    let w = OutboundWorld::start(Options::default())?;
    let port = w.metrics_port;

    // One SvarInn list answered 503, one token request refused with 503.
    w.world
        .fake
        .inject(Fault::Status(503), Scope::next(RequestKind::List, 1))?;
    w.mp.inject(
        mottak_fixtures::maskinporten::Fault::Status(503),
        mottak_fixtures::maskinporten::Scope::once(),
    );

    let mut agent = w.spawn_agent()?;
    let ids = w.world.block_on(w.world.fake.generate(3, 2000))?;
    w.world.wait_acked(&mut agent, &ids, LIMIT)?;
    let case = case_id(1);
    let doc = soker(vec![mottatt(0), vedtak(5, "sak-1", "vedtak.pdf")]);
    let file = pdf("vedtak");
    w.write_update(&case, &doc, &[("vedtak.pdf", &file)], LIMIT)?;
    w.wait_sendt(&mut agent, 1, LIMIT)?;

    let m = format!("mottakersystem=\"{SYSTEM}\"");
    let deadline = Instant::now() + LIMIT;
    let (body, s) = loop {
        let body = scrape(port)?;
        let s = samples(&body);
        let ready = s.get(&format!("mottak_saksoppdateringer{{{m},state=\"sent\"}}")) == Some(&1.0)
            && s.get(&format!(
                "mottak_forsendelse_published_to_acknowledged_seconds_count{{{m}}}"
            )) == Some(&3.0);
        if ready {
            break (body, s);
        }
        anyhow::ensure!(Instant::now() < deadline, "never all counted:\n{body}");
        std::thread::sleep(Duration::from_millis(300));
    };

    // Inbound: every SvarInn operation timed and counted by API and status class; the journeys.
    // The mottakersystem speaks V1 (no svarinn_api): only api="v1" series.
    let a = format!("{m},api=\"v1\"");
    assert!(
        !body.contains(&format!("{m},api=\"v2\"")),
        "a V1 mottakersystem has no V2 series:\n{body}"
    );
    assert!(
        get(
            &s,
            &format!("mottak_svarinn_responses_total{{{a},operation=\"list\",status=\"5xx\"}}")
        ) >= 1.0
    );
    assert!(
        get(
            &s,
            &format!("mottak_svarinn_responses_total{{{a},operation=\"list\",status=\"2xx\"}}")
        ) >= 1.0
    );
    assert_eq!(
        get(
            &s,
            &format!("mottak_svarinn_responses_total{{{a},operation=\"download\",status=\"2xx\"}}")
        ),
        3.0
    );
    assert_eq!(
        get(
            &s,
            &format!("mottak_svarinn_responses_total{{{a},operation=\"ack\",status=\"2xx\"}}")
        ),
        3.0
    );
    // The adaptive download limit: from 2 up, never over the default ceiling of 16.
    let concurrency = get(&s, &format!("mottak_svarinn_download_concurrency{{{m}}}"));
    assert!(
        (1.0..=16.0).contains(&concurrency),
        "download concurrency {concurrency}"
    );
    let list_count = get(
        &s,
        &format!("mottak_svarinn_request_duration_seconds_count{{{a},operation=\"list\"}}"),
    );
    let list_answers: f64 = ["2xx", "3xx", "4xx", "5xx", "error"]
        .iter()
        .map(|c| {
            get(
                &s,
                &format!("mottak_svarinn_responses_total{{{a},operation=\"list\",status=\"{c}\"}}"),
            )
        })
        .sum();
    assert!(
        list_count >= list_answers && list_count > 0.0,
        "{list_count} {list_answers}"
    );
    assert_eq!(
        get(
            &s,
            &format!("mottak_forsendelse_listed_to_published_seconds_count{{{m}}}")
        ),
        3.0
    );
    assert_eq!(
        get(
            &s,
            &format!("mottak_forsendelse_listed_to_published_seconds_bucket{{{m},le=\"+Inf\"}}")
        ),
        3.0
    );
    // Acknowledged on delivery: nothing waits for an import.
    assert_eq!(
        get(
            &s,
            &format!("mottak_forsendelse_published_to_imported_seconds_count{{{m}}}")
        ),
        0.0
    );
    assert_eq!(
        get(
            &s,
            &format!("mottak_oldest_unacknowledged_age_seconds{{{m}}}")
        ),
        0.0
    );

    // Outbound.
    assert_eq!(get(&s, &format!("mottak_fiks_uploads_total{{{m}}}")), 1.0);
    assert_eq!(
        get(&s, &format!("mottak_fiks_uploaded_bytes_total{{{m}}}")),
        file.len() as f64
    );
    assert_eq!(
        get(
            &s,
            &format!("mottak_fiks_responses_total{{{m},operation=\"post_update\",status=\"2xx\"}}")
        ),
        1.0
    );
    assert_eq!(
        get(
            &s,
            &format!("mottak_fiks_responses_total{{{m},operation=\"upload\",status=\"2xx\"}}")
        ),
        1.0
    );
    assert_eq!(
        get(
            &s,
            &format!("mottak_maskinporten_token_failures_total{{{m},reason=\"server\"}}")
        ),
        1.0
    );
    assert!(
        get(
            &s,
            &format!("mottak_maskinporten_token_fetches_total{{{m}}}")
        ) >= 2.0
    );
    assert_eq!(get(&s, &format!("mottak_maskinporten_failing{{{m}}}")), 0.0);
    assert_eq!(
        get(&s, &format!("mottak_outbound_setup_failing{{{m}}}")),
        0.0
    );
    assert!(
        s.keys().any(|k| k.starts_with(&format!(
            "mottak_certificate_expiry_timestamp_seconds{{{m},purpose=\"maskinporten\""
        ))),
        "the Maskinporten chain's expiry:\n{body}"
    );

    // Every pipeline, whatever it carries, from its health: up, set up at the
    // first attempt, its loop turning.
    for kind in ["inbound", "outbound"] {
        let p = format!("{m},pipeline=\"{kind}\"");
        assert_eq!(
            get(&s, &format!("mottak_pipeline_up{{{p}}}")),
            1.0,
            "{kind}"
        );
        assert_eq!(
            get(&s, &format!("mottak_pipeline_setup_failed_attempts{{{p}}}")),
            0.0,
            "{kind}"
        );
        assert!(get(&s, &format!("mottak_pipeline_turns_total{{{p}}}")) >= 1.0);
        assert!(
            get(
                &s,
                &format!("mottak_pipeline_last_turn_timestamp_seconds{{{p}}}")
            ) > 1.7e9
        );
    }

    // No series carries an id: every label is from a closed set.
    for k in s.keys() {
        for id in ids.iter().chain([&case]) {
            assert!(!k.contains(id.as_str()), "{k} names {id}");
        }
    }

    check_metrics(&body, &w.world.root);
    agent.terminate(LIMIT)?;
    Ok(())
}

/// `promtool check metrics`: the format and Prometheus's naming lints (units, `_total`).
fn check_metrics(body: &str, dir: &Path) {
    let Some(promtool) = promtool::find().unwrap() else {
        return;
    };
    let out = promtool::run(&promtool, dir, &["check", "metrics"], body.as_bytes()).unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics:\n{said}"
    );
}
