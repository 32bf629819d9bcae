//! The end-to-end harness for the inbound pipeline: a temporary world with the
//! fake SvarInn running in-process, keys and secrets on disk with the right
//! modes, a config file, drop folders, and the real `mottak-agent run` as a
//! child process whose stderr goes to a file.
//!
//! ```text
//! <tmp>/
//!   agent.toml
//!   state/journal.sqlite   state/console.sock
//!   log/                   daily log files
//!   secrets/<name>.passord (0600)
//!   keys/<name>.pem (0600) keys/<name>.crt
//!   drop/<name>/           the drop folders (inn/, feilet/, .mottak/ made by the agent)
//!   agent-<n>.stderr       stderr and stdout of the n-th agent started
//! ```
//!
//! Tests are plain `#[test]` functions: the fake runs on the [`World`]'s own
//! tokio runtime, so a test can poll the filesystem and the fake's event log
//! with [`crate::wait_until`] without blocking the server.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use mottak_fixtures::TestKeyPair;
use mottak_fixtures::svarinn::{
    Event, EventKind, FakeSvarInn, FakeSvarInnHandle, KvitteringCall, MottakersystemSpec,
    RequestKind, SvarInnApi,
};
use sha2::{Digest, Sha256};

use mottak_fixtures::kit::write_private;

use crate::{ChildGuard, binary, wait_until};

/// `forsendelse.json`, the metadata file in every delivered folder.
pub const FORSENDELSE_JSON: &str = "forsendelse.json";

/// When the agent acknowledges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    OnImport,
    OnDelivery,
}

impl Ack {
    fn as_str(self) -> &'static str {
        match self {
            Ack::OnImport => "on-import",
            Ack::OnDelivery => "on-delivery",
        }
    }
}

/// Where a mottakersystem's key comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A fresh RSA-2048 key and self-signed certificate.
    Generate,
    /// KS's test vectors: `sp-key.pem` (copied to a 0600 file) and `sp-cert.pem`.
    KsVectors,
}

/// Where the agent's `svarinn_url` points for a mottakersystem.
#[derive(Debug, Clone)]
pub enum Endpoint {
    /// The fake.
    Fake,
    /// A local port nothing listens on (connection refused).
    ClosedPort,
}

/// One `[[mottakersystem]]`, as a test wants it.
#[derive(Debug, Clone)]
pub struct System {
    /// The agent's name for it (folders, logs, journal).
    pub name: String,
    /// The SvarInn username (the fake's mottakersystem id).
    pub username: String,
    /// The password the fake expects.
    pub password: String,
    /// The password the agent is given (normally the same).
    pub configured_password: String,
    pub keys: KeySource,
    pub endpoint: Endpoint,
    /// Known to the fake (false: the fake answers 401 to its username).
    pub on_fake: bool,
    pub ack: Ack,
    pub unzip: bool,
    pub poll_interval: String,
    pub max_decrypt_attempts: u32,
    pub max_concurrent_downloads: u32,
    /// More `key = value` lines for this `[[mottakersystem]]`.
    pub extra: Vec<String>,
}

impl System {
    /// A system polled every 200 ms, acknowledging on delivery.
    pub fn new(name: &str) -> Self {
        let username = format!("{name}-0000-4000-8000-000000000001");
        System {
            name: name.to_owned(),
            username,
            password: format!("pw-{name}-Xq7"),
            configured_password: format!("pw-{name}-Xq7"),
            keys: KeySource::Generate,
            endpoint: Endpoint::Fake,
            on_fake: true,
            ack: Ack::OnDelivery,
            unzip: true,
            poll_interval: "200ms".to_owned(),
            max_decrypt_attempts: 3,
            max_concurrent_downloads: 3,
            extra: Vec::new(),
        }
    }

    pub fn ack(mut self, ack: Ack) -> Self {
        self.ack = ack;
        self
    }

    pub fn unzip(mut self, unzip: bool) -> Self {
        self.unzip = unzip;
        self
    }

    pub fn poll_interval(mut self, interval: &str) -> Self {
        self.poll_interval = interval.to_owned();
        self
    }

    pub fn max_decrypt_attempts(mut self, n: u32) -> Self {
        self.max_decrypt_attempts = n;
        self
    }

    pub fn max_concurrent_downloads(mut self, n: u32) -> Self {
        self.max_concurrent_downloads = n;
        self
    }

    pub fn keys(mut self, keys: KeySource) -> Self {
        self.keys = keys;
        self
    }

    pub fn password(mut self, password: &str) -> Self {
        self.password = password.to_owned();
        self.configured_password = password.to_owned();
        self
    }

