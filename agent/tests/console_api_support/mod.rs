//! Shared by the `console_api_*` tests: a fake SvarInn, a real
//! `mottak-agent run` with its config, keys and drop folders in a temporary
//! folder, and a websocket console client that keeps a mirror of the state
//! (snapshot + deltas) and checks the sequence has no gap.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    dead_code,
    unreachable_pub
)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use mottak_agent::commands::run::Daemon;
use mottak_agent::journal::{Journal, SystemClock};
use mottak_agent::pipeline::{Health, Pipeline};
use mottak_agent::systemd::Notifier;
use mottak_fixtures::TestKeyPair;
use mottak_fixtures::svarinn::{FakeSvarInn, FakeSvarInnHandle, MottakersystemSpec};
use mottak_protocol::console::{
    ClientMessage, Command as ConsoleCommand, ConsoleState, ForsendelseState, Outcome,
    PROTOCOL_VERSION, ServerMessage,
};
use tokio::net::UnixStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

pub const AGENT: &str = env!("CARGO_BIN_EXE_mottak-agent");

/// An agent running in the test's process ([`Env::start_in_process`]).
pub struct InProcessAgent {
    pipelines: Vec<Arc<dyn Pipeline>>,
    shutdown: CancellationToken,
    serving: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl InProcessAgent {
    /// The health of `mottakersystem`'s `kind` pipeline (`inbound`, `outbound`).
    pub fn health(&self, mottakersystem: &str, kind: &str) -> Arc<Health> {
        let p = self
            .pipelines
            .iter()
            .find(|p| p.mottakersystem() == mottakersystem && p.kind() == kind)
            .unwrap_or_else(|| panic!("no {kind} pipeline of {mottakersystem}"));
        Arc::clone(p.health())
    }

    /// Returns once that pipeline's loop has turned `n` more times (at most a minute).
    pub async fn wait_turns(&self, mottakersystem: &str, kind: &str, n: u64) {
        let health = self.health(mottakersystem, kind);
        tokio::time::timeout(Duration::from_secs(60), health.wait_turns(n))
            .await
            .unwrap_or_else(|_| panic!("{mottakersystem} {kind} did not turn {n} times"));
    }

    /// Stops it as SIGTERM does and waits until it has drained (at most a minute).
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(60), self.serving)
            .await
            .expect("the agent did not drain within a minute")
            .expect("the agent's task panicked")
    }
}

/// One RSA key pair for every mottakersystem of every test in a binary.
pub fn keys() -> &'static TestKeyPair {
    static KEYS: OnceLock<TestKeyPair> = OnceLock::new();
    KEYS.get_or_init(|| TestKeyPair::generate("console-api-test").unwrap())
}

/// A mottakersystem of the test world.
#[derive(Debug, Clone)]
pub struct Sys {
    pub name: String,
    pub username: String,
    pub drop: PathBuf,
}

impl Sys {
    pub fn inn(&self) -> PathBuf {
        self.drop.join("inn")
    }
    pub fn feilet(&self) -> PathBuf {
        self.drop.join("feilet")
    }
}

/// How the world is set up.
#[derive(Debug, Clone)]
pub struct Options {
    pub systems: Vec<&'static str>,
    pub ack: &'static str,
    pub poll_interval: &'static str,
    /// Extra lines under `[agent]`.
    pub agent_extra: String,
    /// Extra tables after `[agent]` (e.g. `[agent.remote]`).
    pub tables: String,
    pub max_decrypt_attempts: u32,
    /// Environment for the agent and `access` (e.g. `LD_PRELOAD` of nss_wrapper).
    pub env: Vec<(String, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            systems: vec!["ms-a"],
            ack: "on-delivery",
            poll_interval: "1s",
            agent_extra: String::new(),
            tables: String::new(),
            max_decrypt_attempts: 3,
            env: Vec::new(),
        }
    }
}

/// The fake, the folders and the config.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub fake: FakeSvarInnHandle,
    pub systems: Vec<Sys>,
    pub config: PathBuf,
    pub socket: PathBuf,
    pub opts: Options,
}

