//! A fixed console state and helpers shared by the console's tests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::collections::BTreeMap;

use mottak_console::app::{Action, App, ClientEvent, Effect, Welcome};
use mottak_console::i18n::Lang;
use mottak_console::theme::ThemeKind;
use mottak_console::ui;
use mottak_protocol::alert::AlertKind;
use mottak_protocol::console::*;
use mottak_protocol::listed::SvarInnApi;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::CellWidth;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

pub mod agent;

/// 2025-11-21 12:00 UTC.
pub const NOW: i64 = 1_763_726_400_000;
const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;

fn counts(pairs: &[(ForsendelseState, u64)]) -> BTreeMap<ForsendelseState, u64> {
    let mut m: BTreeMap<ForsendelseState, u64> =
        ForsendelseState::ALL.iter().map(|s| (*s, 0)).collect();
    for (s, n) in pairs {
        m.insert(*s, *n);
    }
    m
}

fn throughput(buckets: [u64; 12]) -> Throughput {
    Throughput {
        delivered_last_hour: buckets.iter().sum(),
        acked_last_hour: buckets.iter().sum(),
        delivered_buckets: buckets.to_vec(),
        buckets_end: NOW,
    }
}

pub fn failed(
    sys: &str,
    id: &str,
    state: ForsendelseState,
    tittel: &str,
    avsender: &str,
    age_ms: i64,
    error: &str,
) -> FailedImport {
    FailedImport {
        mottakersystem: sys.into(),
        id: id.into(),
        state,
        tittel: tittel.into(),
        avsender: Some(avsender.into()),
        forsendelse_type: Some("nav.digisos".into()),
        sendt_at: Some(NOW - age_ms),
        size: Some(123_456),
        first_seen_at: NOW - age_ms + MIN,
        updated_at: NOW - 5 * MIN,
        attempts: if state == ForsendelseState::RetryWait {
            2
        } else {
            0
        },
        content_failures: if state == ForsendelseState::Failed {
            3
        } else {
            0
        },
        last_error: (!error.is_empty()).then(|| error.into()),
        reason: (state == ForsendelseState::Rejected)
            .then(|| "Mangler saksnummer for 01019012480".into()),
        next_attempt_at: (state == ForsendelseState::RetryWait).then_some(NOW + 4 * MIN),
        resume_state: (state == ForsendelseState::RetryWait).then_some(ForsendelseState::Listed),
        reported_to_svarinn: state == ForsendelseState::Failed,
        history: vec![
            HistoryEntry {
                at: NOW - age_ms + MIN,
                action: "download".into(),
                outcome: "content-failed".into(),
                error: (!error.is_empty()).then(|| error.into()),
            },
            HistoryEntry {
                at: NOW - age_ms + 2 * MIN,
                action: "transition".into(),
                outcome: format!("listed -> {}", state.as_str()),
                error: None,
            },
        ],
    }
}