    /// The agent is configured with a password the fake does not accept.
    pub fn wrong_password(mut self) -> Self {
        self.configured_password = format!("{}-wrong", self.password);
        self
    }

    pub fn endpoint(mut self, endpoint: Endpoint) -> Self {
        self.endpoint = endpoint;
        self
    }

    /// One more line in this system's config section, e.g. `request_timeout = "2s"`.
    pub fn extra(mut self, line: &str) -> Self {
        self.extra.push(line.to_owned());
        self
    }
}

/// A [`System`] made real: its files on disk.
#[derive(Debug, Clone)]
pub struct Installed {
    pub spec: System,
    pub key_path: PathBuf,
    pub cert_path: PathBuf,
    pub cert_pem: String,
    pub password_path: PathBuf,
    pub drop_folder: PathBuf,
}

impl Installed {
    pub fn inn(&self) -> PathBuf {
        self.drop_folder.join("inn")
    }
    pub fn feilet(&self) -> PathBuf {
        self.drop_folder.join("feilet")
    }
    pub fn staging(&self) -> PathBuf {
        self.drop_folder.join(".mottak")
    }
    /// `inn/<id>/`.
    pub fn inn_of(&self, id: &str) -> PathBuf {
        self.inn().join(id)
    }
    /// True once `inn/<id>/forsendelse.json` exists (the folder appears whole).
    pub fn is_published(&self, id: &str) -> bool {
        self.inn_of(id).join(FORSENDELSE_JSON).is_file()
    }
}

/// How a [`World`] is set up.
#[derive(Debug, Clone)]
pub struct WorldBuilder {
    systems: Vec<System>,
    log_level: String,
    seed: u64,
    api: SvarInnApi,
}

impl WorldBuilder {
    pub fn system(mut self, system: System) -> Self {
        self.systems.push(system);
        self
    }

    /// The agent's `log_level` (default `info`).
    pub fn log_level(mut self, level: &str) -> Self {
        self.log_level = level.to_owned();
        self
    }

    /// The fake's seed (generated ids and content).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The SvarInn API the fake speaks and every mottakersystem's `svarinn_api` (default
    /// V1, written as no `svarinn_api` at all, as existing configs have it).
    pub fn api(mut self, api: SvarInnApi) -> Self {
        self.api = api;
        self
    }