impl Env {
    pub async fn new(opts: Options) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_owned();
        let keys = keys();
        let mut builder = FakeSvarInn::builder();
        let mut systems = Vec::new();
        for name in &opts.systems {
            let username = format!("user-{name}");
            builder = builder.mottakersystem(MottakersystemSpec::new(
                &username,
                format!("pw-{name}"),
                &keys.cert_pem,
            ));
            let drop = d.join(format!("drop-{name}"));
            std::fs::create_dir_all(&drop).unwrap();
            systems.push(Sys {
                name: (*name).to_owned(),
                username,
                drop,
            });
        }
        let fake = builder.start().await.unwrap();
        let key = d.join("key.pem");
        std::fs::write(&key, &keys.key_pem).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        let cert = d.join("cert.pem");
        std::fs::write(&cert, &keys.cert_pem).unwrap();
        let mut text = format!(
            "[agent]\nstate_dir = \"{d}/state\"\nlog_dir = \"{d}/log\"\nconsole_socket = \"{d}/console.sock\"\nlog_level = \"info\"\n{extra}\n{tables}\n",
            d = d.display(),
            extra = opts.agent_extra,
            tables = opts.tables,
        );
        for s in &systems {
            let pw = d.join(format!("pw-{}", s.name));
            std::fs::write(&pw, format!("pw-{}", s.name)).unwrap();
            std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
            text.push_str(&format!(
                "\n[[mottakersystem]]\nname = \"{name}\"\nsvarinn_url = \"{url}\"\nusername = \"{user}\"\npassword = \"file:{pw}\"\nprivate_keys = [\"{key}\"]\ncertificates = [\"{cert}\"]\ndrop_folder = \"{drop}\"\npoll_interval = \"{poll}\"\nack = \"{ack}\"\nmax_decrypt_attempts = {mda}\n",
                name = s.name,
                url = fake.base_url(),
                user = s.username,
                pw = pw.display(),
                key = key.display(),
                cert = cert.display(),
                drop = s.drop.display(),
                poll = opts.poll_interval,
                ack = opts.ack,
                mda = opts.max_decrypt_attempts,
            ));
        }
        let config = d.join("agent.toml");
        std::fs::write(&config, text).unwrap();
        Env {
            socket: d.join("console.sock"),
            dir,
            fake,
            systems,
            config,
            opts,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn sys(&self, name: &str) -> &Sys {
        self.systems.iter().find(|s| s.name == name).unwrap()
    }

    /// `mottak-agent access <args>` on this world's config; panics unless it succeeds.
    pub fn access(&self, args: &[&str]) -> String {
        let out = self.access_output(args);
        let text = output_text(&out);
        assert!(out.status.success(), "access {args:?}: {text}");
        text
    }

    pub fn access_output(&self, args: &[&str]) -> Output {
        Command::new(AGENT)
            .arg("access")
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .envs(self.opts.env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap()
    }

    /// Starts the agent and waits until its console socket answers.
    pub async fn spawn_agent(&self) -> AgentProc {
        let n = std::fs::read_dir(self.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("agent-")
            })
            .count();
        let log = self.path().join(format!("agent-{n}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(AGENT);
        cmd.arg("run")
            .arg("--config")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        for var in [
            "NOTIFY_SOCKET",
            "WATCHDOG_USEC",
            "WATCHDOG_PID",
            "CREDENTIALS_DIRECTORY",
            "JOURNAL_STREAM",
            "RUST_LOG",
        ] {
            cmd.env_remove(var);
        }
        cmd.envs(self.opts.env.iter().map(|(k, v)| (k, v)));
        let child = cmd.spawn().unwrap();
        let mut agent = AgentProc { child, log };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = agent.child.try_wait().unwrap() {
                panic!("the agent exited ({status}):\n{}", agent.log_text());
            }
            // "ready" is logged once every listener is bound (as READY=1 is
            // sent): the socket alone answers before the TLS listener is up.
            if agent.log_text().contains("commands::run: ready") {
                return agent;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the agent never became ready:\n{}",
                agent.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Starts the agent in this test's process, as `mottak-agent run` does but
    /// without the signal handlers and logging (`commands::run::Daemon`): the
    /// test reaches its pipelines' health (loop turns) directly. The world's
    /// `env` must be empty: it is the process's.
    pub async fn start_in_process(&self) -> InProcessAgent {
        assert!(
            self.opts.env.is_empty(),
            "an in-process agent has no environment of its own"
        );
        let config = mottak_agent::config::load(&self.config).unwrap();
        let daemon = Daemon::start(config, Notifier::disabled()).await.unwrap();
        let pipelines = daemon.pipelines().to_vec();
        let shutdown = CancellationToken::new();
        let serving = tokio::spawn(daemon.serve(shutdown.clone()));
        InProcessAgent {
            pipelines,
            shutdown,
            serving,
        }
    }

    /// The journal, read-only.
    pub fn journal(&self) -> Journal {
        Journal::open_read_only(
            &self.path().join("state/journal.sqlite"),
            Arc::new(SystemClock),
        )
        .unwrap()
    }

    /// Per mottakersystem and state, the journal's counts.
    pub fn journal_counts(&self) -> Vec<(String, ForsendelseState, u64)> {
        let mut out: Vec<_> = self
            .journal()
            .counts()
            .unwrap()
            .into_iter()
            .map(|c| {
                (
                    c.mottakersystem,
                    ForsendelseState::parse(c.state.as_str()).unwrap(),
                    c.count,
                )
            })
            .collect();
        out.sort();
        out
    }

    pub async fn console(&self) -> Console {
        Console::connect(&self.socket).await
    }

    /// A console that said hello and subscribed.
    pub async fn subscribed(&self) -> Console {
        let mut c = self.console().await;
        let welcome = c.hello().await;
        assert!(
            matches!(welcome, ServerMessage::Welcome { .. }),
            "{welcome:?}"
        );
        c.subscribe().await;
        c
    }
}

pub fn output_text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The agent process; killed when dropped.
pub struct AgentProc {
    pub child: Child,
    pub log: PathBuf,
}

impl AgentProc {
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("the agent exited ({status}):\n{}", self.log_text());
        }
    }

    /// SIGTERM, and wait for the exit.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..200 {
            if self.child.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for AgentProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A console: the websocket, and the state mirrored from snapshot + deltas.
pub struct Console {
    pub ws: WebSocketStream<UnixStream>,
    pub state: Option<ConsoleState>,
    pub seq: u64,
    /// Messages other than snapshot/delta seen while waiting for something else.
    pub other: Vec<ServerMessage>,
    pub deltas: u64,
}

pub const RECV_LIMIT: Duration = Duration::from_secs(30);

impl Console {
    pub async fn connect(socket: &Path) -> Console {
        let stream = UnixStream::connect(socket).await.unwrap();
        let (ws, _) = tokio_tungstenite::client_async("ws://localhost/console", stream)
            .await
            .unwrap();
        Console {
            ws,
            state: None,
            seq: 0,
            other: Vec::new(),
            deltas: 0,
        }
    }

    pub async fn send(&mut self, m: &ClientMessage) {
        let text = serde_json::to_string(m).unwrap();
        self.ws.send(Message::text(text)).await.unwrap();
    }

    pub async fn send_raw(&mut self, m: Message) {
        self.ws.send(m).await.unwrap();
    }

    /// The next frame as a message: `None` when the connection closed.
    pub async fn recv_frame(&mut self) -> Option<Result<ServerMessage, Message>> {
        loop {
            let next = tokio::time::timeout(RECV_LIMIT, self.ws.next())
                .await
                .expect("nothing from the agent in 30 s");
            match next {
                None | Some(Err(_)) => return None,
                Some(Ok(Message::Text(t))) => {
                    let m: ServerMessage = serde_json::from_str(t.as_str())
                        .unwrap_or_else(|e| panic!("the agent sent {t:?}: {e}"));
                    return Some(Ok(m));
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(other)) => return Some(Err(other)),
            }
        }
    }

    /// The next message; snapshots and deltas are applied to the mirror
    /// (and returned too). Panics on a gap in `seq`.
    pub async fn recv(&mut self) -> Option<ServerMessage> {
        match self.recv_frame().await? {
            Ok(m) => {
                self.apply(&m);
                Some(m)
            }
            Err(Message::Close(_)) => None,
            Err(other) => panic!("unexpected frame {other:?}"),
        }
    }

    pub fn apply(&mut self, m: &ServerMessage) {
        match m {
            ServerMessage::Snapshot { seq, state } => {
                self.state = Some(state.clone());
                self.seq = *seq;
            }
            ServerMessage::Delta { seq, patches } => {
                assert_eq!(*seq, self.seq + 1, "a gap in the delta sequence");
                let state = self.state.as_mut().expect("a delta before any snapshot");
                state.apply_all(patches);
                self.seq = *seq;
                self.deltas += 1;
            }
            _ => {}
        }
    }

    pub async fn hello(&mut self) -> ServerMessage {
        self.send(&ClientMessage::Hello {
            protocol: PROTOCOL_VERSION,
            client: Some("console-api test".into()),
        })
        .await;
        self.recv()
            .await
            .expect("closed instead of answering hello")
    }

    pub async fn subscribe(&mut self) -> ConsoleState {
        self.send(&ClientMessage::Subscribe).await;
        loop {
            match self.recv().await.expect("closed instead of a snapshot") {
                ServerMessage::Snapshot { state, .. } => return state,
                other => self.other.push(other),
            }
        }
    }

    /// Sends a command and waits for its result (applying deltas meanwhile).
    pub async fn command(&mut self, id: &str, command: ConsoleCommand) -> Outcome {
        self.send(&ClientMessage::Command {
            id: id.to_owned(),
            command,
        })
        .await;
        loop {
            match self.recv().await.expect("closed instead of a result") {
                ServerMessage::Result { id: got, outcome } if got == id => return outcome,
                ServerMessage::Snapshot { .. } | ServerMessage::Delta { .. } => {}
                other => self.other.push(other),
            }
        }
    }

    /// Reads until the mirrored state satisfies `pred`.
    pub async fn wait_until(
        &mut self,
        what: &str,
        limit: Duration,
        pred: impl Fn(&ConsoleState) -> bool,
    ) -> ConsoleState {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(s) = &self.state
                && pred(s)
            {
                return s.clone();
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(
                !left.is_zero(),
                "timed out waiting until {what}: {:#?}",
                self.state.as_ref().map(|s| &s.queues)
            );
            match tokio::time::timeout(left, self.recv()).await {
                Ok(Some(m)) => {
                    if !matches!(
                        m,
                        ServerMessage::Snapshot { .. } | ServerMessage::Delta { .. }
                    ) {
                        self.other.push(m);
                    }
                }
                Ok(None) => panic!("the connection closed while waiting until {what}"),
                Err(_) => panic!("timed out waiting until {what}"),
            }
        }
    }
}

/// The count of `state` for `system` in a console state.
pub fn count(state: &ConsoleState, system: &str, s: ForsendelseState) -> u64 {
    state
        .queues
        .iter()
        .find(|q| q.mottakersystem == system)
        .and_then(|q| q.counts.get(&s).copied())
        .unwrap_or(0)
}

/// Per mottakersystem and state, the non-zero counts a console shows.
pub fn console_counts(state: &ConsoleState) -> Vec<(String, ForsendelseState, u64)> {
    let mut out: Vec<_> = state
        .queues
        .iter()
        .flat_map(|q| {
            q.counts
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(s, n)| (q.mottakersystem.clone(), *s, *n))
        })
        .collect();
    out.sort();
    out
}

/// The environment variable that turns a test binary's [`hold_socket_helper`]
/// into a process holding connections: `<socket path>\t<count>`.
pub const HOLD_ENV: &str = "MOTTAK_TEST_HOLD_SOCKET";

/// Connections held on the console socket by another process, as another
/// user (the peer credentials are the connecting process's): the test
/// binary runs itself as `uid`, with only the `holder` test, which opens
/// `count` connections and sends nothing. Dropped: the process ends.
pub struct SocketHolder {
    child: Child,
    stdin: Option<std::process::ChildStdin>,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl SocketHolder {
    /// `test` is the name of the binary's test that calls [`hold_socket_helper`].
    pub fn start(test: &str, socket: &Path, count: usize, uid: u32) -> SocketHolder {
        use std::io::BufRead;
        use std::os::unix::process::CommandExt;
        // The other user must reach the socket: the temporary folder is 0700.
        let dir = socket.parent().unwrap();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711)).unwrap();
        std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o666)).unwrap();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env(HOLD_ENV, format!("{}\t{count}", socket.display()))
            .uid(uid)
            .gid(uid)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            assert!(
                stdout.read_line(&mut line).unwrap() > 0,
                "the holder ended before it held its connections"
            );
            // The harness prints "test holder ... " before it, on the same line.
            if line.contains("HOLDER held") {
                break;
            }
        }
        SocketHolder {
            child,
            stdin,
            stdout,
        }
    }

    /// How many of the held connections the agent refused (answered 503 and closed).
    pub fn refused(&mut self) -> usize {
        use std::io::{BufRead, Write};
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(b"count\n").unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        loop {
            line.clear();
            assert!(
                self.stdout.read_line(&mut line).unwrap() > 0,
                "the holder ended"
            );
            if let Some((_, n)) = line.trim().split_once("HOLDER refused ") {
                return n.parse().unwrap();
            }
        }
    }
}

