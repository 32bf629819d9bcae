//! A mottakersystem's `[mottakersystem.digisos]` as a [`Pipeline`]: its
//! setup reads the integration password and the Maskinporten key, builds the
//! Fiks client, prepares the drop folder and opens a journal connection of
//! its own (so it never waits on inbound's); then the [`OutboundWorker`] runs.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::worker::{OutboundHealth, OutboundWorker};
use crate::clock::Clock;
use crate::config::Mottakersystem;
use crate::dropfolder::DropFolder;
use crate::dropfolder::watch::DropWatch;
use crate::fiks_client::FiksClient;
use crate::journal::{Journal, SharedJournal};
use crate::maskinporten::{GrantKey, Maskinporten};
use crate::pipeline::{BoxFuture, Health, Pipeline, Running};
use crate::telemetry::SystemTelemetry;

/// The longest wait between two setup attempts.
const SETUP_RETRY_CAP: Duration = Duration::from_secs(60);

/// `ut/` → Fiks Digisos, for one mottakersystem.
pub struct OutboundPipeline {
    system: Mottakersystem,
    journal_path: PathBuf,
    clock: Arc<dyn Clock>,
    health: Arc<OutboundHealth>,
    telemetry: Arc<SystemTelemetry>,
    watch: DropWatch,
}

impl OutboundPipeline {
    pub fn new(
        system: Mottakersystem,
        journal_path: PathBuf,
        clock: Arc<dyn Clock>,
        health: Arc<OutboundHealth>,
        telemetry: Arc<SystemTelemetry>,
        watch: DropWatch,
    ) -> Self {
        OutboundPipeline {
            system,
            journal_path,
            clock,
            health,
            telemetry,
            watch,
        }
    }

    async fn set_up(&self) -> anyhow::Result<OutboundWorker> {
        let system = &self.system;
        let Some(d) = system.digisos.clone() else {
            anyhow::bail!("no [mottakersystem.digisos] table");
        };
        let passord = d
            .integrasjon_passord
            .load_from_process()
            .context("cannot read integrasjon_passord")?;
        let key = GrantKey::load(
            &d.maskinporten.private_key,
            &d.maskinporten.certificate_chain,
        )
        .context("cannot load the Maskinporten key")?;
        let maskinporten = Arc::new(
            Maskinporten::new(
                d.maskinporten.clone(),
                key,
                d.request_timeout,
                Arc::clone(&self.clock),
            )
            .context("cannot set up the Maskinporten client")?
            .with_telemetry(Arc::clone(&self.telemetry)),
        );
        let fiks = Arc::new(
            FiksClient::from_settings(&d, passord, maskinporten, Arc::clone(&self.clock))?
                .with_telemetry(Arc::clone(&self.telemetry)),
        );
        DropFolder::new(&system.drop_folder)
            .ensure_layout()
            .context("cannot prepare the drop folder")?;
        let journal = Journal::open(&self.journal_path, Arc::clone(&self.clock))
            .with_context(|| format!("cannot open the journal {}", self.journal_path.display()))?;
        if let Ok(mut f) = self.health.fiks.lock() {
            *f = Some(Arc::clone(&fiks));
        }
        info!(mottakersystem = %system.name, ut = %system.drop_folder.join("ut").display(), "outbound worker started");
        Ok(OutboundWorker::new(
            system.name.as_str(),
            &system.drop_folder,
            d,
            fiks,
            SharedJournal::new(journal),
            Arc::clone(&self.health),
        )
        .with_watch(self.watch.clone()))
    }
}

impl Pipeline for OutboundPipeline {
    fn kind(&self) -> &'static str {
        "outbound"
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
        "cannot start sending saksoppdateringer to Fiks"
    }

    fn setup(&self) -> BoxFuture<'_, anyhow::Result<Box<dyn Running>>> {
        Box::pin(async move { Ok(Box::new(Arc::new(self.set_up().await?)) as Box<dyn Running>) })
    }
}

impl Running for Arc<OutboundWorker> {
    fn run(self: Box<Self>, shutdown: CancellationToken) -> BoxFuture<'static, ()> {
        Box::pin(OutboundWorker::run(*self, shutdown))
    }
}
