//! Fiks IO, end to end: the real agent consumes its konto's queue on a real RabbitMQ
//! (`fixtures::rabbitmq::Broker`, logins decided by the fake Fiks IO's `FiksIoAccess`), messages
//! published as KS's senders do (ASiC-E + manifest + CAdES, CMS to the konto), and answers with
//! receipts at the strict fake Fiks IO API (`fixtures::fiks_io::FiksIoWorld`). Skips loudly
//! without `rabbitmq-server` (fails under `CI`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use mottak_fixtures::fiks_io::{
    ApiFault, DIGISOS_SOKNAD_MOTTATT, FiksIoMessage, FiksIoWorld, FiksIoWorldOptions, MessageFault,
    RequestKind, Scope, WORLD_KONTO_ID, WORLD_NAV_KONTO_ID, konto_queue, random_uuid,
};
use mottak_fixtures::kit::write_private;
use mottak_protocol::console::FiksIoLink;
use mottak_tests::console_client::{ConsoleSession, grant_operator};
use mottak_tests::harness::{Ack, Agent, System, World};

const SYSTEM: &str = "nav-fiksio";
const LIMIT: Duration = Duration::from_secs(60);
/// Fiks's own broker login in the world (`FiksIoWorld`'s sender).
const SENDER: (&str, &str) = ("fiks", "fiks-sender-passord");

/// A Fiks IO world and an agent's world around it.
struct Fx {
    rt: tokio::runtime::Runtime,
    fw: FiksIoWorld,
    world: World,
    metrics_port: u16,
    _secrets: tempfile::TempDir,
}

/// `None` (the broker's absence said loudly) without `rabbitmq-server`.
fn start(ack: Ack, passord: Option<&str>) -> Result<Option<Fx>> {
    start_with(ack, passord, FiksIoWorldOptions::default())
}

fn start_with(ack: Ack, passord: Option<&str>, options: FiksIoWorldOptions) -> Result<Option<Fx>> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let Some(fw) = rt.block_on(FiksIoWorld::start_with(options))? else {
        return Ok(None);
    };
    let secrets = tempfile::Builder::new()
        .prefix("mottak-fiksio-")
        .tempdir()?;
    let files = fw.write_files(secrets.path())?;
    if let Some(p) = passord {
        write_private(&files.integrasjon_passord, p)?;
    }
    let mut system = System::new(SYSTEM).ack(ack).poll_interval("1h");
    for line in fw.config_toml(&files).lines() {
        system = system.extra(line);
    }
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let world = World::builder()
        .system(system)
        .agent_line(&format!("metrics = \"127.0.0.1:{metrics_port}\""))
        .start()?;
    Ok(Some(Fx {
        rt,
        fw,
        world,
        metrics_port,
        _secrets: secrets,
    }))
}

impl Fx {
    fn inn(&self, id: &str) -> PathBuf {
        self.world
            .dir()
            .join("drop")
            .join(SYSTEM)
            .join("inn")
            .join(id)
    }

    fn send(&self, m: &FiksIoMessage) -> Result<()> {
        self.rt.block_on(self.fw.send(m))?;
        Ok(())
    }

    /// Waits for `inn/<id>/` and returns it.
    fn wait_inn(&self, agent: &mut Agent, id: &str) -> Result<PathBuf> {
        let dir = self.inn(id);
        wait(agent, LIMIT, || dir.join("melding.json").is_file())
            .with_context(|| format!("inn/{id}/ never appeared"))?;
        Ok(dir)
    }

    fn wait_receipt(&self, id: &str) -> Result<serde_json::Value> {
        let got = self.rt.block_on(self.fw.fiks.wait_for_receipt(id, LIMIT))?;
        let sent = self
            .fw
            .fiks
            .sent()
            .into_iter()
            .filter(|s| s.accepted.as_ref() == Some(&got))
            .find_map(|s| s.metadata)
            .context("the receipt's metadata")?;
        Ok(sent)
    }

    /// The pipeline turned `n` more times (the turns that would have done it).
    fn wait_turns(&self, n: u64) -> Result<()> {
        mottak_fixtures::kit::metrics::wait_turns(self.metrics_port, SYSTEM, "fiks-io", n, LIMIT)
    }

