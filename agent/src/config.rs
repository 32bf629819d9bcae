//! The agent's config file (`/etc/mottak/agent.toml`): types, defaults,
//! parsing and validation.
//!
//! [`parse`] is pure (text in, [`Config`] out) so tests need no files;
//! [`load`] reads a file and puts its path in front of every error. Unknown
//! keys are refused with their line, so a misspelt tunable never silently
//! falls back to its default. Error messages never quote the config text:
//! a literal password typed into the file must not reach the terminal or the
//! journal (toml's own `Display` would print the offending line).
//!
//! Example: `systemd/agent.example.toml`.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mottak_protocol::svarinn::SvarInnEndpoints;
use reqwest::Url;
use serde::Deserialize;
use toml::Spanned;

use crate::secret::SecretRef;
use crate::unzip::ZipLimits;

/// Where the agent and its commands look for the config unless told otherwise.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/mottak/agent.toml";

/// The whole config.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub agent: AgentSettings,
    pub mottakersystemer: Vec<Mottakersystem>,
}

/// `[agent]`: process-wide settings.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSettings {
    /// Holds `journal.sqlite`. Default `/var/lib/mottak`.
    pub state_dir: PathBuf,
    /// Daily rolling log files. Default `/var/log/mottak`.
    pub log_dir: PathBuf,
    /// The console's Unix socket. Default `/run/mottak/console.sock`.
    pub console_socket: PathBuf,
    /// A `tracing` filter (`info`, `mottak_agent=debug,info`). Default `info`.
    pub log_level: String,
    /// `[agent.remote]`: the TLS listener for consoles on other machines.
    pub remote: Option<RemoteSettings>,
    /// `metrics = "127.0.0.1:9464"`: Prometheus text at `/metrics`.
    pub metrics: Option<std::net::SocketAddr>,
    /// A folder in `inn/` longer than this is shown as not picked up by the
    /// fagsystem. Default 1 hour.
    pub inn_warning_after: Duration,
    /// Connections the console socket serves at once, for anyone. Default 128.
    pub console_max_connections: usize,
    /// Further socket connections only an admin (root, or admin somewhere in
    /// the access list) may take, so a user holding all the others cannot
    /// lock an admin out. Default 8.
    pub console_admin_reserve: usize,
}

/// `[agent.remote]`: consoles connect with `wss://` and a client
/// certificate issued by `client_ca`; the certificate's CN is the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSettings {
    pub listen: std::net::SocketAddr,
    /// The agent's certificate chain (PEM).
    pub certificate: PathBuf,
    /// Its private key (PEM, mode 0600 or stricter).
    pub private_key: PathBuf,
    /// The CA that issues console certificates (PEM).
    pub client_ca: PathBuf,
    /// Consoles past the client-certificate check served at once. Default 64.
    pub max_connections: usize,
    /// Connections not yet past the client-certificate check, at once. Default 32.
    pub max_unauthenticated: usize,
    /// Of those, from one address (IPv6: one /64). Default 8.
    pub max_unauthenticated_per_address: usize,
    /// From the TCP accept to `hello`: a connection slower than this is
    /// dropped. Default 10 s, at most 60 s.
    pub handshake_timeout: Duration,
}

impl RemoteSettings {
    pub const MAX_CONNECTIONS: u64 = 64;
    pub const MAX_UNAUTHENTICATED: u64 = 32;
    pub const MAX_UNAUTHENTICATED_PER_ADDRESS: u64 = 8;
    pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
    /// The longest `handshake_timeout` accepted: a slot held longer by a
    /// peer that sends nothing is what the deadline is there to prevent.
    pub const MAX_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);
}

impl AgentSettings {
    pub const CONSOLE_MAX_CONNECTIONS: u64 = 128;
    pub const CONSOLE_ADMIN_RESERVE: u64 = 8;

    /// `state_dir/journal.sqlite`.
    pub fn journal_path(&self) -> PathBuf {
        self.state_dir.join("journal.sqlite")
    }
}

/// When a forsendelse is acknowledged (`kvitterMottak`) to SvarInn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum AckMode {
    /// Once the fagsystem has taken the folder out of `inn/` (the default).
    #[serde(rename = "on-import")]
    OnImport,
    /// As soon as the folder is durably published in `inn/`.
    #[serde(rename = "on-delivery")]
    OnDelivery,
}

impl fmt::Display for AckMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AckMode::OnImport => "on-import",
            AckMode::OnDelivery => "on-delivery",
        })
    }
}

/// `[[mottakersystem]]`: one SvarInn mottakersystem and its drop folder.
#[derive(Debug, Clone, PartialEq)]
pub struct Mottakersystem {
    /// Short id used in folders, the console and logs (`[a-z0-9-]`, unique).
    pub name: SystemName,
    /// The SvarInn base, e.g. `https://svarut.ks.no`; see [`Mottakersystem::endpoints`].
    pub svarinn_url: Url,
    /// The mottakersystem id (HTTP Basic user name).
    pub username: String,
    /// The service password generated in SvarInn's "Service" tab.
    pub password: SecretRef,
    /// PEM private keys (several during key rotation).
    pub private_keys: Vec<PathBuf>,
    /// PEM certificates uploaded to SvarInn (optional: expiry warnings, key matching).
    pub certificates: Vec<PathBuf>,
    pub drop_folder: PathBuf,
    /// Default 5 minutes.
    pub poll_interval: Duration,
    /// Default [`AckMode::OnImport`].
    pub ack: AckMode,
    /// Unpack a zip into the forsendelse's folder (default) or deliver the `.zip`.
    pub unzip: bool,
    /// Downloads in flight at once for this mottakersystem. Default 3.
    pub max_concurrent_downloads: usize,
    /// How often a file that fails to decrypt or verify is tried before it
    /// becomes `failed` and is reported with mottakFeilet. Default 3.
    pub max_decrypt_attempts: u32,
    /// Timeout of one listing or acknowledgement request. Default 30 s.
    pub request_timeout: Duration,
    /// Timeout of one whole download. Default 1 h.
    pub download_timeout: Duration,
    /// Limits when unpacking a zip.
    pub zip: ZipLimits,
    /// The most one forsendelse may bring, encrypted (plus the CMS framing)
    /// and decrypted, counted as it streams. Default 2 GiB.
    pub max_forsendelse_size: u64,
    /// Free space downloads leave on the drop folder's filesystem; below it
    /// they wait. Default 512 MiB.
    pub min_free_space: u64,
    /// `[mottakersystem.digisos]`: saksoppdateringer from `ut/` to Fiks
    /// Digisos. Without it, `ut/` is left alone.
    pub digisos: Option<DigisosSettings>,
}

