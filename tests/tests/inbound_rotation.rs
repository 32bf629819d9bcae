//! Key rotation end to end: a mottakersystem with two private keys (the old
//! one and the new one) takes forsendelser encrypted to either; once the old
//! key is removed from the config, a forsendelse still encrypted to it fails
//! with an error that names the recipient it was encrypted to, goes to
//! `failed`, and SvarInn hears mottakFeilet (permanent=false) with that text.
//! The others are not affected.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mottak_fixtures::TestKeyPair;
use mottak_fixtures::kit::write_private;
use mottak_fixtures::svarinn::{NewForsendelse, Plaintext};
use mottak_protocol::cms::{self, EncryptOptions, RecipientCert};
use mottak_tests::harness::{
    Agent, System, World, kvitteringer_of, mottak_feilet_of, read_delivered, small_pdf,
};

const LIMIT: Duration = Duration::from_secs(90);
/// The old key's certificate's common name: the error must name it.
const OLD_CN: &str = "rot kommune 2025 (old)";

/// `plain` encrypted to `cert_pem` as KS does (CMS EnvelopedData, OAEP), in `out`.
fn encrypt_to(cert_pem: &str, plain: &[u8], out: &Path) {
    let cert = RecipientCert::from_pem(cert_pem).unwrap();
    let file = fs::File::create(out).unwrap();
    cms::encrypt(
        plain,
        Some(plain.len() as u64),
        BufWriter::new(file),
        &cert,
        &EncryptOptions::default(),
    )
    .unwrap();
}

/// Adds a PDF forsendelse whose download is encrypted to `cert_pem` (not to
/// the certificate the fake knows for the mottakersystem).
fn add_encrypted_to(world: &World, user: &str, n: usize, cert_pem: &str) -> (String, Vec<u8>) {
    let plain = small_pdf(n, 2500 + n * 313);
    let crypt = world.root.join(format!("old-{n}.cms"));
    encrypt_to(cert_pem, &plain, &crypt);
    let id = world
        .block_on(
            world.fake.add_forsendelse(
                NewForsendelse::pdf(
                    user,
                    format!("gammel-{n}.pdf"),
                    Plaintext::Bytes(plain.clone()),
                )
                .precrypted(&crypt),
            ),
        )
        .unwrap();
    (id, plain)
}

/// Adds a PDF forsendelse encrypted by the fake to the mottakersystem's
/// current certificate (the new key).
fn add_to_current(world: &World, user: &str, n: usize) -> (String, Vec<u8>) {
    let plain = small_pdf(n, 2000 + n * 211);
    let id = world
        .block_on(world.fake.add_forsendelse(NewForsendelse::pdf(
            user,
            format!("ny-{n}.pdf"),
            Plaintext::Bytes(plain.clone()),
        )))
        .unwrap();
    (id, plain)
}

fn assert_delivered(folder: PathBuf, plain: &[u8]) {
    let d = read_delivered(&folder).unwrap();
    assert_eq!(
        d.files.len(),
        1,
        "{}: {:?}",
        folder.display(),
        d.files.keys()
    );
    let bytes = d.files.values().next().unwrap();
    assert!(bytes == plain, "{}: the bytes differ", folder.display());
}