impl Drop for SocketHolder {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The holder's side (see [`SocketHolder`]); does nothing unless [`HOLD_ENV`] is set.
pub fn hold_socket_helper() {
    use std::io::{BufRead, Read};
    let Ok(spec) = std::env::var(HOLD_ENV) else {
        return;
    };
    let (path, count) = spec.split_once('\t').unwrap();
    let count: usize = count.parse().unwrap();
    let held: Vec<std::os::unix::net::UnixStream> = (0..count)
        .map(|_| std::os::unix::net::UnixStream::connect(path).unwrap())
        .collect();
    let say = |line: String| {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        out.write_all(line.as_bytes()).unwrap();
        out.flush().unwrap();
    };
    say(format!("HOLDER held {}\n", held.len()));
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        if line.unwrap().trim() != "count" {
            continue;
        }
        // A refused connection holds the agent's 503 or is closed; a held
        // one has nothing to read yet.
        let refused = held
            .iter()
            .filter(|s| {
                s.set_nonblocking(true).unwrap();
                let mut buf = [0u8; 64];
                let mut stream: &std::os::unix::net::UnixStream = s;
                match stream.read(&mut buf) {
                    Ok(0) => true,
                    Ok(n) => buf[..n].starts_with(b"HTTP/1.1 503"),
                    Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
                }
            })
            .count();
        say(format!("HOLDER refused {refused}\n"));
    }
}
