//! The state builder's tests: a whole build from a journal, alerts, what a role sees.

use std::collections::BTreeMap;
use std::sync::Arc;

use mottak_protocol::console::{Alert, ForsendelseState, Role, Severity};

use super::*;
use crate::dropfolder::DropFolder;
use crate::inbound::worker::WorkerHealth;
use crate::journal::{Change, FILE_NAME, ManualClock, NewForsendelse, SystemClock};
use crate::names::ForsendelseId;
use mottak_protocol::console::{Principal, RoleGrant, Scope};
use time::macros::datetime;

fn source(dir: &std::path::Path, name: &str) -> SystemSource {
    let root = dir.join(name);
    std::fs::create_dir_all(root.join("inn")).unwrap();
    SystemSource {
        name: name.into(),
        svarinn_url: "https://svarut.ks.no".into(),
        svarinn_api: crate::config::SvarInnApi::V1,
        certificates: vec![dir.join("missing.crt")],
        drop: DropFolder::new(root),
        min_free_space: 512 << 20,
        health: Arc::new(WorkerHealth::default()),
    }
}

/// A pipeline that is never set up: what the state reads of any pipeline.
struct TestPipeline {
    name: String,
    kind: &'static str,
    paused: bool,
    health: Arc<crate::pipeline::Health>,
}

impl TestPipeline {
    fn new(name: &str, kind: &'static str, paused: bool) -> Arc<TestPipeline> {
        Arc::new(TestPipeline {
            name: name.into(),
            kind,
            paused,
            health: Arc::default(),
        })
    }
}

impl Pipeline for TestPipeline {
    fn kind(&self) -> &'static str {
        self.kind
    }
    fn mottakersystem(&self) -> &str {
        &self.name
    }
    fn health(&self) -> &Arc<crate::pipeline::Health> {
        &self.health
    }
    fn setup_retry_cap(&self) -> std::time::Duration {
        std::time::Duration::from_secs(1)
    }
    fn setup_failed_message(&self) -> &'static str {
        "cannot start"
    }
    fn setup(
        &self,
    ) -> crate::pipeline::BoxFuture<'_, anyhow::Result<Box<dyn crate::pipeline::Running>>> {
        Box::pin(std::future::pending())
    }
    fn paused(&self) -> bool {
        self.paused
    }
}

fn new(id: &str, tittel: &str) -> NewForsendelse {
    NewForsendelse {
        id: ForsendelseId::parse(id).unwrap(),
        tittel: tittel.into(),
        avsender_navn: Some("NAV".into()),
        forsendelse_type: None,
        sendt_at: Some(datetime!(2026-11-21 05:00 UTC)),
        size: Some(100),
        raw_json: "{}".into(),
    }
}

