//! `mottak`'s connection and display options go before or after `status`
//! and `check`: on the real binary, each placement ends exactly as the one
//! before the subcommand (here: no agent on the socket, so a clear failure;
//! `check` says UNKNOWN with exit 3).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

const MOTTAK: &str = env!("CARGO_BIN_EXE_mottak");

fn run(argv: &[String]) -> (Option<i32>, String, String) {
    let out = Command::new(MOTTAK)
        .args(argv)
        .env_remove("MOTTAK_SOCKET")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn options_work_before_and_after_status_and_check() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("none.sock").display().to_string();
    let file = |n: &str| dir.path().join(n).display().to_string();
    let option_sets: Vec<Vec<String>> = vec![
        vec![
            "--socket".into(),
            socket.clone(),
            "--lang".into(),
            "en".into(),
        ],
        vec![
            "--socket".into(),
            socket,
            "--lang".into(),
            "nb".into(),
            "--theme".into(),
            "high-contrast".into(),
        ],
        vec![
            "--url".into(),
            "wss://127.0.0.1:1".into(),
            "--cert".into(),
            file("me.crt"),
            "--key".into(),
            file("me.key"),
            "--ca".into(),
            file("ca.crt"),
        ],
    ];
    for sub in [
        vec!["status", "--timeout", "2"],
        vec!["check", "--timeout", "2"],
    ] {
        for options in &option_sets {
            let sub: Vec<String> = sub.iter().map(|s| (*s).to_owned()).collect();
            let before: Vec<String> = options.iter().cloned().chain(sub.clone()).collect();
            let after: Vec<String> = sub.iter().cloned().chain(options.iter().cloned()).collect();
            let expected = run(&before);
            assert_ne!(expected.0, Some(0), "no agent answers: {expected:?}");
            if sub[0] == "check" {
                assert_eq!(expected.0, Some(3), "{expected:?}");
                assert!(expected.1.starts_with("MOTTAK UNKNOWN"), "{expected:?}");
            }
            assert!(
                !expected.2.contains("unexpected argument"),
                "{before:?}: {expected:?}"
            );
            assert_eq!(run(&after), expected, "{after:?} differs from {before:?}");
        }
    }
}

/// Each help page, on the real binary, lists every connection and display
/// option once; the console-only `--mouse` stays on the main page.
#[test]
fn help_pages_list_the_global_options_once() {
    let options = [
        "--socket <SOCKET>",
        "--url <URL>",
        "--cert <CERT>",
        "--key <KEY>",
        "--ca <CA>",
        "--lang <LANG>",
        "--theme <THEME>",
    ];
    for argv in [&["--help"][..], &["status", "--help"], &["check", "--help"]] {
        let argv: Vec<String> = argv.iter().map(|a| (*a).to_owned()).collect();
        let (code, help, stderr) = run(&argv);
        assert_eq!(code, Some(0), "{argv:?}: {stderr}");
        for option in options {
            let listed = help
                .lines()
                .filter(|l| l.trim_start().starts_with(option))
                .count();
            assert_eq!(listed, 1, "{option} in {argv:?}:\n{help}");
        }
        assert_eq!(
            help.contains("--mouse"),
            argv.len() == 1,
            "{argv:?}:\n{help}"
        );
    }
}
