//! What a person may do with a failed saksoppdatering, from the console
//! (checked, done and audited by `console_api::commands`):
//!
//! - **retry**: journal `failed → queued`, then move `ut-feilet/<folder>/`
//!   back into `.mottak/` (its `feil.txt` removed); the worker sends it at its
//!   next turn. Refused when `ut-feilet/<folder>` is not the folder the agent
//!   put there (a link to a folder outside, a file): nothing from outside the
//!   drop folder is ever read or sent. A crash between the two is finished by the worker (the row
//!   keeps the folder's name). Refused when a newer update for the case was
//!   sent or is queued: each update carries the whole history, so sending an
//!   older one would roll the case back on nav.no.
//! - **discard**: journal `failed → discarded`; the folder stays in
//!   `ut-feilet/` for the fagsystem to see, the console stops listing it.
//!
//! A console names an update by the id it was shown, which is masked where
//! the fagsystem's folder name holds a fødselsnummer ([`resolve_shown`]).

use std::path::Path;

use super::claim::OutFolders;
use super::validate;
use crate::journal::outbound::{OutboundRow, OutboundState};
use crate::journal::{Journal, SharedJournal};

/// The update id a console means by `shown`: itself when it is one, else
/// the one update of `mottakersystem` that shows as it (ids reach a console
/// masked, [`mottak_protocol::console::ExternalId`]). A masked id cannot be
/// a real one (`*` is never in a claimed folder's name); two that show the
/// same are refused rather than guessed between.
pub fn resolve_shown(
    journal: &Journal,
    mottakersystem: &str,
    shown: &str,
) -> Result<String, String> {
    if !shown.contains('*') {
        return Ok(shown.to_owned());
    }
    let rows = journal
        .outbound_rows(mottakersystem, &[], usize::MAX)
        .map_err(|e| e.to_string())?;
    let mut matching = rows
        .into_iter()
        .filter(|r| mottak_protocol::fnr::mask(&r.update_id) == shown);
    match (matching.next(), matching.next()) {
        (Some(row), None) => Ok(row.update_id),
        (None, _) => Ok(shown.to_owned()),
        (Some(_), Some(_)) => Err(format!(
            "several saksoppdateringer of {mottakersystem} show as {shown}: act on them in the drop folder (ut-feilet/), or move all but one away first"
        )),
    }
}

/// Retries a failed update. `Ok` holds a message for the console.
///
/// The journal is shared by every mottakersystem's commands, so it is held
/// only for the journal steps; the folder checks and moves run between them
/// on the blocking pool, never under it.
pub async fn retry(
    journal: &SharedJournal,
    drop_folder: &Path,
    mottakersystem: &str,
    update_id: &str,
    by: &str,
) -> Result<String, String> {
    let (m, id) = (mottakersystem.to_owned(), update_id.to_owned());
    let (row, folder) = journal
        .call(move |j| Ok(retryable(j, &m, &id)))
        .await
        .map_err(|e| e.to_string())??;
    let folders = OutFolders::new(drop_folder);
    // The fagsystem's account can replace the folder with a link to one
    // outside: refused here, and again by the move itself if it is swapped
    // in between (the module never follows links).
    let checked = {
        let (folders, folder) = (folders.clone(), folder.clone());
        tokio::task::spawn_blocking(move || folders.check_feilet(&folder))
            .await
            .map_err(|e| format!("the folder check was interrupted: {e}"))?
    };
    checked?;
    let (m, id, who) = (
        mottakersystem.to_owned(),
        update_id.to_owned(),
        by.to_owned(),
    );
    let requeued = journal
        .call(move |j| j.outbound_requeued(&m, &id, &who))
        .await
        .map_err(|e| e.to_string())?;
    if !requeued {
        return Err(format!(
            "saksoppdatering {update_id} changed meanwhile; look again"
        ));
    }
    let moved = {
        let (folders, folder, id) = (folders.clone(), folder.clone(), update_id.to_owned());
        tokio::task::spawn_blocking(move || folders.take_back_from_feilet(&folder, &id))
            .await
            .map_err(|e| format!("the move was interrupted: {e}"))?
    };
    if let Err(e) = moved {
        if validate::refused(&e).is_none() {
            return Err(format!(
                "journaled for retry, but {} could not be moved back yet ({e}); the agent tries again when it sends it",
                folders.ut_feilet().join(&folder).display()
            ));
        }
        // Swapped for a link since the check: failed again, as it was.
        let text = row.last_error.clone().unwrap_or_default();
        let (m, id) = (mottakersystem.to_owned(), update_id.to_owned());
        journal
            .call(move |j| j.outbound_failed(&m, &id, &folder, "retry", &text))
            .await
            .map_err(|err| err.to_string())?;
        return Err(format!("{e}; nothing was sent"));
    }
    Ok(format!(
        "saksoppdatering for case {} queued again; it is sent within a few seconds",
        row.digisos_id
    ))
}

