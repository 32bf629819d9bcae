//! Interop with `openssl cms` (OpenSSL 3.0) in both directions.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cms_support;

use cms_support::{OpensslKey, sample_plaintext};
use mottak_protocol::cms::{
    ContentCipher, DecryptOutcome, Encoding, EncryptOptions, KeyTransport, OaepHash, decrypt,
    encrypt,
};

const OAEP_SHA1: &[&str] = &["-keyopt", "rsa_padding_mode:oaep"];
const OAEP_SHA256: &[&str] = &[
    "-keyopt",
    "rsa_padding_mode:oaep",
    "-keyopt",
    "rsa_oaep_md:sha256",
];

fn decrypt_with(key: &OpensslKey, encrypted: &[u8], with_cert: bool) -> (Vec<u8>, DecryptOutcome) {
    let mut out = Vec::new();
    let outcome = decrypt(encrypted, &mut out, &[key.recipient_key(with_cert)])
        .unwrap_or_else(|err| panic!("decrypt failed: {err}"));
    (out, outcome)
}

#[test]
fn we_decrypt_what_openssl_writes() {
    let key = OpensslKey::new("openssl interop");
    let transports: [(&[&str], KeyTransport); 3] = [
        (&[], KeyTransport::RsaPkcs1v15),
        (OAEP_SHA1, KeyTransport::RsaOaepSha1),
        (OAEP_SHA256, KeyTransport::RsaOaepSha256),
    ];
    let ciphers = [
        ("-aes128", ContentCipher::Aes128Cbc),
        ("-aes256", ContentCipher::Aes256Cbc),
    ];
    // openssl's streaming chunks are 4096 bytes; cover empty, sub-chunk and multi-chunk.
    let ski = key
        .recipient_cert()
        .certificate()
        .tbs_certificate()
        .get_extension::<x509_cert::ext::pkix::SubjectKeyIdentifier>()
        .unwrap()
        .unwrap()
        .1
        .0
        .as_bytes()
        .to_vec();
    for len in [0usize, 1000, 9000] {
        let plaintext = sample_plaintext(len);
        let plain_path = key.path("plain.bin");
        std::fs::write(&plain_path, &plaintext).unwrap();
        for layout in [&["-stream"][..], &["-indef"], &[]] {
            for (transport_args, transport) in transports {
                for (cipher_arg, cipher) in ciphers {
                    for by_key_id in [false, true] {
                        let mut args = vec![cipher_arg];
                        args.extend_from_slice(layout);
                        if by_key_id {
                            args.push("-keyid");
                        }
                        let encrypted = key.openssl_encrypt(&plain_path, &args, transport_args);
                        // The variants really differ: indefinite lengths, and SKI as the
                        // recipient identifier with -keyid.
                        assert_eq!(encrypted[1] == 0x80, !layout.is_empty(), "{args:?}");
                        let names_ski = encrypted.windows(ski.len()).any(|w| w == ski);
                        assert_eq!(names_ski, by_key_id, "{args:?}");
                        for with_cert in [true, false] {
                            let (out, outcome) = decrypt_with(&key, &encrypted, with_cert);
                            assert!(
                                out == plaintext,
                                "len {len} args {args:?} {transport_args:?}"
                            );
                            assert_eq!(outcome.plaintext_len, len as u64);
                            assert_eq!(outcome.key_transport, transport, "{transport_args:?}");
                            assert_eq!(outcome.content_algorithm, cipher, "{args:?}");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn openssl_decrypts_what_we_write() {
    let key = OpensslKey::new("our writer");
    let recipient = key.recipient_cert();
    let transports = [
        KeyTransport::RsaOaepSha256,
        KeyTransport::RsaOaepSha1,
        KeyTransport::RsaPkcs1v15,
        KeyTransport::RsaOaep {
            hash: OaepHash::Sha256,
            mgf1_hash: OaepHash::Sha1,
        },
    ];
    let ciphers = [
        ContentCipher::Aes128Cbc,
        ContentCipher::Aes192Cbc,
        ContentCipher::Aes256Cbc,
    ];
    let encodings = [
        Encoding::Der,
        Encoding::BerIndefinite { chunk_size: 1000 },
        Encoding::BerIndefinite { chunk_size: 7 },
    ];
    for len in [0usize, 17, 5000] {
        let plaintext = sample_plaintext(len);
        for key_transport in transports {
            for content in ciphers {
                for encoding in encodings {
                    let options = EncryptOptions {
                        key_transport,
                        content,
                        encoding,
                    };
                    let mut encrypted = Vec::new();
                    let written = encrypt(
                        &plaintext[..],
                        Some(len as u64),
                        &mut encrypted,
                        &recipient,
                        &options,
                    )
                    .unwrap();
                    assert_eq!(written, encrypted.len() as u64);
                    let path = key.path("ours.cms");
                    std::fs::write(&path, &encrypted).unwrap();
                    let decrypted = key.openssl_decrypt(&path);
                    assert!(decrypted == plaintext, "len {len} {options:?}");
                    // And our own reader agrees.
                    let (out, outcome) = decrypt_with(&key, &encrypted, true);
                    assert!(out == plaintext);
                    assert_eq!(outcome.key_transport, key_transport);
                    assert_eq!(outcome.content_algorithm, content);
                }
            }
        }
    }
}

#[test]
fn our_der_output_is_strict_der() {
    use der::Decode;
    let key = OpensslKey::new("strict der");
    let plaintext = sample_plaintext(3000);
    let mut encrypted = Vec::new();
    let options = EncryptOptions {
        encoding: Encoding::Der,
        ..EncryptOptions::default()
    };
    encrypt(
        &plaintext[..],
        Some(3000),
        &mut encrypted,
        &key.recipient_cert(),
        &options,
    )
    .unwrap();
    let parsed = cms::content_info::ContentInfo::from_der(&encrypted).unwrap();
    assert_eq!(parsed.content_type.to_string(), "1.2.840.113549.1.7.3");
    // openssl's own parser agrees on the structure.
    let path = key.path("der.cms");
    std::fs::write(&path, &encrypted).unwrap();
    let printed = cms_support::run(
        std::process::Command::new("openssl")
            .args(["cms", "-cmsout", "-print", "-inform", "DER", "-in"])
            .arg(&path),
    );
    let printed = String::from_utf8_lossy(&printed);
    assert!(printed.contains("rsaesOaep"), "{printed}");
    assert!(printed.contains("aes-256-cbc"), "{printed}");
}
