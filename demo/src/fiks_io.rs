//! The demo's Fiks IO (issue 15), shown when `rabbitmq-server` is installed: a real broker,
//! booted in the background, the fake Fiks IO API (receipts, dokumentlager, katalog), and Fiks's
//! sender trickling Digisos søknader and ettersendelser to nav-sosial's konto, some broken on
//! purpose, some also sent by SvarInn afterwards as Fiks's fallback (the cross-channel dedupe).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use mottak_fixtures::TestKeyPair;
use mottak_fixtures::fiks_io::{
    FakeFiksIo, FakeFiksIoHandle, FiksIoAccess, FiksIoMessage, FiksIoPublisher, MessageFault,
    random_uuid,
};
use mottak_fixtures::rabbitmq::{Broker, installed_server};
use mottak_fixtures::svarinn::FakeSvarInnHandle;

use crate::bins::Bins;
use crate::fiks::{Fiks, INTEGRASJON_ID, INTEGRASJON_PASSORD};
use crate::setup::{DigisosSettings, run_quiet};

/// nav-sosial's Fiks IO konto (protocol `no.nav.digisos.fagsystem.v1`).
pub const KONTO_ID: &str = "7e1d9c3b-5a2f-4e8d-b6c4-0f3a2e1d9c8b";
/// NAV's konto, the sender.
const NAV_KONTO_ID: &str = "5c7c4d6e-1b2a-4f3e-9d8c-7b6a5f4e3d2c";
/// Fiks's own broker user, which declares the konto queue and publishes.
const SENDER: (&str, &str) = ("fiks", "demo-fiks-sender-passord");
/// The konto's key, made by `mottak-agent keygen` as the demo's other keys are.
const KEY_NAME: &str = "nav-sosial-fiksio";
/// How long Fiks waits for a receipt before it falls back to SvarInn (in the demo).
const FALLBACK_AFTER: Duration = Duration::from_secs(10);

/// What happens to the n-th Fiks IO message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// A søknad, delivered and answered with a receipt.
    Soknad,
    /// An ettersendelse for the last clean søknad.
    Ettersendelse,
    /// Its manifest gives a wrong SHA-256: failed on the console, no receipt, so Fiks falls
    /// back to SvarInn.
    ManifestLies,
    /// A søknad Fiks also sends by SvarInn (its receipt came too late): delivered once.
    AlsoBySvarInn,
    /// Encrypted to another key: failed, no receipt, so Fiks falls back to SvarInn.
    OtherKey,
}

/// The order Fiks IO messages meet their fates in.
const CYCLE: [Fate; 6] = [
    Fate::Soknad,
    Fate::Ettersendelse,
    Fate::ManifestLies,
    Fate::AlsoBySvarInn,
    Fate::OtherKey,
    Fate::Soknad,
];

/// Where the broker is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    Booting,
    Up,
    Failed(String),
}

/// What Fiks IO has seen so far.
#[derive(Debug, Default, Clone, Copy)]
pub struct FiksIoCounts {
    /// Messages published to the konto queue.
    pub published: usize,
    /// Of those, broken on purpose.
    pub broken: usize,
    /// The same søknader sent by SvarInn as Fiks's fallback.
    pub fallbacks: usize,
    /// Receipts the fake Fiks IO took.
    pub receipts: usize,
}

/// The running Fiks IO side.
pub struct FiksIo {
    /// Stopped when dropped, so the demo holds it until the end.
    broker: Mutex<Broker>,
    pub api: FakeFiksIoHandle,
    konto_cert_pem: String,
    nav_key: TestKeyPair,
    pub config_section: String,
    link: Mutex<Link>,
    published: AtomicUsize,
    broken: AtomicUsize,
    fallbacks: AtomicUsize,
}

impl std::fmt::Debug for FiksIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FiksIo")
            .field("api", &self.api.base_url())
            .finish_non_exhaustive()
    }
}

/// The line the demo prints when `rabbitmq-server` is not installed.
pub const NOT_SHOWN: &str = "Fiks IO is not shown: rabbitmq-server is not installed (apt-get install rabbitmq-server, then run the demo again).";

impl FiksIo {
    /// The broker's `rabbitmq-server`, if installed.
    pub fn server() -> Option<PathBuf> {
        installed_server()
    }