/// Three mottakersystemer: one in trouble, one fine, one paused.
pub fn sample_state() -> ConsoleState {
    let ok_cert = |path: &str, days: i64| CertificateStatus {
        path: path.into(),
        not_after: Some(NOW + days * DAY),
        days_left: Some(days),
        level: if days < 0 {
            ExpiryLevel::Expired
        } else if days <= CERT_WARNING_DAYS {
            ExpiryLevel::ExpiresSoon
        } else {
            ExpiryLevel::Ok
        },
        error: None,
    };
    let mut s = ConsoleState {
        agent: AgentInfo {
            version: "0.1.0".into(),
            hostname: "mottak01".into(),
            started_at: NOW - 3 * DAY,
        },
        queues: vec![
            QueueHealth {
                mottakersystem: "nav-frogn".into(),
                counts: counts(&[
                    (ForsendelseState::Acked, 1200),
                    (ForsendelseState::Failed, 2),
                    (ForsendelseState::Rejected, 1),
                    (ForsendelseState::RetryWait, 1),
                    (ForsendelseState::Delivered, 3),
                ]),
                oldest_unacknowledged: Some(OldestUnacknowledged {
                    id: "aaaa1111-0000-4000-8000-000000000001".into(),
                    state: ForsendelseState::Failed,
                    since: NOW - 2 * HOUR - 5 * MIN,
                    warning_at: NOW - 5 * MIN,
                }),
                throughput: throughput([3, 5, 2, 0, 1, 4, 6, 8, 2, 1, 0, 3]),
                stale_in_inn: StaleInInn {
                    threshold_ms: HOUR,
                    count: 1,
                    oldest: vec![InnFolder {
                        name: "cccc3333-0000-4000-8000-000000000003".into(),
                        since: NOW - 90 * MIN,
                    }],
                },
                paused: None,
                duplicates: Duplicates {
                    total: 2,
                    latest: vec![DuplicateLink {
                        channel: "svarinn".into(),
                        id: "eeee5555-0000-4000-8000-000000000005".into(),
                        delivered_by: "fiks-io".into(),
                        delivered_as: "6f1c2d3e-0000-4000-8000-000000000007".into(),
                        digisos_id: "d3b07384-d9a0-4c4b-8b5a-2e1c2f9e9a11".into(),
                        at: NOW - 20 * MIN,
                    }],
                },
            },
            QueueHealth {
                mottakersystem: "barnevern".into(),
                counts: counts(&[
                    (ForsendelseState::Acked, 310),
                    (ForsendelseState::Listed, 2),
                ]),
                oldest_unacknowledged: Some(OldestUnacknowledged {
                    id: "dddd".into(),
                    state: ForsendelseState::Listed,
                    since: NOW - 12 * MIN,
                    warning_at: NOW - 12 * MIN + UNACKED_WARNING_MS,
                }),
                throughput: throughput([1, 1, 0, 2, 1, 0, 0, 1, 3, 2, 1, 1]),
                stale_in_inn: StaleInInn::default(),
                paused: None,
                duplicates: Duplicates::default(),
            },
            QueueHealth {
                mottakersystem: "byggesak".into(),
                counts: counts(&[(ForsendelseState::Acked, 42)]),
                oldest_unacknowledged: None,
                throughput: throughput([0; 12]),
                stale_in_inn: StaleInInn::default(),
                paused: Some(PauseInfo {
                    by: "kari".into(),
                    at: NOW - 30 * MIN,
                    reason: Some("oppgradering".into()),
                }),
                duplicates: Duplicates::default(),
            },
        ],
        failed: FailedImports {
            total: 4,
            items: vec![
                failed(
                    "nav-frogn",
                    "aaaa1111-0000-4000-8000-000000000001",
                    ForsendelseState::Failed,
                    "Søknad om sosialhjelp 01019012480",
                    "NAV Frogn",
                    2 * HOUR + 5 * MIN,
                    "checksum mismatch: expected 9f86d0…, got 2c26b4…",
                ),
                failed(
                    "nav-frogn",
                    "bbbb2222-0000-4000-8000-000000000002",
                    ForsendelseState::Failed,
                    "Vedtak",
                    "NAV Frogn",
                    50 * MIN,
                    "cannot decrypt: no key matches the recipient",
                ),
                failed(
                    "nav-frogn",
                    "eeee5555-0000-4000-8000-000000000005",
                    ForsendelseState::Rejected,
                    "Klage på vedtak",
                    "Ola Nordmann",
                    3 * HOUR,
                    "",
                ),
                failed(
                    "nav-frogn",
                    "ffff6666-0000-4000-8000-000000000006",
                    ForsendelseState::RetryWait,
                    "Ettersendelse",
                    "NAV Frogn",
                    20 * MIN,
                    "SvarInn answered 503",
                ),
            ],
        },
        integrations: vec![
            IntegrationStatus {
                mottakersystem: "nav-frogn".into(),
                svarinn: SvarInnLink {
                    url: "https://svarut.ks.no".into(),
                    api: SvarInnApi::V2,
                    last_poll_at: Some(NOW - 20_000),
                    last_success_at: Some(NOW - 20 * MIN),
                    last_error: Some("connect timeout after 10 s".into()),
                    latency_ms: Some(420),
                    consecutive_failures: 4,
                    resolved: vec!["193.161.171.10:443".into()],
                },
                certificates: vec![ok_cert("/etc/mottak/keys/nav-frogn-2025.crt", 12)],
                drop_folder: DropFolderStatus {
                    path: "/srv/fagsystem/nav-frogn".into(),
                    writable: true,
                    error: None,
                    free_bytes: Some(12 << 30),
                    total_bytes: Some(100 << 30),
                    min_free_bytes: None,
                },
                fiks_io: None,
                doctor: Some(DoctorResult {
                    at: NOW - 3 * HOUR,
                    exit_code: 3,
                    passed: 7,
                    failed: 1,
                    skipped: 2,
                    config_errors: 0,
                    failures: vec![DoctorLine {
                        kind: "tcp".into(),
                        subject: "svarut.ks.no 193.161.171.11:443".into(),
                        detail: "no answer within 5s (dropped)".into(),
                        fix: Some("open the firewall for outgoing TCP to svarut.ks.no at 193.161.171.11 port 443".into()),
                    }],
                }),
            },
            IntegrationStatus {
                mottakersystem: "barnevern".into(),
                svarinn: SvarInnLink {
                    url: "https://svarut.ks.no".into(),
                    api: SvarInnApi::V1,
                    last_poll_at: Some(NOW - 5_000),
                    last_success_at: Some(NOW - 5_000),
                    last_error: None,
                    latency_ms: Some(95),
                    consecutive_failures: 0,
                    resolved: vec![],
                },
                certificates: vec![ok_cert("/etc/mottak/keys/barnevern.crt", 300)],
                drop_folder: DropFolderStatus {
                    path: "/srv/fagsystem/barnevern".into(),
                    writable: false,
                    error: Some("read-only file system".into()),
                    free_bytes: Some(1 << 30),
                    total_bytes: Some(10 << 30),
                    min_free_bytes: None,
                },
                fiks_io: None,
                doctor: None,
            },
            IntegrationStatus {
                mottakersystem: "byggesak".into(),
                svarinn: SvarInnLink {
                    url: "https://svarut.ks.no".into(),
                    last_poll_at: Some(NOW - 30 * MIN),
                    last_success_at: Some(NOW - 30 * MIN),
                    ..SvarInnLink::default()
                },
                certificates: vec![ok_cert("/etc/mottak/keys/byggesak.crt", -3)],
                drop_folder: DropFolderStatus {
                    path: "/srv/fagsystem/byggesak".into(),
                    writable: true,
                    error: None,
                    free_bytes: Some(50 << 30),
                    total_bytes: Some(100 << 30),
                    min_free_bytes: None,
                },
                fiks_io: None,
                doctor: Some(DoctorResult {
                    at: NOW - 2 * DAY,
                    exit_code: 0,
                    passed: 9,
                    skipped: 2,
                    ..DoctorResult::default()
                }),
            },
        ],
        // The agent's kinds and English words (agent/src/console_api/alert_text.rs);
        // the console writes bokmål from the kinds.
        alerts: vec![
            Alert {
                key: "unacknowledged/nav-frogn".into(),
                severity: Severity::Critical,
                mottakersystem: Some("nav-frogn".into()),
                about: Some(AlertKind::Unacknowledged {
                    id: "aaaa1111-0000-4000-8000-000000000001".into(),
                    state: ForsendelseState::Failed,
                    since: NOW - 2 * HOUR - 5 * MIN,
                }),
                title: "forsendelse aaaa1111-0000-4000-8000-000000000001 has waited 2 h 5 min for its acknowledgement (SvarInn warns the sender after 2 h)".into(),
                detail: "it failed: retry it, or mark it permanent so the sender uses another channel".into(),
                since: Some(NOW - 2 * HOUR - 5 * MIN),
            },
            Alert {
                key: "needs-person/nav-frogn".into(),
                severity: Severity::Warning,
                mottakersystem: Some("nav-frogn".into()),
                about: Some(AlertKind::NeedsPerson {
                    failed: 2,
                    rejected: 1,
                }),
                title: "3 forsendelser need a person (2 failed, 1 rejected by the fagsystem)".into(),
                detail: "open failed imports: retry, move back to inn/, or mark permanent with a reason".into(),
                since: None,
            },
            Alert {
                key: "outbound-failed/nav-frogn".into(),
                severity: Severity::Warning,
                mottakersystem: Some("nav-frogn".into()),
                about: Some(AlertKind::OutboundFailed { count: 1 }),
                title: "nav-frogn: 1 saksoppdatering not sent (ut-feilet/)".into(),
                detail: "each has a feil.txt naming its problems; have the fagsystem write the case again, or retry or discard it here".into(),
                since: Some(NOW - 40 * MIN),
            },
            Alert {
                key: "drop-folder/barnevern".into(),
                severity: Severity::Warning,
                mottakersystem: Some("barnevern".into()),
                about: Some(AlertKind::DropFolder {
                    path: "/srv/fagsystem/barnevern".into(),
                    error: Some("read-only file system".into()),
                }),
                title: "the drop folder /srv/fagsystem/barnevern cannot be used".into(),
                detail: "read-only file system".into(),
                since: Some(NOW - HOUR),
            },
        ],
        access: AccessList {
            grants: vec![
                RoleGrant {
                    principal: Principal::User("kari".into()),
                    role: Role::Admin,
                    scope: Scope::All,
                },
                RoleGrant {
                    principal: Principal::Group("drift".into()),
                    role: Role::Operator,
                    scope: Scope::Mottakersystem("nav-frogn".into()),
                },
                RoleGrant {
                    principal: Principal::User("per".into()),
                    role: Role::Viewer,
                    scope: Scope::All,
                },
            ],
            members: vec![
                Membership {
                    user: "ola".into(),
                    group: "drift".into(),
                    source: MembershipSource::AccessList,
                },
                Membership {
                    user: "siri".into(),
                    group: "drift".into(),
                    source: MembershipSource::UnixGroup,
                },
            ],
            coverage: vec![
                Coverage {
                    mottakersystem: "barnevern".into(),
                    can_act: vec!["kari".into()],
                    warning: Some("only kari can act".into()),
                },
                Coverage {
                    mottakersystem: "byggesak".into(),
                    can_act: vec!["kari".into()],
                    warning: Some("only kari can act".into()),
                },
                Coverage {
                    mottakersystem: "nav-frogn".into(),
                    can_act: vec!["kari".into(), "ola".into(), "siri".into()],
                    warning: None,
                },
            ],
        },
        audit: vec![
            AuditEntry {
                seq: 1,
                at: NOW - 2 * DAY,
                who: "root".into(),
                via: "cli".into(),
                action: "grant".into(),
                mottakersystem: None,
                target: Some("user kari: admin over *".into()),
                reason: None,
                outcome: "ok".into(),
                command_id: None,
            },
            AuditEntry {
                seq: 2,
                at: NOW - 30 * MIN,
                who: "kari".into(),
                via: "local_socket".into(),
                action: "pause".into(),
                mottakersystem: Some("byggesak".into()),
                target: Some("byggesak".into()),
                reason: Some("oppgradering".into()),
                outcome: "ok".into(),
                command_id: Some("c1".into()),
            },
            AuditEntry {
                seq: 3,
                at: NOW - 10 * MIN,
                who: "per".into(),
                via: "tls".into(),
                action: "retry".into(),
                mottakersystem: Some("nav-frogn".into()),
                target: Some("nav-frogn/aaaa1111".into()),
                reason: None,
                outcome: "refused: viewer may not retry".into(),
                command_id: Some("c2".into()),
            },
        ],
        outbound: sample_outbound(),
        pipelines: Vec::new(),
    };
    s.normalize();
    s
}

