//! Helpers shared by the `cms_*` integration tests: the KS vectors, openssl-made keys,
//! and readers that misbehave on purpose.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use mottak_protocol::cms::{RecipientCert, RecipientKey};

pub fn ks_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/interop/ks-vectors")
}

pub fn read_ks(name: &str) -> Vec<u8> {
    std::fs::read(ks_dir().join(name)).unwrap()
}

pub fn ks_key(with_cert: bool) -> RecipientKey {
    let key = std::fs::read_to_string(ks_dir().join("sp-key.pem")).unwrap();
    let cert = std::fs::read_to_string(ks_dir().join("sp-cert.pem")).unwrap();
    RecipientKey::from_pem(&key, with_cert.then_some(cert.as_str())).unwrap()
}

pub fn ks_cert() -> RecipientCert {
    RecipientCert::from_pem(&std::fs::read_to_string(ks_dir().join("sp-cert.pem")).unwrap())
        .unwrap()
}

/// Runs a command, failing the test with its stderr when it fails.
pub fn run(command: &mut Command) -> Vec<u8> {
    let output = command
        .output()
        .unwrap_or_else(|err| panic!("cannot run {command:?}: {err}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// An RSA-2048 key and self-signed certificate made by openssl in a temporary folder.
pub struct OpensslKey {
    pub dir: tempfile::TempDir,
    pub key: PathBuf,
    pub cert: PathBuf,
}

impl OpensslKey {
    pub fn new(common_name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.pem");
        let cert = dir.path().join("cert.pem");
        run(Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            ])
            .arg(format!("/CN={common_name}"))
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert));
        OpensslKey { dir, key, cert }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn recipient_key(&self, with_cert: bool) -> RecipientKey {
        let key = std::fs::read_to_string(&self.key).unwrap();
        let cert = std::fs::read_to_string(&self.cert).unwrap();
        RecipientKey::from_pem(&key, with_cert.then_some(cert.as_str())).unwrap()
    }

    pub fn recipient_cert(&self) -> RecipientCert {
        RecipientCert::from_pem_or_der(&std::fs::read(&self.cert).unwrap()).unwrap()
    }

    /// `openssl cms -encrypt` of `plaintext` to this certificate; `key_options`
    /// (`-keyopt ...`) go after `-recip`, which they apply to.
    pub fn openssl_encrypt(
        &self,
        plaintext: &Path,
        args: &[&str],
        key_options: &[&str],
    ) -> Vec<u8> {
        run(Command::new("openssl")
            .args(["cms", "-encrypt", "-binary", "-outform", "DER", "-in"])
            .arg(plaintext)
            .args(args)
            .arg("-recip")
            .arg(&self.cert)
            .args(key_options))
    }

    /// `openssl cms -decrypt` of a DER/BER file with this key and certificate.
    pub fn openssl_decrypt(&self, encrypted: &Path) -> Vec<u8> {
        run(Command::new("openssl")
            .args(["cms", "-decrypt", "-binary", "-inform", "DER", "-in"])
            .arg(encrypted)
            .arg("-inkey")
            .arg(&self.key)
            .arg("-recip")
            .arg(&self.cert))
    }
}

/// Hands out at most one byte per `read` call.
pub struct OneByteReader<R>(pub R);

impl<R: Read> Read for OneByteReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match buf.first_mut() {
            Some(first) => self.0.read(std::slice::from_mut(first)),
            None => Ok(0),
        }
    }
}

/// Deterministic bytes that do not repeat with the AES block.
pub fn sample_plaintext(len: usize) -> Vec<u8> {
    let mut state: u32 = 0x9e37_79b9 ^ u32::try_from(len % 0xffff).unwrap();
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[0]
        })
        .collect()
}
