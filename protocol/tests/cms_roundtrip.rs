//! Our writer and reader agree at the edge sizes, for every layout and chunk size, and
//! however the input arrives.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cms_support;

use std::io::Read;

use cms_support::{OneByteReader, ks_cert, ks_key, read_ks, sample_plaintext};
use mottak_protocol::cms::{
    CmsError, ContentCipher, Encoding, EncryptOptions, KeyTransport, decrypt, encrypt,
};
use proptest::prelude::*;

fn encrypt_to_ks(plaintext: &[u8], options: &EncryptOptions) -> Vec<u8> {
    let mut encrypted = Vec::new();
    let written = encrypt(
        plaintext,
        Some(plaintext.len() as u64),
        &mut encrypted,
        &ks_cert(),
        options,
    )
    .unwrap();
    assert_eq!(written, encrypted.len() as u64);
    encrypted
}

fn decrypt_with_ks(encrypted: impl Read) -> Result<Vec<u8>, CmsError> {
    let mut out = Vec::new();
    let outcome = decrypt(encrypted, &mut out, &[ks_key(true)])?;
    assert_eq!(outcome.plaintext_len, out.len() as u64);
    Ok(out)
}

const EDGE_SIZES: [usize; 10] = [0, 1, 15, 16, 17, 999, 1000, 1001, 4096, 65_537];

#[test]
fn round_trips_at_edge_sizes_in_every_layout() {
    let encodings = [
        Encoding::Der,
        Encoding::BerIndefinite { chunk_size: 1000 },
        Encoding::BerIndefinite { chunk_size: 1 },
        Encoding::BerIndefinite { chunk_size: 16 },
        Encoding::BerIndefinite { chunk_size: 4096 },
    ];
    for len in EDGE_SIZES {
        let plaintext = sample_plaintext(len);
        for encoding in encodings {
            let options = EncryptOptions {
                encoding,
                ..EncryptOptions::default()
            };
            let encrypted = encrypt_to_ks(&plaintext, &options);
            assert_eq!(encrypted[1] == 0x80, encoding != Encoding::Der);
            let out = decrypt_with_ks(&encrypted[..]).unwrap();
            assert!(out == plaintext, "len {len} {encoding:?}");
        }
    }
}

#[test]
fn der_lengths_are_exact() {
    // The DER ciphertext is (n/16+1)*16 bytes and sits at the very end of the file.
    for len in EDGE_SIZES {
        let options = EncryptOptions {
            encoding: Encoding::Der,
            ..EncryptOptions::default()
        };
        let encrypted = encrypt_to_ks(&sample_plaintext(len), &options);
        let ciphertext_len = (len / 16 + 1) * 16;
        let header = match ciphertext_len {
            0..=0x7f => 2,
            0x80..=0xff => 3,
            0x100..=0xffff => 4,
            _ => 5,
        };
        let tag_at = encrypted.len() - ciphertext_len - header;
        assert_eq!(encrypted[tag_at], 0x80, "len {len}");
    }
}

#[test]
fn default_options_write_what_ks_writes() {
    let options = EncryptOptions::default();
    assert_eq!(options.key_transport, KeyTransport::RsaOaepSha256);
    assert_eq!(options.content, ContentCipher::Aes256Cbc);
    assert_eq!(
        options.encoding,
        Encoding::BerIndefinite { chunk_size: 1000 }
    );
    let plaintext = sample_plaintext(3151);
    let ours = encrypt_to_ks(&plaintext, &options);
    let theirs = read_ks("small.crypt");
    // Same layout as KS's small.crypt (also a 3151-byte plaintext): identical up to the
    // random encrypted key, IV and ciphertext, so identical length and shape.
    assert_eq!(ours.len(), theirs.len());
    assert_eq!(
        ours[..130],
        theirs[..130],
        "header through the OAEP parameters"
    );
    let chunk_header = [0x04, 0x82, 0x03, 0xe8];
    let count = |bytes: &[u8]| bytes.windows(4).filter(|w| *w == chunk_header).count();
    assert!(count(&ours) >= 3);
    assert_eq!(
        ours[ours.len() - 10..],
        [0u8; 10][..],
        "five end-of-contents markers"
    );
}

