//! One Fiks IO message, from its body to `inn/<melding-id>/`, in the order a
//! restart relies on (`crate::journal::fiks_io`):
//!
//! 1. journal it `received` by its `melding-id` (a known one that is settled
//!    is only acked: a redelivery);
//! 2. keep its encrypted bytes durably under `state_dir` (the AMQP body, or a
//!    dokumentlager download, bounded), fsynced;
//! 3. decrypt them (the CMS reader inbound uses) into the staging folder,
//!    unzip (the hostile-zip defences), check the ASiC-E manifest (every data
//!    file listed with its SHA-256), keep the data files, write `melding.json`,
//!    fsync the staging folder;
//! 4. journal `staged` with the Digisos innsending's cross-channel claim in
//!    the same transaction (held by a SvarInn delivery: `duplicate` with the
//!    link, not published, acked, its receipt still owed); rename into `inn/`
//!    (a folder already there with our `melding.json` is recognised); journal
//!    `delivered` and the receipt duty in one transaction; only then ack, then
//!    drop the kept copy.
//!
//! A message that cannot be decrypted or whose digests are wrong is `failed`
//! with its kept copy and acked, without a receipt. Anything else that goes
//! wrong (disk, journal, network) leaves it unacked, to be tried again.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::StreamExt;
use mottak_protocol::asice::{MANIFEST_PATH, MAX_MANIFEST_BYTES, Manifest};
use mottak_protocol::cms::RecipientKey;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing::{info, warn};

use super::FiksIoHealth;
use crate::config::AckMode;
use crate::dropfolder::dirfd::{Dir, Name, Replace};
use crate::dropfolder::{Channel, DropFolder, Location, Staging};
use crate::fiks_client::FiksClient;
use crate::inbound::fetch::{FailureClass, decrypt_to_file};
use crate::inbound::limits::DownloadLimits;
use crate::journal::SharedJournal;
use crate::journal::fiks_io::{FiksIoRow, FiksIoState, NewMelding, Staged as StageOutcome};
use crate::journal::innsending::InnsendingKey;
use crate::names::ForsendelseId;
use crate::unzip::{self, ExtractedFile, UnzipError, ZipLimits};

/// The decrypted ASiC-E in the staging folder until it is unpacked.
const PAYLOAD: Name = Name::fixed(".asice");
/// Where the container is unpacked before its data files are kept.
const UNPACKED: Name = Name::fixed(".unpacked");

/// What one mottakersystem's deliveries share.
pub struct Context {
    pub system: String,
    pub ack: AckMode,
    pub drop: DropFolder,
    pub journal: SharedJournal,
    pub keys: Arc<Vec<RecipientKey>>,
    pub fiks: Arc<FiksClient>,
    /// `state_dir/fiks-io/<mottakersystem>/`: the kept encrypted copies.
    pub kept_dir: PathBuf,
    pub zip: ZipLimits,
    pub limits: DownloadLimits,
    pub health: Arc<FiksIoHealth>,
    /// Told when a receipt falls due.
    pub receipts: Arc<tokio::sync::Notify>,
    pub clock: Arc<dyn crate::clock::Clock>,
    /// The melding-ids being handled now: a second copy of one (published
    /// twice, or redelivered while the first is still at work) waits for
    /// the first, then finds it settled.
    pub in_flight: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// Holds a melding-id in [`Context::in_flight`] until dropped.
struct InFlight<'a> {
    ctx: &'a Context,
    id: String,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Ok(mut set) = self.ctx.in_flight.lock() {
            set.remove(&self.id);
        }
    }
}

/// What to do with the AMQP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Settled in the journal (delivered, failed or a duplicate): ack it.
    Ack,
    /// Not settled (disk, journal, network): leave it unacked, try again.
    Retry(String),
    /// Another copy of it is being delivered now: look again shortly.
    Busy,
}

/// Why a message could not be prepared.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PrepareError {
    /// The message itself is wrong (decryption, digests, zip): `failed`.
    Content(String),
    /// Our side or the network: try again.
    Local(String),
}

/// What a staged message brought.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Prepared {
    files: Vec<String>,
    bytes: u64,
    /// Its `{digisosId, eksternRef}`, when it carries them.
    key: Option<InnsendingKey>,
}

