//! A mottakersystem's private keys and certificates, loaded from the files
//! the config names: the mode check on keys, each key paired with its
//! certificate (several during rotation), and certificate expiry.

use std::io::Read;
use std::path::{Path, PathBuf};

use mottak_protocol::cms::{KeyError, RecipientCert, RecipientKey};
use time::OffsetDateTime;

use crate::secret::{MAX_SECRET_FILE_BYTES, SecretError, read_private_file};

/// Certificates are public; this only guards against a wrong path.
pub const MAX_CERTIFICATE_FILE_BYTES: u64 = 256 * 1024;

/// A certificate this close to its end gets a warning.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

/// Why a key or certificate file could not be used. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot read the private key: {0}")]
    Read(#[from] SecretError),
    #[error("the private key {} is not PEM text", path.display())]
    NotText { path: PathBuf },
    #[error(
        "cannot load the private key {}: {source}; it must be an RSA key in PEM (PKCS#1 or PKCS#8), as `mottak-agent keygen` writes",
        path.display()
    )]
    Key {
        path: PathBuf,
        #[source]
        source: KeyError,
    },
    #[error(
        "the certificate in {} ({description}) does not belong to the private key in it",
        path.display()
    )]
    EmbeddedCertMismatch { path: PathBuf, description: String },
    #[error("cannot read the certificate {}: {source}", path.display())]
    CertRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the certificate {} is larger than {MAX_CERTIFICATE_FILE_BYTES} bytes; is it the right file?", path.display())]
    CertTooBig { path: PathBuf },
    #[error("cannot load the certificate {}: {source}", path.display())]
    Cert {
        path: PathBuf,
        #[source]
        source: KeyError,
    },
    #[error(
        "the certificate {} ({description}) belongs to none of the private_keys: SvarInn encrypts to it, so forsendelser could not be decrypted; add its key to private_keys, or remove the certificate",
        path.display()
    )]
    CertWithoutKey { path: PathBuf, description: String },
}

/// A certificate file, loaded.
#[derive(Debug, Clone)]
pub struct LoadedCert {
    pub path: PathBuf,
    pub cert: RecipientCert,
    pub not_after: OffsetDateTime,
}

/// How close a certificate is to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    Valid {
        days_left: i64,
    },
    /// Within [`EXPIRY_WARNING_DAYS`].
    ExpiresSoon {
        days_left: i64,
    },
    Expired {
        days_ago: i64,
    },
}

/// The expiry of a certificate ending at `not_after`, seen at `now`.
pub fn expiry(not_after: OffsetDateTime, now: OffsetDateTime) -> Expiry {
    let left = not_after - now;
    if left.is_negative() {
        Expiry::Expired {
            days_ago: (-left).whole_days(),
        }
    } else if left.whole_days() < EXPIRY_WARNING_DAYS {
        Expiry::ExpiresSoon {
            days_left: left.whole_days(),
        }
    } else {
        Expiry::Valid {
            days_left: left.whole_days(),
        }
    }
}

/// Loads a private key: the file must be private (no group/other read) and
/// hold an RSA key in PEM. A certificate in the same file is paired with it.
pub fn load_private_key(path: &Path) -> Result<RecipientKey, KeyFileError> {
    let bytes = read_private_file(path, MAX_SECRET_FILE_BYTES)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| KeyFileError::NotText {
        path: path.to_owned(),
    })?;
    let with_cert = text.contains("-----BEGIN CERTIFICATE-----").then_some(text);
    let key = RecipientKey::from_pem(text, with_cert).map_err(|source| KeyFileError::Key {
        path: path.to_owned(),
        source,
    })?;
    if with_cert.is_some() && !key.matches_certificate() {
        return Err(KeyFileError::EmbeddedCertMismatch {
            path: path.to_owned(),
            description: key.certificate_description().unwrap_or_default(),
        });
    }
    Ok(key)
}

