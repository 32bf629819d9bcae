//! Safe extraction of a forsendelse's zip into its staging folder.
//!
//! The zip comes from outside, so every entry is distrusted:
//! - names that escape (`..` components, absolute paths, drive letters,
//!   backslashes, NUL) are refused; other names are flattened (`a/b.pdf` →
//!   `a_b.pdf`) and cleaned by [`crate::names::sanitize_file_name`], and two
//!   entries that end up with the same name (ignoring case, for SMB) are refused;
//! - an entry whose name the drop-folder contract reserves (`feil.txt`,
//!   `forsendelse.json`, …: [`crate::names::RESERVED_NAMES`]) is written
//!   under a prefixed name (`vedlegg-feil.txt`) that no other entry has, so a
//!   sender's document never passes for the fagsystem's or the agent's file;
//! - symlinks, devices, fifos, sockets and encrypted entries are refused; only
//!   stored and deflated entries are read;
//! - more than `max_entries`, a total above `max_total_bytes`, or an entry that
//!   inflates more than `max_ratio` times its compressed size is refused. The
//!   headers' claims are checked first (cheap refusal of an honest bomb), and
//!   then the bytes actually written are counted while extracting, so lying
//!   headers gain nothing; an entry bigger than its header says is refused.
//!
//! Files are created with `O_EXCL | O_NOFOLLOW`, through the staging
//! folder's handle only ([`crate::dropfolder::dirfd`]). On any error the
//! files this call created are removed: extraction is all or nothing.

use std::collections::HashMap;
use std::io::{self, Read, Seek, Write};
use std::path::PathBuf;

use mottak_protocol::svarinn::{DigisosForsendelseMetadata, FORSENDELSE_METADATA_FILNAVN};
use sha2::{Digest, Sha256};

use crate::dropfolder::dirfd::{Dir, DirError, Name};
use crate::names::{NameError, SafeName, is_reserved, sanitize_file_name, unreserved};

/// Limits applied when unpacking one zip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZipLimits {
    /// At most this many entries (directories included).
    pub max_entries: usize,
    /// At most this many bytes once unpacked, all entries together.
    pub max_total_bytes: u64,
    /// No entry may unpack to more than this many times its compressed size
    /// (entries below [`RATIO_GRACE_BYTES`] are exempt: a small text file may
    /// legitimately compress very well).
    pub max_ratio: u64,
}

impl ZipLimits {
    /// 1,000 entries, 2 GiB, ratio 100 (PDFs barely compress; office XML
    /// reaches 10–30; a zip bomb reaches 1,000).
    pub const DEFAULT: ZipLimits = ZipLimits {
        max_entries: 1000,
        max_total_bytes: 2 << 30,
        max_ratio: 100,
    };
}

impl Default for ZipLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// An entry may always unpack to this many bytes, whatever its ratio.
pub const RATIO_GRACE_BYTES: u64 = 1 << 20;

/// The mode an extracted file is created with, less the umask.
const FILE_MODE: u32 = 0o666;

/// The name of the nav.digisos metadata file inside a forsendelse's zip.
pub const FORSENDELSE_METADATA: &str = FORSENDELSE_METADATA_FILNAVN;

/// One file written by [`extract`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractedFile {
    /// The name in the staging folder (prefixed when the entry's name is
    /// reserved: `feil.txt` → `vedlegg-feil.txt`).
    pub name: SafeName,
    /// The entry's name in the zip, as the sender wrote it.
    pub entry: String,
    pub size: u64,
    pub sha256: [u8; 32],
}

impl ExtractedFile {
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }
}

