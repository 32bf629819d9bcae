//! Unit tests of the console protocol: wire shapes, masking, roles, diff and apply.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::*;
use serde_json::json;

fn round_trip_client(m: ClientMessage) {
    let text = serde_json::to_string(&m).unwrap();
    assert_eq!(ClientMessage::parse(&text).unwrap(), m, "{text}");
}

fn round_trip_server(m: ServerMessage) {
    let text = serde_json::to_string(&m).unwrap();
    let back: ServerMessage = serde_json::from_str(&text).unwrap();
    assert_eq!(back, m, "{text}");
}

fn all_commands() -> Vec<Command> {
    let sys = || "nav-frogn".to_owned();
    let id = || "6c5e2a8e-1111-4222-8333-944445555666".to_owned();
    vec![
        Command::Retry {
            mottakersystem: sys(),
            target: Target::Forsendelse(id()),
        },
        Command::Retry {
            mottakersystem: sys(),
            target: Target::Update("ut.1.0.x".into()),
        },
        Command::MoveToInn {
            mottakersystem: sys(),
            forsendelse: id(),
        },
        Command::MarkPermanent {
            mottakersystem: sys(),
            target: Target::Forsendelse(id()),
            reason: "sendt i posten".into(),
        },
        Command::MarkPermanent {
            mottakersystem: sys(),
            target: Target::Update("ut.1.0.x".into()),
            reason: "sendt i posten".into(),
        },
        Command::Pause {
            mottakersystem: sys(),
            reason: Some("fagsystemet oppgraderes".into()),
        },
        Command::Pause {
            mottakersystem: sys(),
            reason: None,
        },
        Command::Resume {
            mottakersystem: sys(),
        },
        Command::PollNow {
            mottakersystem: sys(),
        },
        Command::Grant {
            principal: Principal::User("kari".into()),
            role: Role::Operator,
            scope: Scope::Mottakersystem(sys()),
        },
        Command::Revoke {
            principal: Principal::Group("drift".into()),
            role: Role::Admin,
            scope: Scope::All,
        },
        Command::AddMember {
            user: "kari".into(),
            group: "drift".into(),
        },
        Command::RemoveMember {
            user: "kari".into(),
            group: "drift".into(),
        },
    ]
}

