//! KS's own SvarInn files (BouncyCastle, BER indefinite, 1000-byte chunks, RSAES-OAEP
//! SHA-256, AES-256-CBC) decrypt to their plaintext byte for byte.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use mottak_protocol::cms::{CmsError, ContentCipher, KeyTransport, RecipientKey, decrypt};

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/interop/ks-vectors")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(vectors().join(name)).unwrap()
}

fn read_text(name: &str) -> String {
    std::fs::read_to_string(vectors().join(name)).unwrap()
}

const CASES: [(&str, &str); 3] = [
    ("small.crypt", "small.pdf"),
    ("dokumenter.crypt", "dokumenter.zip"),
    ("test.crypt", "test.pdf"),
];

#[test]
fn ks_files_decrypt_with_key_and_certificate() {
    let key =
        RecipientKey::from_pem(&read_text("sp-key.pem"), Some(&read_text("sp-cert.pem"))).unwrap();
    assert!(key.matches_certificate());
    for (crypt, plain) in CASES {
        let mut out = Vec::new();
        let outcome = decrypt(&read(crypt)[..], &mut out, std::slice::from_ref(&key)).unwrap();
        let expected = read(plain);
        assert!(out == expected, "{crypt} does not decrypt to {plain}");
        assert_eq!(outcome.plaintext_len, expected.len() as u64);
        assert_eq!(outcome.key_index, 0);
        assert_eq!(outcome.content_algorithm, ContentCipher::Aes256Cbc);
        assert_eq!(outcome.key_transport, KeyTransport::RsaOaepSha256);
    }
}

#[test]
fn ks_files_decrypt_with_key_alone() {
    let key = RecipientKey::from_pem(&read_text("sp-key.pem"), None).unwrap();
    for (crypt, plain) in CASES {
        let mut out = Vec::new();
        decrypt(&read(crypt)[..], &mut out, std::slice::from_ref(&key)).unwrap();
        assert!(out == read(plain), "{crypt} does not decrypt to {plain}");
    }
}

#[test]
fn ks_file_without_keys_names_the_recipient() {
    let err = decrypt(&read("small.crypt")[..], Vec::new(), &[]).unwrap_err();
    assert!(matches!(err, CmsError::NoMatchingKey { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "no configured key matches this file: it is encrypted to issuer \"CN=kssulbt1e-u\" \
         serial FBCAEA76FC34BC6A; no keys are configured"
    );
}
