//! The console against a real `mottak-agent run` (the agent's own `run`
//! code, started in a thread of this test) and the fake SvarInn: `mottak
//! status --json` and `mottak check` (the real binary), and the console's
//! client + `App` finding a failed import, retrying it, and seeing it leave
//! the list. One agent per process (its logging is process-global), so one test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use mottak_console::app::View;
use mottak_fixtures::svarinn::{Fault, NewForsendelse, Plaintext, Scope};
use mottak_tests::harness::{System, World};
use support::agent::{Console, MOTTAK, agent, grant_me_operator, me, mottak, text, wait_for};
use support::ch;

const BAD: &str = "0badbad0-1111-4111-8111-111111111111";
const GOOD: &str = "90009000-2222-4222-8222-222222222222";

/// A CA, a server certificate for localhost and a client certificate with
/// CN `user`, written as PEM files into `dir`.
fn tls_files(dir: &Path, user: &str) {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair,
    };
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "Kommunens konsoll-CA");
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let leaf = |cn: &str, server: bool| {
        let sans = if server {
            vec!["localhost".to_owned()]
        } else {
            Vec::new()
        };
        let mut p = CertificateParams::new(sans).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![if server {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            ExtendedKeyUsagePurpose::ClientAuth
        }];
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &ca).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let private = |name: &str, text: &str| {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    };
    let (server_cert, server_key) = leaf("mottak01", true);
    std::fs::write(dir.join("agent.crt"), format!("{server_cert}{}", ca.pem())).unwrap();
    private("agent.key", &server_key);
    std::fs::write(dir.join("ca.crt"), ca.pem()).unwrap();
    let (client_cert, client_key) = leaf(user, false);
    std::fs::write(dir.join("me.crt"), client_cert).unwrap();
    private("me.key", &client_key);
}

