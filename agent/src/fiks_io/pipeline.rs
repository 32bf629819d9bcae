//! A mottakersystem's `[mottakersystem.fiks_io]` as a [`Pipeline`]: its
//! setup reads the integration password and the konto's keys, builds the
//! Maskinporten and Fiks clients, prepares the drop folder, opens a journal
//! connection of its own, recovers from the journal, and logs in to the
//! broker (a refused login is its setup error); then the consumer and the
//! receipt loop run.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::FiksIoHealth;
use super::consumer::{self, Consuming, Link};
use super::deliver::Context;
use super::receipt;
use crate::clock::Clock;
use crate::config::{FiksIoSettings, Mottakersystem};
use crate::dropfolder::{Channel, DropFolder};
use crate::fiks_client::FiksClient;
use crate::inbound::limits::DownloadLimits;
use crate::journal::fiks_io::FiksIoState;
use crate::journal::{Journal, SharedJournal};
use crate::keys;
use crate::maskinporten::{GrantKey, Maskinporten};
use crate::names::ForsendelseId;
use crate::pipeline::{BoxFuture, Health, Pipeline, Running};
use crate::telemetry::SystemTelemetry;

/// The longest wait between two setup attempts.
const SETUP_RETRY_CAP: Duration = Duration::from_secs(60);

/// Fiks IO → drop folder → receipt, for one mottakersystem.
pub struct FiksIoPipeline {
    system: Mottakersystem,
    state_dir: PathBuf,
    journal_path: PathBuf,
    clock: Arc<dyn Clock>,
    health: Arc<FiksIoHealth>,
    telemetry: Arc<SystemTelemetry>,
}

/// Set up: the context, the link and its first connection.
pub struct FiksIoRunning {
    ctx: Arc<Context>,
    link: Link,
    first: Consuming,
    konto_id: String,
}

impl FiksIoPipeline {
    pub fn new(
        system: Mottakersystem,
        state_dir: PathBuf,
        journal_path: PathBuf,
        clock: Arc<dyn Clock>,
        health: Arc<FiksIoHealth>,
        telemetry: Arc<SystemTelemetry>,
    ) -> Self {
        FiksIoPipeline {
            system,
            state_dir,
            journal_path,
            clock,
            health,
            telemetry,
        }
    }

    fn settings(&self) -> anyhow::Result<&FiksIoSettings> {
        self.system
            .fiks_io
            .as_ref()
            .context("no [mottakersystem.fiks_io] table")
    }

    async fn set_up(&self) -> anyhow::Result<FiksIoRunning> {
        let system = &self.system;
        let f = self.settings()?;
        let passord = f
            .integrasjon_passord
            .load_from_process()
            .context("cannot read fiks_io.integrasjon_passord")?;
        let recipient_keys = keys::load_recipient_keys(&f.private_keys, &[])
            .context("cannot load fiks_io.private_keys")?;
        let key = GrantKey::load(
            &f.maskinporten.private_key,
            &f.maskinporten.certificate_chain,
        )
        .context("cannot load the fiks_io Maskinporten key")?;
        let maskinporten = Arc::new(
            Maskinporten::new(
                f.maskinporten.clone(),
                key,
                crate::config::fiks_io_defaults::REQUEST_TIMEOUT,
                Arc::clone(&self.clock),
            )
            .context("cannot set up the Maskinporten client")?
            .with_telemetry(Arc::clone(&self.telemetry)),
        );
        let fiks = Arc::new(
            FiksClient::for_fiks_io(
                f,
                passord.clone(),
                Arc::clone(&maskinporten),
                Arc::clone(&self.clock),
            )?
            .with_telemetry(Arc::clone(&self.telemetry)),
        );
        let drop = DropFolder::new(&system.drop_folder);
        drop.ensure_layout()
            .context("cannot prepare the drop folder")?;
        drop.check_same_filesystem()
            .context("cannot publish into the drop folder")?;
        let journal = Journal::open(&self.journal_path, Arc::clone(&self.clock))
            .with_context(|| format!("cannot open the journal {}", self.journal_path.display()))?;
        let ctx = Arc::new(Context {
            system: system.name.as_str().to_owned(),
            ack: system.ack,
            drop,
            journal: SharedJournal::new(journal),
            keys: Arc::new(recipient_keys),
            fiks,
            kept_dir: self.state_dir.join("fiks-io").join(system.name.as_str()),
            zip: system.zip,
            limits: DownloadLimits::new(
                system.max_forsendelse_size,
                &system.drop_folder,
                system.min_free_space,
            ),
            health: Arc::clone(&self.health),
            receipts: Arc::new(tokio::sync::Notify::new()),
            clock: Arc::clone(&self.clock),
            in_flight: std::sync::Mutex::new(std::collections::HashSet::new()),
        });
        recover(&ctx).await?;
        let link = Link {
            amqp_url: f.amqp_url.clone(),
            integrasjon_id: f.integrasjon_id.clone(),
            passord,
            konto_id: f.konto_id.clone(),
            maskinporten,
        };
        let first = link.connect().await?;
        info!(mottakersystem = %system.name, konto = %f.konto_id, ack = %system.ack, drop_folder = %system.drop_folder.display(), "Fiks IO pipeline started");
        Ok(FiksIoRunning {
            ctx,
            link,
            first,
            konto_id: f.konto_id.clone(),
        })
    }
}