    /// Makes the folders, keys and secrets, starts the fake and writes the config.
    pub fn start(self) -> Result<World> {
        let dir = tempfile::Builder::new()
            .prefix("mottak-e2e-")
            .tempdir()
            .context("create the test folder")?;
        let root = dir.path().to_path_buf();
        for sub in ["state", "log", "secrets", "keys", "drop"] {
            fs::create_dir_all(root.join(sub)).with_context(|| format!("create {sub}/"))?;
        }
        let mut installed = Vec::new();
        for spec in self.systems {
            installed.push(install(&root, spec)?);
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("fake-svarinn")
            .build()
            .context("start a tokio runtime for the fake")?;
        let mut builder = FakeSvarInn::builder()
            .api(self.api)
            .seed(self.seed)
            .storage_dir(root.join("fake-storage"));
        for s in installed.iter().filter(|s| s.spec.on_fake) {
            builder = builder.mottakersystem(
                MottakersystemSpec::new(&s.spec.username, &s.spec.password, &s.cert_pem)
                    .named(format!("Kommune {}", s.spec.name)),
            );
        }
        let fake = rt
            .block_on(builder.start())
            .context("start the fake SvarInn")?;
        let config_path = root.join("agent.toml");
        let world = World {
            fake,
            rt,
            systems: installed,
            config_path,
            log_level: self.log_level,
            api: self.api,
            root,
            spawned: Mutex::new(0),
            dir,
        };
        world.write_config()?;
        Ok(world)
    }
}

fn install(root: &Path, spec: System) -> Result<Installed> {
    let key_path = root.join("keys").join(format!("{}.pem", spec.name));
    let cert_path = root.join("keys").join(format!("{}.crt", spec.name));
    let (key_pem, cert_pem) = match spec.keys {
        KeySource::Generate => {
            let pair = TestKeyPair::generate(&spec.name)?;
            (pair.key_pem.into_bytes(), pair.cert_pem)
        }
        KeySource::KsVectors => {
            let dir = mottak_fixtures::ks_vectors_dir();
            let key = fs::read(dir.join("sp-key.pem")).context("read KS sp-key.pem")?;
            let cert =
                fs::read_to_string(dir.join("sp-cert.pem")).context("read KS sp-cert.pem")?;
            (key, cert)
        }
    };
    write_private(&key_path, &key_pem)?;
    fs::write(&cert_path, &cert_pem).with_context(|| format!("write {}", cert_path.display()))?;
    let password_path = root.join("secrets").join(format!("{}.passord", spec.name));
    write_private(&password_path, spec.configured_password.as_bytes())?;
    let drop_folder = root.join("drop").join(&spec.name);
    fs::create_dir_all(&drop_folder)?;
    Ok(Installed {
        spec,
        key_path,
        cert_path,
        cert_pem,
        password_path,
        drop_folder,
    })
}

/// A temporary world: the fake SvarInn, the files, and agents started in it.
/// Drop order: the fake, then its runtime, then the folder.
pub struct World {
    pub fake: FakeSvarInnHandle,
    pub rt: tokio::runtime::Runtime,
    pub systems: Vec<Installed>,
    pub config_path: PathBuf,
    pub log_level: String,
    /// The API the config names (see [`WorldBuilder::api`], [`World::switch_api`]).
    pub api: SvarInnApi,
    pub root: PathBuf,
    spawned: Mutex<u32>,
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl World {
    pub fn builder() -> WorldBuilder {
        WorldBuilder {
            systems: Vec::new(),
            log_level: "info".to_owned(),
            seed: 0x5EED,
            api: SvarInnApi::V1,
        }
    }

    /// A world with one system.
    pub fn single(system: System) -> Result<World> {
        World::single_over(SvarInnApi::V1, system)
    }

    /// A world with one system, the fake and its config speaking `api`.
    pub fn single_over(api: SvarInnApi, system: System) -> Result<World> {
        World::builder().api(api).system(system).start()
    }

    /// The temporary folder (kept while the world lives).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The installed system called `name`.
    pub fn system(&self, name: &str) -> Result<&Installed> {
        self.systems
            .iter()
            .find(|s| s.spec.name == name)
            .ok_or_else(|| anyhow!("no system {name:?} in this world"))
    }

    /// The first system.
    pub fn first(&self) -> Result<&Installed> {
        self.systems
            .first()
            .ok_or_else(|| anyhow!("this world has no system"))
    }

    /// Runs a future on the fake's runtime.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// The config text the agent gets.
    pub fn config_text(&self) -> Result<String> {
        let r = self.root.display();
        let mut out = format!(
            "[agent]\nstate_dir = \"{r}/state\"\nlog_dir = \"{r}/log\"\nconsole_socket = \"{r}/state/console.sock\"\nlog_level = \"{}\"\n",
            self.log_level
        );
        for s in &self.systems {
            let url = match s.spec.endpoint {
                Endpoint::Fake => self.fake.base_url().to_owned(),
                Endpoint::ClosedPort => format!("http://127.0.0.1:{}", closed_port()?),
            };
            out.push_str(&format!(
                "\n[[mottakersystem]]\nname = \"{name}\"\nsvarinn_url = \"{url}\"\nusername = \"{user}\"\npassword = \"file:{pw}\"\nprivate_keys = [\"{key}\"]\ncertificates = [\"{cert}\"]\ndrop_folder = \"{drop}\"\npoll_interval = \"{poll}\"\nack = \"{ack}\"\nunzip = {unzip}\nmax_decrypt_attempts = {mda}\nmax_concurrent_downloads = {mcd}\n",
                name = s.spec.name,
                user = s.spec.username,
                pw = s.password_path.display(),
                key = s.key_path.display(),
                cert = s.cert_path.display(),
                drop = s.drop_folder.display(),
                poll = s.spec.poll_interval,
                ack = s.spec.ack.as_str(),
                unzip = s.spec.unzip,
                mda = s.spec.max_decrypt_attempts,
                mcd = s.spec.max_concurrent_downloads,
            ));
            if self.api == SvarInnApi::V2 {
                out.push_str("svarinn_api = \"v2\"\n");
            }
            for line in &s.spec.extra {
                out.push_str(line);
                out.push('\n');
            }
        }
        Ok(out)
    }

    /// Switches the fake and the config to `api` (an agent started after reads it).
    pub fn switch_api(&mut self, api: SvarInnApi) -> Result<()> {
        self.api = api;
        self.fake.switch_api(api);
        self.write_config()
    }

    fn write_config(&self) -> Result<()> {
        let text = self.config_text()?;
        fs::write(&self.config_path, text)
            .with_context(|| format!("write {}", self.config_path.display()))
    }

    /// `mottak-agent run --config <world>/agent.toml`, with stdout and stderr
    /// to `agent-<n>.stderr` and no systemd variables inherited.
    pub fn agent_command(&self) -> Result<(Command, PathBuf)> {
        self.agent_command_for(&self.config_path)
    }

    /// [`World::agent_command`] with another config file.
    pub fn agent_command_for(&self, config: &Path) -> Result<(Command, PathBuf)> {
        let n = {
            let mut g = self.spawned.lock().map_err(|_| anyhow!("lock poisoned"))?;
            *g += 1;
            *g
        };
        let log = self.root.join(format!("agent-{n:03}.stderr"));
        let file = File::create(&log).with_context(|| format!("create {}", log.display()))?;
        let mut cmd = Command::new(binary("mottak-agent")?);
        cmd.arg("run")
            .arg("--config")
            .arg(config)
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file);
        for var in [
            "NOTIFY_SOCKET",
            "WATCHDOG_USEC",
            "WATCHDOG_PID",
            "CREDENTIALS_DIRECTORY",
            "JOURNAL_STREAM",
            "RUST_LOG",
            "LISTEN_FDS",
            "LISTEN_PID",
        ] {
            cmd.env_remove(var);
        }
        Ok((cmd, log))
    }

