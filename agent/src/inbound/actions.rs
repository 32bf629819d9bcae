//! What a person may do with a mottakersystem's forsendelser, from the
//! console (checked, done and audited by `console_api::commands`):
//!
//! - **retry**: a failed forsendelse is downloaded again (journal
//!   `failed → listed`), one waiting for its next attempt is tried now.
//! - **move to inn**: a forsendelse the fagsystem rejected (in `feilet/`) goes
//!   back to `inn/` (its `feil.txt` removed), then the journal records it
//!   delivered again.
//! - **mark permanent**: SvarInn is told (mottakFeilet, permanent) with the
//!   person's reason.
//! - **pause**, **resume**, **poll now**: the worker's loop (the pause lives
//!   in the journal).
//!
//! `Ok` holds a message for the console; an [`ActionError`] says by kind why not.

use std::sync::Arc;

use mottak_protocol::console::MAX_REASON_LEN;

use super::worker::WorkerHealth;
use crate::dropfolder::{DropError, DropFolder, FeilTxt};
use crate::journal::{Change, JournalError, Row, SharedJournal, State, can_transition};
use crate::names::{ForsendelseId, NameError};

/// What an action needs of one mottakersystem.
#[derive(Debug, Clone)]
pub struct SystemControl {
    pub drop: DropFolder,
    pub health: Arc<WorkerHealth>,
}

/// Why an action on a forsendelse was not done.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("{forsendelse:?} is not a forsendelse id: {source}")]
    NotAnId {
        forsendelse: String,
        #[source]
        source: NameError,
    },
    #[error("forsendelse {forsendelse} of {mottakersystem} is not in the journal")]
    NotFound {
        mottakersystem: String,
        forsendelse: String,
    },
    /// The journal could not be read or written; nothing was changed.
    #[error(transparent)]
    Journal(JournalError),
    /// The journal refused the transition (the row moved meanwhile) or could
    /// not write it.
    #[error(transparent)]
    Transition(JournalError),
    #[error(
        "forsendelse {id} of {mottakersystem} was rejected by the fagsystem (it is in feilet/): move it back to inn/ to let the fagsystem try again, or mark it permanent"
    )]
    RetryRejected {
        id: ForsendelseId,
        mottakersystem: String,
    },
    #[error(
        "forsendelse {id} of {mottakersystem} is {state}: only failed and retry_wait forsendelser can be retried"
    )]
    NotRetryable {
        id: ForsendelseId,
        mottakersystem: String,
        state: State,
    },
    #[error(
        "forsendelse {id} of {mottakersystem} is {state}: only a forsendelse the fagsystem rejected (in feilet/) can be moved back to inn/"
    )]
    NotRejected {
        id: ForsendelseId,
        mottakersystem: String,
        state: State,
    },
    #[error("could not move it back: {0}")]
    NotMoved(DropError),
    #[error("the move did not finish: {0}")]
    MoveUnfinished(tokio::task::JoinError),
    #[error(
        "forsendelse {id} of {mottakersystem} was moved back to inn/, but the journal could not record it ({source}); the fagsystem will see it, and its acknowledgement waits until this is fixed: check the journal's disk and restart the agent"
    )]
    NotRecorded {
        id: ForsendelseId,
        mottakersystem: String,
        // Boxed: the other variants stay small.
        #[source]
        source: Box<JournalError>,
    },
    #[error("a reason is required: it goes to the sender in SvarUt with mottakFeilet")]
    NoReason,
    #[error("the reason is longer than {MAX_REASON_LEN} characters; shorten it")]
    ReasonTooLong,
    #[error(
        "forsendelse {id} of {mottakersystem} is {state}: only listed, failed, rejected and retry_wait forsendelser can be marked permanent"
    )]
    NotMarkable {
        id: ForsendelseId,
        mottakersystem: String,
        state: State,
    },
    #[error("{mottakersystem} is paused: resume it first")]
    Paused { mottakersystem: String },
}

