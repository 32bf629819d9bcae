//! The end-to-end harness for the outbound pipeline: the inbound [`World`]
//! (fake SvarInn, keys, config, the real `mottak-agent`) plus a fake
//! Maskinporten and a fake Fiks Digisos on their own runtime, a Maskinporten
//! client key and chain, the integration password, and a
//! `[mottakersystem.digisos]` table pointing at the fakes.
//!
//! The test plays the fagsystem: [`OutboundWorld::write_update`] writes
//! `ut/<digisos-id>/digisos-soker.json` and its files, then `KLAR` last, and
//! [`OutboundWorld::sendt`] reads what the agent put in `ut-sendt/`;
//! [`OutboundWorld::check_sendt`] holds each `kvittering.json` against its
//! folder, the journal and what the fake Fiks received.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use mottak_fixtures::TestKeyPair;
use mottak_fixtures::digisos::{FakeFiksDigisos, FakeFiksDigisosHandle};
use mottak_fixtures::kit::write_private;
use mottak_fixtures::maskinporten::{FakeMaskinporten, FakeMaskinportenHandle};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use mottak_protocol::console::{Command as ConsoleCommand, ConsoleState, Outcome};

use crate::console_client::ConsoleSession;
use crate::harness::{Agent, System, World};
use crate::wait_until;

/// The kommune's Fiks organisation in every outbound world.
pub const FIKS_ORG: &str = "11415cd1-e26d-499a-8421-751457dfcbd5";
/// The integration.
pub const INTEGRASJON_ID: &str = "0b9c8f5e-2f3a-4c55-9d1e-5d7f6a8b9c0d";
pub const INTEGRASJON_PASSORD: &str = "integrasjon-pw-Zk3";
/// The Maskinporten client.
pub const CLIENT_ID: &str = "mottak-test-client";
/// The mottakersystem's name.
pub const SYSTEM: &str = "nav-ut";

/// A digisos-id for case `n` (lowercase UUID).
pub fn case_id(n: u32) -> String {
    format!("3fa85f64-5717-4562-b3fc-{n:012x}")
}

/// A world with outbound configured.
pub struct OutboundWorld {
    pub world: World,
    pub mp: FakeMaskinportenHandle,
    pub fiks: FakeFiksDigisosHandle,
    /// Runs the two fakes.
    pub rt: tokio::runtime::Runtime,
    pub client: TestKeyPair,
    /// The agent's metrics listener (`127.0.0.1`), for [`OutboundWorld::wait_turns`].
    pub metrics_port: u16,
    secrets: tempfile::TempDir,
}

impl std::fmt::Debug for OutboundWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundWorld")
            .field("world", &self.world)
            .finish_non_exhaustive()
    }
}

/// How the world is set up.
#[derive(Debug, Clone)]
pub struct Options {
    /// Cases the fake Fiks knows.
    pub cases: Vec<String>,
    /// `expires_in` of Maskinporten tokens.
    pub token_lifetime: Duration,
    /// More lines in `[mottakersystem.digisos]`.
    pub digisos_extra: Vec<String>,
    pub log_level: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            cases: (1..=4).map(case_id).collect(),
            token_lifetime: Duration::from_secs(120),
            digisos_extra: Vec::new(),
            log_level: "info".into(),
        }
    }
}

impl OutboundWorld {
    pub fn start(options: Options) -> Result<OutboundWorld> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("fake-fiks")
            .build()?;
        let client = TestKeyPair::generate("Kommune virksomhetssertifikat")?;
        let mp = rt.block_on(
            FakeMaskinporten::builder()
                .trust_client(CLIENT_ID, &client.cert_pem)
                .token_lifetime(options.token_lifetime)
                .start(),
        )?;
        let mut builder = FakeFiksDigisos::builder()
            .maskinporten(&mp)
            .integrasjon(INTEGRASJON_ID, INTEGRASJON_PASSORD)
            .fiks_org(FIKS_ORG);
        for c in &options.cases {
            builder = builder.case(c.clone());
        }
        let fiks = rt.block_on(builder.start())?;

        let secrets = tempfile::Builder::new().prefix("mottak-ut-").tempdir()?;
        let key = secrets.path().join("virksomhet.pem");
        let chain = secrets.path().join("virksomhet-chain.pem");
        let passord = secrets.path().join("integrasjon.passord");
        write_private(&key, client.key_pem.as_bytes())?;
        fs::write(&chain, &client.cert_pem)?;
        write_private(&passord, INTEGRASJON_PASSORD.as_bytes())?;

