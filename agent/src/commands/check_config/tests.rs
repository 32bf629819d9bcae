//! check-config against real files in a temporary folder: keys, certificates,
//! secrets, drop folders and journals made good and bad on purpose.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::*;
use mottak_protocol::listed::SvarInnApi;
use time::Duration;

struct Setup {
    dir: tempfile::TempDir,
    env: Environment,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for d in ["state", "log", "drop", "keys"] {
            fs::create_dir(dir.path().join(d)).unwrap();
        }
        Setup {
            dir,
            env: Environment {
                now: OffsetDateTime::now_utc(),
                credentials_dir: None,
                euid: Some(1000),
            },
        }
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str, mode: u32) -> PathBuf {
        let p = self.p(rel);
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    /// A key and a certificate valid for `days`.
    fn keypair(&self, name: &str, days: i64) -> (PathBuf, PathBuf) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(vec![]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.not_before = OffsetDateTime::now_utc() - Duration::days(400);
        params.not_after = OffsetDateTime::now_utc() + Duration::days(days);
        let cert = params.self_signed(&key).unwrap();
        (
            self.write(&format!("keys/{name}.pem"), &key.serialize_pem(), 0o600),
            self.write(&format!("keys/{name}.crt"), &cert.pem(), 0o644),
        )
    }

    fn config(&self, keys: &[&Path], certs: &[&Path], extra: &str) -> PathBuf {
        let list = |ps: &[&Path]| {
            ps.iter()
                .map(|p| format!("{:?}", p.display().to_string()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let text = format!(
            r#"[agent]
state_dir = "{state}"
log_dir = "{log}"
console_socket = "{state}/console.sock"

[[mottakersystem]]
name = "nav-frogn"
svarinn_url = "https://svarut.ks.no"
username = "u"
password = "file:{pw}"
private_keys = [{keys}]
certificates = [{certs}]
drop_folder = "{drop}"
{extra}
"#,
            state = self.p("state").display(),
            log = self.p("log").display(),
            pw = self.p("pw").display(),
            drop = self.p("drop").display(),
            keys = list(keys),
            certs = list(certs),
        );
        self.write("agent.toml", &text, 0o644)
    }
}

fn messages(r: &Report, severity: Severity) -> Vec<String> {
    r.findings
        .iter()
        .filter(|f| f.severity == severity)
        .map(|f| format!("{} {}: {}", f.scope, f.subject, f.message))
        .collect()
}

#[test]
fn a_good_setup_passes_and_the_layout_is_created() {
    let s = Setup::new();
    s.write("pw", "s3cret\n", 0o600);
    let (key, cert) = s.keypair("nav-frogn-2026", 3650);
    let cfg = s.config(&[&key], &[&cert], "");
    let report = check(&cfg, &s.env);
    assert!(!report.has_errors(), "{report}");
    assert_eq!(report.count(Severity::Warning), 0, "{report}");
    let notes = messages(&report, Severity::Note);
    assert_eq!(notes.len(), 1, "{report}");
    assert!(
        notes[0].contains("created .mottak/ inn/ feilet/ ut/ ut-sendt/ ut-feilet/"),
        "{report}"
    );
    assert!(s.p("drop/inn").is_dir());
    assert!(report.summary().contains("the config is ready"), "{report}");
    // Which API it speaks: V1 when svarinn_api is absent, with the advice to switch.
    assert_eq!(report.apis, [("nav-frogn".to_owned(), SvarInnApi::V1)]);
    let text = report.to_string();
    assert!(
        text.contains(
            "speaks  [nav-frogn] SvarInn v1 (svarinn_api = \"v1\"; KS marks V1 deprecated"
        ),
        "{text}"
    );
    let v2 = check(&s.config(&[&key], &[&cert], "svarinn_api = \"v2\""), &s.env);
    assert_eq!(v2.apis, [("nav-frogn".to_owned(), SvarInnApi::V2)]);
    assert!(
        v2.to_string()
            .contains("speaks  [nav-frogn] SvarInn v2 (svarinn_api = \"v2\")\n"),
        "{v2}"
    );
    assert_eq!(v2.findings.len(), 0, "{v2}");
    // Nothing left behind by the probes.
    assert_eq!(fs::read_dir(s.p("drop/inn")).unwrap().count(), 0);
    assert_eq!(fs::read_dir(s.p("drop/.mottak")).unwrap().count(), 0);
    assert_eq!(fs::read_dir(s.p("state")).unwrap().count(), 0);
    // A second run creates nothing.
    let again = check(&cfg, &s.env);
    assert_eq!(again.findings, vec![], "{again}");
}

fn digisos_table(s: &Setup, key: &Path, chain: &Path) -> String {
    format!(
        r#"
[mottakersystem.digisos]
fiks_api_url = "https://api.fiks.test.ks.no"
fiks_org_id = "11415cd1-e26d-499a-8421-751457dfcbd5"
integrasjon_id = "0b9c8f5e-2f3a-4c55-9d1e-5d7f6a8b9c0d"
integrasjon_passord = "file:{ipw}"

[mottakersystem.digisos.maskinporten]
url = "https://test.maskinporten.no/token"
audience = "https://test.maskinporten.no/"
client_id = "c"
private_key = "{key}"
certificate_chain = "{chain}"
"#,
        ipw = s.p("ipw").display(),
        key = key.display(),
        chain = chain.display(),
    )
}

/// A setup with `[mottakersystem.digisos]` that passes: its config, the
/// SvarInn key and certificate, and the Maskinporten key and chain.
fn digisos_setup(s: &Setup) -> (PathBuf, (PathBuf, PathBuf), (PathBuf, PathBuf)) {
    s.write("pw", "s3cret\n", 0o600);
    s.write("ipw", "integrasjon\n", 0o600);
    let (key, cert) = s.keypair("nav-frogn-2026", 3650);
    let (mp_key, mp_cert) = s.keypair("virksomhet", 3650);
    let cfg = s.config(&[&key], &[&cert], &digisos_table(s, &mp_key, &mp_cert));
    (cfg, (key, cert), (mp_key, mp_cert))
}

#[test]
fn digisos_key_chain_password_and_folders_are_checked() {
    let s = Setup::new();
    let (cfg, (key, cert), (mp_key, _)) = digisos_setup(&s);
    let report = check(&cfg, &s.env);
    assert!(!report.has_errors(), "{report}");
    assert_eq!(report.count(Severity::Warning), 0, "{report}");
    // The claim probe left nothing behind.
    assert!(fs::read_dir(s.p("drop/ut")).unwrap().next().is_none());

    // Everything wrong at once: each is reported.
    fs::remove_file(s.p("ipw")).unwrap();
    let (_, other_cert) = s.keypair("someone-else", 3650);
    let cfg = s.config(&[&key], &[&cert], &digisos_table(&s, &mp_key, &other_cert));
    let errors = messages(&check(&cfg, &s.env), Severity::Error).join("\n");
    assert!(
        errors.contains("integration's password from Fiks"),
        "{errors}"
    );
    assert!(
        errors.contains("put the key's own certificate first"),
        "{errors}"
    );

    s.write("ipw", "integrasjon\n", 0o644);
    let (old_key, old_cert) = s.keypair("expired", -3);
    let cfg = s.config(&[&key], &[&cert], &digisos_table(&s, &old_key, &old_cert));
    let errors = messages(&check(&cfg, &s.env), Severity::Error).join("\n");
    assert!(errors.contains("chmod 600"), "{errors}");
    assert!(
        errors.contains("days ago") && errors.contains("Maskinporten refuses"),
        "{errors}"
    );

    s.write("ipw", "integrasjon\n", 0o600);
    let (soon_key, soon_cert) = s.keypair("soon", 10);
    fs::set_permissions(&soon_key, fs::Permissions::from_mode(0o644)).unwrap();
    let cfg = s.config(&[&key], &[&cert], &digisos_table(&s, &soon_key, &soon_cert));
    let errors = messages(&check(&cfg, &s.env), Severity::Error).join("\n");
    assert!(errors.contains("readable by group or others"), "{errors}");
    fs::set_permissions(&soon_key, fs::Permissions::from_mode(0o600)).unwrap();
    let report = check(&cfg, &s.env);
    let warnings = messages(&report, Severity::Warning).join("\n");
    assert!(warnings.contains("expires in"), "{report}");
    assert!(!report.has_errors(), "{report}");
}

#[test]
fn digisos_ut_sendt_and_ut_feilet_must_be_folders_the_agent_can_write() {
    let s = Setup::new();
    let (cfg, _, _) = digisos_setup(&s);
    assert!(!check(&cfg, &s.env).has_errors());
    // Sent updates could not be handed back: the receipt never arrives.
    fs::remove_dir(s.p("drop/ut-sendt")).unwrap();
    fs::write(s.p("drop/ut-sendt"), b"not a folder").unwrap();
    let errors = messages(&check(&cfg, &s.env), Severity::Error).join("\n");
    assert!(
        errors.contains("ut-sendt is a regular file, not a folder")
            && errors.contains("into ut-sendt/"),
        "{errors}"
    );
    // A link to a folder elsewhere is not one the agent uses: it never
    // follows links beneath the drop folder.
    fs::remove_dir(s.p("drop/ut-feilet")).unwrap();
    fs::create_dir(s.p("elsewhere")).unwrap();
    std::os::unix::fs::symlink(s.p("elsewhere"), s.p("drop/ut-feilet")).unwrap();
    let errors = messages(&check(&cfg, &s.env), Severity::Error).join("\n");
    assert!(errors.contains("ut-feilet is a symbolic link"), "{errors}");
    assert!(fs::read_dir(s.p("elsewhere")).unwrap().next().is_none());
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let mut s = Setup::new();
    s.write("pw", "s3cret", 0o644); // readable by others
    let (key, _) = s.keypair("a", 3650);
    fs::set_permissions(&key, fs::Permissions::from_mode(0o640)).unwrap();
    let (_, soon) = s.keypair("soon", 10);
    let (_, expired) = s.keypair("old", -5);
    let missing = s.p("keys/missing.pem");
    fs::remove_dir(s.p("log")).unwrap();
    fs::remove_dir(s.p("drop")).unwrap();
    let cfg = s.config(&[&key, &missing], &[&soon, &expired], "");
    s.env.now = OffsetDateTime::now_utc();
    let report = check(&cfg, &s.env);
    let errors = messages(&report, Severity::Error);
    let warnings = messages(&report, Severity::Warning);
    let has = |v: &[String], needle: &str| v.iter().any(|m| m.contains(needle));
    assert!(has(&errors, "password file:"), "{report}");
    assert!(
        has(&errors, "pw is readable by group or others (mode 0644)"),
        "{report}"
    );
    assert!(has(&errors, "private_keys[0]"), "{report}");
    assert!(has(&errors, "mode 0640"), "{report}");
    assert!(has(&errors, "private_keys[1]"), "{report}");
    assert!(has(&errors, "keygen"), "{report}");
    assert!(has(&errors, "expired 5 days ago"), "{report}");
    assert!(has(&errors, "log_dir"), "{report}");
    assert!(has(&errors, "drop_folder"), "{report}");
    assert!(has(&warnings, "expires in 9 days"), "{report}");
    assert!(report.has_errors());
    assert!(report.summary().contains("fix the errors"), "{report}");
    // Each error says what to do.
    let text = report.to_string();
    assert!(text.contains("chmod 600"), "{text}");
    assert!(text.contains("install -d"), "{text}");
    // The secret itself never appears.
    assert!(!text.contains("s3cret"), "{text}");
}

#[test]
fn a_certificate_without_its_key_is_an_error() {
    let s = Setup::new();
    s.write("pw", "s3cret", 0o600);
    let (key, _) = s.keypair("mine", 3650);
    let (_, other) = s.keypair("other", 3650);
    let report = check(&s.config(&[&key], &[&other], ""), &s.env);
    let errors = messages(&report, Severity::Error);
    assert_eq!(errors.len(), 1, "{report}");
    assert!(
        errors[0].contains("belongs to none of the private_keys"),
        "{report}"
    );
}

#[test]
fn a_config_that_does_not_parse_is_one_error_with_its_line() {
    let s = Setup::new();
    let cfg = s.write("agent.toml", "[agent]\nstate_dri = \"/x\"\n", 0o644);
    let report = check(&cfg, &s.env);
    assert_eq!(report.count(Severity::Error), 1, "{report}");
    let text = report.to_string();
    assert!(text.contains("agent.toml:2:1: key `state_dri`"), "{text}");
}

#[test]
fn credentials_and_root_are_explained() {
    let s = Setup::new();
    let (key, _) = s.keypair("k", 3650);
    let cfg = s.config(&[&key], &[], "");
    let text = fs::read_to_string(&cfg).unwrap().replace(
        &format!("file:{}", s.p("pw").display()),
        "credential:nav-frogn.passord",
    );
    fs::write(&cfg, text).unwrap();
    let mut env = s.env.clone();
    env.euid = Some(0);
    let report = check(&cfg, &env);
    assert!(!report.has_errors(), "{report}");
    let warnings = messages(&report, Severity::Warning);
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("LoadCredential=nav-frogn.passord")),
        "{report}"
    );
    assert!(
        messages(&report, Severity::Note)
            .iter()
            .any(|n| n.contains("as root")),
        "{report}"
    );

    // With the credentials folder given, the credential is read.
    let creds = s.p("creds");
    fs::create_dir(&creds).unwrap();
    s.write("creds/nav-frogn.passord", "pw", 0o400);
    env.credentials_dir = Some(creds);
    let report = check(&cfg, &env);
    assert!(
        !messages(&report, Severity::Warning)
            .iter()
            .any(|w| w.contains("LoadCredential")),
        "{report}"
    );
    assert!(!report.has_errors(), "{report}");
}

#[test]
fn a_journal_from_a_newer_agent_is_an_error() {
    let s = Setup::new();
    s.write("pw", "s3cret", 0o600);
    let (key, _) = s.keypair("k", 3650);
    let cfg = s.config(&[&key], &[], "");
    let conn = rusqlite::Connection::open(s.p("state/journal.sqlite")).unwrap();
    conn.pragma_update(None, "user_version", journal::SCHEMA_VERSION + 1)
        .unwrap();
    drop(conn);
    let report = check(&cfg, &s.env);
    let errors = messages(&report, Severity::Error);
    assert!(errors.iter().any(|e| e.contains("newer than")), "{report}");
}

fn fiks_io_table(s: &Setup, konto_key: &Path, mp_key: &Path, chain: &Path) -> String {
    format!(
        r#"ack = "on-delivery"

[mottakersystem.fiks_io]
amqp_url = "amqps://io.fiks.test.ks.no:5671"
api_url = "https://api.fiks.test.ks.no"
konto_id = "2f0c4a1e-7d3b-4c55-9a0e-6b1d2c3e4f50"
integrasjon_id = "0b9c8f5e-2f3a-4c55-9d1e-5d7f6a8b9c0d"
integrasjon_passord = "file:{ipw}"
private_keys = ["{konto_key}"]

[mottakersystem.fiks_io.maskinporten]
url = "https://test.maskinporten.no/token"
audience = "https://test.maskinporten.no/"
client_id = "c"
private_key = "{mp_key}"
certificate_chain = "{chain}"
"#,
        ipw = s.p("ipw").display(),
        konto_key = konto_key.display(),
        mp_key = mp_key.display(),
        chain = chain.display(),
    )
}

#[test]
fn fiks_io_gets_its_line_and_its_password_and_keys_are_checked() {
    let s = Setup::new();
    s.write("pw", "s3cret\n", 0o600);
    s.write("ipw", "integrasjon\n", 0o600);
    let (key, cert) = s.keypair("nav-frogn-2026", 3650);
    let (konto_key, _) = s.keypair("konto", 3650);
    let (mp_key, mp_cert) = s.keypair("virksomhet", 3650);
    let cfg = s.config(
        &[&key],
        &[&cert],
        &fiks_io_table(&s, &konto_key, &mp_key, &mp_cert),
    );
    let report = check(&cfg, &s.env);
    assert!(!report.has_errors(), "{report}");
    let text = report.to_string();
    assert!(
        text.contains("speaks  [nav-frogn] Fiks IO konto 2f0c4a1e-7d3b-4c55-9a0e-6b1d2c3e4f50 at amqps://io.fiks.test.ks.no:5671 as integration 0b9c8f5e-2f3a-4c55-9d1e-5d7f6a8b9c0d (receipts as soon as a message is in inn/: ack = \"on-delivery\")"),
        "{text}"
    );
    // A missing password and an open konto key are both reported.
    fs::remove_file(s.p("ipw")).unwrap();
    fs::set_permissions(&konto_key, fs::Permissions::from_mode(0o644)).unwrap();
    let errors = messages(&check(&cfg, &s.env), Severity::Error).join("\n");
    assert!(
        errors.contains("fiks_io.integrasjon_passord") && errors.contains("does not exist"),
        "{errors}"
    );
    assert!(
        errors.contains("fiks_io.private_keys[0]")
            && errors.contains("readable by group or others"),
        "{errors}"
    );
}
