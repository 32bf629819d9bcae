//! Runs the real `mottak-demo` launcher without a console and checks, from the outside, that
//! it does what the README promises: forsendelser flow through the agent to the fagsystem
//! script, some fail (reported to SvarInn, turned down by the fagsystem); the other way,
//! saksoppdateringer from `fagsystem-ut.sh` reach the fake Fiks Digisos and come back in
//! `ut-sendt/` with a `kvittering.json`, some in `ut-feilet/` with a `feil.txt`; byggesak on
//! SvarInn V2 and nav-sosial on V1, each acknowledged through its own API; and when the
//! demo stops — after `--for`, on Ctrl-C, or because a part died — every process it started is
//! gone and its temporary folder removed.
//!
//! The launcher builds `mottak-agent` and `mottak` itself (in this test's profile) before it
//! starts, as it does for `cargo run -p mottak-demo`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// One demo at a time: each runs an agent and two scripts, and the machine may have two cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// The launcher running, its stdout read line by line on a thread.
struct Demo {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Demo {
    fn start(args: &[&str]) -> Demo {
        Self::start_with(args, &[])
    }

    fn start_with(args: &[&str], env: &[(&str, &str)]) -> Demo {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mottak-demo"))
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start mottak-demo");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                eprintln!("demo| {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Demo {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// Reads lines until one contains `needle` (returns it), or panics after `limit`.
    fn wait_line(&mut self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line with {needle:?} within {limit:?}; output so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Waits for the launcher to exit; returns its status and the rest of its output.
    fn finish(mut self, limit: Duration) -> (ExitStatus, Vec<String>) {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for mottak-demo") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "mottak-demo did not stop within {limit:?}; output:\n{}",
                    self.seen.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        // The reader thread ends with the pipe.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        (status, self.seen)
    }
}

/// `key=value` pairs of the `summary:` line.
fn summary(lines: &[String]) -> BTreeMap<String, u64> {
    let line = lines
        .iter()
        .find_map(|l| l.strip_prefix("summary: "))
        .unwrap_or_else(|| panic!("no summary line in:\n{}", lines.join("\n")));
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.parse().expect("a number")))
        .collect()
}

/// Every `pid N` the launcher printed (its children, each the leader of its own group).
fn pids(lines: &[String]) -> Vec<u32> {
    let mut out = Vec::new();
    for line in lines {
        let mut rest = line.as_str();
        while let Some(i) = rest.find("pid ") {
            rest = &rest[i + 4..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(pid) = digits.parse() {
                out.push(pid);
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The temporary folder named in the intro.
fn demo_folder(lines: &[String]) -> PathBuf {
    let line = lines
        .iter()
        .find_map(|l| l.split_once("Everything lives in ").map(|(_, r)| r))
        .unwrap_or_else(|| panic!("no folder in:\n{}", lines.join("\n")));
    PathBuf::from(line.split(' ').next().expect("a path"))
}

/// Processes alive whose pid or process group is one of `pids`.
fn survivors(pids: &[u32]) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp ...; comm may hold spaces, so split after the last ')'.
        let Some((head, tail)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = tail.split_whitespace().collect();
        let state = fields.first().copied().unwrap_or("");
        let pgrp: u32 = fields.get(2).and_then(|f| f.parse().ok()).unwrap_or(0);
        if state != "Z" && (pids.contains(&pid) || pids.contains(&pgrp)) {
            out.push(format!("{pid} {head}) {state} pgrp {pgrp}"));
        }
    }
    out
}

/// The number after `label` in a status line (`... out: sent to Fiks 3  failed ...`).
fn number_after(line: &str, label: &str) -> Option<u64> {
    let rest = &line[line.find(label)? + label.len()..];
    rest.trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Sub-folders of `dir`, by name.
fn folders(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    out
}

/// nav-sosial's outbound folders while the demo runs: each `ut-sendt/` folder has a
/// `kvittering.json` that says `sendt` for its case (named by the folder) and the document
/// it sent; each `ut-feilet/` folder a `feil.txt` naming a problem. Returns how many of each.
fn check_outbound_folders(folder: &Path) -> (usize, usize) {
    let drop = folder.join("drop").join("nav-sosial");
    let sendt = folders(&drop.join("ut-sendt"));
    for dir in &sendt {
        let text = std::fs::read_to_string(dir.join("kvittering.json"))
            .unwrap_or_else(|e| panic!("{}: no kvittering.json: {e}", dir.display()));
        let k: serde_json::Value = serde_json::from_str(&text).unwrap();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let case = k["digisosId"].as_str().unwrap_or_default();
        assert!(
            !case.is_empty() && name.starts_with(&format!("{case}-")),
            "{name}: {text}"
        );
        assert_eq!(k["status"], "sendt", "{name}: {text}");
        assert!(dir.join("digisos-soker.json").is_file(), "{name}");
    }
    let feilet = folders(&drop.join("ut-feilet"));
    for dir in &feilet {
        let text = std::fs::read_to_string(dir.join("feil.txt"))
            .unwrap_or_else(|e| panic!("{}: no feil.txt: {e}", dir.display()));
        assert!(
            text.lines().any(|l| l.starts_with("- ")),
            "{}: feil.txt names no problem:\n{text}",
            dir.display()
        );
    }
    (sendt.len(), feilet.len())
}

/// The `forsendelse.json` of each forsendelse `name`'s fagsystem has imported, parsed.
fn imported_metadata(folder: &Path, name: &str) -> Vec<serde_json::Value> {
    folders(&folder.join("fagsystem").join(name))
        .iter()
        .filter(|dir| !dir.file_name().unwrap().to_string_lossy().starts_with('.'))
        .filter_map(|dir| std::fs::read_to_string(dir.join("forsendelse.json")).ok())
        .map(|text| serde_json::from_str(&text).unwrap())
        .collect()
}

/// byggesak speaks SvarInn V2 and nav-sosial V1: each one's fagsystem sees its API's JSON
/// (V2's `nedlastingslenke` and `filer`, V1's `downloadUrl` and `filmetadata`). Returns how
/// many V2 forsendelser were checked.
fn check_api_per_system(folder: &Path) -> usize {
    let v2 = imported_metadata(folder, "byggesak");
    for f in &v2 {
        assert!(
            f["nedlastingslenke"].is_string() && f["filer"].is_array(),
            "byggesak (V2) got: {f}"
        );
        assert!(f.get("downloadUrl").is_none(), "byggesak (V2) got: {f}");
    }
    for f in imported_metadata(folder, "nav-sosial") {
        assert!(
            f["downloadUrl"].is_string() && f["filmetadata"].is_array(),
            "nav-sosial (V1) got: {f}"
        );
    }
    v2.len()
}

fn assert_cleaned_up(lines: &[String], folder: &Path) {
    let pids = pids(lines);
    assert!(
        pids.len() >= 4,
        "expected the agent's, two fagsystem and one fagsystem-ut pids in:\n{}",
        lines.join("\n")
    );
    let left = survivors(&pids);
    assert!(left.is_empty(), "still running: {left:?}");
    assert!(
        !folder.exists(),
        "the demo's folder {} was not removed",
        folder.display()
    );
}

/// Whether `rabbitmq-server` is installed where the demo looks (as the fixtures decide).
fn rabbitmq_installed() -> bool {
    mottak_fixtures::rabbitmq::installed_server().is_some()
}

/// Forsendelser flow, some fail; saksoppdateringer reach Fiks, some fail; with
/// `rabbitmq-server`, Fiks IO messages reach nav-sosial's fagsystem and receipts reach the fake
/// Fiks IO; and all is stopped and removed after `--for`.
#[test]
fn runs_for_a_while_then_stops_everything() {
    let _one = serial();
    let fiks_io = rabbitmq_installed();
    // The broker boots in 10-30 s and the agent's login retries back off (5, 15, 35 s).
    let run_for = if fiks_io { "90s" } else { "35s" };
    let mut demo = Demo::start(&["--no-console", "--for", run_for, "--trickle", "1"]);
    let intro = demo.wait_line("Everything lives in", Duration::from_secs(600));
    let folder = demo_folder(&[intro]);
    // While it runs: updates sent to Fiks and some in ut-feilet/, seen in the folders too.
    let line = loop {
        let line = demo.wait_line("out: sent to Fiks", Duration::from_secs(40));
        if number_after(&line, "sent to Fiks").unwrap() >= 2
            && number_after(&line, "failed (ut-feilet/)").unwrap() >= 1
        {
            break line;
        }
    };
    let (sendt, feilet) = check_outbound_folders(&folder);
    assert!(
        sendt >= 2 && feilet >= 1,
        "{line}: {sendt} sendt, {feilet} feilet"
    );
    let v2_imported = check_api_per_system(&folder);
    assert!(
        v2_imported >= 1,
        "{line}: nothing imported for byggesak (V2)"
    );
    if fiks_io {
        let config = std::fs::read_to_string(folder.join("agent.toml")).unwrap();
        assert!(config.contains("[mottakersystem.fiks_io]"), "{config}");
        assert!(
            config.contains("[mottakersystem.fiks_io.maskinporten]"),
            "{config}"
        );
    }
    let (status, lines) = demo.finish(Duration::from_secs(180));
    assert!(status.success(), "{status}:\n{}", lines.join("\n"));
    let s = summary(&lines);
    if fiks_io {
        assert_eq!(s["fiksio_up"], 1, "the broker never came up: {s:?}");
        assert!(s["fiksio_published"] >= 6, "few Fiks IO messages: {s:?}");
        assert!(s["fiksio_broken"] >= 2, "{s:?}");
        assert!(
            s["fiksio_fallbacks"] >= 1,
            "no SvarInn fallback sent: {s:?}"
        );
        assert!(
            s["fiksio_delivered"] >= 2,
            "no Fiks IO message reached nav-sosial's drop folder: {s:?}"
        );
        assert!(
            s["fiksio_receipts"] >= 2,
            "no receipt reached Fiks IO: {s:?}"
        );
        // The broken ones are never delivered nor answered.
        assert!(
            s["fiksio_delivered"] <= s["fiksio_published"] - s["fiksio_broken"],
            "{s:?}"
        );
    } else {
        assert_eq!(s["fiksio_shown"], 0, "{s:?}");
        assert!(lines.iter().any(|l| l.contains("Fiks IO is not shown")));
    }
    assert!(s["sent"] >= 20, "{s:?}");
    assert!(s["acked"] >= 5, "nothing acknowledged: {s:?}");
    assert!(
        s["acked_v2"] >= 2,
        "byggesak acknowledged little through SvarInn V2: {s:?}"
    );
    assert!(
        s["acked_v2"] < s["acked"],
        "nav-sosial (V1) acknowledged nothing: {s:?}"
    );
    assert_eq!(
        s["wrong_api"], 0,
        "the agent used the wrong API's paths: {s:?}"
    );
    assert!(s["imported"] >= 5, "the fagsystem imported little: {s:?}");
    assert!(
        s["failed"] >= 1,
        "no forsendelse was reported failed to SvarInn: {s:?}"
    );
    assert!(
        s["rejected"] >= 1,
        "the fagsystem turned nothing down: {s:?}"
    );
    assert!(s["ut_cases"] >= 2, "few NAV søknader: {s:?}");
    assert!(
        s["ut_sent"] >= 4,
        "few saksoppdateringer reached Fiks: {s:?}"
    );
    assert!(s["ut_files"] >= 1, "no vedtak.pdf uploaded to Fiks: {s:?}");
    assert!(
        s["ut_refused"] >= 1,
        "Fiks refused nothing (the 403 case): {s:?}"
    );
    assert!(s["ut_failed"] >= 1, "nothing in ut-feilet/: {s:?}");
    assert!(s["ut_sendt"] >= 2, "few folders in ut-sendt/: {s:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("mottak-agent") && l.contains("exit status: 0")),
        "the agent did not exit cleanly:\n{}",
        lines.join("\n")
    );
    assert_cleaned_up(&lines, &demo_folder(&lines));
}

/// Ctrl-C (SIGINT to the launcher) stops everything cleanly. Run without `rabbitmq-server` (a
/// path where it is not), the demo says how to get Fiks IO and runs the rest.
#[test]
fn ctrl_c_stops_everything() {
    let _one = serial();
    let mut demo = Demo::start_with(
        &["--no-console", "--trickle", "1"],
        &[("MOTTAK_RABBITMQ_SERVER", "/nonexistent/rabbitmq-server")],
    );
    demo.wait_line("Everything lives in", Duration::from_secs(600));
    demo.wait_line(
        "Fiks IO is not shown: rabbitmq-server is not installed (apt-get install rabbitmq-server",
        Duration::from_secs(10),
    );
    // Running: the first status line.
    demo.wait_line("acknowledged", Duration::from_secs(60));
    let pid = rustix::process::Pid::from_raw(demo.child.id() as i32).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::INT).expect("SIGINT");
    let (status, lines) = demo.finish(Duration::from_secs(60));
    assert!(status.success(), "{status}:\n{}", lines.join("\n"));
    assert!(lines.iter().any(|l| l.contains("Ctrl-C: demo stopped")));
    assert_cleaned_up(&lines, &demo_folder(&lines));
}

/// When a part dies (the agent, killed), the demo says so, stops the rest and fails.
#[test]
fn a_part_dying_stops_the_demo_with_a_message() {
    let _one = serial();
    let mut demo = Demo::start(&["--no-console", "--trickle", "1", "--for", "5m"]);
    demo.wait_line("Everything lives in", Duration::from_secs(600));
    let agent_line = demo.wait_line("mottak-agent   pid", Duration::from_secs(10));
    let agent_pid = pids(&[agent_line])[0];
    demo.wait_line("acknowledged", Duration::from_secs(60));
    let pid = rustix::process::Pid::from_raw(agent_pid as i32).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).expect("SIGKILL the agent");
    let (status, lines) = demo.finish(Duration::from_secs(60));
    assert!(
        !status.success(),
        "the demo should fail when the agent dies"
    );
    assert!(
        lines.iter().any(
            |l| l.contains("stopped because the mottak-agent stopped") && l.contains("SIGKILL")
        ),
        "no clear message:\n{}",
        lines.join("\n")
    );
    assert_cleaned_up(&lines, &demo_folder(&lines));
}