#[test]
fn other_transports_and_ciphers_round_trip() {
    let plaintext = sample_plaintext(1017);
    for key_transport in [
        KeyTransport::RsaOaepSha1,
        KeyTransport::RsaPkcs1v15,
        KeyTransport::RsaOaep {
            hash: mottak_protocol::cms::OaepHash::Sha512,
            mgf1_hash: mottak_protocol::cms::OaepHash::Sha256,
        },
    ] {
        for content in [ContentCipher::Aes128Cbc, ContentCipher::Aes192Cbc] {
            let options = EncryptOptions {
                key_transport,
                content,
                encoding: Encoding::BerIndefinite { chunk_size: 333 },
            };
            let encrypted = encrypt_to_ks(&plaintext, &options);
            let mut out = Vec::new();
            let outcome = decrypt(&encrypted[..], &mut out, &[ks_key(false)]).unwrap();
            assert!(out == plaintext);
            assert_eq!(outcome.key_transport, key_transport);
            assert_eq!(outcome.content_algorithm, content);
        }
    }
}

#[test]
fn reader_accepts_one_byte_at_a_time() {
    let out = decrypt_with_ks(OneByteReader(&read_ks("small.crypt")[..])).unwrap();
    assert!(out == read_ks("small.pdf"));
    let plaintext = sample_plaintext(2000);
    for encoding in [Encoding::Der, Encoding::BerIndefinite { chunk_size: 1000 }] {
        let options = EncryptOptions {
            encoding,
            ..EncryptOptions::default()
        };
        let encrypted = encrypt_to_ks(&plaintext, &options);
        assert!(decrypt_with_ks(OneByteReader(&encrypted[..])).unwrap() == plaintext);
    }
}

#[test]
fn writer_accepts_one_byte_at_a_time() {
    let plaintext = sample_plaintext(1234);
    let mut encrypted = Vec::new();
    encrypt(
        OneByteReader(&plaintext[..]),
        Some(1234),
        &mut encrypted,
        &ks_cert(),
        &EncryptOptions {
            encoding: Encoding::Der,
            ..EncryptOptions::default()
        },
    )
    .unwrap();
    assert!(decrypt_with_ks(&encrypted[..]).unwrap() == plaintext);
}

#[test]
fn writer_checks_its_options_and_the_declared_length() {
    let der = EncryptOptions {
        encoding: Encoding::Der,
        ..EncryptOptions::default()
    };
    let cert = ks_cert();
    assert!(matches!(
        encrypt(&b"abc"[..], None, Vec::new(), &cert, &der),
        Err(CmsError::PlaintextLengthRequired)
    ));
    assert!(matches!(
        encrypt(&b"abc"[..], Some(4), Vec::new(), &cert, &der),
        Err(CmsError::PlaintextLengthMismatch {
            declared: 4,
            actual: 3
        })
    ));
    assert!(matches!(
        encrypt(&b"abcde"[..], Some(4), Vec::new(), &cert, &der),
        Err(CmsError::PlaintextLengthMismatch { declared: 4, .. })
    ));
    let zero_chunks = EncryptOptions {
        encoding: Encoding::BerIndefinite { chunk_size: 0 },
        ..EncryptOptions::default()
    };
    assert!(matches!(
        encrypt(&b"abc"[..], None, Vec::new(), &cert, &zero_chunks),
        Err(CmsError::InvalidOption(_))
    ));
    // BER needs no length.
    let mut encrypted = Vec::new();
    encrypt(
        &b"abc"[..],
        None,
        &mut encrypted,
        &cert,
        &EncryptOptions::default(),
    )
    .unwrap();
    assert_eq!(decrypt_with_ks(&encrypted[..]).unwrap(), b"abc");
}