impl Mottakersystem {
    /// The URLs of SvarInn's operations (`/tjenester/svarinn/...` appended
    /// to `svarinn_url`).
    pub fn endpoints(&self) -> SvarInnEndpoints {
        SvarInnEndpoints::new(self.svarinn_url.as_str())
    }
}

/// A mottakersystem's short name: 1–32 of `[a-z0-9-]`, starting with a
/// letter or digit. Used as a folder name, a log field and a console label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SystemName(String);

impl SystemName {
    pub const MAX_LEN: usize = 32;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !raw.starts_with('-');
        if ok {
            Ok(SystemName(raw.to_owned()))
        } else {
            Err(format!(
                "name {raw:?} must be 1 to {} characters of a-z, 0-9 and '-', not starting with '-' (e.g. \"nav-frogn\")",
                Self::MAX_LEN
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SystemName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A config error located in the text: line and column are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render(None))]
pub struct ParseError {
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// The key on the offending line, when there is one.
    pub key: Option<String>,
    pub message: String,
}

impl ParseError {
    fn render(&self, file: Option<&Path>) -> String {
        let mut out = String::new();
        if let Some(file) = file {
            out.push_str(&file.display().to_string());
            out.push(':');
        }
        if let Some(line) = self.line {
            out.push_str(&line.to_string());
            out.push(':');
            if let Some(col) = self.column {
                out.push_str(&col.to_string());
                out.push(':');
            }
        }
        if !out.is_empty() {
            out.push(' ');
        }
        if let Some(key) = &self.key {
            out.push_str(&format!("key `{key}`: "));
        }
        out.push_str(&self.message);
        out
    }
}

/// An error from [`load`]: the file could not be read, or its text is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", error.render(Some(path)))]
    Parse { path: PathBuf, error: ParseError },
}

/// Reads and parses the config file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse(&text).map_err(|error| ConfigError::Parse {
        path: path.to_owned(),
        error,
    })
}

/// Parses and validates config text.
pub fn parse(text: &str) -> Result<Config, ParseError> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| locate(text, e.span(), e.message()))?;
    raw.validate(text)
}

// ---------------------------------------------------------------------------
// The file as written. Validation that needs the whole file (unique names)
// uses the spans kept by `Spanned`.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    agent: RawAgent,
    #[serde(default)]
    mottakersystem: Vec<RawMottakersystem>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgent {
    #[serde(default = "default_state_dir")]
    state_dir: AbsPath,
    #[serde(default = "default_log_dir")]
    log_dir: AbsPath,
    #[serde(default = "default_console_socket")]
    console_socket: AbsPath,
    #[serde(default = "default_log_level")]
    log_level: String,
    #[serde(default)]
    remote: Option<RawRemote>,
    #[serde(default)]
    metrics: Option<ListenAddr>,
    #[serde(default = "default_inn_warning_after")]
    inn_warning_after: HumanDuration,
    #[serde(default = "default_console_max_connections")]
    console_max_connections: Bounded<1, 10_000>,
    #[serde(default = "default_console_admin_reserve")]
    console_admin_reserve: Bounded<1, 1_000>,
}