#[test]
fn two_keys_then_the_old_one_removed() {
    let world = World::single(System::new("rot").max_decrypt_attempts(1)).unwrap();
    let sys = world.first().unwrap().clone();
    let user = sys.spec.username.clone();

    // The old key and its certificate, next to the new ones the harness made.
    let old = TestKeyPair::generate(OLD_CN).unwrap();
    let old_key = world.root.join("keys/rot-old.pem");
    let old_cert = world.root.join("keys/rot-old.crt");
    write_private(&old_key, old.key_pem.as_bytes()).unwrap();
    fs::write(&old_cert, &old.cert_pem).unwrap();

    // 1. Both keys configured (old first, as an operator adds the new one).
    let base = world.config_text().unwrap();
    let new_keys = format!("private_keys = [\"{}\"]", sys.key_path.display());
    let new_certs = format!("certificates = [\"{}\"]", sys.cert_path.display());
    assert!(
        base.contains(&new_keys) && base.contains(&new_certs),
        "{base}"
    );
    let both = base
        .replace(
            &new_keys,
            &format!(
                "private_keys = [\"{}\", \"{}\"]",
                old_key.display(),
                sys.key_path.display()
            ),
        )
        .replace(
            &new_certs,
            &format!(
                "certificates = [\"{}\", \"{}\"]",
                old_cert.display(),
                sys.cert_path.display()
            ),
        );
    let both_path = world.root.join("agent-both-keys.toml");
    fs::write(&both_path, both).unwrap();

    let mut first = Vec::new();
    for n in 0..3 {
        first.push((add_encrypted_to(&world, &user, n, &old.cert_pem), 0usize));
        first.push((add_to_current(&world, &user, 10 + n), 1usize));
    }
    let ids: Vec<String> = first.iter().map(|((id, _), _)| id.clone()).collect();

    let (mut cmd, log) = world.agent_command_for(&both_path).unwrap();
    let mut agent = Agent::spawn(&mut cmd, log).unwrap();
    world.wait_acked(&mut agent, &ids, LIMIT).unwrap();
    world.wait_state(&mut agent, &ids, "acked", LIMIT).unwrap();
    let output = agent.output_text();
    for ((id, plain), key_index) in &first {
        assert_delivered(sys.inn_of(id), plain);
        // The log says which configured key opened it.
        let line = output
            .lines()
            .find(|l| l.contains(id.as_str()) && l.contains("decrypted, verified and published"))
            .unwrap_or_else(|| panic!("no 'decrypted, verified and published' line for {id}"));
        assert!(
            line.contains(&format!("key={key_index}")),
            "{id} should open with key {key_index}: {line}"
        );
    }
    agent.terminate(LIMIT).unwrap();

    // 2. The old key removed (the harness's config has only the new one).
    assert!(!world.config_text().unwrap().contains("rot-old"));
    let (stale, _) = add_encrypted_to(&world, &user, 7, &old.cert_pem);
    let (fresh, fresh_plain) = add_to_current(&world, &user, 20);
    let mut agent = world.spawn_agent().unwrap();
    world
        .wait_acked(&mut agent, std::slice::from_ref(&fresh), LIMIT)
        .unwrap();
    assert_delivered(sys.inn_of(&fresh), &fresh_plain);
    world
        .wait_state(&mut agent, std::slice::from_ref(&stale), "failed", LIMIT)
        .unwrap();
    world
        .wait(&mut agent, "mottakFeilet for the stale one", LIMIT, || {
            !mottak_feilet_of(&world.fake.events(), &stale).is_empty()
        })
        .unwrap();

    let row = world.journal_row(&stale).unwrap().unwrap();
    let error = row.last_error.clone().unwrap_or_default();
    assert!(
        error.contains("no configured key matches"),
        "the error says no key matches: {error}"
    );
    assert!(
        error.contains(OLD_CN),
        "the error names the recipient the file is encrypted to ({OLD_CN}): {error}"
    );
    let reports = mottak_feilet_of(&world.fake.events(), &stale);
    assert_eq!(reports.len(), 1, "{reports:?}");
    let (message, permanent) = &reports[0];
    assert!(!permanent, "never permanent automatically");
    assert!(
        message.contains(OLD_CN),
        "the sender reads which certificate it was encrypted to: {message}"
    );
    let events = world.fake.events();
    assert!(
        kvitteringer_of(&events, &stale).is_empty(),
        "not acknowledged"
    );
    assert!(!sys.inn_of(&stale).exists(), "nothing published");
    // The earlier ones stay delivered once, acknowledged once.
    for id in &ids {
        assert_eq!(kvitteringer_of(&events, id).len(), 1, "{id}");
    }
    agent.terminate(LIMIT).unwrap();
}
