//! Key transport and content-encryption algorithm identifiers: parsing (reader),
//! encoding (writer), and the RSA unwrap/wrap of the content-encryption key.

use aws_lc_rs::rsa::{
    OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OAEP_SHA384_MGF1SHA384, OAEP_SHA512_MGF1SHA512,
    OaepAlgorithm, OaepPrivateDecryptingKey,
};
use der::asn1::{Null, OctetString};
use der::oid::ObjectIdentifier;
use der::{Any, Decode, Encode};
use pkcs1::RsaOaepParams;
use rsa::{Oaep, Pkcs1v15Encrypt, RsaPrivateKey, RsaPublicKey};
use sha1::Sha1;
use sha2::digest::{Digest, FixedOutputReset};
use sha2::{Sha256, Sha384, Sha512};
use spki::AlgorithmIdentifierOwned;

use super::RecipientKey;
use super::error::CmsError;
use super::{ContentCipher, KeyTransport, OaepHash, oids};

/// A key-transport algorithm as found in a RecipientInfo: the scheme plus the OAEP
/// label (almost always empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTransportParams {
    pub transport: KeyTransport,
    pub label: Vec<u8>,
}

fn unsupported(what: &'static str, oid: &ObjectIdentifier) -> CmsError {
    CmsError::UnsupportedAlgorithm {
        what,
        oid: oid.to_string(),
        name: oids::name(oid),
    }
}

fn bad_parameters(what: &str, err: impl std::fmt::Display) -> CmsError {
    CmsError::Unsupported(format!("{what} parameters that do not decode: {err}"))
}

fn oaep_hash(oid: &ObjectIdentifier, what: &'static str) -> Result<OaepHash, CmsError> {
    match *oid {
        oids::SHA1 => Ok(OaepHash::Sha1),
        oids::SHA256 => Ok(OaepHash::Sha256),
        oids::SHA384 => Ok(OaepHash::Sha384),
        oids::SHA512 => Ok(OaepHash::Sha512),
        _ => Err(unsupported(what, oid)),
    }
}

fn hash_oid(hash: OaepHash) -> ObjectIdentifier {
    match hash {
        OaepHash::Sha1 => oids::SHA1,
        OaepHash::Sha256 => oids::SHA256,
        OaepHash::Sha384 => oids::SHA384,
        OaepHash::Sha512 => oids::SHA512,
    }
}

/// Parses a RecipientInfo's keyEncryptionAlgorithm.
pub fn parse_key_transport(
    algorithm: &AlgorithmIdentifierOwned,
) -> Result<KeyTransportParams, CmsError> {
    match algorithm.oid {
        oids::RSA_ENCRYPTION => Ok(KeyTransportParams {
            transport: KeyTransport::RsaPkcs1v15,
            label: Vec::new(),
        }),
        oids::RSAES_OAEP => parse_oaep_parameters(algorithm.parameters.as_ref()),
        ref other => Err(unsupported("key transport algorithm", other)),
    }
}

/// RSAES-OAEP-params. Absent, NULL or an empty SEQUENCE all mean SHA-1 / MGF1-SHA-1 /
/// empty label. The hash and the MGF1 hash are taken separately (Java's SunJCE pairs
/// SHA-256 with MGF1-SHA-1); hash parameters may be absent or NULL (BouncyCastle).
fn parse_oaep_parameters(parameters: Option<&Any>) -> Result<KeyTransportParams, CmsError> {
    let params = match parameters {
        None => RsaOaepParams::<Any>::default(),
        Some(any) if any.is_null() => RsaOaepParams::<Any>::default(),
        Some(any) => {
            let der = any
                .to_der()
                .map_err(|err| bad_parameters("RSAES-OAEP", err))?;
            RsaOaepParams::<Any>::from_ber(&der).map_err(|err| bad_parameters("RSAES-OAEP", err))?
        }
    };
    let hash = oaep_hash(&params.hash.oid, "RSAES-OAEP hash")?;
    if params.mask_gen.oid != oids::MGF1 {
        return Err(unsupported(
            "RSAES-OAEP mask generation function",
            &params.mask_gen.oid,
        ));
    }
    let mgf1_hash = match &params.mask_gen.parameters {
        Some(mgf_hash) => oaep_hash(&mgf_hash.oid, "RSAES-OAEP MGF1 hash")?,
        None => OaepHash::Sha1,
    };
    if params.p_source.oid != oids::P_SPECIFIED {
        return Err(unsupported("RSAES-OAEP label source", &params.p_source.oid));
    }
    let label = match &params.p_source.parameters {
        None => Vec::new(),
        Some(any) => any
            .decode_as::<OctetString>()
            .map_err(|err| bad_parameters("RSAES-OAEP pSpecified", err))?
            .into_bytes()
            .into_vec(),
    };
    Ok(KeyTransportParams {
        transport: KeyTransport::oaep(hash, mgf1_hash),
        label,
    })
}