    /// Starts the agent.
    pub fn spawn_agent(&self) -> Result<Agent> {
        let (mut cmd, log) = self.agent_command()?;
        Agent::spawn(&mut cmd, log)
    }

    /// Every agent output and log file, concatenated (stderr files first).
    pub fn all_logs(&self) -> Result<String> {
        let mut out = String::new();
        let mut files: Vec<PathBuf> = Vec::new();
        for entry in fs::read_dir(&self.root)? {
            let p = entry?.path();
            if p.extension().is_some_and(|e| e == "stderr") {
                files.push(p);
            }
        }
        files.sort();
        let mut logs: Vec<PathBuf> = fs::read_dir(self.root.join("log"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        logs.sort();
        files.extend(logs);
        for f in files {
            let bytes = fs::read(&f).with_context(|| format!("read {}", f.display()))?;
            out.push_str(&format!("==> {} <==\n", f.display()));
            out.push_str(&String::from_utf8_lossy(&bytes));
            out.push('\n');
        }
        Ok(out)
    }

    /// The files in `log_dir`.
    pub fn log_dir_files(&self) -> Result<Vec<PathBuf>> {
        let mut v: Vec<PathBuf> = fs::read_dir(self.root.join("log"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        v.sort();
        Ok(v)
    }

    pub fn journal_path(&self) -> PathBuf {
        self.root.join("state").join("journal.sqlite")
    }

    /// Every journal row (empty before the journal exists).
    pub fn journal_rows(&self) -> Result<Vec<JournalRow>> {
        read_journal(&self.journal_path())
    }

    /// The journal row of forsendelse `id` (any mottakersystem).
    pub fn journal_row(&self, id: &str) -> Result<Option<JournalRow>> {
        Ok(self.journal_rows()?.into_iter().find(|r| r.id == id))
    }

    /// The journal state of `id`, or `None` when it is not there (yet).
    pub fn state_of(&self, id: &str) -> Option<String> {
        self.journal_row(id).ok().flatten().map(|r| r.state)
    }

    /// A one-line-per-row summary of the journal, for failure messages.
    pub fn journal_summary(&self) -> String {
        match self.journal_rows() {
            Ok(rows) => {
                let mut counts: BTreeMap<String, usize> = BTreeMap::new();
                for r in &rows {
                    *counts
                        .entry(format!("{}:{}", r.mottakersystem, r.state))
                        .or_default() += 1;
                }
                let mut s = format!("journal: {counts:?}");
                for r in rows.iter().filter(|r| r.last_error.is_some()).take(10) {
                    s.push_str(&format!(
                        "\n  {} {} {}: {}",
                        r.mottakersystem,
                        r.id,
                        r.state,
                        r.last_error.as_deref().unwrap_or("")
                    ));
                }
                s
            }
            Err(e) => format!("journal unreadable: {e:#}"),
        }
    }

    /// Waits for `condition`, failing at once if the agent exits, and with the
    /// agent's stderr tail and the journal in the error on timeout.
    pub fn wait(
        &self,
        agent: &mut Agent,
        what: &str,
        limit: Duration,
        mut condition: impl FnMut() -> bool,
    ) -> Result<()> {
        let mut exited = None;
        let res = wait_until(what, limit, || {
            if condition() {
                return true;
            }
            if let Some(status) = agent.try_status() {
                exited = Some(status);
                return true;
            }
            false
        });
        if let Some(status) = exited
            && !condition()
        {
            bail!(
                "the agent exited ({status}) while waiting for {what}\n{}\n--- agent output (tail) ---\n{}",
                self.journal_summary(),
                agent.output_tail(60)
            );
        }
        res.map_err(|e| {
            anyhow!(
                "{e}\n{}\n--- fake events: {} ---\n--- agent output (tail) ---\n{}",
                self.journal_summary(),
                summarize_events(&self.fake.events()),
                agent.output_tail(60)
            )
        })
    }

    /// Waits until every id is published in `system`'s `inn/`.
    pub fn wait_published(
        &self,
        agent: &mut Agent,
        system: &Installed,
        ids: &[String],
        limit: Duration,
    ) -> Result<()> {
        self.wait(
            agent,
            &format!("{} forsendelser in {}", ids.len(), system.inn().display()),
            limit,
            || ids.iter().all(|id| system.is_published(id)),
        )
    }

    /// Waits until the fake has an accepted kvittering for every id.
    pub fn wait_acked(&self, agent: &mut Agent, ids: &[String], limit: Duration) -> Result<()> {
        self.wait(
            agent,
            &format!("kvitteringer for {} forsendelser", ids.len()),
            limit,
            || {
                let acked = self.fake.acked_ids();
                ids.iter().all(|id| acked.contains(id))
            },
        )
    }

    /// Waits until the journal says `state` for every id.
    pub fn wait_state(
        &self,
        agent: &mut Agent,
        ids: &[String],
        state: &str,
        limit: Duration,
    ) -> Result<()> {
        self.wait(
            agent,
            &format!("journal state {state} for {} forsendelser", ids.len()),
            limit,
            || match self.journal_rows() {
                Ok(rows) => ids.iter().all(|id| {
                    rows.iter()
                        .any(|r| &r.id == id && r.state.as_str() == state)
                }),
                Err(_) => false,
            },
        )
    }

    /// Waits until the fake has served `n` more successful lists to `username`
    /// than it had when called: proof that the agent went round its loop.
    pub fn wait_polls(
        &self,
        agent: &mut Agent,
        username: &str,
        n: usize,
        limit: Duration,
    ) -> Result<()> {
        let before = count_lists(&self.fake.events(), username);
        self.wait(
            agent,
            &format!("{n} more polls by {username}"),
            limit,
            || count_lists(&self.fake.events(), username) >= before + n,
        )
    }
}

/// Successful lists served to `username`.
pub fn count_lists(events: &[Event], username: &str) -> usize {
    events
        .iter()
        .filter(|e| {
            matches!(e.kind, EventKind::List { .. })
                && e.mottakersystem.as_deref() == Some(username)
        })
        .count()
}

/// Download starts (headers sent) for `id`.
pub fn download_starts(events: &[Event], id: &str) -> usize {
    events
        .iter()
        .filter(|e| {
            matches!(e.kind, EventKind::DownloadStart { .. })
                && e.forsendelse.as_deref() == Some(id)
        })
        .count()
}

/// Completed downloads of `id`.
pub fn complete_downloads(events: &[Event], id: &str) -> usize {
    events
        .iter()
        .filter(|e| e.is_complete_download_of(id))
        .count()
}

/// Accepted kvitteringer of `id`.
pub fn kvitteringer_of(events: &[Event], id: &str) -> Vec<Event> {
    events
        .iter()
        .filter(|e| e.is_kvittering_of(id))
        .cloned()
        .collect()
}

/// Kvitteringer of `id` that repeat an earlier one without SvarInn having
/// listed `id` again in between (a list served after the earlier kvittering
/// was accepted). Such a repeat answers no lost acknowledgement: it comes from
/// acting on a stale list. Use only where no kvittering request failed (a
/// retry after a timed-out kvittering is a legitimate repeat).
pub fn unjustified_kvitteringer(events: &[Event], id: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut acked_at: Option<u64> = None;
    let mut listed_since = false;
    for e in events {
        match &e.kind {
            EventKind::List { ids } if ids.iter().any(|i| i == id) => listed_since = true,
            EventKind::Kvittering { .. } if e.forsendelse.as_deref() == Some(id) => {
                if let Some(prev) = acked_at
                    && !listed_since
                {
                    out.push(format!(
                        "kvittering #{} of {id} repeats #{prev} although no list served after #{prev} held it",
                        e.seq
                    ));
                }
                acked_at = Some(e.seq);
                listed_since = false;
            }
            _ => {}
        }
    }
    out
}

/// Accepted mottakFeilet calls for `id`: (feilmelding, permanent).
pub fn mottak_feilet_of(events: &[Event], id: &str) -> Vec<(String, bool)> {
    events
        .iter()
        .filter(|e| e.forsendelse.as_deref() == Some(id))
        .filter_map(|e| match &e.kind {
            EventKind::MottakFeilet {
                feilmelding,
                permanent,
            } => Some((feilmelding.clone(), *permanent)),
            _ => None,
        })
        .collect()
}

/// Requests of `kind` refused (any status) for `username`.
pub fn rejected(events: &[Event], username: &str, kind: RequestKind) -> usize {
    events
        .iter()
        .filter(|e| {
            e.mottakersystem.as_deref() == Some(username)
                && matches!(&e.kind, EventKind::Rejected { request, .. } if *request == kind)
        })
        .count()
}

/// Counts of event kinds, for failure messages.
pub fn summarize_events(events: &[Event]) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for e in events {
        let k = match &e.kind {
            EventKind::List { .. } => "list".to_owned(),
            EventKind::DownloadStart { .. } => "download-start".to_owned(),
            EventKind::DownloadEnd { complete, .. } => format!("download-end(complete={complete})"),
            EventKind::Kvittering { first } => format!("kvittering(first={first})"),
            EventKind::MottakFeilet { permanent, .. } => {
                format!("mottakFeilet(permanent={permanent})")
            }
            EventKind::Rejected { request, .. } => format!("rejected({request}, {})", e.status),
        };
        *counts.entry(k).or_default() += 1;
    }
    format!("{counts:?}")
}

/// A port on 127.0.0.1 that nothing listens on (bound, then closed).
pub fn closed_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

// ---------------------------------------------------------------------------
// The agent process

/// A running `mottak-agent run`.
#[derive(Debug)]
pub struct Agent {
    pub guard: ChildGuard,
    /// Its stdout and stderr.
    pub output: PathBuf,
    status: Option<ExitStatus>,
}

impl Agent {
    pub fn spawn(cmd: &mut Command, output: PathBuf) -> Result<Agent> {
        Ok(Agent {
            guard: ChildGuard::spawn("mottak-agent", cmd)?,
            output,
            status: None,
        })
    }

    pub fn pid(&self) -> u32 {
        self.guard.id()
    }

    /// Its exit status, if it has exited (reaped).
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none()
            && let Ok(Some(st)) = self.guard.child.try_wait()
        {
            self.status = Some(st);
        }
        self.status
    }

    /// Fails if the agent has exited.
    pub fn assert_running(&mut self) -> Result<()> {
        match self.try_status() {
            None => Ok(()),
            Some(st) => bail!(
                "the agent exited ({st})\n--- agent output (tail) ---\n{}",
                self.output_tail(60)
            ),
        }
    }

    /// Everything it printed so far.
    pub fn output_text(&self) -> String {
        let mut bytes = Vec::new();
        if let Ok(mut f) = File::open(&self.output) {
            let _ = f.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Its last `n` lines of output.
    pub fn output_tail(&self, n: usize) -> String {
        let text = self.output_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// SIGKILL and reap: a crash.
    pub fn kill(&mut self) -> Result<()> {
        self.guard.kill()?;
        Ok(())
    }

    /// SIGTERM (through `kill(1)`: no `unsafe` here), then wait up to `limit`
    /// for the exit.
    pub fn terminate(&mut self, limit: Duration) -> Result<ExitStatus> {
        if let Some(st) = self.try_status() {
            bail!(
                "the agent had already exited ({st}) before SIGTERM\n{}",
                self.output_tail(60)
            );
        }
        let pid = self.pid().to_string();
        let st = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .context("run kill -TERM")?;
        if !st.success() {
            bail!("kill -TERM {pid} failed: {st}");
        }
        self.wait_exit(limit)
    }

    /// Waits up to `limit` for the agent to exit on its own.
    pub fn wait_exit(&mut self, limit: Duration) -> Result<ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(st) = self.try_status() {
                return Ok(st);
            }
            if start.elapsed() > limit {
                bail!(
                    "the agent did not exit within {limit:?}\n--- agent output (tail) ---\n{}",
                    self.output_tail(60)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

// ---------------------------------------------------------------------------
// The drop folder as the fagsystem sees it

/// A published forsendelse: `forsendelse.json` and the other files.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub json: serde_json::Value,
    /// File name → bytes, `forsendelse.json` excluded.
    pub files: BTreeMap<String, Vec<u8>>,
}

/// Reads `folder` (regular files only: anything else is an error).
pub fn read_delivered(folder: &Path) -> Result<Delivered> {
    let mut json = None;
    let mut files = BTreeMap::new();
    for entry in
        fs::read_dir(folder).with_context(|| format!("read the folder {}", folder.display()))?
    {
        let entry = entry?;
        let meta = fs::symlink_metadata(entry.path())?;
        let name = entry
            .file_name()
            .into_string()
            .map_err(|n| anyhow!("a file name that is not UTF-8: {n:?}"))?;
        if !meta.is_file() {
            bail!(
                "{} holds {name:?}, which is not a regular file ({:?})",
                folder.display(),
                meta.file_type()
            );
        }
        let bytes = fs::read(entry.path())?;
        if name == FORSENDELSE_JSON {
            json = Some(
                serde_json::from_slice(&bytes)
                    .with_context(|| format!("{name} in {} is not JSON", folder.display()))?,
            );
        } else {
            files.insert(name, bytes);
        }
    }
    Ok(Delivered {
        json: json.ok_or_else(|| anyhow!("no {FORSENDELSE_JSON} in {}", folder.display()))?,
        files,
    })
}

/// Names (not paths) of the entries of `dir`, sorted; empty if it does not exist.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = match fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// Every path under `dir` (recursively, symlinks not followed), relative to it.
pub fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let rd = match fs::read_dir(&d) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("read {}", d.display())),
        };
        for entry in rd {
            let entry = entry?;
            let p = entry.path();
            out.push(p.strip_prefix(dir).unwrap_or(&p).to_path_buf());
            if entry.file_type()?.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Moves `inn/<id>/` to `feilet/<id>/` as a fagsystem does, with `feil.txt`
/// holding `reason` when given (written before the move).
pub fn reject(system: &Installed, id: &str, reason: Option<&str>) -> Result<()> {
    let from = system.inn_of(id);
    if let Some(reason) = reason {
        fs::write(from.join("feil.txt"), reason)?;
    }
    fs::create_dir_all(system.feilet())?;
    fs::rename(&from, system.feilet().join(id))
        .with_context(|| format!("move {} to feilet/", from.display()))?;
    Ok(())
}

/// Removes `inn/<id>/` as a fagsystem does when it has imported it.
pub fn import(system: &Installed, id: &str) -> Result<()> {
    let p = system.inn_of(id);
    fs::remove_dir_all(&p).with_context(|| format!("remove {}", p.display()))
}

// ---------------------------------------------------------------------------
// The journal, read-only

/// The columns of a journal row the tests look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalRow {
    pub mottakersystem: String,
    pub id: String,
    pub state: String,
    pub attempts: i64,
    pub content_failures: i64,
    pub last_error: Option<String>,
    pub digisos_id: Option<String>,
    pub folder_name: Option<String>,
    pub reason: Option<String>,
}

/// Every row of the journal at `path`; empty when there is no journal yet.
pub fn read_journal(path: &Path) -> Result<Vec<JournalRow>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("open {} read-only", path.display()))?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let has_table: i64 = conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'forsendelse'",
        [],
        |r| r.get(0),
    )?;
    if has_table == 0 {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare(
        "SELECT mottakersystem, forsendelse_id, state, attempts, content_failures, last_error,
                digisos_id, folder_name, reason
         FROM forsendelse ORDER BY mottakersystem, forsendelse_id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(JournalRow {
            mottakersystem: r.get(0)?,
            id: r.get(1)?,
            state: r.get(2)?,
            attempts: r.get(3)?,
            content_failures: r.get(4)?,
            last_error: r.get(5)?,
            digisos_id: r.get(6)?,
            folder_name: r.get(7)?,
            reason: r.get(8)?,
        })
    })?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row?);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Zips

/// One entry of a zip built by [`zip_bytes`].
#[derive(Debug, Clone)]
pub enum ZipEntry {
    /// A file, deflated.
    File(String, Vec<u8>),
    /// A file, stored.
    Stored(String, Vec<u8>),
    /// A symbolic link `name` → `target`.
    Symlink(String, String),
    /// A directory.
    Dir(String),
}

/// A zip in memory.
pub fn zip_bytes(entries: &[ZipEntry]) -> Result<Vec<u8>> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o644);
    let stored = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .unix_permissions(0o644);
    for e in entries {
        match e {
            ZipEntry::File(name, bytes) => {
                w.start_file(name.as_str(), deflated)?;
                w.write_all(bytes)?;
            }
            ZipEntry::Stored(name, bytes) => {
                w.start_file(name.as_str(), stored)?;
                w.write_all(bytes)?;
            }
            ZipEntry::Symlink(name, target) => {
                w.add_symlink(name.as_str(), target.as_str(), stored)?;
            }
            ZipEntry::Dir(name) => {
                w.add_directory(name.as_str(), stored)?;
            }
        }
    }
    Ok(w.finish()?.into_inner())
}

/// The file entries of a zip: name → bytes.
pub fn unzip_bytes(zip: &[u8]) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip))?;
    let mut out = BTreeMap::new();
    for i in 0..archive.len() {
        let mut f = archive.by_index(i)?;
        if !f.is_file() {
            continue;
        }
        let name = f.name()?.into_owned();
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes)?;
        out.insert(name, bytes);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Checks at kvittering time