impl Default for RawAgent {
    fn default() -> Self {
        RawAgent {
            state_dir: default_state_dir(),
            log_dir: default_log_dir(),
            console_socket: default_console_socket(),
            log_level: default_log_level(),
            remote: None,
            metrics: None,
            inn_warning_after: default_inn_warning_after(),
            console_max_connections: default_console_max_connections(),
            console_admin_reserve: default_console_admin_reserve(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRemote {
    listen: ListenAddr,
    certificate: AbsPath,
    private_key: AbsPath,
    client_ca: AbsPath,
    #[serde(default = "default_remote_max_connections")]
    max_connections: Bounded<1, 10_000>,
    #[serde(default = "default_remote_max_unauthenticated")]
    max_unauthenticated: Bounded<1, 10_000>,
    #[serde(default = "default_remote_max_unauthenticated_per_address")]
    max_unauthenticated_per_address: Bounded<1, 10_000>,
    #[serde(default = "default_remote_handshake_timeout")]
    handshake_timeout: Spanned<HumanDuration>,
}

fn default_inn_warning_after() -> HumanDuration {
    HumanDuration(Duration::from_secs(60 * 60))
}
fn default_console_max_connections() -> Bounded<1, 10_000> {
    Bounded(AgentSettings::CONSOLE_MAX_CONNECTIONS)
}
fn default_console_admin_reserve() -> Bounded<1, 1_000> {
    Bounded(AgentSettings::CONSOLE_ADMIN_RESERVE)
}
fn default_remote_max_connections() -> Bounded<1, 10_000> {
    Bounded(RemoteSettings::MAX_CONNECTIONS)
}
fn default_remote_max_unauthenticated() -> Bounded<1, 10_000> {
    Bounded(RemoteSettings::MAX_UNAUTHENTICATED)
}
fn default_remote_max_unauthenticated_per_address() -> Bounded<1, 10_000> {
    Bounded(RemoteSettings::MAX_UNAUTHENTICATED_PER_ADDRESS)
}
fn default_remote_handshake_timeout() -> Spanned<HumanDuration> {
    Spanned::new(0..0, HumanDuration(RemoteSettings::HANDSHAKE_TIMEOUT))
}

/// An address to listen on, `"127.0.0.1:9464"` or `"[::]:7443"`.
struct ListenAddr(std::net::SocketAddr);

impl<'de> Deserialize<'de> for ListenAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map(ListenAddr).map_err(|_| {
            serde::de::Error::custom(format!(
                "{s:?} is not an address to listen on; write an IP and a port, e.g. \"127.0.0.1:9464\" or \"0.0.0.0:7443\""
            ))
        })
    }
}

fn default_state_dir() -> AbsPath {
    AbsPath("/var/lib/mottak".into())
}
fn default_log_dir() -> AbsPath {
    AbsPath("/var/log/mottak".into())
}
fn default_console_socket() -> AbsPath {
    AbsPath("/run/mottak/console.sock".into())
}
fn default_log_level() -> String {
    "info".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMottakersystem {
    name: Spanned<RawName>,
    svarinn_url: SvarinnUrl,
    username: Username,
    password: RawSecretRef,
    private_keys: Spanned<Vec<AbsPath>>,
    #[serde(default)]
    certificates: Vec<AbsPath>,
    drop_folder: Spanned<AbsPath>,
    #[serde(default = "defaults::poll_interval")]
    poll_interval: HumanDuration,
    #[serde(default = "defaults::ack")]
    ack: AckMode,
    #[serde(default = "defaults::unzip")]
    unzip: bool,
    #[serde(default = "defaults::max_concurrent_downloads")]
    max_concurrent_downloads: Bounded<1, 32>,
    #[serde(default = "defaults::max_decrypt_attempts")]
    max_decrypt_attempts: Bounded<1, 100>,
    #[serde(default = "defaults::request_timeout")]
    request_timeout: HumanDuration,
    #[serde(default = "defaults::download_timeout")]
    download_timeout: HumanDuration,
    #[serde(default = "defaults::zip_max_entries")]
    zip_max_entries: Bounded<1, 1_000_000>,
    #[serde(default = "defaults::zip_max_total_size")]
    zip_max_total_size: ByteSize,
    #[serde(default = "defaults::zip_max_ratio")]
    zip_max_ratio: Bounded<2, 100_000>,
    #[serde(default = "defaults::max_forsendelse_size")]
    max_forsendelse_size: ByteSize,
    #[serde(default = "defaults::min_free_space")]
    min_free_space: ByteSize,
    #[serde(default)]
    digisos: Option<RawDigisos>,
}

/// The defaults of the optional `[[mottakersystem]]` keys.
pub mod defaults {
    use super::*;

    pub(super) fn poll_interval() -> HumanDuration {
        HumanDuration(POLL_INTERVAL)
    }
    pub(super) fn ack() -> AckMode {
        AckMode::OnImport
    }
    pub(super) fn unzip() -> bool {
        true
    }
    pub(super) fn max_concurrent_downloads() -> Bounded<1, 32> {
        Bounded(MAX_CONCURRENT_DOWNLOADS)
    }
    pub(super) fn max_decrypt_attempts() -> Bounded<1, 100> {
        Bounded(MAX_DECRYPT_ATTEMPTS)
    }
    pub(super) fn request_timeout() -> HumanDuration {
        HumanDuration(REQUEST_TIMEOUT)
    }
    pub(super) fn download_timeout() -> HumanDuration {
        HumanDuration(DOWNLOAD_TIMEOUT)
    }
    pub(super) fn zip_max_entries() -> Bounded<1, 1_000_000> {
        Bounded(ZipLimits::DEFAULT.max_entries as u64)
    }
    pub(super) fn zip_max_total_size() -> ByteSize {
        ByteSize(ZipLimits::DEFAULT.max_total_bytes)
    }
    pub(super) fn zip_max_ratio() -> Bounded<2, 100_000> {
        Bounded(ZipLimits::DEFAULT.max_ratio)
    }
    pub(super) fn max_forsendelse_size() -> ByteSize {
        ByteSize(MAX_FORSENDELSE_SIZE)
    }
    pub(super) fn min_free_space() -> ByteSize {
        ByteSize(MIN_FREE_SPACE)
    }

    pub const POLL_INTERVAL: Duration = Duration::from_secs(5 * 60);
    pub const MAX_CONCURRENT_DOWNLOADS: u64 = 3;
    pub const MAX_DECRYPT_ATTEMPTS: u64 = 3;
    pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
    pub const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(60 * 60);
    /// As much as a zip may unpack to (`zip_max_total_size`), and what
    /// `download_timeout` carries at about 0.6 MB/s: far above a real
    /// forsendelse (a scanned case file of a thousand pages is a few hundred
    /// MB), low enough that one hostile body cannot take a disk.
    pub const MAX_FORSENDELSE_SIZE: u64 = 2 << 30;
    /// Room for the journal's WAL and checkpoints, the logs, and the
    /// fagsystem's own work on a shared disk, when downloads stop.
    pub const MIN_FREE_SPACE: u64 = 512 << 20;
}

impl RawConfig {
    fn validate(self, text: &str) -> Result<Config, ParseError> {
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut folders: HashMap<PathBuf, String> = HashMap::new();
        let mut systems = Vec::with_capacity(self.mottakersystem.len());
        for raw in self.mottakersystem {
            let span = raw.name.span();
            let name = raw.name.into_inner().0;
            let line = line_col(text, span.start).0;
            if let Some(first) = seen.insert(name.as_str().to_owned(), line) {
                let mut err = locate(
                    text,
                    Some(span),
                    &format!(
                        "mottakersystem name {:?} is already used on line {first}; each needs its own name",
                        name.as_str()
                    ),
                );
                err.key = Some("name".into());
                return Err(err);
            }
            let keys_span = raw.private_keys.span();
            let private_keys: Vec<PathBuf> = raw
                .private_keys
                .into_inner()
                .into_iter()
                .map(|p| p.0)
                .collect();
            if private_keys.is_empty() {
                let mut err = locate(
                    text,
                    Some(keys_span),
                    "at least one private key is needed to decrypt forsendelser (make one with `mottak-agent keygen`)",
                );
                err.key = Some("private_keys".into());
                return Err(err);
            }
            let folder_span = raw.drop_folder.span();
            let drop_folder = raw.drop_folder.into_inner().0;
            let normalised: PathBuf = drop_folder.components().collect();
            if let Some(other) = folders.insert(normalised, name.as_str().to_owned()) {
                let mut err = locate(
                    text,
                    Some(folder_span),
                    &format!(
                        "drop_folder is already the drop folder of mottakersystem {other:?}; each mottakersystem needs its own (the agent cleans its staging per mottakersystem)"
                    ),
                );
                err.key = Some("drop_folder".into());
                return Err(err);
            }
            systems.push(Mottakersystem {
                name,
                svarinn_url: raw.svarinn_url.0,
                username: raw.username.0,
                password: raw.password.0,
                private_keys,
                certificates: raw.certificates.into_iter().map(|p| p.0).collect(),
                drop_folder,
                poll_interval: raw.poll_interval.0,
                ack: raw.ack,
                unzip: raw.unzip,
                // Bounded to 1..=32 and 1..=100 by their types: the
                // conversions cannot fail, the fallbacks are never taken.
                max_concurrent_downloads: usize::try_from(raw.max_concurrent_downloads.0)
                    .unwrap_or(usize::MAX),
                max_decrypt_attempts: u32::try_from(raw.max_decrypt_attempts.0).unwrap_or(u32::MAX),
                request_timeout: raw.request_timeout.0,
                download_timeout: raw.download_timeout.0,
                zip: ZipLimits {
                    // Bounded to 1..=1,000,000.
                    max_entries: usize::try_from(raw.zip_max_entries.0).unwrap_or(usize::MAX),
                    max_total_bytes: raw.zip_max_total_size.0,
                    max_ratio: raw.zip_max_ratio.0,
                },
                max_forsendelse_size: raw.max_forsendelse_size.0,
                min_free_space: raw.min_free_space.0,
                digisos: raw.digisos.map(RawDigisos::into_settings),
            });
        }
        let remote = match self.agent.remote {
            Some(r) => Some(r.validate(text)?),
            None => None,
        };
        Ok(Config {
            agent: AgentSettings {
                state_dir: self.agent.state_dir.0,
                log_dir: self.agent.log_dir.0,
                console_socket: self.agent.console_socket.0,
                log_level: self.agent.log_level,
                remote,
                metrics: self.agent.metrics.map(|m| m.0),
                inn_warning_after: self.agent.inn_warning_after.0,
                // Bounded to 1..=10,000 and 1..=1,000 by their types.
                console_max_connections: usize::try_from(self.agent.console_max_connections.0)
                    .unwrap_or(usize::MAX),
                console_admin_reserve: usize::try_from(self.agent.console_admin_reserve.0)
                    .unwrap_or(usize::MAX),
            },
            mottakersystemer: systems,
        })
    }
}

impl RawRemote {
    fn validate(self, text: &str) -> Result<RemoteSettings, ParseError> {
        let span = self.handshake_timeout.span();
        let handshake_timeout = self.handshake_timeout.into_inner().0;
        if handshake_timeout > RemoteSettings::MAX_HANDSHAKE_TIMEOUT {
            let mut err = locate(
                text,
                Some(span),
                &format!(
                    "handshake_timeout is at most {} s: it is how long a connection that has not yet said hello may hold one of max_unauthenticated slots",
                    RemoteSettings::MAX_HANDSHAKE_TIMEOUT.as_secs()
                ),
            );
            err.key = Some("handshake_timeout".into());
            return Err(err);
        }
        // Each bounded to 1..=10,000 by its type.
        let count = |b: Bounded<1, 10_000>| usize::try_from(b.0).unwrap_or(usize::MAX);
        Ok(RemoteSettings {
            listen: self.listen.0,
            certificate: self.certificate.0,
            private_key: self.private_key.0,
            client_ca: self.client_ca.0,
            max_connections: count(self.max_connections),
            max_unauthenticated: count(self.max_unauthenticated),
            max_unauthenticated_per_address: count(self.max_unauthenticated_per_address),
            handshake_timeout,
        })
    }
}

// ---------------------------------------------------------------------------
// `[mottakersystem.digisos]`: the outbound pipeline (see `crate::outbound`).

/// `[mottakersystem.digisos]`: where and as whom saksoppdateringer are sent.
#[derive(Debug, Clone, PartialEq)]
pub struct DigisosSettings {
    /// The Fiks API host, e.g. `https://api.fiks.ks.no` (test:
    /// `https://api.fiks.test.ks.no`); `/digisos/api/v1/...` is appended.
    pub fiks_api_url: Url,
    /// The kommune's Fiks organisation id (a UUID, lowercase).
    pub fiks_org_id: String,
    /// The integration's id from Fiks forvaltning (a UUID, lowercase).
    pub integrasjon_id: String,
    /// The integration's password, a secret like `password`.
    pub integrasjon_passord: SecretRef,
    pub maskinporten: MaskinportenSettings,
    /// How often `ut/` is looked at. Default 1 s.
    pub poll_interval: Duration,
    /// Timeout of one small Fiks call (token, update, file list). Default 30 s.
    pub request_timeout: Duration,
    /// Timeout of one file upload. Default 15 minutes.
    pub upload_timeout: Duration,
}

/// `[mottakersystem.digisos.maskinporten]`: the JWT grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskinportenSettings {
    /// The token endpoint, e.g. `https://maskinporten.no/token`.
    pub url: Url,
    /// The grant's `aud`: Maskinporten's issuer, e.g. `https://maskinporten.no/`.
    pub audience: String,
    /// The grant's `iss`: the client id registered in Digdir's self-service.
    pub client_id: String,
    /// The virksomhetssertifikat's private key (PEM, mode 0600 or stricter).
    pub private_key: PathBuf,
    /// The certificate chain (PEM, leaf first), sent in the grant's `x5c`.
    pub certificate_chain: PathBuf,
    /// Default `ks:fiks`.
    pub scope: String,
}

/// The defaults of the optional `[mottakersystem.digisos]` keys.
pub mod digisos_defaults {
    use std::time::Duration;

    pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
    pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
    pub const UPLOAD_TIMEOUT: Duration = Duration::from_secs(15 * 60);
    pub const SCOPE: &str = "ks:fiks";
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDigisos {
    fiks_api_url: FiksUrl,
    fiks_org_id: Uuid,
    integrasjon_id: Uuid,
    integrasjon_passord: RawSecretRef,
    maskinporten: RawMaskinporten,
    #[serde(default = "raw_digisos_poll_interval")]
    poll_interval: HumanDuration,
    #[serde(default = "raw_digisos_request_timeout")]
    request_timeout: HumanDuration,
    #[serde(default = "raw_digisos_upload_timeout")]
    upload_timeout: HumanDuration,
}

fn raw_digisos_poll_interval() -> HumanDuration {
    HumanDuration(digisos_defaults::POLL_INTERVAL)
}
fn raw_digisos_request_timeout() -> HumanDuration {
    HumanDuration(digisos_defaults::REQUEST_TIMEOUT)
}
fn raw_digisos_upload_timeout() -> HumanDuration {
    HumanDuration(digisos_defaults::UPLOAD_TIMEOUT)
}
fn raw_default_scope() -> NonEmpty {
    NonEmpty(digisos_defaults::SCOPE.to_owned())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMaskinporten {
    url: HttpsUrl,
    audience: NonEmpty,
    client_id: NonEmpty,
    private_key: AbsPath,
    certificate_chain: AbsPath,
    #[serde(default = "raw_default_scope")]
    scope: NonEmpty,
}

impl RawDigisos {
    fn into_settings(self) -> DigisosSettings {
        DigisosSettings {
            fiks_api_url: self.fiks_api_url.0,
            fiks_org_id: self.fiks_org_id.0,
            integrasjon_id: self.integrasjon_id.0,
            integrasjon_passord: self.integrasjon_passord.0,
            maskinporten: MaskinportenSettings {
                url: self.maskinporten.url.0,
                audience: self.maskinporten.audience.0,
                client_id: self.maskinporten.client_id.0,
                private_key: self.maskinporten.private_key.0,
                certificate_chain: self.maskinporten.certificate_chain.0,
                scope: self.maskinporten.scope.0,
            },
            poll_interval: self.poll_interval.0,
            request_timeout: self.request_timeout.0,
            upload_timeout: self.upload_timeout.0,
        }
    }
}

/// A UUID in its 8-4-4-4-12 hex form, kept lowercase (Fiks's patterns
/// accept only lowercase).
struct Uuid(String);

impl<'de> Deserialize<'de> for Uuid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if is_uuid(&s) {
            Ok(Uuid(s.to_ascii_lowercase()))
        } else {
            Err(serde::de::Error::custom(format!(
                "{s:?} is not a UUID; copy it from Fiks forvaltning, e.g. \"3f2b6c1e-8d4a-4b7e-9c1d-2a5e6f7b8c9d\""
            )))
        }
    }
}

/// `8-4-4-4-12` hex digits (either case).
pub fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A non-blank string without control characters.
struct NonEmpty(String);

impl<'de> Deserialize<'de> for NonEmpty {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.trim().is_empty() || s.chars().any(char::is_control) {
            return Err(serde::de::Error::custom(
                "must not be empty or hold control characters",
            ));
        }
        Ok(NonEmpty(s))
    }
}

/// The Fiks API base: an [`HttpsUrl`] without query and without the
/// `/digisos/api` the agent appends.
struct FiksUrl(Url);

impl<'de> Deserialize<'de> for FiksUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let url = parse_https_url(&s).map_err(serde::de::Error::custom)?;
        if url.query().is_some() || url.path().contains("/digisos") {
            return Err(serde::de::Error::custom(format!(
                "{s:?}: give only the Fiks API host (the agent appends /digisos/api/v1/...), e.g. \"https://api.fiks.test.ks.no\""
            )));
        }
        Ok(FiksUrl(url))
    }
}

