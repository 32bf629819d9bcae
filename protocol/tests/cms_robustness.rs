//! Bad input: truncation, bit flips, wrong keys, key rotation, foreign files and
//! unsupported algorithms each give their own error, never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cms_support;

use std::process::Command;

use cms_support::{OpensslKey, ks_cert, ks_key, read_ks, run, sample_plaintext};
use mottak_protocol::cms::{
    CmsError, Encoding, EncryptOptions, KeyTransport, RecipientKey, decrypt, encrypt,
};
use proptest::prelude::*;

fn encrypt_to_ks(plaintext: &[u8], options: &EncryptOptions) -> Vec<u8> {
    let mut encrypted = Vec::new();
    encrypt(
        plaintext,
        Some(plaintext.len() as u64),
        &mut encrypted,
        &ks_cert(),
        options,
    )
    .unwrap();
    encrypted
}

fn der() -> EncryptOptions {
    EncryptOptions {
        encoding: Encoding::Der,
        ..EncryptOptions::default()
    }
}

fn ber(chunk_size: usize) -> EncryptOptions {
    EncryptOptions {
        encoding: Encoding::BerIndefinite { chunk_size },
        ..EncryptOptions::default()
    }
}

/// Decrypts with the KS key; returns the output written even on error.
fn try_decrypt(bytes: &[u8], keys: &[RecipientKey]) -> (Result<usize, CmsError>, Vec<u8>) {
    let mut out = Vec::new();
    let result = decrypt(bytes, &mut out, keys).map(|outcome| outcome.key_index);
    (result, out)
}

fn assert_truncated(full: &[u8], prefix_len: usize, plaintext_len: usize, keys: &[RecipientKey]) {
    let (result, out) = try_decrypt(&full[..prefix_len], keys);
    match result {
        Err(CmsError::Truncated { offset, .. }) => {
            assert_eq!(
                offset, prefix_len as u64,
                "the offset is where the input ends"
            );
        }
        other => panic!("prefix {prefix_len} of {}: {other:?}", full.len()),
    }
    // The last plaintext block is only released once the structure is complete.
    assert!(
        out.len() < plaintext_len.max(1),
        "prefix {prefix_len} leaked the whole plaintext"
    );
}

#[test]
fn every_prefix_of_a_small_file_is_truncated() {
    let plaintext = sample_plaintext(40);
    let keys = [ks_key(true)];
    for options in [der(), ber(16), ber(1000)] {
        let full = encrypt_to_ks(&plaintext, &options);
        for prefix_len in 0..full.len() {
            assert_truncated(&full, prefix_len, plaintext.len(), &keys);
        }
        assert_eq!(try_decrypt(&full, &keys).1, plaintext);
    }
}

#[test]
fn prefixes_of_a_ks_file_are_truncated() {
    let full = read_ks("small.crypt");
    let keys = [ks_key(true)];
    let plaintext_len = read_ks("small.pdf").len();
    let head = 0..600;
    let middle = (600..full.len() - 40).step_by(61);
    let tail = full.len() - 40..full.len();
    for prefix_len in head.chain(middle).chain(tail) {
        assert_truncated(&full, prefix_len, plaintext_len, &keys);
    }
}

#[test]
fn corrupt_last_block_is_bad_padding() {
    let plaintext = sample_plaintext(100);
    let mut encrypted = encrypt_to_ks(&plaintext, &der());
    let last = encrypted.len() - 1;
    encrypted[last] ^= 0x40;
    let (result, _) = try_decrypt(&encrypted, &[ks_key(true)]);
    let err = result.unwrap_err();
    assert!(matches!(err, CmsError::BadPadding), "{err:?}");
    assert!(
        err.to_string().contains("wrong key or corrupt data"),
        "{err}"
    );
}

#[test]
fn ciphertext_not_a_multiple_of_the_block_is_malformed() {
    // Drop one byte from the last chunk of a BER file and fix that chunk's length.
    let plaintext = sample_plaintext(20); // 32 bytes of ciphertext in chunks of 16
    let mut encrypted = encrypt_to_ks(&plaintext, &ber(16));
    let end = encrypted.len() - 10; // before the five end-of-contents markers
    assert_eq!(encrypted[end - 18], 0x04);
    assert_eq!(encrypted[end - 17], 16);
    encrypted[end - 17] = 15;
    encrypted.remove(end - 1);
    let (result, _) = try_decrypt(&encrypted, &[ks_key(true)]);
    let err = result.unwrap_err();
    assert!(matches!(err, CmsError::Malformed { .. }), "{err:?}");
    assert!(err.to_string().contains("not a whole number"), "{err}");
}