#[test]
fn status_check_and_a_retry_against_a_real_agent() {
    let world = World::single(System::new("ms-a").max_decrypt_attempts(1)).unwrap();
    let sys = world.first().unwrap().clone();
    let config = world.config_path.display().to_string();
    let socket: PathBuf = world.root.join("state/console.sock");

    // The TLS listener too, for --url with a client certificate.
    let tls = world.root.join("tls");
    std::fs::create_dir_all(&tls).unwrap();
    tls_files(&tls, &me());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config_text = std::fs::read_to_string(&world.config_path).unwrap();
    config_text.push_str(&format!(
        "\n[agent.remote]\nlisten = \"127.0.0.1:{port}\"\ncertificate = \"{d}/agent.crt\"\nprivate_key = \"{d}/agent.key\"\nclient_ca = \"{d}/ca.crt\"\n",
        d = tls.display()
    ));
    std::fs::write(&world.config_path, config_text).unwrap();

    // Nobody may use the console until granted.
    grant_me_operator(&config);
    world
        .fake
        .inject(Fault::WrongKey, Scope::forsendelse(BAD))
        .unwrap();
    for id in [BAD, GOOD] {
        world
            .block_on(
                world.fake.add_forsendelse(
                    NewForsendelse::pdf(
                        &sys.spec.username,
                        "brev.pdf",
                        Plaintext::Bytes(vec![7; 3000]),
                    )
                    .id(id),
                ),
            )
            .unwrap();
    }
    // Before the agent runs: UNKNOWN, with the reason.
    let down = mottak(&socket, &["check"]);
    assert_eq!(down.status.code(), Some(3), "{}", text(&down));
    assert!(
        text(&down).starts_with("MOTTAK UNKNOWN - "),
        "{}",
        text(&down)
    );
    let down = mottak(&socket, &["status"]);
    assert_eq!(down.status.code(), Some(2), "{}", text(&down));
    assert!(
        text(&down).contains("is mottak-agent running?"),
        "{}",
        text(&down)
    );

    let run_config = config.clone();
    std::thread::spawn(move || agent(&["run", "--config", &run_config]));

    // status --json: the real binary sees the failed import.
    let json = wait_for(
        "the failed import in status --json",
        Duration::from_secs(90),
        || {
            let o = mottak(&socket, &["status", "--json"]);
            if !o.status.success() {
                return None;
            }
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            let acked = v["queues"][0]["counts"]["acked"].as_u64().unwrap_or(0);
            (v["failed_total"] == 1 && acked == 1).then_some(v)
        },
    );
    assert_eq!(json["queues"][0]["mottakersystem"], "ms-a");
    assert_eq!(json["role"], "operator");
    assert_eq!(json["status"], "warning");
    let plain = mottak(&socket, &["status"]);
    assert!(plain.status.success(), "{}", text(&plain));
    assert!(text(&plain).contains("ms-a"), "{}", text(&plain));

    // The same over TLS, as the client certificate's CN.
    let url = format!("wss://localhost:{port}");
    let remote = Command::new(MOTTAK)
        .args(["status", "--json", "--url", &url])
        .arg("--cert")
        .arg(tls.join("me.crt"))
        .arg("--key")
        .arg(tls.join("me.key"))
        .arg("--ca")
        .arg(tls.join("ca.crt"))
        .output()
        .unwrap();
    assert!(remote.status.success(), "{}", text(&remote));
    let v: serde_json::Value = serde_json::from_slice(&remote.stdout).unwrap();
    assert_eq!(v["user"], me().as_str());
    assert_eq!(v["failed_total"], 1);
    // A CA that did not sign the agent's certificate: refused, in words.
    let wrong_ca = Command::new(MOTTAK)
        .args(["check", "--url", &url])
        .arg("--cert")
        .arg(tls.join("me.crt"))
        .arg("--key")
        .arg(tls.join("me.key"))
        .arg("--ca")
        .arg(tls.join("me.crt"))
        .output()
        .unwrap();
    assert_eq!(wrong_ca.status.code(), Some(3), "{}", text(&wrong_ca));
    assert!(
        text(&wrong_ca).contains("TLS handshake"),
        "{}",
        text(&wrong_ca)
    );

    // check: WARNING (one failed import), one line, perfdata.
    let check = mottak(&socket, &["check"]);
    let line = text(&check);
    assert_eq!(check.status.code(), Some(1), "{line}");
    assert!(line.starts_with("MOTTAK WARNING - "), "{line}");
    assert_eq!(line.trim_end().lines().count(), 1, "{line}");
    assert!(line.contains("| failed=1;1;;0 "), "{line}");
    let crit = mottak(&socket, &["check", "--crit-failed", "1"]);
    assert_eq!(crit.status.code(), Some(2), "{}", text(&crit));

    // The console's own client and App: find it, retry it, see it go.
    world.fake.clear_faults();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut c = Console::connect(&socket, "t", Duration::from_secs(60));
        c.pump_until(|a| a.complete() && a.failed_rows().len() == 1)
            .await;
        assert_eq!(c.app.failed_rows()[0].id, BAD);
        assert!(!c.app.read_only());
        c.app.update(ch('2'));
        assert_eq!(c.app.view, View::Failed);
        assert!(c.app.update(ch('r')).is_empty(), "asks first");
        let effects = c.app.update(ch('y'));
        c.send(effects).await;
        c.pump_until(|a| a.in_flight() == 0 && a.failed_rows().is_empty())
            .await;
        let toast = c.app.toast.clone().unwrap();
        assert!(toast.text.contains("done"), "{toast:?}");
        let screen = support::draw(&c.app, 80, 24);
        assert!(screen.contains("No failed imports."), "{screen}");
    });
    // Retried: downloaded again (the fault is gone), delivered and acknowledged.
    wait_for(
        "the retried forsendelse acked",
        Duration::from_secs(60),
        || (world.state_of(BAD).as_deref() == Some("acked")).then_some(()),
    );
}