/// Parses the contentEncryptionAlgorithm: the cipher and its IV.
pub fn parse_content_cipher(
    algorithm: &AlgorithmIdentifierOwned,
) -> Result<(ContentCipher, Vec<u8>), CmsError> {
    let cipher = match algorithm.oid {
        oids::AES128_CBC => ContentCipher::Aes128Cbc,
        oids::AES192_CBC => ContentCipher::Aes192Cbc,
        oids::AES256_CBC => ContentCipher::Aes256Cbc,
        ref other => return Err(unsupported("content-encryption algorithm", other)),
    };
    let iv = algorithm
        .parameters
        .as_ref()
        .ok_or_else(|| CmsError::Unsupported(format!("{cipher} without an IV")))?
        .decode_as::<OctetString>()
        .map_err(|err| bad_parameters("AES-CBC IV", err))?
        .into_bytes()
        .into_vec();
    if iv.len() != super::content::BLOCK {
        return Err(CmsError::Unsupported(format!(
            "{cipher} IV of {} bytes (needs 16)",
            iv.len()
        )));
    }
    Ok((cipher, iv))
}

fn hash_algorithm(hash: OaepHash) -> AlgorithmIdentifierOwned {
    // NULL hash parameters, as BouncyCastle writes them (KS's own files).
    AlgorithmIdentifierOwned {
        oid: hash_oid(hash),
        parameters: Some(Any::from(Null)),
    }
}

/// The keyEncryptionAlgorithm the writer puts in its RecipientInfo.
pub fn key_transport_algorithm(
    transport: KeyTransport,
) -> Result<AlgorithmIdentifierOwned, CmsError> {
    let encoding = |err: der::Error| CmsError::KeyWrap(format!("encoding OAEP parameters: {err}"));
    match transport.oaep_hashes() {
        None => Ok(AlgorithmIdentifierOwned {
            oid: oids::RSA_ENCRYPTION,
            parameters: Some(Any::from(Null)),
        }),
        Some((hash, mgf1_hash)) => {
            let params = RsaOaepParams::<Any> {
                hash: hash_algorithm(hash),
                mask_gen: spki::AlgorithmIdentifier {
                    oid: oids::MGF1,
                    parameters: Some(hash_algorithm(mgf1_hash)),
                },
                ..RsaOaepParams::default()
            };
            // DEFAULT fields (SHA-1, MGF1-SHA-1, empty label) are left out, so the
            // SHA-1 pair encodes as an empty SEQUENCE.
            let der = params.to_der().map_err(encoding)?;
            Ok(AlgorithmIdentifierOwned {
                oid: oids::RSAES_OAEP,
                parameters: Some(Any::from_der(&der).map_err(encoding)?),
            })
        }
    }
}

/// The contentEncryptionAlgorithm the writer uses.
pub fn content_algorithm(
    cipher: ContentCipher,
    iv: &[u8],
) -> Result<AlgorithmIdentifierOwned, CmsError> {
    let oid = match cipher {
        ContentCipher::Aes128Cbc => oids::AES128_CBC,
        ContentCipher::Aes192Cbc => oids::AES192_CBC,
        ContentCipher::Aes256Cbc => oids::AES256_CBC,
    };
    let iv = OctetString::new(iv).and_then(|iv| Any::encode_from(&iv));
    Ok(AlgorithmIdentifierOwned {
        oid,
        parameters: Some(iv.map_err(|err| CmsError::Unsupported(format!("IV: {err}")))?),
    })
}

/// An RSA operation run with a concrete OAEP padding type.
trait WithOaep {
    type Output;
    fn run<D, M>(self, padding: Oaep<D, M>) -> Self::Output
    where
        D: Digest + FixedOutputReset,
        M: Digest + FixedOutputReset;
}

