//! `--config` goes before or after any subcommand (`mottak-agent access
//! grant --config /etc/mottak/agent.toml …` was "unexpected argument"): each
//! subcommand, on the real binary, with `--config` in every place a person
//! types it, succeeds or fails exactly as with `--config` where it was
//! accepted before. Commands that read no config refuse it the same way
//! wherever it is.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A world whose config names only folders inside `dir`; `broken` adds a
/// key the config refuses (so `run` stops before starting anything).
fn config(dir: &Path, broken: bool) -> PathBuf {
    let d = dir.display();
    let extra = if broken { "no_such_key = 1\n" } else { "" };
    let text = format!(
        r#"[agent]
state_dir = "{d}/state"
log_dir = "{d}/log"
console_socket = "{d}/console.sock"
{extra}
[[mottakersystem]]
name = "nav-frogn"
svarinn_url = "https://svarut.ks.no"
username = "u-nav-frogn"
password = "file:{d}/passord"
private_keys = ["{d}/key.pem"]
drop_folder = "{d}/drop"
"#
    );
    let path = dir.join("agent.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// What a run printed and how it ended, with the world's folder as `DIR`.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `argv`, where "CONFIG" is replaced by `--config <a fresh world's config>`.
fn run(argv: &[&str], broken: bool) -> Seen {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), broken);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mottak-agent"));
    for a in argv {
        if *a == "CONFIG" {
            cmd.arg("--config").arg(&cfg);
        } else {
            cmd.arg(a.replace("DIR", &dir.path().display().to_string()));
        }
    }
    let out = cmd
        .env_remove("CREDENTIALS_DIRECTORY")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let norm =
        |b: &[u8]| String::from_utf8_lossy(b).replace(&dir.path().display().to_string(), "DIR");
    Seen {
        code: out.status.code(),
        stdout: norm(&out.stdout),
        stderr: norm(&out.stderr),
    }
}

/// Runs `baseline` with CONFIG moved to every place a person may type an
/// option (before the subcommand, between words, at the end; never between
/// an option and its value) and checks each run sees what `baseline` sees.
fn same_everywhere(baseline: &[&str], broken: bool, want_success: bool) -> Seen {
    let expected = run(baseline, broken);
    assert_eq!(
        expected.code == Some(0),
        want_success,
        "{baseline:?}: {expected:?}"
    );
    let words: Vec<&str> = baseline
        .iter()
        .copied()
        .filter(|a| *a != "CONFIG")
        .collect();
    let takes_value = |w: &str| w.starts_with("--") && w != "--all";
    for at in 0..=words.len() {
        if at > 0 && takes_value(words[at - 1]) {
            continue;
        }
        let mut argv = words.clone();
        argv.insert(at, "CONFIG");
        let seen = run(&argv, broken);
        assert_eq!(seen, expected, "{argv:?} differs from {baseline:?}");
    }
    expected
}

#[test]
fn check_config_and_run_take_config_on_either_side() {
    // check-config finds the missing key and password: exit 1, every place.
    let seen = same_everywhere(&["check-config", "CONFIG"], false, false);
    assert!(seen.stdout.contains("DIR/key.pem"), "{seen:?}");
    // run stops at a config key it does not know, every place.
    let seen = same_everywhere(&["run", "CONFIG"], true, false);
    assert!(seen.stderr.contains("no_such_key"), "{seen:?}");
}

#[test]
fn every_access_action_takes_config_anywhere() {
    let seen = same_everywhere(&["access", "CONFIG", "list"], false, true);
    assert!(seen.stdout.contains("no grants"), "{seen:?}");
    // The issue's own example: --config right after `grant`.
    let seen = run(
        &[
            "access", "grant", "CONFIG", "--user", "kari", "--role", "admin", "--all",
        ],
        false,
    );
    assert_eq!(seen.code, Some(0), "{seen:?}");
    assert!(
        seen.stdout.contains("granted user kari: admin over *"),
        "{seen:?}"
    );
    same_everywhere(
        &[
            "access", "CONFIG", "grant", "--user", "kari", "--role", "admin", "--all",
        ],
        false,
        true,
    );
    same_everywhere(
        &[
            "access",
            "CONFIG",
            "revoke",
            "--group",
            "drift",
            "--role",
            "viewer",
            "--system",
            "nav-frogn",
        ],
        false,
        true,
    );
    same_everywhere(
        &[
            "access",
            "CONFIG",
            "add-member",
            "--user",
            "kari",
            "--group",
            "drift",
        ],
        false,
        true,
    );
    same_everywhere(
        &[
            "access",
            "CONFIG",
            "remove-member",
            "--user",
            "kari",
            "--group",
            "drift",
        ],
        false,
        true,
    );
    // Failures fail the same way too.
    let seen = same_everywhere(
        &[
            "access", "CONFIG", "grant", "--user", "kari", "--role", "admin", "--system",
            "nav-oslo",
        ],
        false,
        false,
    );
    assert!(
        seen.stderr.contains("no mottakersystem \"nav-oslo\""),
        "{seen:?}"
    );
    let seen = same_everywhere(&["access", "CONFIG", "list"], true, false);
    assert!(seen.stderr.contains("no_such_key"), "{seen:?}");
}

#[test]
fn commands_without_a_config_refuse_it_wherever_it_is() {
    let seen = same_everywhere(
        &[
            "decrypt",
            "CONFIG",
            "--key",
            "DIR/k.pem",
            "--in",
            "DIR/in",
            "--out",
            "DIR/out",
        ],
        false,
        false,
    );
    assert!(
        seen.stderr.contains("decrypt reads no config file"),
        "{seen:?}"
    );
    let seen = same_everywhere(
        &["keygen", "CONFIG", "--name", "x", "--out", "DIR/keys"],
        false,
        false,
    );
    assert!(
        seen.stderr.contains("keygen reads no config file"),
        "{seen:?}"
    );
}

/// Each help page, on the real binary, lists `--config` once, with the
/// sentence that says where it goes and who reads it.
#[test]
fn every_help_page_lists_config_once() {
    for argv in [
        &["--help"][..],
        &["run", "--help"],
        &["check-config", "--help"],
        &["access", "--help"],
        &["access", "grant", "--help"],
        &["access", "add-member", "--help"],
        &["access", "list", "--help"],
        &["decrypt", "--help"],
        &["keygen", "--help"],
    ] {
        let seen = run(argv, false);
        assert_eq!(seen.code, Some(0), "{argv:?}: {seen:?}");
        let listed = seen
            .stdout
            .lines()
            .filter(|l| l.trim_start().starts_with("--config <FILE>"))
            .count();
        assert_eq!(listed, 1, "{argv:?}:\n{}", seen.stdout);
        assert!(
            seen.stdout.contains(
                "Read by run, check-config, doctor and access; accepted before or after the subcommand"
            ),
            "{argv:?}:\n{}",
            seen.stdout
        );
    }
    // A subcommand's own options are still there, after the global one.
    let grant = run(&["access", "grant", "--help"], false).stdout;
    for want in ["--user <USER>", "--group <GROUP>", "--role <ROLE>", "--all"] {
        assert!(grant.contains(want), "{want} in\n{grant}");
    }
}