/// Where a message's body is.
pub enum Body {
    /// The AMQP body.
    Inline(Vec<u8>),
    /// `dokumentlager-id`: fetched from Fiks.
    Dokumentlager(String),
}

impl Context {
    /// The kept copy of `melding_id`'s encrypted bytes.
    pub fn kept_path(&self, melding_id: &str) -> PathBuf {
        self.kept_dir.join(format!("{melding_id}.cms"))
    }

    /// Steps 1–4 of the module doc for one message.
    pub async fn handle(&self, melding: &NewMelding, body: Body) -> Outcome {
        let claimed = self
            .in_flight
            .lock()
            .map(|mut set| set.insert(melding.melding_id.clone()))
            .unwrap_or(false);
        if !claimed {
            return Outcome::Busy;
        }
        let _held = InFlight {
            ctx: self,
            id: melding.melding_id.clone(),
        };
        match self.handle_inner(melding, body).await {
            Ok(()) => Outcome::Ack,
            Err(reason) => {
                warn!(mottakersystem = %self.system, melding_id = %melding.melding_id, error = %reason, "Fiks IO message not delivered yet; it stays unacked and is tried again");
                Outcome::Retry(reason)
            }
        }
    }

    async fn handle_inner(&self, melding: &NewMelding, body: Body) -> Result<(), String> {
        let system = self.system.clone();
        let m = melding.clone();
        let row = self
            .journal
            .call(move |j| j.fiks_io_received(&system, &m))
            .await
            .map_err(|e| e.to_string())?;
        match row.state {
            state if state.is_settled() => {
                info!(mottakersystem = %self.system, melding_id = %melding.melding_id, state = %state, "Fiks IO message delivered again by the broker; already settled, acknowledging it");
                Ok(())
            }
            FiksIoState::Staged => self.finish_staged(&row).await,
            _ => self.receive(melding, body).await,
        }
    }

    /// A `received` message: keep, prepare, stage, publish, settle.
    async fn receive(&self, melding: &NewMelding, body: Body) -> Result<(), String> {
        let id = ForsendelseId::parse(&melding.melding_id).map_err(|e| e.to_string())?;
        let kept = self.kept_path(&melding.melding_id);
        match self.keep(&kept, body).await {
            Ok(()) => {}
            Err(PrepareError::Content(reason)) => return self.fail(melding, &reason, None).await,
            Err(PrepareError::Local(reason)) => return Err(reason),
        }
        let drop = self.drop.clone();
        let (keys, zip, limits) = (Arc::clone(&self.keys), self.zip, self.limits.clone());
        let (file, staging_id) = (kept.clone(), id.clone());
        let m = melding.clone();
        let now = self.clock.now();
        let staged = tokio::task::spawn_blocking(move || {
            let staging = drop
                .stage_for(Channel::FiksIo, &staging_id)
                .map_err(|e| PrepareError::Local(e.to_string()))?;
            let result = prepare(&file, &keys, &staging, &zip, &limits, &m, now).and_then(|p| {
                drop.sync_staging(&staging)
                    .map_err(|e| PrepareError::Local(e.to_string()))?;
                Ok(p)
            });
            match result {
                Ok(p) => Ok((staging, p)),
                Err(e) => {
                    let _ = drop.discard(staging);
                    Err(e)
                }
            }
        })
        .await
        .map_err(|e| format!("the preparation thread stopped: {e}"))?;
        let (staging, prepared) = match staged {
            Ok(s) => s,
            Err(PrepareError::Content(reason)) => {
                return self
                    .fail(melding, &reason, Some(kept.display().to_string()))
                    .await;
            }
            Err(PrepareError::Local(reason)) => return Err(reason),
        };
        let (system, mid) = (self.system.clone(), melding.melding_id.clone());
        let key = prepared.key.clone();
        let kept_text = kept.display().to_string();
        let bytes = prepared.bytes;
        let receipt_owed = super::receipt_type(&melding.melding_type).is_some();
        // The cross-channel claim is taken in the same transaction as `staged`.
        let outcome = self
            .journal
            .call(move |j| {
                j.fiks_io_stage(&system, &mid, key.as_ref(), &kept_text, bytes, receipt_owed)
            })
            .await
            .map_err(|e| e.to_string())?;
        if let StageOutcome::Duplicate(holder) = outcome {
            info!(mottakersystem = %self.system, melding_id = %melding.melding_id, delivered_by = %holder.channel, delivered_id = %holder.id, "Fiks IO message already delivered by the other channel: not delivered again, acknowledged (its receipt is still sent)");
            let drop = self.drop.clone();
            let _ = tokio::task::spawn_blocking(move || drop.discard(staging)).await;
            let _ = std::fs::remove_file(&kept);
            if receipt_owed {
                self.receipts.notify_one();
            }
            return Ok(());
        }
        self.publish(melding, staging).await?;
        info!(mottakersystem = %self.system, melding_id = %melding.melding_id, melding_type = %melding.melding_type, files = prepared.files.len(), bytes = prepared.bytes, "Fiks IO message delivered into inn/");
        Ok(())
    }