        let mut system = System::new(SYSTEM).poll_interval("5s");
        let mut lines = vec![
            "[mottakersystem.digisos]".to_owned(),
            format!("fiks_api_url = \"{}\"", fiks.base_url()),
            format!("fiks_org_id = \"{FIKS_ORG}\""),
            format!("integrasjon_id = \"{INTEGRASJON_ID}\""),
            format!("integrasjon_passord = \"file:{}\"", passord.display()),
            "poll_interval = \"200ms\"".to_owned(),
            "request_timeout = \"5s\"".to_owned(),
        ];
        lines.extend(options.digisos_extra.iter().cloned());
        lines.extend([
            "[mottakersystem.digisos.maskinporten]".to_owned(),
            format!("url = \"{}\"", mp.token_url()),
            format!("audience = \"{}\"", mp.audience()),
            format!("client_id = \"{CLIENT_ID}\""),
            format!("private_key = \"{}\"", key.display()),
            format!("certificate_chain = \"{}\"", chain.display()),
        ]);
        for l in lines {
            system = system.extra(&l);
        }
        let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let world = World::builder()
            .system(system)
            .log_level(&options.log_level)
            .agent_line(&format!("metrics = \"127.0.0.1:{metrics_port}\""))
            .start()?;
        Ok(OutboundWorld {
            world,
            mp,
            fiks,
            rt,
            client,
            metrics_port,
            secrets,
        })
    }

    /// Returns once the running agent's `pipeline` (`inbound`, `outbound`) has
    /// turned `n` more times: the turns that would have done what a test
    /// checks did not happen.
    pub fn wait_turns(&self, pipeline: &str, n: u64) -> Result<()> {
        mottak_fixtures::kit::metrics::wait_turns(
            self.metrics_port,
            SYSTEM,
            pipeline,
            n,
            Duration::from_secs(60),
        )
    }

    /// The secrets folder (Maskinporten key, chain, integration password).
    pub fn secrets_dir(&self) -> &Path {
        self.secrets.path()
    }

    pub fn drop_folder(&self) -> Result<PathBuf> {
        Ok(self.world.first()?.drop_folder.clone())
    }

    pub fn ut(&self) -> Result<PathBuf> {
        Ok(self.drop_folder()?.join("ut"))
    }

    pub fn ut_feilet(&self) -> Result<PathBuf> {
        Ok(self.drop_folder()?.join("ut-feilet"))
    }

    pub fn staging(&self) -> Result<PathBuf> {
        Ok(self.drop_folder()?.join(".mottak"))
    }

    pub fn ut_sendt(&self) -> Result<PathBuf> {
        Ok(self.drop_folder()?.join("ut-sendt"))
    }

    /// Claimed folders still in `.mottak/`.
    pub fn claims(&self) -> Result<Vec<String>> {
        Ok(crate::harness::entries(&self.staging()?)
            .into_iter()
            .filter(|n| n.starts_with("ut."))
            .collect())
    }

    /// Every folder in `ut-sendt/` with its `kvittering.json`, by name. A
    /// folder without one, or with one that is not JSON, is an error: the
    /// agent writes it before the folder appears.
    pub fn sendt(&self) -> Result<Vec<Sendt>> {
        let root = self.ut_sendt()?;
        let mut out = Vec::new();
        for name in crate::harness::entries(&root) {
            let dir = root.join(&name);
            let path = dir.join("kvittering.json");
            let text = fs::read_to_string(&path)
                .with_context(|| format!("ut-sendt/{name} has no readable kvittering.json"))?;
            let kvittering: Value = serde_json::from_str(&text)
                .with_context(|| format!("ut-sendt/{name}/kvittering.json: {text}"))?;
            out.push(Sendt {
                name,
                dir,
                kvittering,
            });
        }
        Ok(out)
    }

    /// Waits until `ut-sendt/` holds at least `n` folders.
    pub fn wait_sendt(&self, agent: &mut Agent, n: usize, limit: Duration) -> Result<Vec<Sendt>> {
        let start = std::time::Instant::now();
        loop {
            let now = self.sendt()?;
            if now.len() >= n {
                return Ok(now);
            }
            agent.assert_running()?;
            if start.elapsed() > limit {
                bail!(
                    "timed out after {limit:?} waiting for {n} folders in ut-sendt/; it has {:?}, .mottak/ has {:?}\n--- agent (tail) ---\n{}",
                    now.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
                    self.claims()?,
                    agent.output_tail(40)
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The outbound journal rows with their times, by update id.
    pub fn journal_outbound_rows(&self) -> Result<BTreeMap<String, OutRow>> {
        let conn = rusqlite::Connection::open_with_flags(
            self.world.journal_path(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        conn.busy_timeout(Duration::from_secs(10))?;
        let mut stmt = conn.prepare(
            "SELECT update_id, digisos_id, state, claim_seq, claimed_at, sent_at FROM outbound_update",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(OutRow {
                update_id: r.get(0)?,
                digisos_id: r.get(1)?,
                state: r.get(2)?,
                claim_seq: r.get(3)?,
                claimed_at: r.get(4)?,
                sent_at: r.get(5)?,
            })
        })?;
        let mut out = BTreeMap::new();
        for r in rows {
            let r = r?;
            out.insert(r.update_id.clone(), r);
        }
        Ok(out)
    }

    /// Holds one `ut-sendt/` folder's `kvittering.json` against the folder,
    /// the journal and the fake Fiks:
    /// - it names a journaled update of its case, `sendt` for a `sent` row,
    ///   `erstattet` for a `superseded` one; `hentet`/`sendt`/`erstattet`
    ///   are the journal's times (ISO-8601 with ms, UTC, and the same ms);
    ///   the folder is `<digisosId>-<time>[-n]`, the time in ut-feilet's format;
    /// - `sendt`: every `fil:` placeholder of the folder's
    ///   `digisos-soker.json` is at one of `filer[].pekere`; each file's
    ///   sha256 and size are those of the file in the folder, and its
    ///   `dokumentlagerDokumentId` is a file on the case at Fiks with those
    ///   very bytes; the document with the ids put in is one Fiks accepted
    ///   for the case. Returns that document;
    /// - `erstattet`: `erstattetAv` is a newer update of the same case.
    pub fn check_sendt(&self, s: &Sendt, rows: &BTreeMap<String, OutRow>) -> Result<Option<Value>> {
        let k = &s.kvittering;
        let ctx = format!("ut-sendt/{}: {}", s.name, k);
        let str_of = |key: &str| k.get(key).and_then(Value::as_str);
        let ms_of = |key: &str| k.get(key).and_then(Value::as_i64);
        let check = |cond: bool, what: &str| -> Result<()> {
            if cond { Ok(()) } else { bail!("{what}\n{ctx}") }
        };
        check(
            k.get("kvitteringVersjon") == Some(&json!(1)),
            "kvitteringVersjon is 1",
        )?;
        let id = str_of("oppdateringId").ok_or_else(|| anyhow!("no oppdateringId\n{ctx}"))?;
        let row = rows
            .get(id)
            .ok_or_else(|| anyhow!("oppdateringId {id} is not in the journal\n{ctx}"))?;
        check(
            str_of("digisosId") == Some(row.digisos_id.as_str()),
            "digisosId is the row's",
        )?;
        check(
            ms_of("hentetMs") == Some(row.claimed_at),
            "hentetMs is the claim time",
        )?;
        check(
            str_of("hentet") == Some(iso(row.claimed_at).as_str()),
            "hentet is hentetMs in ISO-8601",
        )?;
        let (finished_ms, doc) = match str_of("status") {
            Some("sendt") => {
                check(row.state == "sent", "sendt only for a sent row")?;
                let at = ms_of("sendtMs");
                check(
                    at.is_some() && at == row.sent_at,
                    "sendtMs is the journal's sent_at",
                )?;
                let at = at.unwrap_or_default();
                check(
                    str_of("sendt") == Some(iso(at).as_str()),
                    "sendt is sendtMs in ISO-8601",
                )?;
                check(k.get("merknad").is_none(), "no merknad on an ordinary send")?;
                check(
                    k.get("erstattetAv").is_none(),
                    "no erstattetAv on a sent one",
                )?;
                (at, Some(self.check_sendt_files(s, &row.digisos_id, &ctx)?))
            }
            Some("erstattet") => {
                check(
                    row.state == "superseded",
                    "erstattet only for a superseded row",
                )?;
                let at = ms_of("erstattetMs").unwrap_or_default();
                check(
                    str_of("erstattet") == Some(iso(at).as_str()),
                    "erstattet is erstattetMs in ISO-8601",
                )?;
                check(at >= row.claimed_at, "superseded after it was claimed")?;
                let by = str_of("erstattetAv").and_then(|b| rows.get(b));
                check(
                    by.is_some_and(|b| {
                        b.digisos_id == row.digisos_id && b.claim_seq > row.claim_seq
                    }),
                    "erstattetAv is a newer update of the same case",
                )?;
                check(
                    k.get("sendt").is_none() && k.get("filer").is_none(),
                    "nothing sent",
                )?;
                (at, None)
            }
            other => bail!("status {other:?}\n{ctx}"),
        };
        let base = format!("{}-{}", row.digisos_id, compact(finished_ms));
        let suffix_ok = s.name.strip_prefix(&base).is_some_and(|rest| {
            rest.is_empty()
                || rest
                    .strip_prefix('-')
                    .is_some_and(|n| n.parse::<u32>().is_ok_and(|n| n >= 2))
        });
        check(suffix_ok, &format!("the folder is named {base}[-n]"))?;
        Ok(doc)
    }

    fn check_sendt_files(&self, s: &Sendt, case: &str, ctx: &str) -> Result<Value> {
        let text = fs::read(s.dir.join("digisos-soker.json"))
            .with_context(|| format!("digisos-soker.json is in the folder\n{ctx}"))?;
        let mut doc: Value = serde_json::from_slice(&text)?;
        let filer = s
            .kvittering
            .get("filer")
            .and_then(Value::as_array)
            .ok_or_else(|| anyhow!("filer is a list\n{ctx}"))?;
        let stored = self.fiks.files(case);
        let mut covered = Vec::new();
        for f in filer {
            let name = f.get("filnavn").and_then(Value::as_str).unwrap_or_default();
            let bytes = fs::read(s.dir.join(name))
                .with_context(|| format!("{name} is in the folder\n{ctx}"))?;
            let sha = hex::encode(Sha256::digest(&bytes));
            if f.get("sha256").and_then(Value::as_str) != Some(sha.as_str())
                || f.get("storrelse").and_then(Value::as_u64) != Some(bytes.len() as u64)
            {
                bail!("{name}: sha256 and storrelse are the folder's file's\n{ctx}");
            }
            let id = f
                .get("dokumentlagerDokumentId")
                .and_then(Value::as_str)
                .ok_or_else(|| anyhow!("{name} has a dokumentlagerDokumentId\n{ctx}"))?;
            let at_fiks = stored.iter().find(|s| s.dokumentlager_dokument_id == id);
            if at_fiks.is_none_or(|s| s.plaintext.as_slice() != bytes.as_slice()) {
                bail!("{name}: {id} is on the case at Fiks with the folder's bytes\n{ctx}");
            }
            for p in f
                .get("pekere")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let p = p.as_str().unwrap_or_default();
                let slot = doc
                    .pointer_mut(p)
                    .ok_or_else(|| anyhow!("{p} is in digisos-soker.json\n{ctx}"))?;
                if slot.as_str() != Some(format!("fil:{name}").as_str()) {
                    bail!("{p} holds fil:{name} in digisos-soker.json\n{ctx}");
                }
                *slot = Value::String(id.to_owned());
                covered.push(p.to_owned());
            }
        }
        let left = dokumentlager_ids(&doc)
            .into_iter()
            .filter(|i| i.starts_with("fil:"))
            .collect::<Vec<_>>();
        if !left.is_empty() {
            bail!("placeholders not named in filer[].pekere: {left:?}\n{ctx}");
        }
        if !self.fiks.updates(case).contains(&doc) {
            bail!(
                "the document with the ids put in is one Fiks accepted for the case: {doc}\n{ctx}"
            );
        }
        Ok(doc)
    }

    pub fn spawn_agent(&self) -> Result<Agent> {
        self.world.spawn_agent()
    }

    /// Writes an update as a fagsystem does: the folder, the files, the
    /// document, and `KLAR` last. Waits (up to `limit`) for an earlier
    /// update of the same case to be claimed first.
    pub fn write_update(
        &self,
        folder_name: &str,
        soker: &Value,
        files: &[(&str, &[u8])],
        limit: Duration,
    ) -> Result<PathBuf> {
        let dir = self.ut()?.join(folder_name);
        wait_until(&format!("ut/{folder_name}/ to be claimed"), limit, || {
            !dir.exists()
        })?;
        fs::create_dir_all(&dir)?;
        for (name, bytes) in files {
            fs::write(dir.join(name), bytes)?;
        }
        fs::write(
            dir.join("digisos-soker.json"),
            serde_json::to_vec_pretty(soker)?,
        )?;
        fs::write(dir.join("KLAR"), b"")?;
        Ok(dir)
    }

    /// Writes raw bytes as `digisos-soker.json` (for bad input).
    pub fn write_raw_update(
        &self,
        folder_name: &str,
        json_text: &[u8],
        files: &[(&str, &[u8])],
    ) -> Result<()> {
        let dir = self.ut()?.join(folder_name);
        fs::create_dir_all(&dir)?;
        for (name, bytes) in files {
            fs::write(dir.join(name), bytes)?;
        }
        fs::write(dir.join("digisos-soker.json"), json_text)?;
        fs::write(dir.join("KLAR"), b"")?;
        Ok(())
    }

    /// Waits until the fake holds `soker` (with `fil:` placeholders
    /// resolved: compared by [`without_ids`]) as the newest update of `case`.
    pub fn wait_latest(
        &self,
        agent: &mut Agent,
        case: &str,
        soker: &Value,
        limit: Duration,
    ) -> Result<Value> {
        let want = without_ids(soker);
        let start = std::time::Instant::now();
        loop {
            if let Some(latest) = self.fiks.latest_update(case)
                && without_ids(&latest) == want
            {
                return Ok(latest);
            }
            agent.assert_running()?;
            if start.elapsed() > limit {
                bail!(
                    "timed out after {limit:?} waiting for case {case}'s update\nlatest at Fiks: {}\nwanted: {}\n--- agent (tail) ---\n{}",
                    self.fiks
                        .latest_update(case)
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "none".into()),
                    soker,
                    agent.output_tail(40)
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The folders in `ut-feilet/`.
    pub fn feilet_folders(&self) -> Result<Vec<String>> {
        // Missing until the agent has made the layout.
        Ok(crate::harness::entries(&self.ut_feilet()?))
    }

    /// Waits for a folder in `ut-feilet/` whose name starts with `prefix`
    /// and returns its `feil.txt`.
    pub fn wait_feilet(
        &self,
        agent: &mut Agent,
        prefix: &str,
        limit: Duration,
    ) -> Result<(String, String)> {
        let start = std::time::Instant::now();
        loop {
            for name in self.feilet_folders()? {
                if name.starts_with(prefix) {
                    let feil = self.ut_feilet()?.join(&name).join("feil.txt");
                    if let Ok(text) = fs::read_to_string(&feil) {
                        return Ok((name, text));
                    }
                }
            }
            agent.assert_running()?;
            if start.elapsed() > limit {
                bail!(
                    "timed out after {limit:?} waiting for ut-feilet/{prefix}*; ut-feilet has {:?}\n--- agent (tail) ---\n{}",
                    self.feilet_folders()?,
                    agent.output_tail(40)
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The outbound journal rows: (update_id, digisos_id, state).
    pub fn journal_outbound(&self) -> Result<Vec<(String, String, String)>> {
        let conn = rusqlite::Connection::open_with_flags(
            self.world.journal_path(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        conn.busy_timeout(Duration::from_secs(10))?;
        let mut stmt = conn.prepare(
            "SELECT update_id, digisos_id, state FROM outbound_update ORDER BY claim_seq",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The agent's console socket.
    pub fn console_socket(&self) -> PathBuf {
        self.world.root.join("state").join("console.sock")
    }

    /// Makes the test's user an operator everywhere (before the agent starts,
    /// or the agent sees it at the next command).
    pub fn grant_operator(&self) -> Result<()> {
        crate::console_client::grant_operator(&self.world.config_path)
    }

    /// One console session: waits (up to `limit`) for the socket, then runs `f`.
    fn console<T>(
        &self,
        limit: Duration,
        f: impl AsyncFnOnce(&mut ConsoleSession) -> Result<T>,
    ) -> Result<T> {
        let socket = self.console_socket();
        self.rt.block_on(async move {
            let start = std::time::Instant::now();
            let mut session = loop {
                match ConsoleSession::connect(&socket).await {
                    Ok(s) => break s,
                    Err(e) if start.elapsed() > limit => {
                        return Err(e.context("the console socket never answered"));
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            };
            f(&mut session).await
        })
    }

    /// The console state a fresh subscriber gets now.
    pub fn console_state(&self, limit: Duration) -> Result<ConsoleState> {
        self.console(limit, async |s| s.snapshot().await)
    }

    /// Sends one console command and returns its outcome.
    pub fn console_command(&self, command: ConsoleCommand, limit: Duration) -> Result<Outcome> {
        // The agent answers a repeated (user, id) with its first outcome.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("test-{}-{n}", std::process::id());
        self.console(limit, async move |s| s.command(&id, command).await)
    }

    /// Files uploaded more than once (by plaintext SHA-256).
    pub fn double_uploads(&self) -> Vec<(String, u32)> {
        let mut out: Vec<(String, u32)> = self
            .fiks
            .upload_count_by_sha256()
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .collect();
        out.sort();
        out
    }
}

/// A folder in `ut-sendt/`.
#[derive(Debug, Clone)]
pub struct Sendt {
    pub name: String,
    pub dir: PathBuf,
    pub kvittering: Value,
}

impl Sendt {
    pub fn status(&self) -> &str {
        self.kvittering
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    pub fn update_id(&self) -> &str {
        self.kvittering
            .get("oppdateringId")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

/// An outbound journal row with its times (Unix ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutRow {
    pub update_id: String,
    pub digisos_id: String,
    pub state: String,
    pub claim_seq: i64,
    pub claimed_at: i64,
    pub sent_at: Option<i64>,
}

/// Unix ms as UTC (year, month, day, hour, minute, second, ms), by Howard
/// Hinnant's civil-from-days: independent of the agent's `time` formatting.
fn utc(ms: i64) -> (i64, i64, i64, i64, i64, i64, i64) {
    let (secs, milli) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60, milli)
}

/// `2023-11-14T22:13:20.123Z`.
pub fn iso(ms: i64) -> String {
    let (y, mo, d, h, mi, s, milli) = utc(ms);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

/// `20231114T221320.123Z`, as in `ut-feilet/` and `ut-sendt/` names.
pub fn compact(ms: i64) -> String {
    let (y, mo, d, h, mi, s, milli) = utc(ms);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}.{milli:03}Z")
}

/// A `tidspunkt` for minute `m` after a fixed hour.
pub fn at(m: u32) -> String {
    format!("2026-11-21T{:02}:{:02}:00.000Z", 8 + m / 60, m % 60)
}

/// `digisos-soker.json` with these hendelser.
pub fn soker(hendelser: Vec<Value>) -> Value {
    json!({
        "version": "1.0.0",
        "avsender": {"systemnavn": "Testfagsystem", "systemversjon": "1.0"},
        "hendelser": hendelser,
    })
}

pub fn mottatt(m: u32) -> Value {
    json!({"type": "soknadsStatus", "hendelsestidspunkt": at(m), "status": "MOTTATT"})
}

pub fn under_behandling(m: u32) -> Value {
    json!({"type": "soknadsStatus", "hendelsestidspunkt": at(m), "status": "UNDER_BEHANDLING"})
}

/// A `vedtakFattet` whose vedtak is the local file `file`.
pub fn vedtak(m: u32, saksreferanse: &str, file: &str) -> Value {
    json!({
        "type": "vedtakFattet",
        "hendelsestidspunkt": at(m),
        "saksreferanse": saksreferanse,
        "utfall": "INNVILGET",
        "vedtaksfil": {"referanse": {"type": "dokumentlager", "id": format!("fil:{file}")}},
    })
}

/// A small PDF whose bytes depend on `seed`.
pub fn pdf(seed: &str) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n% mottak test\n".to_vec();
    for i in 0..200 {
        out.extend_from_slice(format!("{seed} line {i}\n").as_bytes());
    }
    out.extend_from_slice(b"%%EOF\n");
    out
}

/// The document with every dokumentlager `id` blanked, so a document with
/// `fil:` placeholders compares equal to the one Fiks holds.
pub fn without_ids(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            let is_ref = map.get("type").and_then(Value::as_str) == Some("dokumentlager");
            Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        if is_ref && k == "id" {
                            (k.clone(), Value::Null)
                        } else {
                            (k.clone(), without_ids(v))
                        }
                    })
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(without_ids).collect()),
        other => other.clone(),
    }
}

/// The dokumentlager ids in a document, in document order.
pub fn dokumentlager_ids(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if map.get("type").and_then(Value::as_str) == Some("dokumentlager")
                    && let Some(id) = map.get("id").and_then(Value::as_str)
                {
                    out.push(id.to_owned());
                }
                for child in map.values() {
                    walk(child, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|c| walk(c, out)),
            _ => {}
        }
    }
    walk(v, &mut out);
    out
}

/// Fails with the agent's output when `cond` is false.
pub fn ensure(agent: &Agent, cond: bool, what: &str) -> Result<()> {
    if cond {
        Ok(())
    } else {
        Err(anyhow!(
            "{what}\n--- agent (tail) ---\n{}",
            agent.output_tail(40)
        ))
    }
}