/// At startup: staging folders of Fiks IO messages the journal does not
/// have at `staged` are removed (they are prepared again from the message,
/// which is still unacked), and every `staged` row is finished (published
/// or recognised, then settled), so its redelivery is only acked.
async fn recover(ctx: &Context) -> anyhow::Result<()> {
    let system = ctx.system.clone();
    let staged = ctx
        .journal
        .read(move |j| j.fiks_io_in_states(&system, &[FiksIoState::Staged]))
        .await?;
    let keep: std::collections::HashSet<String> = staged
        .iter()
        .map(|r| r.melding.melding_id.clone())
        .collect();
    let drop = ctx.drop.clone();
    let removed = tokio::task::spawn_blocking(move || {
        drop.clean_staging_for(Channel::FiksIo, &|id: &ForsendelseId| {
            keep.contains(id.as_str())
        })
    })
    .await??;
    for path in removed {
        info!(mottakersystem = %ctx.system, path = %path.display(), "removed a Fiks IO staging folder left by an earlier run");
    }
    for row in &staged {
        if let Err(e) = ctx.finish_staged(row).await {
            warn!(mottakersystem = %ctx.system, melding_id = %row.melding.melding_id, error = %e, "cannot finish a staged Fiks IO message yet; its redelivery tries again");
        } else {
            ctx.after_ack(&row.melding.melding_id).await;
        }
    }
    Ok(())
}

impl Pipeline for FiksIoPipeline {
    fn kind(&self) -> &'static str {
        "fiks-io"
    }

    fn mottakersystem(&self) -> &str {
        self.system.name.as_str()
    }

    fn health(&self) -> &Arc<Health> {
        &self.health.pipeline
    }

    fn setup_retry_cap(&self) -> Duration {
        SETUP_RETRY_CAP
    }

    fn setup_failed_message(&self) -> &'static str {
        "cannot start receiving from Fiks IO"
    }

    fn setup(&self) -> BoxFuture<'_, anyhow::Result<Box<dyn Running>>> {
        Box::pin(async move { Ok(Box::new(self.set_up().await?) as Box<dyn Running>) })
    }
}

impl Running for FiksIoRunning {
    fn run(self: Box<Self>, shutdown: CancellationToken) -> BoxFuture<'static, ()> {
        let FiksIoRunning {
            ctx,
            link,
            first,
            konto_id,
        } = *self;
        Box::pin(async move {
            let receipts = tokio::spawn(receipt::run(Arc::clone(&ctx), konto_id, shutdown.clone()));
            consumer::run(ctx, link, first, shutdown).await;
            let _ = receipts.await;
        })
    }
}