/// Why a zip was refused. Each names the entry, so the operator (and the
/// mottakFeilet message to the sender) can say what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum UnzipError {
    #[error("the file is not a readable zip: {0}")]
    NotAZip(#[source] zip::result::ZipError),
    #[error("the zip has {count} entries, more than the {max} allowed (zip_max_entries)")]
    TooManyEntries { count: usize, max: usize },
    #[error("zip entry {entry:?} would be written outside its folder ({why}); refusing the zip")]
    Escapes { entry: String, why: &'static str },
    #[error("zip entry {entry:?} is a {kind}, not a regular file; refusing the zip")]
    NotARegularFile { entry: String, kind: &'static str },
    #[error("zip entry {entry:?} is encrypted; refusing the zip")]
    Encrypted { entry: String },
    #[error("zip entry {entry:?} uses compression {method}; only stored and deflate are accepted")]
    UnsupportedCompression { entry: String, method: String },
    #[error("zip entry {entry:?} has an unusable name: {source}")]
    BadName {
        entry: String,
        #[source]
        source: NameError,
    },
    #[error(
        "zip entries {first:?} and {entry:?} would both be written as {name:?}; refusing the zip"
    )]
    DuplicateName {
        entry: String,
        first: String,
        name: String,
    },
    /// Two central-directory records with the very same name: the zip
    /// crate keys entries by name and would show only the last of them.
    #[error(
        "the zip holds two entries named {}; refusing the zip (only one of them could be delivered)",
        entry.as_deref().map_or_else(|| "alike".to_owned(), |e| format!("{e:?}"))
    )]
    DuplicateEntry { entry: Option<String> },
    #[error(
        "the zip unpacks to more than {max} bytes (zip_max_total_size){}; refusing the zip",
        if *.claimed { " by its own headers" } else { "" }
    )]
    TotalTooBig { max: u64, claimed: bool },
    #[error(
        "zip entry {entry:?} unpacks to more than {max} times its compressed size of {compressed} bytes (zip_max_ratio): a zip bomb; refusing the zip"
    )]
    RatioTooHigh {
        entry: String,
        compressed: u64,
        max: u64,
    },
    #[error(
        "zip entry {entry:?} unpacks to more than the {declared} bytes its header declares; refusing the zip"
    )]
    BiggerThanDeclared { entry: String, declared: u64 },
    #[error("zip entry {entry:?} is damaged: {source}")]
    Corrupt {
        entry: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Dir(#[from] DirError),
    #[error("{FORSENDELSE_METADATA} is not valid: {0}")]
    BadMetadata(String),
}

/// Unpacks every file of `zip` into `dest` (an existing, empty staging
/// folder), under the limits. Returns the files in the zip's order.
pub fn extract<R: Read + Seek>(
    zip: R,
    dest: &Dir,
    limits: &ZipLimits,
) -> Result<Vec<ExtractedFile>, UnzipError> {
    let mut created: Vec<Name> = Vec::new();
    let result = extract_inner(zip, dest, limits, &mut created);
    if result.is_err() {
        for name in &created {
            let _ = dest.remove_file(name);
        }
    }
    result
}

/// What the central directory says about one entry, checked.
struct Planned {
    index: usize,
    entry: String,
    name: SafeName,
    declared: u64,
    compressed: u64,
}

fn extract_inner<R: Read + Seek>(
    zip: R,
    dest: &Dir,
    limits: &ZipLimits,
    created: &mut Vec<Name>,
) -> Result<Vec<ExtractedFile>, UnzipError> {
    let mut archive = open_archive(zip, limits.max_entries)?;
    if archive.len() > limits.max_entries {
        return Err(UnzipError::TooManyEntries {
            count: archive.len(),
            max: limits.max_entries,
        });
    }

    // Pass 1: the headers. Refuse before writing anything.
    let mut plan: Vec<Planned> = Vec::new();
    let mut names: HashMap<String, String> = HashMap::new();
    let mut claimed_total: u64 = 0;
    for index in 0..archive.len() {
        let file = archive.by_index_raw(index).map_err(UnzipError::NotAZip)?;
        let entry = file.name().map_err(UnzipError::NotAZip)?.into_owned();
        let Some(name) = plan_name(&entry, file.is_dir(), file.unix_mode())? else {
            continue; // a directory: the files are flattened, nothing to create
        };
        if file.encrypted() {
            return Err(UnzipError::Encrypted { entry });
        }
        match file.compression() {
            zip::CompressionMethod::Stored | zip::CompressionMethod::Deflated => {}
            other => {
                return Err(UnzipError::UnsupportedCompression {
                    entry,
                    method: format!("{other:?}"),
                });
            }
        }
        let key = name.collision_key();
        if let Some(first) = names.insert(key, entry.clone()) {
            return Err(UnzipError::DuplicateName {
                entry,
                first,
                name: name.as_str().to_owned(),
            });
        }
        let (declared, compressed) = (file.size(), file.compressed_size());
        claimed_total = claimed_total.saturating_add(declared);
        if claimed_total > limits.max_total_bytes {
            return Err(UnzipError::TotalTooBig {
                max: limits.max_total_bytes,
                claimed: true,
            });
        }
        if declared > ratio_allowance(compressed, limits) {
            return Err(UnzipError::RatioTooHigh {
                entry,
                compressed,
                max: limits.max_ratio,
            });
        }
        plan.push(Planned {
            index,
            entry,
            name,
            declared,
            compressed,
        });
    }

    // A reserved name gets the prefix, and a number if another entry has
    // that name already (ignoring case, as for duplicates).
    for p in plan.iter_mut().filter(|p| is_reserved(p.name.as_str())) {
        let renamed = unreserved(p.name.clone(), |c| names.contains_key(&c.to_lowercase()));
        names.insert(renamed.collision_key(), p.entry.clone());
        p.name = renamed;
    }

    // Pass 2: the bytes, counted as they are written.
    let mut total: u64 = 0;
    let mut out = Vec::with_capacity(plan.len());
    let mut buf = vec![0u8; 64 * 1024];
    for p in plan {
        let mut file = archive.by_index(p.index).map_err(UnzipError::NotAZip)?;
        let name = Name::from(&p.name);
        let path = dest.path_of(&name);
        let io_err = |source| UnzipError::Io {
            path: path.clone(),
            source,
        };
        let mut target = dest.create_file(&name, FILE_MODE)?;
        created.push(name);
        let allowance = ratio_allowance(p.compressed, limits);
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(UnzipError::Corrupt {
                        entry: p.entry,
                        source,
                    });
                }
            };
            size += n as u64;
            total += n as u64;
            if size > p.declared {
                return Err(UnzipError::BiggerThanDeclared {
                    entry: p.entry,
                    declared: p.declared,
                });
            }
            if size > allowance {
                return Err(UnzipError::RatioTooHigh {
                    entry: p.entry,
                    compressed: p.compressed,
                    max: limits.max_ratio,
                });
            }
            if total > limits.max_total_bytes {
                return Err(UnzipError::TotalTooBig {
                    max: limits.max_total_bytes,
                    claimed: false,
                });
            }
            let chunk = &buf[..n];
            hasher.update(chunk);
            target.write_all(chunk).map_err(io_err)?;
        }
        if size != p.declared {
            return Err(UnzipError::Corrupt {
                entry: p.entry,
                source: io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("{size} bytes, the header declares {}", p.declared),
                ),
            });
        }
        out.push(ExtractedFile {
            name: p.name,
            entry: p.entry,
            size,
            sha256: hasher.finalize().into(),
        });
    }
    Ok(out)
}

