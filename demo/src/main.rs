//! `mottak-demo`: the whole of Mottak on one machine, in one terminal.
//!
//! Starts, in a temporary folder: the fake SvarInn, the fake Maskinporten and the fake Fiks
//! Digisos (in this process), with a steady stream of forsendelser, some broken in each way the
//! fake can break them; a real `mottak-agent run` with keys from `mottak-agent keygen` and two
//! mottakersystemer, one of which (nav-sosial, on SvarInn V1) also sends saksoppdateringer to
//! Fiks Digisos while the other (byggesak) speaks SvarInn V2, as a new install would;
//! `fagsystem.sh` for each drop folder (imports most, rejects a few) and `fagsystem-ut.sh` for
//! nav-sosial (answers each imported NAV søknad through `ut/`, some updates wrong on purpose);
//! when `rabbitmq-server` is installed, Fiks IO to nav-sosial's konto (a real broker, booted in
//! the background); and the console `mottak`, attached to the terminal. When the console exits (or on Ctrl-C,
//! or when a part dies) everything is stopped and the folder removed.
//!
//! Module map: [`bins`] finds (and builds) the programs, [`setup`] writes the temporary world,
//! [`fiks`] is the outbound side's fakes and cases, [`fiks_io`] the broker and the Fiks IO
//! messages, [`trickle`] the stream of forsendelser and their faults, [`procs`] the child
//! processes.

mod bins;
mod fiks;
mod fiks_io;
mod folders;
mod procs;
mod setup;
mod trickle;

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::{Command, ExitCode, ExitStatus};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use mottak_fixtures::svarinn::{
    EventKind, FakeSvarInn, FakeSvarInnHandle, MottakersystemSpec, SvarInnApi,
};
use tokio::signal::unix::{SignalKind, signal};

use crate::folders::{folders_in, folders_with};
use crate::procs::Proc;
use crate::setup::System;

#[derive(Debug, Parser)]
#[command(
    name = "mottak-demo",
    about = "A complete local demo of Mottak: fake SvarInn and Fiks, a real agent, fagsystem scripts and the console",
    long_about = "A complete local demo of Mottak in one terminal, both directions: the fake SvarInn \
                  with a steady stream of forsendelser (some broken on purpose), a real \
                  mottak-agent with generated keys in a temporary folder, small scripts acting as \
                  the fagsystem (demo/fagsystem.sh imports; demo/fagsystem-ut.sh answers NAV's \
                  søknader with saksoppdateringer, some wrong on purpose), the fake Maskinporten \
                  and Fiks Digisos receiving them (one case refused once with 403), and the \
                  console `mottak` attached. With rabbitmq-server installed (apt-get install \
                  rabbitmq-server), NAV søknader also arrive over Fiks IO: a real broker started \
                  by the demo, some messages broken on purpose, some also sent by SvarInn as \
                  Fiks's fallback; without it the demo runs the rest and says so. Quit the \
                  console (or press Ctrl-C) and everything, the broker too, is stopped and the \
                  folder removed."
)]
struct Args {
    /// Seconds between new forsendelser.
    #[arg(long, value_name = "SECONDS", default_value_t = 3.0)]
    trickle: f64,

    /// The fagsystem turns down every N-th new forsendelse (moves it to feilet/ with feil.txt).
    #[arg(long, value_name = "N", default_value_t = 6)]
    reject_every: u32,

    /// fagsystem-ut.sh writes every N-th saksoppdatering wrong on purpose (it lands in
    /// ut-feilet/ with feil.txt, and the script writes it again, right).
    #[arg(long, value_name = "N", default_value_t = 5)]
    wrong_update_every: u32,

    /// Run everything but the console, printing a status line every few seconds.
    #[arg(long)]
    no_console: bool,

    /// Stop by itself after this long, e.g. "20s" or "5m" (default: when the console exits,
    /// or on Ctrl-C).
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
    run_for: Option<Duration>,

    /// Keep the temporary folder (journal, logs, drop folders) after the demo stops.
    #[arg(long)]
    keep: bool,

    /// Do not build mottak-agent and mottak first; use the ones beside this program.
    #[arg(long)]
    no_build: bool,

    /// Open the console at once instead of waiting for Enter.
    #[arg(long)]
    yes: bool,

