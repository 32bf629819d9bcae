//! `apply(old, diff(old, new)) == new` for generated console states, on the
//! agent and on a console that got the state and the patches as JSON.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Debug;

use mottak_protocol::alert::AlertKind;
use mottak_protocol::console::{
    AccessList, AgentInfo, Alert, AuditEntry, CertificateStatus, ConsoleState, Coverage,
    DoctorLine, DoctorResult, DropFolderStatus, DuplicateLink, Duplicates, ExpiryLevel, ExternalId,
    FailedImport, FailedImports, FiksIoLink, FiksLink, ForsendelseState, HistoryEntry,
    IgnoredEntry, InnFolder, IntegrationStatus, MaskinportenLink, Membership, MembershipSource,
    OldestUnacknowledged, OutboundItem, OutboundState, OutboundStatus, Patch, PauseInfo,
    PipelineStatus, Principal, QueueHealth, Role, RoleGrant, Scope, ServerMessage, Severity,
    StaleInInn, SvarInnLink, Text, Throughput, UnmovedUpdate, diff,
};
use mottak_protocol::listed::SvarInnApi;
use proptest::collection::{btree_map, vec};
use proptest::option::of;
use proptest::prelude::*;

/// Few names, so the old and the new state share most keys.
const SYSTEMS: [&str; 3] = ["aaa", "nav-frogn", "nav-ås"];
/// Failed-import ids: a UUID, short ones, and one holding a fødselsnummer
/// (masked on the wire; the agent keeps it raw) that sorts after `sak-0`
/// as received and before it as shown.
const IDS: [&str; 5] = [
    "6c5e2a8e-1111-4222-8333-944445555666",
    "0-before",
    "x",
    "sak-0",
    "sak-01019012480",
];

// ---------------------------------------------------------------------------------------------
// Old and new

/// Where one keyed entry is: absent, or one of two generated versions. The
/// same version in both states is an unchanged entry, the other a changed
/// one; absent on one side, an added or removed one.
fn slot() -> impl Strategy<Value = Option<bool>> {
    prop_oneof![Just(None), Just(Some(false)), Just(Some(true))]
}

fn keyed<T: Clone + Debug>(
    value: impl Strategy<Value = T> + Clone,
) -> impl Strategy<Value = (Option<T>, Option<T>)> {
    (value.clone(), value, slot(), slot()).prop_map(|(a, b, in_old, in_new)| {
        let pick = |s: Option<bool>| s.map(|second| if second { b.clone() } else { a.clone() });
        (pick(in_old), pick(in_new))
    })
}

/// A section replaced whole: the same in both states, or two generated values.
fn section<T: Clone + Debug>(
    value: impl Strategy<Value = T> + Clone,
) -> impl Strategy<Value = (T, T)> {
    (value.clone(), value, any::<bool>())
        .prop_map(|(a, b, same)| (a.clone(), if same { a } else { b }))
}

fn split<T>(pairs: Vec<(Option<T>, Option<T>)>) -> (Vec<T>, Vec<T>) {
    let mut old = Vec::new();
    let mut new = Vec::new();
    for (o, n) in pairs {
        old.extend(o);
        new.extend(n);
    }
    (old, new)
}