#[test]
fn wrong_keys_are_named() {
    let encrypted = read_ks("small.crypt");
    let other = OpensslKey::new("somebody else");

    // A key whose certificate is not the recipient.
    let err = try_decrypt(&encrypted, &[other.recipient_key(true)])
        .0
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, CmsError::NoMatchingKey { .. }), "{err:?}");
    assert!(
        message.contains("encrypted to issuer \"CN=kssulbt1e-u\" serial FBCAEA76FC34BC6A"),
        "{message}"
    );
    assert!(message.contains("CN=somebody else"), "{message}");
    assert!(message.contains("is not a recipient"), "{message}");

    // A key without a certificate: tried, and OAEP decoding fails.
    let err = try_decrypt(&encrypted, &[other.recipient_key(false)])
        .0
        .unwrap_err();
    assert!(matches!(err, CmsError::NoMatchingKey { .. }), "{err:?}");
    assert!(
        err.to_string().contains("does not decrypt the content key"),
        "{err}"
    );

    // The right certificate paired with the wrong private key.
    let key_pem = std::fs::read_to_string(&other.key).unwrap();
    let ks_cert_pem = String::from_utf8(read_ks("sp-cert.pem")).unwrap();
    let mismatched = RecipientKey::from_pem(&key_pem, Some(&ks_cert_pem)).unwrap();
    assert!(!mismatched.matches_certificate());
    let err = try_decrypt(&encrypted, &[mismatched]).0.unwrap_err();
    assert!(
        err.to_string()
            .contains("does not belong to its certificate"),
        "{err}"
    );
}

#[test]
fn wrong_key_with_pkcs1v15_fails_cleanly() {
    // v1.5 decryption uses implicit rejection: a wrong key yields a synthetic content
    // key, so the failure shows as a wrong key length or as bad padding.
    let options = EncryptOptions {
        key_transport: KeyTransport::RsaPkcs1v15,
        ..der()
    };
    let encrypted = encrypt_to_ks(&sample_plaintext(64), &options);
    let other = OpensslKey::new("v15 other");
    let (result, out) = try_decrypt(&encrypted, &[other.recipient_key(false)]);
    match result {
        Err(CmsError::NoMatchingKey { .. } | CmsError::BadPadding) => {}
        Ok(_) => assert_ne!(out, sample_plaintext(64)),
        Err(other) => panic!("{other:?}"),
    }
}

#[test]
fn key_rotation_picks_the_key_the_file_is_for() {
    let encrypted = read_ks("small.crypt");
    let plaintext = read_ks("small.pdf");
    let old = OpensslKey::new("old key");
    for keys in [
        vec![old.recipient_key(true), ks_key(true)],
        vec![old.recipient_key(false), ks_key(false)],
        vec![old.recipient_key(false), ks_key(true)],
    ] {
        let (result, out) = try_decrypt(&encrypted, &keys);
        assert_eq!(result.unwrap(), 1);
        assert!(out == plaintext);
    }
    let (result, _) = try_decrypt(&encrypted, &[ks_key(true), old.recipient_key(true)]);
    assert_eq!(result.unwrap(), 0);
}