/// Opens the zip, refusing one whose central directory names an entry twice.
/// The zip crate keys entries by name: of two records with the same name,
/// `len()` and `by_index` show only the last, so the first would be lost
/// without a word (and a reader other than ours might take the first).
fn open_archive<R: Read + Seek>(
    zip: R,
    max_entries: usize,
) -> Result<zip::ZipArchive<R>, UnzipError> {
    let archive = zip::ZipArchive::new(zip).map_err(UnzipError::NotAZip)?;
    if archive.has_duplicate_names() {
        let start = archive.central_directory_start();
        let entry = first_repeated_name(archive.into_inner(), start, max_entries);
        return Err(UnzipError::DuplicateEntry { entry });
    }
    Ok(archive)
}

/// The first name that two central-directory records share, read from the
/// records themselves (the zip crate no longer has it). Walks at most
/// `max_records` beyond the first; `None` when the records cannot be read.
fn first_repeated_name<R: Read + Seek>(
    mut zip: R,
    start: u64,
    max_records: usize,
) -> Option<String> {
    const SIGNATURE: [u8; 4] = [0x50, 0x4b, 0x01, 0x02];
    let le16 = |b: &[u8], at: usize| u16::from_le_bytes([b[at], b[at + 1]]);
    zip.seek(io::SeekFrom::Start(start)).ok()?;
    let mut seen = std::collections::HashSet::new();
    let mut record = [0u8; 46];
    for _ in 0..=max_records {
        zip.read_exact(&mut record).ok()?;
        if record[..4] != SIGNATURE {
            return None;
        }
        let mut name = vec![0u8; usize::from(le16(&record, 28))];
        zip.read_exact(&mut name).ok()?;
        let skip = i64::from(le16(&record, 30)) + i64::from(le16(&record, 32));
        zip.seek(io::SeekFrom::Current(skip)).ok()?;
        if !seen.insert(name.clone()) {
            return Some(String::from_utf8_lossy(&name).into_owned());
        }
    }
    None
}

