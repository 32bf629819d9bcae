//! CMS decrypt (and encrypt) throughput and peak memory, ours against `openssl cms`.
//!
//! `cargo bench -p mottak-protocol --bench cms_decrypt` (size: `MOTTAK_BENCH_MIB`,
//! default 512). It writes a pseudo-random plaintext, encrypts it with our writer the
//! way KS does (BER indefinite, 1000-byte chunks, RSAES-OAEP SHA-256, AES-256-CBC) to a
//! fresh openssl-made key, then decrypts that file with ours and with
//! `openssl cms -decrypt`, each in its own process under `/usr/bin/time` so the peak RSS
//! is that process's alone (this binary re-runs itself with `child ...` for ours). Both
//! outputs must hash to the plaintext's SHA-256. Targets: at least 3x openssl's
//! throughput, and a peak RSS under 16 MiB.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use mottak_protocol::cms::{EncryptOptions, RecipientCert, RecipientKey, decrypt, encrypt};
use sha2::{Digest, Sha256};

const CHILD: &str = "mottak-bench-child";
const MIB: u64 = 1024 * 1024;
const TARGET_SPEEDUP: f64 = 3.0;
const TARGET_RSS_KIB: u64 = 16 * 1024;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(CHILD) {
        child(&args[2..]);
        return;
    }
    let mib: u64 = std::env::var("MOTTAK_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512);
    let size = mib * MIB;
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    println!(
        "cms_decrypt bench: {mib} MiB plaintext in {}",
        dir.path().display()
    );

    run(Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=mottak bench", "-keyout"])
        .arg(path("key.pem"))
        .arg("-out")
        .arg(path("cert.pem")));

    let plaintext_hash = write_plaintext(&path("plain.bin"), size);

    // Encrypt: ours (child process) and openssl's streaming encrypt, same parameters.
    let ours_encrypt = measure(
        Command::new(std::env::current_exe().unwrap())
            .arg(CHILD)
            .arg("encrypt")
            .arg(path("plain.bin"))
            .arg(path("ours.cms"))
            .arg(path("cert.pem")),
        &path("rss-ours-encrypt"),
    );
    let openssl_encrypt = measure(
        Command::new("openssl")
            .args([
                "cms", "-encrypt", "-binary", "-stream", "-outform", "DER", "-aes256", "-in",
            ])
            .arg(path("plain.bin"))
            .arg("-out")
            .arg(path("openssl.cms"))
            .arg("-recip")
            .arg(path("cert.pem"))
            .args([
                "-keyopt",
                "rsa_padding_mode:oaep",
                "-keyopt",
                "rsa_oaep_md:sha256",
            ]),
        &path("rss-openssl-encrypt"),
    );
    std::fs::remove_file(path("openssl.cms")).unwrap();
    let encrypted_len = std::fs::metadata(path("ours.cms")).unwrap().len();

    // Decrypt our KS-shaped file: ours, then openssl's.
    let ours = measure(
        Command::new(std::env::current_exe().unwrap())
            .arg(CHILD)
            .arg("decrypt")
            .arg(path("ours.cms"))
            .arg(path("ours.out"))
            .arg(path("key.pem"))
            .arg(path("cert.pem")),
        &path("rss-ours"),
    );
    let ours_hash = hash_file(&path("ours.out"));
    std::fs::remove_file(path("ours.out")).unwrap();
    let openssl = measure(
        Command::new("openssl")
            .args(["cms", "-decrypt", "-binary", "-inform", "DER", "-in"])
            .arg(path("ours.cms"))
            .arg("-inkey")
            .arg(path("key.pem"))
            .arg("-recip")
            .arg(path("cert.pem"))
            .arg("-out")
            .arg(path("openssl.out")),
        &path("rss-openssl"),
    );
    let openssl_hash = hash_file(&path("openssl.out"));

    let ours_ok = ours_hash == plaintext_hash;
    let openssl_ok = openssl_hash == plaintext_hash;
    let speedup = openssl.time.as_secs_f64() / ours.time.as_secs_f64();
    let encrypt_speedup = openssl_encrypt.time.as_secs_f64() / ours_encrypt.time.as_secs_f64();

    println!(
        "encrypted file: {encrypted_len} bytes (BER indefinite, 1000-byte chunks, OAEP-SHA256, AES-256-CBC)"
    );
    println!(
        "{:<28} {:>10} {:>10} {:>14}",
        "", "seconds", "MiB/s", "peak RSS KiB"
    );
    for (name, m) in [
        ("decrypt  mottak", &ours),
        ("decrypt  openssl cms", &openssl),
        ("encrypt  mottak", &ours_encrypt),
        ("encrypt  openssl cms -stream", &openssl_encrypt),
    ] {
        println!(
            "{name:<28} {:>10.3} {:>10.1} {:>14}",
            m.time.as_secs_f64(),
            mib as f64 / m.time.as_secs_f64(),
            m.peak_rss_kib
        );
    }
    println!(
        "plaintext sha256 {}: mottak {}, openssl {}",
        hex::encode(&plaintext_hash[..8]),
        if ours_ok { "MATCH" } else { "MISMATCH" },
        if openssl_ok { "MATCH" } else { "MISMATCH" }
    );
    println!(
        "decrypt throughput ratio mottak/openssl: {speedup:.2}x (encrypt {encrypt_speedup:.2}x)"
    );
    let fast = speedup >= TARGET_SPEEDUP;
    let small = ours.peak_rss_kib < TARGET_RSS_KIB;
    println!(
        "target >= {TARGET_SPEEDUP}x openssl throughput: {}",
        if fast { "MET" } else { "NOT MET" }
    );
    println!(
        "target peak RSS < {} KiB: {} ({} KiB)",
        TARGET_RSS_KIB,
        if small { "MET" } else { "NOT MET" },
        ours.peak_rss_kib
    );
    assert!(
        ours_ok && openssl_ok,
        "a decryption did not reproduce the plaintext"
    );
}

