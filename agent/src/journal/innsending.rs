//! One Digisos innsending is delivered once across channels (migration 4): the claim each
//! delivery takes on `(mottakersystem, digisosId, eksternRef)` before it is published, and
//! the links of the duplicates that were acknowledged without being delivered again.
//!
//! Fiks sends a søknad (or an ettersendelse) over Fiks IO and, when no receipt comes in time,
//! again over SvarInn as a `nav.digisos` forsendelse; both carry the same `{digisosId,
//! eksternRef}` JSON ([`InnsendingKey::from_metadata`], the one reader of it). eksternRef differs
//! per innsending (an ettersendelse has its søknad's digisosId and its own eksternRef); an
//! ettersendelse's `soknadLeveranseId` is the same on both channels, so it adds nothing to the key.
//!
//! How a channel uses it, in this order:
//! 1. Decrypt and check into staging (a message that cannot be decrypted never claims, so a
//!    bad copy never stops a good one on the other channel).
//! 2. In ONE transaction with the note that it is about to publish (SvarInn: the `publish`
//!    attempt; Fiks IO: its own), [`Journal::claim_innsending`]:
//!    - [`Claim::Ours`]: publish (rename into `inn/`) as usual. Taking it again with the same
//!      channel and id is `Ours` again, so a retry or a restart goes on.
//!    - [`Claim::DeliveredBy`]: do not publish; in the same transaction
//!      [`Journal::record_duplicate`]; then discard the staging, acknowledge at the channel
//!      (SvarInn `kvitterMottak`, or the AMQP ack) and journal it done. A restart finds the
//!      link ([`Journal::duplicate_of`]) before it looks for staging, and acknowledges
//!      without delivering.
//!
//! The crash points, with two channels racing for one key:
//! - Before the claim's transaction commits: nothing of it is durable; the forsendelse (or
//!   message) is worked on again from the start and claims again, and whichever channel's
//!   claim committed first is the one delivered. SQLite serialises the two writers
//!   (`BEGIN IMMEDIATE`), so two claims can never both be `Ours`.
//! - After the claim, before the rename: the staging is kept (the row is at its publishing
//!   step) and published after the restart; the claim is still this delivery's.
//! - After the rename, before the delivery is journaled: the folder is found in `inn/`; the
//!   claim is unchanged. The other channel, arriving at any of these moments, finds the claim
//!   taken and never publishes.
//! - A duplicate after its link, before its acknowledgement: the link makes the restart
//!   acknowledge it (and remove any staging), never publish it.
//!
//! What releases a claim: only [`Journal::release_innsending`], for a delivery given up before
//! it was ever published (SvarInn: a forsendelse made `permanent` without a `delivered_at`,
//! inside that transition), so that a søknad is never lost to a claim no folder stands behind.
//! A delivered innsending keeps its claim whatever happens next: the fagsystem rejecting the
//! folder (`feilet/`) is a matter for a person, not a reason to deliver it a second time.

use std::fmt;

use mottak_protocol::svarinn::DigisosForsendelseMetadata;
use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;

use super::{Journal, JournalError};
use crate::clock::from_millis;

/// The migration that creates the claim and duplicate tables (appended to
/// [`super::MIGRATIONS`] as version 4).
pub const MIGRATION: &str = "CREATE TABLE innsending_claim (
        mottakersystem TEXT NOT NULL,
        digisos_id     TEXT NOT NULL,
        ekstern_ref    TEXT NOT NULL,
        channel        TEXT NOT NULL CHECK (channel IN ('svarinn','fiks-io')),
        delivery_id    TEXT NOT NULL,
        claimed_at     INTEGER NOT NULL,
        PRIMARY KEY (mottakersystem, digisos_id, ekstern_ref)
    );
    CREATE INDEX innsending_claim_by_delivery
        ON innsending_claim (mottakersystem, channel, delivery_id);
    CREATE TABLE innsending_duplicate (
        mottakersystem TEXT NOT NULL,
        channel        TEXT NOT NULL CHECK (channel IN ('svarinn','fiks-io')),
        delivery_id    TEXT NOT NULL,
        digisos_id     TEXT NOT NULL,
        ekstern_ref    TEXT NOT NULL,
        held_channel   TEXT NOT NULL CHECK (held_channel IN ('svarinn','fiks-io')),
        held_id        TEXT NOT NULL,
        held_at        INTEGER NOT NULL,
        at             INTEGER NOT NULL,
        PRIMARY KEY (mottakersystem, channel, delivery_id)
    );
    CREATE INDEX innsending_duplicate_by_time ON innsending_duplicate (mottakersystem, at);";