fn old_and_new() -> impl Strategy<Value = (ConsoleState, ConsoleState)> {
    let queues: Vec<_> = SYSTEMS.iter().map(|s| keyed(queue(s))).collect();
    let failed: Vec<_> = SYSTEMS
        .iter()
        .flat_map(|s| IDS.iter().map(move |id| keyed(failed_import(s, id))))
        .collect();
    let integrations: Vec<_> = SYSTEMS.iter().map(|s| keyed(integration(s))).collect();
    let outbound: Vec<_> = SYSTEMS.iter().map(|s| keyed(outbound(s))).collect();
    (
        section(agent()),
        queues,
        failed,
        section(any::<u64>()),
        integrations,
        section(vec(alert(), 0..4)),
        section(access()),
        section(vec(audit_entry(), 0..4)),
        outbound,
        section(vec(pipeline(), 0..5)),
    )
        .prop_map(
            |(
                agent,
                queues,
                failed,
                total,
                integrations,
                alerts,
                access,
                audit,
                outbound,
                pipelines,
            )| {
                let (old_queues, new_queues) = split(queues);
                let (old_failed, new_failed) = split(failed);
                let (old_integrations, new_integrations) = split(integrations);
                let (old_outbound, new_outbound) = split(outbound);
                let mut old = ConsoleState {
                    agent: agent.0,
                    queues: old_queues,
                    failed: FailedImports {
                        total: total.0,
                        items: old_failed,
                    },
                    integrations: old_integrations,
                    alerts: alerts.0,
                    access: access.0,
                    audit: audit.0,
                    outbound: old_outbound,
                    pipelines: pipelines.0,
                };
                let mut new = ConsoleState {
                    agent: agent.1,
                    queues: new_queues,
                    failed: FailedImports {
                        total: total.1,
                        items: new_failed,
                    },
                    integrations: new_integrations,
                    alerts: alerts.1,
                    access: access.1,
                    audit: audit.1,
                    outbound: new_outbound,
                    pipelines: pipelines.1,
                };
                // The agent diffs normalised states only.
                old.normalize();
                new.normalize();
                (old, new)
            },
        )
}

// ---------------------------------------------------------------------------------------------
// The parts

/// Free text, sometimes holding a fødselsnummer (written together or 6 + 5).
fn text() -> impl Strategy<Value = Text> + Clone {
    prop_oneof![
        Just(String::new()),
        "[a-zæøå .-]{1,12}",
        Just("Søknad fra 01019012480".to_owned()),
        Just("fnr 010190 12480 i feil.txt".to_owned()),
    ]
    .prop_map(Text::from)
}

fn external_id() -> impl Strategy<Value = ExternalId> + Clone {
    prop_oneof![
        "[a-z0-9.-]{1,12}",
        Just("3fa85f64-5717-4562-b3fc-2c963f66afa6".to_owned()),
        Just("ut.1700000000000.0.01019012480".to_owned()),
    ]
    .prop_map(ExternalId::from)
}

fn word() -> impl Strategy<Value = String> + Clone {
    "[a-z_-]{0,8}"
}

fn time() -> impl Strategy<Value = i64> + Clone {
    any::<i64>()
}

fn forsendelse_state() -> impl Strategy<Value = ForsendelseState> + Clone {
    proptest::sample::select(ForsendelseState::ALL.to_vec())
}

fn outbound_state() -> impl Strategy<Value = OutboundState> + Clone {
    proptest::sample::select(OutboundState::ALL.to_vec())
}

fn agent() -> impl Strategy<Value = AgentInfo> + Clone {
    (word(), word(), time()).prop_map(|(version, hostname, started_at)| AgentInfo {
        version,
        hostname,
        started_at,
    })
}

fn queue(system: &str) -> impl Strategy<Value = QueueHealth> + Clone {
    let mottakersystem = system.to_owned();
    let oldest = (external_id(), forsendelse_state(), time(), time()).prop_map(
        |(id, state, since, warning_at)| OldestUnacknowledged {
            id,
            state,
            since,
            warning_at,
        },
    );
    let throughput = (any::<u64>(), any::<u64>(), vec(any::<u64>(), 0..4), time()).prop_map(
        |(delivered_last_hour, acked_last_hour, delivered_buckets, buckets_end)| Throughput {
            delivered_last_hour,
            acked_last_hour,
            delivered_buckets,
            buckets_end,
        },
    );
    let folder = (external_id(), time()).prop_map(|(name, since)| InnFolder { name, since });
    let stale =
        (time(), any::<u64>(), vec(folder, 0..3)).prop_map(|(threshold_ms, count, oldest)| {
            StaleInInn {
                threshold_ms,
                count,
                oldest,
            }
        });
    let paused =
        (word(), time(), of(text())).prop_map(|(by, at, reason)| PauseInfo { by, at, reason });
    let link = (
        word(),
        external_id(),
        word(),
        external_id(),
        external_id(),
        time(),
    )
        .prop_map(
            |(channel, id, delivered_by, delivered_as, digisos_id, at)| DuplicateLink {
                channel,
                id,
                delivered_by,
                delivered_as,
                digisos_id,
                at,
            },
        );
    let duplicates =
        (any::<u64>(), vec(link, 0..3)).prop_map(|(total, latest)| Duplicates { total, latest });
    (
        btree_map(forsendelse_state(), any::<u64>(), 0..4),
        of(oldest),
        throughput,
        stale,
        of(paused),
        duplicates,
    )
        .prop_map(
            move |(counts, oldest_unacknowledged, throughput, stale_in_inn, paused, duplicates)| {
                QueueHealth {
                    mottakersystem: mottakersystem.clone(),
                    counts,
                    oldest_unacknowledged,
                    throughput,
                    stale_in_inn,
                    paused,
                    duplicates,
                }
            },
        )
}

