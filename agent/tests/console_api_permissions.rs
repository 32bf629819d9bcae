//! The permission matrix, on the real agent: every command × every role ×
//! in and out of scope. The caller (root, by its peer credentials) holds
//! one role over `ms-a` only; `ms-b` is out of scope. An allowed command
//! may still fail for other reasons (the forsendelse does not exist), but
//! never with `forbidden`; a refused one is `forbidden` and changes nothing.
//! Every command, refused or not, leaves exactly one audit line.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod console_api_support;

use console_api_support::{Env, Options};
use mottak_protocol::console::{
    Command, ErrorCode, Outcome, Principal, Role, Scope, ServerMessage, Target,
};

const IN: &str = "ms-a";
const OUT: &str = "ms-b";
const MISSING: &str = "00000000-0000-4000-8000-000000000000";

/// Every command, aimed at `sys` (for member changes: the group that holds
/// a role over `sys`).
fn commands(sys: &str) -> Vec<Command> {
    let m = || sys.to_owned();
    vec![
        Command::Retry {
            mottakersystem: m(),
            target: Target::Forsendelse(MISSING.into()),
        },
        Command::MoveToInn {
            mottakersystem: m(),
            forsendelse: MISSING.into(),
        },
        Command::MarkPermanent {
            mottakersystem: m(),
            target: Target::Forsendelse(MISSING.into()),
            reason: "sendt i posten".into(),
        },
        Command::Pause {
            mottakersystem: m(),
            reason: Some("test".into()),
        },
        Command::Resume {
            mottakersystem: m(),
        },
        Command::PollNow {
            mottakersystem: m(),
        },
        Command::Grant {
            principal: Principal::User("someone".into()),
            role: Role::Viewer,
            scope: Scope::Mottakersystem(m()),
        },
        Command::Revoke {
            principal: Principal::User("someone".into()),
            role: Role::Viewer,
            scope: Scope::Mottakersystem(m()),
        },
        Command::AddMember {
            user: "someone".into(),
            group: format!("grp-{sys}"),
        },
        Command::RemoveMember {
            user: "someone".into(),
            group: format!("grp-{sys}"),
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_every_role_in_and_out_of_scope() {
    let env = Env::new(Options {
        systems: vec![IN, OUT],
        ..Options::default()
    })
    .await;
    // Groups holding a role over each system, so member changes have a scope.
    env.access(&[
        "grant", "--group", "grp-ms-a", "--role", "viewer", "--system", IN,
    ]);
    env.access(&[
        "grant", "--group", "grp-ms-b", "--role", "viewer", "--system", OUT,
    ]);
    let mut agent = env.spawn_agent().await;

    let mut sent = 0usize;
    let mut previous: Option<Role> = None;
    for role in Role::ALL {
        env.access(&[
            "grant",
            "--user",
            "root",
            "--role",
            role.as_str(),
            "--system",
            IN,
        ]);
        if let Some(p) = previous {
            env.access(&[
                "revoke",
                "--user",
                "root",
                "--role",
                p.as_str(),
                "--system",
                IN,
            ]);
        }
        previous = Some(role);

        let mut c = env.console().await;
        match c.hello().await {
            ServerMessage::Welcome { permissions, .. } => {
                assert_eq!(permissions.len(), 1, "{role}: {permissions:?}");
                assert_eq!(permissions[0].mottakersystem, IN);
                assert_eq!(permissions[0].role, role);
                assert_eq!(permissions[0].permissions, role.permissions());
            }
            other => panic!("{role}: {other:?}"),
        }
        for (scope, sys) in [("in", IN), ("out", OUT)] {
            for command in commands(sys) {
                let name = command.name();
                let may = scope == "in" && role.allows(command.permission());
                let id = format!("{role}-{scope}-{name}");
                let outcome = c.command(&id, command.clone()).await;
                sent += 1;
                let forbidden = matches!(
                    outcome,
                    Outcome::Error {
                        code: ErrorCode::Forbidden,
                        ..
                    }
                );
                assert_eq!(
                    !forbidden, may,
                    "{role} {name} {scope} of scope: {outcome:?}"
                );
                if let Outcome::Error {
                    code: ErrorCode::Forbidden,
                    message,
                } = &outcome
                {
                    assert!(message.contains("root"), "{message}");
                    assert!(message.contains("ask an admin"), "{message}");
                }
            }
        }
        // A grant over all mottakersystemer needs admin over all: nobody here.
        let outcome = c
            .command(
                &format!("{role}-all-grant"),
                Command::Grant {
                    principal: Principal::User("someone".into()),
                    role: Role::Viewer,
                    scope: Scope::All,
                },
            )
            .await;
        sent += 1;
        assert!(
            matches!(
                outcome,
                Outcome::Error {
                    code: ErrorCode::Forbidden,
                    ..
                }
            ),
            "{role}: {outcome:?}"
        );
    }

    // One audit line per command, refusals included, with who, what, the
    // command id and the outcome.
    let audit: Vec<_> = env
        .journal()
        .audit_tail(10_000)
        .unwrap()
        .into_iter()
        .filter(|a| a.note.command_id.is_some())
        .collect();
    assert_eq!(audit.len(), sent, "one line per command");
    for a in &audit {
        assert_eq!(a.note.who, "root");
        assert_eq!(a.note.via, "local_socket");
        let id = a.note.command_id.as_deref().unwrap();
        assert!(id.ends_with(&a.note.action), "{id} vs {}", a.note.action);
        let refused = a.note.outcome.starts_with("forbidden");
        let out_of_scope = id.contains("-out-") || id.contains("-all-");
        if out_of_scope || id.starts_with("viewer-") {
            assert!(refused, "{id}: {}", a.note.outcome);
        }
    }
    // The refused grant over * changed nothing; `someone` holds nothing.
    let grants = env.journal().grants().unwrap();
    assert!(
        grants
            .iter()
            .all(|g| g.principal != Principal::User("someone".into())),
        "{grants:?}"
    );
    agent.assert_running();
}

/// A command id is remembered: the same id again returns the first outcome
/// and does nothing again (one audit line); another user's id space is its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_are_idempotent_by_id() {
    let env = Env::new(Options::default()).await;
    env.access(&["grant", "--user", "root", "--role", "admin", "--all"]);
    let mut agent = env.spawn_agent().await;
    let mut c = env.console().await;
    c.hello().await;
    let pause = Command::Pause {
        mottakersystem: IN.into(),
        reason: Some("vedlikehold".into()),
    };
    let first = c.command("pause-1", pause.clone()).await;
    assert!(first.is_ok(), "{first:?}");
    // Resume under another id, then the first id again: not paused again.
    let resumed = c
        .command(
            "resume-1",
            Command::Resume {
                mottakersystem: IN.into(),
            },
        )
        .await;
    assert!(resumed.is_ok(), "{resumed:?}");
    let again = c.command("pause-1", pause).await;
    assert_eq!(again, first, "the stored outcome");
    assert!(
        env.journal().paused().unwrap().is_empty(),
        "not paused again"
    );
    let lines = env
        .journal()
        .audit_tail(100)
        .unwrap()
        .into_iter()
        .filter(|a| a.note.command_id.as_deref() == Some("pause-1"))
        .count();
    assert_eq!(lines, 1);
    agent.assert_running();
}