pub(super) fn sample_state() -> ConsoleState {
    let mut counts = BTreeMap::new();
    for s in ForsendelseState::ALL {
        counts.insert(s, 0);
    }
    counts.insert(ForsendelseState::Acked, 12);
    counts.insert(ForsendelseState::Failed, 1);
    let mut state = ConsoleState {
        agent: AgentInfo {
            version: "0.1.0".into(),
            hostname: "mottak01".into(),
            started_at: 1_700_000_000_000,
        },
        queues: vec![QueueHealth {
            mottakersystem: "nav-frogn".into(),
            counts,
            oldest_unacknowledged: Some(OldestUnacknowledged {
                id: "a".into(),
                state: ForsendelseState::Failed,
                since: 1_700_000_000_000,
                warning_at: 1_700_000_000_000 + UNACKED_WARNING_MS,
            }),
            throughput: Throughput {
                delivered_last_hour: 3,
                acked_last_hour: 2,
                delivered_buckets: vec![0; THROUGHPUT_BUCKETS],
                buckets_end: 1_700_000_300_000,
            },
            stale_in_inn: StaleInInn {
                threshold_ms: 3_600_000,
                count: 1,
                oldest: vec![InnFolder {
                    name: "b".into(),
                    since: 1_699_000_000_000,
                }],
            },
            paused: Some(PauseInfo {
                by: "kari".into(),
                at: 1_700_000_000_000,
                reason: Some("oppgradering".into()),
            }),
            duplicates: Duplicates {
                total: 1,
                latest: vec![DuplicateLink {
                    channel: "svarinn".into(),
                    id: "c".into(),
                    delivered_by: "fiks-io".into(),
                    delivered_as: "6f1c2d3e-0000-4000-8000-000000000000".into(),
                    digisos_id: "d3b07384-d9a0-4c4b-8b5a-2e1c2f9e9a11".into(),
                    at: 1_700_000_100_000,
                }],
            },
        }],
        failed: FailedImports {
            total: 1,
            items: vec![FailedImport {
                mottakersystem: "nav-frogn".into(),
                id: "a".into(),
                state: ForsendelseState::Failed,
                tittel: "Søknad fra 01019012480".into(),
                avsender: Some("NAV".into()),
                forsendelse_type: Some("nav.digisos".into()),
                sendt_at: Some(1_700_000_000_000),
                size: Some(1234),
                first_seen_at: 1_700_000_000_000,
                updated_at: 1_700_000_100_000,
                attempts: 0,
                content_failures: 3,
                last_error: Some("checksum mismatch".into()),
                reason: None,
                next_attempt_at: None,
                resume_state: None,
                reported_to_svarinn: true,
                history: vec![HistoryEntry {
                    at: 1_700_000_000_000,
                    action: "download".into(),
                    outcome: "content-failed".into(),
                    error: Some("checksum mismatch".into()),
                }],
            }],
        },
        integrations: vec![IntegrationStatus {
            mottakersystem: "nav-frogn".into(),
            svarinn: SvarInnLink {
                url: "https://svarut.ks.no".into(),
                api: crate::listed::SvarInnApi::V2,
                last_poll_at: Some(1),
                last_success_at: Some(1),
                last_error: None,
                latency_ms: Some(120),
                consecutive_failures: 0,
                resolved: vec!["10.0.0.1:443".into()],
            },
            certificates: vec![CertificateStatus {
                path: "/etc/mottak/keys/a.crt".into(),
                not_after: Some(1_800_000_000_000),
                days_left: Some(20),
                level: ExpiryLevel::ExpiresSoon,
                error: None,
            }],
            drop_folder: DropFolderStatus {
                path: "/srv/drop".into(),
                writable: true,
                error: None,
                free_bytes: Some(1 << 30),
                total_bytes: Some(1 << 34),
                min_free_bytes: None,
            },
            doctor: None,
            fiks_io: Some(FiksIoLink {
                amqp_url: "amqps://io.fiks.ks.no:5671".into(),
                konto_id: "4f1c2a77-0000-4000-8000-000000000001".into(),
                connected_since: Some(1),
                last_receipt_error: Some("receipt for 01017012343 refused".into()),
                ..FiksIoLink::default()
            }),
        }],
        alerts: vec![Alert {
            key: "failed/nav-frogn".into(),
            severity: Severity::Warning,
            mottakersystem: Some("nav-frogn".into()),
            about: None,
            title: "1 forsendelse needs a person".into(),
            detail: "Retry it or mark it permanent".into(),
            since: None,
        }],
        access: AccessList {
            grants: vec![RoleGrant {
                principal: Principal::User("kari".into()),
                role: Role::Admin,
                scope: Scope::All,
            }],
            members: vec![Membership {
                user: "kari".into(),
                group: "drift".into(),
                source: MembershipSource::AccessList,
            }],
            coverage: vec![Coverage {
                mottakersystem: "nav-frogn".into(),
                can_act: vec!["kari".into()],
                warning: Some("only kari can act on failed imports".into()),
            }],
        },
        audit: vec![AuditEntry {
            seq: 1,
            at: 1_700_000_000_000,
            who: "kari".into(),
            via: "cli".into(),
            action: "grant".into(),
            mottakersystem: None,
            target: Some("user kari: admin over *".into()),
            reason: None,
            outcome: "ok".into(),
            command_id: None,
        }],
        outbound: vec![OutboundStatus {
            mottakersystem: "nav-frogn".into(),
            counts: OutboundState::ALL.into_iter().map(|s| (s, 0)).collect(),
            queue: Vec::new(),
            failures: vec![OutboundItem {
                update_id: "ut.1700000000000.0.3fa85f64-5717-4562-b3fc-2c963f66afa6".into(),
                digisos_id: "3fa85f64-5717-4562-b3fc-2c963f66afa6".into(),
                state: OutboundState::Failed,
                claimed_at: 1_700_000_000_000,
                updated_at: 1_700_000_001_000,
                attempts: 0,
                next_attempt_at: None,
                last_error: Some("- digisos-soker.json is not valid JSON".into()),
                failed_folder: Some(
                    "3fa85f64-5717-4562-b3fc-2c963f66afa6-20231114T221320.000Z".into(),
                ),
                history: Vec::new(),
            }],
            last_sent_at: None,
            fiks: FiksLink {
                url: "https://api.fiks.test.ks.no".into(),
                fiks_org_id: "11415cd1-e26d-499a-8421-751457dfcbd5".into(),
                ..FiksLink::default()
            },
            maskinporten: MaskinportenLink {
                url: "https://test.maskinporten.no/token".into(),
                client_id: "c".into(),
                ..MaskinportenLink::default()
            },
            setup_error: None,
            unmoved: Vec::new(),
            ignored: vec![IgnoredEntry {
                name: "3fa85f64-5717-4562-b3fc-2c963f66afa7".into(),
                reason: "ut/3fa85f64-5717-4562-b3fc-2c963f66afa7 is a symbolic link".into(),
                since: 1_700_000_002_000,
            }],
        }],
        pipelines: vec![
            PipelineStatus {
                mottakersystem: "nav-frogn".into(),
                kind: "outbound".into(),
                up: false,
                setup_error: Some("cannot read integrasjon_passord".into()),
                setup_attempts: 3,
                paused: false,
            },
            PipelineStatus {
                mottakersystem: "nav-frogn".into(),
                kind: "inbound".into(),
                up: true,
                setup_error: None,
                setup_attempts: 0,
                paused: true,
            },
        ],
    };
    state.normalize();
    state
}

