//! Which pipelines a config asks for, and what consoles are shown of each:
//! the one place a new channel is added.
//!
//! Per mottakersystem: SvarInn inbound always; Fiks Digisos outbound when it
//! has `[mottakersystem.digisos]`; Fiks IO inbound when it has
//! `[mottakersystem.fiks_io]`. The daemon supervises every
//! [`Pipeline`] listed here, watches its heartbeat and stops it in order;
//! the console API is handed the sources.

use std::path::Path;
use std::sync::Arc;

use tokio::sync::Notify;

use crate::clock::Clock;
use crate::config::Config;
use crate::console_api::state::SystemSource;
use crate::dropfolder::DropFolder;
use crate::dropfolder::watch::DropWatch;
use crate::fiks_io::FiksIoHealth;
use crate::fiks_io::console::FiksIoSource;
use crate::fiks_io::pipeline::FiksIoPipeline;
use crate::inbound::pipeline::InboundPipeline;
use crate::inbound::worker::WorkerHealth;
use crate::journal::SharedJournal;
use crate::outbound::OutboundHealth;
use crate::outbound::console::OutboundSource;
use crate::outbound::pipeline::OutboundPipeline;
use crate::pipeline::{Health, Pipeline};
use crate::telemetry::Telemetry;

/// Every pipeline of a config, and the consoles' view of them.
pub struct Channels {
    pub pipelines: Vec<Arc<dyn Pipeline>>,
    /// SvarInn inbound, per mottakersystem, for the console's queues and integrations.
    pub inbound: Vec<SystemSource>,
    /// Fiks Digisos outbound, for the console's outbound view.
    pub outbound: Vec<OutboundSource>,
    /// Fiks IO inbound, for the Fiks IO link in the console's integrations.
    pub fiks_io: Vec<FiksIoSource>,
    /// Told whenever any pipeline's loop turns (the console state is rebuilt on it).
    pub turned: Arc<Notify>,
}

impl Channels {
    /// The pipelines `config` asks for. `journal` is the daemon's;
    /// outbound opens connections of its own to `journal_path`. Each
    /// pipeline counts into its mottakersystem's share of `telemetry`.
    pub fn from_config(
        config: &Config,
        journal: &SharedJournal,
        journal_path: &Path,
        clock: &Arc<dyn Clock>,
        telemetry: &Telemetry,
    ) -> Self {
        let mut channels = Channels {
            pipelines: Vec::new(),
            inbound: Vec::new(),
            outbound: Vec::new(),
            fiks_io: Vec::new(),
            turned: Arc::new(Notify::new()),
        };
        let health = |clock: &Arc<dyn Clock>, turned: &Arc<Notify>| {
            Arc::new(Health::new(Arc::clone(clock)).observed_by(Arc::clone(turned)))
        };
        // One watcher (one inotify instance, one thread) for every drop folder.
        let watch = DropWatch::start();
        for system in &config.mottakersystemer {
            let health = Arc::new(WorkerHealth::new(health(clock, &channels.turned)));
            channels.inbound.push(SystemSource {
                name: system.name.as_str().to_owned(),
                svarinn_url: system.svarinn_url.as_str().trim_end_matches('/').to_owned(),
                svarinn_api: system.svarinn_api,
                certificates: system.certificates.clone(),
                drop: DropFolder::new(&system.drop_folder),
                min_free_space: system.min_free_space,
                health: Arc::clone(&health),
            });
            channels.pipelines.push(Arc::new(InboundPipeline::new(
                system.clone(),
                journal.clone(),
                health,
                telemetry.system(system.name.as_str()),
                watch.clone(),
            )));
        }
        for system in &config.mottakersystemer {
            let health = Arc::new(OutboundHealth::new(health(clock, &channels.turned)));
            let Some(source) = OutboundSource::from_config(system, Arc::clone(&health)) else {
                continue;
            };
            channels.outbound.push(source);
            channels.pipelines.push(Arc::new(OutboundPipeline::new(
                system.clone(),
                journal_path.to_owned(),
                Arc::clone(clock),
                health,
                telemetry.system(system.name.as_str()),
                watch.clone(),
            )));
        }
        for system in &config.mottakersystemer {
            let health = Arc::new(FiksIoHealth::new(health(clock, &channels.turned)));
            let Some(source) = FiksIoSource::from_config(system, Arc::clone(&health)) else {
                continue;
            };
            channels.fiks_io.push(source);
            channels.pipelines.push(Arc::new(FiksIoPipeline::new(
                system.clone(),
                config.agent.state_dir.clone(),
                journal_path.to_owned(),
                Arc::clone(clock),
                health,
                telemetry.system(system.name.as_str()),
            )));
        }
        channels
    }
}
