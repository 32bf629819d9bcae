//! What consoles are shown of a mottakersystem's Fiks IO link
//! ([`FiksIoLink`] in its `IntegrationStatus`): the pipeline's live link
//! status beside what the journal holds (failed messages, receipts owed).

use std::sync::Arc;

use mottak_protocol::console::{FiksIoLink, Text};

use super::FiksIoHealth;
use crate::config::Mottakersystem;
use crate::journal::{Journal, JournalError};

/// One mottakersystem's Fiks IO channel, for the console state.
#[derive(Debug, Clone)]
pub struct FiksIoSource {
    pub name: String,
    pub amqp_url: String,
    pub api_url: String,
    pub konto_id: String,
    pub health: Arc<FiksIoHealth>,
}

impl FiksIoSource {
    /// `None` for a mottakersystem without `[mottakersystem.fiks_io]`.
    pub fn from_config(system: &Mottakersystem, health: Arc<FiksIoHealth>) -> Option<Self> {
        let f = system.fiks_io.as_ref()?;
        Some(FiksIoSource {
            name: system.name.as_str().to_owned(),
            amqp_url: without_credentials(f.amqp_url.as_str()),
            api_url: f.api_url.as_str().trim_end_matches('/').to_owned(),
            konto_id: f.konto_id.clone(),
            health,
        })
    }

    /// The link as consoles see it now; down since when the pipeline last
    /// lost or never made its connection (`since_ms` when none is known:
    /// the agent's start).
    pub fn link(&self, reader: &Journal, since_ms: i64) -> Result<FiksIoLink, JournalError> {
        let live = self.health.link();
        let j = reader.fiks_io_summary(&self.name)?;
        let setup_error = self.health.pipeline.setup_failure().map(|f| f.error);
        Ok(FiksIoLink {
            amqp_url: self.amqp_url.clone(),
            api_url: self.api_url.clone(),
            konto_id: self.konto_id.clone(),
            connected_since: live.connected_since,
            down_since: live
                .connected_since
                .is_none()
                .then(|| live.down_since.unwrap_or(since_ms)),
            consumer: live.connected_since.map(|_| "mottak-agent".to_owned()),
            last_message_at: live.last_message_at,
            waiting_at_fiks: None,
            waiting_read_at: None,
            unacked: u32::try_from(live.unacked).unwrap_or(u32::MAX),
            delivered: j.delivered,
            failed: j.failed,
            receipts_owed: j.receipts_owed,
            receipts_failing: j.receipts_failing,
            oldest_receipt_owed_at: j.oldest_receipt_owed_at,
            last_receipt_error: j.last_receipt_error.map(Text::from),
            last_error: live.last_error.or(setup_error).map(Text::from),
            last_error_at: live.down_since,
        })
    }
}

/// `amqps://user:pass@host:5671/vhost` → `amqps://host:5671/vhost`: a URL
/// in the config never carries credentials (they are the integration's),
/// but a console is not the place to find out.
fn without_credentials(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((_, host)) if !host.contains('/') || rest.find('@') < rest.find('/') => {
                format!("{scheme}://{host}")
            }
            _ => url.to_owned(),
        },
        None => url.to_owned(),
    }
    .trim_end_matches('/')
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_on_a_console_has_no_credentials() {
        assert_eq!(
            without_credentials("amqps://io.fiks.ks.no:5671"),
            "amqps://io.fiks.ks.no:5671"
        );
        assert_eq!(
            without_credentials("amqp://u:p@127.0.0.1:5672/%2f"),
            "amqp://127.0.0.1:5672/%2f"
        );
    }
}