    /// The console's language (nb or en); default from LANG.
    #[arg(long)]
    lang: Option<String>,
}

/// Where the intro's continuation lines start.
const INDENT: &str = "                 ";

/// Seconds between `fagsystem-ut.sh`'s rounds.
const UT_SECONDS: u32 = 2;

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| (&s[..i], &s[i..]));
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a number with s, m or h, e.g. 20s"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("{s:?}: the unit must be ms, s, m or h")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{s:?}: {e}"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("mottak-demo: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Why the demo ends.
#[derive(Debug)]
enum Ending {
    ConsoleQuit(ExitStatus),
    Signal(&'static str),
    TimeUp,
    /// A part stopped by itself.
    Died {
        name: String,
        message: String,
    },
}

fn run(args: Args) -> Result<ExitCode> {
    if !(args.trickle > 0.0 && args.trickle.is_finite()) {
        bail!("--trickle must be a positive number of seconds");
    }
    if args.reject_every == 0 {
        bail!("--reject-every must be at least 1");
    }
    if args.wrong_update_every == 0 {
        bail!("--wrong-update-every must be at least 1");
    }
    let bins = bins::locate(args.no_build)?;
    let user = setup::login_name()?;
    let tmp = tempfile::Builder::new()
        .prefix("mottak-demo-")
        .tempdir()
        .context("creating the demo's temporary folder")?;
    let root = tmp.path().to_path_buf();

    let log = std::fs::File::create(root.join("demo.log")).context("creating demo.log")?;
    tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(log))
        .with_ansi(false)
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .init();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting a tokio runtime")?;
    let result = rt.block_on(demo(&args, &bins, &user, &root));
    rt.shutdown_timeout(Duration::from_secs(2));

    if args.keep {
        let kept = tmp.keep();
        println!("The demo's folder is kept: {}", kept.display());
    } else {
        let shown = root.display().to_string();
        tmp.close()
            .with_context(|| format!("removing the demo's folder {shown}"))?;
        println!("Removed {shown}.");
    }
    result
}

async fn demo(args: &Args, bins: &bins::Bins, user: &str, root: &Path) -> Result<ExitCode> {
    let mut sigint = signal(SignalKind::interrupt()).context("installing the Ctrl-C handler")?;
    let mut sigterm = signal(SignalKind::terminate()).context("installing a SIGTERM handler")?;
    let mut sighup = signal(SignalKind::hangup()).context("installing a SIGHUP handler")?;

    let systems = setup::prepare(root, bins)?;
    let mut builder = FakeSvarInn::builder().storage_dir(root.join("fake-svarinn"));
    for s in &systems {
        builder = builder.mottakersystem(
            MottakersystemSpec::new(s.username, s.password, s.cert_pem.clone())
                .named(format!("Demo kommune {}", s.name))
                .api(s.api),
        );
    }
    let fake = Arc::new(builder.start().await.context("starting the fake SvarInn")?);
    let fiks = Arc::new(fiks::Fiks::start(root).await?);
    let fiks_io = match fiks_io::FiksIo::server() {
        Some(server) => Some(Arc::new(
            fiks_io::FiksIo::prepare(root, bins, &server, &fiks).await?,
        )),
        None => None,
    };
    let config = setup::write_config(
        root,
        &systems,
        fake.base_url(),
        Some(&fiks.settings),
        fiks_io.as_ref().map(|f| f.config_section.as_str()),
    )?;
    setup::grant_access(bins, &config, user, &systems)?;

    // The background parts, stopped in reverse order at the end.
    let mut background: Vec<Proc> = Vec::new();
    let mut agent_cmd = Command::new(&bins.agent);
    agent_cmd
        .arg("run")
        .arg("--config")
        .arg(&config)
        .current_dir(root);
    for var in [
        "NOTIFY_SOCKET",
        "WATCHDOG_USEC",
        "WATCHDOG_PID",
        "LISTEN_FDS",
        "LISTEN_PID",
        "CREDENTIALS_DIRECTORY",
        "RUST_LOG",
    ] {
        agent_cmd.env_remove(var);
    }
    background.push(Proc::spawn_background(
        "mottak-agent",
        agent_cmd,
        &root.join("agent.log"),
    )?);
    let socket = root.join("state").join("console.sock");
    wait_for_socket(&socket, &mut background[0]).await?;

    for s in &systems {
        let mut cmd = Command::new("sh");
        cmd.arg(root.join("fagsystem.sh"))
            .arg(s.drop_folder(root))
            .arg(s.archive(root))
            .arg(args.reject_every.to_string())
            .current_dir(root);
        background.push(Proc::spawn_background(
            &format!("fagsystem ({})", s.name),
            cmd,
            &root.join(format!("fagsystem-{}.log", s.name)),
        )?);
    }
    for s in systems.iter().filter(|s| s.digisos) {
        let mut cmd = Command::new("sh");
        cmd.arg(root.join("fagsystem-ut.sh"))
            .arg(s.drop_folder(root))
            .arg(s.archive(root))
            .arg(args.wrong_update_every.to_string())
            .arg(UT_SECONDS.to_string())
            .current_dir(root);
        background.push(Proc::spawn_background(
            &format!("fagsystem-ut ({})", s.name),
            cmd,
            &root.join(format!("fagsystem-ut-{}.log", s.name)),
        )?);
    }

    let users = systems
        .iter()
        .map(|s| trickle::Recipient {
            username: s.username.to_owned(),
            digisos: s.digisos,
        })
        .collect();
    let trickle = Arc::new(trickle::Trickle::new(fake.clone(), users, fiks.clone()));
    let sent = trickle.sent.clone();
    let every = Duration::from_secs_f64(args.trickle);
    let mut trickle_task = {
        let t = trickle.clone();
        tokio::spawn(async move { t.run(every).await })
    };
    // The broker boots in the background (10-30 s); the agent's Fiks IO pipeline retries its
    // login with backoff until it is up.
    let fiks_io_task = fiks_io.as_ref().and_then(|f| {
        let (f, fiks, fake) = (f.clone(), fiks.clone(), fake.clone());
        let user = systems.iter().find(|s| s.digisos)?.username;
        Some(tokio::spawn(async move {
            f.run(every * 2, &fiks, &fake, user).await
        }))
    });

    print_intro(
        args,
        bins,
        user,
        root,
        &socket,
        &systems,
        &background,
        &fake,
        &fiks,
        fiks_io.as_deref(),
    );

    let started = Instant::now();
    let deadline = args.run_for.map(|d| started + d);
    let mut console: Option<Proc> = None;
    let mut console_started = started;
    let mut waiting_for_enter = None;
    if !args.no_console {
        if args.yes || !std::io::stdin().is_terminal() {
            console = Some(start_console(bins, &socket, args)?);
            console_started = Instant::now();
        } else {
            println!("Press Enter to open the console (Ctrl-C stops the demo).");
            waiting_for_enter = Some(enter_pressed());
        }
    }

    let mut last_status = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let ending = loop {
        tokio::select! {
            _ = sigint.recv() => break Ending::Signal("Ctrl-C"),
            _ = sigterm.recv() => break Ending::Signal("SIGTERM"),
            _ = sighup.recv() => break Ending::Signal("SIGHUP"),
            r = &mut trickle_task => {
                let message = match r {
                    Ok(Ok(())) => "stopped".to_owned(),
                    Ok(Err(e)) => format!("{e:#}"),
                    Err(e) => format!("{e}"),
                };
                break Ending::Died { name: "fake SvarInn's stream of forsendelser".into(), message };
            }
            _ = tick.tick() => {}
        }
        if let Some(rx) = &mut waiting_for_enter
            && rx.try_recv().is_ok()
        {
            waiting_for_enter = None;
            console = Some(start_console(bins, &socket, args)?);
            console_started = Instant::now();
        }
        if let Some(died) = background.iter_mut().find_map(|p| {
            p.exited().map(|status| Ending::Died {
                name: p.name.clone(),
                message: format!(
                    "exited by itself ({status}); the end of {}:\n{}",
                    p.log
                        .as_ref()
                        .map(|l| l.display().to_string())
                        .unwrap_or_default(),
                    p.log_tail(15)
                ),
            })
        }) {
            break died;
        }
        if let Some(c) = &mut console
            && let Some(status) = c.exited()
        {
            if !status.success() && console_started.elapsed() < Duration::from_secs(3) {
                println!(
                    "\nThe console exited at once ({status}); see its message above. The rest of \
                     the demo keeps running: Ctrl-C stops it."
                );
                console = None;
            } else {
                break Ending::ConsoleQuit(status);
            }
        }
        if let Some(d) = deadline
            && Instant::now() >= d
        {
            break Ending::TimeUp;
        }
        if console.is_none()
            && waiting_for_enter.is_none()
            && last_status.elapsed() >= Duration::from_secs(5)
        {
            last_status = Instant::now();
            let c = counts(
                root,
                &systems,
                &fake,
                &fiks,
                fiks_io.as_deref(),
                sent.load(Ordering::Relaxed),
            );
            println!("[{:>4}s] {}", started.elapsed().as_secs(), c.line());
        }
    };

    // Stop: the console first (it is on the terminal), then the fagsystem, then the agent.
    if let Some(mut c) = console.take()
        && c.exited().is_none()
    {
        c.stop(Duration::from_secs(3));
        restore_terminal();
    }
    trickle_task.abort();
    // Wait for it to be dropped, so its hold on the fakes is released before they are stopped.
    let _ = (&mut trickle_task).await;
    if let Some(task) = fiks_io_task {
        task.abort();
        let _ = task.await;
    }
    let mut stopped = Vec::new();
    while let Some(mut p) = background.pop() {
        let grace = if p.name == "mottak-agent" { 15 } else { 3 };
        let status = p.stop(Duration::from_secs(grace));
        stopped.push(format!(
            "{} (pid {}): {}",
            p.name,
            p.pid(),
            status.map_or_else(|| "not reaped".to_owned(), |s| s.to_string())
        ));
    }
    let final_counts = counts(
        root,
        &systems,
        &fake,
        &fiks,
        fiks_io.as_deref(),
        sent.load(Ordering::Relaxed),
    );
    drop(trickle);
    // The broker goes with the demo (after the agent, which was stopped above).
    if let Some(f) = fiks_io.and_then(|f| Arc::try_unwrap(f).ok()) {
        f.shutdown().await;
    }
    if let Ok(fake) = Arc::try_unwrap(fake) {
        fake.shutdown().await;
    }
    if let Ok(fiks) = Arc::try_unwrap(fiks) {
        fiks.shutdown().await;
    }

    println!();
    match &ending {
        Ending::ConsoleQuit(status) => println!("The console exited ({status}); demo stopped."),
        Ending::Signal(sig) => println!("{sig}: demo stopped."),
        Ending::TimeUp => println!("Ran for the time asked; demo stopped."),
        Ending::Died { name, message } => {
            println!("The demo stopped because the {name} stopped: {message}")
        }
    }
    println!("stopped: {}", stopped.join("; "));
    println!("summary: {}", final_counts.machine());
    let _ = std::io::stdout().flush();
    Ok(match ending {
        Ending::Died { .. } => ExitCode::FAILURE,
        _ => ExitCode::SUCCESS,
    })
}

/// Waits up to 30 s for the agent's console socket, failing at once if the agent exits.
async fn wait_for_socket(socket: &Path, agent: &mut Proc) -> Result<()> {
    let start = Instant::now();
    loop {
        if socket.exists() {
            return Ok(());
        }
        if let Some(status) = agent.exited() {
            bail!(
                "mottak-agent exited at startup ({status}):\n{}",
                agent.log_tail(20)
            );
        }
        if start.elapsed() > Duration::from_secs(30) {
            bail!(
                "mottak-agent did not open {} within 30 s:\n{}",
                socket.display(),
                agent.log_tail(20)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn start_console(bins: &bins::Bins, socket: &Path, args: &Args) -> Result<Proc> {
    let mut cmd = Command::new(&bins.console);
    cmd.arg("--socket").arg(socket);
    if let Some(lang) = &args.lang {
        cmd.arg("--lang").arg(lang);
    }
    Proc::spawn_foreground("console", cmd)
}

/// A receiver that gets a message when a line is read from stdin.
fn enter_pressed() -> tokio::sync::oneshot::Receiver<()> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        if std::io::stdin().read_line(&mut line).is_ok() {
            let _ = tx.send(());
        }
    });
    rx
}

/// Used only when the demo had to stop the console itself: leave the alternate screen, show
/// the cursor, stop mouse reporting, and put the terminal back in cooked mode.
fn restore_terminal() {
    if !std::io::stdout().is_terminal() {
        return;
    }
    print!("\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?2004l\x1b[?1049l\x1b[?25h");
    let _ = std::io::stdout().flush();
    let _ = Command::new("stty").arg("sane").status();
}

#[allow(clippy::too_many_arguments)]
fn print_intro(
    args: &Args,
    bins: &bins::Bins,
    user: &str,
    root: &Path,
    socket: &Path,
    systems: &[System],
    background: &[Proc],
    fake: &FakeSvarInnHandle,
    fiks: &fiks::Fiks,
    fiks_io: Option<&fiks_io::FiksIo>,
) {
    let pid_of = |name: &str| {
        background
            .iter()
            .filter(|p| p.name.starts_with(name))
            .map(|p| format!("pid {}", p.pid()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let names: Vec<&str> = systems.iter().map(|s| s.name).collect();
    let names_api: Vec<String> = systems
        .iter()
        .map(|s| format!("{} ({})", s.name, api_label(s.api)))
        .collect();
    let on_v2: Vec<&str> = systems
        .iter()
        .filter(|s| s.api == SvarInnApi::V2)
        .map(|s| s.name)
        .collect();
    let ut_names: Vec<&str> = systems
        .iter()
        .filter(|s| s.digisos)
        .map(|s| s.name)
        .collect();
    let ut_name = ut_names.first().copied().unwrap_or_default();
    let r = root.display();
    println!(
        "\nMottak demo. Everything lives in {r}\n({})\n",
        if args.keep {
            "kept afterwards: --keep"
        } else {
            "removed when the demo stops; --keep keeps it"
        }
    );
    // Wrapped for an 80-column terminal: the continuation lines start in column 18.
    println!(
        "  fake SvarInn   {} for {}:\n{INDENT}\
         a new forsendelse every {} s, some broken on purpose; for\n{INDENT}\
         {ut_name} mostly NAV søknader (log: demo.log)",
        fake.base_url(),
        names_api.join(" and "),
        args.trickle
    );
    if !on_v2.is_empty() {
        println!(
            "{INDENT}{} on SvarInn V2 (svarinn_api = \"v2\"): its forsendelser\n{INDENT}\
             are ZIPs, acknowledged by PATCH …/status",
            on_v2.join(" and ")
        );
    }
    println!(
        "  fake Fiks      Digisos {}\n{INDENT}\
         Maskinporten {}\n{INDENT}\
         take {ut_name}'s saksoppdateringer; a case per søknad",
        fiks.settings.fiks_api_url, fiks.settings.token_url
    );
    match fiks_io {
        Some(f) => println!(
            "  Fiks IO        RabbitMQ amqp://127.0.0.1:{} (rabbitmq-server, booting in the\n{INDENT}\
             background: 10-30 s; the agent logs in once it is up), API\n{INDENT}\
             {} (receipts); NAV søknader and ettersendelser to\n{INDENT}\
             {ut_name}'s konto every {} s, some broken, some also by SvarInn",
            f.amqp_port(),
            f.api.base_url(),
            args.trickle * 2.0
        ),
        None => println!("  {}", fiks_io::NOT_SHOWN),
    }
    println!(
        "  mottak-agent   {}: config agent.toml, journal state/journal.sqlite\n{INDENT}\
         (log: agent.log)",
        pid_of("mottak-agent")
    );
    println!(
        "  fagsystem      {}: fagsystem.sh (demo/fagsystem.sh) on\n{INDENT}\
         drop/<name>/inn/, imports into fagsystem/<name>/, turns down\n{INDENT}\
         every {}th (logs: fagsystem-<name>.log)",
        pid_of("fagsystem ("),
        args.reject_every
    );
    println!(
        "  fagsystem-ut   {}: fagsystem-ut.sh (demo/fagsystem-ut.sh) answers\n{INDENT}\
         each imported søknad in drop/{ut_name}/ut/, every {}th update\n{INDENT}\
         wrong on purpose; outcomes in ut-sendt/ (kvittering.json) and\n{INDENT}\
         ut-feilet/ (feil.txt) (log: fagsystem-ut-{ut_name}.log)",
        pid_of("fagsystem-ut"),
        args.wrong_update_every
    );
    if args.no_console {
        println!("  console        not started (--no-console); attach one yourself:");
    } else {
        println!("  console        you are {user}, admin over both mottakersystemer:");
    }
    println!(
        "{INDENT}{} --socket {}",
        bins.console.display(),
        socket.display()
    );
    println!(
        "\nWhat to try in the console (? lists its keys; Enter shows the selected row):\n  \
         - Overview (1): the queues fill and drain; broken forsendelser show up\n    \
           within a minute.\n  \
         - Failed imports (2) whose last error is \"bad padding\" or \"N bytes after\n    \
           decryption\": the fake broke only their first three downloads, so retry\n    \
           (r) and watch them leave the list. \"no configured key matches\" or \"does\n    \
           not match its sha256\" fail every time: mark them permanent (P: a reason,\n    \
           then a typed word; the sender is told). Rejected by the fagsystem (its\n    \
           feil.txt): move back to inn/ (i), and it imports them the second time.\n  \
         - Outbound (3): {ut_name}'s saksoppdateringer to Fiks Digisos, failures\n    \
           first. Fiks refuses one case in five once with 403 (\"lacks the Digisos\n    \
           privilege\"), and the fagsystem waits: retry it (r, then y); it is sent,\n    \
           and the fagsystem goes on with the case. Those the fagsystem wrote\n    \
           wrong (a misspelt status, a missing vedtak.pdf) fail every time, and it\n    \
           has written them again, right: discard them (Space marks several; P:\n    \
           a reason, then a typed word). A Fiks outage (503) heals by itself.\n  \
         - Integrations (4): SvarInn (v1 or v2 per mottakersystem), Fiks Digisos\n    \
           and Maskinporten, Fiks IO, certificates, drop folders.\n  \
         - Fiks IO{fiks_io_note}: {ut_name}'s NAV søknader also come over Fiks IO,\n    \
           into inn/<melding-id>/ with melding.json, answered with a receipt once\n    \
           imported. One in six has a manifest that lies, one in six is encrypted\n    \
           to another key: failed imports without a receipt, so Fiks sends them by\n    \
           SvarInn too, and one delivered søknad in six is also sent by SvarInn:\n    \
           each søknad reaches the fagsystem once.\n  \
         - Access (5): kari is operator on {first} only, so {second} warns that\n    \
           fewer than two can act on its failures; grant someone.\n  \
         - Quit the console (q) to stop the demo.\n",
        first = names.first().copied().unwrap_or_default(),
        fiks_io_note = if fiks_io.is_some() {
            ""
        } else {
            " (needs rabbitmq-server, not installed)"
        },
        second = names.get(1).copied().unwrap_or_default(),
    );
    let _ = std::io::stdout().flush();
}

/// `V1` or `V2`, as the intro names them.
fn api_label(api: SvarInnApi) -> &'static str {
    match api {
        SvarInnApi::V1 => "V1",
        SvarInnApi::V2 => "V2",
    }
}

/// What has happened so far, from the outside: the fakes' records and the folders.
#[derive(Debug, Default)]
struct Counts {
    sent: usize,
    acked: usize,
    /// Of those, acknowledged by the mottakersystemer on SvarInn V2 (through its status PATCH:
    /// they cannot reach V1's paths).
    acked_v2: usize,
    /// Requests to the paths of the API the caller does not speak (each a 404): 0 when the
    /// agent speaks what each mottakersystem is configured for.
    wrong_api: usize,
    failed: usize,
    in_inn: usize,
    imported: usize,
    rejected: usize,
    /// Cases registered at Fiks.
    ut_cases: usize,
    /// Saksoppdateringer Fiks accepted.
    ut_sent: usize,
    /// Requests to post one that Fiks refused or failed (403, 503).
    ut_refused: usize,
    /// Files (vedtak PDFs) uploaded to the cases.
    ut_files: usize,
    /// Folders in `ut-sendt/` and in `ut-feilet/`.
    ut_sendt: usize,
    ut_failed: usize,
    /// Fiks IO shown (rabbitmq-server installed), and its broker up.
    fiksio_shown: bool,
    fiksio_up: bool,
    /// Messages published to the konto queue, of them broken on purpose, and the søknader
    /// also sent by SvarInn as Fiks's fallback.
    fiksio_published: usize,
    fiksio_broken: usize,
    fiksio_fallbacks: usize,
    /// Folders holding a `melding.json` (delivered over Fiks IO) in `inn/`, `feilet/` or the
    /// fagsystem's archive.
    fiksio_delivered: usize,
    /// Receipts the fake Fiks IO took.
    fiksio_receipts: usize,
}

impl Counts {
    fn line(&self) -> String {
        let fiks_io = match (self.fiksio_shown, self.fiksio_up) {
            (false, _) => String::new(),
            (true, false) => " | Fiks IO: the broker is starting".to_owned(),
            (true, true) => format!(
                " | Fiks IO: published {}  delivered {}  receipts {}",
                self.fiksio_published, self.fiksio_delivered, self.fiksio_receipts
            ),
        };
        format!(
            "in: sent {}  acknowledged {} ({} via V2)  reported failed {}  waiting in inn/ {}  imported {}  turned down {} | \
             out: sent to Fiks {}  failed (ut-feilet/) {}{fiks_io}",
            self.sent,
            self.acked,
            self.acked_v2,
            self.failed,
            self.in_inn,
            self.imported,
            self.rejected,
            self.ut_sent,
            self.ut_failed
        )
    }
    fn machine(&self) -> String {
        format!(
            "sent={} acked={} acked_v2={} wrong_api={} failed={} in_inn={} imported={} rejected={} \
             ut_cases={} ut_sent={} ut_refused={} ut_files={} ut_sendt={} ut_failed={} \
             fiksio_shown={} fiksio_up={} fiksio_published={} fiksio_broken={} \
             fiksio_fallbacks={} fiksio_delivered={} fiksio_receipts={}",
            self.sent,
            self.acked,
            self.acked_v2,
            self.wrong_api,
            self.failed,
            self.in_inn,
            self.imported,
            self.rejected,
            self.ut_cases,
            self.ut_sent,
            self.ut_refused,
            self.ut_files,
            self.ut_sendt,
            self.ut_failed,
            u8::from(self.fiksio_shown),
            u8::from(self.fiksio_up),
            self.fiksio_published,
            self.fiksio_broken,
            self.fiksio_fallbacks,
            self.fiksio_delivered,
            self.fiksio_receipts
        )
    }
}

fn counts(
    root: &Path,
    systems: &[System],
    fake: &FakeSvarInnHandle,
    fiks: &fiks::Fiks,
    fiks_io: Option<&fiks_io::FiksIo>,
    sent: usize,
) -> Counts {
    let mut failed: Vec<String> = fake
        .mottak_feilet()
        .into_iter()
        .filter_map(|e| e.forsendelse)
        .collect();
    failed.sort();
    failed.dedup();
    let at_fiks = fiks.counts();
    let acked_v2 = fake
        .kvitteringer()
        .into_iter()
        .filter(|e| matches!(e.kind, EventKind::Kvittering { first: true }))
        .filter(|e| {
            e.mottakersystem
                .as_deref()
                .is_some_and(|u| fake.api_of(u) == SvarInnApi::V2)
        })
        .count();
    let mut c = Counts {
        sent,
        acked: fake.acked_ids().len(),
        acked_v2,
        wrong_api: fake.other_api_requests().len(),
        failed: failed.len(),
        ut_cases: at_fiks.cases,
        ut_sent: at_fiks.accepted,
        ut_refused: at_fiks.refused,
        ut_files: at_fiks.files,
        ..Counts::default()
    };
    for s in systems {
        let drop = s.drop_folder(root);
        c.in_inn += folders_in(&drop.join("inn"));
        c.rejected += folders_in(&drop.join("feilet"));
        c.imported += folders_in(&s.archive(root));
        c.ut_sendt += folders_in(&drop.join("ut-sendt"));
        c.ut_failed += folders_in(&drop.join("ut-feilet"));
        for dir in [drop.join("inn"), drop.join("feilet"), s.archive(root)] {
            c.fiksio_delivered += folders_with(&dir, "melding.json");
        }
    }
    if let Some(f) = fiks_io {
        let n = f.counts();
        c.fiksio_shown = true;
        c.fiksio_up = f.link() == fiks_io::Link::Up;
        c.fiksio_published = n.published;
        c.fiksio_broken = n.broken;
        c.fiksio_fallbacks = n.fallbacks;
        c.fiksio_receipts = n.receipts;
    }
    c
}