/// An https URL (plain http only for localhost), without user or fragment.
struct HttpsUrl(Url);

impl<'de> Deserialize<'de> for HttpsUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_https_url(&s)
            .map(HttpsUrl)
            .map_err(serde::de::Error::custom)
    }
}

fn parse_https_url(s: &str) -> Result<Url, String> {
    let url = Url::parse(s).map_err(|e| {
        format!("{s:?} is not a URL ({e}); write e.g. \"https://api.fiks.test.ks.no\"")
    })?;
    let loopback = url.host_str().is_some_and(|h| {
        h == "localhost"
            || h.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(format!(
                "{s:?} uses plain http; tokens and the integration password would cross the network unencrypted: use https (http is allowed only for localhost)"
            ));
        }
        other => return Err(format!("{s:?}: scheme {other:?} is not http(s)")),
    }
    if url.host().is_none() {
        return Err(format!("{s:?} has no host"));
    }
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{s:?}: no user or fragment in the URL"));
    }
    Ok(url)
}

// ---------------------------------------------------------------------------
// Value types: each checks itself while deserialising, so toml attaches the
// span of the offending value to the error.

struct RawName(SystemName);

impl<'de> Deserialize<'de> for RawName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SystemName::parse(&s)
            .map(RawName)
            .map_err(serde::de::Error::custom)
    }
}

