//! `mottak-agent doctor` against the strict fakes: all pass → exit 0 and the
//! fakes saw only reads; a wrong password, a refused Maskinporten scope, a
//! missing Digisos privilege, a closed port and an unwritable drop folder
//! each give a failing line that names the fix; `--json` parses; the running
//! agent shows the last result in the console's Integrations view.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::Result;
use mottak_fixtures::digisos::RequestKind;
use mottak_fixtures::svarinn::{EventKind, NewForsendelse, Plaintext};
use mottak_protocol::console::DoctorResult;
use mottak_tests::binary;
use mottak_tests::harness::{Endpoint, System, World};
use mottak_tests::outbound_harness::{CLIENT_ID, FIKS_ORG, Options, OutboundWorld};
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
/// Fiks saw only GETs: the public key and a file list). The result is stored
/// for the console.
#[test]
fn all_pass_exits_0_and_the_fakes_see_only_reads() -> Result<()> {
    let w = OutboundWorld::start(Options::default())?;
    let user = w.world.first()?.spec.username.clone();
    let id = w
        .world
        .block_on(w.world.fake.add_forsendelse(NewForsendelse::pdf(
            &user,
            "brev.pdf",
            Plaintext::Bytes(b"%PDF-1.4 doctor".to_vec()),
        )))?;
    let out = doctor(&w.world.config_path, false)?;
    let shown = text(&out);
    eprintln!("{shown}");
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(shown.contains("read-only"), "{shown}");
    assert!(shown.contains("resolves to 127.0.0.1"), "{shown}");
    assert!(shown.contains("1 forsendelser waiting"), "{shown}");
    assert!(shown.contains("token granted"), "{shown}");
    assert!(shown.contains("privilege present"), "{shown}");
    assert!(
        shown.contains("skip    [nav-ut] fiks-io Fiks IO: not configured"),
        "{shown}"
    );
    assert!(!shown.contains("FAIL"), "{shown}");

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
        fiks.iter()
            .all(|e| matches!(e.kind, RequestKind::PublicKey | RequestKind::ListFiles)),
        "{fiks:?}"
    );

    let stored: Value = serde_json::from_slice(&std::fs::read(
        w.world.root.join("state").join("doctor-last.json"),
    )?)?;
    assert_eq!(stored["exit_code"], 0);
    Ok(())
}

/// The world's config with `edit` applied, written beside it (same state dir).
fn edited_config(config: &Path, edit: impl Fn(&str) -> String) -> Result<PathBuf> {
    let text = std::fs::read_to_string(config)?;
    let edited = edit(&text);
    anyhow::ensure!(edited != text, "the edit changed nothing in {text}");
    let path = config.with_file_name("agent-edited.toml");
    std::fs::write(&path, edited)?;
    Ok(path)
}

/// The FAIL line of `kind` and the fix under it.
fn failing(shown: &str, scope: &str, kind: &str) -> String {
    shown
        .lines()
        .skip_while(|l| !l.starts_with(&format!("FAIL    [{scope}] {kind} ")))
        .take(2)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Maskinporten refuses the scope: the maskinporten line names the scope
/// and the client, and Fiks is not asked at all.
#[test]
fn a_refused_scope_is_named() -> Result<()> {
    let w = OutboundWorld::start(Options::default())?;
    let config = edited_config(&w.world.config_path, |t| {
        t.replace(
            &format!("client_id = \"{CLIENT_ID}\""),
            &format!("client_id = \"{CLIENT_ID}\"\nscope = \"ks:annet\""),
        )
    })?;
    let out = doctor(&config, false)?;
    let shown = text(&out);
    eprintln!("{shown}");
    assert_eq!(out.status.code(), Some(3), "{shown}");
    let line = failing(&shown, "nav-ut", "maskinporten");
    assert!(line.contains("invalid_scope"), "{shown}");
    assert!(
        line.contains("Maskinporten refused the scope \"ks:annet\""),
        "{shown}"
    );
    assert!(
        line.contains(&format!("give client {CLIENT_ID} the scope ks:fiks")),
        "{shown}"
    );
    assert!(w.fiks.events().is_empty(), "{:?}", w.fiks.events());
    Ok(())
}

/// The integration has no Digisos privilege on the organisation in the
/// config: the privilege line fails (Fiks's 403) and names integration and
/// organisation; the public key (no organisation) still passed.
#[test]
fn a_missing_digisos_privilege_is_named() -> Result<()> {
    let w = OutboundWorld::start(Options::default())?;
    let other = "22222222-e26d-499a-8421-751457dfcbd5";
    let config = edited_config(&w.world.config_path, |t| t.replace(FIKS_ORG, other))?;
    let out = doctor(&config, false)?;
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(3), "{shown}");
    assert!(
        shown.contains("pass    [nav-ut] digisos GET dokumentlager-public-key"),
        "{shown}"
    );
    let line = failing(&shown, "nav-ut", "digisos");
    assert!(line.contains("403"), "{shown}");
    assert!(
        line.contains(&format!("the Digisos privilege for organisation {other}")),
        "{shown}"
    );
    let fiks = w.fiks.events();
    assert!(
        fiks.iter()
            .all(|e| matches!(e.kind, RequestKind::PublicKey | RequestKind::ListFiles)),
        "{fiks:?}"
    );
    Ok(())
}

