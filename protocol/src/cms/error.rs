//! Errors of the CMS reader and writer, and of key loading. Each names the problem in
//! words an operator can act on.

/// Why [`decrypt`](super::decrypt) or [`encrypt`](super::encrypt) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CmsError {
    /// The input is not a CMS ContentInfo holding EnvelopedData.
    #[error("not a CMS EnvelopedData file: {found}")]
    NotEnvelopedData { found: String },

    /// None of the configured keys unwraps the content-encryption key.
    #[error(
        "no configured key matches this file: it is encrypted to {}; {detail}",
        .recipients.join(" or ")
    )]
    NoMatchingKey {
        /// The recipients named in the file (issuer DN and serial, or SKI in hex).
        recipients: Vec<String>,
        /// What was tried, key by key.
        detail: String,
    },

    /// An algorithm we do not implement.
    #[error("unsupported {what}: {oid} ({name})")]
    UnsupportedAlgorithm {
        what: &'static str,
        oid: String,
        name: &'static str,
    },

    /// A parameter we do not implement (for example an OAEP label source other than
    /// pSpecified, or detached content).
    #[error("unsupported {0}")]
    Unsupported(String),

    /// PKCS#7 padding of the last block is wrong.
    #[error(
        "bad padding at the end of the encrypted content: wrong key or corrupt data \
         (the content key was unwrapped, but the last block does not decrypt to valid padding)"
    )]
    BadPadding,

    /// The input ended inside a structure.
    #[error("truncated input: it ends at byte {offset}, inside {structure}")]
    Truncated {
        offset: u64,
        structure: &'static str,
    },

    /// The bytes are not valid BER for the structure expected there.
    #[error("malformed CMS at byte {offset} ({structure}): {reason}")]
    Malformed {
        offset: u64,
        structure: &'static str,
        reason: String,
    },

    /// Reading the input failed.
    #[error("reading the encrypted input failed")]
    ReadInput(#[source] std::io::Error),

    /// Writing the output failed.
    #[error("writing the output failed")]
    WriteOutput(#[source] std::io::Error),

    /// [`Encoding::Der`](super::Encoding::Der) needs the plaintext length up front.
    #[error("DER encoding needs the plaintext length up front; none was given")]
    PlaintextLengthRequired,

    /// The input's length differs from the length promised for DER.
    #[error("the plaintext is {actual} bytes but {declared} were declared for the DER lengths")]
    PlaintextLengthMismatch { declared: u64, actual: u64 },

    /// An option out of range (for example a chunk size of 0).
    #[error("invalid option: {0}")]
    InvalidOption(String),

    /// RSA encryption of the content key failed (for example a key too small for OAEP).
    #[error("wrapping the content key for the recipient failed: {0}")]
    KeyWrap(String),

    /// The operating system's random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Random(String),
}

/// Why a key or certificate could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("no PEM block labelled {wanted} found")]
    NoPemBlock { wanted: &'static str },

    #[error("bad PEM: {0}")]
    Pem(String),

    #[error(
        "the private key is encrypted (ENCRYPTED PRIVATE KEY / Proc-Type: ENCRYPTED); \
         decrypt it first, e.g. `openssl pkey -in key.pem -out plain.pem`"
    )]
    EncryptedPrivateKey,

    #[error("not an RSA key: algorithm {0}")]
    NotRsa(String),

    #[error("invalid RSA private key: {0}")]
    InvalidPrivateKey(String),

    #[error("invalid certificate: {0}")]
    InvalidCertificate(String),

    #[error("invalid public key in the certificate: {0}")]
    InvalidPublicKey(String),
}
