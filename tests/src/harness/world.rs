//! The temporary [`World`]: its folders, the fake SvarInn on its own runtime, the
//! config text, starting agents in it, and waits that fail with the evidence.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use mottak_fixtures::svarinn::{FakeSvarInn, FakeSvarInnHandle, MottakersystemSpec, SvarInnApi};

use super::system::install;
use super::{
    Agent, Endpoint, Installed, JournalRow, System, closed_port, count_lists, read_journal,
    summarize_events,
};
use crate::{binary, wait_until};

/// How a [`World`] is set up.
#[derive(Debug, Clone)]
pub struct WorldBuilder {
    systems: Vec<System>,
    log_level: String,
    seed: u64,
    api: SvarInnApi,
    temp_in: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    console_socket: Option<PathBuf>,
    agent_lines: Vec<String>,
    tables: String,
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

    /// Where the temporary folder goes (default: the system's temporary folder).
    pub fn temp_in(mut self, parent: impl Into<PathBuf>) -> Self {
        self.temp_in = Some(parent.into());
        self
    }

    /// The agent's `state_dir` (journal, console socket), an existing folder
    /// the caller owns (default: `<tmp>/state`); a bench puts it elsewhere.
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }

    /// The agent's `console_socket`, relative to the world's folder (default:
    /// `<state_dir>/console.sock`); a test that lets another user reach the
    /// socket puts it at the top, whose mode it changes.
    pub fn console_socket(mut self, path: impl Into<PathBuf>) -> Self {
        self.console_socket = Some(path.into());
        self
    }

    /// One more `key = value` line under `[agent]`, e.g. `metrics = "127.0.0.1:9100"`.
    pub fn agent_line(mut self, line: &str) -> Self {
        self.agent_lines.push(line.to_owned());
        self
    }

    /// More tables after `[agent]` and its lines, before the mottakersystemer
    /// (e.g. `[agent.remote]`).
    pub fn tables(mut self, text: &str) -> Self {
        self.tables.push_str(text);
        self
    }

    /// Makes the folders, keys and secrets, starts the fake and writes the config.
    pub fn start(self) -> Result<World> {
        let mut temp = tempfile::Builder::new();
        temp.prefix("mottak-e2e-");
        let dir = match &self.temp_in {
            Some(parent) => temp.tempdir_in(parent),
            None => temp.tempdir(),
        }
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
        let state_dir = self.state_dir.unwrap_or_else(|| root.join("state"));
        let console_socket = match self.console_socket {
            Some(path) => root.join(path),
            None => state_dir.join("console.sock"),
        };
        let world = World {
            fake,
            rt,
            systems: installed,
            config_path,
            log_level: self.log_level,
            api: self.api,
            state_dir,
            console_socket,
            agent_lines: self.agent_lines,
            tables: self.tables,
            root,
            spawned: Mutex::new(0),
            dir,
        };
        world.write_config()?;
        Ok(world)
    }
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
    /// The agent's `state_dir`.
    pub state_dir: PathBuf,
    /// The agent's `console_socket`.
    pub console_socket: PathBuf,
    agent_lines: Vec<String>,
    tables: String,
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
            temp_in: None,
            state_dir: None,
            console_socket: None,
            agent_lines: Vec::new(),
            tables: String::new(),
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

    /// Stops the fake and leaves the temporary folder on disk (for a look
    /// afterwards); returns its path.
    pub fn keep(self) -> PathBuf {
        let World { dir, .. } = self;
        dir.keep()
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
        let state = self.state_dir.display();
        let socket = self.console_socket.display();
        let mut out = format!(
            "[agent]\nstate_dir = \"{state}\"\nlog_dir = \"{r}/log\"\nconsole_socket = \"{socket}\"\nlog_level = \"{}\"\n",
            self.log_level
        );
        for line in &self.agent_lines {
            out.push_str(line);
            out.push('\n');
        }
        if !self.tables.is_empty() {
            out.push('\n');
            out.push_str(&self.tables);
            if !self.tables.ends_with('\n') {
                out.push('\n');
            }
        }
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
        self.state_dir.join("journal.sqlite")
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