    /// Renames the staging folder into `inn/` and settles the row.
    async fn publish(&self, melding: &NewMelding, staging: Staging) -> Result<(), String> {
        let drop = self.drop.clone();
        tokio::task::spawn_blocking(move || drop.publish_synced(staging))
            .await
            .map_err(|e| format!("the publishing thread stopped: {e}"))?
            .map_err(|e| e.to_string())?;
        self.settle(melding).await
    }

    /// `delivered` and the receipt duty, in one transaction.
    async fn settle(&self, melding: &NewMelding) -> Result<(), String> {
        let (system, mid) = (self.system.clone(), melding.melding_id.clone());
        let receipt_owed = super::receipt_type(&melding.melding_type).is_some();
        self.journal
            .call(move |j| j.fiks_io_delivered(&system, &mid, receipt_owed))
            .await
            .map_err(|e| e.to_string())?;
        if receipt_owed {
            self.receipts.notify_one();
        }
        Ok(())
    }

    /// A `staged` row (a redelivery after a crash, or found at startup):
    /// still staged → publish; already in `inn/`, `feilet/` or taken by the
    /// fagsystem → settle. Its staging disappears only by the rename, and
    /// the cleanup at startup keeps the staging of `staged` rows.
    pub async fn finish_staged(&self, row: &FiksIoRow) -> Result<(), String> {
        let id = ForsendelseId::parse(&row.melding.melding_id).map_err(|e| e.to_string())?;
        let drop = self.drop.clone();
        let lookup = id.clone();
        let location = tokio::task::spawn_blocking(move || {
            drop.locate_for(Channel::FiksIo, &lookup, true)
                .map(|l| (l, drop.existing_staging_for(Channel::FiksIo, &lookup)))
        })
        .await
        .map_err(|e| format!("the drop folder thread stopped: {e}"))?
        .map_err(|e| e.to_string())?;
        match location {
            (Some(Location::Staged), Some(staging)) => self.publish(&row.melding, staging).await,
            _ => self.settle(&row.melding).await,
        }
    }

    /// `failed` for a person, with the kept copy; the message is acked.
    async fn fail(
        &self,
        melding: &NewMelding,
        reason: &str,
        kept: Option<String>,
    ) -> Result<(), String> {
        warn!(mottakersystem = %self.system, melding_id = %melding.melding_id, error = %reason, kept = kept.as_deref().unwrap_or("-"), "Fiks IO message failed: it is acknowledged without a receipt, so Fiks falls back to SvarInn; its encrypted copy is kept");
        let (system, mid, why) = (
            self.system.clone(),
            melding.melding_id.clone(),
            reason.to_owned(),
        );
        self.journal
            .call(move |j| j.fiks_io_failed(&system, &mid, &why, kept.as_deref()))
            .await
            .map_err(|e| e.to_string())
    }