pub const CASE_A: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
pub const CASE_B: &str = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
pub const CASE_C: &str = "9b2d1e04-52a1-4f43-8d1a-0b6f3a1c2e55";

pub fn update_id(claimed_ago_ms: i64, case: &str) -> String {
    format!("ut.{}.0.{case}", NOW - claimed_ago_ms)
}

pub fn outbound_item(
    case: &str,
    state: OutboundState,
    claimed_ago_ms: i64,
    error: Option<&str>,
) -> OutboundItem {
    let failed = state == OutboundState::Failed;
    OutboundItem {
        update_id: update_id(claimed_ago_ms, case).into(),
        digisos_id: case.into(),
        state,
        claimed_at: NOW - claimed_ago_ms,
        updated_at: NOW - claimed_ago_ms + MIN,
        attempts: if state == OutboundState::RetryWait {
            3
        } else {
            0
        },
        next_attempt_at: (state == OutboundState::RetryWait).then_some(NOW + MIN),
        last_error: error.map(Text::from),
        failed_folder: failed.then(|| format!("{case}-20251121T111000.000Z").into()),
        history: vec![HistoryEntry {
            at: NOW - claimed_ago_ms,
            action: "claim".into(),
            outcome: "ok".into(),
            error: None,
        }],
    }
}

