//! Keys: the private keys we decrypt with (each with its certificate when known), the
//! certificate we encrypt to, PEM/DER loading, and matching a RecipientInfo's identifier
//! against a certificate.

use std::sync::Arc;

use aws_lc_rs::rsa::{OaepPrivateDecryptingKey, PrivateDecryptingKey};
use cms::cert::IssuerAndSerialNumber;
use cms::enveloped_data::RecipientIdentifier;
use der::{Decode, Encode};
use pkcs8::DecodePrivateKey;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePublicKey, EncodePrivateKey};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha1::{Digest, Sha1};
use x509_cert::Certificate;
use x509_cert::ext::pkix::SubjectKeyIdentifier;

use super::error::KeyError;
use super::oids;

/// A private key we can decrypt with, and its certificate when known.
#[derive(Clone)]
pub struct RecipientKey {
    private_key: RsaPrivateKey,
    /// The same key in aws-lc-rs, built once here, for the RSAES-OAEP unwraps it supports
    /// (hash and MGF1 hash the same; see `algorithms::unwrap_content_key`). `None` when
    /// aws-lc-rs does not take the key (it wants 2048 to 8192 bits): the `rsa` crate
    /// then does every unwrap.
    oaep_key: Option<Arc<OaepPrivateDecryptingKey>>,
    certificate: Option<Certificate>,
}

impl std::fmt::Debug for RecipientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("RecipientKey")
            .field("modulus_bits", &self.private_key.n().bits())
            .field("aws_lc_oaep", &self.oaep_key.is_some())
            .field(
                "certificate",
                &self.certificate.as_ref().map(describe_certificate),
            )
            .finish()
    }
}

impl RecipientKey {
    /// Loads an RSA private key from PEM (PKCS#1 `RSA PRIVATE KEY` or PKCS#8
    /// `PRIVATE KEY`; other blocks in the text, such as a certificate, are skipped) and
    /// optionally its certificate from PEM.
    pub fn from_pem(
        private_key_pem: &str,
        certificate_pem: Option<&str>,
    ) -> Result<Self, KeyError> {
        let private_key = private_key_from_pem(private_key_pem)?;
        let certificate = certificate_pem.map(certificate_from_pem).transpose()?;
        Ok(Self::new(private_key, certificate))
    }

    /// Wraps an already-decoded key.
    pub fn new(private_key: RsaPrivateKey, certificate: Option<Certificate>) -> Self {
        let oaep_key = aws_lc_oaep_key(&private_key).map(Arc::new);
        RecipientKey {
            private_key,
            oaep_key,
            certificate,
        }
    }

    /// The same key paired with `certificate` (for example one found in another file;
    /// check [`Self::matches_certificate`] afterwards).
    pub fn with_certificate(self, certificate: Certificate) -> Self {
        RecipientKey {
            certificate: Some(certificate),
            ..self
        }
    }

    pub fn certificate(&self) -> Option<&Certificate> {
        self.certificate.as_ref()
    }

    /// The certificate's issuer and serial number in words, when there is one.
    pub fn certificate_description(&self) -> Option<String> {
        self.certificate.as_ref().map(describe_certificate)
    }

    pub(crate) fn private_key(&self) -> &RsaPrivateKey {
        &self.private_key
    }

    /// The key in aws-lc-rs for RSAES-OAEP, when aws-lc-rs takes it.
    pub(crate) fn oaep_key(&self) -> Option<&OaepPrivateDecryptingKey> {
        self.oaep_key.as_deref()
    }

    /// True when there is a certificate and its public key is this key's public key.
    pub fn matches_certificate(&self) -> bool {
        self.certificate
            .as_ref()
            .and_then(|cert| rsa_public_key(cert).ok())
            .is_some_and(|public| &public == self.private_key.as_public_key())
    }

    /// Whether the file's recipient identifier names this key's certificate; `None`
    /// when there is no certificate to compare with.
    pub(crate) fn matches(&self, rid: &RecipientIdentifier) -> Option<bool> {
        let cert = self.certificate.as_ref()?;
        Some(match rid {
            RecipientIdentifier::IssuerAndSerialNumber(wanted) => {
                same_issuer_and_serial(cert, wanted)
            }
            RecipientIdentifier::SubjectKeyIdentifier(ski) => {
                subject_key_identifier(cert).is_some_and(|own| own == ski.0.as_bytes())
            }
        })
    }
}

/// The key as aws-lc-rs's RSAES-OAEP decryption key, through its PKCS#8 encoding (which
/// the `SecretDocument` zeroizes on drop); `None` when aws-lc-rs rejects it.
fn aws_lc_oaep_key(private_key: &RsaPrivateKey) -> Option<OaepPrivateDecryptingKey> {
    let pkcs8 = private_key.to_pkcs8_der().ok()?;
    let key = PrivateDecryptingKey::from_pkcs8(pkcs8.as_bytes()).ok()?;
    OaepPrivateDecryptingKey::new(key).ok()
}

/// The certificate we encrypt to.
#[derive(Debug, Clone)]
pub struct RecipientCert {
    certificate: Certificate,
    public_key: RsaPublicKey,
}