/// Appended to a message when the mottakersystem is paused.
fn paused_note(journal: &SharedJournal, mottakersystem: &str) -> &'static str {
    if journal.is_paused(mottakersystem) {
        " (the mottakersystem is paused: this happens once it is resumed)"
    } else {
        ""
    }
}

/// The journal's row for `forsendelse` of `mottakersystem`.
async fn row(
    journal: &SharedJournal,
    mottakersystem: &str,
    forsendelse: &str,
) -> Result<(ForsendelseId, Row), ActionError> {
    let id = ForsendelseId::parse(forsendelse).map_err(|source| ActionError::NotAnId {
        forsendelse: forsendelse.to_owned(),
        source,
    })?;
    let (m, i) = (mottakersystem.to_owned(), id.clone());
    match journal.call(move |j| j.get(&m, &i)).await {
        Ok(Some(row)) => Ok((id, row)),
        Ok(None) => Err(ActionError::NotFound {
            mottakersystem: mottakersystem.to_owned(),
            forsendelse: forsendelse.to_owned(),
        }),
        Err(err) => Err(ActionError::Journal(err)),
    }
}

async fn transition(
    journal: &SharedJournal,
    mottakersystem: &str,
    id: &ForsendelseId,
    change: Change,
) -> Result<(), JournalError> {
    let (m, i) = (mottakersystem.to_owned(), id.clone());
    journal
        .call(move |j| j.transition(&m, &i, change))
        .await
        .map(|_| ())
}

/// Downloads a failed forsendelse again, or tries one in retry_wait now.
pub async fn retry(
    journal: &SharedJournal,
    mottakersystem: &str,
    forsendelse: &str,
) -> Result<String, ActionError> {
    let (id, row) = row(journal, mottakersystem, forsendelse).await?;
    let paused = paused_note(journal, mottakersystem);
    match row.state {
        State::Failed => {
            transition(journal, mottakersystem, &id, Change::Relisted)
                .await
                .map_err(ActionError::Transition)?;
            Ok(format!(
                "forsendelse {id} of {mottakersystem} is downloaded again now{paused}"
            ))
        }
        State::RetryWait => {
            let (m, i) = (mottakersystem.to_owned(), id.clone());
            journal
                .call(move |j| j.retry_now(&m, &i))
                .await
                .map_err(ActionError::Transition)?;
            Ok(format!(
                "forsendelse {id} of {mottakersystem} is tried again now{paused}"
            ))
        }
        State::Rejected => Err(ActionError::RetryRejected {
            id,
            mottakersystem: mottakersystem.to_owned(),
        }),
        state => Err(ActionError::NotRetryable {
            id,
            mottakersystem: mottakersystem.to_owned(),
            state,
        }),
    }
}

/// Moves a forsendelse the fagsystem rejected back to `inn/`.
pub async fn move_to_inn(
    journal: &SharedJournal,
    control: &SystemControl,
    mottakersystem: &str,
    forsendelse: &str,
) -> Result<String, ActionError> {
    let (id, row) = row(journal, mottakersystem, forsendelse).await?;
    if row.state != State::Rejected {
        return Err(ActionError::NotRejected {
            id,
            mottakersystem: mottakersystem.to_owned(),
            state: row.state,
        });
    }
    // The folder moves first, then the journal. A crash in between
    // leaves the row rejected with its folder in inn/: the worker repairs
    // that on its next turn (the folder in inn/ wins: delivered again),
    // and may do so between the two steps here as well (handled below).
    let drop = control.drop.clone();
    let i = id.clone();
    let feil = tokio::task::spawn_blocking(move || drop.retry_rejected(&i))
        .await
        .map_err(ActionError::MoveUnfinished)?
        .map_err(ActionError::NotMoved)?;
    let folder_name = row
        .folder_name
        .clone()
        .unwrap_or_else(|| id.as_str().to_owned());
    let change = Change::Delivered {
        folder_name,
        digisos_id: None,
    };
    match transition(journal, mottakersystem, &id, change).await {
        Ok(()) => {}
        // The worker saw the folder in inn/ first and made it delivered.
        Err(JournalError::IllegalTransition { .. })
            if matches!(
                row_state(journal, mottakersystem, forsendelse).await,
                Some(State::Delivered)
            ) => {}
        Err(source) => {
            return Err(ActionError::NotRecorded {
                id,
                mottakersystem: mottakersystem.to_owned(),
                source: Box::new(source),
            });
        }
    }
    Ok(format!(
        "forsendelse {id} of {mottakersystem} is back in inn/ for the fagsystem{}{}",
        match feil {
            FeilTxt::Absent => String::new(),
            FeilTxt::Text(r) => format!(" (its feil.txt said: {r})"),
            // Never quoted: it was not read.
            FeilTxt::Refused(what) =>
                format!(" (its feil.txt was {what}, not a regular file: removed unread)"),
            FeilTxt::Unreadable(_) => " (its feil.txt could not be read: removed)".to_owned(),
        },
        paused_note(journal, mottakersystem)
    ))
}