/// nav-frogn sends saksoppdateringer: one failed (feil.txt), one waiting to
/// retry after a Fiks 503, one queued; Fiks's last answer an error,
/// Maskinporten fine, its chain's leaf 20 days from expiry. barnevern sends
/// too, all well. byggesak has no digisos.
pub fn sample_outbound() -> Vec<OutboundStatus> {
    let counts = |pairs: &[(OutboundState, u64)]| -> BTreeMap<OutboundState, u64> {
        let mut m: BTreeMap<OutboundState, u64> =
            OutboundState::ALL.iter().map(|s| (*s, 0)).collect();
        for (s, n) in pairs {
            m.insert(*s, *n);
        }
        m
    };
    let chain = |days: i64| CertificateStatus {
        path: "CN=NAV FROGN KOMMUNE, O=FROGN KOMMUNE, serial 5F2A".into(),
        not_after: Some(NOW + days * DAY),
        days_left: Some(days),
        level: if days <= CERT_WARNING_DAYS {
            ExpiryLevel::ExpiresSoon
        } else {
            ExpiryLevel::Ok
        },
        error: None,
    };
    let feil_txt = format!(
        "The saksoppdatering for {CASE_A} was not sent to Fiks Digisos.\n(claimed by mottak-agent as {})\n\nProblems:\n- digisos-soker.json: /sak/soker/hendelser/0/status: \"FERDIG\" is not one of the allowed values\n- vedtak.pdf: the file named in fil:vedtak.pdf is missing\n\nWhat to do: fix the update and write it again as ut/<digisos-id>/ with KLAR last; the agent sends the newest update of each case. This folder is kept for reference.\n",
        update_id(50 * MIN, CASE_A)
    );
    vec![
        OutboundStatus {
            mottakersystem: "nav-frogn".into(),
            counts: counts(&[
                (OutboundState::Queued, 1),
                (OutboundState::RetryWait, 1),
                (OutboundState::Sent, 57),
                (OutboundState::Superseded, 2),
                (OutboundState::Failed, 1),
            ]),
            queue: vec![
                outbound_item(
                    CASE_B,
                    OutboundState::RetryWait,
                    6 * MIN,
                    Some("Fiks Digisos answered 503 Service Unavailable"),
                ),
                outbound_item(CASE_C, OutboundState::Queued, MIN, None),
            ],
            failures: vec![outbound_item(
                CASE_A,
                OutboundState::Failed,
                50 * MIN,
                Some(&feil_txt),
            )],
            last_sent_at: Some(NOW - 9 * MIN),
            fiks: FiksLink {
                url: "https://api.fiks.ks.no".into(),
                fiks_org_id: "11415cd1-e26d-499a-8421-751457dfcbd5".into(),
                last_ok_at: Some(NOW - 9 * MIN),
                last_error: Some("Fiks Digisos answered 503 Service Unavailable".into()),
                last_error_at: Some(NOW - 2 * MIN),
                public_key: Some("CN=Fiks Digisos, serial 01AB".into()),
                public_key_not_after: Some(NOW + 400 * DAY),
            },
            maskinporten: MaskinportenLink {
                url: "https://maskinporten.no/token".into(),
                client_id: "3a4e5d1c-frogn".into(),
                last_token_at: Some(NOW - 10 * MIN),
                token_expires_at: Some(NOW + 50 * MIN),
                tokens_fetched: 14,
                last_error: None,
                last_error_at: None,
                certificates: vec![chain(20)],
            },
            setup_error: None,
            unmoved: Vec::new(),
            ignored: Vec::new(),
        },
        OutboundStatus {
            mottakersystem: "barnevern".into(),
            counts: counts(&[(OutboundState::Sent, 12)]),
            queue: Vec::new(),
            failures: Vec::new(),
            last_sent_at: Some(NOW - 3 * MIN),
            fiks: FiksLink {
                url: "https://api.fiks.ks.no".into(),
                fiks_org_id: "22b1c0de-e26d-499a-8421-751457dfcbd5".into(),
                last_ok_at: Some(NOW - 3 * MIN),
                ..FiksLink::default()
            },
            maskinporten: MaskinportenLink {
                url: "https://maskinporten.no/token".into(),
                client_id: "barnevern-client".into(),
                last_token_at: Some(NOW - 3 * MIN),
                token_expires_at: Some(NOW + 57 * MIN),
                tokens_fetched: 2,
                certificates: vec![CertificateStatus {
                    path: "CN=FROGN KOMMUNE BARNEVERN, serial 7710".into(),
                    not_after: Some(NOW + 300 * DAY),
                    days_left: Some(300),
                    level: ExpiryLevel::Ok,
                    error: None,
                }],
                ..MaskinportenLink::default()
            },
            setup_error: None,
            unmoved: Vec::new(),
            ignored: Vec::new(),
        },
    ]
}