/// An absolute path (the agent runs with `/` as its working directory, so a
/// relative path would only confuse).
struct AbsPath(PathBuf);

impl<'de> Deserialize<'de> for AbsPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let p = PathBuf::from(&s);
        if !p.is_absolute() {
            return Err(serde::de::Error::custom(format!(
                "{s:?} is not an absolute path; write the full path from /"
            )));
        }
        Ok(AbsPath(p))
    }
}

struct Username(String);

impl<'de> Deserialize<'de> for Username {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.trim().is_empty() || s.contains(':') || s.chars().any(char::is_control) {
            return Err(serde::de::Error::custom(
                "username must be the mottakersystem id from SvarInn (non-empty, no ':')",
            ));
        }
        Ok(Username(s))
    }
}

/// The password reference. Deserialised through `toml::Value` so that no
/// error message can repeat a literal password (serde's own type errors
/// quote the value).
struct RawSecretRef(SecretRef);

impl<'de> Deserialize<'de> for RawSecretRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match toml::Value::deserialize(d) {
            Ok(toml::Value::String(s)) => SecretRef::parse(&s)
                .map(RawSecretRef)
                .map_err(serde::de::Error::custom),
            _ => Err(serde::de::Error::custom(
                crate::secret::SecretError::NotAReference,
            )),
        }
    }
}

struct SvarinnUrl(Url);

impl<'de> Deserialize<'de> for SvarinnUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_svarinn_url(&s)
            .map(SvarinnUrl)
            .map_err(serde::de::Error::custom)
    }
}

fn parse_svarinn_url(s: &str) -> Result<Url, String> {
    let url = Url::parse(s)
        .map_err(|e| format!("{s:?} is not a URL ({e}); write e.g. \"https://svarut.ks.no\""))?;
    let loopback = url.host_str().is_some_and(|h| {
        h == "localhost"
            || h.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(format!(
                "{s:?} uses plain http; the service password would cross the network unencrypted: use https (http is allowed only for localhost)"
            ));
        }
        other => return Err(format!("{s:?}: scheme {other:?} is not http(s)")),
    }
    if url.host().is_none() {
        return Err(format!("{s:?} has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(format!(
            "{s:?}: give only the base URL (no query, fragment or user), e.g. \"https://svarut.ks.no\""
        ));
    }
    if url.path().contains("/tjenester") {
        return Err(format!(
            "{s:?}: give the base URL without /tjenester/svarinn (the agent appends it), e.g. \"https://svarut.ks.no\""
        ));
    }
    Ok(url)
}

/// A duration written like `"30s"`, `"5m"`, `"1h30m"`, `"500ms"`, `"2d"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s)
            .map(HumanDuration)
            .map_err(serde::de::Error::custom)
    }
}

/// Parses `"30s"`, `"5m"`, `"1h"`, `"1h30m"`, `"500ms"`, `"2d"` (no spaces
/// inside a part, parts may be separated by spaces). Zero is refused.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "{s:?} is not a duration; write a number and a unit: \"30s\", \"5m\", \"1h\", \"1h30m\" (units ms, s, m, h, d)"
        )
    };
    let mut total = Duration::ZERO;
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = rest[unit_len..].trim_start();
        let part = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" | "min" => Duration::from_secs(n.checked_mul(60).ok_or_else(bad)?),
            "h" => Duration::from_secs(n.checked_mul(3600).ok_or_else(bad)?),
            "d" => Duration::from_secs(n.checked_mul(86_400).ok_or_else(bad)?),
            _ => return Err(bad()),
        };
        total = total.checked_add(part).ok_or_else(bad)?;
    }
    if total.is_zero() {
        return Err(format!("{s:?}: the duration must be more than zero"));
    }
    Ok(total)
}

/// A size in bytes: an integer, or `"500MB"`, `"2GiB"`, `"64KiB"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match toml::Value::deserialize(d)? {
            toml::Value::Integer(n) if n > 0 => Ok(ByteSize(n.unsigned_abs())),
            toml::Value::String(s) => parse_size(&s)
                .map(ByteSize)
                .map_err(serde::de::Error::custom),
            _ => Err(serde::de::Error::custom(
                "a size must be a positive number of bytes or a string like \"500MB\" or \"2GiB\"",
            )),
        }
    }
}