fn history() -> impl Strategy<Value = Vec<HistoryEntry>> + Clone {
    let entry = (time(), word(), word(), of(text())).prop_map(|(at, action, outcome, error)| {
        HistoryEntry {
            at,
            action,
            outcome,
            error,
        }
    });
    vec(entry, 0..3)
}

fn failed_import(system: &str, id: &str) -> impl Strategy<Value = FailedImport> + Clone {
    let (mottakersystem, id) = (system.to_owned(), ExternalId::from(id));
    let about = (text(), of(text()), of(text()), of(time()), of(any::<u64>()));
    let progress = (
        time(),
        time(),
        any::<u32>(),
        any::<u32>(),
        of(text()),
        of(text()),
    );
    let next = (
        forsendelse_state(),
        of(time()),
        of(forsendelse_state()),
        any::<bool>(),
        history(),
    );
    (about, progress, next).prop_map(
        move |(
            (tittel, avsender, forsendelse_type, sendt_at, size),
            (first_seen_at, updated_at, attempts, content_failures, last_error, reason),
            (state, next_attempt_at, resume_state, reported_to_svarinn, history),
        )| FailedImport {
            mottakersystem: mottakersystem.clone(),
            id: id.clone(),
            state,
            tittel,
            avsender,
            forsendelse_type,
            sendt_at,
            size,
            first_seen_at,
            updated_at,
            attempts,
            content_failures,
            last_error,
            reason,
            next_attempt_at,
            resume_state,
            reported_to_svarinn,
            history,
        },
    )
}

fn expiry_level() -> impl Strategy<Value = ExpiryLevel> + Clone {
    proptest::sample::select(vec![
        ExpiryLevel::Ok,
        ExpiryLevel::ExpiresSoon,
        ExpiryLevel::Expired,
        ExpiryLevel::Unreadable,
    ])
}

fn certificates() -> impl Strategy<Value = Vec<CertificateStatus>> + Clone {
    let cert = (word(), of(time()), of(time()), expiry_level(), of(text())).prop_map(
        |(path, not_after, days_left, level, error)| CertificateStatus {
            path,
            not_after,
            days_left,
            level,
            error,
        },
    );
    vec(cert, 0..3)
}

