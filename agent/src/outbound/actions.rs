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
use crate::journal::Journal;
use crate::journal::outbound::OutboundState;

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
pub fn retry(
    journal: &mut Journal,
    drop_folder: &Path,
    mottakersystem: &str,
    update_id: &str,
    by: &str,
) -> Result<String, String> {
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
    let folders = OutFolders::new(drop_folder);
    // The fagsystem's account can replace the folder with a link to one
    // outside: refused here, and again by the move itself if it is swapped
    // in between (the module never follows links).
    folders.check_feilet(&folder)?;
    if !journal
        .outbound_requeued(mottakersystem, update_id, by)
        .map_err(|e| e.to_string())?
    {
        return Err(format!(
            "saksoppdatering {update_id} changed meanwhile; look again"
        ));
    }
    if let Err(e) = folders.take_back_from_feilet(&folder, update_id) {
        if validate::refused(&e).is_none() {
            return Err(format!(
                "journaled for retry, but {} could not be moved back yet ({e}); the agent tries again when it sends it",
                folders.ut_feilet().join(&folder).display()
            ));
        }
        // Swapped for a link since the check: failed again, as it was.
        let text = row.last_error.clone().unwrap_or_default();
        journal
            .outbound_failed(mottakersystem, update_id, &folder, "retry", &text)
            .map_err(|err| err.to_string())?;
        return Err(format!("{e}; nothing was sent"));
    }
    Ok(format!(
        "saksoppdatering for case {} queued again; it is sent within a few seconds",
        row.digisos_id
    ))
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

    #[test]
    fn retry_moves_the_folder_back_and_refuses_to_roll_a_case_back() {
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
        fs::create_dir(drop.join("ut-feilet/f1")).unwrap();
        fs::write(drop.join("ut-feilet/f1/feil.txt"), "x").unwrap();
        fs::write(drop.join("ut-feilet/f1/digisos-soker.json"), "{}").unwrap();

        let msg = retry(&mut j, &drop, "s", &old, "ola").unwrap();
        assert!(msg.contains("queued again"), "{msg}");
        assert!(
            drop.join(".mottak")
                .join(&old)
                .join("digisos-soker.json")
                .is_file()
        );
        assert!(!drop.join(".mottak").join(&old).join("feil.txt").exists());
        assert_eq!(
            j.outbound_row("s", &old).unwrap().unwrap().state,
            OutboundState::Queued
        );
        assert!(
            retry(&mut j, &drop, "s", &old, "ola")
                .unwrap_err()
                .contains("not failed")
        );

        // Failed again, and meanwhile a newer update for the case was sent.
        j.outbound_failed("s", &old, "f2", "post", "400").unwrap();
        fs::rename(drop.join(".mottak").join(&old), drop.join("ut-feilet/f2")).unwrap();
        let new = format!("ut.2.0.{CASE}");
        j.outbound_claimed("s", &new, CASE).unwrap();
        j.outbound_sent("s", &new, 0, 0).unwrap();
        let err = retry(&mut j, &drop, "s", &old, "ola").unwrap_err();
        assert!(err.contains("roll the case back"), "{err}");
        assert!(drop.join("ut-feilet/f2").is_dir());

        let msg = discard(&mut j, "s", &old, "ola").unwrap();
        assert!(msg.contains("ut-feilet/f2"), "{msg}");
        assert!(
            discard(&mut j, "s", &old, "ola")
                .unwrap()
                .contains("already")
        );
        assert!(
            discard(&mut j, "s", &new, "ola")
                .unwrap_err()
                .contains("not failed")
        );
        assert!(
            discard(&mut j, "s", "nope", "ola")
                .unwrap_err()
                .contains("no saksoppdatering")
        );
    }
}