/// Problems seen by a check run inside the fake (at kvittering time).
pub type Violations = Arc<Mutex<Vec<String>>>;

/// A small PDF-looking plaintext, distinct per `n`.
pub fn small_pdf(n: usize, len: usize) -> Vec<u8> {
    let mut v = format!("%PDF-1.4\n% forsendelse {n}\n").into_bytes();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ (n as u64);
    while v.len() + 6 < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push(b'a' + u8::try_from(x % 26).unwrap_or(0));
    }
    v.extend_from_slice(b"\n%%EOF");
    v
}

/// Installs a check the fake runs when it accepts a kvittering for one of
/// `system`'s forsendelser:
/// - `published = true` (on-delivery): `inn/<id>/` holds `forsendelse.json`
///   and files whose sha256 are exactly those SvarInn declared in `filmetadata`
///   (so: with `unzip = true` for zips);
/// - `published = false` (on-import): the folder has left `inn/` and is not in
///   `feilet/` (the fagsystem imported it).
///
/// Install it after adding the forsendelser: their declared sha256 are read
/// now. A kvittering of a forsendelse added later is a violation. A repeated
/// kvittering (`first = false`) is checked the same way. Returns the
/// violations seen; a test asserts it is empty at the end.
pub fn check_at_kvittering(world: &World, system: &Installed, published: bool) -> Violations {
    let violations: Violations = Arc::default();
    let v = Arc::clone(&violations);
    let check = kvittering_check(world, system, published);
    world.fake.on_kvittering(move |call| {
        if let Some(p) = check(call) {
            v.lock().unwrap_or_else(|e| e.into_inner()).push(p);
        }
    });
    violations
}