/// The channel a Digisos innsending arrives by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// A `nav.digisos` forsendelse from SvarInn; its id is the forsendelse id.
    SvarInn,
    /// A Fiks IO message; its id is the `melding-id`.
    FiksIo,
}

impl Channel {
    /// Its name in the journal (and on consoles): `svarinn` or `fiks-io`.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::SvarInn => "svarinn",
            Channel::FiksIo => "fiks-io",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        match s {
            "svarinn" => Some(Channel::SvarInn),
            "fiks-io" => Some(Channel::FiksIo),
            _ => None,
        }
    }

    /// How a person calls it (logs, reasons).
    pub fn title(self) -> &'static str {
        match self {
            Channel::SvarInn => "SvarInn forsendelse",
            Channel::FiksIo => "Fiks IO melding",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The most bytes a key part may have: ids, not text.
const MAX_KEY_PART: usize = 256;

/// What identifies one innsending across channels (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InnsendingKey {
    pub digisos_id: String,
    pub ekstern_ref: String,
}

impl InnsendingKey {
    /// The key a `{digisosId, eksternRef}` JSON names; refused (with why) when either is empty,
    /// longer than 256 bytes, or holds a control character.
    pub fn from_metadata(meta: &DigisosForsendelseMetadata) -> Result<InnsendingKey, String> {
        let part = |name: &str, value: &str| -> Result<String, String> {
            if value.trim().is_empty() {
                return Err(format!("{name} is empty"));
            }
            if value.len() > MAX_KEY_PART {
                return Err(format!("{name} is longer than {MAX_KEY_PART} bytes"));
            }
            if value.chars().any(char::is_control) {
                return Err(format!("{name} holds a control character"));
            }
            Ok(value.to_owned())
        };
        Ok(InnsendingKey {
            digisos_id: part("digisosId", &meta.digisos_id)?,
            ekstern_ref: part("eksternRef", &meta.ekstern_ref)?,
        })
    }

    /// The key from the `{digisosId, eksternRef}` JSON (SvarInn's `forsendelseMetadata.json`,
    /// the JSON data file of a Fiks IO Digisos message): the one reader both channels use.
    pub fn read(json: impl std::io::Read) -> Result<InnsendingKey, String> {
        Self::from_metadata(&DigisosForsendelseMetadata::read(json)?)
    }

    /// `found` (the key, `Ok(None)` when the innsending carries none, or why it could not be
    /// read) as an `Option`, with a warning naming `what` when there is no key: that
    /// innsending is then delivered without the dedupe, never held back for it.
    pub fn or_warn(
        found: Result<Option<InnsendingKey>, String>,
        what: &str,
    ) -> Option<InnsendingKey> {
        match found {
            Ok(Some(key)) => Some(key),
            Ok(None) => {
                tracing::warn!(
                    "{what} carries no {{digisosId, eksternRef}}: delivered without the check that it did not come by the other channel"
                );
                None
            }
            Err(err) => {
                tracing::warn!(error = %err, "{what}: its {{digisosId, eksternRef}} cannot be read: delivered without the check that it did not come by the other channel");
                None
            }
        }
    }
}

/// The delivery that holds an innsending's claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimHolder {
    pub channel: Channel,
    /// The forsendelse id or `melding-id`.
    pub id: String,
    /// When it claimed (just before it was published).
    pub at: OffsetDateTime,
}

/// What [`Journal::claim_innsending`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This delivery holds the claim (new, or held already by the same channel and id):
    /// publish it.
    Ours,
    /// Another delivery holds it: do not publish; record the duplicate and acknowledge.
    DeliveredBy(ClaimHolder),
}