/// The failed update to retry and its folder in `ut-feilet/`, or why not.
fn retryable(
    journal: &mut Journal,
    mottakersystem: &str,
    update_id: &str,
) -> Result<(OutboundRow, String), String> {
    let row = journal
        .outbound_row(mottakersystem, update_id)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no saksoppdatering {update_id} in {mottakersystem}"))?;
    if row.state != OutboundState::Failed {
        return Err(format!(
            "saksoppdatering {update_id} is {}, not failed: nothing to retry",
            row.state
        ));
    }
    if let Some(newer) = journal
        .outbound_newer(mottakersystem, &row.digisos_id, row.claim_seq)
        .map_err(|e| e.to_string())?
    {
        return Err(format!(
            "a newer saksoppdatering for case {} is {} ({}): sending this older one would roll the case back on nav.no; discard this one, or have the fagsystem write the case again",
            row.digisos_id, newer.state, newer.update_id
        ));
    }
    let folder = row
        .failed_folder
        .clone()
        .ok_or_else(|| format!("saksoppdatering {update_id} has no folder in ut-feilet/"))?;
    Ok((row, folder))
}

/// Dismisses a failed update.
pub fn discard(
    journal: &mut Journal,
    mottakersystem: &str,
    update_id: &str,
    by: &str,
) -> Result<String, String> {
    let row = journal
        .outbound_row(mottakersystem, update_id)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no saksoppdatering {update_id} in {mottakersystem}"))?;
    if row.state == OutboundState::Discarded {
        return Ok(format!("saksoppdatering {update_id} was already discarded"));
    }
    if !journal
        .outbound_discarded(mottakersystem, update_id, by)
        .map_err(|e| e.to_string())?
    {
        return Err(format!(
            "saksoppdatering {update_id} is {}, not failed: only failures can be discarded",
            row.state
        ));
    }
    Ok(format!(
        "saksoppdatering for case {} discarded; its folder stays in ut-feilet/{}",
        row.digisos_id,
        row.failed_folder.unwrap_or_default()
    ))
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::sync::Arc;

    use super::*;
    use crate::journal::SystemClock;

    const CASE: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

    #[test]
    fn a_shown_id_names_the_one_update_that_shows_so() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(&dir.path().join("j.sqlite"), Arc::new(SystemClock)).unwrap();
        // 01019012480 and 31129956715 are valid fødselsnumre: both show as stars.
        for (id, case) in [
            ("ut.1.0.01019012480", "01019012480"),
            ("ut.2.0.31129956715", "31129956715"),
            ("ut.3.0.010190-12480", "010190-12480"),
        ] {
            j.outbound_claimed("s", id, case).unwrap();
        }
        assert_eq!(
            resolve_shown(&j, "s", "ut.3.0.******-*****").unwrap(),
            "ut.3.0.010190-12480"
        );
        assert_eq!(
            resolve_shown(&j, "s", "ut.1.0.***********").unwrap(),
            "ut.1.0.01019012480"
        );
        // An id that is not masked is taken as it is; one no update shows as
        // is passed on (and not found); another mottakersystem's are not looked at.
        assert_eq!(
            resolve_shown(&j, "s", &format!("ut.9.0.{CASE}")).unwrap(),
            format!("ut.9.0.{CASE}")
        );
        assert_eq!(
            resolve_shown(&j, "s", "ut.7.0.***********").unwrap(),
            "ut.7.0.***********"
        );
        assert_eq!(
            resolve_shown(&j, "t", "ut.1.0.***********").unwrap(),
            "ut.1.0.***********"
        );
        // Two that show alike: refused, never guessed.
        j.outbound_claimed("s", "ut.1.0.31129956715", "31129956715")
            .unwrap();
        let err = resolve_shown(&j, "s", "ut.1.0.***********").unwrap_err();
        assert!(err.contains("several"), "{err}");
    }

    /// `f` on the shared journal, as a command does.
    async fn with<T: Send + 'static>(
        j: &SharedJournal,
        f: impl FnOnce(&mut Journal) -> T + Send + 'static,
    ) -> T {
        j.call(move |j| Ok(f(j))).await.unwrap()
    }

    #[tokio::test]
    async fn retry_moves_the_folder_back_and_refuses_to_roll_a_case_back() {
        let dir = tempfile::tempdir().unwrap();
        let drop = dir.path().join("drop");
        for d in ["ut", "ut-feilet", ".mottak"] {
            fs::create_dir_all(drop.join(d)).unwrap();
        }
        let mut j = Journal::open(&dir.path().join("j.sqlite"), Arc::new(SystemClock)).unwrap();
        let old = format!("ut.1.0.{CASE}");
        j.outbound_claimed("s", &old, CASE).unwrap();
        j.outbound_failed("s", &old, "f1", "post", "Fiks said 400")
            .unwrap();
        let j = SharedJournal::new(j);
        fs::create_dir(drop.join("ut-feilet/f1")).unwrap();
        fs::write(drop.join("ut-feilet/f1/feil.txt"), "x").unwrap();
        fs::write(drop.join("ut-feilet/f1/digisos-soker.json"), "{}").unwrap();

        let msg = retry(&j, &drop, "s", &old, "ola").await.unwrap();
        assert!(msg.contains("queued again"), "{msg}");
        assert!(
            drop.join(".mottak")
                .join(&old)
                .join("digisos-soker.json")
                .is_file()
        );
        assert!(!drop.join(".mottak").join(&old).join("feil.txt").exists());
        let o = old.clone();
        let state = with(&j, move |j| j.outbound_row("s", &o).unwrap().unwrap().state).await;
        assert_eq!(state, OutboundState::Queued);
        assert!(
            retry(&j, &drop, "s", &old, "ola")
                .await
                .unwrap_err()
                .contains("not failed")
        );

        // Failed again, and meanwhile a newer update for the case was sent.
        let (o, new) = (old.clone(), format!("ut.2.0.{CASE}"));
        let n = new.clone();
        with(&j, move |j| {
            j.outbound_failed("s", &o, "f2", "post", "400").unwrap();
            j.outbound_claimed("s", &n, CASE).unwrap();
            j.outbound_sent("s", &n, 0, 0).unwrap();
        })
        .await;
        fs::rename(drop.join(".mottak").join(&old), drop.join("ut-feilet/f2")).unwrap();
        let err = retry(&j, &drop, "s", &old, "ola").await.unwrap_err();
        assert!(err.contains("roll the case back"), "{err}");
        assert!(drop.join("ut-feilet/f2").is_dir());

        let (o, n) = (old.clone(), new.clone());
        with(&j, move |j| {
            let msg = discard(j, "s", &o, "ola").unwrap();
            assert!(msg.contains("ut-feilet/f2"), "{msg}");
            assert!(discard(j, "s", &o, "ola").unwrap().contains("already"));
            assert!(
                discard(j, "s", &n, "ola")
                    .unwrap_err()
                    .contains("not failed")
            );
            assert!(
                discard(j, "s", "nope", "ola")
                    .unwrap_err()
                    .contains("no saksoppdatering")
            );
        })
        .await;
    }
}
