//! `mottak-agent keygen` and `check-config` as an operator runs them: the
//! real binary, its output and its exit code.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

fn agent(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mottak-agent"))
        .args(args)
        .env_remove("CREDENTIALS_DIRECTORY")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn config(dir: &Path, keys: &str, certs: &str) -> String {
    let d = dir.display();
    format!(
        r#"[agent]
state_dir = "{d}/state"
log_dir = "{d}/log"
console_socket = "{d}/state/console.sock"

[[mottakersystem]]
name = "nav-frogn"
svarinn_url = "https://test.svarut.ks.no"
username = "3c0f9a9e-1f7a-4e1e-9f0a-7c1d2b3a4e5f"
password = "file:{d}/passord"
private_keys = [{keys}]
certificates = [{certs}]
drop_folder = "{d}/drop"
"#
    )
}

#[test]
fn keygen_then_check_config_passes_and_a_broken_setup_fails() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for sub in ["state", "log", "drop", "keys"] {
        std::fs::create_dir(d.join(sub)).unwrap();
    }
    let keys = d.join("keys");
    let out = agent(&[
        "keygen",
        "--name",
        "nav-frogn-2026",
        "--out",
        keys.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("svarut.ks.no/mottaker"), "{said}");
    assert!(said.contains("\"Service\""), "{said}");
    assert!(said.contains("check-config"), "{said}");
    assert!(said.contains("svarinn_api = \"v2\""), "{said}");

    // Run again: refuses to overwrite.
    let again = agent(&[
        "keygen",
        "--name",
        "nav-frogn-2026",
        "--out",
        keys.to_str().unwrap(),
    ]);
    assert!(!again.status.success());
    assert!(
        text(&again).contains("refusing to overwrite"),
        "{}",
        text(&again)
    );

    std::fs::write(d.join("passord"), "s3cret\n").unwrap();
    std::fs::set_permissions(d.join("passord"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let key = format!("\"{}/nav-frogn-2026.pem\"", keys.display());
    let cert = format!("\"{}/nav-frogn-2026.crt\"", keys.display());
    let cfg = d.join("agent.toml");
    std::fs::write(&cfg, config(d, &key, &cert)).unwrap();

    let ok = agent(&["check-config", "--config", cfg.to_str().unwrap()]);
    let said = text(&ok);
    assert!(ok.status.success(), "{said}");
    assert!(said.contains("0 errors"), "{said}");
    assert!(said.contains("created .mottak/ inn/"), "{said}");

    // Break two things: both are reported, and the exit code says so.
    std::fs::set_permissions(d.join("passord"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::remove_dir(d.join("log")).unwrap();
    let bad = agent(&["check-config", "--config", cfg.to_str().unwrap()]);
    let said = text(&bad);
    assert_eq!(bad.status.code(), Some(1), "{said}");
    assert!(said.contains("2 errors"), "{said}");
    assert!(said.contains("readable by group or others"), "{said}");
    assert!(said.contains("log_dir"), "{said}");
    assert!(!said.contains("s3cret"), "{said}");
}

#[test]
fn check_config_names_the_line_of_an_unknown_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("agent.toml");
    std::fs::write(
        &cfg,
        "[agent]\nstate_dir = \"/x\"\npoll_intervall = \"5m\"\n",
    )
    .unwrap();
    let out = agent(&["check-config", "--config", cfg.to_str().unwrap()]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains(&format!(
            "{}:3:1: key `poll_intervall`: unknown field",
            cfg.display()
        )),
        "{said}"
    );
}