/// Loads a certificate (PEM or DER).
pub fn load_certificate(path: &Path) -> Result<LoadedCert, KeyFileError> {
    let file = std::fs::File::open(path).map_err(|source| KeyFileError::CertRead {
        path: path.to_owned(),
        source,
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_CERTIFICATE_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| KeyFileError::CertRead {
            path: path.to_owned(),
            source,
        })?;
    if bytes.len() as u64 > MAX_CERTIFICATE_FILE_BYTES {
        return Err(KeyFileError::CertTooBig {
            path: path.to_owned(),
        });
    }
    let cert = RecipientCert::from_pem_or_der(&bytes).map_err(|source| KeyFileError::Cert {
        path: path.to_owned(),
        source,
    })?;
    let not_after = cert
        .certificate()
        .tbs_certificate()
        .validity()
        .not_after
        .to_unix_duration();
    let not_after = OffsetDateTime::UNIX_EPOCH + not_after;
    Ok(LoadedCert {
        path: path.to_owned(),
        cert,
        not_after,
    })
}

/// Whether `cert` holds `key`'s public key.
pub fn key_matches(key: &RecipientKey, cert: &RecipientCert) -> bool {
    key.clone()
        .with_certificate(cert.certificate().clone())
        .matches_certificate()
}

/// Loads a mottakersystem's keys for decryption, each paired with the
/// certificate holding its public key (so the CMS reader picks the key by
/// the file's recipient identifier). A certificate no key matches is an
/// error: SvarInn may encrypt to it.
pub fn load_recipient_keys(
    key_paths: &[PathBuf],
    cert_paths: &[PathBuf],
) -> Result<Vec<RecipientKey>, KeyFileError> {
    let certs = cert_paths
        .iter()
        .map(|p| load_certificate(p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut used = vec![false; certs.len()];
    let mut keys = Vec::with_capacity(key_paths.len());
    for path in key_paths {
        let mut key = load_private_key(path)?;
        for (i, c) in certs.iter().enumerate() {
            if key_matches(&key, &c.cert) {
                used[i] = true;
                if key.certificate().is_none() {
                    key = key.with_certificate(c.cert.certificate().clone());
                }
            }
        }
        keys.push(key);
    }
    if let Some(i) = used.iter().position(|u| !u) {
        return Err(KeyFileError::CertWithoutKey {
            path: certs[i].path.clone(),
            description: certs[i].cert.description(),
        });
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use time::Duration;
    use time::macros::datetime;

    /// A key and a self-signed certificate, made by rcgen (as `keygen` does).
    pub(crate) fn pair(cn: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(vec![]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let cert = params.self_signed(&key).unwrap();
        (key.serialize_pem(), cert.pem())
    }

    fn write(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
        let p = dir.join(name);
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn keys_pair_with_their_certificates_in_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let (k1, c1) = pair("old");
        let (k2, c2) = pair("new");
        let keys = [
            write(dir.path(), "old.pem", &k1, 0o600),
            write(dir.path(), "new.pem", &k2, 0o400),
        ];
        let certs = [
            write(dir.path(), "new.crt", &c2, 0o644),
            write(dir.path(), "old.crt", &c1, 0o644),
        ];
        let loaded = load_recipient_keys(&keys, &certs).unwrap();
        assert_eq!(loaded.len(), 2);
        assert!(loaded.iter().all(|k| k.matches_certificate()));
        assert!(loaded[0].certificate_description().unwrap().contains("old"));
        // A certificate without its key is refused.
        let err = load_recipient_keys(&keys[..1], &certs).unwrap_err();
        assert!(
            matches!(&err, KeyFileError::CertWithoutKey { path, .. } if path.ends_with("new.crt")),
            "{err}"
        );
        // Keys without certificates are fine (certificates are optional).
        assert_eq!(load_recipient_keys(&keys, &[]).unwrap().len(), 2);
    }

    #[test]
    fn a_readable_key_or_a_bad_file_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let (k, c) = pair("x");
        let open = write(dir.path(), "open.pem", &k, 0o644);
        let err = load_private_key(&open).unwrap_err();
        assert!(
            matches!(err, KeyFileError::Read(SecretError::TooOpen { .. })),
            "{err}"
        );
        assert!(err.to_string().contains("chmod 600"), "{err}");
        let not_key = write(dir.path(), "cert-as-key.pem", &c, 0o600);
        let err = load_private_key(&not_key).unwrap_err();
        assert!(matches!(err, KeyFileError::Key { .. }), "{err}");
        assert!(err.to_string().contains("cert-as-key.pem"), "{err}");
        let garbage = write(dir.path(), "garbage.crt", "hello", 0o644);
        assert!(matches!(
            load_certificate(&garbage),
            Err(KeyFileError::Cert { .. })
        ));
        assert!(matches!(
            load_certificate(&dir.path().join("missing.crt")),
            Err(KeyFileError::CertRead { .. })
        ));
    }

    /// KS's own test key and certificate (fixtures/interop/ks-vectors), which
    /// `openssl x509 -modulus` / `openssl rsa -modulus` show to be a pair.
    #[test]
    fn a_key_file_with_someone_elses_certificate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (key_a, cert_a) = pair("a");
        let (_, cert_b) = pair("b");
        let own = write(dir.path(), "own.pem", &format!("{key_a}{cert_a}"), 0o600);
        assert!(load_private_key(&own).unwrap().certificate().is_some());
        let mixed = write(dir.path(), "mixed.pem", &format!("{key_a}{cert_b}"), 0o600);
        let err = load_private_key(&mixed).unwrap_err();
        assert!(
            matches!(err, KeyFileError::EmbeddedCertMismatch { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("mixed.pem"), "{err}");
    }

    #[test]
    fn the_ks_test_key_and_certificate_match() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/interop/ks-vectors");
        let tmp = tempfile::tempdir().unwrap();
        let key_pem = fs::read_to_string(dir.join("sp-key.pem")).unwrap();
        let key = write(tmp.path(), "sp-key.pem", &key_pem, 0o600);
        let keys = load_recipient_keys(&[key], &[dir.join("sp-cert.pem")]).unwrap();
        assert!(keys[0].matches_certificate());
    }

    #[test]
    fn expiry_warns_from_thirty_days() {
        let now = datetime!(2026-11-21 00:00 UTC);
        assert_eq!(
            expiry(now + Duration::days(400), now),
            Expiry::Valid { days_left: 400 }
        );
        assert_eq!(
            expiry(now + Duration::days(29), now),
            Expiry::ExpiresSoon { days_left: 29 }
        );
        assert_eq!(
            expiry(now + Duration::days(30), now),
            Expiry::Valid { days_left: 30 }
        );
        assert_eq!(
            expiry(now - Duration::days(3), now),
            Expiry::Expired { days_ago: 3 }
        );
        let (_, c) = pair("x");
        let dir = tempfile::tempdir().unwrap();
        let loaded = load_certificate(&write(dir.path(), "c.crt", &c, 0o644)).unwrap();
        assert!(loaded.not_after > OffsetDateTime::now_utc());
    }
}
