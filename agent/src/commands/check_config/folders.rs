//! The drop folder's checks and the probes behind them: folders are tried
//! (a file created, a folder renamed), not guessed from modes. Shared by the
//! agent section (`state_dir`, `log_dir`) and the digisos one (`ut/`).

use std::fs::{self, OpenOptions};
use std::io;
use std::path::Path;

use super::{Report, Severity};
use crate::config::Mottakersystem;
use crate::dropfolder::DropFolder;
use crate::dropfolder::dirfd::{Dir, Name};

pub(super) fn check_drop_folder(m: &Mottakersystem, report: &mut Report) {
    let scope = m.name.as_str();
    let subject = format!("drop_folder {}", m.drop_folder.display());
    let drop = DropFolder::new(&m.drop_folder);
    let created = match drop.ensure_layout() {
        Ok(created) => created,
        Err(e) => {
            report.push(Severity::Error, scope, subject, e.to_string());
            return;
        }
    };
    if !created.is_empty() {
        let names: Vec<String> = created
            .iter()
            .filter_map(|p| p.file_name().map(|n| format!("{}/", n.to_string_lossy())))
            .collect();
        report.push(
            Severity::Note,
            scope,
            subject.clone(),
            format!(
                "created {} (the layout the agent and the fagsystem share)",
                names.join(" ")
            ),
        );
    }
    if let Err(e) = drop.check_same_filesystem() {
        report.push(Severity::Error, scope, subject.clone(), e.to_string());
    }
    // The agent writes in .mottak/, renames folders into inn/ and out of feilet/.
    if let Err(problem) = rename_round_trip(&drop) {
        report.push(
            Severity::Error,
            scope,
            subject.clone(),
            format!(
                "{problem}\nthe agent's user must be able to write .mottak/, inn/ and feilet/ (e.g. group-owned by the agent's and the fagsystem's group, mode 2770)"
            ),
        );
    }
    if let Err(problem) = drop
        .open_root()
        .map_err(|e| e.to_string())
        .and_then(|root| writable_folder(&root, &crate::dropfolder::FEILET))
    {
        report.push(Severity::Error, scope, subject, problem);
    }
}

/// Creates a hidden folder in `.mottak/`, renames it into `inn/` and back,
/// and removes it: the operations of a publish, under a name the fagsystem
/// and the agent both ignore.
fn rename_round_trip(drop: &DropFolder) -> Result<(), String> {
    use crate::dropfolder::dirfd::Replace;
    use crate::dropfolder::{INN, STAGING};
    let name =
        Name::new(format!(".check-config-{}", std::process::id())).map_err(|e| e.to_string())?;
    let root = drop.open_root().map_err(|e| e.to_string())?;
    let staging = root.open_dir(&STAGING).map_err(|e| e.to_string())?;
    let inn = root.open_dir(&INN).map_err(|e| e.to_string())?;
    staging
        .create_dir(&name, 0o700)
        .map_err(|e| format!("cannot create a folder in .mottak/: {e}"))?;
    let result = staging
        .rename(&name, &inn, &name, Replace::Never)
        .map_err(|e| format!("cannot rename a folder from .mottak/ into inn/: {e}"))
        .and_then(|()| {
            inn.rename(&name, &staging, &name, Replace::Never)
                .map_err(|e| format!("cannot rename a folder out of inn/: {e}"))
        });
    let _ = staging.remove_dir(&name);
    let _ = inn.remove_dir(&name);
    result
}

/// Whether `root/name` is a folder (not a link to one) this process may
/// create files in (tried, not guessed).
pub(super) fn writable_folder(root: &Dir, name: &Name) -> Result<(), String> {
    let dir = root.open_dir(name).map_err(|e| {
        if e.is_not_found() {
            format!("{} does not exist", root.path_of(name).display())
        } else {
            e.to_string()
        }
    })?;
    let probe =
        Name::new(format!(".check-config-{}", std::process::id())).map_err(|e| e.to_string())?;
    dir.create_file(&probe, 0o600)
        .map_err(|e| format!("cannot write in {}: {e}", dir.path().display()))?;
    let _ = dir.remove_file(&probe);
    Ok(())
}

/// Whether `dir` is a folder this process may create files in (tried, not guessed).
pub(super) fn writable_dir(dir: &Path) -> Result<(), String> {
    let meta = fs::metadata(dir).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => format!("{} does not exist", dir.display()),
        _ => format!("cannot inspect {}: {e}", dir.display()),
    })?;
    if !meta.is_dir() {
        return Err(format!("{} is not a folder", dir.display()));
    }
    let probe = dir.join(format!(".check-config-{}", std::process::id()));
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| format!("cannot write in {}: {e}", dir.display()))?;
    let _ = fs::remove_file(&probe);
    Ok(())
}
