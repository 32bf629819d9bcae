use super::*;

#[test]
fn endpoints_hang_under_the_configured_url() {
    for url in ["https://svarut.ks.no", "https://svarut.ks.no/"] {
        let c = SvarInnClient::new(url, "u", "p", Timeouts::default()).unwrap();
        assert_eq!(
            c.endpoints.hent_nye_forsendelser(),
            "https://svarut.ks.no/tjenester/svarinn/mottaker/hentNyeForsendelser"
        );
    }
}

#[test]
fn bad_base_urls_are_refused() {
    for url in ["ftp://x", "not a url", "https://x/?q=1"] {
        assert!(matches!(
            SvarInnClient::new(url, "u", "p", Timeouts::default()),
            Err(ClientError::BadUrl { .. })
        ));
    }
}

#[test]
fn debug_never_shows_the_password() {
    let c =
        SvarInnClient::new("https://x", "user", "hemmelig-passord", Timeouts::default()).unwrap();
    let shown = format!("{c:?}");
    assert!(!shown.contains("hemmelig"), "{shown}");
    assert!(shown.contains("[redacted]"));
}

#[test]
fn content_disposition_filenames() {
    let f = filename_from_content_disposition;
    assert_eq!(
        f(r#"attachment; filename="a.pdf""#).as_deref(),
        Some("a.pdf")
    );
    assert_eq!(f("attachment; filename=b.zip").as_deref(), Some("b.zip"));
    assert_eq!(
        f(r#"attachment; filename="x.pdf"; filename*=UTF-8''s%C3%B8knad.pdf"#).as_deref(),
        Some("søknad.pdf")
    );
    assert_eq!(f("attachment"), None);
    assert_eq!(f(r#"attachment; filename="""#), None);
    assert_eq!(
        f("attachment; filename*=UTF-8''%zz%4"),
        Some("%zz%4".to_owned())
    );
}

#[test]
fn retryable_classification() {
    let server = ClientError::Server {
        operation: "x",
        status: StatusCode::SERVICE_UNAVAILABLE,
        body: String::new(),
    };
    assert!(server.is_retryable());
    assert!(
        !ClientError::Unauthorized {
            status: StatusCode::UNAUTHORIZED
        }
        .is_retryable()
    );
    let not_found = ClientError::Rejected {
        operation: "x",
        status: StatusCode::NOT_FOUND,
        body: String::new(),
    };
    assert!(!not_found.is_retryable());
    let throttled = ClientError::Rejected {
        operation: "x",
        status: StatusCode::TOO_MANY_REQUESTS,
        body: String::new(),
    };
    assert!(throttled.is_retryable());
}

#[test]
fn v2_endpoints_hang_under_the_configured_url() {
    for url in ["https://svarut.ks.no", "https://svarut.ks.no/"] {
        let c = SvarInnV2Client::new(url, "u", "p", Timeouts::default()).unwrap();
        assert_eq!(
            c.list_url(),
            "https://svarut.ks.no/api/svarinn/v2/forsendelser"
        );
        assert_eq!(c.host(), "svarut.ks.no");
    }
    let c =
        SvarInnV2Client::new("https://x", "user", "hemmelig-passord", Timeouts::default()).unwrap();
    assert!(!format!("{c:?}").contains("hemmelig"));
    for url in ["ftp://x", "https://x/?q=1"] {
        assert!(matches!(
            ApiClient::new(SvarInnApi::V2, url, "u", "p", Timeouts::default()),
            Err(ClientError::BadUrl { .. })
        ));
    }
}

/// V2 against the strict fake in V2 mode.
mod against_the_fake_v2 {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::sync::OnceLock;

    use futures_util::TryStreamExt;
    use mottak_fixtures::TestKeyPair;
    use mottak_fixtures::svarinn::{
        EventKind, FakeSvarInn, FakeSvarInnHandle, Fault, ForsendelseState, MottakersystemSpec,
        NewForsendelse, Plaintext, RequestKind, Scope, SvarInnApi as FakeApi,
    };
    use mottak_protocol::cms::{self, RecipientKey};

    use super::super::*;

    const USER: &str = "ms-v2";
    const PASSWORD: &str = "hemmelig-v2";

    fn keys() -> &'static TestKeyPair {
        static KEYS: OnceLock<TestKeyPair> = OnceLock::new();
        KEYS.get_or_init(|| TestKeyPair::generate("ms-v2").unwrap())
    }

    async fn fake() -> FakeSvarInnHandle {
        FakeSvarInn::builder()
            .mottakersystem(MottakersystemSpec::new(USER, PASSWORD, &keys().cert_pem))
            .api(FakeApi::V2)
            .start()
            .await
            .unwrap()
    }

    fn client(fake: &FakeSvarInnHandle) -> ApiClient {
        ApiClient::new(
            SvarInnApi::V2,
            fake.base_url(),
            USER,
            PASSWORD,
            Timeouts::default(),
        )
        .unwrap()
    }

    fn listed(page: Page) -> Vec<Listed> {
        page.items.into_iter().map(|i| i.listed.unwrap()).collect()
    }

    #[tokio::test]
    async fn lists_past_200_acknowledging_each_page_with_mottatt() {
        let fake = fake().await;
        let ids = fake.generate(230, 64).await.unwrap();
        let c = client(&fake);
        assert_eq!(c.api(), SvarInnApi::V2);
        let first = listed(c.list().await.unwrap());
        assert_eq!(first.len(), 200);
        assert!(first.iter().all(|l| l.api == SvarInnApi::V2));
        for l in &first {
            c.acknowledge(&l.id).await.unwrap();
        }
        let second = listed(c.list().await.unwrap());
        assert_eq!(second.len(), 30);
        for l in &second {
            c.acknowledge(&l.id).await.unwrap();
        }
        assert!(c.list().await.unwrap().items.is_empty());
        let seen: Vec<String> = first.iter().chain(&second).map(|l| l.id.clone()).collect();
        assert_eq!(seen, ids);
        assert_eq!(fake.acked_ids(), ids);
        fake.shutdown().await;
    }

    #[tokio::test]
    async fn downloads_by_nedlastingslenke_decrypt_to_the_listed_zip() {
        let fake = fake().await;
        let pdf = b"%PDF-1.4\nV2-brev\n%%EOF\n".to_vec();
        let id = fake
            .add_forsendelse(NewForsendelse::pdf(
                USER,
                "brev.pdf",
                Plaintext::Bytes(pdf.clone()),
            ))
            .await
            .unwrap();
        let c = client(&fake);
        let page = c.list().await.unwrap();
        let item = &page.items[0];
        let l = item.listed.as_ref().unwrap();
        assert_eq!(l.id, id);
        assert_eq!(l.raw_json, item.raw);
        assert!(
            l.raw_json.contains("nedlastingslenke"),
            "V2's JSON as received"
        );
        assert_eq!(l.files[0].name, "brev.pdf");
        assert_eq!(l.files[0].size, Some(pdf.len() as u64));
        assert_eq!(
            l.download_url,
            fake.forsendelse_v2(&id).unwrap().nedlastingslenke
        );
        let download = c.download(&l.download_url).await.unwrap();
        assert_eq!(download.content_type.as_deref(), Some("application/zip"));
        assert_eq!(download.filename.as_deref(), Some("brev.zip"));
        let cipher: Vec<u8> = download
            .body
            .try_fold(Vec::new(), |mut acc, chunk| async move {
                acc.extend_from_slice(&chunk);
                Ok(acc)
            })
            .await
            .unwrap();
        let key = RecipientKey::from_pem(&keys().key_pem, Some(&keys().cert_pem)).unwrap();
        let mut zip = Vec::new();
        cms::decrypt(cipher.as_slice(), &mut zip, &[key]).unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
        let mut entry = archive.by_name("brev.pdf").unwrap();
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut plain).unwrap();
        assert_eq!(plain, pdf);
        use sha2::Digest;
        assert_eq!(
            l.files[0].sha256().unwrap(),
            <[u8; 32]>::from(sha2::Sha256::digest(&plain))
        );
        fake.shutdown().await;
    }

    #[tokio::test]
    async fn feilet_reports_temporary_and_permanent_failures() {
        let fake = fake().await;
        let ids = fake.generate(2, 100).await.unwrap();
        let c = client(&fake);
        c.report_failure(&ids[0], "midlertidig", false)
            .await
            .unwrap();
        c.report_failure(&ids[1], "avvist", true).await.unwrap();
        let kinds: Vec<EventKind> = fake.mottak_feilet().into_iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                EventKind::MottakFeilet {
                    feilmelding: "midlertidig".into(),
                    permanent: false
                },
                EventKind::MottakFeilet {
                    feilmelding: "avvist".into(),
                    permanent: true
                }
            ]
        );
        assert_eq!(fake.state_of(&ids[0]), Some(ForsendelseState::Waiting));
        assert_eq!(fake.state_of(&ids[1]), Some(ForsendelseState::Permanent));
        assert!(fake.acked_ids().is_empty());
        fake.shutdown().await;
    }

    #[tokio::test]
    async fn a_refused_status_and_the_fakes_faults_are_classified() {
        let fake = fake().await;
        let id = fake.generate(1, 100).await.unwrap().remove(0);
        let c = client(&fake);
        // An unknown forsendelse: a 404, not worth retrying.
        let err = c
            .acknowledge("00000000-0000-4000-8000-000000000000")
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ClientError::Rejected { status, operation, .. }
                if *status == StatusCode::NOT_FOUND && *operation == "oppdaterStatus MOTTATT"),
            "{err}"
        );
        assert!(!err.is_retryable());
        // An empty feilmelding is refused by SvarInn (400), and nothing changes.
        let err = c.report_failure(&id, " ", true).await.unwrap_err();
        assert!(
            matches!(&err, ClientError::Rejected { status, .. } if *status == StatusCode::BAD_REQUEST),
            "{err}"
        );
        assert!(!err.is_retryable());
        assert_eq!(fake.state_of(&id), Some(ForsendelseState::Waiting));
        // A 503 on MOTTATT is retryable and no acknowledgement.
        fake.inject(Fault::Status(503), Scope::next(RequestKind::Kvittering, 1))
            .unwrap();
        let err = c.acknowledge(&id).await.unwrap_err();
        assert!(err.is_retryable(), "{err}");
        assert!(fake.acked_ids().is_empty());
        fake.inject(Fault::Unauthorized, Scope::next(RequestKind::List, 1))
            .unwrap();
        assert!(matches!(
            c.list().await,
            Err(ClientError::Unauthorized { .. })
        ));
        fake.inject(Fault::MalformedJson, Scope::next(RequestKind::List, 1))
            .unwrap();
        let err = c.list().await.unwrap_err();
        assert!(matches!(err, ClientError::Malformed { .. }), "{err}");
        fake.inject(Fault::MalformedEntry, Scope::forsendelse(&id).once())
            .unwrap();
        let page = c.list().await.unwrap();
        assert_eq!(page.items[0].id.as_deref(), Some(id.as_str()));
        assert!(page.items[0].listed.is_err());
        c.acknowledge(&id).await.unwrap();
        assert_eq!(fake.acked_ids(), [id]);
        // The wrong password is the operator's to fix.
        let wrong = ApiClient::new(
            SvarInnApi::V2,
            fake.base_url(),
            USER,
            "feil",
            Timeouts::default(),
        )
        .unwrap();
        let err = wrong.list().await.unwrap_err();
        assert!(matches!(err, ClientError::Unauthorized { .. }), "{err}");
        fake.shutdown().await;
    }

    #[tokio::test]
    async fn v2_calls_are_counted_under_the_same_operations_labelled_v2() {
        use crate::telemetry::{StatusClass, SvarInnOp, SystemTelemetry};
        let fake = fake().await;
        let id = fake.generate(1, 100).await.unwrap().remove(0);
        let telemetry = std::sync::Arc::new(SystemTelemetry::default());
        let c = client(&fake).with_telemetry(telemetry.clone());
        let page = listed(c.list().await.unwrap());
        let _ = c.download(&page[0].download_url).await.unwrap();
        c.report_failure(&id, "midlertidig", false).await.unwrap();
        c.acknowledge(&id).await.unwrap();
        assert!(c.acknowledge("ukjent").await.is_err());
        let answers = |op| {
            telemetry
                .svarinn(SvarInnApi::V2, op)
                .answers
                .get(StatusClass::Success)
        };
        for op in [
            SvarInnOp::List,
            SvarInnOp::Download,
            SvarInnOp::ReportFailure,
            SvarInnOp::Ack,
        ] {
            assert_eq!(answers(op), 1, "{op:?}");
        }
        assert_eq!(
            telemetry
                .svarinn(SvarInnApi::V2, SvarInnOp::Ack)
                .answers
                .get(StatusClass::ClientError),
            1
        );
        assert_eq!(telemetry.svarinn_apis(), [SvarInnApi::V2]);
        let nothing_as_v1 = SvarInnOp::ALL.iter().all(|op| {
            telemetry
                .svarinn(SvarInnApi::V1, *op)
                .duration
                .snapshot()
                .count
                == 0
        });
        assert!(nothing_as_v1, "V2's calls are not counted as V1's");
        fake.shutdown().await;
    }

    #[tokio::test]
    async fn a_foreign_nedlastingslenke_is_refused_before_any_request() {
        let fake = fake().await;
        let c = client(&fake);
        for link in [
            "https://evil.example/api/svarinn/v2/forsendelser/x",
            "http://127.0.0.1:1/api/svarinn/v2/forsendelser/x",
            "//evil.example/x",
        ] {
            let err = c.download(link).await.unwrap_err();
            assert!(
                matches!(
                    &err,
                    ClientError::ForeignDownloadUrl {
                        field: "nedlastingslenke",
                        ..
                    }
                ),
                "{link}: {err}"
            );
            assert!(
                err.to_string().starts_with("the nedlastingslenke "),
                "{err}"
            );
            assert!(!err.is_retryable());
        }
        assert!(fake.events().is_empty(), "nothing reached the fake");
        // A relative link is on the configured origin.
        let id = fake.generate(1, 100).await.unwrap().remove(0);
        let relative = mottak_protocol::svarinn_v2::download_path(&id);
        assert!(c.download(&relative).await.is_ok());
        fake.shutdown().await;
    }

    #[tokio::test]
    async fn v1_lists_into_the_same_model() {
        let fake = FakeSvarInn::builder()
            .mottakersystem(MottakersystemSpec::new(USER, PASSWORD, &keys().cert_pem))
            .start()
            .await
            .unwrap();
        let ids = fake.generate(2, 100).await.unwrap();
        let v1 = ApiClient::new(
            SvarInnApi::V1,
            fake.base_url(),
            USER,
            PASSWORD,
            Timeouts::default(),
        )
        .unwrap();
        let page = listed(v1.list().await.unwrap());
        assert!(page.iter().all(|l| l.api == SvarInnApi::V1));
        assert_eq!(
            page.iter().map(|l| &l.id).collect::<Vec<_>>(),
            ids.iter().collect::<Vec<_>>()
        );
        assert!(page[0].raw_json.contains("downloadUrl"));
        v1.download(&page[0].download_url).await.unwrap();
        v1.acknowledge(&ids[0]).await.unwrap();
        v1.report_failure(&ids[1], "x", true).await.unwrap();
        assert_eq!(fake.acked_ids(), [ids[0].clone()]);
        // V2's client on a V1 SvarInn finds nothing there.
        let v2 = client(&fake);
        assert!(matches!(
            v2.list().await,
            Err(ClientError::Rejected { status, .. }) if status == StatusCode::NOT_FOUND
        ));
        fake.shutdown().await;
    }
}