fn with_oaep<O: WithOaep>(hash: OaepHash, mgf1_hash: OaepHash, label: &[u8], op: O) -> O::Output {
    match hash {
        OaepHash::Sha1 => with_mgf1::<Sha1, O>(mgf1_hash, label, op),
        OaepHash::Sha256 => with_mgf1::<Sha256, O>(mgf1_hash, label, op),
        OaepHash::Sha384 => with_mgf1::<Sha384, O>(mgf1_hash, label, op),
        OaepHash::Sha512 => with_mgf1::<Sha512, O>(mgf1_hash, label, op),
    }
}

fn with_mgf1<D: Digest + FixedOutputReset, O: WithOaep>(
    mgf1_hash: OaepHash,
    label: &[u8],
    op: O,
) -> O::Output {
    fn padding<D: Digest, M: Digest>(label: &[u8]) -> Oaep<D, M> {
        Oaep {
            digest: D::new(),
            mgf_digest: M::new(),
            label: (!label.is_empty()).then(|| label.into()),
        }
    }
    match mgf1_hash {
        OaepHash::Sha1 => op.run(padding::<D, Sha1>(label)),
        OaepHash::Sha256 => op.run(padding::<D, Sha256>(label)),
        OaepHash::Sha384 => op.run(padding::<D, Sha384>(label)),
        OaepHash::Sha512 => op.run(padding::<D, Sha512>(label)),
    }
}

struct Unwrap<'a> {
    key: &'a RsaPrivateKey,
    encrypted_key: &'a [u8],
}

impl WithOaep for Unwrap<'_> {
    type Output = rsa::Result<Vec<u8>>;
    fn run<D, M>(self, padding: Oaep<D, M>) -> Self::Output
    where
        D: Digest + FixedOutputReset,
        M: Digest + FixedOutputReset,
    {
        self.key.decrypt(padding, self.encrypted_key)
    }
}

/// The aws-lc-rs OAEP algorithm for a hash pair, when it has one: it offers only the
/// pairs whose hash and MGF1 hash are the same.
fn aws_lc_oaep(hash: OaepHash, mgf1_hash: OaepHash) -> Option<&'static OaepAlgorithm> {
    match (hash, mgf1_hash) {
        (OaepHash::Sha1, OaepHash::Sha1) => Some(&OAEP_SHA1_MGF1SHA1),
        (OaepHash::Sha256, OaepHash::Sha256) => Some(&OAEP_SHA256_MGF1SHA256),
        (OaepHash::Sha384, OaepHash::Sha384) => Some(&OAEP_SHA384_MGF1SHA384),
        (OaepHash::Sha512, OaepHash::Sha512) => Some(&OAEP_SHA512_MGF1SHA512),
        _ => None,
    }
}

/// RSAES-OAEP decryption in aws-lc-rs. Its error says nothing (by design: no padding
/// oracle), so it becomes the `rsa` crate's equally silent `Decryption`.
fn aws_lc_unwrap(
    key: &OaepPrivateDecryptingKey,
    algorithm: &'static OaepAlgorithm,
    label: &[u8],
    encrypted_key: &[u8],
) -> rsa::Result<Vec<u8>> {
    let mut plaintext = vec![0u8; key.min_output_size()];
    let label = (!label.is_empty()).then_some(label);
    let len = key
        .decrypt(algorithm, encrypted_key, &mut plaintext, label)
        .map_err(|_| rsa::Error::Decryption)?
        .len();
    plaintext.truncate(len);
    Ok(plaintext)
}

