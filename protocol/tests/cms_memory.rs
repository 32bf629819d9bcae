//! The reader and writer stream: pushing 32 MiB through both, over a pipe, raises the
//! process's peak RSS by far less than the data size. (Alone in its own test binary so
//! no other test moves the peak.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cms_support;

use std::io::{Read, Write};

use cms_support::{ks_cert, ks_key};
use mottak_protocol::cms::{EncryptOptions, decrypt, encrypt};

const SIZE: u64 = 32 * 1024 * 1024;

/// A deterministic byte stream, generated on the fly (never held in memory).
struct Generator {
    position: u64,
    end: u64,
}

impl Generator {
    fn byte_at(position: u64) -> u8 {
        (position.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56).to_le_bytes()[0]
    }
}

impl Read for Generator {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = usize::try_from((self.end - self.position).min(buf.len() as u64)).unwrap();
        for (i, byte) in buf[..n].iter_mut().enumerate() {
            *byte = Self::byte_at(self.position + i as u64);
        }
        self.position += n as u64;
        Ok(n)
    }
}

/// Checks the plaintext against the generator as it arrives.
struct Verifier {
    position: u64,
    largest_write: usize,
}

impl Write for Verifier {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for (i, &byte) in buf.iter().enumerate() {
            assert_eq!(byte, Generator::byte_at(self.position + i as u64));
        }
        self.position += buf.len() as u64;
        self.largest_write = self.largest_write.max(buf.len());
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn streaming_memory_stays_bounded() {
    let key = ks_key(true);
    let cert = ks_cert();
    let before = peak_rss_kib();

    let (pipe_reader, pipe_writer) = std::io::pipe().unwrap();
    let writer = std::thread::spawn(move || {
        let input = Generator {
            position: 0,
            end: SIZE,
        };
        encrypt(input, None, pipe_writer, &cert, &EncryptOptions::default()).unwrap()
    });
    let mut verifier = Verifier {
        position: 0,
        largest_write: 0,
    };
    let outcome = decrypt(pipe_reader, &mut verifier, &[key]).unwrap();
    let written = writer.join().unwrap();

    assert_eq!(outcome.plaintext_len, SIZE);
    assert_eq!(verifier.position, SIZE);
    assert!(written > SIZE);
    assert!(
        verifier.largest_write <= 64 * 1024,
        "{}",
        verifier.largest_write
    );
    let grown_kib = peak_rss_kib().saturating_sub(before);
    eprintln!("peak RSS grew by {grown_kib} KiB for {} MiB", SIZE >> 20);
    assert!(grown_kib < 8 * 1024, "peak RSS grew by {grown_kib} KiB");
}
