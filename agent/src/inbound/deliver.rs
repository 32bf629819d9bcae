//! From a listed forsendelse to a durable staging folder: download, decrypt,
//! check against the listed files (V1's `filmetadata`, V2's `filer`), unzip,
//! write `forsendelse.json`, fsync. The same for both SvarInn APIs: it works on [`Listed`].
//!
//! Pure file work on one staging folder; the worker owns the journal and the
//! retry decisions. Every error says which file and what was wrong, because it
//! ends up in the console and, for content errors, in the mottakFeilet text
//! the sender reads.

use std::path::PathBuf;
use std::sync::Arc;

use mottak_protocol::cms::RecipientKey;
use mottak_protocol::listed::{Listed, ListedFile};
use mottak_protocol::svarinn::FORSENDELSE_TYPE_DIGISOS;
use tokio_util::sync::CancellationToken;

use super::fetch::{Body, FailureClass, FetchError, Fetched, decrypt_to_file, fetch};
use super::limits::DownloadLimits;
use super::link::Slot;
use crate::dropfolder::dirfd::{Dir, DirError, Kind, Name, Replace};
use crate::dropfolder::{DropError, DropFolder, Staging};
use crate::journal::InnsendingKey;
use crate::names::{ForsendelseId, SafeName, sanitize_or, unreserved};
use crate::svarinn_client::ApiClient;
use crate::unzip::{self, ExtractedFile, UnzipError, ZipLimits};

/// The decrypted download's name inside the staging folder until it is known
/// whether it is a zip to unpack. Starts with a dot: never a published name.
const PAYLOAD: Name = Name::fixed(".payload");
/// Where a zip kept whole (`unzip = false`) is unpacked to check its entries.
const VERIFY_DIR: Name = Name::fixed(".verify");