    /// After the ack: the kept copy of a delivered message is not needed.
    pub async fn after_ack(&self, melding_id: &str) {
        let (system, mid) = (self.system.clone(), melding_id.to_owned());
        let row = self
            .journal
            .read(move |j| j.fiks_io_row(&system, &mid))
            .await;
        let Ok(Some(row)) = row else { return };
        if matches!(row.state, FiksIoState::Failed) {
            return;
        }
        let Some(kept) = row.kept_copy.clone() else {
            return;
        };
        let path = PathBuf::from(&kept);
        if let Err(e) = std::fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            warn!(mottakersystem = %self.system, melding_id, path = %path.display(), error = %e, "cannot remove the kept copy of a delivered Fiks IO message");
            return;
        }
        let (system, mid) = (self.system.clone(), melding_id.to_owned());
        let _ = self
            .journal
            .call(move |j| j.fiks_io_copy_dropped(&system, &mid))
            .await;
    }

    /// Writes the encrypted bytes to `path` durably (temporary name, fsync,
    /// rename, fsync of the folder), from the body or the dokumentlager.
    async fn keep(&self, path: &Path, body: Body) -> Result<(), PrepareError> {
        let local = |e: std::io::Error| {
            PrepareError::Local(format!(
                "cannot keep the message under {}: {e}",
                path.display()
            ))
        };
        std::fs::create_dir_all(&self.kept_dir).map_err(local)?;
        let partial = path.with_extension("cms.partial");
        let mut file = File::create(&partial).map_err(local)?;
        let cap = self.limits.ciphertext_cap();
        match body {
            Body::Inline(bytes) => {
                if bytes.len() as u64 > cap {
                    return Err(PrepareError::Content(format!(
                        "the message is {} bytes, more than max_forsendelse_size allows",
                        bytes.len()
                    )));
                }
                file.write_all(&bytes).map_err(local)?;
            }
            Body::Dokumentlager(id) => {
                let response = self.fiks.dokumentlager_download(&id).await.map_err(|e| {
                    if e.is_permanent() {
                        PrepareError::Content(format!("the dokumentlager refused {id}: {e}"))
                    } else {
                        PrepareError::Local(e.to_string())
                    }
                })?;
                let mut stream = response.bytes_stream();
                let mut written = 0u64;
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(|e| {
                        PrepareError::Local(format!("the dokumentlager download broke off: {e}"))
                    })?;
                    written += chunk.len() as u64;
                    if written > cap {
                        return Err(PrepareError::Content(format!(
                            "the dokumentlager file {id} is more than the {cap} bytes max_forsendelse_size allows; cut there"
                        )));
                    }
                    file.write_all(&chunk).map_err(local)?;
                }
            }
        }
        file.sync_all().map_err(local)?;
        drop(file);
        std::fs::rename(&partial, path).map_err(local)?;
        File::open(&self.kept_dir)
            .and_then(|d| d.sync_all())
            .map_err(local)?;
        Ok(())
    }
}

/// The blocking part: decrypt the kept copy into the staging folder, unpack
/// and check the ASiC-E, keep its data files, write `melding.json`.
fn prepare(
    kept: &Path,
    keys: &[RecipientKey],
    staging: &Staging,
    zip: &ZipLimits,
    limits: &DownloadLimits,
    melding: &NewMelding,
    received: OffsetDateTime,
) -> Result<Prepared, PrepareError> {
    let dir = staging.dir();
    let input = File::open(kept).map_err(|e| {
        PrepareError::Local(format!("cannot read the kept copy {}: {e}", kept.display()))
    })?;
    decrypt_to_file(input, keys, dir, &PAYLOAD, None, limits).map_err(|e| match e.class() {
        FailureClass::Content | FailureClass::OverLimit => {
            PrepareError::Content(format!("cannot decrypt the message: {e}"))
        }
        _ => PrepareError::Local(e.to_string()),
    })?;
    let unpacked = dir
        .create_dir(&UNPACKED, 0o700)
        .map_err(|e| PrepareError::Local(e.to_string()))?;
    let asice = dir
        .open_file(&PAYLOAD)
        .map_err(|e| PrepareError::Local(e.to_string()))?;
    let entries = unzip::extract(asice, &unpacked, zip).map_err(|e| match e {
        UnzipError::Io { .. } | UnzipError::Dir(_) => PrepareError::Local(e.to_string()),
        other => PrepareError::Content(format!("the ASiC-E container cannot be unpacked: {other}")),
    })?;
    let data = check_container(&unpacked, &entries)?;
    let local = |e: crate::dropfolder::dirfd::DirError| PrepareError::Local(e.to_string());
    for file in &data {
        let name = Name::from(&file.name);
        unpacked
            .rename(&name, dir, &name, Replace::Never)
            .map_err(local)?;
    }
    dir.remove_tree(&UNPACKED).map_err(local)?;
    dir.remove_file(&PAYLOAD).map_err(local)?;
    let key = innsending_key(dir, &data);
    let json = melding_json(melding, key.as_ref(), received);
    staging
        .write_melding_json(json.as_bytes())
        .map_err(|e| PrepareError::Local(e.to_string()))?;
    Ok(Prepared {
        files: data.iter().map(|f| f.name.as_str().to_owned()).collect(),
        bytes: data.iter().map(|f| f.size).sum(),
        key,
    })
}

