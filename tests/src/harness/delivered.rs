//! The drop folder as the fagsystem sees it: reading a published folder,
//! listing and walking folders, and the fagsystem's own moves (reject, import).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use sha2::{Digest, Sha256};

use super::{FORSENDELSE_JSON, Installed};

/// A published forsendelse: `forsendelse.json` and the other files.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub json: serde_json::Value,
    /// File name → bytes, `forsendelse.json` excluded.
    pub files: BTreeMap<String, Vec<u8>>,
}

/// Reads `folder` (regular files only: anything else is an error).
pub fn read_delivered(folder: &Path) -> Result<Delivered> {
    let mut json = None;
    let mut files = BTreeMap::new();
    for entry in
        fs::read_dir(folder).with_context(|| format!("read the folder {}", folder.display()))?
    {
        let entry = entry?;
        let meta = fs::symlink_metadata(entry.path())?;
        let name = entry
            .file_name()
            .into_string()
            .map_err(|n| anyhow!("a file name that is not UTF-8: {n:?}"))?;
        if !meta.is_file() {
            bail!(
                "{} holds {name:?}, which is not a regular file ({:?})",
                folder.display(),
                meta.file_type()
            );
        }
        let bytes = fs::read(entry.path())?;
        if name == FORSENDELSE_JSON {
            json = Some(
                serde_json::from_slice(&bytes)
                    .with_context(|| format!("{name} in {} is not JSON", folder.display()))?,
            );
        } else {
            files.insert(name, bytes);
        }
    }
    Ok(Delivered {
        json: json.ok_or_else(|| anyhow!("no {FORSENDELSE_JSON} in {}", folder.display()))?,
        files,
    })
}

/// Names (not paths) of the entries of `dir`, sorted; empty if it does not exist.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = match fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// Every path under `dir` (recursively, symlinks not followed), relative to it.
pub fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let rd = match fs::read_dir(&d) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("read {}", d.display())),
        };
        for entry in rd {
            let entry = entry?;
            let p = entry.path();
            out.push(p.strip_prefix(dir).unwrap_or(&p).to_path_buf());
            if entry.file_type()?.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Lower-case hex SHA-256 and length of the file at `path`, read in pieces (a
/// forsendelse of a GiB is not read into memory).
pub fn sha256_file(path: &Path) -> Result<(String, u64)> {
    let mut f = File::open(path).with_context(|| format!("open {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        hasher.update(&buf[..k]);
        total += k as u64;
    }
    Ok((hex::encode(hasher.finalize()), total))
}

/// Moves `inn/<id>/` to `feilet/<id>/` as a fagsystem does, with `feil.txt`
/// holding `reason` when given (written before the move).
pub fn reject(system: &Installed, id: &str, reason: Option<&str>) -> Result<()> {
    let from = system.inn_of(id);
    if let Some(reason) = reason {
        fs::write(from.join("feil.txt"), reason)?;
    }
    fs::create_dir_all(system.feilet())?;
    fs::rename(&from, system.feilet().join(id))
        .with_context(|| format!("move {} to feilet/", from.display()))?;
    Ok(())
}

/// Removes `inn/<id>/` as a fagsystem does when it has imported it.
pub fn import(system: &Installed, id: &str) -> Result<()> {
    let p = system.inn_of(id);
    fs::remove_dir_all(&p).with_context(|| format!("remove {}", p.display()))
}