/// The row's state now, if it can be read.
async fn row_state(
    journal: &SharedJournal,
    mottakersystem: &str,
    forsendelse: &str,
) -> Option<State> {
    row(journal, mottakersystem, forsendelse)
        .await
        .ok()
        .map(|(_, r)| r.state)
}

/// Gives a forsendelse up: SvarInn is told, with `reason`.
pub async fn mark_permanent(
    journal: &SharedJournal,
    mottakersystem: &str,
    forsendelse: &str,
    reason: &str,
) -> Result<String, ActionError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ActionError::NoReason);
    }
    if reason.chars().count() > MAX_REASON_LEN {
        return Err(ActionError::ReasonTooLong);
    }
    let (id, row) = row(journal, mottakersystem, forsendelse).await?;
    if !can_transition(row.state, State::Permanent) {
        return Err(ActionError::NotMarkable {
            id,
            mottakersystem: mottakersystem.to_owned(),
            state: row.state,
        });
    }
    let change = Change::Permanent {
        reason: reason.to_owned(),
    };
    transition(journal, mottakersystem, &id, change)
        .await
        .map_err(ActionError::Transition)?;
    Ok(format!(
        "forsendelse {id} of {mottakersystem} is marked permanent; SvarInn is told (mottakFeilet, permanent) within seconds{}",
        paused_note(journal, mottakersystem)
    ))
}

/// Pauses the mottakersystem: no polls and no new steps until resumed.
pub async fn pause(
    journal: &SharedJournal,
    control: &SystemControl,
    mottakersystem: &str,
    by: &str,
    reason: Option<&str>,
) -> Result<String, ActionError> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if reason.is_some_and(|r| r.chars().count() > MAX_REASON_LEN) {
        return Err(ActionError::ReasonTooLong);
    }
    let changed = journal
        .set_paused(mottakersystem, Some((by, reason)))
        .await
        .map_err(ActionError::Journal)?;
    // Steps already running finish; the loop sees the pause at its next turn.
    control.health.pipeline.wake.notify_one();
    Ok(if changed {
        format!(
            "{mottakersystem} is paused: no polls and no steps until resumed (steps in progress finish)"
        )
    } else {
        format!("{mottakersystem} was already paused")
    })
}

/// Resumes a paused mottakersystem; it polls at once.
pub async fn resume(
    journal: &SharedJournal,
    control: &SystemControl,
    mottakersystem: &str,
) -> Result<String, ActionError> {
    let changed = journal
        .set_paused(mottakersystem, None)
        .await
        .map_err(ActionError::Journal)?;
    control.health.pipeline.wake.notify_one();
    Ok(if changed {
        format!("{mottakersystem} is resumed and polls SvarInn now")
    } else {
        format!("{mottakersystem} was not paused")
    })
}

/// Wakes the worker to poll SvarInn now.
pub fn poll_now(
    journal: &SharedJournal,
    control: &SystemControl,
    mottakersystem: &str,
) -> Result<String, ActionError> {
    if journal.is_paused(mottakersystem) {
        return Err(ActionError::Paused {
            mottakersystem: mottakersystem.to_owned(),
        });
    }
    control.health.pipeline.wake.notify_one();
    Ok(format!("{mottakersystem} polls SvarInn now"))
}