/// Decrypts the content-encryption key.
///
/// RSAES-OAEP with the same hash for OAEP and MGF1 (SHA-1, SHA-256, SHA-384, SHA-512:
/// everything KS, BouncyCastle and openssl write by default) runs in aws-lc-rs when it
/// took the key (2048 to 8192 bits): AWS-LC's RSA private-key operation is constant-time
/// and blinded, and its OAEP check does not branch on the padding, so RUSTSEC-2023-0071
/// (Marvin) does not apply to that path. It is also cheaper: a whole 1 KiB decrypt with a
/// 2048-bit key took 0.3-0.4 ms this way against 1.7 ms through the `rsa` crate (release
/// build, 2-core machine), which matters when the agent drains a backlog.
///
/// The rest stays with the `rsa` crate: PKCS#1 v1.5, OAEP with a different MGF1 hash
/// (Java's SunJCE pairs SHA-256 with MGF1-SHA-1), and keys aws-lc-rs does not take.
/// There RUSTSEC-2023-0071 still applies: the `rsa` crate's private-key operation is not
/// proven constant-time. `decrypt` blinds with the OS RNG, and a receiver that decrypts
/// files offline without reporting timing or per-file padding outcomes to the sender
/// gives an attacker little to measure; revisit when the advisory is closed.
pub fn unwrap_content_key(
    key: &RecipientKey,
    params: &KeyTransportParams,
    encrypted_key: &[u8],
) -> rsa::Result<Vec<u8>> {
    let rsa_key = key.private_key();
    match params.transport.oaep_hashes() {
        // PKCS#1 v1.5 uses implicit rejection: a wrong key yields a synthetic key, not an
        // error; the caller's length check and the final padding check catch it.
        None => rsa_key.decrypt(Pkcs1v15Encrypt, encrypted_key),
        Some((hash, mgf1_hash)) => match (key.oaep_key(), aws_lc_oaep(hash, mgf1_hash)) {
            (Some(oaep_key), Some(algorithm)) => {
                aws_lc_unwrap(oaep_key, algorithm, &params.label, encrypted_key)
            }
            _ => with_oaep(
                hash,
                mgf1_hash,
                &params.label,
                Unwrap {
                    key: rsa_key,
                    encrypted_key,
                },
            ),
        },
    }
}

struct Wrap<'a> {
    key: &'a RsaPublicKey,
    content_key: &'a [u8],
}

impl WithOaep for Wrap<'_> {
    type Output = rsa::Result<Vec<u8>>;
    fn run<D, M>(self, padding: Oaep<D, M>) -> Self::Output
    where
        D: Digest + FixedOutputReset,
        M: Digest + FixedOutputReset,
    {
        self.key
            .encrypt(&mut system_rng(), padding, self.content_key)
    }
}

/// The OS RNG as the infallible RNG the `rsa` crate wants for padding. The writer has
/// just drawn the content key and IV from the same source through the fallible
/// `getrandom::fill`, so a failure here would mean the OS RNG broke in between.
fn system_rng() -> getrandom::rand_core::UnwrapErr<getrandom::SysRng> {
    getrandom::rand_core::UnwrapErr(getrandom::SysRng)
}

