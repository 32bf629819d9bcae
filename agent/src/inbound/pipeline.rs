//! A mottakersystem's SvarInn side as a [`Pipeline`]: its setup reads the
//! service password and the private keys, builds the client and recovers
//! the drop folder; then the [`Worker`] runs.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::worker::{Worker, WorkerHealth};
use crate::config::Mottakersystem;
use crate::dropfolder::DropFolder;
use crate::dropfolder::watch::DropWatch;
use crate::journal::SharedJournal;
use crate::keys;
use crate::pipeline::{BoxFuture, Health, Pipeline, Running};
use crate::svarinn_client::{ApiClient, Timeouts};
use crate::telemetry::SystemTelemetry;

/// SvarInn → drop folder → acknowledgement, for one mottakersystem.
pub struct InboundPipeline {
    system: Mottakersystem,
    journal: SharedJournal,
    health: Arc<WorkerHealth>,
    telemetry: Arc<SystemTelemetry>,
    watch: DropWatch,
}

impl InboundPipeline {
    pub fn new(
        system: Mottakersystem,
        journal: SharedJournal,
        health: Arc<WorkerHealth>,
        telemetry: Arc<SystemTelemetry>,
        watch: DropWatch,
    ) -> Self {
        InboundPipeline {
            system,
            journal,
            health,
            telemetry,
            watch,
        }
    }

    async fn set_up(&self) -> anyhow::Result<Worker> {
        let system = &self.system;
        let password = system
            .password
            .load_from_process()
            .context("cannot read the SvarInn password")?;
        let recipient_keys = keys::load_recipient_keys(&system.private_keys, &system.certificates)
            .context("cannot load the private keys")?;
        let client = ApiClient::new(
            system.svarinn_api,
            system.svarinn_url.as_str(),
            &system.username,
            password.expose(),
            Timeouts {
                request: system.request_timeout,
                ..Timeouts::default()
            },
        )?
        .with_telemetry(Arc::clone(&self.telemetry));
        let worker = Worker::new(
            system.clone(),
            client,
            DropFolder::new(&system.drop_folder),
            self.journal.clone(),
            recipient_keys,
            Arc::clone(&self.health),
        )
        .with_telemetry(Arc::clone(&self.telemetry))
        .with_watch(self.watch.clone());
        worker.recover().await?;
        info!(mottakersystem = %system.name, drop_folder = %system.drop_folder.display(), ack = %system.ack, svarinn_api = system.svarinn_api.as_str(), "worker started");
        Ok(worker)
    }
}

impl Pipeline for InboundPipeline {
    fn kind(&self) -> &'static str {
        "inbound"
    }

    fn mottakersystem(&self) -> &str {
        self.system.name.as_str()
    }

    fn health(&self) -> &Arc<Health> {
        &self.health.pipeline
    }

    fn setup_retry_cap(&self) -> Duration {
        self.system.poll_interval
    }

    fn setup_failed_message(&self) -> &'static str {
        "cannot start this mottakersystem"
    }

    fn setup(&self) -> BoxFuture<'_, anyhow::Result<Box<dyn Running>>> {
        Box::pin(async move { Ok(Box::new(Arc::new(self.set_up().await?)) as Box<dyn Running>) })
    }

    fn paused(&self) -> bool {
        self.journal.is_paused(self.system.name.as_str())
    }
}

impl Running for Arc<Worker> {
    fn run(self: Box<Self>, shutdown: CancellationToken) -> BoxFuture<'static, ()> {
        Box::pin(Worker::run(*self, shutdown))
    }
}