/// Whether an entry of the container is a data file (not `mimetype`, not under `META-INF/`).
fn is_data_file(entry: &str) -> bool {
    entry != "mimetype" && !entry.starts_with("META-INF/")
}

/// Checks the unpacked container against its manifest: every data file
/// listed with a matching SHA-256, and every listed file present. Returns
/// the data files.
fn check_container(
    unpacked: &Dir,
    entries: &[ExtractedFile],
) -> Result<Vec<ExtractedFile>, PrepareError> {
    let content = |s: String| PrepareError::Content(s);
    let manifest_file = entries
        .iter()
        .find(|e| e.entry == MANIFEST_PATH)
        .ok_or_else(|| content(format!("the ASiC-E container has no {MANIFEST_PATH}")))?;
    let xml = unpacked
        .read_file(&Name::from(&manifest_file.name), MAX_MANIFEST_BYTES as u64)
        .map_err(|e| PrepareError::Local(e.to_string()))?;
    let manifest = Manifest::parse(&xml).map_err(|e| content(format!("{MANIFEST_PATH}: {e}")))?;
    check_digests(&manifest, entries)?;
    Ok(entries
        .iter()
        .filter(|e| is_data_file(&e.entry))
        .cloned()
        .collect())
}

/// The manifest's digests against the unpacked files (pure).
fn check_digests(manifest: &Manifest, entries: &[ExtractedFile]) -> Result<(), PrepareError> {
    for file in entries.iter().filter(|e| is_data_file(&e.entry)) {
        let Some(listed) = manifest.files.get(&file.entry) else {
            return Err(PrepareError::Content(format!(
                "{:?} is in the container but not in its manifest",
                file.entry
            )));
        };
        if listed.sha256 != file.sha256 {
            return Err(PrepareError::Content(format!(
                "{:?} does not match its SHA-256 in the manifest (listed {}, got {}): the message was changed or damaged",
                file.entry,
                hex::encode(listed.sha256),
                hex::encode(file.sha256)
            )));
        }
    }
    for uri in manifest.files.keys() {
        if !entries.iter().any(|e| &e.entry == uri) {
            return Err(PrepareError::Content(format!(
                "the manifest lists {uri:?}, which the container does not hold"
            )));
        }
    }
    Ok(())
}

/// The `{digisosId, eksternRef}` of the JSON data file that holds them (its
/// name is not fixed for Fiks IO: the first `.json` that reads as one), by
/// the one reader both channels use ([`InnsendingKey::read`]).
fn innsending_key(dir: &Dir, data: &[ExtractedFile]) -> Option<InnsendingKey> {
    data.iter()
        .filter(|f| f.name.as_str().to_ascii_lowercase().ends_with(".json"))
        .find_map(|f| {
            let file = dir.open_file(&Name::from(&f.name)).ok()?;
            InnsendingKey::read(file).ok()
        })
}