#[test]
fn builds_queues_failures_alerts_and_filters_by_role() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE_NAME);
    let clock = Arc::new(ManualClock::new(datetime!(2026-11-21 08:00 UTC)));
    let mut w = Journal::open(&path, clock.clone()).unwrap();
    w.record_listed("a", &new("f1", "Søknad 01019012480"))
        .unwrap();
    w.transition(
        "a",
        &ForsendelseId::parse("f1").unwrap(),
        Change::Failed {
            error: "checksum".into(),
        },
    )
    .unwrap();
    w.record_listed("b", &new("f2", "ok")).unwrap();
    w.grant(
        &RoleGrant {
            principal: Principal::User("kari".into()),
            role: Role::Operator,
            scope: Scope::Mottakersystem("a".into()),
        },
        &crate::journal::access::AuditNote {
            who: "root".into(),
            via: "cli".into(),
            action: "grant".into(),
            mottakersystem: Some("a".into()),
            target: None,
            reason: None,
            outcome: "ok".into(),
            command_id: None,
        },
    )
    .unwrap();
    let reader = Journal::open_read_only(&path, Arc::new(SystemClock)).unwrap();
    let mut on_v2 = source(dir.path(), "b");
    on_v2.svarinn_api = crate::config::SvarInnApi::V2;
    let mut b = Builder::new(
        vec![source(dir.path(), "a"), on_v2],
        reader,
        StateSettings::default(),
        AgentInfo::default(),
    );
    let failing = TestPipeline::new("a", "inbound", true);
    failing
        .health
        .set_setup_failure(Some(crate::pipeline::SetupFailure {
            error: "cannot read the password file".into(),
            attempts: 2,
        }));
    b.set_pipelines(vec![failing, TestPipeline::new("b", "fiks-io", false)]);
    let built = b.build(datetime!(2026-11-21 08:00 UTC)).unwrap();
    let s = &built.state;
    // Every pipeline from its health and the trait alone, a new kind too.
    assert_eq!(
        s.pipelines,
        vec![
            PipelineStatus {
                mottakersystem: "a".into(),
                kind: "inbound".into(),
                up: false,
                setup_error: Some("cannot read the password file".into()),
                setup_attempts: 2,
                paused: true,
            },
            PipelineStatus {
                mottakersystem: "b".into(),
                kind: "fiks-io".into(),
                up: false,
                setup_error: None,
                setup_attempts: 0,
                paused: false,
            },
        ]
    );
    assert_eq!(s.queues.len(), 2);
    assert_eq!(s.queues[0].counts[&ForsendelseState::Failed], 1);
    assert_eq!(s.failed.total, 1);
    assert_eq!(s.failed.items[0].id, "f1");
    assert_eq!(
        s.failed.items[0].last_error.as_ref().unwrap().raw(),
        "checksum"
    );
    assert!(!s.failed.items[0].history.is_empty());
    // Sent at 05:00, now 08:00: past SvarInn's two hours.
    let crit: Vec<&Alert> = s
        .alerts
        .iter()
        .filter(|a| a.severity == Severity::Critical)
        .collect();
    assert!(
        crit.iter().any(|a| a.key == "unacknowledged/a"),
        "{:?}",
        s.alerts
    );
    assert!(s.alerts.iter().any(|a| a.key.starts_with("certificate/a/")));
    let coverage = s.alerts.iter().find(|a| a.key == "coverage/a").unwrap();
    // The console puts "a: " first; the title does not say it again.
    assert!(
        coverage.title.raw().contains("can act on failed imports:")
            && !coverage.title.raw().contains(" of a"),
        "{}",
        coverage.title.raw()
    );
    assert!(s.integrations[0].drop_folder.writable);
    // Which SvarInn API each speaks, for the Integrations view.
    let apis: Vec<_> = s.integrations.iter().map(|i| i.svarinn.api).collect();
    assert_eq!(
        apis,
        [crate::config::SvarInnApi::V1, crate::config::SvarInnApi::V2]
    );
    let wire = serde_json::to_string(s).unwrap();
    assert!(!wire.contains("01019012480"));

    // kari sees only a, and no audit (not admin).
    let mut roles = BTreeMap::new();
    roles.insert("a".to_owned(), Role::Operator);
    let v = visible_to(s, &roles);
    assert_eq!(v.queues.len(), 1);
    assert_eq!(v.pipelines.len(), 1);
    assert_eq!(v.pipelines[0].mottakersystem, "a");
    assert_eq!(v.integrations.len(), 1);
    assert!(
        v.alerts
            .iter()
            .all(|a| a.mottakersystem.as_deref() == Some("a"))
    );
    assert!(v.audit.is_empty());
    roles.insert("a".to_owned(), Role::Admin);
    assert_eq!(visible_to(s, &roles).audit.len(), 1);

    // Nothing changed: the same state.
    let again = b.build(datetime!(2026-11-21 08:00 UTC)).unwrap();
    assert_eq!(again.state, built.state);
}

/// Below `min_free_space` downloads wait: a critical alert naming both
/// numbers; above it but low, the warning as before; plenty, none.
#[test]
fn free_space_under_the_floor_is_a_critical_alert() {
    use mottak_protocol::console::{DropFolderStatus, IntegrationStatus};
    let with_free = |free: u64| ConsoleState {
        integrations: vec![IntegrationStatus {
            mottakersystem: "a".into(),
            drop_folder: DropFolderStatus {
                path: "/srv/a".into(),
                writable: true,
                free_bytes: Some(free),
                total_bytes: Some(100 << 30),
                min_free_bytes: Some(512 << 20),
                ..DropFolderStatus::default()
            },
            ..IntegrationStatus::default()
        }],
        ..ConsoleState::default()
    };
    let disk = |free: u64| -> Vec<Alert> {
        alerts(&with_free(free), 0)
            .into_iter()
            .filter(|a| a.key.starts_with("disk"))
            .collect()
    };
    let low = disk(100 << 20);
    assert_eq!(low.len(), 1, "{low:?}");
    assert_eq!(low[0].key, "disk-floor/a");
    assert_eq!(low[0].severity, Severity::Critical);
    assert!(
        low[0].title.raw().contains("only 100 MiB free")
            && low[0].title.raw().contains("min_free_space (512 MiB)"),
        "{}",
        low[0].title.raw()
    );
    let near = disk(600 << 20);
    assert_eq!(near.len(), 1, "{near:?}");
    assert_eq!(
        (near[0].key.as_str(), near[0].severity),
        ("disk/a", Severity::Warning)
    );
    assert!(disk(10 << 30).is_empty());
}
