//! The outbound side's errors, by kind (as inbound's `WorkerError`): a
//! caller decides by the variant, a person reads the message.
//!
//! Problems with the fagsystem's input are not errors here: they are lines
//! for `feil.txt` (`validate`), and the update goes to `ut-feilet/`.

use crate::dropfolder::dirfd::{DirError, Kind};
use crate::journal::JournalError;
use crate::journal::outbound::OutboundState;

/// Why one turn of an outbound worker stopped early (it is tried again at
/// the next turn; nothing is lost).
#[derive(Debug, thiserror::Error)]
pub enum TurnError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// A blocking file task panicked or was cancelled.
    #[error("a file task did not finish: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("cannot list the claimed updates: {0}")]
    ListClaims(#[source] DirError),
    #[error("cannot read ut/: {0}")]
    ReadUt(#[source] DirError),
    #[error(
        "cannot claim ut/{folder} into {staging}: {source}; the agent's user must be able to rename folders out of ut/"
    )]
    Claim {
        folder: String,
        staging: String,
        #[source]
        source: DirError,
    },
}

/// Why `ut-feilet/<folder>` is not the folder the agent put there.
#[derive(Debug, thiserror::Error)]
pub enum FeiletProblem {
    #[error("cannot look at {shown}: {source}")]
    Unreadable {
        shown: String,
        #[source]
        source: DirError,
    },
    #[error(
        "{shown} is gone (the fagsystem removed it?): nothing to send; have the fagsystem write the case again to ut/"
    )]
    Gone { shown: String },
    #[error(
        "{shown} is {}, not the folder the agent put there: someone replaced it, and the agent never follows links or sends from anywhere else; nothing was sent. Put the original folder back in its place, or have the fagsystem write the case again to ut/",
        found.described()
    )]
    Replaced { shown: String, found: Kind },
}

/// Why a person's retry or discard of a failed saksoppdatering was refused
/// or not finished.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// A blocking file task panicked or was cancelled.
    #[error("a file task did not finish: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error(
        "several saksoppdateringer of {mottakersystem} show as {shown}: act on them in the drop folder (ut-feilet/), or move all but one away first"
    )]
    Ambiguous {
        mottakersystem: String,
        shown: String,
    },
    #[error("no saksoppdatering {update_id} in {mottakersystem}")]
    NotFound {
        mottakersystem: String,
        update_id: String,
    },
    #[error("saksoppdatering {update_id} is {state}, not failed: nothing to retry")]
    NotRetryable {
        update_id: String,
        state: OutboundState,
    },
    #[error("saksoppdatering {update_id} is {state}, not failed: only failures can be discarded")]
    NotDiscardable {
        update_id: String,
        state: OutboundState,
    },
    #[error(
        "a newer saksoppdatering for case {digisos_id} is {state} ({newer}): sending this older one would roll the case back on nav.no; discard this one, or have the fagsystem write the case again"
    )]
    NewerExists {
        digisos_id: String,
        state: OutboundState,
        newer: String,
    },
    #[error("saksoppdatering {update_id} has no folder in ut-feilet/")]
    NoFolder { update_id: String },
    #[error(transparent)]
    Feilet(#[from] FeiletProblem),
    #[error("saksoppdatering {update_id} changed meanwhile; look again")]
    Changed { update_id: String },
    /// Journaled `queued`; the worker moves the folder when it sends it.
    #[error(
        "journaled for retry, but {path} could not be moved back yet ({source}); the agent tries again when it sends it"
    )]
    NotMovedYet {
        path: String,
        #[source]
        source: DirError,
    },
    /// Swapped for a link or another kind since the check: failed again.
    #[error("{0}; nothing was sent")]
    Refused(#[source] DirError),
}

/// Why a sent or superseded update's folder did not reach `ut-sendt/` (it
/// stays claimed in `.mottak/` and is tried again at every turn).
#[derive(Debug, thiserror::Error)]
pub enum FinishError {
    #[error("cannot read the journal: {0}")]
    ReadJournal(#[source] JournalError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("a file task did not finish: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error(transparent)]
    Folder(#[from] DirError),
    #[error(transparent)]
    Encode(#[from] serde_json::Error),
    #[error("cannot move {from} to {to}: {source}")]
    Move {
        from: String,
        to: String,
        #[source]
        source: DirError,
    },
}