/// The most bytes an entry of `compressed` bytes may unpack to.
fn ratio_allowance(compressed: u64, limits: &ZipLimits) -> u64 {
    compressed
        .saturating_mul(limits.max_ratio)
        .max(RATIO_GRACE_BYTES)
}

/// Checks an entry's name and type. `Ok(None)` for a directory entry.
fn plan_name(
    entry: &str,
    is_dir: bool,
    unix_mode: Option<u32>,
) -> Result<Option<SafeName>, UnzipError> {
    let escapes = |why| UnzipError::Escapes {
        entry: entry.to_owned(),
        why,
    };
    if entry.contains('\0') {
        return Err(escapes("NUL in the name"));
    }
    if entry.contains('\\') {
        return Err(escapes("backslash in the name"));
    }
    if entry.starts_with('/') {
        return Err(escapes("absolute path"));
    }
    let b = entry.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return Err(escapes("drive letter"));
    }
    let parts: Vec<&str> = entry
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if parts.contains(&"..") {
        return Err(escapes("'..' in the path"));
    }
    if let Some(mode) = unix_mode {
        let kind = match mode & 0o170_000 {
            0 | 0o100_000 => None,
            0o040_000 => return Ok(None),
            0o120_000 => Some("symbolic link"),
            0o010_000 => Some("fifo"),
            0o020_000 => Some("character device"),
            0o060_000 => Some("block device"),
            0o140_000 => Some("socket"),
            _ => Some("special file"),
        };
        if let Some(kind) = kind {
            return Err(UnzipError::NotARegularFile {
                entry: entry.to_owned(),
                kind,
            });
        }
    }
    if is_dir || entry.ends_with('/') {
        return Ok(None);
    }
    if parts.is_empty() {
        return Err(UnzipError::BadName {
            entry: entry.to_owned(),
            source: NameError::EmptyName,
        });
    }
    sanitize_file_name(&parts.join("_"))
        .map(Some)
        .map_err(|source| UnzipError::BadName {
            entry: entry.to_owned(),
            source,
        })
}

/// Reads `forsendelseMetadata.json` among the files [`extract`] wrote into
/// `dir`. `Ok(None)` when the zip had none (not a nav.digisos forsendelse).
pub fn read_forsendelse_metadata(
    dir: &Dir,
    files: &[ExtractedFile],
) -> Result<Option<DigisosForsendelseMetadata>, UnzipError> {
    let Some(file) = files
        .iter()
        .find(|f| f.name.as_str() == FORSENDELSE_METADATA)
    else {
        return Ok(None);
    };
    let f = dir.open_file(&Name::from(&file.name))?;
    parse_metadata(f).map(Some)
}

