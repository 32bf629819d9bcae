//! Console users and groups from the directory: the real agent runs under
//! nss_wrapper (Debian's `libnss-wrapper`), whose passwd and group files
//! stand in for SSSD or AD. The users and groups exist only there, named as
//! SSSD names AD's (`ola.nordmann@kommune.local`, `nav-drift@kommune.local`,
//! `domain users@kommune.local`); this machine's own files know none of them.
//!
//! Each console is a process of its own running as the directory user's uid
//! (the test binary again, as [`console_child`], after `setuid`), so the
//! agent learns who connects only from the socket's peer credentials and the
//! name service, as on a kommune's server:
//! - a uid in a granted directory group gets that group's roles, and its
//!   command is audited under its directory name;
//! - a uid the directory knows, in no granted group, is refused;
//! - a uid the directory does not know is refused, naming what to check.
//!
//! Skipped, with the reason printed, when libnss_wrapper.so is not installed
//! or the tests do not run as root (they must setuid); `.ci/run` installs it
//! and sets `MOTTAK_REQUIRE_NSS_WRAPPER=1`, which turns a skip into a failure.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod console_api_support;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use console_api_support::{AGENT, Console, Env, Options, output_text};
use futures_util::SinkExt;
use mottak_agent::console_api::accounts::{self, Nss};
use mottak_protocol::console::{
    ClientMessage, Command as ConsoleCommand, ErrorCode, Outcome, PROTOCOL_VERSION, Permission,
    Principal, Role, RoleGrant, Scope, ServerMessage, close_code,
};
use tokio_tungstenite::tungstenite::Message;

const OLA: &str = "ola.nordmann@kommune.local";
const OLA_UID: u32 = 70123;
const PER: &str = "per.hansen@kommune.local";
const PER_UID: u32 = 70124;
/// A uid nobody has: not in the directory, not in this machine's files.
const GONE_UID: u32 = 70999;
/// Ola's primary group: a name with a space, as AD's are.
const DOMAIN_USERS: &str = "domain users@kommune.local";
const DOMAIN_USERS_GID: u32 = 70000;
/// Per's primary group, granted nothing.
const EXTERNAL: &str = "eksterne@kommune.local";
const EXTERNAL_GID: u32 = 70002;
/// A supplementary group that lists Ola.
const GROUP: &str = "nav-drift@kommune.local";

/// The directory: root (a local account, as `files` gives it); Ola in the
/// domain's users (primary) and nav-drift (listed); Per only in his primary
/// group, which no grant names.
fn directory_passwd() -> String {
    format!(
        "root:x:0:0:root:/root:/bin/bash\n\
         {OLA}:x:{OLA_UID}:{DOMAIN_USERS_GID}:Ola Nordmann:/home/{OLA}:/bin/bash\n\
         {PER}:x:{PER_UID}:{EXTERNAL_GID}:Per Hansen:/home/{PER}:/bin/bash\n"
    )
}

fn directory_group() -> String {
    format!(
        "root:x:0:\n\
         {DOMAIN_USERS}:x:{DOMAIN_USERS_GID}:\n\
         {GROUP}:x:70001:{OLA}\n\
         {EXTERNAL}:x:{EXTERNAL_GID}:\n"
    )
}

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

/// nss_wrapper, when this run can use it (installed, and root to setuid).
fn usable_nss_wrapper() -> Option<PathBuf> {
    let why = match nss_wrapper() {
        None => "libnss_wrapper.so is not installed (apt-get install libnss-wrapper)",
        Some(_) if !nix::unistd::geteuid().is_root() => {
            "the consoles run as directory uids, which needs root (setuid)"
        }
        Some(lib) => return Some(lib),
    };
    assert!(
        std::env::var_os("MOTTAK_REQUIRE_NSS_WRAPPER").is_none(),
        "console_api_directory cannot run, and MOTTAK_REQUIRE_NSS_WRAPPER is set: {why}"
    );
    eprintln!("SKIP console_api_directory: {why}");
    None
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

/// The names are the directory's alone: this machine's own files (what the
/// agent once read by hand) know none of them.
fn assert_only_in_the_directory() {
    for uid in [OLA_UID, PER_UID, GONE_UID] {
        assert!(
            matches!(
                accounts::lookup_peer(&Nss, uid),
                Err(accounts::LookupError::UnknownUid { .. })
            ),
            "uid {uid} is known outside the directory"
        );
    }
    for group in [GROUP, DOMAIN_USERS, EXTERNAL] {
        assert_eq!(accounts::lookup_group(&Nss, group).unwrap(), None);
    }
}

/// The environment variable that turns [`console_child`] into a console:
/// `<socket path>\t<command as JSON, or ->`.
const CHILD_ENV: &str = "MOTTAK_TEST_DIRECTORY_CONSOLE";
/// What [`console_child`] prints before each thing it saw.
const CHILD_SAYS: &str = "CONSOLE-CHILD ";

/// What a console running as another uid saw, in order.
// Unboxed so the tests can match on the message; a few per test.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Seen {
    Message(ServerMessage),
    Closed(Option<u16>),
}