#[test]
fn retry_after_in_seconds_or_as_an_http_date() {
    use std::time::{Duration, UNIX_EPOCH};
    // Sun, 06 Nov 1994 08:49:37 GMT
    let now = UNIX_EPOCH + Duration::from_secs(784_111_777);
    assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
    assert_eq!(retry_after(" 0 ", now), Some(Duration::ZERO));
    assert_eq!(
        retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
        Some(Duration::from_secs(30))
    );
    assert_eq!(
        retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
        Some(Duration::ZERO),
        "a date already past: no wait"
    );
    assert_eq!(
        retry_after("99999999999999999999999", now),
        Some(Duration::from_secs(u64::MAX))
    );
    for bad in ["", "-5", "1.5", "soon", "Sun, 06 Nov 1994"] {
        assert_eq!(retry_after(bad, now), None, "{bad:?}");
    }
}

#[test]
fn answers_tell_the_pacer_about_throttling_only() {
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
    use std::time::{Duration, SystemTime};
    let mut headers = HeaderMap::new();
    headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
    let now = SystemTime::now();
    let seven = Some(Duration::from_secs(7));
    assert_eq!(
        answer_of(StatusCode::TOO_MANY_REQUESTS, &headers, now),
        Answer::TooManyRequests { retry_after: seven }
    );
    assert_eq!(
        answer_of(StatusCode::SERVICE_UNAVAILABLE, &headers, now),
        Answer::Unavailable { retry_after: seven }
    );
    assert_eq!(
        answer_of(StatusCode::SERVICE_UNAVAILABLE, &HeaderMap::new(), now),
        Answer::Unavailable { retry_after: None }
    );
    assert_eq!(answer_of(StatusCode::OK, &headers, now), Answer::Ok);
    assert_eq!(
        answer_of(StatusCode::INTERNAL_SERVER_ERROR, &headers, now),
        Answer::Other
    );
}
