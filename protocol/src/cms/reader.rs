//! The streaming EnvelopedData reader: [`decrypt`].
//!
//! ```text
//! ContentInfo ::= SEQUENCE { contentType (envelopedData), content [0] EXPLICIT
//!   EnvelopedData ::= SEQUENCE {
//!     version, originatorInfo [0] OPTIONAL (skipped),
//!     recipientInfos SET           -- captured (≤ 64 KiB), decoded with `cms` types
//!     EncryptedContentInfo ::= SEQUENCE {
//!       contentType, contentEncryptionAlgorithm (captured, ≤ 4 KiB),
//!       encryptedContent [0] IMPLICIT OCTET STRING   -- streamed, primitive or chunked
//!     }
//!     unprotectedAttrs [1] OPTIONAL (skipped) } }
//! ```
//! The last plaintext block is written only after the whole structure has been read to
//! its end, so a truncated file never produces the complete plaintext.

use std::io::{Read, Write};

use cms::enveloped_data::KeyTransRecipientInfo;
use der::Decode;
use der::oid::ObjectIdentifier;
use spki::AlgorithmIdentifierOwned;

use super::algorithms::{parse_content_cipher, parse_key_transport, unwrap_content_key};
use super::ber::{self, BerReader, Frame, Header, Tag};
use super::content::CbcDecryptStream;
use super::error::CmsError;
use super::keys::{RecipientKey, describe_certificate, describe_recipient};
use super::{ContentCipher, DecryptOutcome, KeyTransport, oids};

/// Largest RecipientInfos SET held in memory (one RSA-4096 recipient is about 600 bytes).
const MAX_RECIPIENT_INFOS: usize = 64 * 1024;
/// Largest contentEncryptionAlgorithm held in memory.
const MAX_ALGORITHM_IDENTIFIER: usize = 4 * 1024;
/// Largest OBJECT IDENTIFIER or INTEGER value read.
const MAX_SMALL_VALUE: usize = 64;
/// Deepest nesting of constructed OCTET STRINGs inside the encrypted content.
const MAX_CHUNK_DEPTH: usize = 8;