/// Parses `"500MB"`, `"2GiB"`, `"64KiB"`, `"1000"` (B, KB/MB/GB/TB are powers
/// of 1000, KiB/MiB/GiB/TiB powers of 1024).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let bad =
        || format!("{s:?} is not a size; write e.g. \"500MB\", \"2GiB\" or a number of bytes");
    if digits == 0 {
        return Err(bad());
    }
    let n: u64 = t[..digits].parse().map_err(|_| bad())?;
    let mult: u64 = match t[digits..].trim() {
        "" | "B" => 1,
        "KB" | "kB" => 1000,
        "MB" => 1000_u64.pow(2),
        "GB" => 1000_u64.pow(3),
        "TB" => 1000_u64.pow(4),
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        _ => return Err(bad()),
    };
    let v = n.checked_mul(mult).ok_or_else(bad)?;
    if v == 0 {
        return Err(format!("{s:?}: the size must be more than zero"));
    }
    Ok(v)
}

/// An integer in `MIN..=MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounded<const MIN: u64, const MAX: u64>(pub u64);

impl<'de, const MIN: u64, const MAX: u64> Deserialize<'de> for Bounded<MIN, MAX> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        match u64::try_from(n) {
            Ok(v) if (MIN..=MAX).contains(&v) => Ok(Bounded(v)),
            _ => Err(serde::de::Error::custom(format!(
                "{n} is out of range: give a whole number from {MIN} to {MAX}"
            ))),
        }
    }
}

// ---------------------------------------------------------------------------
// Locating errors in the text.

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let mut start = offset;
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let before = &text[..start];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// The key of a `key = value` line, when the offset sits on one.
fn key_on_line(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[line_start..]
        .find('\n')
        .map_or(text.len(), |i| line_start + i);
    let line = text.get(line_start..line_end)?.trim_start();
    if line.starts_with('[') || line.starts_with('#') {
        return None;
    }
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"');
    let plain = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    plain.then(|| key.to_owned())
}