/// Hands out reads of pseudo-random sizes (1 to 5000 bytes).
struct RaggedReader<'a> {
    data: &'a [u8],
    state: u64,
}

impl Read for RaggedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.state = self
            .state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        let want = usize::try_from(self.state >> 33).unwrap() % 5000 + 1;
        let n = want.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn encoding_strategy() -> impl Strategy<Value = Encoding> {
    prop_oneof![
        Just(Encoding::Der),
        (1usize..5000).prop_map(|chunk_size| Encoding::BerIndefinite { chunk_size }),
    ]
}

fn cipher_strategy() -> impl Strategy<Value = ContentCipher> {
    prop_oneof![
        Just(ContentCipher::Aes128Cbc),
        Just(ContentCipher::Aes192Cbc),
        Just(ContentCipher::Aes256Cbc),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn random_sizes_and_chunks_round_trip(
        len in 0usize..150_000,
        encoding in encoding_strategy(),
        content in cipher_strategy(),
        read_seed in any::<u64>(),
    ) {
        let plaintext = sample_plaintext(len);
        let options = EncryptOptions { encoding, content, ..EncryptOptions::default() };
        let encrypted = encrypt_to_ks(&plaintext, &options);
        let out = decrypt_with_ks(RaggedReader { data: &encrypted, state: read_seed }).unwrap();
        prop_assert!(out == plaintext);
    }
}

/// Splits our BER output (chunk size 16) into the bytes before the content's `[0]`
/// header and the 16-byte ciphertext chunks (the five end-of-contents markers dropped).
fn split_ber_content(encrypted: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let aes256_oid = [
        0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a,
    ];
    let at = encrypted
        .windows(aes256_oid.len())
        .position(|w| w == aes256_oid)
        .unwrap();
    let content_header = at + aes256_oid.len() + 18; // after the IV's OCTET STRING
    assert_eq!(encrypted[content_header..content_header + 2], [0xa0, 0x80]);
    let head = encrypted[..content_header].to_vec();
    let body = &encrypted[content_header + 2..encrypted.len() - 10];
    let chunks = body
        .chunks(18)
        .map(|chunk| {
            assert_eq!(chunk[..2], [0x04, 0x10]);
            chunk[2..].to_vec()
        })
        .collect();
    (head, chunks)
}

#[test]
fn nested_constructed_and_primitive_content_in_ber() {
    let plaintext = sample_plaintext(100); // 112 bytes of ciphertext: 7 chunks of 16
    let encrypted = encrypt_to_ks(
        &plaintext,
        &EncryptOptions {
            encoding: Encoding::BerIndefinite { chunk_size: 16 },
            ..EncryptOptions::default()
        },
    );
    let (head, chunks) = split_ber_content(&encrypted);
    assert_eq!(chunks.len(), 7);
    let primitive = |chunk: &[u8]| [&[0x04, 0x10][..], chunk].concat();

    // [0] { OCTET STRING(indef){ c0 c1 } OCTET STRING(def){ OCTET STRING(indef){ c2 } } c3.. }
    let mut nested = head.clone();
    nested.extend([0xa0, 0x80, 0x24, 0x80]);
    nested.extend(primitive(&chunks[0]));
    nested.extend(primitive(&chunks[1]));
    nested.extend([0x00, 0x00, 0x24, 22, 0x24, 0x80]);
    nested.extend(primitive(&chunks[2]));
    nested.extend([0x00, 0x00]);
    for chunk in &chunks[3..] {
        nested.extend(primitive(chunk));
    }
    nested.extend([0u8; 10]);
    assert!(decrypt_with_ks(&nested[..]).unwrap() == plaintext);

    // A primitive [0] inside the indefinite EncryptedContentInfo.
    let mut flat = head;
    flat.extend([0x80, 112]);
    flat.extend(chunks.concat());
    flat.extend([0u8; 8]);
    assert!(decrypt_with_ks(&flat[..]).unwrap() == plaintext);
}
