//! A nav.digisos forsendelse whose innsending was already delivered (by Fiks IO, or as another
//! forsendelse): claimed before publishing, and when the claim is another's, acknowledged at
//! SvarInn without being delivered again (`journal::innsending` has the crash points).

use tracing::{info, warn};

use super::{Worker, WorkerError, blocking};
use crate::inbound::link::Pool;
use crate::journal::{
    Change, Channel, Claim, ClaimHolder, GroupTx, InnsendingKey, JournalError, Outcome, Row,
};
use crate::names::ForsendelseId;

/// The history action recorded before a staging folder is renamed into `inn/`.
pub(super) const PUBLISH: &str = "publish";

/// In the transaction that notes a forsendelse is about to be published: claims its innsending
/// (when it has a key) and then records the `publish` attempt (when `note_publish`), or, when
/// another delivery holds the claim, records the duplicate instead and returns that delivery.
pub(super) fn claim_for_publish(
    j: &mut GroupTx<'_>,
    name: &str,
    id: &ForsendelseId,
    key: Option<&InnsendingKey>,
    note_publish: bool,
) -> Result<Option<ClaimHolder>, JournalError> {
    if let Some(key) = key
        && let Claim::DeliveredBy(holder) =
            j.claim_innsending(name, key, Channel::SvarInn, id.as_str())?
    {
        j.record_duplicate(name, key, Channel::SvarInn, id.as_str(), &holder)?;
        return Ok(Some(holder));
    }
    if note_publish {
        j.record_attempt(name, id, PUBLISH, &Outcome::Ok)?;
    }
    Ok(None)
}

impl Worker {
    /// The duplicate link of this forsendelse, if it was found to be one.
    pub(super) async fn duplicate_link(
        &self,
        row: &Row,
    ) -> Result<Option<ClaimHolder>, WorkerError> {
        let (name, id) = (self.name().to_owned(), row.id.clone());
        Ok(self
            .journal
            .read(move |j| j.duplicate_of(&name, Channel::SvarInn, id.as_str()))
            .await?
            .map(|d| d.delivered_by))
    }

    /// `downloaded`, its link journaled → `acked` without publishing: the staging (if any is
    /// left) removed, then acknowledged at SvarInn (`kvitterMottak` or status MOTTATT), in
    /// either ack mode since no folder waits for the fagsystem. A failed acknowledgement waits
    /// and comes back here; so does a restart at any point.
    pub(super) async fn acknowledge_duplicate(
        &self,
        row: &Row,
        holder: &ClaimHolder,
    ) -> Result<Row, WorkerError> {
        let (drop, id) = (self.drop.clone(), row.id.clone());
        blocking(move || match drop.existing_staging(&id) {
            Some(staging) => drop.discard(staging),
            None => Ok(()),
        })
        .await??;
        let action = self.client.ack_name();
        let result = {
            let _slot = self.link.slot(Pool::Calls).await;
            self.client.acknowledge(row.id.as_str()).await
        };
        if let Err(err) = result {
            let error = err.to_string();
            let counters = self
                .attempt(
                    row,
                    action,
                    Outcome::Failed {
                        error: error.clone(),
                    },
                )
                .await?;
            warn!(error = %error, "{action} of a duplicate failed; trying again later");
            return self.retry_later(row, counters.attempts, error).await;
        }
        info!(
            forsendelse = row.id.as_str(),
            delivered_by = holder.channel.as_str(),
            delivered_as = holder.id.as_str(),
            "not delivered again: the same innsending was delivered as {} {}; acknowledged ({action})",
            holder.channel.title(),
            holder.id
        );
        let reason = format!(
            "not delivered again: the same innsending (digisosId and eksternRef) was delivered as {} {} at {}; acknowledged at SvarInn",
            holder.channel.title(),
            holder.id,
            holder
                .at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        );
        let (name, id) = (self.name().to_owned(), row.id.clone());
        Ok(self
            .journal
            .write(move |j| {
                j.record_attempt(&name, &id, action, &Outcome::Ok)?;
                j.transition(&name, &id, Change::AckedAsDuplicate { reason })
            })
            .await?)
    }
}
