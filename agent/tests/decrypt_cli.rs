//! `mottak-agent decrypt` as an operator runs it, on KS's own SvarInn files.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/interop/ks-vectors")
}

fn agent(args: &[&Path]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mottak-agent"));
    command.arg("decrypt");
    for arg in args {
        command.arg(arg);
    }
    command.output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Copies a private key into `dir` with mode 0600, as the agent insists.
fn private_copy(dir: &Path, from: &Path, name: &str) -> PathBuf {
    let to = dir.join(name);
    std::fs::copy(from, &to).unwrap();
    std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
    to
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".partial"))
        .collect()
}

#[test]
fn decrypts_ks_files_with_the_key_alone() {
    let dir = tempfile::tempdir().unwrap();
    let key = private_copy(dir.path(), &vectors().join("sp-key.pem"), "key.pem");
    for (crypt, plain) in [
        ("small.crypt", "small.pdf"),
        ("dokumenter.crypt", "dokumenter.zip"),
        ("test.crypt", "test.pdf"),
    ] {
        let out = dir.path().join(plain);
        let output = agent(&[
            "--key".as_ref(),
            &key,
            "--in".as_ref(),
            &vectors().join(crypt),
            "--out".as_ref(),
            &out,
        ]);
        assert!(output.status.success(), "{}", stderr(&output));
        let expected = std::fs::read(vectors().join(plain)).unwrap();
        assert!(std::fs::read(&out).unwrap() == expected, "{crypt}");
        let printed = stdout(&output);
        assert!(
            printed.contains(&format!("({} bytes)", expected.len())),
            "{printed}"
        );
        assert!(
            printed.contains("key.pem (key 0, no certificate)"),
            "{printed}"
        );
        assert!(
            printed.contains("RSAES-OAEP (SHA-256, MGF1-SHA-256), AES-256-CBC"),
            "{printed}"
        );
    }
    assert!(leftovers(dir.path()).is_empty());
}

#[test]
fn names_the_matching_key_and_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.pem");
    let status = Command::new("openssl")
        .args(["genrsa", "-out"])
        .arg(&other)
        .arg("2048")
        .output()
        .unwrap();
    assert!(status.status.success());
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o600)).unwrap();
    let key = private_copy(dir.path(), &vectors().join("sp-key.pem"), "ks.pem");
    let out = dir.path().join("small.pdf");
    let output = agent(&[
        "--key".as_ref(),
        &other,
        "--key".as_ref(),
        &key,
        "--cert".as_ref(),
        &vectors().join("sp-cert.pem"),
        "--in".as_ref(),
        &vectors().join("small.crypt"),
        "--out".as_ref(),
        &out,
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = stdout(&output);
    assert!(
        printed.contains(
            "ks.pem (key 1, certificate issuer \"CN=kssulbt1e-u\" serial FBCAEA76FC34BC6A)"
        ),
        "{printed}"
    );
}

#[test]
fn wrong_key_fails_with_the_recipient_named_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.pem");
    assert!(
        Command::new("openssl")
            .args(["genrsa", "-out"])
            .arg(&other)
            .arg("2048")
            .output()
            .unwrap()
            .status
            .success()
    );
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = dir.path().join("small.pdf");
    let output = agent(&[
        "--key".as_ref(),
        &other,
        "--in".as_ref(),
        &vectors().join("small.crypt"),
        "--out".as_ref(),
        &out,
    ]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("cannot decrypt"), "{message}");
    assert!(message.contains("small.crypt"), "{message}");
    assert!(message.contains("key 0 = "), "{message}");
    assert!(
        message.contains(
            "no configured key matches this file: it is encrypted to issuer \"CN=kssulbt1e-u\" \
             serial FBCAEA76FC34BC6A"
        ),
        "{message}"
    );
    assert!(
        message.contains("does not decrypt the content key"),
        "{message}"
    );
    assert!(!out.exists());
    assert!(leftovers(dir.path()).is_empty());
}

#[test]
fn truncated_input_fails_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let key = private_copy(dir.path(), &vectors().join("sp-key.pem"), "key.pem");
    let whole = std::fs::read(vectors().join("test.crypt")).unwrap();
    let cut = dir.path().join("cut.crypt");
    std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
    let out = dir.path().join("test.pdf");
    let output = agent(&[
        "--key".as_ref(),
        &key,
        "--in".as_ref(),
        &cut,
        "--out".as_ref(),
        &out,
    ]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("truncated input"),
        "{}",
        stderr(&output)
    );
    assert!(!out.exists());
    assert!(leftovers(dir.path()).is_empty());
}

#[test]
fn refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let key = private_copy(dir.path(), &vectors().join("sp-key.pem"), "key.pem");
    let out = dir.path().join("small.pdf");
    std::fs::write(&out, b"precious").unwrap();
    let args = [
        "--key".as_ref(),
        key.as_path(),
        "--in".as_ref(),
        &vectors().join("small.crypt"),
        "--out".as_ref(),
        &out,
    ];
    let output = agent(&args);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("already exists; pass --force"),
        "{}",
        stderr(&output)
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");

    let mut forced = args.to_vec();
    forced.push("--force".as_ref());
    let output = agent(&forced);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(std::fs::read(&out).unwrap() == std::fs::read(vectors().join("small.pdf")).unwrap());
}

#[test]
fn refuses_a_key_readable_by_others() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    std::fs::copy(vectors().join("sp-key.pem"), &key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let output = agent(&[
        "--key".as_ref(),
        &key,
        "--in".as_ref(),
        &vectors().join("small.crypt"),
        "--out".as_ref(),
        &dir.path().join("x"),
    ]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("cannot read the private key"), "{message}");
    assert!(message.contains("key.pem"), "{message}");
}
