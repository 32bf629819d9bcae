//! No secret and no fødselsnummer in any log line: the agent's stderr and the
//! daily files in `log_dir`, at `log_level = "debug"`, through deliveries, a
//! failed decryption, a refused password and a clean stop.
//!
//! Invariants covered: "Secrets ... cannot be printed"; "No fødselsnummer
//! reaches a log line".
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use base64::Engine;
use mottak_fixtures::svarinn::{Fault, NewForsendelse, Plaintext, RequestKind, Scope};
use mottak_tests::harness::{
    Ack, System, World, ZipEntry, mottak_feilet_of, read_delivered, small_pdf, zip_bytes,
};

const LIMIT: Duration = Duration::from_secs(120);
const PASSWORD: &str = "Hemmelig-Pw-7Qx9-zz";
const FNR: [&str; 3] = ["01017012343", "24056512329", "31129912319"];

#[test]
fn no_secret_and_no_fodselsnummer_in_any_log_line() {
    let world = World::builder()
        .system(
            System::new("ms-a")
                .password(PASSWORD)
                .ack(Ack::OnDelivery)
                .max_decrypt_attempts(1),
        )
        .system(
            System::new("locked")
                .password("Laast-Pw-3Kd8-yy")
                .wrong_password(),
        )
        .log_level("debug")
        .start()
        .unwrap();
    let sys = world.system("ms-a").unwrap().clone();
    let user = sys.spec.username.clone();

    // Fødselsnumre in the title, the file name, the mottaker, the eksternRef and a zip entry.
    let first = world
        .block_on(
            world.fake.add_forsendelse(
                NewForsendelse::pdf(
                    &user,
                    format!("{}-soknad.pdf", FNR[0]),
                    Plaintext::Bytes(small_pdf(1, 3000)),
                )
                .tittel(format!("Vedtak for Ola Nordmann {}", FNR[0]))
                .ekstern_ref(format!("sak-{}", FNR[1])),
            ),
        )
        .unwrap();
    let mut template = world.fake.forsendelse(&first).unwrap();
    template.mottaker.navn = format!("Kari Nordmann {}", FNR[1]);
    let second = world
        .block_on(
            world.fake.add_forsendelse(
                NewForsendelse::zip(
                    &user,
                    format!("{}.zip", FNR[2]),
                    Plaintext::Bytes(
                        zip_bytes(&[ZipEntry::File(
                            format!("vedlegg {} .pdf", FNR[2]),
                            small_pdf(2, 4000),
                        )])
                        .unwrap(),
                    ),
                )
                .template(template.clone())
                .tittel(format!("Klage fra {} (fnr {})", "Per", FNR[2])),
            ),
        )
        .unwrap();
    // One that cannot be decrypted: its error (and mottakFeilet) path logs too.
    let broken = world
        .block_on(
            world.fake.add_forsendelse(
                NewForsendelse::pdf(
                    &user,
                    format!("{} brev.pdf", FNR[0]),
                    Plaintext::Bytes(small_pdf(3, 3000)),
                )
                .template(template)
                .tittel(format!("Brev til {}", FNR[1])),
            ),
        )
        .unwrap();
    world
        .fake
        .inject(
            Fault::WrongKey,
            Scope::forsendelse(&broken).on(RequestKind::Download),
        )
        .unwrap();

    let mut agent = world.spawn_agent().unwrap();
    let ok = vec![first.clone(), second.clone()];
    world.wait_published(&mut agent, &sys, &ok, LIMIT).unwrap();
    world.wait_acked(&mut agent, &ok, LIMIT).unwrap();
    world
        .wait_state(&mut agent, std::slice::from_ref(&broken), "failed", LIMIT)
        .unwrap();
    world
        .wait(&mut agent, "mottakFeilet and 401s", LIMIT, || {
            let ev = world.fake.events();
            !mottak_feilet_of(&ev, &broken).is_empty()
                && mottak_tests::harness::rejected(&ev, &locked_user(&world), RequestKind::List)
                    >= 2
        })
        .unwrap();
    let status = agent.terminate(Duration::from_secs(30)).unwrap();
    assert!(status.success(), "clean stop: {status}");

    // The fødselsnumre went through the agent (they are in what it delivered)...
    let d = read_delivered(&sys.inn_of(&first)).unwrap();
    assert!(d.json.to_string().contains(FNR[0]));
    // ... and the logs are there, and say what happened ...
    let files = world.log_dir_files().unwrap();
    assert!(!files.is_empty(), "no log files in log_dir");
    let file_text: String = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    for id in [&first, &second, &broken] {
        assert!(file_text.contains(id.as_str()), "{id} not in the log files");
    }
    let all = world.all_logs().unwrap();
    assert!(all.contains("locked"), "the 401 is logged");
    // ... without a secret or a fødselsnummer on any line.
    let basic_ok = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{PASSWORD}"));
    let mut secrets: Vec<String> = vec![
        PASSWORD.to_owned(),
        "Laast-Pw-3Kd8-yy".to_owned(),
        locked_configured_password(&world),
        basic_ok,
    ];
    secrets.extend(FNR.iter().map(|f| (*f).to_owned()));
    secrets.extend(FNR.iter().map(|f| format!("{} {}", &f[..6], &f[6..])));
    let mut leaks = Vec::new();
    for line in all.lines() {
        for s in &secrets {
            if line.contains(s.as_str()) {
                leaks.push(format!("{s:?} in: {line}"));
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "leaked into the logs:\n{}",
        leaks.join("\n")
    );
    // The private key neither.
    assert!(!all.contains("PRIVATE KEY"));
}

fn locked_user(world: &World) -> String {
    world.system("locked").unwrap().spec.username.clone()
}

fn locked_configured_password(world: &World) -> String {
    world
        .system("locked")
        .unwrap()
        .spec
        .configured_password
        .clone()
}

/// Issue 12, point 10: a SvarInn error body with line breaks cannot forge a
/// log line. The body (kept for the operator, quoted in the warning) carries
/// what would look like another event, a carriage return, an escape
/// sequence and a fødselsnummer; in the real log file each line is one
/// event, starting with its timestamp, and the body stays inside its own.
#[test]
fn a_svarinn_error_body_cannot_forge_a_log_line() {
    let world = World::builder()
        .system(System::new("ms-a").password(PASSWORD))
        .start()
        .unwrap();
    let user = world.system("ms-a").unwrap().spec.username.clone();
    let forged = "2026-12-03T12:00:00.000000Z  INFO mottak_agent: FORGED all is well";
    let body = format!(
        "Intern feil\n{forged}\r\n\u{1b}[2K\u{2028}for {} ({}-{})",
        FNR[0],
        &FNR[1][..6],
        &FNR[1][6..]
    );
    world
        .fake
        .inject(
            Fault::StatusBody(500, body),
            Scope::next(RequestKind::List, 2),
        )
        .unwrap();
    let mut agent = world.spawn_agent().unwrap();
    world
        .wait(&mut agent, "two refused lists", LIMIT, || {
            mottak_tests::harness::rejected(&world.fake.events(), &user, RequestKind::List) >= 2
        })
        .unwrap();
    // The warning is written once the error is handled: wait for it on stderr.
    world
        .wait(&mut agent, "the warning", LIMIT, || {
            agent_output_has(&world, "FORGED")
        })
        .unwrap();
    let status = agent.terminate(Duration::from_secs(30)).unwrap();
    assert!(status.success(), "clean stop: {status}");

    let files = world.log_dir_files().unwrap();
    let file_text: String = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    let quoting: Vec<&str> = file_text.lines().filter(|l| l.contains("FORGED")).collect();
    assert!(
        !quoting.is_empty(),
        "the body is not in the log file:\n{file_text}"
    );
    for line in &quoting {
        assert!(line.contains("Intern feil\\n2026-12-03T12:00:00"), "{line}");
        assert!(line.contains("\\r\\n\\u{1b}[2K\\u{2028}"), "{line}");
        assert!(!line.contains('\u{1b}') && !line.contains('\r'), "{line:?}");
    }
    for line in file_text.lines() {
        assert!(
            !line.starts_with("2026-12-03T12:00:00") && line.starts_with("20"),
            "a line that is not an event of its own: {line:?}\n{file_text}"
        );
        for fnr in FNR {
            assert!(!line.contains(fnr), "{fnr} in {line}");
        }
        assert!(
            !line.contains(&format!("{}-{}", &FNR[1][..6], &FNR[1][6..])),
            "{line}"
        );
    }
}

fn agent_output_has(world: &World, needle: &str) -> bool {
    world.all_logs().is_ok_and(|l| l.contains(needle))
}