    /// Makes the konto key (`keys/nav-sosial-fiksio.pem`), prepares the broker (ports chosen,
    /// not booted) and starts the fake Fiks IO API, trusting the demo's Maskinporten and
    /// integration; `config_section` is nav-sosial's `[mottakersystem.fiks_io]` for them.
    pub async fn prepare(root: &Path, bins: &Bins, server: &Path, fiks: &Fiks) -> Result<FiksIo> {
        run_quiet(
            std::process::Command::new(&bins.agent)
                .arg("keygen")
                .arg("--name")
                .arg(KEY_NAME)
                .arg("--out")
                .arg(root.join("keys")),
            "mottak-agent keygen (the Fiks IO konto)",
        )?;
        let cert_path = root.join("keys").join(format!("{KEY_NAME}.crt"));
        let konto_cert_pem = std::fs::read_to_string(&cert_path)
            .with_context(|| format!("reading {}", cert_path.display()))?;
        let nav_key = tokio::task::spawn_blocking(|| TestKeyPair::generate("NAV"))
            .await
            .context("generating NAV's signing key")??;
        let access = Arc::new(FiksIoAccess::new(
            fiks.maskinporten.verifier(),
            INTEGRASJON_ID,
            INTEGRASJON_PASSORD,
            KONTO_ID,
            SENDER,
        ));
        let broker = Broker::prepare(server, access)
            .await
            .context("preparing the RabbitMQ broker")?;
        let api = FakeFiksIo::builder()
            .maskinporten(&fiks.maskinporten)
            .integrasjon(INTEGRASJON_ID, INTEGRASJON_PASSORD)
            .konto(KONTO_ID)
            .known_konto(NAV_KONTO_ID)
            .broker_url(&broker.amqp_url(SENDER.0, SENDER.1))
            .start()
            .await
            .context("starting the fake Fiks IO")?;
        let config_section = config_section(
            &format!("amqp://127.0.0.1:{}", broker.amqp_port()),
            api.base_url(),
            &root.join("keys").join(format!("{KEY_NAME}.pem")),
            &fiks.settings,
        );
        Ok(FiksIo {
            broker: Mutex::new(broker),
            api,
            konto_cert_pem,
            nav_key,
            config_section,
            link: Mutex::new(Link::Booting),
            published: AtomicUsize::new(0),
            broken: AtomicUsize::new(0),
            fallbacks: AtomicUsize::new(0),
        })
    }

    pub fn amqp_port(&self) -> u16 {
        self.broker.lock().map_or(0, |b| b.amqp_port())
    }

    pub fn link(&self) -> Link {
        self.link.lock().map(|l| l.clone()).unwrap_or(Link::Booting)
    }

    fn set_link(&self, link: Link) {
        if let Ok(mut l) = self.link.lock() {
            *l = link;
        }
    }

    pub fn counts(&self) -> FiksIoCounts {
        FiksIoCounts {
            published: self.published.load(Ordering::Relaxed),
            broken: self.broken.load(Ordering::Relaxed),
            fallbacks: self.fallbacks.load(Ordering::Relaxed),
            receipts: self
                .api
                .sent()
                .iter()
                .filter(|s| s.accepted.is_some())
                .count(),
        }
    }

    /// Boots the broker, declares the konto queue as Fiks does, then sends a message every
    /// `every` until dropped. A broker that does not come up is logged and shown, never fatal.
    pub async fn run(
        &self,
        every: Duration,
        fiks: &Fiks,
        svarinn: &FakeSvarInnHandle,
        svarinn_user: &str,
    ) {
        if let Err(e) = self.boot_and_send(every, fiks, svarinn, svarinn_user).await {
            tracing::error!(error = %format!("{e:#}"), "Fiks IO stopped");
            self.set_link(Link::Failed(format!("{e:#}")));
        }
    }

