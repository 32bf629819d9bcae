//! The streaming EnvelopedData writer: [`encrypt`].
//!
//! Two layouts, both to one recipient identified by issuer and serial number:
//! - DER: the plaintext length is known, so every length is computed before the first
//!   byte is written (ciphertext = (n / 16 + 1) * 16) and the content is one primitive
//!   `[0]`.
//! - BER indefinite, as KS's BouncyCastle code writes it: every constructed layer opens
//!   with 0x80, the content is a constructed `[0]` of primitive OCTET STRING chunks.

use std::io::{BufWriter, ErrorKind, Read, Write};

use cms::content_info::CmsVersion;
use cms::enveloped_data::{
    KeyTransRecipientInfo, RecipientIdentifier, RecipientInfo, RecipientInfos,
};
use der::Encode;
use der::asn1::{OctetString, SetOfVec};
use der::oid::ObjectIdentifier;

use super::algorithms::{content_algorithm, key_transport_algorithm, wrap_content_key};
use super::content::{BLOCK, CbcEncryptStream};
use super::error::CmsError;
use super::keys::RecipientCert;
use super::{Encoding, EncryptOptions, oids};

/// Largest chunk size accepted for [`Encoding::BerIndefinite`] (the chunk is buffered).
pub const MAX_CHUNK_SIZE: usize = 16 * 1024 * 1024;

const READ_BUFFER: usize = 32 * 1024;
const END_OF_CONTENTS: [u8; 2] = [0, 0];

/// Encrypts `input` to `recipient` as CMS EnvelopedData, streaming. Returns the number
/// of bytes written. `plaintext_len` is required for [`Encoding::Der`]; when given, the
/// input must have exactly that many bytes.
pub fn encrypt<R: Read, W: Write>(
    mut input: R,
    plaintext_len: Option<u64>,
    output: W,
    recipient: &RecipientCert,
    options: &EncryptOptions,
) -> Result<u64, CmsError> {
    if let Encoding::BerIndefinite { chunk_size } = options.encoding
        && !(1..=MAX_CHUNK_SIZE).contains(&chunk_size)
    {
        return Err(CmsError::InvalidOption(format!(
            "chunk size {chunk_size} (must be 1 to {MAX_CHUNK_SIZE})"
        )));
    }
    if options.encoding == Encoding::Der && plaintext_len.is_none() {
        return Err(CmsError::PlaintextLengthRequired);
    }

    let cipher = options.content;
    let mut content_key = vec![0u8; cipher.key_len()];
    let mut iv = [0u8; BLOCK];
    getrandom::fill(&mut content_key)
        .and_then(|()| getrandom::fill(&mut iv))
        .map_err(|err| CmsError::Random(err.to_string()))?;

    let encrypted_key =
        wrap_content_key(recipient.public_key(), options.key_transport, &content_key)?;
    let recipient_info = RecipientInfo::Ktri(KeyTransRecipientInfo {
        version: CmsVersion::V0,
        rid: RecipientIdentifier::IssuerAndSerialNumber(recipient.issuer_and_serial()),
        key_enc_alg: key_transport_algorithm(options.key_transport)?,
        enc_key: OctetString::new(encrypted_key).map_err(encoding_error)?,
    });
    let recipient_infos = SetOfVec::try_from(vec![recipient_info])
        .map(RecipientInfos)
        .and_then(|set| set.to_der())
        .map_err(encoding_error)?;
    let algorithm = content_algorithm(cipher, &iv)?
        .to_der()
        .map_err(encoding_error)?;
    let mut encryptor = CbcEncryptStream::new(cipher, &content_key, &iv)?;

    let enveloped_oid = oid_tlv(&oids::ID_ENVELOPED_DATA);
    let data_oid = oid_tlv(&oids::ID_DATA);
    // EnvelopedData version 0: one KeyTransRecipientInfo v0, no originator, no attributes.
    let version = [0x02, 0x01, 0x00];

    let mut out = CountingWriter::new(output);
    let chunk_size = match options.encoding {
        Encoding::Der => {
            let declared = plaintext_len.ok_or(CmsError::PlaintextLengthRequired)?;
            let ciphertext_len = CbcEncryptStream::ciphertext_len(declared)
                .ok_or_else(|| CmsError::InvalidOption("plaintext length too large".into()))?;
            let content = tlv_len(ciphertext_len)?;
            let encrypted_content_info =
                sum(&[data_oid.len() as u64, algorithm.len() as u64, content])?;
            let enveloped_data = sum(&[
                version.len() as u64,
                recipient_infos.len() as u64,
                tlv_len(encrypted_content_info)?,
            ])?;
            let explicit = tlv_len(enveloped_data)?;
            let content_info = sum(&[enveloped_oid.len() as u64, tlv_len(explicit)?])?;
            out.put(&der_header(0x30, content_info))?;
            out.put(&enveloped_oid)?;
            out.put(&der_header(0xa0, explicit))?;
            out.put(&der_header(0x30, enveloped_data))?;
            out.put(&version)?;
            out.put(&recipient_infos)?;
            out.put(&der_header(0x30, encrypted_content_info))?;
            out.put(&data_oid)?;
            out.put(&algorithm)?;
            out.put(&der_header(0x80, ciphertext_len))?;
            None
        }
        Encoding::BerIndefinite { chunk_size } => {
            out.put(&[0x30, 0x80])?;
            out.put(&enveloped_oid)?;
            out.put(&[0xa0, 0x80, 0x30, 0x80])?;
            out.put(&version)?;
            out.put(&recipient_infos)?;
            out.put(&[0x30, 0x80])?;
            out.put(&data_oid)?;
            out.put(&algorithm)?;
            out.put(&[0xa0, 0x80])?;
            Some(chunk_size)
        }
    };

    let mut content = ContentWriter {
        out: &mut out,
        chunk: chunk_size.map(Vec::with_capacity),
        chunk_size: chunk_size.unwrap_or(0),
    };
    let mut sink = |ciphertext: &[u8]| content.write(ciphertext);
    let mut buffer = vec![0u8; READ_BUFFER];
    loop {
        let read = match input.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(err) => return Err(CmsError::ReadInput(err)),
        };
        let plain = buffer.get(..read).unwrap_or(&[]);
        if let Some(declared) = plaintext_len {
            let so_far = encryptor.plaintext_len() + read as u64;
            if so_far > declared {
                return Err(CmsError::PlaintextLengthMismatch {
                    declared,
                    actual: so_far,
                });
            }
        }
        encryptor.update(plain, &mut sink)?;
    }
    let actual = encryptor.finish(&mut sink)?;
    content.finish()?;
    if let Some(declared) = plaintext_len
        && declared != actual
    {
        return Err(CmsError::PlaintextLengthMismatch { declared, actual });
    }
    if chunk_size.is_some() {
        // [0] content, EncryptedContentInfo, EnvelopedData, [0] explicit, ContentInfo.
        for _ in 0..5 {
            out.put(&END_OF_CONTENTS)?;
        }
    }
    out.finish()
}

