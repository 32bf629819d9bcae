//! Console users and groups from the directory: the real agent runs under
//! nss_wrapper (Debian's `libnss-wrapper`), whose passwd and group files
//! stand in for SSSD or LDAP. The test process's own uid exists only there,
//! as `ola.nordmann@kommune.local`, in the group `nav-drift` that exists only
//! there; a grant to that group gives the role in `welcome`. A uid the
//! directory does not know is refused, naming the uid and what to check.
//!
//! Skipped, with the reason printed, when libnss_wrapper.so is not
//! installed (`.ci/run` installs it, so CI always runs these).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod console_api_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use console_api_support::{AGENT, Env, Options, output_text};
use mottak_agent::console_api::accounts::{self, Nss};
use mottak_protocol::console::{
    ErrorCode, Permission, Principal, Role, RoleGrant, Scope, ServerMessage, close_code,
};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const OLA: &str = "ola.nordmann@kommune.local";
const GROUP: &str = "nav-drift";

/// libnss_wrapper.so where Debian puts it (`dpkg -L libnss-wrapper`), on any architecture.
fn nss_wrapper() -> Option<PathBuf> {
    let mut dirs = vec![PathBuf::from("/usr/lib64"), PathBuf::from("/usr/lib")];
    if let Ok(entries) = std::fs::read_dir("/usr/lib") {
        dirs.extend(entries.flatten().map(|e| e.path()));
    }
    dirs.into_iter()
        .map(|d| d.join("libnss_wrapper.so"))
        .find(|p| p.is_file())
}

/// The environment that makes a process see `passwd` and `group` as its
/// name service (and nothing else).
fn wrapped(lib: &Path, dir: &Path, passwd: &str, group: &str) -> Vec<(String, String)> {
    let p = dir.join("nss-passwd");
    let g = dir.join("nss-group");
    std::fs::write(&p, passwd).unwrap();
    std::fs::write(&g, group).unwrap();
    vec![
        ("LD_PRELOAD".into(), lib.display().to_string()),
        ("NSS_WRAPPER_PASSWD".into(), p.display().to_string()),
        ("NSS_WRAPPER_GROUP".into(), g.display().to_string()),
    ]
}

fn my_uid() -> u32 {
    nix::unistd::getuid().as_raw()
}

/// The names are the directory's alone: this machine's own files (what the
/// agent read before) know neither.
fn assert_only_in_the_directory() {
    assert_ne!(
        accounts::lookup_peer(&Nss, my_uid()).map(|p| p.name).ok(),
        Some(OLA.to_owned())
    );
    assert_eq!(accounts::lookup_group(&Nss, GROUP).unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_user_gets_the_role_of_its_directory_group() {
    let Some(lib) = nss_wrapper() else {
        eprintln!(
            "SKIP console_api_directory: libnss_wrapper.so is not installed (apt-get install libnss-wrapper)"
        );
        return;
    };
    assert_only_in_the_directory();
    let uid = my_uid();
    let setup = tempfile::tempdir().unwrap();
    let env_vars = wrapped(
        &lib,
        setup.path(),
        &format!("{OLA}:x:{uid}:70000:Ola Nordmann:/home/ola:/bin/bash\n"),
        &format!("domain users@kommune.local:x:70000:\n{GROUP}:x:70001:{OLA}\n"),
    );
    let env = Env::new(Options {
        systems: vec!["ms-a", "ms-b"],
        env: env_vars.clone(),
        ..Options::default()
    })
    .await;

    // Outside the directory, `access` does not know the group: it keeps the
    // grant and says so.
    let out = Command::new(AGENT)
        .args(["access", "grant", "--group", GROUP, "--role", "operator"])
        .args(["--system", "ms-a", "--config"])
        .arg(&env.config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let said = output_text(&out);
    assert!(
        said.contains(&format!(
            "note: there is no group {GROUP} in the name service"
        )),
        "{said}"
    );
    // Inside it, the group is known: no note, and the audit names the
    // directory user who ran the command.
    let said = env.access(&["grant", "--group", GROUP, "--role", "viewer", "--all"]);
    assert!(!said.contains("note:"), "{said}");
    let audit = env.journal().audit_tail(10).unwrap();
    assert_eq!(audit.last().unwrap().note.who, OLA);

    let mut agent = env.spawn_agent().await;
    let mut c = env.console().await;
    match c.hello().await {
        ServerMessage::Welcome {
            user,
            roles,
            permissions,
            ..
        } => {
            assert_eq!(user, OLA);
            let group = Principal::Group(GROUP.into());
            assert_eq!(
                roles,
                vec![
                    RoleGrant {
                        principal: group.clone(),
                        role: Role::Viewer,
                        scope: Scope::All,
                    },
                    RoleGrant {
                        principal: group,
                        role: Role::Operator,
                        scope: Scope::Mottakersystem("ms-a".into()),
                    },
                ]
            );
            let by_system: Vec<(&str, Role)> = permissions
                .iter()
                .map(|p| (p.mottakersystem.as_str(), p.role))
                .collect();
            assert_eq!(
                by_system,
                [("ms-a", Role::Operator), ("ms-b", Role::Viewer)]
            );
            assert!(permissions[0].permissions.contains(&Permission::Retry));
        }
        other => panic!(
            "expected welcome for {OLA}, got {other:?}\n{}",
            agent.log_text()
        ),
    }
    // The state's coverage counts the directory group's members.
    let state = c.subscribe().await;
    let ms_a = state
        .access
        .coverage
        .iter()
        .find(|c| c.mottakersystem == "ms-a")
        .unwrap();
    assert_eq!(ms_a.can_act, [OLA]);
    agent.assert_running();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_uid_the_directory_does_not_know_is_refused_with_what_to_check() {
    let Some(lib) = nss_wrapper() else {
        eprintln!(
            "SKIP console_api_directory: libnss_wrapper.so is not installed (apt-get install libnss-wrapper)"
        );
        return;
    };
    let uid = my_uid();
    let setup = tempfile::tempdir().unwrap();
    let other = uid.wrapping_add(4242);
    let env = Env::new(Options {
        env: wrapped(
            &lib,
            setup.path(),
            &format!("kari:x:{other}:{other}::/home/kari:/bin/bash\n"),
            &format!("{GROUP}:x:70001:kari\n"),
        ),
        ..Options::default()
    })
    .await;
    env.access(&["grant", "--group", GROUP, "--role", "admin", "--all"]);
    let mut agent = env.spawn_agent().await;
    // Refused before any hello: the agent does not know whom it talks to.
    let mut c = env.console().await;
    match c.recv().await {
        Some(ServerMessage::Error { code, message, .. }) => {
            assert_eq!(code, ErrorCode::NoAccess);
            for want in [
                format!("uid {uid} is not known to the name service"),
                format!("getent passwd {uid}"),
                "/etc/nsswitch.conf".to_owned(),
                "sssd".to_owned(),
            ] {
                assert!(message.contains(&want), "{want:?} in {message}");
            }
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    match c.recv_frame().await {
        Some(Err(Message::Close(Some(frame)))) => {
            assert_eq!(frame.code, CloseCode::from(close_code::NO_ACCESS));
        }
        None => {}
        other => panic!("expected a close, got {other:?}"),
    }
    // The operator finds the same words in the agent's log.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !agent
        .log_text()
        .contains(&format!("uid {uid} is not known"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no refusal in the log:\n{}",
            agent.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(agent.log_text().contains("console refused"));
    agent.assert_running();
}
