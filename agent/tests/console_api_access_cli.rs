//! `mottak-agent access` as an operator runs it: grants, members, the list,
//! the "fewer than two people" warning, refusals, and the audit lines each
//! change leaves in the journal.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use mottak_agent::journal::{Journal, SystemClock};
use mottak_protocol::console::{Principal, Role, RoleGrant, Scope};

fn config(dir: &Path) -> std::path::PathBuf {
    let d = dir.display();
    let mut text = format!(
        "[agent]\nstate_dir = \"{d}/state\"\nlog_dir = \"{d}/log\"\nconsole_socket = \"{d}/console.sock\"\n"
    );
    for name in ["nav-frogn", "nav-as"] {
        text.push_str(&format!(
            r#"
[[mottakersystem]]
name = "{name}"
svarinn_url = "https://svarut.ks.no"
username = "u-{name}"
password = "file:{d}/passord"
private_keys = ["{d}/key.pem"]
drop_folder = "{d}/drop-{name}"
"#
        ));
    }
    let path = dir.join("agent.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn access(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mottak-agent"))
        .arg("access")
        .arg("--config")
        .arg(config)
        .args(args)
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

#[test]
fn bootstrap_the_first_admin_then_groups_and_members() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());

    let out = access(&cfg, &["list"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("no grants"), "{}", text(&out));
    assert!(text(&out).contains("nobody can act"), "{}", text(&out));

    let out = access(
        &cfg,
        &["grant", "--user", "root", "--role", "admin", "--all"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("granted user root: admin over *"),
        "{}",
        text(&out)
    );
    // One person only: warned for each mottakersystem.
    assert!(
        text(&out).contains("only root can act on failed imports of nav-frogn"),
        "{}",
        text(&out)
    );

    let out = access(
        &cfg,
        &["grant", "--user", "root", "--role", "admin", "--all"],
    );
    assert!(text(&out).contains("already granted"), "{}", text(&out));

    let out = access(
        &cfg,
        &[
            "grant",
            "--group",
            "drift",
            "--role",
            "operator",
            "--system",
            "nav-frogn",
            "--system",
            "nav-as",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = access(&cfg, &["add-member", "--user", "kari", "--group", "drift"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("added user kari in group drift"),
        "{}",
        text(&out)
    );
    // Two people now: no warning.
    assert!(!text(&out).contains("warning"), "{}", text(&out));

    let out = access(&cfg, &["list"]);
    let listed = text(&out);
    for want in [
        "user    root",
        "group   drift",
        "operator",
        "nav-as",
        "drift                    kari",
    ] {
        assert!(listed.contains(want), "{want:?} in\n{listed}");
    }

    let out = access(
        &cfg,
        &[
            "revoke", "--group", "drift", "--role", "operator", "--system", "nav-as",
        ],
    );
    assert!(
        text(&out).contains("revoked group drift: operator over nav-as"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("only root can act on failed imports of nav-as"),
        "{}",
        text(&out)
    );

    let journal = Journal::open_read_only(
        &dir.path().join("state/journal.sqlite"),
        Arc::new(SystemClock),
    )
    .unwrap();
    assert_eq!(
        journal.grants().unwrap(),
        vec![
            RoleGrant {
                principal: Principal::User("root".into()),
                role: Role::Admin,
                scope: Scope::All
            },
            RoleGrant {
                principal: Principal::Group("drift".into()),
                role: Role::Operator,
                scope: Scope::Mottakersystem("nav-frogn".into())
            },
        ]
    );
    let audit = journal.audit_tail(100).unwrap();
    let lines: Vec<(String, String, String)> = audit
        .iter()
        .map(|a| {
            (
                a.note.who.clone(),
                a.note.via.clone(),
                a.note.action.clone(),
            )
        })
        .collect();
    let root = || "root".to_owned();
    let cli = || "cli".to_owned();
    assert_eq!(
        lines,
        vec![
            (root(), cli(), "grant".to_owned()),
            (root(), cli(), "grant".to_owned()),
            (root(), cli(), "grant".to_owned()),
            (root(), cli(), "add_member".to_owned()),
            (root(), cli(), "revoke".to_owned()),
        ],
        "one line per change; the repeated grant changed nothing and left none"
    );
}

#[test]
fn bad_arguments_are_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let out = access(
        &cfg,
        &[
            "grant", "--user", "root", "--role", "admin", "--system", "nav-oslo",
        ],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("no mottakersystem \"nav-oslo\""),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("nav-frogn, nav-as"), "{}", text(&out));

    let out = access(
        &cfg,
        &["grant", "--user", "root", "--role", "root", "--all"],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("viewer, operator or admin"),
        "{}",
        text(&out)
    );

    let out = access(&cfg, &["grant", "--user", "root", "--role", "admin"]);
    assert!(!out.status.success(), "a scope is required: {}", text(&out));

    let out = access(&cfg, &["grant", "--user", "*", "--role", "admin", "--all"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("reserved"), "{}", text(&out));

    let out = access(
        &cfg,
        &["revoke", "--user", "nobody", "--role", "admin", "--all"],
    );
    assert!(out.status.success());
    assert!(text(&out).contains("no such grant"), "{}", text(&out));
}
