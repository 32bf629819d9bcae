//! Issue 12, point 9: ids and folder names the fagsystem chose reach a
//! console masked. A folder in `ut/` named after a person's fødselsnummer,
//! written together or in the printed form, never shows the number in the
//! console state (`update_id`, `digisos_id`, `failed_folder`, `feil.txt`),
//! and the console can still retry it by the id it was shown. A folder
//! name with a line break cannot forge a line in the agent's log file.

use std::fs;
use std::time::Duration;

use anyhow::Result;
use mottak_protocol::console::{Command as ConsoleCommand, Outcome};
use mottak_tests::outbound_harness::{Options, OutboundWorld, SYSTEM};

const LIMIT: Duration = Duration::from_secs(30);
/// Valid fødselsnumre (both control digits right): the folder names.
const FNR: [&str; 2] = ["01019012480", "31129956715"];

#[test]
fn a_folder_named_after_a_fodselsnummer_reaches_no_console() -> Result<()> {
    let w = OutboundWorld::start(Options::default())?;
    w.grant_operator()?;
    let mut agent = w.spawn_agent()?;
    let together = FNR[0].to_owned();
    let printed = format!("{}-{}", &FNR[1][..6], &FNR[1][6..]);
    for name in [&together, &printed] {
        let dir = w.ut()?.join(name);
        fs::create_dir_all(&dir)?;
        fs::write(dir.join("digisos-soker.json"), b"{\"version\": ")?;
        fs::write(dir.join("KLAR"), b"")?;
    }
    // Point 10: a folder name with a line break that looks like an event.
    let forging = "sak\n2026-12-03T12:00:00.000000Z  INFO mottak_agent: FORGED";
    let dir = w.ut()?.join(forging);
    fs::create_dir_all(&dir)?;
    fs::write(dir.join("digisos-soker.json"), b"{")?;
    fs::write(dir.join("KLAR"), b"")?;
    for name in [&together, &printed] {
        w.wait_feilet(&mut agent, &format!("{name}-"), LIMIT)?;
    }
    w.wait_feilet(&mut agent, "sak", LIMIT)?;
    let mut state = w.console_state(LIMIT)?;
    for _ in 0..100 {
        if state
            .outbound
            .iter()
            .map(|o| o.failures.len())
            .sum::<usize>()
            >= 2
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        state = w.console_state(LIMIT)?;
    }
    // What the agent sent, as received (`raw` on a console is the wire's).
    let wire = serde_json::to_string(&state)?;
    let failures: Vec<_> = state.outbound.iter().flat_map(|o| &o.failures).collect();
    assert_eq!(failures.len(), 3, "{wire}");
    for f in &failures {
        let sent = [
            f.update_id.raw(),
            f.digisos_id.raw(),
            f.failed_folder.as_ref().map_or("", |x| x.raw()),
        ];
        for s in sent {
            for fnr in FNR {
                assert!(!s.contains(fnr), "{s} in {wire}");
                assert!(!s.contains(&fnr[6..]), "{s} in {wire}");
            }
        }
        let ours = !f.digisos_id.raw().starts_with("sak");
        assert!(!ours || f.digisos_id.raw().contains("*****"), "{wire}");
    }
    for fnr in FNR {
        assert!(!wire.contains(fnr), "{fnr} in {wire}");
        assert!(
            !wire.contains(&format!("{}-{}", &fnr[..6], &fnr[6..])),
            "{wire}"
        );
    }
    assert!(wire.contains("\"digisos_id\":\"***********\""), "{wire}");
    assert!(wire.contains("\"digisos_id\":\"******-*****\""), "{wire}");

    // The console retries by the id it was shown; the agent finds the one
    // update that shows as it (it fails again: the JSON is still bad).
    let shown = failures
        .iter()
        .find(|f| f.digisos_id.raw() == "***********")
        .map(|f| f.update_id.raw().to_owned())
        .ok_or_else(|| anyhow::anyhow!("no failure shown as *********** in {wire}"))?;
    match w.console_command(
        ConsoleCommand::Retry {
            mottakersystem: SYSTEM.into(),
            forsendelse: shown.clone(),
        },
        LIMIT,
    )? {
        Outcome::Ok { message } => {
            assert!(message.contains("queued again"), "{message}");
            assert!(!message.contains(FNR[0]), "{message}");
        }
        err => panic!("the retry by the shown id {shown} was refused: {err:?}"),
    }
    agent.terminate(LIMIT)?;
    let mut log = String::new();
    for f in w.world.log_dir_files()? {
        log.push_str(&fs::read_to_string(f)?);
    }
    assert!(
        log.contains("FORGED"),
        "the folder is not in the log:\n{log}"
    );
    for line in log.lines() {
        assert!(
            line.starts_with("20") && !line.starts_with("2026-12-03T12:00:00"),
            "a line that is not an event of its own: {line:?}"
        );
        for fnr in FNR {
            assert!(!line.contains(fnr), "{fnr} in {line}");
        }
    }
    Ok(())
}