/// The check of [`check_at_kvittering`] as a function, for a test that
/// installs its own hook: `Some(problem)` when the kvittering came too early.
pub fn kvittering_check(
    world: &World,
    system: &Installed,
    published: bool,
) -> impl Fn(&KvitteringCall) -> Option<String> + Send + Sync + 'static {
    let sys = system.clone();
    let declared: BTreeMap<String, Vec<String>> = world
        .fake
        .waiting_ids(&system.spec.username)
        .into_iter()
        .filter_map(|id| {
            let f = world.fake.forsendelse(&id)?;
            Some((
                id,
                f.filmetadata.into_iter().map(|m| m.sha256hash).collect(),
            ))
        })
        .collect();
    move |call: &KvitteringCall| {
        if call.mottakersystem != sys.spec.username {
            return None;
        }
        let id = &call.forsendelse;
        let problem = if published {
            match declared.get(id) {
                Some(want) => check_published(&sys, id, want).err(),
                None => Some(format!("{id}: not known when the check was installed")),
            }
        } else if sys.inn_of(id).exists() {
            Some(format!("{id} acknowledged while still in inn/"))
        } else if sys.feilet().join(id).exists() {
            Some(format!(
                "{id} acknowledged although the fagsystem rejected it (feilet/)"
            ))
        } else {
            None
        };
        problem.map(|p| format!("kvittering (first={}) of {p}", call.first))
    }
}

/// `inn/<id>/` is whole: `forsendelse.json` naming `id`, and files whose
/// sha256 are exactly `want` (as a multiset).
pub fn check_published(
    sys: &Installed,
    id: &str,
    want: &[String],
) -> std::result::Result<(), String> {
    let folder = sys.inn_of(id);
    let d = read_delivered(&folder).map_err(|e| format!("{id}: not published: {e:#}"))?;
    if d.json.get("id").and_then(|v| v.as_str()) != Some(id) {
        return Err(format!(
            "{id}: forsendelse.json names another id: {}",
            d.json
        ));
    }
    let mut got: Vec<String> = d.files.values().map(|b| sha256_hex(b)).collect();
    got.sort();
    let mut want = want.to_vec();
    want.sort();
    if got != want {
        return Err(format!(
            "{id}: files {:?} have sha256 {got:?}, SvarInn declared {want:?}",
            d.files.keys().collect::<Vec<_>>()
        ));
    }
    Ok(())
}
