//! `metrics = "127.0.0.1:PORT"` on the real agent: `/metrics` is valid
//! Prometheus text (checked by a small parser of the format) and its
//! numbers follow the journal; anything else is 404.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod console_api_support;

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use console_api_support::{Env, Options};

/// One sample: name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

/// Parses the Prometheus text format 0.0.4: `# HELP`/`# TYPE` lines, and
/// samples `name{label="value",...} value`. Panics on anything malformed,
/// on a sample whose family has no TYPE before it, and on a family typed twice.
fn parse(text: &str) -> Vec<Sample> {
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    let mut types: HashMap<String, String> = HashMap::new();
    let mut out = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let kind = parts.next().unwrap();
            let name = parts.next().unwrap();
            assert!(name_ok(name), "bad metric name in {line:?}");
            if kind == "TYPE" {
                let t = parts.next().unwrap();
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&t),
                    "{line:?}"
                );
                assert!(
                    types.insert(name.to_owned(), t.to_owned()).is_none(),
                    "typed twice: {line:?}"
                );
            } else {
                assert_eq!(kind, "HELP", "{line:?}");
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line:?}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let (name, labels) = match series.split_once('{') {
            None => (series, BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').unwrap_or_else(|| panic!("{line:?}"));
                let mut labels = BTreeMap::new();
                let mut chars = body.chars().peekable();
                while chars.peek().is_some() {
                    let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
                    assert!(name_ok(&key), "bad label name in {line:?}");
                    assert_eq!(chars.next(), Some('"'), "{line:?}");
                    let mut val = String::new();
                    loop {
                        match chars.next() {
                            Some('\\') => match chars.next() {
                                Some('n') => val.push('\n'),
                                Some(c @ ('\\' | '"')) => val.push(c),
                                other => panic!("bad escape {other:?} in {line:?}"),
                            },
                            Some('"') => break,
                            Some(c) => val.push(c),
                            None => panic!("unterminated label in {line:?}"),
                        }
                    }
                    labels.insert(key, val);
                    match chars.next() {
                        Some(',') | None => {}
                        other => panic!("{other:?} after a label in {line:?}"),
                    }
                }
                (name, labels)
            }
        };
        assert!(name_ok(name), "{line:?}");
        // A histogram's samples are its name with _bucket, _sum or _count.
        let histogram = ["_bucket", "_sum", "_count"].iter().any(|suffix| {
            name.strip_suffix(suffix)
                .is_some_and(|base| types.get(base).is_some_and(|t| t == "histogram"))
        });
        assert!(types.contains_key(name) || histogram, "no TYPE for {name}");
        out.push((name.to_owned(), labels, value));
    }
    out
}

fn get(port: u16, path: &str) -> (String, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (head.to_owned(), body.to_owned())
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| *v)
}

#[test]
fn the_parser_rejects_what_prometheus_would() {
    let ok = "# HELP a x\n# TYPE a gauge\na{b=\"c\\\"d\"} 1\n";
    assert_eq!(parse(ok)[0].1["b"], "c\"d");
    for bad in [
        "a 1\n",
        "# TYPE a gauge\na{b=c} 1\n",
        "# TYPE a gauge\na one\n",
        "# TYPE 1a gauge\n",
        "# TYPE a gauge\n# TYPE a gauge\n",
    ] {
        assert!(
            std::panic::catch_unwind(|| parse(bad)).is_err(),
            "{bad:?} was accepted"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_the_journal() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = Env::new(Options {
        agent_extra: format!("metrics = \"127.0.0.1:{port}\""),
        ..Options::default()
    })
    .await;
    let mut agent = env.spawn_agent().await;
    let ids = env.fake().generate(6, 2500).await.unwrap();

    let deadline = Instant::now() + Duration::from_secs(90);
    let samples = loop {
        let (head, body) = tokio::task::spawn_blocking(move || get(port, "/metrics"))
            .await
            .unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(head.contains("text/plain; version=0.0.4"), "{head}");
        let samples = parse(&body);
        let acked = value(
            &samples,
            "mottak_forsendelser",
            &[("mottakersystem", "ms-a"), ("state", "acked")],
        );
        if acked == Some(ids.len() as f64) {
            break samples;
        }
        assert!(Instant::now() < deadline, "never all acked:\n{body}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let m = [("mottakersystem", "ms-a")];
    assert_eq!(
        value(&samples, "mottak_delivered_forsendelser_total", &m),
        Some(6.0)
    );
    assert_eq!(
        value(&samples, "mottak_delivered_bytes_total", &m),
        Some(6.0 * 2500.0)
    );
    assert!(value(&samples, "mottak_polls_total", &m).unwrap() >= 1.0);
    assert_eq!(value(&samples, "mottak_poll_failures_total", &m), Some(0.0));
    assert_eq!(
        value(&samples, "mottak_oldest_unacknowledged_age_seconds", &m),
        Some(0.0)
    );
    // SvarInn's figures carry the API the mottakersystem speaks (V1: no svarinn_api).
    let acks = |api| {
        value(
            &samples,
            "mottak_svarinn_responses_total",
            &[
                ("mottakersystem", "ms-a"),
                ("api", api),
                ("operation", "ack"),
                ("status", "2xx"),
            ],
        )
    };
    assert_eq!(acks("v1"), Some(6.0));
    assert_eq!(acks("v2"), None);
    let expiry = value(&samples, "mottak_certificate_expiry_timestamp_seconds", &m).unwrap();
    assert!(expiry > 1.7e9, "{expiry}");
    assert_eq!(
        value(&samples, "mottak_drop_folder_writable", &m),
        Some(1.0)
    );
    for state in [
        "listed",
        "downloaded",
        "delivered",
        "imported",
        "acked",
        "retry_wait",
        "failed",
        "rejected",
        "permanent",
    ] {
        assert!(
            value(&samples, "mottak_forsendelser", &[("state", state)]).is_some(),
            "{state}"
        );
    }
    let (head, _) = tokio::task::spawn_blocking(move || get(port, "/"))
        .await
        .unwrap();
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    agent.assert_running();
}