#[test]
fn pipelines_are_one_section_sorted_by_system_and_kind_and_optional_on_the_wire() {
    let old = sample_state();
    assert_eq!(old.pipelines[0].kind, "inbound");
    let mut new = old.clone();
    new.pipelines[1].up = true;
    new.pipelines[1].setup_error = None;
    let patches = diff(&old, &new);
    assert_eq!(
        patches,
        vec![Patch::Pipelines {
            pipelines: new.pipelines.clone()
        }]
    );
    let mut applied = old.clone();
    applied.apply_all(&patches);
    assert_eq!(applied, new);
    // A state from an agent without pipelines still parses.
    let mut v = serde_json::to_value(&old).unwrap();
    v.as_object_mut().unwrap().remove("pipelines");
    let parsed: ConsoleState = serde_json::from_value(v).unwrap();
    assert!(parsed.pipelines.is_empty());
    // A setup error is free text: masked.
    let mut with_fnr = old.clone();
    with_fnr.pipelines[0].setup_error = Some("no key for 01017012343".into());
    let text = serde_json::to_string(&with_fnr).unwrap();
    assert!(!text.contains("01017012343"), "{text}");
}

#[test]
fn duplicates_ride_in_their_queue_and_are_optional_on_the_wire() {
    let old = sample_state();
    let mut new = old.clone();
    new.queues[0].duplicates.total = 2;
    let mut later = new.queues[0].duplicates.latest[0].clone();
    later.id = "01017012343".into();
    new.queues[0].duplicates.latest.insert(0, later);
    let patches = diff(&old, &new);
    assert_eq!(patches, vec![Patch::Queue(new.queues[0].clone())]);
    let mut applied = old.clone();
    applied.apply_all(&patches);
    assert_eq!(applied, new);
    // An id from outside is masked on the wire.
    let text = serde_json::to_string(&new).unwrap();
    assert!(!text.contains("01017012343"), "{text}");
    // A queue from an agent without duplicates still parses.
    let mut v = serde_json::to_value(&old).unwrap();
    v["queues"][0].as_object_mut().unwrap().remove("duplicates");
    let parsed: ConsoleState = serde_json::from_value(v).unwrap();
    assert_eq!(parsed.queues[0].duplicates, Duplicates::default());
}

