//! Zips in memory: built entry by entry (files, stored files, symlinks,
//! directories) and read back.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use anyhow::Result;

/// One entry of a zip built by [`zip_bytes`].
#[derive(Debug, Clone)]
pub enum ZipEntry {
    /// A file, deflated.
    File(String, Vec<u8>),
    /// A file, stored.
    Stored(String, Vec<u8>),
    /// A symbolic link `name` → `target`.
    Symlink(String, String),
    /// A directory.
    Dir(String),
}

/// A zip in memory.
pub fn zip_bytes(entries: &[ZipEntry]) -> Result<Vec<u8>> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o644);
    let stored = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .unix_permissions(0o644);
    for e in entries {
        match e {
            ZipEntry::File(name, bytes) => {
                w.start_file(name.as_str(), deflated)?;
                w.write_all(bytes)?;
            }
            ZipEntry::Stored(name, bytes) => {
                w.start_file(name.as_str(), stored)?;
                w.write_all(bytes)?;
            }
            ZipEntry::Symlink(name, target) => {
                w.add_symlink(name.as_str(), target.as_str(), stored)?;
            }
            ZipEntry::Dir(name) => {
                w.add_directory(name.as_str(), stored)?;
            }
        }
    }
    Ok(w.finish()?.into_inner())
}

/// The file entries of a zip: name → bytes.
pub fn unzip_bytes(zip: &[u8]) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip))?;
    let mut out = BTreeMap::new();
    for i in 0..archive.len() {
        let mut f = archive.by_index(i)?;
        if !f.is_file() {
            continue;
        }
        let name = f.name()?.into_owned();
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes)?;
        out.insert(name, bytes);
    }
    Ok(out)
}