fn integration(system: &str) -> impl Strategy<Value = IntegrationStatus> + Clone {
    let mottakersystem = system.to_owned();
    let svarinn = (
        word(),
        of(time()),
        of(time()),
        of(text()),
        of(any::<u64>()),
        any::<u32>(),
        vec(word(), 0..3),
        proptest::sample::select(vec![SvarInnApi::V1, SvarInnApi::V2]),
    )
        .prop_map(
            |(
                url,
                last_poll_at,
                last_success_at,
                last_error,
                latency_ms,
                consecutive_failures,
                resolved,
                api,
            )| SvarInnLink {
                url,
                api,
                last_poll_at,
                last_success_at,
                last_error,
                latency_ms,
                consecutive_failures,
                resolved,
            },
        );
    let drop_folder = (
        word(),
        any::<bool>(),
        of(text()),
        of(any::<u64>()),
        of(any::<u64>()),
        of(any::<u64>()),
    )
        .prop_map(
            |(path, writable, error, free_bytes, total_bytes, min_free_bytes)| DropFolderStatus {
                path,
                writable,
                error,
                free_bytes,
                total_bytes,
                min_free_bytes,
            },
        );
    let line =
        (word(), text(), text(), of(text())).prop_map(|(kind, subject, detail, fix)| DoctorLine {
            kind,
            subject,
            detail,
            fix,
        });
    let doctor = (
        time(),
        any::<u8>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        vec(line, 0..3),
    )
        .prop_map(
            |(at, exit_code, passed, failed, skipped, config_errors, failures)| DoctorResult {
                at,
                exit_code,
                passed,
                failed,
                skipped,
                config_errors,
                failures,
            },
        );
    let fiks_io = (
        (of(time()), of(time()), of(word()), of(time())),
        (of(any::<u64>()), any::<u32>(), any::<u32>(), any::<u32>()),
        (of(text()), of(text())),
    )
        .prop_map(
            |(
                (connected_since, down_since, consumer, last_message_at),
                (waiting_at_fiks, unacked, receipts_owed, receipts_failing),
                (last_receipt_error, last_error),
            )| FiksIoLink {
                amqp_url: "amqps://io.fiks.ks.no:5671".into(),
                api_url: "https://api.fiks.ks.no".into(),
                konto_id: "4f1c2a77-0000-4000-8000-000000000001".into(),
                connected_since,
                down_since,
                consumer,
                last_message_at,
                waiting_at_fiks,
                waiting_read_at: last_message_at,
                unacked,
                delivered: u64::from(unacked),
                failed: receipts_failing / 2,
                receipts_owed,
                receipts_failing,
                oldest_receipt_owed_at: down_since,
                last_receipt_error,
                last_error,
                last_error_at: down_since,
            },
        );
    (
        svarinn,
        certificates(),
        drop_folder,
        of(doctor),
        of(fiks_io),
    )
        .prop_map(
            move |(svarinn, certificates, drop_folder, doctor, fiks_io)| IntegrationStatus {
                mottakersystem: mottakersystem.clone(),
                svarinn,
                certificates,
                drop_folder,
                doctor,
                fiks_io,
            },
        )
}

fn ignored_entry() -> impl Strategy<Value = IgnoredEntry> + Clone {
    (text(), text(), time()).prop_map(|(name, reason, since)| IgnoredEntry {
        name,
        reason,
        since,
    })
}

fn alert_kind() -> impl Strategy<Value = AlertKind> + Clone {
    prop_oneof![
        (external_id(), forsendelse_state(), time())
            .prop_map(|(id, state, since)| AlertKind::Unacknowledged { id, state, since }),
        (any::<u64>(), any::<u64>())
            .prop_map(|(failed, rejected)| AlertKind::NeedsPerson { failed, rejected }),
        (any::<u32>(), of(text()), word(), vec(word(), 0..2)).prop_map(
            |(consecutive_failures, last_error, url, resolved)| AlertKind::Svarinn {
                consecutive_failures,
                last_error,
                url,
                resolved,
            }
        ),
        (word(), expiry_level(), of(time())).prop_map(|(path, level, days_left)| {
            AlertKind::Certificate {
                path,
                level,
                days_left,
            }
        }),
        (any::<u64>(), external_id(), word(), text()).prop_map(|(count, update_id, to, error)| {
            AlertKind::OutboundUnmoved {
                count,
                update_id,
                to,
                error,
            }
        }),
        (any::<u64>(), vec(ignored_entry(), 0..2))
            .prop_map(|(count, first)| AlertKind::OutboundIgnored { count, first }),
        vec(word(), 0..3).prop_map(|can_act| AlertKind::Coverage { can_act }),
        (word(), of(text())).prop_map(|(amqp_url, last_error)| AlertKind::FiksIoDown {
            amqp_url,
            last_error
        }),
        (any::<u32>(), of(text())).prop_map(|(failing, last_error)| AlertKind::FiksIoReceipts {
            failing,
            last_error
        }),
        any::<u32>().prop_map(|count| AlertKind::FiksIoFailed { count }),
    ]
}

