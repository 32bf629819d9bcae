//! The drop folder's checks and the probes behind them: folders are tried
//! (a file created, a folder renamed), not guessed from modes. Shared by the
//! agent section (`state_dir`, `log_dir`) and the digisos one (`ut/`).

use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use super::{Report, Severity};
use crate::config::Mottakersystem;
use crate::dropfolder::dirfd::{Dir, DirError, Name};
use crate::dropfolder::{DropError, DropFolder};

/// Why a folder failed a probe, each naming the folder or the step.
#[derive(Debug, thiserror::Error)]
pub(super) enum FolderProblem {
    #[error("{} does not exist", .0.display())]
    Missing(PathBuf),
    #[error("cannot inspect {}: {source}", path.display())]
    Inspect { path: PathBuf, source: io::Error },
    #[error("{} is not a folder", .0.display())]
    NotAFolder(PathBuf),
    #[error("cannot write in {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot write in {}: {source}", path.display())]
    WriteIn { path: PathBuf, source: DirError },
    #[error("cannot create a folder in .mottak/: {0}")]
    CreateInStaging(DirError),
    #[error("cannot rename a folder from .mottak/ into inn/: {0}")]
    RenameIntoInn(DirError),
    #[error("cannot rename a folder out of inn/: {0}")]
    RenameOutOfInn(DirError),
    #[error(transparent)]
    Dir(#[from] DirError),
    #[error(transparent)]
    Drop(#[from] DropError),
}

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
        .map_err(FolderProblem::from)
        .and_then(|root| writable_folder(&root, &crate::dropfolder::FEILET))
    {
        report.push(Severity::Error, scope, subject, problem.to_string());
    }
}

/// Creates a hidden folder in `.mottak/`, renames it into `inn/` and back,
/// and removes it: the operations of a publish, under a name the fagsystem
/// and the agent both ignore.
fn rename_round_trip(drop: &DropFolder) -> Result<(), FolderProblem> {
    use crate::dropfolder::dirfd::Replace;
    use crate::dropfolder::{INN, STAGING};
    let name = Name::new(format!(".check-config-{}", std::process::id()))?;
    let root = drop.open_root()?;
    let staging = root.open_dir(&STAGING)?;
    let inn = root.open_dir(&INN)?;
    staging
        .create_dir(&name, 0o700)
        .map_err(FolderProblem::CreateInStaging)?;
    let result = staging
        .rename(&name, &inn, &name, Replace::Never)
        .map_err(FolderProblem::RenameIntoInn)
        .and_then(|()| {
            inn.rename(&name, &staging, &name, Replace::Never)
                .map_err(FolderProblem::RenameOutOfInn)
        });
    let _ = staging.remove_dir(&name);
    let _ = inn.remove_dir(&name);
    result
}

/// Whether `root/name` is a folder (not a link to one) this process may
/// create files in (tried, not guessed).
pub(super) fn writable_folder(root: &Dir, name: &Name) -> Result<(), FolderProblem> {
    let dir = root.open_dir(name).map_err(|e| {
        if e.is_not_found() {
            FolderProblem::Missing(root.path_of(name))
        } else {
            FolderProblem::Dir(e)
        }
    })?;
    let probe = Name::new(format!(".check-config-{}", std::process::id()))?;
    dir.create_file(&probe, 0o600)
        .map_err(|source| FolderProblem::WriteIn {
            path: dir.path().to_owned(),
            source,
        })?;
    let _ = dir.remove_file(&probe);
    Ok(())
}

/// Whether `dir` is a folder this process may create files in (tried, not guessed).
pub(super) fn writable_dir(dir: &Path) -> Result<(), FolderProblem> {
    let meta = fs::metadata(dir).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => FolderProblem::Missing(dir.to_owned()),
        _ => FolderProblem::Inspect {
            path: dir.to_owned(),
            source,
        },
    })?;
    if !meta.is_dir() {
        return Err(FolderProblem::NotAFolder(dir.to_owned()));
    }
    let probe = dir.join(format!(".check-config-{}", std::process::id()));
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|source| FolderProblem::Write {
            path: dir.to_owned(),
            source,
        })?;
    let _ = fs::remove_file(&probe);
    Ok(())
}