pub fn welcome(user: &str, role: Role) -> Welcome {
    Welcome {
        user: user.into(),
        transport: Transport::LocalSocket,
        agent_version: "0.1.0".into(),
        roles: vec![RoleGrant {
            principal: Principal::User(user.into()),
            role,
            scope: Scope::All,
        }],
        permissions: ["barnevern", "byggesak", "nav-frogn"]
            .iter()
            .map(|m| SystemPermissions {
                mottakersystem: (*m).into(),
                role,
                permissions: role.permissions(),
            })
            .collect(),
    }
}

/// An app connected as `role`, holding the sample state.
pub fn app(lang: Lang, role: Role) -> App {
    let mut app = App::new(
        lang,
        ThemeKind::Default,
        "/run/mottak/console.sock".into(),
        "test".into(),
    );
    app.update(Action::Tick(NOW));
    app.update(Action::Client(ClientEvent::Connected(Box::new(welcome(
        "kari", role,
    )))));
    app.update(Action::Client(ClientEvent::Message(Box::new(
        ServerMessage::Snapshot {
            seq: 1,
            state: sample_state(),
        },
    ))));
    app
}

pub fn key(code: KeyCode) -> Action {
    Action::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub fn ch(c: char) -> Action {
    key(KeyCode::Char(c))
}

pub fn ctrl(c: char) -> Action {
    Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

/// Types `s` key by key; returns every effect.
pub fn typed(app: &mut App, s: &str) -> Vec<Effect> {
    s.chars().flat_map(|c| app.update(ch(c))).collect()
}

/// The screen as text, one line per row (trailing spaces kept: the frame is exact).
pub fn draw(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| ui::render(app, f)).unwrap();
    let buf = t.backend().buffer().clone();
    let mut out = String::new();
    for cells in buf.content.chunks(usize::from(w)) {
        let mut skip: u16 = 0;
        for c in cells {
            if skip == 0 {
                out.push_str(c.symbol());
            }
            skip = skip.max(c.cell_width()).saturating_sub(1);
        }
        out.push('\n');
    }
    let _ = h;
    out
}

/// Every colour used on the screen (fg and bg), for the high-contrast check.
pub fn colours(app: &App, w: u16, h: u16) -> Vec<ratatui::style::Color> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| ui::render(app, f)).unwrap();
    let buf = t.backend().buffer().clone();
    let mut out = Vec::new();
    for c in buf.content() {
        for col in [c.fg, c.bg] {
            if !out.contains(&col) {
                out.push(col);
            }
        }
    }
    out
}