/// Decrypts a CMS EnvelopedData from `input` into `output`, in bounded memory.
///
/// The RecipientInfo is matched against `keys`: keys with a certificate by issuer and
/// serial number or subjectKeyIdentifier, keys without one are tried in turn. On error
/// the output may hold a prefix of the plaintext; write to a temporary file and
/// publish it only on `Ok`.
pub fn decrypt<R: Read, W: Write>(
    input: R,
    mut output: W,
    keys: &[RecipientKey],
) -> Result<DecryptOutcome, CmsError> {
    let mut ber = BerReader::new(input);

    let content_info = open_content_info(&mut ber)?;

    let explicit = ber.expect_child(&content_info, "ContentInfo content [0]")?;
    expect_tag(&explicit, Tag::context(0, true), "ContentInfo content [0]")?;
    let explicit = ber.enter(&explicit, "ContentInfo content [0]")?;

    let enveloped = ber.expect_child(&explicit, "EnvelopedData")?;
    expect_tag(&enveloped, ber::SEQUENCE, "EnvelopedData")?;
    let enveloped = ber.enter(&enveloped, "EnvelopedData")?;

    let version = ber.expect_child(&enveloped, "EnvelopedData version")?;
    expect_tag(&version, ber::INTEGER, "EnvelopedData version")?;
    ber.read_primitive(&version, MAX_SMALL_VALUE, "EnvelopedData version")?;

    if !ber.at_end(&enveloped)? && ber.peek_byte()? == Some(0xa0) {
        let originator = ber.expect_child(&enveloped, "originatorInfo")?;
        ber.skip_value(&originator, 0, "originatorInfo")?;
    }

    let recipients_offset = ber.offset();
    let (set, recipient_infos) =
        ber.capture_element(&enveloped, MAX_RECIPIENT_INFOS, "RecipientInfos")?;
    expect_tag(&set, ber::SET, "RecipientInfos")?;
    let recipients = parse_recipient_infos(&recipient_infos, recipients_offset)?;

    let encrypted_content_info = ber.expect_child(&enveloped, "EncryptedContentInfo")?;
    expect_tag(
        &encrypted_content_info,
        ber::SEQUENCE,
        "EncryptedContentInfo",
    )?;
    let encrypted_content_info = ber.enter(&encrypted_content_info, "EncryptedContentInfo")?;

    let content_type =
        ber.expect_child(&encrypted_content_info, "EncryptedContentInfo contentType")?;
    expect_tag(
        &content_type,
        ber::OBJECT_IDENTIFIER,
        "EncryptedContentInfo contentType",
    )?;
    ber.read_primitive(
        &content_type,
        MAX_SMALL_VALUE,
        "EncryptedContentInfo contentType",
    )?;

    let algorithm_offset = ber.offset();
    let (_, algorithm) = ber.capture_element(
        &encrypted_content_info,
        MAX_ALGORITHM_IDENTIFIER,
        "contentEncryptionAlgorithm",
    )?;
    let algorithm =
        AlgorithmIdentifierOwned::from_ber(&algorithm).map_err(|err| CmsError::Malformed {
            offset: algorithm_offset,
            structure: "contentEncryptionAlgorithm",
            reason: err.to_string(),
        })?;
    let (content_cipher, iv) = parse_content_cipher(&algorithm)?;

    if ber.at_end(&encrypted_content_info)? {
        return Err(CmsError::Unsupported(
            "detached content: the EncryptedContentInfo has no encryptedContent".into(),
        ));
    }
    let encrypted_content = ber.expect_child(&encrypted_content_info, "encryptedContent")?;
    if !encrypted_content.tag.same_type(&Tag::context(0, false)) {
        return Err(unexpected_tag(&encrypted_content, "encryptedContent [0]"));
    }

    let unwrapped = unwrap_key(&recipients, keys, content_cipher)?;
    let mut decryptor = CbcDecryptStream::new(content_cipher, &unwrapped.content_key, &iv)?;

    match encrypted_content.length {
        Some(length) if !encrypted_content.tag.constructed => {
            ber.stream(length, "encrypted content", |chunk| {
                decryptor.update(chunk, &mut output)
            })?;
        }
        _ => stream_chunks(&mut ber, &encrypted_content, 0, &mut decryptor, &mut output)?,
    }
    let (last_plaintext, plaintext_len) = decryptor.finish(&mut output, ber.offset())?;

    ber.finish(&encrypted_content_info)?;
    if !ber.at_end(&enveloped)? {
        let attributes = ber.expect_child(&enveloped, "unprotectedAttrs")?;
        expect_tag(&attributes, Tag::context(1, true), "unprotectedAttrs")?;
        ber.skip_value(&attributes, 0, "unprotectedAttrs")?;
    }
    ber.finish(&enveloped)?;
    ber.finish(&explicit)?;
    ber.finish(&content_info)?;

    output
        .write_all(last_plaintext.as_slice())
        .and_then(|()| output.flush())
        .map_err(CmsError::WriteOutput)?;

    Ok(DecryptOutcome {
        plaintext_len,
        key_index: unwrapped.key_index,
        content_algorithm: content_cipher,
        key_transport: unwrapped.key_transport,
    })
}

/// Reads the ContentInfo header and its content type; anything but EnvelopedData is
/// reported as such, with a hint when the input is obviously something else.
fn open_content_info<R: Read>(ber: &mut BerReader<R>) -> Result<Frame, CmsError> {
    const STRUCTURE: &str = "ContentInfo";
    if let Some(first) = ber.peek_byte()?
        && first != 0x30
    {
        return Err(CmsError::NotEnvelopedData {
            found: describe_foreign_start(ber, first)?,
        });
    }
    let header = ber.expect_child(&Frame::input(), STRUCTURE)?;
    let content_info = ber.enter(&header, STRUCTURE)?;
    let content_type = ber.expect_child(&content_info, "ContentInfo contentType")?;
    if content_type.tag != ber::OBJECT_IDENTIFIER {
        return Err(CmsError::NotEnvelopedData {
            found: format!(
                "the outer SEQUENCE starts with {} where a ContentInfo has its content type OID",
                content_type.tag
            ),
        });
    }
    let oid_offset = ber.offset();
    let oid = ber.read_primitive(&content_type, MAX_SMALL_VALUE, "ContentInfo contentType")?;
    let oid = ObjectIdentifier::from_bytes(&oid).map_err(|err| CmsError::Malformed {
        offset: oid_offset,
        structure: "ContentInfo contentType",
        reason: err.to_string(),
    })?;
    if oid != oids::ID_ENVELOPED_DATA {
        return Err(CmsError::NotEnvelopedData {
            found: format!("its content type is {oid} ({})", oids::name(&oid)),
        });
    }
    Ok(content_info)
}