fn alert() -> impl Strategy<Value = Alert> + Clone {
    let severity =
        proptest::sample::select(vec![Severity::Info, Severity::Warning, Severity::Critical]);
    (
        word(),
        severity,
        of(proptest::sample::select(SYSTEMS.to_vec())),
        of(alert_kind()),
        text(),
        text(),
        of(time()),
    )
        .prop_map(
            |(key, severity, mottakersystem, about, title, detail, since)| Alert {
                key,
                severity,
                mottakersystem: mottakersystem.map(str::to_owned),
                about,
                title,
                detail,
                since,
            },
        )
}

fn access() -> impl Strategy<Value = AccessList> + Clone {
    let principal = prop_oneof![
        word().prop_map(Principal::User),
        word().prop_map(Principal::Group)
    ];
    let scope = prop_oneof![
        Just(Scope::All),
        proptest::sample::select(SYSTEMS.to_vec()).prop_map(|s| Scope::Mottakersystem(s.into())),
    ];
    let grant = (
        principal,
        proptest::sample::select(Role::ALL.to_vec()),
        scope,
    )
        .prop_map(|(principal, role, scope)| RoleGrant {
            principal,
            role,
            scope,
        });
    let source = proptest::sample::select(vec![
        MembershipSource::AccessList,
        MembershipSource::UnixGroup,
    ]);
    let member = (word(), word(), source).prop_map(|(user, group, source)| Membership {
        user,
        group,
        source,
    });
    let coverage = (
        proptest::sample::select(SYSTEMS.to_vec()),
        vec(word(), 0..3),
        of(word()),
    )
        .prop_map(|(system, can_act, warning)| Coverage {
            mottakersystem: system.to_owned(),
            can_act,
            warning,
        });
    (vec(grant, 0..3), vec(member, 0..3), vec(coverage, 0..3)).prop_map(
        |(grants, members, coverage)| AccessList {
            grants,
            members,
            coverage,
        },
    )
}

fn audit_entry() -> impl Strategy<Value = AuditEntry> + Clone {
    (
        (any::<i64>(), time(), word(), word(), word()),
        (
            of(external_id()),
            of(external_id()),
            of(text()),
            text(),
            of(external_id()),
        ),
    )
        .prop_map(
            |(
                (seq, at, who, via, action),
                (mottakersystem, target, reason, outcome, command_id),
            )| AuditEntry {
                seq,
                at,
                who,
                via,
                action,
                mottakersystem,
                target,
                reason,
                outcome,
                command_id,
            },
        )
}

fn outbound_item() -> impl Strategy<Value = OutboundItem> + Clone {
    (
        (
            external_id(),
            external_id(),
            outbound_state(),
            time(),
            time(),
        ),
        (
            any::<u32>(),
            of(time()),
            of(text()),
            of(external_id()),
            history(),
        ),
    )
        .prop_map(
            |(
                (update_id, digisos_id, state, claimed_at, updated_at),
                (attempts, next_attempt_at, last_error, failed_folder, history),
            )| OutboundItem {
                update_id,
                digisos_id,
                state,
                claimed_at,
                updated_at,
                attempts,
                next_attempt_at,
                last_error,
                failed_folder,
                history,
            },
        )
}