#[test]
fn outbound_status_diffs_applies_and_is_optional_on_the_wire() {
    let old = sample_state();
    let mut new = old.clone();
    new.outbound[0].counts.insert(OutboundState::Sent, 3);
    new.outbound[0].fiks.last_ok_at = Some(1_700_000_002_000);
    new.outbound.push(OutboundStatus {
        mottakersystem: "aaa".into(),
        ..OutboundStatus::default()
    });
    new.normalize();
    assert_eq!(new.outbound[0].mottakersystem, "aaa");
    let patches = diff(&old, &new);
    assert_eq!(patches.len(), 2, "{patches:?}");
    let mut applied = old.clone();
    applied.apply_all(&patches);
    assert_eq!(applied, new);
    let back = diff(&new, &old);
    assert!(
        back.iter()
            .any(|p| matches!(p, Patch::OutboundRemoved { .. }))
    );
    let mut applied = new.clone();
    applied.apply_all(&back);
    assert_eq!(applied, old);
    // A state from an agent without outbound still parses.
    let mut v = serde_json::to_value(&old).unwrap();
    v.as_object_mut().unwrap().remove("outbound");
    let parsed: ConsoleState = serde_json::from_value(v).unwrap();
    assert!(parsed.outbound.is_empty());
    // Free text is masked like everywhere else.
    let mut with_fnr = old.clone();
    with_fnr.outbound[0].failures[0].last_error = Some("fnr 01017012343 i filen".into());
    let text = serde_json::to_string(&with_fnr).unwrap();
    assert!(!text.contains("01017012343"), "{text}");
    // The patch round-trips.
    let p = Patch::Outbound(new.outbound[1].clone());
    let back: Patch = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
    assert_eq!(back, p);
}

#[test]
fn every_client_message_round_trips() {
    round_trip_client(ClientMessage::Hello {
        protocol: PROTOCOL_VERSION,
        client: Some("mottak 0.1.0".into()),
    });
    round_trip_client(ClientMessage::Hello {
        protocol: 7,
        client: None,
    });
    round_trip_client(ClientMessage::Subscribe);
    for (n, command) in all_commands().into_iter().enumerate() {
        round_trip_client(ClientMessage::Command {
            id: format!("c{n}"),
            command,
        });
    }
}

#[test]
fn every_server_message_round_trips() {
    round_trip_server(ServerMessage::Welcome {
        protocol: PROTOCOL_VERSION,
        agent_version: "0.1.0".into(),
        user: "kari".into(),
        transport: Transport::LocalSocket,
        roles: vec![RoleGrant {
            principal: Principal::Group("drift".into()),
            role: Role::Operator,
            scope: Scope::All,
        }],
        permissions: vec![SystemPermissions {
            mottakersystem: "nav-frogn".into(),
            role: Role::Operator,
            permissions: Role::Operator.permissions(),
        }],
    });
    let state = sample_state();
    // Text masks on the way out, so compare the masked form.
    let masked: ConsoleState =
        serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
    round_trip_server(ServerMessage::Snapshot {
        seq: 1,
        state: masked.clone(),
    });
    let mut other = masked.clone();
    other.queues[0].paused = None;
    other.failed.items.clear();
    other.failed.total = 0;
    round_trip_server(ServerMessage::Delta {
        seq: 2,
        patches: diff(&masked, &other),
    });
    round_trip_server(ServerMessage::Result {
        id: "c1".into(),
        outcome: Outcome::Ok {
            message: "retrying".into(),
        },
    });
    round_trip_server(ServerMessage::Result {
        id: "c2".into(),
        outcome: Outcome::error(ErrorCode::Forbidden, "no"),
    });
    round_trip_server(ServerMessage::Error {
        code: ErrorCode::BadMessage,
        message: "x".into(),
        id: None,
    });
}