fn describe_foreign_start<R: Read>(ber: &mut BerReader<R>, first: u8) -> Result<String, CmsError> {
    let mut start = Vec::new();
    for _ in 0..10 {
        match ber.read_byte("the first bytes") {
            Ok(byte) => start.push(byte),
            Err(CmsError::Truncated { .. }) => break,
            Err(err) => return Err(err),
        }
    }
    let hint = if start.starts_with(b"%PDF") {
        " (a plain PDF: it is not encrypted)"
    } else if start.starts_with(b"PK\x03\x04") {
        " (a plain zip: it is not encrypted)"
    } else if start.starts_with(b"-----BEGIN") {
        " (PEM text: convert it to DER first, e.g. `openssl cms -cmsout -inform PEM -outform DER`)"
    } else {
        ""
    };
    Ok(format!(
        "it starts with byte 0x{first:02X} where a DER/BER ContentInfo starts with 0x30 (SEQUENCE){hint}"
    ))
}

fn expect_tag(header: &Header, wanted: Tag, structure: &'static str) -> Result<(), CmsError> {
    if header.tag == wanted {
        Ok(())
    } else {
        Err(unexpected_tag(header, structure))
    }
}

fn unexpected_tag(header: &Header, structure: &'static str) -> CmsError {
    CmsError::Malformed {
        offset: header.offset,
        structure,
        reason: format!("expected {structure}, found {}", header.tag),
    }
}

/// Streams a constructed `[0]` (or nested constructed OCTET STRING) chunk by chunk.
fn stream_chunks<R: Read, W: Write>(
    ber: &mut BerReader<R>,
    header: &Header,
    depth: usize,
    decryptor: &mut CbcDecryptStream,
    output: &mut W,
) -> Result<(), CmsError> {
    const STRUCTURE: &str = "encrypted content";
    if depth > MAX_CHUNK_DEPTH {
        return Err(ber.malformed(
            STRUCTURE,
            format!("constructed OCTET STRINGs nested deeper than {MAX_CHUNK_DEPTH}"),
        ));
    }
    let frame = ber.enter(header, STRUCTURE)?;
    while !ber.at_end(&frame)? {
        let chunk = ber.expect_child(&frame, "encrypted content chunk")?;
        if !chunk.tag.same_type(&ber::OCTET_STRING) {
            return Err(unexpected_tag(&chunk, "OCTET STRING chunk"));
        }
        match chunk.length {
            Some(length) if !chunk.tag.constructed => {
                ber.stream(length, "encrypted content chunk", |bytes| {
                    decryptor.update(bytes, output)
                })?;
            }
            _ => stream_chunks(ber, &chunk, depth + 1, decryptor, output)?,
        }
    }
    ber.finish(&frame)
}

