//! `mottak-agent decrypt`: decrypt a SvarInn file by hand.
//!
//! Streams the CMS file through `mottak_protocol::cms::decrypt` into `<out>.partial`
//! beside `--out`, fsyncs it, and only then gives it its name, so `--out` never holds a
//! half-written file. An existing `--out` is kept unless `--force`.

use std::fs::{File, OpenOptions};
use std::io::BufWriter;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use mottak_protocol::cms::{self, DecryptOutcome, RecipientKey};

/// Arguments of `mottak-agent decrypt`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A private key (PEM: PKCS#1, PKCS#8; the file may also hold its certificate).
    /// Repeat for several keys (key rotation). Must not be readable by group or others.
    #[arg(long = "key", required = true)]
    pub keys: Vec<PathBuf>,
    /// A certificate (PEM or DER) for one of the keys, paired with the key whose public
    /// key it holds; the file's recipient is then matched by issuer and serial number.
    /// Optional: keys without a certificate are tried in turn.
    #[arg(long = "cert")]
    pub certs: Vec<PathBuf>,
    /// The encrypted file as downloaded from SvarInn.
    #[arg(long = "in")]
    pub input: PathBuf,
    /// Where to write the plaintext.
    #[arg(long = "out")]
    pub output: PathBuf,
    /// Replace `--out` if it already exists.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let keys = load_keys(&args.keys, &args.certs)?;
    if !args.force && args.output.symlink_metadata().is_ok() {
        bail!(
            "{} already exists; pass --force to replace it",
            args.output.display()
        );
    }
    let input = File::open(&args.input)
        .with_context(|| format!("cannot open the encrypted file {}", args.input.display()))?;
    let partial = partial_path(&args.output)?;

    let outcome = match decrypt_to_file(input, &partial, &keys) {
        Ok(outcome) => outcome,
        Err(err) => {
            // Best effort: a leftover .partial is harmless but untidy.
            let _ = std::fs::remove_file(&partial);
            let legend = keys
                .iter()
                .enumerate()
                .map(|(index, (_, path))| format!("key {index} = {}", path.display()))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(err.context(format!(
                "cannot decrypt {} ({legend})",
                args.input.display()
            )));
        }
    };

    publish(&partial, &args.output, args.force).inspect_err(|_| {
        let _ = std::fs::remove_file(&partial);
    })?;

    let (key, key_path) = keys
        .get(outcome.key_index)
        .context("the decryptor named a key that was not given")?;
    println!(
        "decrypted {} to {} ({} bytes)",
        args.input.display(),
        args.output.display(),
        outcome.plaintext_len
    );
    match key.certificate_description() {
        Some(cert) => println!(
            "key: {} (key {}, certificate {cert})",
            key_path.display(),
            outcome.key_index
        ),
        None => println!(
            "key: {} (key {}, no certificate)",
            key_path.display(),
            outcome.key_index
        ),
    }
    println!(
        "algorithms: {}, {}",
        outcome.key_transport, outcome.content_algorithm
    );
    Ok(ExitCode::SUCCESS)
}

/// Loads every key, each paired with its certificate (one in the key file
/// itself, or one of `--cert` holding the same public key), with its path for
/// the messages.
fn load_keys(
    key_paths: &[PathBuf],
    cert_paths: &[PathBuf],
) -> anyhow::Result<Vec<(RecipientKey, PathBuf)>> {
    let keys = crate::keys::load_recipient_keys(key_paths, cert_paths)?;
    Ok(keys.into_iter().zip(key_paths.iter().cloned()).collect())
}

/// `<out>.partial` in the same folder, so the final rename stays on one filesystem.
fn partial_path(output: &Path) -> anyhow::Result<PathBuf> {
    let name = output
        .file_name()
        .with_context(|| format!("--out {} has no file name", output.display()))?;
    let mut partial = name.to_os_string();
    partial.push(".partial");
    Ok(output.with_file_name(partial))
}

fn decrypt_to_file(
    input: File,
    partial: &Path,
    keys: &[(RecipientKey, PathBuf)],
) -> anyhow::Result<DecryptOutcome> {
    // A leftover from an interrupted run (or anything planted there) goes first;
    // `create_new` then refuses to follow a link.
    match std::fs::remove_file(partial) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => {
            return Err(err).with_context(|| format!("cannot remove {}", partial.display()));
        }
    }
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        // Decrypted forsendelser hold personal data.
        .mode(0o600)
        .open(partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let mut writer = BufWriter::with_capacity(64 * 1024, file);
    let recipient_keys: Vec<RecipientKey> = keys.iter().map(|(key, _)| key.clone()).collect();
    let outcome = cms::decrypt(input, &mut writer, &recipient_keys)?;
    let file = writer
        .into_inner()
        .map_err(|err| err.into_error())
        .with_context(|| format!("cannot write {}", partial.display()))?;
    file.sync_all()
        .with_context(|| format!("cannot fsync {}", partial.display()))?;
    Ok(outcome)
}

/// Gives the fsynced `.partial` its final name and makes the name durable.
fn publish(partial: &Path, output: &Path, force: bool) -> anyhow::Result<()> {
    if force {
        std::fs::rename(partial, output).with_context(|| {
            format!(
                "cannot rename {} to {}",
                partial.display(),
                output.display()
            )
        })?;
    } else {
        // A hard link fails if `output` appeared meanwhile: never overwrite by accident.
        std::fs::hard_link(partial, output)
            .with_context(|| format!("cannot create {} (does it exist now?)", output.display()))?;
        std::fs::remove_file(partial)
            .with_context(|| format!("cannot remove {}", partial.display()))?;
    }
    let folder = match output.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(folder)
        .and_then(|dir| dir.sync_all())
        .with_context(|| format!("cannot fsync the folder {}", folder.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_sits_beside_the_output() {
        assert_eq!(
            partial_path(Path::new("/srv/x/brev.pdf")).unwrap(),
            PathBuf::from("/srv/x/brev.pdf.partial")
        );
        assert_eq!(
            partial_path(Path::new("brev.pdf")).unwrap(),
            PathBuf::from("brev.pdf.partial")
        );
        assert!(partial_path(Path::new("/")).is_err());
    }
}