/// A delivery acknowledged without being delivered again, and the one that was delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    pub mottakersystem: String,
    pub channel: Channel,
    pub id: String,
    pub key: InnsendingKey,
    pub delivered_by: ClaimHolder,
    /// When the duplicate was found.
    pub at: OffsetDateTime,
}

impl Journal {
    /// Claims the innsending `key` of `mottakersystem` for `channel`'s delivery `id`, before
    /// it is published (see the module doc: in the same transaction as the note that it is
    /// publishing). Committed before it returns, or inside a group commit with the group.
    pub fn claim_innsending(
        &mut self,
        mottakersystem: &str,
        key: &InnsendingKey,
        channel: Channel,
        id: &str,
    ) -> Result<Claim, JournalError> {
        let now = self.now();
        let tx = self.write_tx()?;
        let claim = claim_in(&tx, mottakersystem, key, channel, id, now)?;
        tx.commit()?;
        Ok(claim)
    }

    /// Records that `channel`'s delivery `id` of `key` was not delivered because
    /// `delivered_by` holds the claim. Recording it again changes nothing.
    pub fn record_duplicate(
        &mut self,
        mottakersystem: &str,
        key: &InnsendingKey,
        channel: Channel,
        id: &str,
        delivered_by: &ClaimHolder,
    ) -> Result<(), JournalError> {
        let now = self.now();
        let tx = self.write_tx()?;
        record_duplicate_in(&tx, mottakersystem, key, channel, id, delivered_by, now)?;
        tx.commit()?;
        Ok(())
    }

    /// Gives up the claim `channel`'s delivery `id` holds, if it holds one: for a delivery
    /// abandoned before it was ever published. `true` when one was released.
    pub fn release_innsending(
        &mut self,
        mottakersystem: &str,
        channel: Channel,
        id: &str,
    ) -> Result<bool, JournalError> {
        let tx = self.write_tx()?;
        let released = release_in(&tx, mottakersystem, channel, id)?;
        tx.commit()?;
        Ok(released)
    }

    /// The claim on `key`, if one is held.
    pub fn innsending_claim(
        &self,
        mottakersystem: &str,
        key: &InnsendingKey,
    ) -> Result<Option<ClaimHolder>, JournalError> {
        holder_of(&self.conn, mottakersystem, key)
    }

    /// The link of `channel`'s delivery `id`, if it was found to be a duplicate.
    pub fn duplicate_of(
        &self,
        mottakersystem: &str,
        channel: Channel,
        id: &str,
    ) -> Result<Option<Duplicate>, JournalError> {
        let sql = format!(
            "SELECT {DUPLICATE_COLUMNS} FROM innsending_duplicate
             WHERE mottakersystem = ?1 AND channel = ?2 AND delivery_id = ?3"
        );
        self.conn
            .prepare_cached(&sql)?
            .query_row(
                params![mottakersystem, channel.as_str(), id],
                read_duplicate,
            )
            .optional()?
            .transpose()
    }

    /// The duplicates of `mottakersystem`, newest first, at most `limit` (consoles).
    pub fn duplicates(
        &self,
        mottakersystem: &str,
        limit: usize,
    ) -> Result<Vec<Duplicate>, JournalError> {
        let sql = format!(
            "SELECT {DUPLICATE_COLUMNS} FROM innsending_duplicate WHERE mottakersystem = ?1
             ORDER BY at DESC, channel, delivery_id LIMIT ?2"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(
            params![mottakersystem, i64::try_from(limit).unwrap_or(i64::MAX)],
            read_duplicate,
        )?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row??);
        }
        Ok(out)
    }

    /// How many duplicates each mottakersystem has had (those without are left out).
    pub fn duplicate_counts(&self) -> Result<Vec<(String, u64)>, JournalError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT mottakersystem, COUNT(*) FROM innsending_duplicate
             GROUP BY mottakersystem ORDER BY mottakersystem",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.unsigned_abs()))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// [`Journal::claim_innsending`] inside `tx`, for journal modules that write their own