#[test]
fn the_wire_looks_like_the_documentation() {
    let hello = json!({"type": "hello", "protocol": 1});
    assert_eq!(
        serde_json::from_value::<ClientMessage>(hello).unwrap(),
        ClientMessage::Hello {
            protocol: 1,
            client: None
        }
    );
    let cmd = json!({"type": "command", "id": "c1",
        "command": {"name": "mark_permanent", "mottakersystem": "a", "target": {"forsendelse": "f"}, "reason": "r"}});
    assert!(matches!(
        serde_json::from_value::<ClientMessage>(cmd).unwrap(),
        ClientMessage::Command {
            command: Command::MarkPermanent { target: Target::Forsendelse(f), .. },
            ..
        } if f == "f"
    ));
    let retry = json!({"type": "command", "id": "c3",
        "command": {"name": "retry", "mottakersystem": "a", "target": {"update": "ut.1.0.x"}}});
    assert!(matches!(
        serde_json::from_value::<ClientMessage>(retry).unwrap(),
        ClientMessage::Command {
            command: Command::Retry { target: Target::Update(u), .. },
            ..
        } if u == "ut.1.0.x"
    ));
    let grant = json!({"type": "command", "id": "c2", "command": {"name": "grant",
        "principal": {"group": "drift"}, "role": "operator", "scope": "*"}});
    assert!(matches!(
        serde_json::from_value::<ClientMessage>(grant).unwrap(),
        ClientMessage::Command {
            command: Command::Grant {
                scope: Scope::All,
                ..
            },
            ..
        }
    ));
    let ok = serde_json::to_value(ServerMessage::Result {
        id: "c1".into(),
        outcome: Outcome::Ok {
            message: "done".into(),
        },
    })
    .unwrap();
    assert_eq!(
        ok,
        json!({"type": "result", "id": "c1", "ok": {"message": "done"}})
    );
    let err = serde_json::to_value(ServerMessage::Result {
        id: "c1".into(),
        outcome: Outcome::error(ErrorCode::WrongState, "acked"),
    })
    .unwrap();
    assert_eq!(
        err,
        json!({"type": "result", "id": "c1", "error": {"code": "wrong_state", "message": "acked"}})
    );
    let patch = serde_json::to_value(Patch::FailedTotal { total: 3 }).unwrap();
    assert_eq!(patch, json!({"op": "failed_total", "total": 3}));
}

#[test]
fn unknown_or_malformed_messages_are_rejected_with_a_reason() {
    for bad in [
        r#"{"type": "shutdown"}"#,
        r#"{"type": "hello"}"#,
        r#"{"protocol": 1}"#,
        r#"{"type": "hello", "protocol": "one"}"#,
        r#"{"type": "hello", "protocol": 1, "extra": true}"#,
        r#"{"type": "command", "id": "c", "command": {"name": "format_disk"}}"#,
        r#"{"type": "command", "id": "c", "command": {"name": "retry", "mottakersystem": "a"}}"#,
        // Protocol 1's untyped target is refused, not guessed at.
        r#"{"type": "command", "id": "c", "command": {"name": "retry", "mottakersystem": "a", "forsendelse": "f"}}"#,
        r#"{"type": "command", "id": "c", "command": {"name": "retry", "mottakersystem": "a", "target": {"thing": "f"}}}"#,
        r#"{"type": "command", "id": "c", "command": {"name": "grant", "principal": {"robot": "x"}, "role": "admin", "scope": "*"}}"#,
        r#"{"type": "command", "id": "c", "command": {"name": "grant", "principal": {"user": "x"}, "role": "root", "scope": "*"}}"#,
        r#"{"type": "command", "id": "c", "command": {"name": "grant", "principal": {"user": "x"}, "role": "admin", "scope": ""}}"#,
        "not json",
        "",
        "[]",
        "\u{0}\u{1}",
    ] {
        let err = ClientMessage::parse(bad).unwrap_err();
        assert!(err.contains("not a message"), "{bad}: {err}");
    }
}