fn encoding_error(err: der::Error) -> CmsError {
    CmsError::KeyWrap(format!("encoding the RecipientInfo: {err}"))
}

fn oid_tlv(oid: &ObjectIdentifier) -> Vec<u8> {
    let body = oid.as_bytes();
    let mut tlv = der_header(0x06, body.len() as u64);
    tlv.extend_from_slice(body);
    tlv
}

/// A DER tag and definite length.
fn der_header(tag: u8, len: u64) -> Vec<u8> {
    let mut header = vec![tag];
    match u8::try_from(len) {
        Ok(short) if short < 0x80 => header.push(short),
        _ => {
            let bytes = len.to_be_bytes();
            let significant: Vec<u8> = bytes.iter().copied().skip_while(|&b| b == 0).collect();
            // At most 8 significant bytes.
            header.push(0x80 | u8::try_from(significant.len()).unwrap_or(8));
            header.extend_from_slice(&significant);
        }
    }
    header
}

fn header_len(content_len: u64) -> u64 {
    der_header(0, content_len).len() as u64
}

/// Length of a whole TLV holding `content_len` bytes.
fn tlv_len(content_len: u64) -> Result<u64, CmsError> {
    sum(&[header_len(content_len), content_len])
}

fn sum(parts: &[u64]) -> Result<u64, CmsError> {
    parts
        .iter()
        .try_fold(0u64, |acc, &part| acc.checked_add(part))
        .ok_or_else(|| CmsError::InvalidOption("plaintext length too large".into()))
}

/// Counts what it writes; buffers so the many small BER headers are not one syscall each.
struct CountingWriter<W: Write> {
    inner: BufWriter<W>,
    written: u64,
}

impl<W: Write> CountingWriter<W> {
    fn new(inner: W) -> Self {
        CountingWriter {
            inner: BufWriter::with_capacity(64 * 1024, inner),
            written: 0,
        }
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), CmsError> {
        self.inner.write_all(bytes).map_err(CmsError::WriteOutput)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn finish(mut self) -> Result<u64, CmsError> {
        self.inner.flush().map_err(CmsError::WriteOutput)?;
        Ok(self.written)
    }
}

/// Where ciphertext goes: straight out (DER) or cut into OCTET STRING chunks (BER).
struct ContentWriter<'a, W: Write> {
    out: &'a mut CountingWriter<W>,
    chunk: Option<Vec<u8>>,
    chunk_size: usize,
}

impl<W: Write> ContentWriter<'_, W> {
    fn write(&mut self, mut ciphertext: &[u8]) -> Result<(), CmsError> {
        let Some(chunk) = self.chunk.as_mut() else {
            return self.out.put(ciphertext);
        };
        while !ciphertext.is_empty() {
            let room = self.chunk_size - chunk.len();
            let (now, later) = ciphertext.split_at(room.min(ciphertext.len()));
            chunk.extend_from_slice(now);
            ciphertext = later;
            if chunk.len() == self.chunk_size {
                self.out.put(&der_header(0x04, chunk.len() as u64))?;
                self.out.put(chunk)?;
                chunk.clear();
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<(), CmsError> {
        if let Some(chunk) = self.chunk.filter(|chunk| !chunk.is_empty()) {
            self.out.put(&der_header(0x04, chunk.len() as u64))?;
            self.out.put(&chunk)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_headers_are_minimal() {
        assert_eq!(der_header(0x30, 0), [0x30, 0x00]);
        assert_eq!(der_header(0x30, 127), [0x30, 0x7f]);
        assert_eq!(der_header(0x30, 128), [0x30, 0x81, 0x80]);
        assert_eq!(der_header(0x04, 1000), [0x04, 0x82, 0x03, 0xe8]);
        assert_eq!(der_header(0x80, 1 << 32), [0x80, 0x85, 1, 0, 0, 0, 0]);
        assert_eq!(tlv_len(1000).unwrap(), 1004);
    }
}
