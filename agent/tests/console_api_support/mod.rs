//! Shared by the `console_api_*` tests: the end-to-end harness's world
//! (`mottak_tests::harness`: the fake SvarInn, config, keys, drop folders, the
//! real `mottak-agent run`) set up as these tests want it, the agent in-process,
//! and a websocket console client that keeps a mirror of the state
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
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use mottak_agent::commands::run::Daemon;
use mottak_agent::journal::{Journal, SystemClock};
use mottak_agent::pipeline::{Health, Pipeline};
use mottak_agent::systemd::Notifier;
use mottak_fixtures::TestKeyPair;
use mottak_fixtures::svarinn::FakeSvarInnHandle;
use mottak_protocol::console::{
    ClientMessage, Command as ConsoleCommand, ConsoleState, ForsendelseState, Outcome,
    PROTOCOL_VERSION, ServerMessage,
};
use mottak_tests::harness::{Ack, Agent, KeySource, System, World};
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
    /// Its private key file.
    pub key: PathBuf,
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

/// The shared harness's [`World`] (the fake, the folders and the config) as
/// these tests set it up, with the console socket at the top of its folder.
pub struct Env {
    /// Always `Some` until dropped (see the `Drop` impl).
    world: Option<World>,
    pub systems: Vec<Sys>,
    pub config: PathBuf,
    pub socket: PathBuf,
    pub opts: Options,
}

impl Drop for Env {
    fn drop(&mut self) {
        // The fake's runtime cannot be dropped inside the test's runtime.
        if let Some(world) = self.world.take() {
            std::thread::spawn(move || drop(world)).join().unwrap();
        }
    }
}

impl Env {
    pub async fn new(opts: Options) -> Env {
        let ack = match opts.ack {
            "on-import" => Ack::OnImport,
            "on-delivery" => Ack::OnDelivery,
            other => panic!("no ack {other:?}"),
        };
        let mut builder = World::builder().console_socket("console.sock");
        for line in opts.agent_extra.lines() {
            builder = builder.agent_line(line);
        }
        builder = builder.tables(&opts.tables);
        for name in &opts.systems {
            let mut system = System::new(name)
                .password(&format!("pw-{name}"))
                .keys(KeySource::Pair(keys().clone()))
                .ack(ack)
                .poll_interval(opts.poll_interval)
                .max_decrypt_attempts(opts.max_decrypt_attempts);
            system.username = format!("user-{name}");
            builder = builder.system(system);
        }
        // The fake's runtime is started with `block_on`, which this runtime's
        // threads may not call.
        let world = std::thread::spawn(move || builder.start())
            .join()
            .unwrap()
            .unwrap();
        let systems = world
            .systems
            .iter()
            .map(|s| Sys {
                name: s.spec.name.clone(),
                username: s.spec.username.clone(),
                drop: s.drop_folder.clone(),
                key: s.key_path.clone(),
            })
            .collect();
        Env {
            systems,
            config: world.config_path.clone(),
            socket: world.console_socket.clone(),
            world: Some(world),
            opts,
        }
    }

    pub fn world(&self) -> &World {
        self.world
            .as_ref()
            .expect("the world lives as long as the Env")
    }

    /// The fake SvarInn (on the world's runtime; its async methods work from any).
    pub fn fake(&self) -> &FakeSvarInnHandle {
        &self.world().fake
    }

    pub fn path(&self) -> &Path {
        self.world().dir()
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

    /// Starts the agent (the harness's command, with `opts.env`) and waits
    /// until it has logged that it is ready.
    pub async fn spawn_agent(&self) -> AgentProc {
        let (mut cmd, log) = self.world().agent_command().unwrap();
        cmd.envs(self.opts.env.iter().map(|(k, v)| (k, v)));
        let mut agent = AgentProc {
            agent: Agent::spawn(&mut cmd, log).unwrap(),
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = agent.try_wait() {
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
        Journal::open_read_only(&self.world().journal_path(), Arc::new(SystemClock)).unwrap()
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

/// The agent process ([`harness::Agent`](mottak_tests::harness::Agent), killed
/// when dropped), with the panicking checks these tests use.
pub struct AgentProc {
    pub agent: Agent,
}

impl AgentProc {
    pub fn pid(&self) -> u32 {
        self.agent.pid()
    }

    /// Its exit status, if it has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.agent.try_status()
    }

    pub fn log_text(&self) -> String {
        self.agent.output_text()
    }

    pub fn assert_running(&mut self) {
        if let Err(e) = self.agent.assert_running() {
            panic!("{e:#}");
        }
    }

    /// SIGTERM, and wait for the exit (SIGKILL after 10 s).
    pub fn stop(&mut self) {
        if self.agent.terminate(Duration::from_secs(10)).is_err() {
            let _ = self.agent.kill();
        }
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