struct Measurement {
    time: Duration,
    peak_rss_kib: u64,
}

/// Runs `command` under `/usr/bin/time -f %M` (peak RSS in KiB of that process alone).
fn measure(command: &mut Command, rss_file: &Path) -> Measurement {
    let mut timed = Command::new("/usr/bin/time");
    timed
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(rss_file)
        .arg(command.get_program())
        .args(command.get_args());
    let start = Instant::now();
    run(&mut timed);
    let time = start.elapsed();
    let peak_rss_kib = std::fs::read_to_string(rss_file)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    Measurement { time, peak_rss_kib }
}

fn run(command: &mut Command) {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Pseudo-random (xorshift) plaintext, written 1 MiB at a time; returns its SHA-256.
fn write_plaintext(path: &Path, size: u64) -> Vec<u8> {
    let mut file = BufWriter::new(File::create(path).unwrap());
    let mut hasher = Sha256::new();
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut block = vec![0u8; usize::try_from(MIB).unwrap()];
    for _ in 0..size / MIB {
        for word in block.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        hasher.update(&block);
        file.write_all(&block).unwrap();
    }
    file.flush().unwrap();
    hasher.finalize().to_vec()
}

fn hash_file(path: &Path) -> Vec<u8> {
    let mut file = File::open(path).unwrap();
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer).unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    hasher.finalize().to_vec()
}

/// The measured side of "ours": a plain streaming decrypt or encrypt, file to file.
fn child(args: &[String]) {
    let arg = |i: usize| PathBuf::from(&args[i]);
    match args[0].as_str() {
        "decrypt" => {
            let key = RecipientKey::from_pem(
                &std::fs::read_to_string(arg(3)).unwrap(),
                Some(&std::fs::read_to_string(arg(4)).unwrap()),
            )
            .unwrap();
            let input = File::open(arg(1)).unwrap();
            let output = File::create(arg(2)).unwrap();
            decrypt(input, output, &[key]).unwrap();
        }
        "encrypt" => {
            let cert = RecipientCert::from_pem_or_der(&std::fs::read(arg(3)).unwrap()).unwrap();
            let input = File::open(arg(1)).unwrap();
            let output = File::create(arg(2)).unwrap();
            encrypt(input, None, output, &cert, &EncryptOptions::default()).unwrap();
        }
        other => panic!("unknown child mode {other}"),
    }
}
