//! For the tests against a real agent: the agent's own commands run in this process, the
//! real `mottak` binary, and the console's client + `App` driven against the agent's socket.

use std::path::Path;
use std::process::{Command, ExitCode, Output};
use std::time::{Duration, Instant};

use clap::Parser;
use mottak_console::app::{Action, App, ClientEvent, Effect};
use mottak_console::client::{self, Outgoing, Target};
use mottak_console::i18n::Lang;
use mottak_console::theme::ThemeKind;
use tokio::sync::mpsc;

/// The real console binary.
pub const MOTTAK: &str = env!("CARGO_BIN_EXE_mottak");

/// The user running the tests.
pub fn me() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// `mottak-agent ARGS`, by the agent's own dispatch in this process.
pub fn agent(args: &[&str]) -> ExitCode {
    let mut argv = vec!["mottak-agent"];
    argv.extend_from_slice(args);
    let cli = mottak_agent::commands::Cli::parse_from(argv);
    mottak_agent::commands::dispatch(cli).unwrap()
}

/// Grants [`me`] the operator role for every mottakersystem (nobody may use the console
/// until granted).
pub fn grant_me_operator(config: &str) {
    agent(&[
        "access",
        "--config",
        config,
        "grant",
        "--user",
        &me(),
        "--role",
        "operator",
        "--all",
    ]);
}

/// `mottak ARGS --socket SOCKET`, the real binary, in the C locale.
pub fn mottak(socket: &Path, args: &[&str]) -> Output {
    Command::new(MOTTAK)
        .args(args)
        .arg("--socket")
        .arg(socket)
        .env("LANG", "C")
        .output()
        .unwrap()
}

/// stdout then stderr, as text.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Polls `f` every 200 ms until it gives a value; fails the test after `limit`.
pub fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The console's client on the agent's socket and an `App` (English, default theme) fed by
/// it. Made inside a Tokio runtime.
pub struct Console {
    pub app: App,
    events: mpsc::Receiver<ClientEvent>,
    commands: mpsc::Sender<Outgoing>,
    deadline: tokio::time::Instant,
}

impl Console {
    /// Connects; every wait fails the test `limit` from now.
    pub fn connect(socket: &Path, session: &str, limit: Duration) -> Self {
        let (events, commands) = client::spawn(Target::Socket(socket.to_path_buf()));
        let app = App::new(
            Lang::En,
            ThemeKind::Default,
            socket.display().to_string(),
            format!("{session}{}", std::process::id()),
        );
        Self {
            app,
            events,
            commands,
            deadline: tokio::time::Instant::now() + limit,
        }
    }

    /// Feeds the client's events to the `App`, sending the commands it asks for, until
    /// `done(app)`.
    pub async fn pump_until(&mut self, done: impl Fn(&App) -> bool) {
        while !done(&self.app) {
            let ev = tokio::time::timeout_at(self.deadline, self.events.recv())
                .await
                .unwrap()
                .unwrap();
            let effects = self.app.update(Action::Client(ev));
            self.send_all(effects).await;
        }
    }

    /// Sends the one command a confirmed action gave.
    pub async fn send(&self, effects: Vec<Effect>) {
        assert_eq!(effects.len(), 1, "{effects:?}");
        self.send_all(effects).await;
    }

    async fn send_all(&self, effects: Vec<Effect>) {
        for e in effects {
            if let Effect::Send { id, command } = e {
                self.commands.send(Outgoing { id, command }).await.unwrap();
            }
        }
    }
}