/// What went wrong preparing one forsendelse.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("{0}")]
    Checksum(String),
    #[error("the zip could not be unpacked: {0}")]
    Unzip(#[source] UnzipError),
    #[error(transparent)]
    Drop(#[from] DropError),
    #[error(transparent)]
    Dir(#[from] DirError),
    #[error("could not {what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the preparation thread stopped unexpectedly: {0}")]
    Thread(String),
}

impl DeliverError {
    pub fn class(&self) -> FailureClass {
        match self {
            DeliverError::Fetch(err) => err.class(),
            DeliverError::Checksum(_) => FailureClass::Content,
            DeliverError::Unzip(UnzipError::Io { .. }) => FailureClass::Local,
            DeliverError::Unzip(_) => FailureClass::Content,
            DeliverError::Drop(_)
            | DeliverError::Dir(_)
            | DeliverError::Io { .. }
            | DeliverError::Thread(_) => FailureClass::Local,
        }
    }
}

/// How to prepare the forsendelses of one mottakersystem.
#[derive(Debug, Clone)]
pub struct Preparation {
    pub keys: Arc<Vec<RecipientKey>>,
    pub unzip: bool,
    pub zip_limits: ZipLimits,
    pub download_timeout: std::time::Duration,
    /// `max_forsendelse_size` and `min_free_space`.
    pub limits: DownloadLimits,
}

/// What ended up in the staging folder.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The files the fagsystem will see, besides `forsendelse.json`.
    pub files: Vec<String>,
    pub bytes: u64,
    pub key_index: usize,
}

/// A forsendelse downloaded, decrypted, verified and durable in its staging
/// folder (files and `forsendelse.json` fsynced, and the folder), ready to publish.
#[derive(Debug)]
pub struct Staged {
    pub staging: Staging,
    pub prepared: Prepared,
    /// From `forsendelseMetadata.json` (nav.digisos forsendelser): what it is claimed by
    /// before it is published, so that it is not delivered again after Fiks IO delivered it.
    pub innsending: Option<InnsendingKey>,
}

/// A forsendelse to download: its id, its listing, and that listing's JSON
/// as SvarInn sent it (written as `forsendelse.json`).
#[derive(Debug)]
pub struct Wanted {
    pub id: ForsendelseId,
    pub forsendelse: Listed,
    pub raw_json: String,
}

/// Everything from the download to a durable staging folder. `permit`, a
/// download slot, is held until the decryption is done: the checks and
/// fsyncs after it do not keep the next download waiting. On `Err` the
/// staging folder is removed. `stop` (the agent's shutdown) ends a download
/// in progress.
///
/// Everything after the network runs in one call on the blocking pool, which
/// this waits for to the end (the download's time limit is enforced inside
/// it), so nothing is ever left writing into a staging folder a retry reuses.
pub async fn download_and_stage(
    client: &ApiClient,
    how: &Preparation,
    drop: &DropFolder,
    wanted: Wanted,
    permit: Slot,
    stop: CancellationToken,
) -> Result<Staged, DeliverError> {
    let Wanted {
        id,
        forsendelse,
        raw_json,
    } = wanted;
    // Refused or held back before a byte is asked for.
    how.limits
        .before_download(&forsendelse.files)
        .map_err(FetchError::Limit)?;
    let deadline = tokio::time::Instant::now() + how.download_timeout;
    let body = fetch(
        client,
        &forsendelse.download_url,
        deadline,
        how.download_timeout,
        stop,
        &how.limits,
    )
    .await?;
    let how = how.clone();
    let drop = drop.clone();
    tokio::task::spawn_blocking(move || {
        let staging = drop.stage(&id)?;
        let staged = stage_files(&how, &forsendelse, &raw_json, &staging, body, permit).and_then(
            |prepared| {
                drop.sync_staging(&staging)?;
                Ok(prepared)
            },
        );
        match staged {
            Ok(prepared) => Ok(Staged {
                innsending: innsending_key(
                    staging.dir(),
                    &id,
                    forsendelse.forsendelse_type.as_deref(),
                ),
                staging,
                prepared,
            }),
            Err(err) => {
                let _ = drop.discard(staging);
                Err(err)
            }
        }
    })
    .await
    .map_err(|err| DeliverError::Thread(err.to_string()))?
}

/// The blocking half of [`download_and_stage`]: decrypt into the staging
/// folder (then give the download slot back), check the files against
/// the listed files and put them under their names (unpacked when asked), and
/// write `forsendelse.json`.
fn stage_files(
    how: &Preparation,
    forsendelse: &Listed,
    raw_json: &str,
    staging: &Staging,
    body: Body,
    permit: Slot,
) -> Result<Prepared, DeliverError> {
    let (content_type, filename) = (body.content_type.clone(), body.filename.clone());
    let limit = plaintext_limit(&forsendelse.files);
    let decrypted = decrypt_to_file(body, &how.keys, staging.dir(), &PAYLOAD, limit, &how.limits);
    std::mem::drop(permit);
    let fetched = Fetched {
        content_type,
        filename,
        ..decrypted?
    };
    let prepared = place_files(how, forsendelse, staging, &fetched)?;
    staging.write_forsendelse_json(raw_json.as_bytes())?;
    Ok(prepared)
}

/// A guard on how far a download may grow: what SvarInn declared, plus a
/// margin because the download may be a zip around the declared files
/// (headers; stored entries add nothing) and that is known only once it
/// arrives. The exact sizes and hashes are checked after decryption.
fn plaintext_limit(files: &[ListedFile]) -> Option<u64> {
    let sizes: Option<Vec<u64>> = files.iter().map(|f| f.size).collect();
    let total: u64 = sizes?.iter().sum();
    (total > 0).then(|| total + total / 10 + 1024 * 1024)
}

fn is_zip_mime(mime: &str) -> bool {
    let mime = mime.to_ascii_lowercase();
    mime.contains("zip")
}

/// Whether the decrypted payload is a zip: by `Content-Type` (as KS's own
/// client decides), else by the file's magic number.
fn payload_is_zip(fetched: &Fetched, dir: &Dir) -> bool {
    if let Some(ct) = &fetched.content_type {
        if is_zip_mime(ct) {
            return true;
        }
        if ct.to_ascii_lowercase().starts_with("application/pdf") {
            return false;
        }
    }
    let mut magic = [0u8; 4];
    dir.open_file(&PAYLOAD)
        .is_ok_and(|mut f| std::io::Read::read_exact(&mut f, &mut magic).is_ok())
        && magic == *b"PK\x03\x04"
}

/// Moves the payload to its published name (or unpacks it) and checks every
/// file against the listed files.
fn place_files(
    how: &Preparation,
    forsendelse: &Listed,
    staging: &Staging,
    fetched: &Fetched,
) -> Result<Prepared, DeliverError> {
    let dir = staging.dir();
    let is_zip = payload_is_zip(fetched, dir);
    if is_zip {
        // Unpacking writes about the zip's size again.
        how.limits
            .ensure_room(fetched.size)
            .map_err(FetchError::Limit)?;
    }
    if is_zip && how.unzip {
        let zip = dir.open_file(&PAYLOAD)?;
        let files = unzip::extract(zip, dir, &how.zip_limits).map_err(DeliverError::Unzip)?;
        dir.remove_file(&PAYLOAD)?;
        verify_entries(&forsendelse.files, &files)?;
        return Ok(Prepared {
            bytes: files.iter().map(|f| f.size).sum(),
            files: files.iter().map(|f| f.name.as_str().to_owned()).collect(),
            key_index: fetched.key_index,
        });
    }
    if is_zip {
        // Kept whole, but its entries are still checked: unpack into a
        // scratch folder under the same limits, then throw that away.
        let scratch = dir.create_dir(&VERIFY_DIR, 0o700)?;
        let entries = unzip::extract(dir.open_file(&PAYLOAD)?, &scratch, &how.zip_limits)
            .map_err(DeliverError::Unzip);
        dir.remove_tree(&VERIFY_DIR)?;
        verify_entries(&forsendelse.files, &entries?)?;
    } else {
        verify_single(&forsendelse.files, fetched)?;
    }
    let name = published_name(forsendelse, fetched, is_zip);
    dir.rename(&PAYLOAD, dir, &Name::from(&name), Replace::Never)?;
    Ok(Prepared {
        files: vec![name.as_str().to_owned()],
        bytes: fetched.size,
        key_index: fetched.key_index,
    })
}

/// The file's name in `inn/<id>/`: SvarInn's `Content-Disposition`, else the
/// declared `filnavn`, else a generic name; never a name the contract
/// reserves (`feil.txt` is delivered as `vedlegg-feil.txt`: see
/// [`crate::names::unreserved`]; the folder holds only it and
/// `forsendelse.json`, so the prefixed name is free).
fn published_name(forsendelse: &Listed, fetched: &Fetched, is_zip: bool) -> SafeName {
    let fallback = if is_zip {
        "forsendelse.zip"
    } else {
        "dokument.pdf"
    };
    let declared = if is_zip {
        None
    } else {
        forsendelse.files.first().map(|m| m.name.as_str())
    };
    let raw = fetched.filename.as_deref().or(declared).unwrap_or(fallback);
    unreserved(sanitize_or(raw, fallback), |_| false)
}

/// One file, one listed entry: its sha256 and, when declared, its size.
fn verify_single(listed: &[ListedFile], fetched: &Fetched) -> Result<(), DeliverError> {
    let Some(meta) = listed.first() else {
        // SvarInn requires filmetadata; without it there is nothing to check
        // against, and refusing would strand a forsendelse the fagsystem can read.
        return Ok(());
    };
    if listed.len() > 1 {
        return Err(DeliverError::Checksum(format!(
            "SvarInn declared {} files but sent a single file that is not a zip",
            listed.len()
        )));
    }
    check(meta, fetched.size, &fetched.sha256, &meta.name)
}

/// Every declared file must be among the zip's entries with the declared
/// sha256 and size. Extra entries (such as `forsendelseMetadata.json`) are allowed.
fn verify_entries(listed: &[ListedFile], files: &[ExtractedFile]) -> Result<(), DeliverError> {
    for meta in listed {
        let wanted = sanitize_or(&meta.name, "_");
        // By the entry's name as written, as sanitised, or (for entries in
        // folders, which SvarInn may declare by their base name) its last part.
        let found = files
            .iter()
            .find(|f| f.entry == meta.name)
            .or_else(|| files.iter().find(|f| f.name == wanted))
            .or_else(|| {
                files
                    .iter()
                    .find(|f| f.entry.rsplit(['/', '\\']).next() == Some(meta.name.as_str()))
            });
        let Some(file) = found else {
            return Err(DeliverError::Checksum(format!(
                "SvarInn declared the file {:?}, but the zip holds no such entry (it holds {})",
                meta.name,
                files
                    .iter()
                    .map(|f| format!("{:?}", f.entry))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        check(meta, file.size, &file.sha256, &file.entry)?;
    }
    Ok(())
}

fn check(meta: &ListedFile, size: u64, sha256: &[u8; 32], what: &str) -> Result<(), DeliverError> {
    let declared = meta.sha256().map_err(|err| {
        DeliverError::Checksum(format!(
            "SvarInn's sha256hash for {what:?} is unreadable: {err}"
        ))
    })?;
    if let Some(declared_size) = meta.size
        && declared_size != size
    {
        return Err(DeliverError::Checksum(format!(
            "{what:?} is {size} bytes after decryption, but SvarInn declared {declared_size}"
        )));
    }
    if &declared != sha256 {
        return Err(DeliverError::Checksum(format!(
            "{what:?} does not match its sha256 from SvarInn (declared {}, got {}): the file was changed or damaged on the way",
            hex::encode(declared),
            hex::encode(sha256)
        )));
    }
    Ok(())
}

/// The `{digisosId, eksternRef}` a nav.digisos forsendelse carries in `forsendelseMetadata.json`,
/// read from its folder, staged or published (unpacked, or inside the kept zip). `None`, with a
/// warning for a nav.digisos forsendelse, when it is absent or unreadable: then it is
/// delivered without the cross-channel check ([`InnsendingKey::or_warn`]).
pub fn innsending_key(
    folder: &Dir,
    id: &ForsendelseId,
    forsendelse_type: Option<&str>,
) -> Option<InnsendingKey> {
    const UNPACKED: Name = Name::fixed(unzip::FORSENDELSE_METADATA);
    let is_file = |name: &Name| {
        folder
            .stat(name)
            .ok()
            .flatten()
            .is_some_and(|m| m.kind == Kind::File)
    };
    let metadata = if is_file(&UNPACKED) {
        let files = [unzip::ExtractedFile {
            name: sanitize_or(unzip::FORSENDELSE_METADATA, "x"),
            entry: unzip::FORSENDELSE_METADATA.to_owned(),
            size: 0,
            sha256: [0; 32],
        }];
        unzip::read_forsendelse_metadata(folder, &files)
    } else if forsendelse_type == Some(FORSENDELSE_TYPE_DIGISOS) {
        let zip = folder.entries().ok().and_then(|entries| {
            entries.into_iter().find(|e| {
                e.meta.kind == Kind::File
                    && e.name
                        .to_str()
                        .is_some_and(|n| n.to_ascii_lowercase().ends_with(".zip"))
            })
        });
        match zip {
            Some(zip) => folder
                .open_file(&zip.name)
                .map_err(UnzipError::Dir)
                .and_then(unzip::forsendelse_metadata_from_zip),
            None => Ok(None),
        }
    } else {
        return None;
    };
    let found = metadata
        .map_err(|err| err.to_string())
        .and_then(|meta| meta.map(|m| InnsendingKey::from_metadata(&m)).transpose());
    InnsendingKey::or_warn(found, &format!("nav.digisos forsendelse {id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str, mime: &str, size: u64) -> ListedFile {
        ListedFile {
            name: name.into(),
            mime_type: mime.into(),
            sha256_hex: "00".repeat(32),
            size: (size != 0).then_some(size),
        }
    }

    #[test]
    fn limits_follow_the_declared_sizes() {
        let margin = 1024 * 1024;
        // A single declared file may still arrive as a zip around it.
        assert_eq!(
            plaintext_limit(&[meta("a.pdf", "application/pdf", 10)]),
            Some(10 + 1 + margin)
        );
        assert_eq!(
            plaintext_limit(&[meta("a.pdf", "application/pdf", 0)]),
            None
        );
        assert_eq!(plaintext_limit(&[]), None);
        let zip = [
            meta("a.pdf", "application/pdf", 1000),
            meta("b.txt", "text/plain", 1000),
        ];
        assert_eq!(plaintext_limit(&zip), Some(2000 + 200 + margin));
        let unknown = [meta("a.pdf", "application/pdf", 10), meta("b", "x", 0)];
        assert_eq!(plaintext_limit(&unknown), None);
    }

    fn fetched(name: Option<&str>) -> Fetched {
        Fetched {
            path: PathBuf::from("/nonexistent"),
            size: 0,
            sha256: [0; 32],
            key_index: 0,
            content_type: Some("application/pdf".into()),
            filename: name.map(str::to_owned),
        }
    }

    fn forsendelse(filnavn: &str) -> Listed {
        let json = serde_json::json!({
            "id": "a1b2", "tittel": "t", "mottaker": {"navn": "m"}, "niva": "3",
            "status": "Akseptert", "downloadUrl": "http://x/y",
            "filmetadata": [{"filnavn": filnavn, "mimetype": "application/pdf",
                             "sha256hash": "00", "size": 0}]
        });
        mottak_protocol::listed::parse_item(
            mottak_protocol::listed::SvarInnApi::V1,
            &json.to_string(),
        )
        .unwrap()
    }

    #[test]
    fn published_names_are_safe_and_never_a_reserved_name() {
        let f = forsendelse("vedtak.pdf");
        assert_eq!(
            published_name(&f, &fetched(Some("brev.pdf")), false).as_str(),
            "brev.pdf"
        );
        assert_eq!(
            published_name(&f, &fetched(None), false).as_str(),
            "vedtak.pdf"
        );
        assert_eq!(
            published_name(&f, &fetched(Some("../../etc/passwd")), false).as_str(),
            "___.._etc_passwd"
        );
        // A reserved name is kept, prefixed: never the contract's file.
        assert_eq!(
            published_name(&f, &fetched(Some("forsendelse.json")), false).as_str(),
            "vedlegg-forsendelse.json"
        );
        assert_eq!(
            published_name(&f, &fetched(Some("feil.txt")), false).as_str(),
            "vedlegg-feil.txt"
        );
        assert_eq!(
            published_name(&forsendelse("KLAR"), &fetched(None), false).as_str(),
            "vedlegg-KLAR"
        );
        assert_eq!(
            published_name(&forsendelse("\u{1}\u{2}"), &fetched(None), false).as_str(),
            "__"
        );
        let long = "x".repeat(1000) + ".pdf";
        let name = published_name(&f, &fetched(Some(&long)), false);
        assert!(name.as_str().len() <= 200 && name.as_str().ends_with(".pdf"));
    }
}
