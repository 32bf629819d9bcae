//! `mottak-agent doctor` against the strict fakes: all pass → exit 0 and the
//! fakes saw only reads; a wrong password, a closed port and an unwritable
//! drop folder each give a failing line that names the fix; `--json` parses.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use anyhow::Result;
use mottak_fixtures::digisos::RequestKind;
use mottak_fixtures::svarinn::{EventKind, NewForsendelse, Plaintext};
use mottak_tests::binary;
use mottak_tests::harness::{Endpoint, System, World};
use mottak_tests::outbound_harness::{Options, OutboundWorld};
use serde_json::Value;

fn doctor(config: &Path, json: bool) -> Result<Output> {
    let mut cmd = Command::new(binary("mottak-agent")?);
    cmd.arg("doctor")
        .arg("--config")
        .arg(config)
        .arg("--connect-timeout")
        .arg("2")
        .stdin(Stdio::null())
        .env_remove("CREDENTIALS_DIRECTORY");
    if json {
        cmd.arg("--json");
    }
    Ok(cmd.output()?)
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// SvarInn, Maskinporten and Fiks all answer: exit 0, and nothing changed at
/// any fake (the waiting forsendelse is neither downloaded nor acknowledged,
/// Fiks saw only the public-key GET). The result is stored for the console.
#[test]
fn all_pass_exits_0_and_the_fakes_see_only_reads() -> Result<()> {
    let w = OutboundWorld::start(Options::default())?;
    let user = w.world.first()?.spec.username.clone();
    let id = w.world.block_on(w.world.fake.add_forsendelse(NewForsendelse::pdf(
        &user,
        "brev.pdf",
        Plaintext::Bytes(b"%PDF-1.4 doctor".to_vec()),
    )))?;
    let out = doctor(&w.world.config_path, false)?;
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(shown.contains("read-only"), "{shown}");
    assert!(shown.contains("resolves to 127.0.0.1"), "{shown}");
    assert!(shown.contains("1 forsendelser waiting"), "{shown}");
    assert!(shown.contains("token granted"), "{shown}");
    assert!(shown.contains("fiks-io Fiks IO: not configured"), "{shown}");

    assert!(w.world.fake.kvitteringer().is_empty());
    assert!(w.world.fake.mottak_feilet().is_empty());
    assert!(w.world.fake.downloads().is_empty());
    assert!(
        w.world
            .fake
            .events()
            .iter()
            .all(|e| matches!(e.kind, EventKind::List { .. }))
    );
    assert_eq!(w.world.fake.waiting_ids(&user), vec![id]);
    let fiks = w.fiks.events();
    assert!(!fiks.is_empty());
    assert!(
        fiks.iter().all(|e| e.kind == RequestKind::PublicKey),
        "{fiks:?}"
    );

    let stored: Value = serde_json::from_slice(&std::fs::read(
        w.world.root.join("state").join("doctor-last.json"),
    )?)?;
    assert_eq!(stored["exit_code"], 0);
    Ok(())
}

/// A wrong service password: the svarinn line fails, names the password
/// and the mottakersystem id; exit 3.
#[test]
fn a_wrong_password_names_the_service_password() -> Result<()> {
    let w = World::single(System::new("ms-a").wrong_password())?;
    let out = doctor(&w.config_path, false)?;
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(3), "{shown}");
    let line = shown
        .lines()
        .skip_while(|l| !l.starts_with("FAIL    [ms-a] svarinn"))
        .take(2)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(line.contains("401"), "{shown}");
    assert!(line.contains("service password"), "{shown}");
    assert!(line.contains("mottakersystem id"), "{shown}");
    Ok(())
}

/// Nothing listens on the port: the tcp line names host, address and port
/// as the firewall rule to open.
#[test]
fn a_closed_port_names_the_firewall_rule() -> Result<()> {
    let w = World::single(System::new("ms-a").endpoint(Endpoint::ClosedPort))?;
    let config = std::fs::read_to_string(&w.config_path)?;
    let port = config
        .lines()
        .find_map(|l| l.strip_prefix("svarinn_url = \"http://127.0.0.1:"))
        .and_then(|rest| rest.strip_suffix('"'))
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no closed-port url in {config}"))?;
    let out = doctor(&w.config_path, false)?;
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(3), "{shown}");
    assert!(
        shown.contains(&format!(
            "open the firewall for outgoing TCP to 127.0.0.1 at 127.0.0.1 port {port}"
        )),
        "{shown}"
    );
    Ok(())
}

/// `inn/` not writable: the drop-folder line names it. `--json` parses and
/// has the documented shape.
#[test]
fn an_unwritable_drop_folder_is_named_and_json_parses() -> Result<()> {
    let w = World::single(System::new("ms-a"))?;
    let drop = w.first()?.drop_folder.clone();
    // check-config (run by doctor first) makes the layout; then take inn/ away.
    let _ = doctor(&w.config_path, false)?;
    let inn = drop.join("inn");
    let root = is_root();
    if root {
        // root may write in any folder: make inn/ a file instead.
        std::fs::remove_dir(&inn)?;
        std::fs::write(&inn, b"not a folder")?;
    } else {
        std::fs::set_permissions(&inn, std::fs::Permissions::from_mode(0o500))?;
    }
    let out = doctor(&w.config_path, true);
    if !root {
        std::fs::set_permissions(&inn, std::fs::Permissions::from_mode(0o750))?;
    }
    let out = out?;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let json: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(json["read_only"], true);
    assert_eq!(json["exit_code"], 3);
    let checks = json["checks"].as_array().cloned().unwrap_or_default();
    let failed: Vec<&Value> = checks.iter().filter(|c| c["outcome"] == "fail").collect();
    assert!(!failed.is_empty(), "{json:#}");
    assert!(failed.iter().all(|c| c["kind"] == "drop-folder"), "{json:#}");
    assert_eq!(failed[0]["subject"], inn.display().to_string());
    assert!(failed[0]["fix"].as_str().is_some_and(|f| f.contains("write access")));
    Ok(())
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}