    async fn boot_and_send(
        &self,
        every: Duration,
        fiks: &Fiks,
        svarinn: &FakeSvarInnHandle,
        svarinn_user: &str,
    ) -> Result<()> {
        let started = Instant::now();
        self.lock_broker()?.spawn()?;
        while !self.lock_broker()?.poll_ready()? {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tracing::info!(boot = ?started.elapsed(), port = self.amqp_port(), "RabbitMQ is up");
        let mut publisher = self.connect().await?;
        publisher.declare_konto_as_fiks(KONTO_ID).await?;
        self.set_link(Link::Up);

        let mut fallbacks: Vec<(Instant, FiksIoMessage)> = Vec::new();
        let mut last_soknad: Option<FiksIoMessage> = None;
        let mut tick = tokio::time::interval(every);
        for i in 0.. {
            tick.tick().await;
            let now = Instant::now();
            let (due, later): (Vec<_>, Vec<_>) =
                fallbacks.into_iter().partition(|(at, _)| *at <= now);
            fallbacks = later;
            for (_, m) in due {
                let new = m.svarinn_fallback(svarinn_user)?;
                let id = svarinn
                    .add_forsendelse(new)
                    .await
                    .context("adding Fiks's SvarInn fallback")?;
                tracing::info!(melding_id = %m.melding_id(), forsendelse = %id, "Fiks IO: no receipt in time, sent by SvarInn too");
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
            }

            let fate = CYCLE[i % CYCLE.len()];
            let digisos_id = random_uuid();
            let message = match (fate, &last_soknad) {
                (Fate::Ettersendelse, Some(s)) => {
                    let meta = s.digisos_metadata().context("a søknad without metadata")?;
                    FiksIoMessage::digisos_ettersendelse(
                        NAV_KONTO_ID,
                        &meta.digisos_id,
                        &random_uuid(),
                        "FIKS_IO",
                        s.melding_id(),
                    )
                }
                (Fate::Ettersendelse, None) => continue,
                _ => {
                    fiks.register_case(&digisos_id)?;
                    FiksIoMessage::digisos_soknad(NAV_KONTO_ID, &digisos_id, &random_uuid())
                }
            };
            let message = match fate {
                Fate::ManifestLies => message.fault(MessageFault::ManifestLies),
                Fate::OtherKey => message.fault(MessageFault::Undecryptable),
                _ => message,
            };
            if !publisher.is_connected() {
                publisher = self.connect().await?;
            }
            let sealed = {
                let (m, key, cert) = (
                    message.clone(),
                    self.nav_key.clone(),
                    self.konto_cert_pem.clone(),
                );
                tokio::task::spawn_blocking(move || m.seal(&key, &cert)).await??
            };
            publisher.publish_sealed(KONTO_ID, &sealed).await?;
            tracing::info!(melding_id = %message.melding_id(), ?fate, "Fiks IO message published");
            self.published.fetch_add(1, Ordering::Relaxed);
            match fate {
                Fate::Soknad => last_soknad = Some(message),
                Fate::ManifestLies | Fate::OtherKey => {
                    self.broken.fetch_add(1, Ordering::Relaxed);
                    fallbacks.push((now + FALLBACK_AFTER, message));
                }
                Fate::AlsoBySvarInn => fallbacks.push((now + FALLBACK_AFTER, message)),
                Fate::Ettersendelse => {}
            }
        }
        Ok(())
    }

    fn lock_broker(&self) -> Result<std::sync::MutexGuard<'_, Broker>> {
        self.broker
            .lock()
            .map_err(|_| anyhow::anyhow!("the broker's lock is poisoned"))
    }

    async fn connect(&self) -> Result<FiksIoPublisher> {
        let url = self.lock_broker()?.amqp_url(SENDER.0, SENDER.1);
        Ok(FiksIoPublisher::connect(&url, self.nav_key.clone())
            .await?
            .dokumentlager(self.api.dokumentlager()))
    }

    /// Stops the broker (it would stop when dropped too) and the API.
    pub async fn shutdown(self) {
        let broker = self.broker;
        let _ = tokio::task::spawn_blocking(move || drop(broker)).await;
        self.api.shutdown().await;
    }
}

/// nav-sosial's `[mottakersystem.fiks_io]`, as docs/configuration.md has a kommune write it
/// (the same integration and Maskinporten client as its `[mottakersystem.digisos]`).
fn config_section(amqp_url: &str, api_url: &str, key: &Path, mp: &DigisosSettings) -> String {
    format!(
        "\n[mottakersystem.fiks_io]\n\
         amqp_url = \"{amqp_url}\"\n\
         api_url = \"{api_url}\"\n\
         konto_id = \"{KONTO_ID}\"\n\
         integrasjon_id = \"{integrasjon}\"\n\
         integrasjon_passord = \"file:{passord}\"\n\
         private_keys = [\"{key}\"]\n\
         \n[mottakersystem.fiks_io.maskinporten]\n\
         url = \"{token_url}\"\n\
         audience = \"{audience}\"\n\
         client_id = \"{client_id}\"\n\
         private_key = \"{mp_key}\"\n\
         certificate_chain = \"{chain}\"\n",
        integrasjon = mp.integrasjon_id,
        passord = mp.integrasjon_passord.display(),
        key = key.display(),
        token_url = mp.token_url,
        audience = mp.audience,
        client_id = mp.client_id,
        mp_key = mp.private_key.display(),
        chain = mp.certificate_chain.display(),
    )
}