/// transaction around it (`now`: Unix ms).
pub(super) fn claim_in(
    tx: &Connection,
    mottakersystem: &str,
    key: &InnsendingKey,
    channel: Channel,
    id: &str,
    now: i64,
) -> Result<Claim, JournalError> {
    // Under the transaction's write lock: nobody claims between this insert and the read.
    tx.prepare_cached(
        "INSERT OR IGNORE INTO innsending_claim
             (mottakersystem, digisos_id, ekstern_ref, channel, delivery_id, claimed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        mottakersystem,
        key.digisos_id,
        key.ekstern_ref,
        channel.as_str(),
        id,
        now
    ])?;
    let holder = holder_of(tx, mottakersystem, key)?.ok_or_else(|| {
        JournalError::Corrupt("an innsending claim just written is not there".to_owned())
    })?;
    Ok(if holder.channel == channel && holder.id == id {
        Claim::Ours
    } else {
        Claim::DeliveredBy(holder)
    })
}

/// [`Journal::record_duplicate`] inside `tx`.
pub(super) fn record_duplicate_in(
    tx: &Connection,
    mottakersystem: &str,
    key: &InnsendingKey,
    channel: Channel,
    id: &str,
    delivered_by: &ClaimHolder,
    now: i64,
) -> Result<(), JournalError> {
    tx.prepare_cached(
        "INSERT OR IGNORE INTO innsending_duplicate (mottakersystem, channel, delivery_id,
             digisos_id, ekstern_ref, held_channel, held_id, held_at, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        mottakersystem,
        channel.as_str(),
        id,
        key.digisos_id,
        key.ekstern_ref,
        delivered_by.channel.as_str(),
        delivered_by.id,
        crate::clock::to_millis(delivered_by.at),
        now
    ])?;
    Ok(())
}

/// [`Journal::release_innsending`] inside `tx`.
pub(super) fn release_in(
    tx: &Connection,
    mottakersystem: &str,
    channel: Channel,
    id: &str,
) -> Result<bool, JournalError> {
    let released = tx
        .prepare_cached(
            "DELETE FROM innsending_claim
             WHERE mottakersystem = ?1 AND channel = ?2 AND delivery_id = ?3",
        )?
        .execute(params![mottakersystem, channel.as_str(), id])?;
    if released > 0 {
        tracing::info!(
            mottakersystem,
            channel = channel.as_str(),
            id,
            "released the innsending's claim: it was given up before it was delivered"
        );
    }
    Ok(released > 0)
}