/// One RecipientInfo as far as we understand it.
enum Recipient {
    KeyTrans(KeyTransRecipientInfo),
    /// kari, kekri, pwri, ori: named, not used.
    Other(&'static str),
}

fn parse_recipient_infos(set: &[u8], set_offset: u64) -> Result<Vec<Recipient>, CmsError> {
    let malformed = |reason: String| CmsError::Malformed {
        offset: set_offset,
        structure: "RecipientInfos",
        reason,
    };
    let children = ber::children(set, "RecipientInfos").map_err(|err| match err {
        // Offsets inside the captured SET are relative to it.
        CmsError::Malformed { reason, .. } => malformed(reason),
        other => other,
    })?;
    if children.is_empty() {
        return Err(malformed("no RecipientInfo".into()));
    }
    children
        .into_iter()
        .map(|child| match child.first() {
            Some(0x30) => KeyTransRecipientInfo::from_ber(child)
                .map(Recipient::KeyTrans)
                .map_err(|err| malformed(format!("KeyTransRecipientInfo: {err}"))),
            Some(0xa1) => Ok(Recipient::Other("a KeyAgreeRecipientInfo (not supported)")),
            Some(0xa2) => Ok(Recipient::Other("a KEKRecipientInfo (not supported)")),
            Some(0xa3) => Ok(Recipient::Other("a PasswordRecipientInfo (not supported)")),
            Some(0xa4) => Ok(Recipient::Other("an OtherRecipientInfo (not supported)")),
            Some(tag) => Err(malformed(format!("unknown RecipientInfo tag 0x{tag:02X}"))),
            None => Err(malformed("empty RecipientInfo".into())),
        })
        .collect()
}

struct UnwrappedKey {
    content_key: Vec<u8>,
    key_index: usize,
    key_transport: KeyTransport,
}

/// Finds the key that unwraps the content-encryption key: first keys whose certificate
/// the file names, then keys without a certificate on every recipient in turn (like
/// KS's .NET DecryptionService).
fn unwrap_key(
    recipients: &[Recipient],
    keys: &[RecipientKey],
    content_cipher: ContentCipher,
) -> Result<UnwrappedKey, CmsError> {
    let key_trans: Vec<&KeyTransRecipientInfo> = recipients
        .iter()
        .filter_map(|r| match r {
            Recipient::KeyTrans(ktri) => Some(ktri),
            Recipient::Other(_) => None,
        })
        .collect();
    let mut notes = Vec::new();
    let mut unsupported = None;

    let mut attempt = |key_index: usize,
                       key: &RecipientKey,
                       ktri: &KeyTransRecipientInfo,
                       notes: &mut Vec<String>|
     -> Option<UnwrappedKey> {
        let params = match parse_key_transport(&ktri.key_enc_alg) {
            Ok(params) => params,
            Err(err) => {
                unsupported.get_or_insert(err);
                return None;
            }
        };
        let who = describe_recipient(&ktri.rid);
        match unwrap_content_key(key, &params, ktri.enc_key.as_bytes()) {
            Ok(content_key) if content_key.len() == content_cipher.key_len() => {
                Some(UnwrappedKey {
                    content_key,
                    key_index,
                    key_transport: params.transport,
                })
            }
            Ok(content_key) => {
                notes.push(format!(
                    "key {key_index} unwraps a {}-byte content key for {who} where \
                     {content_cipher} needs {} (wrong key)",
                    content_key.len(),
                    content_cipher.key_len()
                ));
                None
            }
            Err(_) => {
                notes.push(format!(
                    "key {key_index} does not decrypt the content key for {who} \
                     ({}: wrong key{})",
                    params.transport,
                    if key.certificate().is_some() {
                        ", or the key does not belong to its certificate"
                    } else {
                        ""
                    }
                ));
                None
            }
        }
    };

    for (key_index, key) in keys.iter().enumerate() {
        let Some(cert) = key.certificate() else {
            continue;
        };
        let mut named = false;
        for ktri in key_trans
            .iter()
            .filter(|ktri| key.matches(&ktri.rid) == Some(true))
        {
            named = true;
            if let Some(found) = attempt(key_index, key, ktri, &mut notes) {
                return Ok(found);
            }
        }
        if !named {
            notes.push(format!(
                "key {key_index}'s certificate ({}) is not a recipient",
                describe_certificate(cert)
            ));
        }
    }
    for (key_index, key) in keys.iter().enumerate() {
        if key.certificate().is_some() {
            continue;
        }
        for ktri in &key_trans {
            if let Some(found) = attempt(key_index, key, ktri, &mut notes) {
                return Ok(found);
            }
        }
    }

    if let Some(err) = unsupported {
        return Err(err);
    }
    let recipients = recipients
        .iter()
        .map(|r| match r {
            Recipient::KeyTrans(ktri) => describe_recipient(&ktri.rid),
            Recipient::Other(kind) => (*kind).to_string(),
        })
        .collect();
    let detail = if keys.is_empty() {
        "no keys are configured".to_string()
    } else {
        format!("{} key(s) tried: {}", keys.len(), notes.join("; "))
    };
    Err(CmsError::NoMatchingKey { recipients, detail })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_plain_files() {
        let err = decrypt(&b"%PDF-1.4 hello"[..], Vec::new(), &[]).unwrap_err();
        assert!(matches!(err, CmsError::NotEnvelopedData { .. }));
        assert!(err.to_string().contains("plain PDF"), "{err}");
    }

    #[test]
    fn empty_input_is_truncated() {
        assert!(matches!(
            decrypt(&b""[..], Vec::new(), &[]),
            Err(CmsError::Truncated { offset: 0, .. })
        ));
    }

    #[test]
    fn signed_data_is_named() {
        // SEQUENCE { OID signedData, [0] {} }
        let bytes = hex::decode("300f06092a864886f70d010702a0023000").unwrap();
        let err = decrypt(&bytes[..], Vec::new(), &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "not a CMS EnvelopedData file: its content type is 1.2.840.113549.1.7.2 (id-signedData)"
        );
    }
}