/// Encrypts the content-encryption key to the recipient.
pub fn wrap_content_key(
    key: &RsaPublicKey,
    transport: KeyTransport,
    content_key: &[u8],
) -> Result<Vec<u8>, CmsError> {
    let wrapped = match transport.oaep_hashes() {
        None => key.encrypt(&mut system_rng(), Pkcs1v15Encrypt, content_key),
        Some((hash, mgf1_hash)) => with_oaep(hash, mgf1_hash, &[], Wrap { key, content_key }),
    };
    wrapped.map_err(|err| CmsError::KeyWrap(format!("{transport}: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oaep_any(hex_der: &str) -> AlgorithmIdentifierOwned {
        AlgorithmIdentifierOwned {
            oid: oids::RSAES_OAEP,
            parameters: Some(Any::from_der(&hex::decode(hex_der).unwrap()).unwrap()),
        }
    }

    #[test]
    fn oaep_defaults_mean_sha1() {
        for params in [
            None,
            Some(Any::from(Null)),
            Some(Any::from_der(&[0x30, 0x00]).unwrap()),
        ] {
            let alg = AlgorithmIdentifierOwned {
                oid: oids::RSAES_OAEP,
                parameters: params,
            };
            assert_eq!(
                parse_key_transport(&alg).unwrap().transport,
                KeyTransport::RsaOaepSha1
            );
        }
    }

    #[test]
    fn oaep_sha256_with_bouncycastle_null_params() {
        // As in KS's small.crypt: [0]{sha256, NULL} [1]{mgf1, {sha256, NULL}}.
        let alg = oaep_any(
            "302fa00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500",
        );
        let parsed = parse_key_transport(&alg).unwrap();
        assert_eq!(parsed.transport, KeyTransport::RsaOaepSha256);
        assert!(parsed.label.is_empty());
    }

    #[test]
    fn oaep_sha256_with_mgf1_sha1_is_kept_apart() {
        // [0]{sha256} only: MGF1 stays at its SHA-1 default.
        let alg = oaep_any("300fa00d300b0609608648016503040201");
        assert_eq!(
            parse_key_transport(&alg).unwrap().transport,
            KeyTransport::RsaOaep {
                hash: OaepHash::Sha256,
                mgf1_hash: OaepHash::Sha1
            }
        );
    }

    #[test]
    fn written_parameters_parse_back() {
        for transport in [
            KeyTransport::RsaOaepSha256,
            KeyTransport::RsaOaepSha1,
            KeyTransport::RsaPkcs1v15,
            KeyTransport::RsaOaep {
                hash: OaepHash::Sha512,
                mgf1_hash: OaepHash::Sha1,
            },
        ] {
            let alg = key_transport_algorithm(transport).unwrap();
            assert_eq!(parse_key_transport(&alg).unwrap().transport, transport);
        }
        let sha1 = key_transport_algorithm(KeyTransport::RsaOaepSha1).unwrap();
        assert_eq!(sha1.parameters.unwrap().to_der().unwrap(), [0x30, 0x00]);
    }

    #[test]
    fn aws_lc_and_rsa_crate_unwrap_alike() {
        let key = RecipientKey::from_pem(
            include_str!("../../../fixtures/interop/ks-vectors/sp-key.pem"),
            None,
        )
        .unwrap();
        assert!(key.oaep_key().is_some(), "aws-lc-rs takes a 2048-bit key");
        let public = key.private_key().to_public_key();
        let content_key = [7u8; 32];
        let hashes = [
            OaepHash::Sha1,
            OaepHash::Sha256,
            OaepHash::Sha384,
            OaepHash::Sha512,
        ];
        for hash in hashes {
            for mgf1_hash in hashes {
                for label in [&b""[..], b"mottak"] {
                    let wrap = Wrap {
                        key: &public,
                        content_key: &content_key,
                    };
                    let wrapped = with_oaep(hash, mgf1_hash, label, wrap).unwrap();
                    let params = KeyTransportParams {
                        transport: KeyTransport::oaep(hash, mgf1_hash),
                        label: label.to_vec(),
                    };
                    let case = format!("{hash:?}/{mgf1_hash:?} label {label:?}");
                    assert_eq!(
                        aws_lc_oaep(hash, mgf1_hash).is_some(),
                        hash == mgf1_hash,
                        "{case}"
                    );
                    assert_eq!(
                        unwrap_content_key(&key, &params, &wrapped).unwrap(),
                        content_key,
                        "{case}"
                    );
                    let by_rsa_crate = Unwrap {
                        key: key.private_key(),
                        encrypted_key: &wrapped,
                    };
                    assert_eq!(
                        with_oaep(hash, mgf1_hash, label, by_rsa_crate).unwrap(),
                        content_key,
                        "{case}"
                    );
                    let wrong_label = KeyTransportParams {
                        label: b"other".to_vec(),
                        ..params.clone()
                    };
                    assert!(
                        unwrap_content_key(&key, &wrong_label, &wrapped).is_err(),
                        "{case}"
                    );
                    let mut damaged = wrapped.clone();
                    damaged[100] ^= 1;
                    assert!(
                        unwrap_content_key(&key, &params, &damaged).is_err(),
                        "{case}"
                    );
                    assert!(
                        unwrap_content_key(&key, &params, &wrapped[1..]).is_err(),
                        "{case}"
                    );
                }
            }
        }
    }

    #[test]
    fn unknown_algorithms_are_named() {
        let alg = AlgorithmIdentifierOwned {
            oid: ObjectIdentifier::new_unwrap("1.2.840.113549.3.7"),
            parameters: None,
        };
        let err = parse_content_cipher(&alg).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported content-encryption algorithm: 1.2.840.113549.3.7 (des-ede3-cbc)"
        );
        let err = parse_key_transport(&alg).unwrap_err();
        assert!(err.to_string().contains("key transport"), "{err}");
    }

    #[test]
    fn content_algorithm_round_trips() {
        let alg = content_algorithm(ContentCipher::Aes192Cbc, &[5; 16]).unwrap();
        let (cipher, iv) = parse_content_cipher(&alg).unwrap();
        assert_eq!(cipher, ContentCipher::Aes192Cbc);
        assert_eq!(iv, vec![5; 16]);
    }
}