impl RecipientCert {
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        Self::from_certificate(certificate_from_pem(pem)?)
    }

    pub fn from_der(der: &[u8]) -> Result<Self, KeyError> {
        let certificate = Certificate::from_der(der)
            .map_err(|err| KeyError::InvalidCertificate(err.to_string()))?;
        Self::from_certificate(certificate)
    }

    /// PEM when the bytes hold a `-----BEGIN` line, DER otherwise.
    pub fn from_pem_or_der(bytes: &[u8]) -> Result<Self, KeyError> {
        if bytes.windows(10).any(|w| w == b"-----BEGIN") {
            let text = std::str::from_utf8(bytes)
                .map_err(|_| KeyError::Pem("certificate PEM is not UTF-8".into()))?;
            Self::from_pem(text)
        } else {
            Self::from_der(bytes)
        }
    }

    pub fn from_certificate(certificate: Certificate) -> Result<Self, KeyError> {
        let public_key = rsa_public_key(&certificate)?;
        Ok(RecipientCert {
            certificate,
            public_key,
        })
    }

    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// Issuer and serial number in words, as error messages name recipients.
    pub fn description(&self) -> String {
        describe_certificate(&self.certificate)
    }

    pub(crate) fn public_key(&self) -> &RsaPublicKey {
        &self.public_key
    }

    pub(crate) fn issuer_and_serial(&self) -> IssuerAndSerialNumber {
        let tbs = self.certificate.tbs_certificate();
        IssuerAndSerialNumber {
            issuer: tbs.issuer().clone(),
            serial_number: tbs.serial_number().clone(),
        }
    }
}

fn rsa_public_key(cert: &Certificate) -> Result<RsaPublicKey, KeyError> {
    let spki = cert.tbs_certificate().subject_public_key_info();
    if spki.algorithm.oid != oids::RSA_ENCRYPTION {
        return Err(KeyError::NotRsa(format!(
            "{} ({})",
            spki.algorithm.oid,
            oids::name(&spki.algorithm.oid)
        )));
    }
    let der = spki
        .to_der()
        .map_err(|err| KeyError::InvalidPublicKey(err.to_string()))?;
    RsaPublicKey::from_public_key_der(&der)
        .map_err(|err| KeyError::InvalidPublicKey(err.to_string()))
}

fn same_issuer_and_serial(cert: &Certificate, wanted: &IssuerAndSerialNumber) -> bool {
    let tbs = cert.tbs_certificate();
    // Compare encodings: the same name decoded from two sources must encode the same.
    let issuer_matches = match (tbs.issuer().to_der(), wanted.issuer.to_der()) {
        (Ok(own), Ok(wanted)) => own == wanted,
        _ => false,
    };
    issuer_matches && tbs.serial_number().as_bytes() == wanted.serial_number.as_bytes()
}

/// The certificate's subjectKeyIdentifier extension, or else the RFC 5280 method-1 value
/// (SHA-1 of the subjectPublicKey bits), which is what tools compute when it is absent.
fn subject_key_identifier(cert: &Certificate) -> Option<Vec<u8>> {
    let tbs = cert.tbs_certificate();
    if let Ok(Some((_, ski))) = tbs.get_extension::<SubjectKeyIdentifier>() {
        return Some(ski.0.as_bytes().to_vec());
    }
    let bits = tbs.subject_public_key_info().subject_public_key.raw_bytes();
    Some(Sha1::digest(bits).to_vec())
}

/// "issuer CN=x, serial 0A1B" for messages.
pub(crate) fn describe_certificate(cert: &Certificate) -> String {
    let tbs = cert.tbs_certificate();
    describe_issuer_and_serial(tbs.issuer(), tbs.serial_number().as_bytes())
}

fn describe_issuer_and_serial(issuer: &x509_cert::name::Name, serial: &[u8]) -> String {
    // A leading zero byte only keeps the INTEGER positive; openssl prints without it.
    let serial = match serial {
        [0, rest @ ..] if !rest.is_empty() => rest,
        other => other,
    };
    format!("issuer \"{issuer}\" serial {}", hex::encode_upper(serial))
}

/// A RecipientInfo's identifier in words.
pub(crate) fn describe_recipient(rid: &RecipientIdentifier) -> String {
    match rid {
        RecipientIdentifier::IssuerAndSerialNumber(ias) => {
            describe_issuer_and_serial(&ias.issuer, ias.serial_number.as_bytes())
        }
        RecipientIdentifier::SubjectKeyIdentifier(ski) => {
            format!(
                "subjectKeyIdentifier {}",
                hex::encode_upper(ski.0.as_bytes())
            )
        }
    }
}

/// The PEM blocks in a text, each as (label, whole block text).
fn pem_blocks(text: &str) -> Vec<(&str, &str)> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let from_begin = rest.get(start..).unwrap_or("");
        let label_end = from_begin.get(11..).and_then(|s| s.find("-----"));
        let Some(label) = label_end.and_then(|end| from_begin.get(11..11 + end)) else {
            break;
        };
        let end_marker = format!("-----END {label}-----");
        let Some(end) = from_begin.find(&end_marker) else {
            break;
        };
        let block_len = end + end_marker.len();
        blocks.push((label, from_begin.get(..block_len).unwrap_or("")));
        rest = from_begin.get(block_len..).unwrap_or("");
    }
    blocks
}

