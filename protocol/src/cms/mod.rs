//! Streaming CMS EnvelopedData (RFC 5652): reader and writer over std `Read`/`Write`.
//!
//! SvarInn files are BER with indefinite lengths and 1000-byte content chunks that do not
//! line up with AES blocks; no crate decrypts that in bounded memory, so the outer layers
//! are walked here by hand and only the small parts (RecipientInfos, AlgorithmIdentifiers)
//! are decoded with the RustCrypto `cms`/`der` types.
//!
//! Module map:
//! - `ber`: a streaming BER/DER tag-length reader with byte offsets, bounded depth and
//!   bounded captures; never holds the content.
//! - `oids`: the object identifiers we speak, with readable names for errors.
//! - `algorithms`: key transport (RSAES-OAEP, PKCS#1 v1.5) and content cipher
//!   (AES-CBC) identifiers, parsed and encoded, and the RSA unwrap/wrap itself.
//! - `content`: streaming AES-CBC with PKCS#7 padding in both directions; the decryptor
//!   holds back the last block until the end of the content.
//! - `keys`: [`RecipientKey`] (private key plus optional certificate) and [`RecipientCert`],
//!   PEM/DER loading, and recipient-identifier matching.
//! - `reader`: [`decrypt`].
//! - `writer`: [`encrypt`], DER with every length up front or BER indefinite with chunks.
//! - `error`: [`CmsError`] and [`KeyError`].

mod algorithms;
mod ber;
mod content;
mod error;
mod keys;
mod oids;
mod reader;
mod writer;

pub use error::{CmsError, KeyError};
pub use keys::{RecipientCert, RecipientKey};
pub use reader::decrypt;
pub use writer::encrypt;

/// A hash used by RSAES-OAEP, for the label hash or for MGF1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OaepHash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl std::fmt::Display for OaepHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OaepHash::Sha1 => "SHA-1",
            OaepHash::Sha256 => "SHA-256",
            OaepHash::Sha384 => "SHA-384",
            OaepHash::Sha512 => "SHA-512",
        })
    }
}

/// How the content-encryption key is wrapped for the recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KeyTransport {
    /// RSAES-OAEP with SHA-256 and MGF1-SHA-256: what KS writes.
    #[default]
    RsaOaepSha256,
    /// RSAES-OAEP with SHA-1 and MGF1-SHA-1 (the defaults; what `openssl cms` writes
    /// with `rsa_padding_mode:oaep`).
    RsaOaepSha1,
    /// RSAES-OAEP with any other pair (for example SHA-256 with MGF1-SHA-1, as Java's
    /// SunJCE writes it).
    RsaOaep { hash: OaepHash, mgf1_hash: OaepHash },
    /// RSAES-PKCS1-v1_5 (`rsaEncryption`).
    RsaPkcs1v15,
}

impl KeyTransport {
    /// The OAEP hash pair, or `None` for PKCS#1 v1.5.
    pub fn oaep_hashes(self) -> Option<(OaepHash, OaepHash)> {
        match self {
            KeyTransport::RsaOaepSha256 => Some((OaepHash::Sha256, OaepHash::Sha256)),
            KeyTransport::RsaOaepSha1 => Some((OaepHash::Sha1, OaepHash::Sha1)),
            KeyTransport::RsaOaep { hash, mgf1_hash } => Some((hash, mgf1_hash)),
            KeyTransport::RsaPkcs1v15 => None,
        }
    }

    /// The canonical variant for an OAEP hash pair.
    pub fn oaep(hash: OaepHash, mgf1_hash: OaepHash) -> Self {
        match (hash, mgf1_hash) {
            (OaepHash::Sha256, OaepHash::Sha256) => KeyTransport::RsaOaepSha256,
            (OaepHash::Sha1, OaepHash::Sha1) => KeyTransport::RsaOaepSha1,
            (hash, mgf1_hash) => KeyTransport::RsaOaep { hash, mgf1_hash },
        }
    }
}

impl std::fmt::Display for KeyTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.oaep_hashes() {
            Some((hash, mgf1_hash)) => write!(f, "RSAES-OAEP ({hash}, MGF1-{mgf1_hash})"),
            None => f.write_str("RSAES-PKCS1-v1_5"),
        }
    }
}

/// The content-encryption algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ContentCipher {
    Aes128Cbc,
    Aes192Cbc,
    /// What KS writes.
    #[default]
    Aes256Cbc,
}

impl ContentCipher {
    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            ContentCipher::Aes128Cbc => 16,
            ContentCipher::Aes192Cbc => 24,
            ContentCipher::Aes256Cbc => 32,
        }
    }
}

impl std::fmt::Display for ContentCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ContentCipher::Aes128Cbc => "AES-128-CBC",
            ContentCipher::Aes192Cbc => "AES-192-CBC",
            ContentCipher::Aes256Cbc => "AES-256-CBC",
        })
    }
}

/// How [`encrypt`] lays out its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// DER: every length is definite and computed up front, so the plaintext length
    /// must be known. The content is one primitive `[0]`.
    Der,
    /// BER with indefinite lengths and the content as a constructed `[0]` of primitive
    /// OCTET STRING chunks, as KS's BouncyCastle code writes it (1000-byte chunks).
    BerIndefinite { chunk_size: usize },
}

impl Default for Encoding {
    fn default() -> Self {
        Encoding::BerIndefinite {
            chunk_size: DEFAULT_CHUNK_SIZE,
        }
    }
}

/// The chunk size BouncyCastle's `CMSEnvelopedDataStreamGenerator` uses.
pub const DEFAULT_CHUNK_SIZE: usize = 1000;

/// Options for [`encrypt`]. The default is what KS writes: RSAES-OAEP SHA-256,
/// AES-256-CBC, BER indefinite with 1000-byte chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EncryptOptions {
    pub key_transport: KeyTransport,
    pub content: ContentCipher,
    pub encoding: Encoding,
}

/// What [`decrypt`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecryptOutcome {
    /// Plaintext bytes written to the output.
    pub plaintext_len: u64,
    /// Index into the `keys` slice of the key that unwrapped the content key.
    pub key_index: usize,
    pub content_algorithm: ContentCipher,
    pub key_transport: KeyTransport,
}
