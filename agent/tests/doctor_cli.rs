//! `mottak-agent doctor --help`, on the real binary: it says it is read-only,
//! names every check and where the console shows the result, and documents its exit codes and `--json`. A config that
//! does not parse exits 1 (nothing online is tried).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

fn agent() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mottak-agent"))
}

#[test]
fn help_says_read_only_and_documents_exit_codes_and_json() {
    let out = agent().args(["doctor", "--help"]).output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for want in [
        "Read-only",
        "never acknowledges, reports, uploads or posts",
        "DNS (every address)",
        "TLS-inspecting proxy",
        "SvarInn credentials",
        "Maskinporten",
        "Fiks Digisos",
        "privilege",
        "Fiks IO when configured",
        "the drop folder",
        "the result and the fix",
        "Integrations view",
        "Exit codes: 0 all passed; 1 the config cannot be read; 2 check-config found errors; 3 an online check failed",
        "--json",
        "--connect-timeout",
        "doctor-last.json",
    ] {
        assert!(help.contains(want), "{want:?} not in:\n{help}");
    }
    let top = agent().arg("--help").output().unwrap();
    let top = String::from_utf8(top.stdout).unwrap();
    assert!(top.contains("doctor"), "{top}");
}

#[test]
fn an_unparsable_config_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agent.toml");
    std::fs::write(&config, "no_such_key = 1\n").unwrap();
    let out = agent()
        .args(["doctor", "--json", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["exit_code"], 1);
    assert_eq!(json["offline"][0]["severity"], "error");
}