fn holder_of(
    conn: &Connection,
    mottakersystem: &str,
    key: &InnsendingKey,
) -> Result<Option<ClaimHolder>, JournalError> {
    let found: Option<(String, String, i64)> = conn
        .prepare_cached(
            "SELECT channel, delivery_id, claimed_at FROM innsending_claim
             WHERE mottakersystem = ?1 AND digisos_id = ?2 AND ekstern_ref = ?3",
        )?
        .query_row(
            params![mottakersystem, key.digisos_id, key.ekstern_ref],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    found
        .map(|(channel, id, at)| {
            Ok(ClaimHolder {
                channel: parse_channel(&channel)?,
                id,
                at: from_millis(at),
            })
        })
        .transpose()
}

fn parse_channel(s: &str) -> Result<Channel, JournalError> {
    Channel::parse(s).ok_or_else(|| JournalError::Corrupt(format!("unknown channel {s:?}")))
}

const DUPLICATE_COLUMNS: &str = "mottakersystem, channel, delivery_id, digisos_id, ekstern_ref,
    held_channel, held_id, held_at, at";

fn read_duplicate(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Duplicate, JournalError>> {
    let channel: String = r.get(1)?;
    let held: String = r.get(5)?;
    let (mottakersystem, id, digisos_id, ekstern_ref, held_id, held_at, at) = (
        r.get(0)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    );
    Ok((|| {
        Ok(Duplicate {
            mottakersystem,
            channel: parse_channel(&channel)?,
            id,
            key: InnsendingKey {
                digisos_id,
                ekstern_ref,
            },
            delivered_by: ClaimHolder {
                channel: parse_channel(&held)?,
                id: held_id,
                at: from_millis(held_at),
            },
            at: from_millis(at),
        })
    })())
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use time::macros::datetime;

    use super::*;
    use crate::journal::{Clock, FILE_NAME, ManualClock, SharedJournal};

    const SYS: &str = "nav-frogn";

    fn key(r: &str) -> InnsendingKey {
        InnsendingKey {
            digisos_id: "d3b07384-d9a0-4c4b-8b5a-2e1c2f9e9a11".into(),
            ekstern_ref: r.into(),
        }
    }

    fn open(dir: &Path) -> (Journal, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(datetime!(2026-12-04 21:00 UTC)));
        (
            Journal::open(&dir.join(FILE_NAME), clock.clone()).unwrap(),
            clock,
        )
    }

    #[test]
    fn the_first_claim_wins_and_holds_against_the_other_channel() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, clock) = open(dir.path());
        assert_eq!(j.innsending_claim(SYS, &key("r1")).unwrap(), None);
        assert_eq!(
            j.claim_innsending(SYS, &key("r1"), Channel::FiksIo, "m-1")
                .unwrap(),
            Claim::Ours
        );
        clock.advance(std::time::Duration::from_secs(30 * 60));
        let holder = ClaimHolder {
            channel: Channel::FiksIo,
            id: "m-1".into(),
            at: datetime!(2026-12-04 21:00 UTC),
        };
        assert_eq!(
            j.claim_innsending(SYS, &key("r1"), Channel::SvarInn, "f-1")
                .unwrap(),
            Claim::DeliveredBy(holder.clone())
        );
        // Another id on the same channel is a duplicate too: never twice.
        assert_eq!(
            j.claim_innsending(SYS, &key("r1"), Channel::FiksIo, "m-2")
                .unwrap(),
            Claim::DeliveredBy(holder.clone())
        );
        assert_eq!(j.innsending_claim(SYS, &key("r1")).unwrap(), Some(holder));
        // Another eksternRef (an ettersendelse of the same case), or another
        // mottakersystem, is another innsending.
        assert_eq!(
            j.claim_innsending(SYS, &key("r2"), Channel::SvarInn, "f-1")
                .unwrap(),
            Claim::Ours
        );
        assert_eq!(
            j.claim_innsending("byggesak", &key("r1"), Channel::SvarInn, "f-1")
                .unwrap(),
            Claim::Ours
        );
    }

    #[test]
    fn claiming_again_with_the_same_channel_and_id_is_ours_across_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, clock) = open(dir.path());
        assert_eq!(
            j.claim_innsending(SYS, &key("r1"), Channel::SvarInn, "f-1")
                .unwrap(),
            Claim::Ours
        );
        drop(j);
        let (mut j, _) = open(dir.path());
        clock.advance(std::time::Duration::from_secs(3600));
        assert_eq!(
            j.claim_innsending(SYS, &key("r1"), Channel::SvarInn, "f-1")
                .unwrap(),
            Claim::Ours
        );
        // The claim keeps its first time.
        assert_eq!(
            j.innsending_claim(SYS, &key("r1")).unwrap().unwrap().at,
            datetime!(2026-12-04 21:00 UTC)
        );
        assert!(matches!(
            j.claim_innsending(SYS, &key("r1"), Channel::FiksIo, "m-1")
                .unwrap(),
            Claim::DeliveredBy(ClaimHolder { channel: Channel::SvarInn, ref id, .. }) if id == "f-1"
        ));
    }

    /// A crash between the claim and anything after it (the transaction not
    /// committed) leaves no claim; a committed one survives the crash.
    #[test]
    fn an_uncommitted_claim_is_gone_after_a_crash_and_a_committed_one_stays() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, _) = open(dir.path());
        j.claim_innsending(SYS, &key("kept"), Channel::FiksIo, "m-1")
            .unwrap();
        {
            let tx = j
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .unwrap();
            claim_in(&tx, SYS, &key("lost"), Channel::FiksIo, "m-2", 0).unwrap();
            // Dropped without commit: what a crash before the commit leaves.
        }
        drop(j);
        let (mut j, _) = open(dir.path());
        assert_eq!(j.innsending_claim(SYS, &key("lost")).unwrap(), None);
        assert_eq!(
            j.claim_innsending(SYS, &key("lost"), Channel::SvarInn, "f-9")
                .unwrap(),
            Claim::Ours
        );
        assert!(matches!(
            j.claim_innsending(SYS, &key("kept"), Channel::SvarInn, "f-1")
                .unwrap(),
            Claim::DeliveredBy(_)
        ));
    }

    #[test]
    fn duplicates_are_linked_once_and_listed_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, clock) = open(dir.path());
        for (r, m) in [("r1", "m-1"), ("r2", "m-2")] {
            j.claim_innsending(SYS, &key(r), Channel::FiksIo, m)
                .unwrap();
        }
        for (r, f) in [("r1", "f-1"), ("r2", "f-2")] {
            clock.advance(std::time::Duration::from_secs(5 * 60));
            let Claim::DeliveredBy(holder) = j
                .claim_innsending(SYS, &key(r), Channel::SvarInn, f)
                .unwrap()
            else {
                panic!("{r} was claimed by Fiks IO");
            };
            j.record_duplicate(SYS, &key(r), Channel::SvarInn, f, &holder)
                .unwrap();
            // Recorded again after a restart: still one link, its first time.
            clock.advance(std::time::Duration::from_secs(60));
            j.record_duplicate(SYS, &key(r), Channel::SvarInn, f, &holder)
                .unwrap();
        }
        let all = j.duplicates(SYS, 10).unwrap();
        assert_eq!(
            all.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
            ["f-2", "f-1"]
        );
        let f1 = j
            .duplicate_of(SYS, Channel::SvarInn, "f-1")
            .unwrap()
            .unwrap();
        assert_eq!(f1.key, key("r1"));
        assert_eq!(f1.delivered_by.channel, Channel::FiksIo);
        assert_eq!(f1.delivered_by.id, "m-1");
        assert_eq!(f1.at, datetime!(2026-12-04 21:05 UTC));
        assert_eq!(j.duplicates(SYS, 1).unwrap().len(), 1);
        assert_eq!(j.duplicate_of(SYS, Channel::FiksIo, "f-1").unwrap(), None);
        assert_eq!(j.duplicate_counts().unwrap(), vec![(SYS.to_owned(), 2)]);
        assert!(j.duplicates("byggesak", 10).unwrap().is_empty());
    }

    #[test]
    fn a_delivery_given_up_before_publishing_releases_only_its_own_claim() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, _) = open(dir.path());
        j.claim_innsending(SYS, &key("r1"), Channel::SvarInn, "f-1")
            .unwrap();
        assert!(!j.release_innsending(SYS, Channel::FiksIo, "f-1").unwrap());
        assert!(!j.release_innsending(SYS, Channel::SvarInn, "f-2").unwrap());
        assert!(j.release_innsending(SYS, Channel::SvarInn, "f-1").unwrap());
        assert_eq!(
            j.claim_innsending(SYS, &key("r1"), Channel::FiksIo, "m-1")
                .unwrap(),
            Claim::Ours
        );
    }

    /// A SvarInn forsendelse made permanent before it was published releases its claim; one
    /// rejected by the fagsystem after delivery and then made permanent keeps it.
    #[test]
    fn a_forsendelse_given_up_unpublished_releases_its_claim_a_rejected_one_keeps_it() {
        use crate::journal::{Change, NewForsendelse};
        use crate::names::ForsendelseId;
        let dir = tempfile::tempdir().unwrap();
        let (mut j, clock) = open(dir.path());
        let listed = |id: &str| NewForsendelse {
            id: ForsendelseId::parse(id).unwrap(),
            tittel: "Søknad".into(),
            avsender_navn: None,
            forsendelse_type: Some("nav.digisos".into()),
            sendt_at: None,
            size: None,
            raw_json: "{}".into(),
        };
        for (f, r) in [("f-1", "r1"), ("f-2", "r2")] {
            let id = ForsendelseId::parse(f).unwrap();
            j.record_listed(SYS, &listed(f)).unwrap();
            j.transition(SYS, &id, Change::Downloaded).unwrap();
            j.claim_innsending(SYS, &key(r), Channel::SvarInn, f)
                .unwrap();
        }
        // f-1: its publish kept failing, and a person gave up on it.
        let f1 = ForsendelseId::parse("f-1").unwrap();
        j.transition(
            SYS,
            &f1,
            Change::RetryWait {
                next_attempt_at: clock.now(),
                error: "inn/ is not writable".into(),
            },
        )
        .unwrap();
        j.transition(
            SYS,
            &f1,
            Change::Permanent {
                reason: "given up".into(),
            },
        )
        .unwrap();
        assert_eq!(j.innsending_claim(SYS, &key("r1")).unwrap(), None);
        // f-2: delivered, rejected by the fagsystem, then given up.
        let f2 = ForsendelseId::parse("f-2").unwrap();
        j.transition(
            SYS,
            &f2,
            Change::Delivered {
                folder_name: "f-2".into(),
                digisos_id: None,
            },
        )
        .unwrap();
        j.transition(SYS, &f2, Change::Rejected { reason: None })
            .unwrap();
        j.transition(
            SYS,
            &f2,
            Change::Permanent {
                reason: "given up".into(),
            },
        )
        .unwrap();
        assert_eq!(
            j.innsending_claim(SYS, &key("r2")).unwrap().unwrap().id,
            "f-2"
        );
    }

    /// The claim and the caller's own note commit together in a group, or
    /// neither does.
    #[tokio::test]
    async fn a_claim_in_a_failing_group_job_is_rolled_back_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let (j, _) = open(dir.path());
        let shared = SharedJournal::new(j);
        let failed = shared
            .write(|j| {
                j.claim_innsending(SYS, &key("r1"), Channel::FiksIo, "m-1")?;
                Err::<(), _>(JournalError::Corrupt("the caller's note failed".into()))
            })
            .await;
        assert!(failed.is_err());
        let claim = shared
            .write(|j| j.claim_innsending(SYS, &key("r1"), Channel::SvarInn, "f-1"))
            .await
            .unwrap();
        assert_eq!(claim, Claim::Ours);
    }

    #[test]
    fn the_key_is_read_from_either_channels_json() {
        let key = InnsendingKey::read(
            &br#"{"eksternRef":"11000001","digisosId":"d3b07384-d9a0-4c4b-8b5a-2e1c2f9e9a11",
                 "soknadLeveranseId":{"sendtKanal":"FIKS_IO","id":"0b3a4c5d-0000-4000-8000-000000000001"}}"#[..],
        )
        .unwrap();
        assert_eq!(key.ekstern_ref, "11000001");
        assert_eq!(key.digisos_id, "d3b07384-d9a0-4c4b-8b5a-2e1c2f9e9a11");
        for (bad, why) in [
            (r#"{"digisosId":"d"}"#.to_owned(), "missing field"),
            (
                r#"{"eksternRef":"","digisosId":"d"}"#.to_owned(),
                "eksternRef is empty",
            ),
            (
                r#"{"eksternRef":"a\u0000","digisosId":"d"}"#.to_owned(),
                "control character",
            ),
            (
                format!(r#"{{"eksternRef":"{}","digisosId":"d"}}"#, "x".repeat(300)),
                "longer than",
            ),
            ("not json".to_owned(), "expected"),
            (
                format!(
                    r#"{{"eksternRef":"a","digisosId":"d","pad":"{}"}}"#,
                    " ".repeat(70_000)
                ),
                "larger than",
            ),
        ] {
            let err = InnsendingKey::read(bad.as_bytes()).unwrap_err();
            assert!(err.contains(why), "{bad:.60}: {err}");
        }
        assert_eq!(InnsendingKey::or_warn(Ok(None), "forsendelse f-1"), None);
        assert_eq!(
            InnsendingKey::or_warn(Err("bad".into()), "forsendelse f-1"),
            None
        );
        assert_eq!(
            InnsendingKey::or_warn(Ok(Some(key.clone())), "forsendelse f-1"),
            Some(key)
        );
    }

    #[test]
    fn channels_round_trip_their_names() {
        for c in [Channel::SvarInn, Channel::FiksIo] {
            assert_eq!(Channel::parse(c.as_str()), Some(c));
        }
        assert_eq!(Channel::FiksIo.as_str(), "fiks-io");
        assert_eq!(Channel::parse("svarut"), None);
    }
}
