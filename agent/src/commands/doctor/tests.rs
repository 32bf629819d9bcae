//! The rendering, the scope refusal and a TLS-inspecting proxy, without the network.

use std::sync::Arc;

use url::Url;

use super::network::{firewall_fix, handshake_with, is_public_ca};
use super::probes::refused_scope;
use super::*;
use crate::doctor::OfflineFinding;
use crate::maskinporten::TokenError;

#[test]
fn public_issuers_are_recognised_and_a_proxy_is_not() {
    assert!(is_public_ca(
        "CN=Buypass Class 2 CA 5,O=Buypass AS-983163327,C=NO"
    ));
    assert!(!is_public_ca("CN=Kommune Proxy CA,O=Kommune"));
}

#[test]
fn only_an_invalid_scope_is_called_a_refused_scope() {
    let scope = TokenError::Refused {
        status: 400,
        body: r#"{"error":"invalid_scope","error_description":"scope \"ks:annet\" does not hold \"ks:fiks\""}"#.into(),
    };
    assert!(refused_scope(&scope).is_some_and(|w| w.contains("ks:annet")));
    let grant = TokenError::Refused {
        status: 400,
        body: r#"{"error":"invalid_grant","error_description":"unknown client"}"#.into(),
    };
    assert_eq!(refused_scope(&grant), None);
}

#[test]
fn the_human_output_names_fixes_and_says_read_only() {
    let report = DoctorReport {
        config: "/etc/mottak/agent.toml".into(),
        finished_at: "2026-12-03T14:00:00Z".into(),
        read_only: true,
        offline: vec![OfflineFinding {
            severity: "warning".into(),
            scope: "nav".into(),
            subject: "cert".into(),
            message: "expires in 20 days".into(),
        }],
        checks: vec![Check {
            scope: "nav".into(),
            kind: "tcp".into(),
            subject: "svarut.ks.no 137.221.25.66:443".into(),
            outcome: Outcome::Fail,
            detail: "no answer within 5s (dropped)".into(),
            fix: Some(firewall_fix(
                "svarut.ks.no",
                &"137.221.25.66:443".parse().unwrap(),
            )),
        }],
        exit_code: EXIT_ONLINE_FAILED,
    };
    let text = render(&report);
    assert!(
        text.contains("read-only: nothing is acknowledged, reported or uploaded"),
        "{text}"
    );
    assert!(
        text.contains(
            "FAIL    [nav] tcp svarut.ks.no 137.221.25.66:443: no answer within 5s (dropped)\n        fix: open the firewall for outgoing TCP to svarut.ks.no at 137.221.25.66 port 443\n"
        ),
        "{text}"
    );
    assert!(text.ends_with("(exit 3)\n"), "{text}");
}

/// A server whose certificate comes from a CA the system does not
/// know (as a TLS-inspecting proxy's does): the handshake fails and the
/// line names the issuer and the proxy; with that CA trusted, it passes
/// and still names the issuer.
#[tokio::test]
async fn a_tls_inspecting_proxy_is_named_by_its_issuer() {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.distinguished_name = rcgen::DistinguishedName::new();
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Kommune Inspect CA");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, &ca_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf_params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone(), ca.der().clone()],
            rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap(),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let _ = acceptor.accept(s).await;
        }
    });

    // The system's trust (which does not hold the test CA).
    let url = Url::parse(&format!("https://127.0.0.1:{}/", addr.port())).unwrap();
    let mut out = Vec::new();
    let mut lines = Lines {
        scope: "nav",
        out: &mut out,
    };
    assert!(!check_endpoint(&url, "svarinn_url", Duration::from_secs(5), &mut lines).await);
    let tls = out.iter().find(|c| c.kind == "tls").unwrap();
    assert_eq!(tls.outcome, Outcome::Fail, "{tls:?}");
    assert!(
        tls.detail.contains("issued by CN=Kommune Inspect CA"),
        "{tls:?}"
    );
    assert!(
        tls.fix
            .as_deref()
            .is_some_and(|f| f.contains("TLS-inspecting proxy") && f.contains("exempt 127.0.0.1")),
        "{tls:?}"
    );

    // Trusted (as when the kommune installed the proxy's CA): passes, still named.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let trusting = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::clone(&provider),
    )
    .build()
    .unwrap();
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (result, chain) = handshake_with(
        "127.0.0.1",
        stream,
        Duration::from_secs(5),
        provider,
        trusting,
    )
    .await;
    assert_eq!(result, Ok(()));
    let chain = chain.unwrap();
    assert!(
        chain.describe().contains("issued by CN=Kommune Inspect CA"),
        "{chain:?}"
    );
    assert!(!chain.public_issuer());
}