/// The running agent shows the last result in the console's Integrations
/// view, with its time, and the next run replaces it.
#[test]
fn the_console_shows_the_last_result_with_its_time() -> Result<()> {
    let w = OutboundWorld::start(Options::default())?;
    w.grant_operator()?;
    let mut agent = w.spawn_agent()?;
    let doctor_of = |want: &dyn Fn(&DoctorResult) -> bool| -> Result<DoctorResult> {
        let start = Instant::now();
        loop {
            let state = w.console_state(Duration::from_secs(20))?;
            let got = state
                .integrations
                .iter()
                .find(|i| i.mottakersystem == "nav-ut")
                .and_then(|i| i.doctor.clone());
            match got {
                Some(d) if want(&d) => return Ok(d),
                other if start.elapsed() > Duration::from_secs(20) => {
                    anyhow::bail!("the console never showed the expected doctor result: {other:?}")
                }
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    };
    let before = w.console_state(Duration::from_secs(20))?;
    assert_eq!(before.integrations[0].doctor, None);

    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    };
    let started = now_ms();
    let out = doctor(&w.world.config_path, true)?;
    let ended = now_ms();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let json: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(json["exit_code"], 0);
    let shown = doctor_of(&|d| d.exit_code == 0)?;
    assert!(
        (started..=ended).contains(&shown.at),
        "{started} {shown:?} {ended}"
    );
    assert_eq!((shown.failed, shown.config_errors), (0, 0));
    assert!(shown.passed >= 8, "{shown:?}");
    assert!(shown.failures.is_empty(), "{shown:?}");

    let config = edited_config(&w.world.config_path, |t| {
        t.replace(
            &format!("client_id = \"{CLIENT_ID}\""),
            &format!("client_id = \"{CLIENT_ID}\"\nscope = \"ks:annet\""),
        )
    })?;
    let out = doctor(&config, false)?;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let shown = doctor_of(&|d| d.exit_code == 3)?;
    assert_eq!(shown.failed, 1, "{shown:?}");
    assert_eq!(shown.failures[0].kind, "maskinporten");
    assert!(
        shown.failures[0]
            .fix
            .as_ref()
            .is_some_and(|f| f.raw().contains("ks:annet")),
        "{shown:?}"
    );
    agent.assert_running()?;
    agent.terminate(Duration::from_secs(10))?;
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

/// A V2 mottakersystem: the probe lists V2's forsendelser (the fake answers V1's paths 404
/// and records them, so a V1 probe would fail), and changes nothing.
#[test]
fn a_v2_mottakersystem_probes_the_v2_list() -> Result<()> {
    let w = World::builder()
        .api(mottak_fixtures::svarinn::SvarInnApi::V2)
        .system(System::new("ms-v2"))
        .start()?;
    let ids = w.block_on(w.fake.generate(2, 300))?;
    let out = doctor(&w.config_path, false)?;
    let shown = text(&out);
    let line = shown
        .lines()
        .find(|l| l.contains("[ms-v2] svarinn"))
        .unwrap_or_default();
    assert!(
        line.starts_with("pass")
            && line.contains("GET /api/svarinn/v2/forsendelser as ")
            && shown.contains("2 forsendelser waiting"),
        "{shown}"
    );
    assert!(
        w.fake.other_api_requests().is_empty(),
        "{:?}",
        w.fake.other_api_requests()
    );
    assert!(w.fake.downloads().is_empty() && w.fake.kvitteringer().is_empty());
    assert_eq!(
        w.fake.waiting_ids(&w.first()?.spec.username).len(),
        ids.len()
    );
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
    assert!(
        failed.iter().all(|c| c["kind"] == "drop-folder"),
        "{json:#}"
    );
    assert_eq!(failed[0]["subject"], inn.display().to_string());
    assert!(
        failed[0]["fix"]
            .as_str()
            .is_some_and(|f| f.contains("write access"))
    );
    Ok(())
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}