/// Runs this test binary as `uid` (with `gid`) as a console on `socket`:
/// it says hello, sends `command` once welcomed, and reports what came back
/// until the result or the close.
fn console_as(uid: u32, gid: u32, socket: &Path, command: Option<&ClientMessage>) -> Vec<Seen> {
    // The other uid must reach the socket: the temporary folder is 0700 and
    // the socket 0660 (its group mottak-ops does not exist here).
    let dir = socket.parent().unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711)).unwrap();
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let command = command.map_or_else(|| "-".to_owned(), |c| serde_json::to_string(c).unwrap());
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "console_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, format!("{}\t{command}", socket.display()))
        .uid(uid)
        .gid(gid)
        .output()
        .unwrap();
    let text = output_text(&out);
    assert!(
        out.status.success(),
        "the console as uid {uid} failed:\n{text}"
    );
    let seen: Vec<Seen> = text
        .lines()
        .filter_map(|l| l.split_once(CHILD_SAYS).map(|(_, said)| said))
        .map(|said| match said.strip_prefix("closed ") {
            Some(code) => Seen::Closed(code.parse().ok()),
            None => Seen::Message(serde_json::from_str(said).unwrap()),
        })
        .collect();
    assert!(
        !seen.is_empty(),
        "the console as uid {uid} saw nothing:\n{text}"
    );
    seen
}

/// The console side of [`console_as`]; does nothing unless [`CHILD_ENV`] is set.
#[tokio::test]
async fn console_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (socket, command) = spec.split_once('\t').unwrap();
    let mut command: Option<ClientMessage> =
        (command != "-").then(|| serde_json::from_str(command).unwrap());
    let say = |what: String| println!("\n{CHILD_SAYS}{what}");
    let mut c = Console::connect(Path::new(socket)).await;
    // An unknown uid is refused before hello: the agent may have closed
    // already, so a failed send is not an error; the refusal is read below.
    let hello = ClientMessage::Hello {
        protocol: PROTOCOL_VERSION,
        client: Some("console_api_directory".into()),
    };
    let _ =
        c.ws.send(Message::text(serde_json::to_string(&hello).unwrap()))
            .await;
    loop {
        match c.recv_frame().await {
            Some(Ok(m)) => {
                say(serde_json::to_string(&m).unwrap());
                match m {
                    ServerMessage::Welcome { .. } => match command.take() {
                        Some(cmd) => c.send(&cmd).await,
                        None => return,
                    },
                    ServerMessage::Result { .. } => return,
                    _ => {}
                }
            }
            Some(Err(Message::Close(frame))) => {
                let code = frame.map_or_else(|| "-".to_owned(), |f| u16::from(f.code).to_string());
                return say(format!("closed {code}"));
            }
            Some(Err(other)) => panic!("unexpected frame {other:?}"),
            None => return say("closed -".into()),
        }
    }
}

