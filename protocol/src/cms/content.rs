//! Streaming AES-CBC with PKCS#7 padding.
//!
//! The content arrives in chunks of any size (KS uses 1000 bytes, which is not a multiple
//! of 16), so both directions buffer partial blocks. The decryptor also holds back the
//! last whole block until the end of the content: only then is it known to carry the
//! padding.

use aes::{Aes128, Aes192, Aes256};
use cbc::cipher::array::Array;
use cbc::cipher::consts::U16;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};

use super::ContentCipher;
use super::error::CmsError;

pub const BLOCK: usize = 16;

/// Bytes buffered before a batch of blocks is run through the cipher. Large enough for
/// the AES-NI pipeline, small enough that memory stays a few tens of KiB.
const WORK_SIZE: usize = 32 * 1024;

enum Decryptor {
    Aes128(cbc::Decryptor<Aes128>),
    Aes192(cbc::Decryptor<Aes192>),
    Aes256(cbc::Decryptor<Aes256>),
}

enum Encryptor {
    Aes128(cbc::Encryptor<Aes128>),
    Aes192(cbc::Encryptor<Aes192>),
    Aes256(cbc::Encryptor<Aes256>),
}

fn key_error(cipher: ContentCipher, key: &[u8], iv: &[u8]) -> CmsError {
    CmsError::Unsupported(format!(
        "{cipher} with a {}-byte key and a {}-byte IV (needs {} and {BLOCK})",
        key.len(),
        iv.len(),
        cipher.key_len()
    ))
}

impl Decryptor {
    fn new(cipher: ContentCipher, key: &[u8], iv: &[u8]) -> Result<Self, CmsError> {
        let made = match cipher {
            ContentCipher::Aes128Cbc => cbc::Decryptor::new_from_slices(key, iv).map(Self::Aes128),
            ContentCipher::Aes192Cbc => cbc::Decryptor::new_from_slices(key, iv).map(Self::Aes192),
            ContentCipher::Aes256Cbc => cbc::Decryptor::new_from_slices(key, iv).map(Self::Aes256),
        };
        made.map_err(|_| key_error(cipher, key, iv))
    }

    /// Decrypts whole blocks in place; a trailing partial block is left alone (callers
    /// only pass multiples of 16).
    fn decrypt(&mut self, data: &mut [u8]) {
        let (blocks, _) = Array::<u8, U16>::slice_as_chunks_mut(data);
        match self {
            Self::Aes128(d) => d.decrypt_blocks(blocks),
            Self::Aes192(d) => d.decrypt_blocks(blocks),
            Self::Aes256(d) => d.decrypt_blocks(blocks),
        }
    }
}

impl Encryptor {
    fn new(cipher: ContentCipher, key: &[u8], iv: &[u8]) -> Result<Self, CmsError> {
        let made = match cipher {
            ContentCipher::Aes128Cbc => cbc::Encryptor::new_from_slices(key, iv).map(Self::Aes128),
            ContentCipher::Aes192Cbc => cbc::Encryptor::new_from_slices(key, iv).map(Self::Aes192),
            ContentCipher::Aes256Cbc => cbc::Encryptor::new_from_slices(key, iv).map(Self::Aes256),
        };
        made.map_err(|_| key_error(cipher, key, iv))
    }

    fn encrypt(&mut self, data: &mut [u8]) {
        let (blocks, _) = Array::<u8, U16>::slice_as_chunks_mut(data);
        match self {
            Self::Aes128(e) => e.encrypt_blocks(blocks),
            Self::Aes192(e) => e.encrypt_blocks(blocks),
            Self::Aes256(e) => e.encrypt_blocks(blocks),
        }
    }
}

/// The plaintext of the last block once its padding is stripped (0 to 15 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastPlaintext {
    bytes: [u8; BLOCK],
    len: usize,
}

impl LastPlaintext {
    pub fn as_slice(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }
}

/// CBC decryption of a stream of ciphertext chunks.
pub struct CbcDecryptStream {
    cipher: Decryptor,
    pending: Vec<u8>,
    ciphertext_len: u64,
    plaintext_written: u64,
}