#[test]
fn an_error_reply_never_echoes_a_fodselsnummer() {
    let err = ClientMessage::parse(r#"{"type":"x","fnr":"01019012480"}"#).unwrap_err();
    assert!(!err.contains("01019012480"), "{err}");
    let err = ClientMessage::parse(r#"{"type":"hello","protocol":"01019012480"}"#).unwrap_err();
    assert!(!err.contains("01019012480"), "{err}");
}

#[test]
fn text_is_masked_whenever_it_is_serialised() {
    let state = sample_state();
    let wire = serde_json::to_string(&ServerMessage::Snapshot { seq: 1, state }).unwrap();
    assert!(!wire.contains("01019012480"), "{wire}");
    assert!(wire.contains("Søknad fra ***********"), "{wire}");
    assert_eq!(mask_fnr("010190 12480 x"), "****** ***** x");
    assert_eq!(mask_fnr("123456789012"), "123456789012");
    assert_eq!(mask_fnr("1234567890"), "1234567890");
    assert!(matches!(mask_fnr("no digits"), Cow::Borrowed(_)));
    assert_eq!(Text::from("a 01019012480").raw(), "a 01019012480");
    assert_eq!(Text::from("a 01019012480").to_string(), "a ***********");
}

/// Ids and folder names from outside are masked too, in a snapshot and
/// in a delta, while UUIDs stay readable; the agent keeps the raw id.
#[test]
fn ids_from_outside_are_masked_whenever_they_are_serialised() {
    const FNR: &str = "01019012480";
    let mut state = sample_state();
    let uuid = state.outbound[0].failures[0].digisos_id.clone();
    {
        let o = &mut state.outbound[0].failures[0];
        o.update_id = format!("ut.1700000000000.0.{FNR}").into();
        o.digisos_id = FNR.into();
        o.failed_folder = Some(format!("{FNR}-20231114T221320.000Z").into());
    }
    state.outbound[0].unmoved.push(UnmovedUpdate {
        update_id: format!("ut.1700000000001.0.{uuid}").into(),
        to: "ut-sendt".into(),
        error: "no".into(),
        since: 1,
    });
    state.failed.items[0].id = format!("sak-{FNR}").into();
    state.queues[0].oldest_unacknowledged.as_mut().unwrap().id = FNR.into();
    state.queues[0].stale_in_inn.oldest[0].name = FNR.into();
    state.audit[0].target = Some(format!("nav-frogn/{FNR}").into());
    state.audit[0].mottakersystem = Some(FNR.into());
    state.audit[0].command_id = Some(FNR.into());
    state.failed.items[0].forsendelse_type = Some(FNR.into());
    let wire = serde_json::to_string(&ServerMessage::Snapshot {
        seq: 1,
        state: state.clone(),
    })
    .unwrap();
    assert!(!wire.contains(FNR), "{wire}");
    assert!(
        wire.contains("\"update_id\":\"ut.1700000000000.0.***********\""),
        "{wire}"
    );
    assert!(
        wire.contains("\"failed_folder\":\"***********-20231114T221320.000Z\""),
        "{wire}"
    );
    assert!(wire.contains("\"id\":\"sak-***********\""), "{wire}");
    // The agent still has the real id; UUIDs are shown as they are.
    assert_eq!(state.outbound[0].failures[0].digisos_id.raw(), FNR);
    assert_eq!(uuid.shown(), uuid.raw());
    assert!(
        wire.contains(&format!("\"ut.1700000000001.0.{uuid}\"")),
        "{wire}"
    );
    // A delta removing a failed import names it masked as well.
    let mut gone = state.clone();
    gone.failed.items.clear();
    let delta = serde_json::to_string(&ServerMessage::Delta {
        seq: 2,
        patches: diff(&state, &gone),
    })
    .unwrap();
    assert!(delta.contains("failed_removed"), "{delta}");
    assert!(!delta.contains(FNR), "{delta}");
    // What a console received and sends back is the shown form.
    let seen: ConsoleState = serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
    assert_eq!(
        seen.outbound[0].failures[0].update_id,
        "ut.1700000000000.0.***********"
    );
    assert_eq!(
        state.outbound[0].failures[0].update_id.shown(),
        seen.outbound[0].failures[0].update_id.raw()
    );
}

#[test]
fn roles_are_ordered_and_permissions_follow() {
    assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
    assert_eq!(Role::Viewer.permissions(), vec![Permission::View]);
    let op = Role::Operator.permissions();
    assert!(op.contains(&Permission::MarkPermanent));
    assert!(!op.contains(&Permission::ManageAccess));
    assert_eq!(Role::Admin.permissions(), Permission::ALL.to_vec());
    for c in all_commands() {
        let p = c.permission();
        assert!(!Role::Viewer.allows(p), "{}", c.name());
        assert!(Role::Admin.allows(p), "{}", c.name());
        let needs_admin = matches!(
            c,
            Command::Grant { .. }
                | Command::Revoke { .. }
                | Command::AddMember { .. }
                | Command::RemoveMember { .. }
        );
        assert_eq!(Role::Operator.allows(p), !needs_admin, "{}", c.name());
    }
    for r in Role::ALL {
        assert_eq!(Role::parse(r.as_str()), Some(r));
    }
    assert_eq!(Scope::parse("*"), Scope::All);
    assert!(Scope::All.covers("x"));
    assert!(!Scope::Mottakersystem("a".into()).covers("b"));
}

#[test]
fn apply_of_diff_gives_the_new_state() {
    let old = sample_state();
    let mut new = old.clone();
    // Change each kind of section.
    new.queues[0].counts.insert(ForsendelseState::Acked, 13);
    new.queues.push(QueueHealth {
        mottakersystem: "aaa-first".into(),
        ..QueueHealth::default()
    });
    new.failed.items[0].attempts = 1;
    let mut second = new.failed.items[0].clone();
    second.id = "0-before".into();
    new.failed.items.push(second);
    new.failed.total = 2;
    new.integrations[0].svarinn.consecutive_failures = 2;
    new.alerts.push(Alert {
        key: "crit".into(),
        severity: Severity::Critical,
        mottakersystem: None,
        about: None,
        title: "x".into(),
        detail: "y".into(),
        since: None,
    });
    new.access.grants.clear();
    new.audit.push(AuditEntry {
        seq: 2,
        ..old.audit[0].clone()
    });
    new.normalize();
    assert_eq!(new.alerts[0].key, "crit", "worst first");
    let patches = diff(&old, &new);
    let mut applied = old.clone();
    applied.apply_all(&patches);
    assert_eq!(applied, new);
    // And back: removals.
    let back = diff(&new, &old);
    assert!(back.iter().any(|p| matches!(p, Patch::QueueRemoved { .. })));
    assert!(
        back.iter()
            .any(|p| matches!(p, Patch::FailedRemoved { .. }))
    );
    let mut applied = new.clone();
    applied.apply_all(&back);
    assert_eq!(applied, old);
    // No change, no patches.
    assert!(diff(&old, &old).is_empty());
}

#[test]
fn command_metadata() {
    for c in all_commands() {
        assert!(!c.name().is_empty());
        assert!(!c.target().is_empty());
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["name"], c.name());
    }
    let c = Command::Grant {
        principal: Principal::User("x".into()),
        role: Role::Admin,
        scope: Scope::All,
    };
    assert_eq!(c.mottakersystem(), None);
    assert_eq!(c.target(), "user x: admin over *");
}

/// Masking reorders ids (`*` sorts before digits): a console, which holds
/// only the shown ids, still finds the entry a patch replaces.
#[test]
fn a_console_patches_failed_imports_whose_ids_are_masked() {
    let mut old = sample_state();
    let mut second = old.failed.items[0].clone();
    old.failed.items[0].id = "sak-0".into();
    second.id = "sak-01019012480".into();
    old.failed.items.push(second);
    old.normalize();
    let mut new = old.clone();
    for item in &mut new.failed.items {
        item.attempts += 1;
    }
    let through_json = |s: &ConsoleState| -> ConsoleState {
        serde_json::from_str(&serde_json::to_string(s).unwrap()).unwrap()
    };
    let patches: Vec<Patch> =
        serde_json::from_str(&serde_json::to_string(&diff(&old, &new)).unwrap()).unwrap();
    let mut seen = through_json(&old);
    seen.apply_all(&patches);
    assert_eq!(seen.failed.items.len(), 2, "{:?}", seen.failed.items);
    assert_eq!(seen, through_json(&new));
}