/// The refusal a console saw: the error's message, and the close code.
fn refusal(seen: &[Seen]) -> String {
    match seen {
        [
            Seen::Message(ServerMessage::Error { code, message, .. }),
            Seen::Closed(close),
        ] => {
            assert_eq!(*code, ErrorCode::NoAccess, "{message}");
            assert!(
                matches!(close, None | Some(close_code::NO_ACCESS)),
                "{close:?}"
            );
            message.clone()
        }
        other => panic!("expected a refusal and a close, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_users_get_the_roles_of_their_directory_groups_or_are_refused() {
    let Some(lib) = usable_nss_wrapper() else {
        return;
    };
    assert_only_in_the_directory();
    let setup = tempfile::tempdir().unwrap();
    let env = Env::new(Options {
        systems: vec!["ms-a", "ms-b"],
        env: wrapped(&lib, setup.path(), &directory_passwd(), &directory_group()),
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
    // Inside it, the group is known (getgrnam through NSS): no note.
    let said = env.access(&["grant", "--group", GROUP, "--role", "viewer", "--all"]);
    assert!(!said.contains("note:"), "{said}");
    // A primary group, with a space in its name, counts too (getgrouplist).
    let said = env.access(&[
        "grant",
        "--group",
        DOMAIN_USERS,
        "--role",
        "viewer",
        "--system",
        "ms-b",
    ]);
    assert!(!said.contains("note:"), "{said}");
    // The list names the directory group as granted, and Ola (its listed
    // member) as the one who can act on ms-a.
    let listed = env.access(&["list"]);
    for want in [
        format!("group   {GROUP:<24} operator  ms-a"),
        format!("group   {GROUP:<24} viewer    *"),
        format!("group   {DOMAIN_USERS:<24} viewer    ms-b"),
        format!("only {OLA}"),
    ] {
        assert!(listed.contains(&want), "{want:?} in\n{listed}");
    }

    // Root (a local account) administers, as on a real server.
    env.access(&["grant", "--user", "root", "--role", "admin", "--all"]);

    let mut agent = env.spawn_agent().await;

    // Ola: welcomed by his directory name, with his directory group's roles.
    let pause = ClientMessage::Command {
        id: "dir-pause-1".into(),
        command: ConsoleCommand::Pause {
            mottakersystem: "ms-a".into(),
            reason: Some("directory test".into()),
        },
    };
    let seen = console_as(OLA_UID, DOMAIN_USERS_GID, &env.socket, Some(&pause));
    let group = Principal::Group(GROUP.into());
    match &seen[..] {
        [
            Seen::Message(ServerMessage::Welcome {
                user,
                roles,
                permissions,
                ..
            }),
            Seen::Message(ServerMessage::Result { id, outcome }),
        ] => {
            assert_eq!(user, OLA);
            let mut roles = roles.clone();
            roles.sort();
            let mut want = vec![
                RoleGrant {
                    principal: group.clone(),
                    role: Role::Viewer,
                    scope: Scope::All,
                },
                RoleGrant {
                    principal: group.clone(),
                    role: Role::Operator,
                    scope: Scope::Mottakersystem("ms-a".into()),
                },
                RoleGrant {
                    principal: Principal::Group(DOMAIN_USERS.into()),
                    role: Role::Viewer,
                    scope: Scope::Mottakersystem("ms-b".into()),
                },
            ];
            want.sort();
            assert_eq!(roles, want);
            let by_system: Vec<(&str, Role)> = permissions
                .iter()
                .map(|p| (p.mottakersystem.as_str(), p.role))
                .collect();
            assert_eq!(
                by_system,
                [("ms-a", Role::Operator), ("ms-b", Role::Viewer)]
            );
            assert!(permissions[0].permissions.contains(&Permission::Pause));
            assert_eq!(id, "dir-pause-1");
            assert!(matches!(outcome, Outcome::Ok { .. }), "{outcome:?}");
        }
        other => panic!(
            "expected welcome and a result for {OLA}, got {other:?}\n{}",
            agent.log_text()
        ),
    }
    // The audit log names him as the directory does.
    let audit = env.journal().audit_tail(10).unwrap();
    let last = &audit.last().unwrap().note;
    assert_eq!(
        (
            last.who.as_str(),
            last.via.as_str(),
            last.action.as_str(),
            last.outcome.starts_with("ok")
        ),
        (OLA, "local_socket", "pause", true),
        "{audit:?}"
    );
    // The grants above were made by root, named through the same service.
    assert!(
        audit
            .iter()
            .filter(|a| a.note.via == "cli")
            .all(|a| a.note.who == "root"),
        "{audit:?}"
    );

    // Per is in the directory, but in no granted group: refused by name.
    let message = refusal(&console_as(PER_UID, EXTERNAL_GID, &env.socket, None));
    assert!(message.contains(&format!("{PER} has no role")), "{message}");

    // A uid the directory does not know: refused before hello, with what to check.
    let message = refusal(&console_as(GONE_UID, GONE_UID, &env.socket, None));
    for want in [
        format!("uid {GONE_UID} is not known to the name service"),
        format!("getent passwd {GONE_UID}"),
        "/etc/nsswitch.conf".to_owned(),
        "sssd".to_owned(),
    ] {
        assert!(message.contains(&want), "{want:?} in {message}");
    }
    // The operator finds the same words in the agent's log (in the next
    // summary line: Per's refusal just before was of the same kind).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !agent
        .log_text()
        .contains(&format!("uid {GONE_UID} is not known"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no refusal in the log:\n{}",
            agent.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(agent.log_text().contains("console refused"));

    // Root's console shows the same: Ola (through the directory group) can
    // act on ms-a, and the audit log names him.
    let mut c = env.console().await;
    match c.hello().await {
        ServerMessage::Welcome { user, .. } => assert_eq!(user, "root"),
        other => panic!("expected welcome for root, got {other:?}"),
    }
    let state = c.subscribe().await;
    let ms_a = state
        .access
        .coverage
        .iter()
        .find(|c| c.mottakersystem == "ms-a")
        .unwrap();
    assert_eq!(ms_a.can_act, [OLA, "root"]);
    assert!(
        state
            .audit
            .iter()
            .any(|a| a.who == OLA && a.action == "pause" && a.via == "local_socket"),
        "{:?}",
        state.audit
    );
    agent.assert_running();
}