/// `melding.json`: what the fagsystem reads beside the data files.
fn melding_json(
    melding: &NewMelding,
    key: Option<&InnsendingKey>,
    received: OffsetDateTime,
) -> String {
    let mottatt = received.format(&Rfc3339).unwrap_or_default();
    let value = json!({
        "meldingId": melding.melding_id,
        "meldingType": melding.melding_type,
        "avsenderKontoId": melding.avsender_konto,
        "svarTil": melding.svar_til,
        "digisosId": key.map(|k| &k.digisos_id),
        "eksternRef": key.map(|k| &k.ekstern_ref),
        "mottatt": mottatt,
    });
    serde_json::to_string_pretty(&value).unwrap_or_else(|_| value.to_string())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use mottak_protocol::asice::DataObject;
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::names::sanitize_or;

    fn entry(name: &str, content: &[u8]) -> ExtractedFile {
        ExtractedFile {
            name: sanitize_or(name.rsplit('/').next().unwrap_or(name), "x"),
            entry: name.to_owned(),
            size: content.len() as u64,
            sha256: Sha256::digest(content).into(),
        }
    }

    fn manifest(files: &[(&str, &[u8])]) -> Manifest {
        let mut m = BTreeMap::new();
        for (uri, content) in files {
            m.insert(
                (*uri).to_owned(),
                DataObject {
                    uri: (*uri).to_owned(),
                    mime_type: None,
                    sha256: Sha256::digest(content).into(),
                },
            );
        }
        Manifest { files: m }
    }

    fn container() -> Vec<ExtractedFile> {
        vec![
            entry("mimetype", b"application/vnd.etsi.asic-e+zip"),
            entry("soknad.json", b"{}"),
            entry("vedlegg.pdf", b"%PDF"),
            entry("META-INF/asicmanifest.xml", b"<x/>"),
            entry("META-INF/signature.p7s", b"sig"),
        ]
    }

    #[test]
    fn every_data_file_must_be_listed_with_its_digest() {
        let good = manifest(&[("soknad.json", b"{}"), ("vedlegg.pdf", b"%PDF")]);
        assert_eq!(check_digests(&good, &container()), Ok(()));
        // A lying digest.
        let lies = manifest(&[("soknad.json", b"{}"), ("vedlegg.pdf", b"other")]);
        let Err(PrepareError::Content(why)) = check_digests(&lies, &container()) else {
            panic!("accepted a wrong digest")
        };
        assert!(
            why.contains("vedlegg.pdf") && why.contains("SHA-256"),
            "{why}"
        );
        // A data file the manifest does not list.
        let short = manifest(&[("soknad.json", b"{}")]);
        let Err(PrepareError::Content(why)) = check_digests(&short, &container()) else {
            panic!("accepted an unlisted file")
        };
        assert!(why.contains("not in its manifest"), "{why}");
        // A listed file the container lacks.
        let long = manifest(&[
            ("soknad.json", b"{}"),
            ("vedlegg.pdf", b"%PDF"),
            ("mangler.pdf", b"x"),
        ]);
        let Err(PrepareError::Content(why)) = check_digests(&long, &container()) else {
            panic!("accepted a missing file")
        };
        assert!(why.contains("mangler.pdf"), "{why}");
    }

    #[test]
    fn mimetype_and_meta_inf_are_not_data_files() {
        assert!(!is_data_file("mimetype"));
        assert!(!is_data_file("META-INF/signature.p7s"));
        assert!(is_data_file("vedlegg/META-INF.pdf"));
        assert!(is_data_file("soknad.json"));
    }

    #[test]
    fn melding_json_holds_the_headers_the_ids_and_the_time() {
        let m = NewMelding {
            melding_id: "0e5b4c3a-2d1f-4a9b-8c7d-6e5f4a3b2c1d".into(),
            melding_type: "no.nav.digisos.soknad.v1".into(),
            avsender_konto: "aaaaaaaa-0000-4000-8000-000000000001".into(),
            svar_til: None,
            dokumentlager_id: None,
        };
        let at = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let key = InnsendingKey {
            digisos_id: "d-1".into(),
            ekstern_ref: "e-1".into(),
        };
        let text = melding_json(&m, Some(&key), at);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["meldingId"], m.melding_id.as_str());
        assert_eq!(v["meldingType"], "no.nav.digisos.soknad.v1");
        assert_eq!(v["avsenderKontoId"], m.avsender_konto.as_str());
        assert_eq!(v["svarTil"], serde_json::Value::Null);
        assert_eq!(v["digisosId"], "d-1");
        assert_eq!(v["eksternRef"], "e-1");
        assert_eq!(v["mottatt"], "2027-01-15T08:00:00Z");
    }
}