impl CbcDecryptStream {
    pub fn new(cipher: ContentCipher, key: &[u8], iv: &[u8]) -> Result<Self, CmsError> {
        Ok(CbcDecryptStream {
            cipher: Decryptor::new(cipher, key, iv)?,
            pending: Vec::with_capacity(WORK_SIZE),
            ciphertext_len: 0,
            plaintext_written: 0,
        })
    }

    /// Takes more ciphertext; writes whatever plaintext is certain not to be padding.
    pub fn update(
        &mut self,
        mut ciphertext: &[u8],
        output: &mut impl std::io::Write,
    ) -> Result<(), CmsError> {
        self.ciphertext_len += ciphertext.len() as u64;
        while !ciphertext.is_empty() {
            let room = WORK_SIZE - self.pending.len();
            let (now, later) = ciphertext.split_at(room.min(ciphertext.len()));
            self.pending.extend_from_slice(now);
            ciphertext = later;
            if self.pending.len() == WORK_SIZE {
                self.decrypt_ready(output)?;
            }
        }
        Ok(())
    }

    /// Decrypts and writes every buffered block except the last whole one (it may be the
    /// padding block) and a trailing partial block.
    fn decrypt_ready(&mut self, output: &mut impl std::io::Write) -> Result<(), CmsError> {
        let len = self.pending.len();
        let keep = match len % BLOCK {
            0 => len.min(BLOCK),
            partial => partial,
        };
        let ready = len - keep;
        if ready == 0 {
            return Ok(());
        }
        if let Some(blocks) = self.pending.get_mut(..ready) {
            self.cipher.decrypt(blocks);
            output.write_all(blocks).map_err(CmsError::WriteOutput)?;
        }
        self.plaintext_written += ready as u64;
        self.pending.copy_within(ready.., 0);
        self.pending.truncate(keep);
        Ok(())
    }

    /// Ends the content: decrypts the held-back block, checks and strips its padding, and
    /// returns the last plaintext bytes for the caller to write once the rest of the
    /// message has been checked. `offset` is where the content ended, for errors.
    pub fn finish(
        mut self,
        output: &mut impl std::io::Write,
        offset: u64,
    ) -> Result<(LastPlaintext, u64), CmsError> {
        self.decrypt_ready(output)?;
        let mut block = [0u8; BLOCK];
        if self.pending.len() != BLOCK || !self.ciphertext_len.is_multiple_of(BLOCK as u64) {
            return Err(CmsError::Malformed {
                offset,
                structure: "encrypted content",
                reason: format!(
                    "{} bytes of ciphertext is not a whole number of {BLOCK}-byte blocks \
                     (at least one): corrupt data",
                    self.ciphertext_len
                ),
            });
        }
        block.copy_from_slice(&self.pending);
        self.cipher.decrypt(&mut block);
        let pad = block[BLOCK - 1];
        let pad_len = usize::from(pad);
        let padding_ok = (1..=BLOCK).contains(&pad_len)
            && block
                .get(BLOCK - pad_len..)
                .is_some_and(|tail| tail.iter().all(|&b| b == pad));
        if !padding_ok {
            return Err(CmsError::BadPadding);
        }
        let last = LastPlaintext {
            bytes: block,
            len: BLOCK - pad_len,
        };
        Ok((last, self.plaintext_written + last.len as u64))
    }
}

/// CBC encryption of a stream of plaintext chunks; ciphertext goes to a sink.
pub struct CbcEncryptStream {
    cipher: Encryptor,
    pending: Vec<u8>,
    plaintext_len: u64,
}

impl CbcEncryptStream {
    pub fn new(cipher: ContentCipher, key: &[u8], iv: &[u8]) -> Result<Self, CmsError> {
        Ok(CbcEncryptStream {
            cipher: Encryptor::new(cipher, key, iv)?,
            pending: Vec::with_capacity(WORK_SIZE + BLOCK),
            plaintext_len: 0,
        })
    }

    /// Ciphertext length for a plaintext of `plaintext_len` bytes (PKCS#7 always pads).
    pub fn ciphertext_len(plaintext_len: u64) -> Option<u64> {
        (plaintext_len / BLOCK as u64)
            .checked_add(1)?
            .checked_mul(BLOCK as u64)
    }

    pub fn plaintext_len(&self) -> u64 {
        self.plaintext_len
    }