fn decode_pem(block: &str) -> Result<Vec<u8>, KeyError> {
    if block.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(KeyError::EncryptedPrivateKey);
    }
    x509_cert::der::pem::decode_vec(block.trim().as_bytes())
        .map(|(_, der)| der)
        .map_err(|err| KeyError::Pem(err.to_string()))
}

fn private_key_from_pem(text: &str) -> Result<RsaPrivateKey, KeyError> {
    for (label, block) in pem_blocks(text) {
        match label {
            "RSA PRIVATE KEY" => {
                let der = decode_pem(block)?;
                return RsaPrivateKey::from_pkcs1_der(&der)
                    .map_err(|err| KeyError::InvalidPrivateKey(err.to_string()));
            }
            "PRIVATE KEY" => {
                let der = decode_pem(block)?;
                return private_key_from_pkcs8(&der);
            }
            "ENCRYPTED PRIVATE KEY" => return Err(KeyError::EncryptedPrivateKey),
            _ => {}
        }
    }
    Err(KeyError::NoPemBlock {
        wanted: "RSA PRIVATE KEY or PRIVATE KEY",
    })
}

fn private_key_from_pkcs8(der: &[u8]) -> Result<RsaPrivateKey, KeyError> {
    match RsaPrivateKey::from_pkcs8_der(der) {
        Ok(key) => Ok(key),
        Err(err) => {
            // Name the algorithm when the key is not RSA at all.
            if let Ok(info) = pkcs8::PrivateKeyInfoRef::from_der(der)
                && info.algorithm.oid != oids::RSA_ENCRYPTION
            {
                return Err(KeyError::NotRsa(format!(
                    "{} ({})",
                    info.algorithm.oid,
                    oids::name(&info.algorithm.oid)
                )));
            }
            Err(KeyError::InvalidPrivateKey(err.to_string()))
        }
    }
}

fn certificate_from_pem(text: &str) -> Result<Certificate, KeyError> {
    let (_, block) = pem_blocks(text)
        .into_iter()
        .find(|(label, _)| *label == "CERTIFICATE")
        .ok_or(KeyError::NoPemBlock {
            wanted: "CERTIFICATE",
        })?;
    let der = decode_pem(block)?;
    Certificate::from_der(&der).map_err(|err| KeyError::InvalidCertificate(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KS_KEY: &str = include_str!("../../../fixtures/interop/ks-vectors/sp-key.pem");
    const KS_CERT: &str = include_str!("../../../fixtures/interop/ks-vectors/sp-cert.pem");

    #[test]
    fn loads_ks_key_and_certificate() {
        let key = RecipientKey::from_pem(KS_KEY, Some(KS_CERT)).unwrap();
        assert!(key.matches_certificate());
        // 2048 bits: aws-lc-rs takes it, so OAEP unwraps go through aws-lc-rs.
        assert!(key.oaep_key().is_some());
        let cert = key.certificate().unwrap();
        assert_eq!(
            describe_certificate(cert),
            "issuer \"CN=kssulbt1e-u\" serial FBCAEA76FC34BC6A"
        );
        assert_eq!(
            hex::encode_upper(subject_key_identifier(cert).unwrap()),
            "799B74EDFDA8444D1A8261E88DEE84BAB5A9BB65"
        );
        let without = RecipientKey::from_pem(KS_KEY, None).unwrap();
        assert!(without.certificate().is_none());
        assert!(!without.matches_certificate());
    }

    #[test]
    fn key_file_may_hold_certificate_too() {
        let both = format!("{KS_CERT}\n{KS_KEY}");
        assert!(
            RecipientKey::from_pem(&both, Some(&both))
                .unwrap()
                .matches_certificate()
        );
    }

    #[test]
    fn key_errors_say_what_is_wrong() {
        assert!(matches!(
            RecipientKey::from_pem(KS_CERT, None),
            Err(KeyError::NoPemBlock { .. })
        ));
        assert!(matches!(
            RecipientKey::from_pem(
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
                None
            ),
            Err(KeyError::EncryptedPrivateKey)
        ));
        assert!(matches!(
            RecipientKey::from_pem(
                "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
                None
            ),
            Err(KeyError::InvalidPrivateKey(_))
        ));
        assert!(RecipientCert::from_pem_or_der(b"garbage").is_err());
    }

    #[test]
    fn recipient_cert_from_pem_and_der() {
        let pem = RecipientCert::from_pem(KS_CERT).unwrap();
        let der = pem.certificate().to_der().unwrap();
        let from_der = RecipientCert::from_pem_or_der(&der).unwrap();
        assert_eq!(from_der.public_key(), pem.public_key());
        assert_eq!(
            RecipientCert::from_pem_or_der(KS_CERT.as_bytes())
                .unwrap()
                .public_key(),
            pem.public_key()
        );
    }
}
