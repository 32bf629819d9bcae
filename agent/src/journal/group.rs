//! [`GroupTx`]: the journal as one job of a group commit sees it
//! ([`SharedJournal::write`](super::SharedJournal::write)).
//!
//! A group is one `BEGIN IMMEDIATE`; each job runs in a savepoint of it. The
//! forsendelse writes below take their transaction from `write_tx`, which
//! becomes a savepoint inside a group. The access and outbound writes open
//! their own `BEGIN IMMEDIATE` and would fail (nested transaction) inside
//! one: they take `&mut Journal`, which a job never gets, so calling one in
//! a group does not compile. Queries (`&self`) are all reachable through
//! `Deref`.

use std::ops::Deref;

use super::{
    Change, Channel, Claim, ClaimHolder, Counters, InnsendingKey, Journal, JournalError,
    ListedDecision, NewForsendelse, Outcome, Row, Work,
};
use crate::config::AckMode;
use crate::names::ForsendelseId;

/// One job's view of the journal inside a group commit: every query, and
/// only the writes that join the group's transaction.
pub struct GroupTx<'a>(pub(super) &'a mut Journal);

impl Deref for GroupTx<'_> {
    type Target = Journal;

    fn deref(&self) -> &Journal {
        self.0
    }
}

impl GroupTx<'_> {
    /// [`Journal::record_listed`].
    pub fn record_listed(
        &mut self,
        mottakersystem: &str,
        f: &NewForsendelse,
    ) -> Result<ListedDecision, JournalError> {
        self.0.record_listed(mottakersystem, f)
    }

    /// [`Journal::record_listed_page`].
    pub fn record_listed_page(
        &mut self,
        mottakersystem: &str,
        page: &[NewForsendelse],
    ) -> Result<Vec<ListedDecision>, JournalError> {
        self.0.record_listed_page(mottakersystem, page)
    }

    /// [`Journal::replace_listing`].
    pub fn replace_listing(
        &mut self,
        mottakersystem: &str,
        f: &NewForsendelse,
    ) -> Result<bool, JournalError> {
        self.0.replace_listing(mottakersystem, f)
    }

    /// [`Journal::transition`].
    pub fn transition(
        &mut self,
        mottakersystem: &str,
        id: &ForsendelseId,
        change: Change,
    ) -> Result<Row, JournalError> {
        self.0.transition(mottakersystem, id, change)
    }

    /// [`Journal::record_attempt`].
    pub fn record_attempt(
        &mut self,
        mottakersystem: &str,
        id: &ForsendelseId,
        action: &str,
        outcome: &Outcome,
    ) -> Result<Counters, JournalError> {
        self.0.record_attempt(mottakersystem, id, action, outcome)
    }

    /// [`Journal::mark_feil_reported`].
    pub fn mark_feil_reported(
        &mut self,
        mottakersystem: &str,
        id: &ForsendelseId,
    ) -> Result<(), JournalError> {
        self.0.mark_feil_reported(mottakersystem, id)
    }

    /// [`Journal::wake_due`].
    pub fn wake_due(&mut self, mottakersystem: Option<&str>) -> Result<usize, JournalError> {
        self.0.wake_due(mottakersystem)
    }

    /// [`Journal::due_work`].
    pub fn due_work(
        &mut self,
        mottakersystem: &str,
        ack: AckMode,
    ) -> Result<Vec<(Row, Work)>, JournalError> {
        self.0.due_work(mottakersystem, ack)
    }

    /// [`Journal::claim_innsending`].
    pub fn claim_innsending(
        &mut self,
        mottakersystem: &str,
        key: &InnsendingKey,
        channel: Channel,
        id: &str,
    ) -> Result<Claim, JournalError> {
        self.0.claim_innsending(mottakersystem, key, channel, id)
    }

    /// [`Journal::record_duplicate`].
    pub fn record_duplicate(
        &mut self,
        mottakersystem: &str,
        key: &InnsendingKey,
        channel: Channel,
        id: &str,
        delivered_by: &ClaimHolder,
    ) -> Result<(), JournalError> {
        self.0
            .record_duplicate(mottakersystem, key, channel, id, delivered_by)
    }

    /// [`Journal::release_innsending`].
    pub fn release_innsending(
        &mut self,
        mottakersystem: &str,
        channel: Channel,
        id: &str,
    ) -> Result<bool, JournalError> {
        self.0.release_innsending(mottakersystem, channel, id)
    }
}