    /// Takes more plaintext.
    pub fn update(
        &mut self,
        mut plaintext: &[u8],
        sink: &mut impl FnMut(&[u8]) -> Result<(), CmsError>,
    ) -> Result<(), CmsError> {
        self.plaintext_len += plaintext.len() as u64;
        while !plaintext.is_empty() {
            let room = WORK_SIZE - self.pending.len();
            let (now, later) = plaintext.split_at(room.min(plaintext.len()));
            self.pending.extend_from_slice(now);
            plaintext = later;
            if self.pending.len() == WORK_SIZE {
                self.encrypt_whole_blocks(sink)?;
            }
        }
        Ok(())
    }

    fn encrypt_whole_blocks(
        &mut self,
        sink: &mut impl FnMut(&[u8]) -> Result<(), CmsError>,
    ) -> Result<(), CmsError> {
        let ready = self.pending.len() - self.pending.len() % BLOCK;
        if ready == 0 {
            return Ok(());
        }
        if let Some(blocks) = self.pending.get_mut(..ready) {
            self.cipher.encrypt(blocks);
            sink(blocks)?;
        }
        self.pending.copy_within(ready.., 0);
        self.pending.truncate(self.pending.len() - ready);
        Ok(())
    }

    /// Pads, encrypts what is left, and returns the plaintext length.
    pub fn finish(
        mut self,
        sink: &mut impl FnMut(&[u8]) -> Result<(), CmsError>,
    ) -> Result<u64, CmsError> {
        self.encrypt_whole_blocks(sink)?;
        let pad_len = BLOCK - self.pending.len() % BLOCK;
        // pad_len is 1..=16, so it fits in a byte.
        let pad = u8::try_from(pad_len).unwrap_or(16);
        self.pending.resize(self.pending.len() + pad_len, pad);
        self.encrypt_whole_blocks(sink)?;
        Ok(self.plaintext_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encrypt_all(plain: &[u8], feed: usize) -> Vec<u8> {
        let mut enc = CbcEncryptStream::new(ContentCipher::Aes256Cbc, &[7; 32], &[9; 16]).unwrap();
        let mut out = Vec::new();
        let mut sink = |c: &[u8]| {
            out.extend_from_slice(c);
            Ok(())
        };
        for chunk in plain.chunks(feed.max(1)) {
            enc.update(chunk, &mut sink).unwrap();
        }
        assert_eq!(enc.finish(&mut sink).unwrap(), plain.len() as u64);
        out
    }

    fn decrypt_all(cipher: &[u8], feed: usize) -> Result<Vec<u8>, CmsError> {
        let mut dec = CbcDecryptStream::new(ContentCipher::Aes256Cbc, &[7; 32], &[9; 16])?;
        let mut out = Vec::new();
        for chunk in cipher.chunks(feed.max(1)) {
            dec.update(chunk, &mut out)?;
        }
        let (last, total) = dec.finish(&mut out, 0)?;
        out.extend_from_slice(last.as_slice());
        assert_eq!(total, out.len() as u64);
        Ok(out)
    }

    #[test]
    fn round_trips_across_odd_chunking() {
        for len in [0usize, 1, 15, 16, 17, 999, 1000, 1001, 40_000, 70_001] {
            let plain: Vec<u8> = (0..len)
                .map(|i| u8::try_from(i * 31 % 251).unwrap())
                .collect();
            let cipher = encrypt_all(&plain, 1000);
            assert_eq!(cipher.len(), (len / 16 + 1) * 16);
            for feed in [1, 7, 1000, 4096, 1 << 20] {
                assert_eq!(
                    decrypt_all(&cipher, feed).unwrap(),
                    plain,
                    "len {len} feed {feed}"
                );
            }
            assert_eq!(encrypt_all(&plain, 13), cipher);
        }
    }

    #[test]
    fn bad_padding_and_bad_length_are_reported() {
        let cipher = encrypt_all(b"hello", 100);
        let mut wrong = cipher.clone();
        wrong[15] ^= 0x01; // one-block message: flips the last plaintext byte (the padding)
        assert!(matches!(
            decrypt_all(&wrong, 100),
            Err(CmsError::BadPadding)
        ));
        assert!(matches!(
            decrypt_all(&cipher[..15], 100),
            Err(CmsError::Malformed { .. })
        ));
        assert!(matches!(
            decrypt_all(&[], 100),
            Err(CmsError::Malformed { .. })
        ));
    }
}
