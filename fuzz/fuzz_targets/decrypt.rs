//! Fuzzes the streaming CMS reader: whatever the bytes, `decrypt` returns (an error or
//! a plaintext) and never panics, overflows or loops.
//!
//! The key is KS's test key with its certificate, so mutations of the seed corpus (KS's
//! own files and files written to that certificate) reach the RSA unwrap and the
//! AES-CBC stream, not only the outer BER.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mottak_protocol::cms::{RecipientKey, decrypt};

const KEY: &str = include_str!("../../fixtures/interop/ks-vectors/sp-key.pem");
const CERT: &str = include_str!("../../fixtures/interop/ks-vectors/sp-cert.pem");

fn keys() -> &'static [RecipientKey] {
    static KEYS: OnceLock<Vec<RecipientKey>> = OnceLock::new();
    KEYS.get_or_init(|| match RecipientKey::from_pem(KEY, Some(CERT)) {
        Ok(key) => vec![key],
        Err(err) => panic!("the fuzz key does not load: {err}"),
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = decrypt(data, std::io::sink(), keys());
});