#[test]
fn files_that_are_not_enveloped_data_say_so() {
    let key = OpensslKey::new("signer");
    let plain = key.path("plain.txt");
    std::fs::write(&plain, b"signed, not encrypted").unwrap();
    let signed = run(Command::new("openssl")
        .args([
            "cms",
            "-sign",
            "-binary",
            "-outform",
            "DER",
            "-nodetach",
            "-in",
        ])
        .arg(&plain)
        .arg("-signer")
        .arg(&key.cert)
        .arg("-inkey")
        .arg(&key.key));
    let err = try_decrypt(&signed, &[ks_key(true)]).0.unwrap_err();
    assert!(matches!(err, CmsError::NotEnvelopedData { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("1.2.840.113549.1.7.2 (id-signedData)"),
        "{err}"
    );

    let random = sample_plaintext(3000);
    let err = try_decrypt(&random[..], &[ks_key(true)]).0.unwrap_err();
    assert!(matches!(err, CmsError::NotEnvelopedData { .. }), "{err:?}");

    let err = try_decrypt(&read_ks("dokumenter.zip"), &[ks_key(true)])
        .0
        .unwrap_err();
    assert!(err.to_string().contains("plain zip"), "{err}");
}

fn replace_once(haystack: &mut [u8], needle: &[u8], replacement: &[u8]) {
    let at = haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle present");
    haystack[at..at + needle.len()].copy_from_slice(replacement);
}

#[test]
fn unsupported_algorithms_are_named() {
    let mut encrypted = read_ks("small.crypt");
    // aes256-CBC (…1.42) → aes256-GCM (…1.46): same length.
    replace_once(
        &mut encrypted,
        &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a],
        &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2e],
    );
    let err = try_decrypt(&encrypted, &[ks_key(true)]).0.unwrap_err();
    assert_eq!(
        err.to_string(),
        "unsupported content-encryption algorithm: 2.16.840.1.101.3.4.1.46 (aes256-GCM)"
    );

    let mut encrypted = read_ks("small.crypt");
    // id-RSAES-OAEP (…1.1.7) → id-RSASSA-PSS (…1.1.10).
    replace_once(
        &mut encrypted,
        &[
            0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x07,
        ],
        &[
            0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a,
        ],
    );
    let err = try_decrypt(&encrypted, &[ks_key(true)]).0.unwrap_err();
    assert!(
        matches!(err, CmsError::UnsupportedAlgorithm { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("1.2.840.113549.1.1.10"), "{err}");
}

#[test]
fn oversized_recipient_infos_are_refused_without_reading_them() {
    // ContentInfo → [0] → EnvelopedData → version → SET claiming 2 GiB.
    let mut bytes = hex::decode("308006092a864886f70d010703a0803080020100").unwrap();
    bytes.extend([0x31, 0x84, 0x7f, 0xff, 0xff, 0xff]);
    bytes.extend(vec![0u8; 70_000]);
    let err = try_decrypt(&bytes, &[ks_key(true)]).0.unwrap_err();
    assert!(matches!(err, CmsError::Malformed { .. }), "{err:?}");
    assert!(
        err.to_string().contains("RecipientInfos is larger than"),
        "{err}"
    );
}

#[test]
fn deep_nesting_is_refused() {
    let mut bytes = hex::decode("308006092a864886f70d010703a0803080020100").unwrap();
    // originatorInfo [0] nested 1000 levels deep.
    for _ in 0..1000 {
        bytes.extend([0xa0, 0x80]);
    }
    let err = try_decrypt(&bytes, &[ks_key(true)]).0.unwrap_err();
    assert!(err.to_string().contains("nested deeper"), "{err}");
}

/// Where the ciphertext sits in a DER file: its last `(n/16+1)*16` bytes.
fn ciphertext_range(encrypted: &[u8], plaintext_len: usize) -> std::ops::Range<usize> {
    let len = (plaintext_len / 16 + 1) * 16;
    encrypted.len() - len..encrypted.len()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn bit_flips_never_panic(bit in 0usize..(8 * 700), use_ber in any::<bool>()) {
        let plaintext = sample_plaintext(100);
        let options = if use_ber { ber(16) } else { der() };
        let mut encrypted = encrypt_to_ks(&plaintext, &options);
        let bit = bit % (8 * encrypted.len());
        encrypted[bit / 8] ^= 1 << (bit % 8);
        let (result, out) = try_decrypt(&encrypted, &[ks_key(true)]);
        if !use_ber && ciphertext_range(&encrypted, plaintext.len()).contains(&(bit / 8)) {
            match result {
                Ok(_) => prop_assert!(out != plaintext),
                Err(CmsError::BadPadding) => {}
                Err(other) => prop_assert!(false, "flip in the ciphertext gave {other:?}"),
            }
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = try_decrypt(&bytes, &[ks_key(false)]);
    }

    #[test]
    fn random_bytes_after_a_valid_start_never_panic(
        cut in 0usize..600,
        tail in proptest::collection::vec(any::<u8>(), 0..1024),
    ) {
        let mut bytes = read_ks("small.crypt");
        bytes.truncate(cut);
        bytes.extend(tail);
        let _ = try_decrypt(&bytes, &[ks_key(true)]);
    }
}
