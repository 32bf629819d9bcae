//! `mottak-agent keygen`: an RSA-2048 private key and a self-signed
//! certificate for a mottakersystem, as KS asks for
//! (`openssl req -x509 -newkey rsa:2048 -nodes -days 99999`).
//!
//! `NAME.pem` (the key) is created with mode 0600 from the start (never
//! briefly readable by others); `NAME.crt` (the certificate, public) with
//! 0644. Neither file is ever overwritten.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use time::{Duration, OffsetDateTime};

/// Arguments of `mottak-agent keygen`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The certificate's common name (CN) and the files' base name, e.g.
    /// `nav-frogn-2026`: letters, digits, '.', '_' and '-'.
    #[arg(long)]
    pub name: String,
    /// The folder to write NAME.pem and NAME.crt in (it must exist).
    #[arg(long)]
    pub out: PathBuf,
    /// Days the certificate is valid (KS's instructions use 99999).
    #[arg(long, default_value_t = 99_999)]
    pub days: u32,
}

/// The files [`generate`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    pub key: PathBuf,
    pub certificate: PathBuf,
    pub not_after: OffsetDateTime,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let generated = generate(&args.name, &args.out, args.days, OffsetDateTime::now_utc())?;
    println!(
        "Wrote the private key  {} (mode 0600: keep it secret, back it up safely)",
        generated.key.display()
    );
    println!(
        "Wrote the certificate  {} (CN={}, valid until {})",
        generated.certificate.display(),
        args.name,
        generated.not_after.date()
    );
    println!();
    println!("Next steps:");
    println!(
        "  1. Log in at https://svarut.ks.no/mottaker with nivå 4 (ID-porten), open the mottakersystem's \"Service\" tab and upload {}.",
        generated.certificate.display()
    );
    println!(
        "  2. Add the files to the mottakersystem in /etc/mottak/agent.toml (keep an old key listed while SvarInn may still hold forsendelser encrypted to it):"
    );
    println!(
        "       svarinn_api = \"v2\"   (for a new mottakersystem; one already on v1: see docs/install.md before switching)"
    );
    println!("       private_keys = [\"{}\"]", generated.key.display());
    println!(
        "       certificates = [\"{}\"]",
        generated.certificate.display()
    );
    println!(
        "  3. Make sure the agent's user owns the key: chown mottak: {}",
        generated.key.display()
    );
    println!("  4. Run: mottak-agent check-config");
    Ok(ExitCode::SUCCESS)
}

/// Writes `out/NAME.pem` and `out/NAME.crt`, valid from `now` (less a day,
/// for clocks that lag) for `days` days.
pub fn generate(
    name: &str,
    out: &Path,
    days: u32,
    now: OffsetDateTime,
) -> anyhow::Result<Generated> {
    let valid_name = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !valid_name {
        bail!(
            "--name {name:?} must be 1 to 64 letters, digits, '.', '_' or '-' (e.g. \"nav-frogn-2026\"); it becomes the file names and the certificate's CN"
        );
    }
    if days == 0 {
        bail!("--days must be at least 1");
    }
    if !out.is_dir() {
        bail!(
            "--out {} is not a folder; create it first (e.g. `install -d -m 0750 {}`)",
            out.display(),
            out.display()
        );
    }
    let key_path = out.join(format!("{name}.pem"));
    let cert_path = out.join(format!("{name}.crt"));
    for p in [&key_path, &cert_path] {
        if p.exists() {
            bail!(
                "{} already exists; refusing to overwrite it. Choose another --name (e.g. with the year) or move the old file away",
                p.display()
            );
        }
    }

    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256)
        .context("could not generate an RSA-2048 key")?;
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(i64::from(days));
    let cert = params
        .self_signed(&key)
        .context("could not sign the certificate")?;

    write_new(&key_path, key.serialize_pem().as_bytes(), 0o600)?;
    if let Err(e) = write_new(&cert_path, cert.pem().as_bytes(), 0o644) {
        // Leave nothing half-made: a key without its certificate would only confuse.
        let _ = std::fs::remove_file(&key_path);
        return Err(e);
    }
    File::open(out)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("could not fsync {}", out.display()))?;
    Ok(Generated {
        key: key_path,
        certificate: cert_path,
        not_after: params.not_after,
    })
}

/// Creates `path` with `mode` (never existing before, never wider than
/// `mode`), writes and fsyncs it.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("could not create {}", path.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("could not write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;

    fn openssl(args: &[&str]) -> String {
        let out = Command::new("openssl").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn openssl_reads_both_and_the_key_matches_the_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let g = generate(
            "nav-frogn-2026",
            dir.path(),
            99_999,
            OffsetDateTime::now_utc(),
        )
        .unwrap();
        assert_eq!(g.key, dir.path().join("nav-frogn-2026.pem"));
        assert_eq!(g.certificate, dir.path().join("nav-frogn-2026.crt"));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&g.key), 0o600);
        assert_eq!(
            mode(&g.certificate) & 0o022,
            0,
            "public, but writable only by its owner"
        );

        let key = g.key.to_str().unwrap();
        let cert = g.certificate.to_str().unwrap();
        let key_modulus = openssl(&["rsa", "-noout", "-modulus", "-in", key]);
        let cert_modulus = openssl(&["x509", "-noout", "-modulus", "-in", cert]);
        assert_eq!(key_modulus, cert_modulus);
        assert!(key_modulus.starts_with("Modulus="));
        let text = openssl(&["x509", "-noout", "-subject", "-enddate", "-in", cert]);
        assert!(
            text.contains("CN = nav-frogn-2026") || text.contains("CN=nav-frogn-2026"),
            "{text}"
        );
        // 99999 days from 2026 ends in the 23rd century.
        assert!(text.contains("notAfter="), "{text}");
        assert!(g.not_after.year() > 2200, "{}", g.not_after);
        let bits = openssl(&["rsa", "-noout", "-text", "-in", key]);
        assert!(bits.contains("2048 bit"), "{bits}");

        // And the agent's own loader accepts the pair.
        let keys = crate::keys::load_recipient_keys(
            std::slice::from_ref(&g.key),
            std::slice::from_ref(&g.certificate),
        )
        .unwrap();
        assert!(keys[0].matches_certificate());
    }

    #[test]
    fn nothing_is_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x.crt"), "old").unwrap();
        let err = generate("x", dir.path(), 10, OffsetDateTime::now_utc()).unwrap_err();
        assert!(err.to_string().contains("refusing to overwrite"), "{err}");
        assert!(!dir.path().join("x.pem").exists());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("x.crt")).unwrap(),
            "old"
        );
    }

    #[test]
    fn bad_names_and_folders_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["", "../x", "a/b", ".hidden", "-rf", "æ"] {
            assert!(
                generate(bad, dir.path(), 10, OffsetDateTime::now_utc()).is_err(),
                "{bad}"
            );
        }
        let err = generate(
            "x",
            &dir.path().join("missing"),
            10,
            OffsetDateTime::now_utc(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("not a folder"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
