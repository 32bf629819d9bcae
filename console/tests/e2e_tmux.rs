//! The real `mottak` binary in a real terminal (tmux), against a real `mottak-agent run` and
//! the fake SvarInn: the admin finds a failed import, retries it once the sender's side is
//! fixed, and sees it leave the list; on `q` the console exits 0 and leaves the terminal as it
//! found it (main screen, cursor shown, cooked mode).
//!
//! Needs tmux (skipped with a message when it is missing) and the workspace's binaries built
//! in this profile (`cargo test --workspace` does both).

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use mottak_fixtures::svarinn::{Corruption, Fault, RequestKind, Scope};
use mottak_tests::binary;
use mottak_tests::harness::{System, World};

/// A tmux server of our own (`-L`), so the test never touches the user's sessions; killed
/// with everything in it when dropped.
struct Tmux {
    server: String,
    session: String,
}

impl Tmux {
    fn available() -> bool {
        Command::new("tmux")
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn tmux(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-L").arg(&self.server);
        c
    }

    fn run(&self, args: &[&str]) -> Result<Output> {
        let out = self
            .tmux()
            .args(args)
            .output()
            .with_context(|| format!("tmux {args:?}"))?;
        if !out.status.success() {
            bail!(
                "tmux {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(out)
    }

    /// A detached session of `width`x`height` running `shell` (through `sh -c`).
    fn start(shell: &str, width: u16, height: u16) -> Result<Tmux> {
        let t = Tmux {
            server: format!("mottak-e2e-{}", std::process::id()),
            session: "console".to_owned(),
        };
        t.run(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            &t.session,
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            shell,
        ])?;
        Ok(t)
    }

    /// Keys as tmux names them (`q`, `Enter`, `Escape`, `Tab`).
    fn send(&self, keys: &[&str]) -> Result<()> {
        let mut args = vec!["send-keys", "-t", &self.session];
        args.extend_from_slice(keys);
        self.run(&args).map(|_| ())
    }

    fn screen(&self) -> Result<String> {
        let out = self.run(&["capture-pane", "-p", "-t", &self.session])?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// A tmux format of the pane, e.g. `#{alternate_on}`.
    fn format(&self, f: &str) -> Result<String> {
        let out = self.run(&["display-message", "-p", "-t", &self.session, f])?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Waits until the screen satisfies `ok`; the error shows the last screen.
    fn wait(&self, what: &str, limit: Duration, ok: impl Fn(&str) -> bool) -> Result<String> {
        let start = Instant::now();
        loop {
            let screen = self.screen()?;
            if ok(&screen) {
                return Ok(screen);
            }
            if start.elapsed() > limit {
                bail!("timed out after {limit:?} waiting for {what}; the screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self
            .tmux()
            .arg("kill-server")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The login name the agent will see on its socket.
fn login_name() -> Result<String> {
    let out = Command::new("id")
        .arg("-un")
        .output()
        .context("running id -un")?;
    let name = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || name.is_empty() {
        bail!("id -un named nobody");
    }
    Ok(name)
}

fn quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

#[test]
fn admin_finds_a_failed_import_retries_it_and_it_leaves_the_list() -> Result<()> {
    if !Tmux::available() {
        eprintln!("SKIP e2e_tmux: tmux is not installed; install tmux to run this test");
        return Ok(());
    }
    // One download attempt: a bad file fails at once.
    let world = World::builder()
        .system(System::new("e2e").max_decrypt_attempts(1))
        .start()?;
    let ids = world.block_on(world.fake.generate(3, 40_000))?;
    let bad = ids[1].clone();
    let good: Vec<String> = ids.iter().filter(|i| **i != bad).cloned().collect();
    let fault = world.fake.inject(
        Fault::CorruptCiphertext(Corruption::Padding),
        Scope::forsendelse(&bad).on(RequestKind::Download),
    )?;

    let me = login_name()?;
    let granted = Command::new(binary("mottak-agent")?)
        .args(["access", "--config"])
        .arg(&world.config_path)
        .args(["grant", "--user", &me, "--role", "admin", "--all"])
        .output()?;
    assert!(
        granted.status.success(),
        "access grant: {}",
        String::from_utf8_lossy(&granted.stderr)
    );

    let mut agent = world.spawn_agent()?;
    world.wait_state(
        &mut agent,
        std::slice::from_ref(&bad),
        "failed",
        Duration::from_secs(60),
    )?;
    world.wait_state(&mut agent, &good, "acked", Duration::from_secs(60))?;
    // The sender sends it again, right this time.
    assert!(world.fake.remove_fault(fault));

    let socket = world.root.join("state").join("console.sock");
    let shell = format!(
        "{} --lang en --socket {}; echo MOTTAK-EXITED $?; \
         stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e -icanon; sleep 120",
        quote(Path::new(env!("CARGO_BIN_EXE_mottak"))),
        quote(&socket)
    );
    let tmux = Tmux::start(&shell, 100, 30)?;
    let short = &bad[..8];

    tmux.wait("the console to connect", Duration::from_secs(20), |s| {
        s.contains("connected") && s.contains("e2e")
    })?;
    // The failed imports view (`2`; Tab also gets there).
    tmux.send(&["2"])?;
    let screen = tmux.wait(
        "the failed import in the list",
        Duration::from_secs(10),
        |s| s.contains("Failed imports") && s.contains(short),
    )?;
    eprintln!("--- the failed imports view ---\n{screen}");
    assert!(
        good.iter().all(|g| !screen.contains(&g[..8])),
        "acknowledged forsendelser are not failed imports:\n{screen}"
    );
    // Retry, then confirm.
    tmux.send(&["r"])?;
    tmux.wait("the retry question", Duration::from_secs(5), |s| {
        s.contains("Retry 1 forsendelse")
    })?;
    tmux.send(&["y"])?;
    let gone = tmux.wait(
        "the retried forsendelse to leave the list",
        Duration::from_secs(60),
        |s| s.contains("Failed imports") && !s.contains(short),
    )?;
    eprintln!("--- after the retry ---\n{gone}");
    world.wait_state(
        &mut agent,
        std::slice::from_ref(&bad),
        "acked",
        Duration::from_secs(60),
    )?;
    assert!(
        world.fake.acked_ids().contains(&bad),
        "SvarInn got no kvittering for the retried forsendelse"
    );

    tmux.send(&["q"])?;
    let after = tmux.wait("the console to exit", Duration::from_secs(10), |s| {
        s.contains("MOTTAK-EXITED")
    })?;
    assert!(
        after.contains("MOTTAK-EXITED 0"),
        "the console did not exit 0:\n{after}"
    );
    let cooked = tmux.wait("stty's answer", Duration::from_secs(5), |s| {
        s.lines()
            .any(|l| l.trim() == "icanon" || l.trim() == "-icanon")
    })?;
    assert!(
        cooked.lines().any(|l| l.trim() == "icanon"),
        "the terminal was left in raw mode:\n{cooked}"
    );
    assert_eq!(
        tmux.format("#{alternate_on}")?,
        "0",
        "the alternate screen was not left"
    );
    assert_eq!(
        tmux.format("#{cursor_flag}")?,
        "1",
        "the cursor was left hidden"
    );
    Ok(())
}