    /// Messages ready in the konto's queue (not held unacked by a consumer).
    /// The Fiks IO link of the integrations, from a console's snapshot.
    fn link(&self, socket: &Path) -> Result<Option<FiksIoLink>> {
        let state = self.rt.block_on(async {
            let mut s = ConsoleSession::connect(socket).await?;
            s.snapshot().await
        })?;
        Ok(state.integrations.into_iter().find_map(|i| i.fiks_io))
    }

    fn queue_depth(&self) -> Result<u32> {
        self.rt.block_on(async {
            let conn = Connection::connect(
                &self.fw.broker.amqp_url(SENDER.0, SENDER.1),
                ConnectionProperties::default(),
            )
            .await?;
            let ch = conn.create_channel().await?;
            let q = ch
                .queue_declare(
                    konto_queue(WORLD_KONTO_ID).as_str().into(),
                    QueueDeclareOptions {
                        passive: true,
                        ..QueueDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await?;
            let _ = conn.close(200, "done".into()).await;
            Ok(q.message_count())
        })
    }

    /// A row of the Fiks IO journal.
    fn row(&self, id: &str) -> Result<Option<Row>> {
        let conn = rusqlite::Connection::open_with_flags(
            self.world.journal_path(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        conn.busy_timeout(Duration::from_secs(10))?;
        let row = conn.query_row(
            "SELECT state, receipt, receipt_attempts, reason, kept_copy FROM fiks_io_melding
             WHERE mottakersystem = ?1 AND melding_id = ?2",
            [SYSTEM, id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        );
        match row {
            Ok(r) => Ok(Some(r)),
            Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn wait_state(&self, agent: &mut Agent, id: &str, state: &str) -> Result<()> {
        wait(agent, LIMIT, || {
            self.row(id).ok().flatten().is_some_and(|r| r.0 == state)
        })
        .with_context(|| format!("{id} never became {state}: {:?}", self.row(id)))
    }
}

/// A row of the Fiks IO journal: (state, receipt, receipt_attempts, reason, kept_copy).
type Row = (String, String, i64, Option<String>, Option<String>);

/// Polls `done` every 50 ms up to `limit`, failing early when the agent exits.
fn wait(agent: &mut Agent, limit: Duration, mut done: impl FnMut() -> bool) -> Result<()> {
    let start = std::time::Instant::now();
    loop {
        if done() {
            return Ok(());
        }
        agent.assert_running()?;
        if start.elapsed() > limit {
            bail!("timed out after {limit:?}\n{}", agent.output_tail(30));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

const DIGISOS: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
const REF: &str = "11000000-0000-4000-8000-000000000001";

/// A søknad published to the konto ends in `inn/<melding-id>/` with its data files (not
/// `mimetype`, not `META-INF/`) and `melding.json`; it is acked, and in on-delivery mode the
/// receipt `no.nav.digisos.soknad.mottatt.v1` answers it from the konto to NAV's konto.
#[test]
fn a_soknad_is_delivered_acked_and_answered_on_delivery() -> Result<()> {
    let Some(fx) = start(Ack::OnDelivery, None)? else {
        return Ok(());
    };
    grant_operator(&fx.world.config_path)?;
    let mut agent = fx.world.spawn_agent()?;
    let m = fx
        .fw
        .soknad(DIGISOS, REF)
        .file("vedlegg.pdf", "%PDF-1.7 søknad".as_bytes().to_vec());
    fx.send(&m)?;
    let dir = fx.wait_inn(&mut agent, m.melding_id())?;
    let mut expected: Vec<String> = m.files().iter().map(|f| f.name.clone()).collect();
    expected.push("melding.json".into());
    expected.sort();
    assert_eq!(names(&dir), expected);
    for f in m.files() {
        assert_eq!(std::fs::read(dir.join(&f.name))?, f.bytes, "{}", f.name);
    }
    let melding: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("melding.json"))?)?;
    assert_eq!(melding["meldingId"], m.melding_id());
    assert_eq!(melding["meldingType"], "no.nav.digisos.soknad.v1");
    assert_eq!(melding["avsenderKontoId"], WORLD_NAV_KONTO_ID);
    assert_eq!(melding["digisosId"], DIGISOS);
    assert_eq!(melding["eksternRef"], REF);
    assert!(
        melding["mottatt"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{melding}"
    );

    let receipt = fx.wait_receipt(m.melding_id())?;
    assert_eq!(
        receipt,
        serde_json::json!({
            "avsenderKontoId": WORLD_KONTO_ID,
            "mottakerKontoId": WORLD_NAV_KONTO_ID,
            "meldingType": DIGISOS_SOKNAD_MOTTATT,
            "svarPaMelding": m.melding_id(),
        })
    );
    fx.wait_state(&mut agent, m.melding_id(), "delivered")?;
    let row = fx.row(m.melding_id())?.unwrap();
    assert_eq!(row.1, "sent");
    // The kept encrypted copy is dropped once delivered.
    wait(&mut agent, LIMIT, || {
        fx.row(m.melding_id())
            .ok()
            .flatten()
            .is_some_and(|r| r.4.is_none())
    })?;
    // Consoles see the link up, the delivery counted and nothing owed.
    let socket = fx.world.dir().join("state").join("console.sock");
    // The state is rebuilt after the turns that did the work: wait for one.
    let started = std::time::Instant::now();
    let link = loop {
        let link = fx
            .link(&socket)?
            .expect("a Fiks IO link in the integrations");
        if link.delivered > 0 || started.elapsed() > LIMIT {
            break link;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(link.is_up(), "{link:?}");
    assert_eq!(
        (link.delivered, link.receipts_owed, link.failed),
        (1, 0, 0),
        "{link:?}"
    );
    assert!(link.last_message_at.is_some(), "{link:?}");
    agent.terminate(LIMIT)?;
    assert_eq!(fx.queue_depth()?, 0, "the message was acked");
    assert_eq!(fx.fw.fiks.receipts_for(m.melding_id()).len(), 1);
    Ok(())
}

/// A message over the dokumentlager threshold has no AMQP body: the agent fetches it from
/// `GET /dokumentlager/nedlasting/{id}` (streamed, with the integration's headers) and
/// delivers it as any other.
#[test]
fn a_large_message_comes_from_the_dokumentlager() -> Result<()> {
    let options = FiksIoWorldOptions {
        dokumentlager_threshold: 4 * 1024,
        ..FiksIoWorldOptions::default()
    };
    let Some(fx) = start_with(Ack::OnDelivery, None, options)? else {
        return Ok(());
    };
    let mut agent = fx.world.spawn_agent()?;
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let m = fx.fw.soknad(DIGISOS, REF).file("stor.pdf", big.clone());
    let published = fx.rt.block_on(fx.fw.send(&m))?;
    let dir = fx.wait_inn(&mut agent, m.melding_id())?;
    assert_eq!(std::fs::read(dir.join("stor.pdf"))?, big);
    let id = published
        .dokumentlager_id
        .clone()
        .context("sent by the dokumentlager")?;
    assert!(fx.fw.fiks.downloads_of(&id) >= 1);
    fx.wait_receipt(m.melding_id())?;
    agent.terminate(LIMIT)?;
    Ok(())
}

/// In on-import mode the receipt waits until the fagsystem has taken the folder out of `inn/`;
/// the message itself is acked at once (the folder is durable and the duty journaled).
#[test]
fn on_import_the_receipt_waits_for_the_folder_to_leave_inn() -> Result<()> {
    let Some(fx) = start(Ack::OnImport, None)? else {
        return Ok(());
    };
    let mut agent = fx.world.spawn_agent()?;
    let m = fx.fw.soknad(DIGISOS, REF);
    fx.send(&m)?;
    let dir = fx.wait_inn(&mut agent, m.melding_id())?;
    fx.wait_state(&mut agent, m.melding_id(), "delivered")?;
    fx.wait_turns(3)?;
    assert!(
        fx.fw.fiks.receipts_for(m.melding_id()).is_empty(),
        "a receipt before the import"
    );
    assert_eq!(fx.queue_depth()?, 0, "acked before the import");
    // The fagsystem imports it.
    std::fs::remove_dir_all(&dir)?;
    let receipt = fx.wait_receipt(m.melding_id())?;
    assert_eq!(receipt["meldingType"], DIGISOS_SOKNAD_MOTTATT);
    fx.wait_state(&mut agent, m.melding_id(), "imported")?;
    agent.terminate(LIMIT)?;
    Ok(())
}

/// A message whose manifest lies, and one encrypted to another key, are `failed` with their
/// encrypted bytes kept under state_dir, acked, never in `inn/`, and get no receipt; a good
/// one after them is delivered.
#[test]
fn a_lying_or_undecryptable_message_is_failed_kept_acked_and_unanswered() -> Result<()> {
    let Some(fx) = start(Ack::OnDelivery, None)? else {
        return Ok(());
    };
    let mut agent = fx.world.spawn_agent()?;
    let lies = fx.fw.soknad(DIGISOS, REF).fault(MessageFault::ManifestLies);
    let sealed_elsewhere = fx
        .fw
        .soknad(DIGISOS, "11000000-0000-4000-8000-000000000002")
        .fault(MessageFault::Undecryptable);
    let good = fx
        .fw
        .soknad(DIGISOS, "11000000-0000-4000-8000-000000000003");
    for m in [&lies, &sealed_elsewhere, &good] {
        fx.send(m)?;
    }
    fx.wait_inn(&mut agent, good.melding_id())?;
    fx.wait_receipt(good.melding_id())?;
    for (m, why) in [(&lies, "SHA-256"), (&sealed_elsewhere, "decrypt")] {
        fx.wait_state(&mut agent, m.melding_id(), "failed")?;
        let row = fx.row(m.melding_id())?.unwrap();
        assert_eq!(row.1, "none", "no receipt owed");
        let reason = row.3.unwrap_or_default();
        assert!(reason.contains(why), "{reason}");
        let kept = PathBuf::from(row.4.context("the kept copy")?);
        assert!(
            kept.starts_with(fx.world.dir().join("state")),
            "{}",
            kept.display()
        );
        assert!(std::fs::metadata(&kept)?.len() > 0);
        assert!(!fx.inn(m.melding_id()).exists());
        assert!(fx.fw.fiks.receipts_for(m.melding_id()).is_empty());
    }
    agent.terminate(LIMIT)?;
    assert_eq!(fx.queue_depth()?, 0, "the failed ones were acked too");
    Ok(())
}

/// The same melding-id published twice (a redelivery as a sender's retry makes one), and the
/// agent restarted in between: one folder, one receipt, both copies acked.
#[test]
fn a_redelivered_message_is_delivered_once() -> Result<()> {
    let Some(fx) = start(Ack::OnDelivery, None)? else {
        return Ok(());
    };
    let mut agent = fx.world.spawn_agent()?;
    let id = random_uuid();
    let m = fx.fw.soknad(DIGISOS, REF).with_melding_id(&id);
    fx.send(&m)?;
    fx.send(&m)?;
    fx.wait_inn(&mut agent, &id)?;
    fx.wait_receipt(&id)?;
    fx.wait_turns(3)?;
    agent.terminate(LIMIT)?;
    assert_eq!(fx.queue_depth()?, 0);
    // Once more after a restart.
    fx.send(&m)?;
    let mut agent = fx.world.spawn_agent()?;
    wait(&mut agent, LIMIT, || fx.queue_depth().is_ok_and(|d| d == 0))?;
    fx.wait_turns(3)?;
    assert_eq!(fx.fw.fiks.receipts_for(&id).len(), 1, "one receipt");
    let inn = fx.world.dir().join("drop").join(SYSTEM).join("inn");
    assert_eq!(names(&inn), std::slice::from_ref(&id));
    agent.terminate(LIMIT)?;
    Ok(())
}

/// A receipt whose send endpoint fails (503 twice) is retried with backoff from the journal
/// (its attempts counted) and sent.
#[test]
fn an_owed_receipt_whose_send_fails_is_retried_and_sent() -> Result<()> {
    let Some(fx) = start(Ack::OnDelivery, None)? else {
        return Ok(());
    };
    fx.fw
        .fiks
        .inject(ApiFault::Status(503), Scope::next(RequestKind::Send, 2));
    let mut agent = fx.world.spawn_agent()?;
    let m = fx.fw.soknad(DIGISOS, REF);
    fx.send(&m)?;
    fx.wait_inn(&mut agent, m.melding_id())?;
    let receipt = fx.wait_receipt(m.melding_id())?;
    assert_eq!(receipt["svarPaMelding"], m.melding_id());
    wait(&mut agent, LIMIT, || {
        fx.row(m.melding_id())
            .ok()
            .flatten()
            .is_some_and(|r| r.1 == "sent")
    })?;
    let row = fx.row(m.melding_id())?.unwrap();
    assert_eq!(row.2, 2, "two failed sends journaled");
    let refused = fx.fw.fiks.sent().iter().filter(|s| s.status == 503).count();
    assert_eq!(refused, 2);
    agent.terminate(LIMIT)?;
    Ok(())
}

/// A wrong integrasjon_passord: the broker refuses the login, and the Fiks IO pipeline's
/// setup error says so on the console (the SvarInn pipeline of the same mottakersystem runs).
#[test]
fn a_refused_login_is_the_pipelines_setup_error() -> Result<()> {
    let Some(fx) = start(Ack::OnDelivery, Some("feil-passord"))? else {
        return Ok(());
    };
    grant_operator(&fx.world.config_path)?;
    let mut agent = fx.world.spawn_agent()?;
    let socket = fx.world.dir().join("state").join("console.sock");
    let start = std::time::Instant::now();
    let status = loop {
        let state = fx.rt.block_on(async {
            let mut s = ConsoleSession::connect(&socket).await?;
            s.snapshot().await
        });
        if let Ok(state) = state
            && let Some(p) = state
                .pipelines
                .iter()
                .find(|p| p.kind == "fiks-io" && p.setup_error.is_some())
        {
            break p.clone();
        }
        agent.assert_running()?;
        if start.elapsed() > LIMIT {
            bail!("no setup error shown\n{}", agent.output_tail(30));
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let error = status.setup_error.unwrap().to_string();
    assert!(error.contains("refused the login"), "{error}");
    assert!(!status.up);
    // The integrations' Fiks IO link says it is down, and why.
    let link = fx
        .link(&socket)?
        .expect("a Fiks IO link in the integrations");
    assert!(!link.is_up() && link.down_since.is_some(), "{link:?}");
    assert!(
        link.last_error
            .as_ref()
            .is_some_and(|e| e.to_string().contains("refused the login")),
        "{link:?}"
    );
    assert!(
        !link.amqp_url.contains('@'),
        "no credentials: {}",
        link.amqp_url
    );
    assert!(
        fx.fw.access.logins().iter().any(|l| !l.allowed
            && l.refused_because
                .as_deref()
                .is_some_and(|r| r.contains("IntegrasjonPassord"))),
        "{:?}",
        fx.fw.access.logins()
    );
    assert!(
        !error.contains("feil-passord"),
        "the passord is never shown: {error}"
    );
    agent.terminate(LIMIT)?;
    Ok(())
}

/// Never twice across channels, SvarInn first: a `nav.digisos` forsendelse delivered by
/// SvarInn holds its innsending's claim, so the Fiks IO copy (same digisosId and eksternRef)
/// is journaled `duplicate` with the link, never put in `inn/`, acked, and still answered
/// with its receipt (Fiks must not fall back once more).
#[test]
fn a_fiks_io_copy_of_a_svarinn_delivery_is_acked_and_answered_not_delivered() -> Result<()> {
    use mottak_fixtures::svarinn::{GenerateSpec, GeneratedKind};
    let Some(fx) = start(Ack::OnDelivery, None)? else {
        return Ok(());
    };
    let sys = fx.world.first()?.clone();
    let made = fx.world.block_on(fx.world.fake.generate_with(
        GenerateSpec::new(1, 3000, GeneratedKind::Digisos).for_mottakersystem(&sys.spec.username),
    ))?;
    let g = &made[0];
    let mut agent = fx.world.spawn_agent()?;
    wait(&mut agent, LIMIT, || sys.is_published(&g.id))?;
    let m = fx.fw.soknad(
        g.digisos_id.as_deref().context("digisosId")?,
        g.ekstern_ref.as_deref().context("eksternRef")?,
    );
    fx.send(&m)?;
    fx.wait_state(&mut agent, m.melding_id(), "duplicate")?;
    let row = fx.row(m.melding_id())?.unwrap();
    let link = row.3.unwrap_or_default();
    assert!(link.contains(&g.id) && link.contains("SvarInn"), "{link}");
    let receipt = fx.wait_receipt(m.melding_id())?;
    assert_eq!(receipt["meldingType"], DIGISOS_SOKNAD_MOTTATT);
    assert!(!fx.inn(m.melding_id()).exists(), "delivered twice");
    let staging = fx.world.dir().join("drop").join(SYSTEM).join(".mottak");
    assert!(
        !names(&staging)
            .iter()
            .any(|n| n.starts_with(m.melding_id())),
        "{:?}",
        names(&staging)
    );
    agent.terminate(LIMIT)?;
    assert_eq!(fx.queue_depth()?, 0, "the duplicate was acked");
    Ok(())
}

/// Never twice within Fiks IO either: the same søknad sent again under a new melding-id
/// (Fiks's own retry) finds the claim of the first and is a `duplicate`, answered.
#[test]
fn the_same_soknad_under_a_new_melding_id_is_a_duplicate() -> Result<()> {
    let Some(fx) = start(Ack::OnDelivery, None)? else {
        return Ok(());
    };
    let mut agent = fx.world.spawn_agent()?;
    let first = fx.fw.soknad(DIGISOS, REF);
    fx.send(&first)?;
    fx.wait_inn(&mut agent, first.melding_id())?;
    let again = fx.fw.soknad(DIGISOS, REF);
    fx.send(&again)?;
    fx.wait_state(&mut agent, again.melding_id(), "duplicate")?;
    let link = fx.row(again.melding_id())?.unwrap().3.unwrap_or_default();
    assert!(link.contains(first.melding_id()), "{link}");
    fx.wait_receipt(again.melding_id())?;
    assert!(!fx.inn(again.melding_id()).exists());
    agent.terminate(LIMIT)?;
    Ok(())
}

/// A broker restart mid-flow: the agent connects again (a fresh token, backoff) and the
/// message published after the restart is delivered and answered.
#[test]
fn after_a_broker_restart_the_agent_consumes_again() -> Result<()> {
    let Some(mut fx) = start(Ack::OnDelivery, None)? else {
        return Ok(());
    };
    let mut agent = fx.world.spawn_agent()?;
    let before = fx.fw.soknad(DIGISOS, REF);
    fx.send(&before)?;
    fx.wait_inn(&mut agent, before.melding_id())?;
    fx.fw.broker.restart()?;
    let after = fx
        .fw
        .soknad(DIGISOS, "11000000-0000-4000-8000-000000000009");
    fx.send(&after)?;
    fx.wait_inn(&mut agent, after.melding_id())?;
    fx.wait_receipt(after.melding_id())?;
    let logins = fx
        .fw
        .access
        .logins()
        .iter()
        .filter(|l| l.allowed && l.username == mottak_fixtures::fiks_io::WORLD_INTEGRASJON_ID)
        .count();
    assert!(logins >= 2, "logged in again after the restart: {logins}");
    agent.terminate(LIMIT)?;
    assert_eq!(fx.queue_depth()?, 0);
    Ok(())
}

/// The broker checks the token only at login: when the link is cut after the tokens were
/// revoked, the agent logs in again with a token fetched anew (the cached one is refused
/// once), and goes on delivering.
#[test]
fn a_cut_link_with_revoked_tokens_logs_in_again_with_a_fresh_token() -> Result<()> {
    let Some(fx) = start(Ack::OnDelivery, None)? else {
        return Ok(());
    };
    let mut agent = fx.world.spawn_agent()?;
    let first = fx.fw.soknad(DIGISOS, REF);
    fx.send(&first)?;
    fx.wait_inn(&mut agent, first.melding_id())?;
    let tokens_before = fx.fw.mp.issued().len();
    fx.fw.mp.expire_all_tokens();
    fx.fw
        .broker
        .close_connections_of(mottak_fixtures::fiks_io::WORLD_INTEGRASJON_ID, "test cut")?;
    let next = fx
        .fw
        .soknad(DIGISOS, "11000000-0000-4000-8000-000000000010");
    fx.send(&next)?;
    fx.wait_inn(&mut agent, next.melding_id())?;
    fx.wait_receipt(next.melding_id())?;
    assert!(
        fx.fw.mp.issued().len() > tokens_before,
        "a fresh token was fetched for the new login"
    );
    agent.terminate(LIMIT)?;
    Ok(())
}