fn outbound(system: &str) -> impl Strategy<Value = OutboundStatus> + Clone {
    let mottakersystem = system.to_owned();
    let fiks = (
        word(),
        word(),
        of(time()),
        of(text()),
        of(time()),
        of(text()),
        of(time()),
    )
        .prop_map(
            |(
                url,
                fiks_org_id,
                last_ok_at,
                last_error,
                last_error_at,
                public_key,
                public_key_not_after,
            )| FiksLink {
                url,
                fiks_org_id,
                last_ok_at,
                last_error,
                last_error_at,
                public_key,
                public_key_not_after,
            },
        );
    let maskinporten = (
        word(),
        word(),
        of(time()),
        of(time()),
        any::<u64>(),
        of(text()),
        of(time()),
        certificates(),
    )
        .prop_map(
            |(
                url,
                client_id,
                last_token_at,
                token_expires_at,
                tokens_fetched,
                last_error,
                last_error_at,
                certificates,
            )| MaskinportenLink {
                url,
                client_id,
                last_token_at,
                token_expires_at,
                tokens_fetched,
                last_error,
                last_error_at,
                certificates,
            },
        );
    let unmoved =
        (external_id(), word(), text(), time()).prop_map(|(update_id, to, error, since)| {
            UnmovedUpdate {
                update_id,
                to,
                error,
                since,
            }
        });
    (
        btree_map(outbound_state(), any::<u64>(), 0..4),
        vec(outbound_item(), 0..3),
        vec(outbound_item(), 0..3),
        of(time()),
        fiks,
        maskinporten,
        of(text()),
        vec(unmoved, 0..2),
        vec(ignored_entry(), 0..2),
    )
        .prop_map(
            move |(
                counts,
                queue,
                failures,
                last_sent_at,
                fiks,
                maskinporten,
                setup_error,
                unmoved,
                ignored,
            )| OutboundStatus {
                mottakersystem: mottakersystem.clone(),
                counts,
                queue,
                failures,
                last_sent_at,
                fiks,
                maskinporten,
                setup_error,
                unmoved,
                ignored,
            },
        )
}

/// A pipeline of one of the systems; the kinds include one the console
/// does not know yet (a channel added later).
fn pipeline() -> impl Strategy<Value = PipelineStatus> + Clone {
    (
        proptest::sample::select(SYSTEMS.to_vec()),
        proptest::sample::select(vec!["inbound", "outbound", "fiks-io"]),
        any::<bool>(),
        of(text()),
        any::<u32>(),
        any::<bool>(),
    )
        .prop_map(
            |(mottakersystem, kind, up, setup_error, setup_attempts, paused)| PipelineStatus {
                mottakersystem: mottakersystem.to_owned(),
                kind: kind.to_owned(),
                up,
                setup_error,
                setup_attempts,
                paused,
            },
        )
}

// ---------------------------------------------------------------------------------------------
// The property

/// Through JSON as a console gets it: masked, then parsed.
fn over_the_wire(message: &ServerMessage) -> ServerMessage {
    serde_json::from_str(&serde_json::to_string(message).unwrap()).unwrap()
}

proptest! {
    #[test]
    fn apply_of_diff_gives_the_new_state((old, new) in old_and_new()) {
        let patches = diff(&old, &new);
        prop_assert_eq!(patches.is_empty(), old == new);

        // On the agent.
        let mut applied = old.clone();
        applied.apply_all(&patches);
        prop_assert_eq!(&applied, &new);

        // On a console: the snapshot of `old` and the delta arrive as JSON,
        // so it has, and must end with, the masked form of each state.
        let ServerMessage::Snapshot { state: mut seen, .. } =
            over_the_wire(&ServerMessage::Snapshot { seq: 1, state: old.clone() })
        else {
            panic!("a snapshot parses as a snapshot");
        };
        let ServerMessage::Delta { patches: received, .. } =
            over_the_wire(&ServerMessage::Delta { seq: 2, patches: patches.clone() })
        else {
            panic!("a delta parses as a delta");
        };
        prop_assert_eq!(received.len(), patches.len());
        seen.apply_all(&received);
        let ServerMessage::Snapshot { state: expected, .. } =
            over_the_wire(&ServerMessage::Snapshot { seq: 2, state: new.clone() })
        else {
            panic!("a snapshot parses as a snapshot");
        };
        prop_assert_eq!(seen, expected);
    }

    /// Each patch with nothing to mask comes out of JSON as it went in
    /// (the generated text holds no `*` but the mask's).
    #[test]
    fn every_patch_round_trips_when_nothing_is_masked((old, new) in old_and_new()) {
        for patch in diff(&old, &new) {
            let text = serde_json::to_string(&patch).unwrap();
            if text.contains('*') {
                continue;
            }
            let back: Patch = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(back, patch);
        }
    }
}