/// Reads `forsendelseMetadata.json` straight from the zip (when `unzip =
/// false` the zip is delivered whole). `Ok(None)` when it has none.
pub fn forsendelse_metadata_from_zip<R: Read + Seek>(
    zip: R,
) -> Result<Option<DigisosForsendelseMetadata>, UnzipError> {
    let mut archive = open_archive(zip, ZipLimits::DEFAULT.max_entries)?;
    match archive.by_name(FORSENDELSE_METADATA) {
        Ok(file) => parse_metadata(file).map(Some),
        Err(zip::result::ZipError::FileNotFound) => Ok(None),
        Err(e) => Err(UnzipError::NotAZip(e)),
    }
}

fn parse_metadata(r: impl Read) -> Result<DigisosForsendelseMetadata, UnzipError> {
    DigisosForsendelseMetadata::read(r).map_err(UnzipError::BadMetadata)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use std::path::Path;
    use zip::write::SimpleFileOptions;

    fn open(path: &Path) -> Dir {
        Dir::open_root(path, std::sync::Arc::new(crate::dropfolder::dirfd::RealFs)).unwrap()
    }

    fn deflate() -> SimpleFileOptions {
        SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated)
    }

    fn build(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in entries {
            w.start_file(*name, deflate()).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    /// Extracts into `root/staging`, and returns the error plus every path
    /// found under `root` afterwards (to show nothing landed anywhere).
    fn extract_in_sandbox(
        zip: &[u8],
        limits: &ZipLimits,
    ) -> (Result<Vec<ExtractedFile>, UnzipError>, Vec<PathBuf>) {
        let root = tempfile::tempdir().unwrap();
        let staging = root.path().join("staging");
        std::fs::create_dir(&staging).unwrap();
        let res = extract(Cursor::new(zip), &open(&staging), limits);
        let mut found = Vec::new();
        let mut stack = vec![root.path().to_owned()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap() {
                let e = e.unwrap();
                let p = e.path();
                if e.file_type().unwrap().is_dir() {
                    stack.push(p.clone());
                }
                found.push(p.strip_prefix(root.path()).unwrap().to_owned());
            }
        }
        found.sort();
        (res, found)
    }

    fn assert_refused_cleanly(zip: &[u8], limits: &ZipLimits) -> UnzipError {
        let (res, found) = extract_in_sandbox(zip, limits);
        let err = res.unwrap_err();
        assert_eq!(found, vec![PathBuf::from("staging")], "{err}");
        err
    }

    #[test]
    fn extracts_files_with_sizes_and_hashes() {
        let zip = build(&[
            ("vedtak.pdf", b"%PDF-1.4 hello"),
            ("vedlegg/Søknad æøå.txt", b"hei"),
            ("tom/", b""),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let files = extract(Cursor::new(&zip), &open(dir.path()), &ZipLimits::DEFAULT).unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["vedtak.pdf", "vedlegg_Søknad æøå.txt"]);
        assert_eq!(files[0].size, 14);
        assert_eq!(files[1].sha256_hex(), hex::encode(Sha256::digest(b"hei")));
        assert_eq!(
            std::fs::read(dir.path().join("vedlegg_Søknad æøå.txt")).unwrap(),
            b"hei"
        );
    }

    #[test]
    fn the_ks_test_zip_extracts() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures/interop/ks-vectors/dokumenter.zip");
        let zip = std::fs::read(&path).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let files = extract(Cursor::new(zip), &open(dir.path()), &ZipLimits::DEFAULT).unwrap();
        let mut names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        names.sort();
        assert_eq!(names, ["small.pdf", "text.txt"]);
    }

    #[test]
    fn escaping_names_are_refused() {
        for (name, why) in [
            ("../x", "'..'"),
            ("a/../../x", "'..'"),
            ("/etc/x", "absolute"),
            ("..\\x", "backslash"),
            ("C:/x", "drive"),
        ] {
            let zip = build(&[("ok.txt", b"fine"), (name, b"evil")]);
            let err = assert_refused_cleanly(&zip, &ZipLimits::DEFAULT);
            assert!(
                matches!(&err, UnzipError::Escapes { entry, .. } if entry == name),
                "{name}: {err}"
            );
            assert!(err.to_string().contains(why), "{err}");
        }
    }

    #[test]
    fn symlinks_and_special_files_are_refused() {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        w.start_file("ok.txt", deflate()).unwrap();
        w.write_all(b"fine").unwrap();
        w.add_symlink("link", "/etc/passwd", SimpleFileOptions::default())
            .unwrap();
        let zip = w.finish().unwrap().into_inner();
        let err = assert_refused_cleanly(&zip, &ZipLimits::DEFAULT);
        assert!(
            matches!(
                err,
                UnzipError::NotARegularFile {
                    kind: "symbolic link",
                    ..
                }
            ),
            "{err}"
        );

        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        w.start_file("fifo", deflate().external_attributes(0o010_644 << 16))
            .unwrap();
        let zip = w.finish().unwrap().into_inner();
        let err = assert_refused_cleanly(&zip, &ZipLimits::DEFAULT);
        assert!(
            matches!(err, UnzipError::NotARegularFile { kind: "fifo", .. }),
            "{err}"
        );
    }

    #[test]
    fn duplicate_names_are_refused() {
        let zip = build(&[("a/b.pdf", b"1"), ("a_b.pdf", b"2")]);
        let err = assert_refused_cleanly(&zip, &ZipLimits::DEFAULT);
        assert!(matches!(err, UnzipError::DuplicateName { .. }), "{err}");
        let zip = build(&[("Rapport.PDF", b"1"), ("rapport.pdf", b"2")]);
        let err = assert_refused_cleanly(&zip, &ZipLimits::DEFAULT);
        assert!(matches!(err, UnzipError::DuplicateName { .. }), "{err}");
        let zip = build(&[("feil.txt", b"1"), ("FEIL.TXT", b"2")]);
        let err = assert_refused_cleanly(&zip, &ZipLimits::DEFAULT);
        assert!(matches!(err, UnzipError::DuplicateName { .. }), "{err}");
    }

    /// A sender's entry named as the contract's files is delivered under a
    /// prefixed name no other entry has, with its own bytes and hash.
    #[test]
    fn reserved_names_are_delivered_under_a_prefix() {
        let zip = build(&[
            ("feil.txt", b"the sender's document"),
            ("vedlegg-feil.txt", b"another document"),
            ("Forsendelse.JSON", b"{}"),
            ("mappe/KLAR", b"k"),
            ("melding.json", b"m"),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let files = extract(Cursor::new(&zip), &open(dir.path()), &ZipLimits::DEFAULT).unwrap();
        let names: Vec<(&str, &str)> = files
            .iter()
            .map(|f| (f.entry.as_str(), f.name.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("feil.txt", "vedlegg-feil-2.txt"),
                ("vedlegg-feil.txt", "vedlegg-feil.txt"),
                ("Forsendelse.JSON", "vedlegg-Forsendelse.JSON"),
                ("mappe/KLAR", "mappe_KLAR"),
                ("melding.json", "vedlegg-melding.json"),
            ]
        );
        assert_eq!(
            std::fs::read(dir.path().join("vedlegg-feil-2.txt")).unwrap(),
            b"the sender's document"
        );
        assert_eq!(
            files[0].sha256_hex(),
            hex::encode(Sha256::digest(b"the sender's document"))
        );
        for reserved in ["feil.txt", "forsendelse.json", "melding.json"] {
            assert!(!dir.path().join(reserved).exists(), "{reserved}");
        }
    }

    #[test]
    fn too_many_entries_are_refused() {
        let entries: Vec<(String, &[u8])> = (0..11).map(|i| (format!("f{i}"), &b"x"[..])).collect();
        let refs: Vec<(&str, &[u8])> = entries.iter().map(|(n, d)| (n.as_str(), *d)).collect();
        let limits = ZipLimits {
            max_entries: 10,
            ..ZipLimits::DEFAULT
        };
        let err = assert_refused_cleanly(&build(&refs), &limits);
        assert!(
            matches!(err, UnzipError::TooManyEntries { count: 11, max: 10 }),
            "{err}"
        );
    }

    /// 100 MB of zeros deflate to about 100 KB: ratio about 1,000.
    fn bomb() -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        w.start_file("ok.txt", deflate()).unwrap();
        w.write_all(b"fine").unwrap();
        w.start_file("zeros.bin", deflate().large_file(false))
            .unwrap();
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..100 {
            w.write_all(&chunk).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn an_honest_bomb_is_refused_from_its_headers() {
        let zip = bomb();
        assert!(zip.len() < 1 << 20, "the bomb is {} bytes", zip.len());
        let err = assert_refused_cleanly(&zip, &ZipLimits::DEFAULT);
        assert!(matches!(err, UnzipError::RatioTooHigh { .. }), "{err}");
        let limits = ZipLimits {
            max_ratio: 100_000,
            max_total_bytes: 50 << 20,
            ..ZipLimits::DEFAULT
        };
        let err = assert_refused_cleanly(&zip, &limits);
        assert!(
            matches!(err, UnzipError::TotalTooBig { claimed: true, .. }),
            "{err}"
        );
    }

    /// Rewrites the uncompressed size of every entry, in both the local and
    /// the central headers, to `size`: the headers lie, the data does not.
    fn lie_about_sizes(zip: &mut [u8], size: u32) {
        lie(zip, None, size);
    }

    /// The same for the entry named `name` only.
    fn lie_about_sizes_of(zip: &mut [u8], name: &str, size: u32) {
        lie(zip, Some(name), size);
    }

    fn zip_with_a_duplicate() -> Vec<u8> {
        let mut zip = build(&[
            ("vedtak.pdf", b"%PDF first"),
            ("ok.txt", b"fine"),
            ("brevet.pdf", b"%PDF second"),
        ]);
        mottak_fixtures::hostile_zip::rename_entry(&mut zip, "brevet.pdf", "vedtak.pdf").unwrap();
        zip
    }

    #[test]
    fn two_entries_of_the_same_name_are_refused_and_named() {
        let zip = zip_with_a_duplicate();
        let err = assert_refused_cleanly(&zip, &ZipLimits::DEFAULT);
        assert!(
            matches!(&err, UnzipError::DuplicateEntry { entry: Some(e) } if e == "vedtak.pdf"),
            "{err}"
        );
        assert!(
            err.to_string().contains("two entries named \"vedtak.pdf\""),
            "{err}"
        );
        // The same zip delivered whole (unzip = false) is refused too: which
        // of the two a reader takes is up to the reader.
        let err = forsendelse_metadata_from_zip(Cursor::new(&zip)).unwrap_err();
        assert!(matches!(err, UnzipError::DuplicateEntry { .. }), "{err}");
    }

    fn lie(zip: &mut [u8], only: Option<&str>, size: u32) {
        let le16 = |z: &[u8], i: usize| usize::from(u16::from_le_bytes([z[i], z[i + 1]]));
        let mut i = 0;
        while i + 46 <= zip.len() {
            // (size field offset, name length offset, name offset)
            let layout = match &zip[i..i + 4] {
                [0x50, 0x4b, 0x03, 0x04] => Some((22, 26, 30)),
                [0x50, 0x4b, 0x01, 0x02] => Some((24, 28, 46)),
                _ => None,
            };
            if let Some((size_at, len_at, name_at)) = layout {
                let n = le16(zip, i + len_at);
                let entry = zip.get(i + name_at..i + name_at + n).unwrap_or_default();
                if only.is_none_or(|o| o.as_bytes() == entry) {
                    zip[i + size_at..i + size_at + 4].copy_from_slice(&size.to_le_bytes());
                }
            }
            i += 1;
        }
    }

    /// The zip crate stops at the declared size itself; our own count of
    /// the bytes written is the second line. Either way: refused, named, and
    /// nothing left behind.
    fn is_bigger_than_declared(err: &UnzipError, name: &str) -> bool {
        match err {
            UnzipError::BiggerThanDeclared { entry, .. } => entry == name,
            UnzipError::Corrupt { entry, source } => {
                entry == name && source.to_string().contains("larger than its declared")
            }
            _ => false,
        }
    }

    #[test]
    fn a_bomb_with_lying_headers_is_stopped_by_the_bytes() {
        // Only the bomb lies: it claims 4 bytes, like the honest ok.txt.
        let mut zip = bomb();
        lie_about_sizes_of(&mut zip, "zeros.bin", 4);
        let err = assert_refused_cleanly(&zip, &ZipLimits::DEFAULT);
        assert!(is_bigger_than_declared(&err, "zeros.bin"), "{err}");
    }

    #[test]
    fn a_total_hidden_by_lying_headers_is_stopped_by_the_bytes() {
        let data = vec![7u8; 600_000];
        let mut zip = build(&[("a.bin", &data), ("b.bin", &data)]);
        let limits = ZipLimits {
            max_total_bytes: 1_000_000,
            ..ZipLimits::DEFAULT
        };
        let err = assert_refused_cleanly(&zip, &limits);
        assert!(
            matches!(err, UnzipError::TotalTooBig { claimed: true, .. }),
            "{err}"
        );
        // The headers now claim 1,000 bytes each: under every limit.
        lie_about_sizes(&mut zip, 1000);
        let err = assert_refused_cleanly(&zip, &limits);
        assert!(is_bigger_than_declared(&err, "a.bin"), "{err}");
    }

    #[test]
    fn not_a_zip_is_a_clear_error() {
        let err = assert_refused_cleanly(b"%PDF-1.4 not a zip", &ZipLimits::DEFAULT);
        assert!(matches!(err, UnzipError::NotAZip(_)), "{err}");
    }

    #[test]
    fn forsendelse_metadata_is_read_from_files_or_the_zip() {
        let json = br#"{"eksternRef":"ref-1","digisosId":"d3b07384-d9a0-4c4b-8b5a-2e1c2f9e9a11"}"#;
        let zip = build(&[("soknad.pdf", b"%PDF"), (FORSENDELSE_METADATA, json)]);
        let dir = tempfile::tempdir().unwrap();
        let files = extract(Cursor::new(&zip), &open(dir.path()), &ZipLimits::DEFAULT).unwrap();
        let meta = read_forsendelse_metadata(&open(dir.path()), &files)
            .unwrap()
            .unwrap();
        assert_eq!(meta.digisos_id, "d3b07384-d9a0-4c4b-8b5a-2e1c2f9e9a11");
        assert_eq!(meta.ekstern_ref, "ref-1");
        assert_eq!(
            forsendelse_metadata_from_zip(Cursor::new(&zip)).unwrap(),
            Some(meta)
        );

        let plain = build(&[("soknad.pdf", b"%PDF")]);
        assert_eq!(
            forsendelse_metadata_from_zip(Cursor::new(&plain)).unwrap(),
            None
        );
        let bad = build(&[(FORSENDELSE_METADATA, b"{\"eksternRef\":1}")]);
        assert!(matches!(
            forsendelse_metadata_from_zip(Cursor::new(&bad)),
            Err(UnzipError::BadMetadata(_))
        ));
    }
}