fn locate(text: &str, span: Option<std::ops::Range<usize>>, message: &str) -> ParseError {
    match span {
        Some(span) => {
            let (line, column) = line_col(text, span.start);
            ParseError {
                line: Some(line),
                column: Some(column),
                key: key_on_line(text, span.start),
                message: message.to_owned(),
            }
        }
        None => ParseError {
            line: None,
            column: None,
            key: None,
            message: message.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[[mottakersystem]]
name = "nav-frogn"
svarinn_url = "https://svarut.ks.no"
username = "3c0f9a9e-1f7a-4e1e-9f0a-7c1d2b3a4e5f"
password = "file:/etc/mottak/secrets/nav-frogn.passord"
private_keys = ["/etc/mottak/keys/nav-frogn-2026.pem"]
drop_folder = "/srv/fagsystem/nav-frogn"
"#;

    #[test]
    fn minimal_config_gets_the_documented_defaults() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.agent.state_dir, Path::new("/var/lib/mottak"));
        assert_eq!(c.agent.log_dir, Path::new("/var/log/mottak"));
        assert_eq!(
            c.agent.console_socket,
            Path::new("/run/mottak/console.sock")
        );
        assert_eq!(
            c.agent.journal_path(),
            Path::new("/var/lib/mottak/journal.sqlite")
        );
        assert_eq!(c.agent.log_level, "info");
        assert_eq!(c.agent.remote, None);
        assert_eq!(c.agent.metrics, None);
        assert_eq!(c.agent.inn_warning_after, Duration::from_secs(3600));
        assert_eq!(c.agent.console_max_connections, 128);
        assert_eq!(c.agent.console_admin_reserve, 8);
        let m = &c.mottakersystemer[0];
        assert_eq!(m.name.as_str(), "nav-frogn");
        assert_eq!(m.poll_interval, Duration::from_secs(300));
        assert_eq!(m.ack, AckMode::OnImport);
        assert!(m.unzip);
        assert_eq!(m.max_concurrent_downloads, 3);
        assert_eq!(m.max_decrypt_attempts, 3);
        assert_eq!(m.request_timeout, Duration::from_secs(30));
        assert_eq!(m.zip, ZipLimits::DEFAULT);
        assert_eq!(m.max_forsendelse_size, 2 << 30);
        assert_eq!(m.min_free_space, 512 << 20);
        assert!(m.certificates.is_empty());
        assert_eq!(
            m.password,
            SecretRef::File("/etc/mottak/secrets/nav-frogn.passord".into())
        );
        assert_eq!(
            m.endpoints().hent_nye_forsendelser(),
            "https://svarut.ks.no/tjenester/svarinn/mottaker/hentNyeForsendelser"
        );
    }

    const DIGISOS: &str = r#"
[mottakersystem.digisos]
fiks_api_url = "https://api.fiks.test.ks.no"
fiks_org_id = "3F2B6C1E-8D4A-4B7E-9C1D-2A5E6F7B8C9D"
integrasjon_id = "11111111-2222-4333-8444-555555555555"
integrasjon_passord = "file:/etc/mottak/secrets/nav-frogn.integrasjon"

[mottakersystem.digisos.maskinporten]
url = "https://test.maskinporten.no/token"
audience = "https://test.maskinporten.no/"
client_id = "0f0f0f0f-client"
private_key = "/etc/mottak/keys/virksomhet.pem"
certificate_chain = "/etc/mottak/keys/virksomhet-chain.pem"
"#;

    #[test]
    fn digisos_is_optional_and_read_with_defaults() {
        assert_eq!(parse(MINIMAL).unwrap().mottakersystemer[0].digisos, None);
        let c = parse(&format!("{MINIMAL}{DIGISOS}")).unwrap();
        let d = c.mottakersystemer[0].digisos.as_ref().unwrap();
        assert_eq!(d.fiks_api_url.as_str(), "https://api.fiks.test.ks.no/");
        assert_eq!(d.fiks_org_id, "3f2b6c1e-8d4a-4b7e-9c1d-2a5e6f7b8c9d");
        assert_eq!(
            d.integrasjon_passord,
            SecretRef::File("/etc/mottak/secrets/nav-frogn.integrasjon".into())
        );
        assert_eq!(d.maskinporten.scope, "ks:fiks");
        assert_eq!(d.maskinporten.client_id, "0f0f0f0f-client");
        assert_eq!(d.poll_interval, Duration::from_secs(1));
        assert_eq!(d.request_timeout, Duration::from_secs(30));
        assert_eq!(d.upload_timeout, Duration::from_secs(900));
        let text = format!("{MINIMAL}{DIGISOS}scope = \"ks:fiks ks:other\"\n");
        let c = parse(&text).unwrap();
        let d = c.mottakersystemer[0].digisos.as_ref().unwrap();
        assert_eq!(d.maskinporten.scope, "ks:fiks ks:other");
    }

    #[test]
    fn digisos_unknown_keys_and_bad_values_are_refused_with_their_line() {
        let base = format!("{MINIMAL}{DIGISOS}");
        let line_of = |needle: &str| base.lines().position(|l| l.starts_with(needle)).unwrap() + 1;
        // An unknown key in each table.
        let text = base.replace("fiks_org_id", "fiks_orgid");
        let err = parse(&text).unwrap_err();
        assert_eq!(err.line, Some(line_of("fiks_org_id")), "{err}");
        assert_eq!(err.key.as_deref(), Some("fiks_orgid"));
        let text = base.replace("client_id", "klient_id");
        let err = parse(&text).unwrap_err();
        assert_eq!(err.line, Some(line_of("client_id")), "{err}");
        assert!(err.message.contains("unknown field"), "{err}");
        // Values.
        for (from, to, expect) in [
            ("fiks_org_id = \"3F2B", "fiks_org_id = \"nope", "not a UUID"),
            (
                "https://api.fiks.test.ks.no\"",
                "http://api.fiks.test.ks.no\"",
                "plain http",
            ),
            (
                "https://api.fiks.test.ks.no\"",
                "https://api.fiks.test.ks.no/digisos/api/v1\"",
                "appends /digisos",
            ),
            (
                "client_id = \"0f0f0f0f-client\"",
                "client_id = \" \"",
                "must not be empty",
            ),
            (
                "\"/etc/mottak/keys/virksomhet.pem\"",
                "\"virksomhet.pem\"",
                "absolute",
            ),
        ] {
            let text = base.replace(from, to);
            let err = parse(&text).unwrap_err();
            assert!(err.message.contains(expect), "{to}: {err}");
            let line = text.lines().position(|l| l.contains(to)).unwrap() + 1;
            assert_eq!(err.line, Some(line), "{to}: {err}");
        }
        // A literal password is refused and never echoed.
        let text = base.replace(
            "\"file:/etc/mottak/secrets/nav-frogn.integrasjon\"",
            "\"hunter2-literal\"",
        );
        let err = parse(&text).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("integrasjon_passord"), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        // The maskinporten table is required.
        let text = base
            .split("[mottakersystem.digisos.maskinporten]")
            .next()
            .unwrap();
        let err = parse(text).unwrap_err();
        assert!(err.message.contains("maskinporten"), "{err}");
    }

    #[test]
    fn the_example_digisos_block_parses_once_uncommented() {
        let text = include_str!("../../systemd/agent.example.toml");
        let start = text.find("# [mottakersystem.digisos]").unwrap();
        let end = text[start..].find("\n\n").unwrap() + start;
        let block: String = text[start..end]
            .lines()
            .map(|l| l.strip_prefix("# ").unwrap_or(l))
            .filter(|l| !l.starts_with('#') && *l != "#")
            .collect::<Vec<_>>()
            .join("\n");
        let c = parse(&format!("{MINIMAL}\n{block}\n")).unwrap();
        let d = c.mottakersystemer[0].digisos.as_ref().unwrap();
        assert_eq!(d.maskinporten.audience, "https://maskinporten.no/");
        assert_eq!(d.upload_timeout, Duration::from_secs(900));
    }

    #[test]
    fn the_example_config_parses() {
        let text = include_str!("../../systemd/agent.example.toml");
        let c = parse(text).unwrap();
        assert_eq!(c.mottakersystemer.len(), 2);
        assert_eq!(c.mottakersystemer[1].ack, AckMode::OnDelivery);
        assert_eq!(
            c.mottakersystemer[1].password,
            SecretRef::Credential("nav-as.passord".into())
        );
    }

    #[test]
    fn all_keys_are_read() {
        let text = r#"
[agent]
state_dir = "/x/state"
log_dir = "/x/log"
console_socket = "/x/c.sock"
log_level = "debug"
metrics = "127.0.0.1:9464"
inn_warning_after = "30m"
console_max_connections = 20
console_admin_reserve = 3

[agent.remote]
listen = "0.0.0.0:7443"
certificate = "/etc/mottak/tls/agent.crt"
private_key = "/etc/mottak/tls/agent.key"
client_ca = "/etc/mottak/tls/consoles-ca.crt"
max_connections = 10
max_unauthenticated = 6
max_unauthenticated_per_address = 2
handshake_timeout = "3s"

[[mottakersystem]]
name = "a1"
svarinn_url = "http://127.0.0.1:8080/prefix/"
username = "u"
password = "credential:a1.pw"
private_keys = ["/k/1.pem", "/k/2.pem"]
certificates = ["/k/1.crt"]
drop_folder = "/d"
poll_interval = "1h30m"
ack = "on-delivery"
unzip = false
max_concurrent_downloads = 5
max_decrypt_attempts = 7
request_timeout = "10s"
download_timeout = "2h"
zip_max_entries = 10
zip_max_total_size = "1GiB"
zip_max_ratio = 50
max_forsendelse_size = "500 MiB"
min_free_space = 1000000000
"#;
        let c = parse(text).unwrap();
        assert_eq!(c.agent.log_level, "debug");
        assert_eq!(c.agent.metrics, Some("127.0.0.1:9464".parse().unwrap()));
        assert_eq!(c.agent.inn_warning_after, Duration::from_secs(1800));
        let remote = c.agent.remote.as_ref().unwrap();
        assert_eq!(remote.listen, "0.0.0.0:7443".parse().unwrap());
        assert_eq!(
            remote.client_ca,
            Path::new("/etc/mottak/tls/consoles-ca.crt")
        );
        assert_eq!(c.agent.console_max_connections, 20);
        assert_eq!(c.agent.console_admin_reserve, 3);
        assert_eq!(remote.max_connections, 10);
        assert_eq!(remote.max_unauthenticated, 6);
        assert_eq!(remote.max_unauthenticated_per_address, 2);
        assert_eq!(remote.handshake_timeout, Duration::from_secs(3));
        let m = &c.mottakersystemer[0];
        assert_eq!(m.private_keys.len(), 2);
        assert_eq!(m.poll_interval, Duration::from_secs(5400));
        assert_eq!(m.ack, AckMode::OnDelivery);
        assert!(!m.unzip);
        assert_eq!(m.max_concurrent_downloads, 5);
        assert_eq!(m.max_decrypt_attempts, 7);
        assert_eq!(m.download_timeout, Duration::from_secs(7200));
        assert_eq!(
            m.zip,
            ZipLimits {
                max_entries: 10,
                max_total_bytes: 1 << 30,
                max_ratio: 50
            }
        );
        assert_eq!(m.max_forsendelse_size, 500 << 20);
        assert_eq!(m.min_free_space, 1_000_000_000);
        assert_eq!(
            m.endpoints().kvitter_mottak("x"),
            "http://127.0.0.1:8080/prefix/tjenester/svarinn/kvitterMottak/forsendelse/x"
        );
    }

    #[test]
    fn unknown_keys_are_refused_with_their_line() {
        let text = MINIMAL.replace("drop_folder", "poll_intervall = \"5m\"\ndrop_folder");
        let err = parse(&text).unwrap_err();
        assert_eq!(err.line, Some(8), "{err}");
        assert_eq!(err.key.as_deref(), Some("poll_intervall"));
        let msg = err.to_string();
        assert!(
            msg.starts_with("8:1: key `poll_intervall`: unknown field"),
            "{msg}"
        );

        let err = parse("[agnet]\nstate_dir = \"/x\"\n").unwrap_err();
        assert_eq!(err.line, Some(1), "{err}");
        assert!(err.message.contains("agnet"), "{err}");

        let err = parse("[agent]\nstate_dri = \"/x\"\n").unwrap_err();
        assert_eq!(err.line, Some(2), "{err}");
        assert_eq!(err.key.as_deref(), Some("state_dri"));
    }

    #[test]
    fn the_loader_puts_the_file_path_in_front() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("agent.toml");
        std::fs::write(&p, "[agent]\nbogus = 1\n").unwrap();
        let msg = load(&p).unwrap_err().to_string();
        assert!(
            msg.starts_with(&format!("{}:2:1: key `bogus`: unknown field", p.display())),
            "{msg}"
        );
        let msg = load(&dir.path().join("missing.toml"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("missing.toml"), "{msg}");
    }

    #[test]
    fn a_literal_password_is_refused_and_never_echoed() {
        for value in ["\"hunter2-literal\"", "12345678", "[\"hunter2-literal\"]"] {
            let text = MINIMAL.replace("\"file:/etc/mottak/secrets/nav-frogn.passord\"", value);
            let err = parse(&text).unwrap_err();
            let msg = err.to_string();
            assert_eq!(err.line, Some(6), "{msg}");
            assert_eq!(err.key.as_deref(), Some("password"), "{msg}");
            assert!(msg.contains("file:"), "{msg}");
            assert!(!msg.contains("hunter2"), "{msg}");
            assert!(!msg.contains("12345678"), "{msg}");
        }
    }

    #[test]
    fn names_must_be_short_safe_and_unique() {
        for bad in ["NAV", "nav frogn", "-x", "", "nav/frogn", &"a".repeat(33)] {
            let text = MINIMAL.replace("\"nav-frogn\"", &format!("{bad:?}"));
            let err = parse(&text).unwrap_err();
            assert_eq!(err.line, Some(3), "{bad}: {err}");
            assert_eq!(err.key.as_deref(), Some("name"));
        }
        let twice = format!("{MINIMAL}{MINIMAL}");
        let err = parse(&twice).unwrap_err();
        assert_eq!(err.line, Some(11), "{err}");
        assert!(err.message.contains("already used on line 3"), "{err}");
    }

    #[test]
    fn drop_folders_are_not_shared() {
        let second = MINIMAL
            .replace("/srv/fagsystem/nav-frogn\"", "/srv/fagsystem/nav-frogn/\"")
            .replace("name = \"nav-frogn\"", "name = \"nav-as\"");
        let err = parse(&format!("{MINIMAL}{second}")).unwrap_err();
        assert_eq!(err.line, Some(16), "{err}");
        assert_eq!(err.key.as_deref(), Some("drop_folder"));
        assert!(err.message.contains("\"nav-frogn\""), "{err}");
    }

    #[test]
    fn values_are_checked_where_they_are() {
        let cases = [
            ("poll_interval = \"5 minutes\"", "not a duration"),
            ("poll_interval = \"0s\"", "more than zero"),
            ("poll_interval = 300", "invalid type"),
            ("ack = \"on-read\"", "unknown variant"),
            ("max_concurrent_downloads = 0", "out of range"),
            ("zip_max_total_size = \"2 lots\"", "not a size"),
            ("certificates = [\"relative.crt\"]", "not an absolute path"),
        ];
        for (line, expect) in cases {
            let text = MINIMAL.replace("drop_folder", &format!("{line}\ndrop_folder"));
            let err = parse(&text).unwrap_err();
            assert_eq!(err.line, Some(8), "{line}: {err}");
            assert!(err.message.contains(expect), "{line}: {err}");
        }
    }

    #[test]
    fn remote_limits_have_defaults_and_bounds() {
        let remote = "[agent.remote]\nlisten = \"0.0.0.0:7443\"\ncertificate = \"/c\"\nprivate_key = \"/k\"\nclient_ca = \"/ca\"\n";
        let c = parse(&format!("{remote}{MINIMAL}")).unwrap();
        let r = c.agent.remote.unwrap();
        assert_eq!(r.max_connections, 64);
        assert_eq!(r.max_unauthenticated, 32);
        assert_eq!(r.max_unauthenticated_per_address, 8);
        assert_eq!(r.handshake_timeout, Duration::from_secs(10));
        for (line, expect) in [
            ("handshake_timeout = \"2m\"", "at most 60 s"),
            ("max_unauthenticated = 0", "out of range"),
        ] {
            let err = parse(&format!("{remote}{line}\n{MINIMAL}")).unwrap_err();
            assert_eq!(err.line, Some(6), "{line}: {err}");
            assert!(err.message.contains(expect), "{line}: {err}");
        }
        let err = parse(&format!("[agent]\nconsole_admin_reserve = 0\n{MINIMAL}")).unwrap_err();
        assert!(err.message.contains("out of range"), "{err}");
    }

    #[test]
    fn urls_must_be_https_bases() {
        for (url, expect) in [
            ("http://svarut.ks.no", "plain http"),
            ("https://svarut.ks.no/tjenester", "without /tjenester"),
            ("svarut.ks.no", "not a URL"),
            ("ftp://svarut.ks.no", "scheme"),
        ] {
            let text = MINIMAL.replace("https://svarut.ks.no", url);
            let err = parse(&text).unwrap_err();
            assert_eq!(err.line, Some(4), "{url}: {err}");
            assert!(err.message.contains(expect), "{url}: {err}");
        }
        assert!(parse(&MINIMAL.replace("https://svarut.ks.no", "http://localhost:9999")).is_ok());
    }

    #[test]
    fn missing_required_keys_and_empty_key_lists() {
        let err =
            parse(&MINIMAL.replace("username = \"3c0f9a9e-1f7a-4e1e-9f0a-7c1d2b3a4e5f\"\n", ""))
                .unwrap_err();
        assert!(err.message.contains("missing field `username`"), "{err}");
        assert!(err.line.is_some(), "{err}");
        let err =
            parse(&MINIMAL.replace("[\"/etc/mottak/keys/nav-frogn-2026.pem\"]", "[]")).unwrap_err();
        assert_eq!(err.line, Some(7), "{err}");
        assert!(err.message.contains("keygen"), "{err}");
    }

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        for bad in ["", "5", "m", "5x", "-5s", "1.5h", "99999999999999999999s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("500MB"), Ok(500_000_000));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("64 KiB"), Ok(65536));
        assert!(parse_size("5 parsecs").is_err());
        assert!(parse_size("0").is_err());
    }
}
