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
//!
//! This file holds the model (what the rest of the agent reads); `raw` the
//! file as written and its validation, `values` the value types that check
//! themselves, `locate` the line and key of an error.

mod locate;
mod raw;
mod values;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use mottak_protocol::listed::SvarInnApi;
use mottak_protocol::svarinn::SvarInnEndpoints;
use reqwest::Url;
use serde::Deserialize;

pub use locate::ParseError;
pub use raw::defaults;
pub use values::{
    Bounded, ByteSize, DurationError, HumanDuration, SizeError, SystemName, SystemNameError,
    UrlError, parse_duration, parse_size,
};

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
    /// Which SvarInn API it speaks (`svarinn_api`): V1 when absent, so existing
    /// configs keep working. Not used by the inbound worker yet.
    pub svarinn_api: SvarInnApi,
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
    /// `[mottakersystem.fiks_io]`: Digisos søknader received over Fiks IO
    /// (AMQP), delivered into `inn/` like SvarInn's. Receipts follow `ack`.
    pub fiks_io: Option<FiksIoSettings>,
}

impl Mottakersystem {
    /// The URLs of SvarInn's operations (`/tjenester/svarinn/...` appended
    /// to `svarinn_url`).
    pub fn endpoints(&self) -> SvarInnEndpoints {
        SvarInnEndpoints::new(self.svarinn_url.as_str())
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
    raw::parse(text)
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

// ---------------------------------------------------------------------------
// `[mottakersystem.fiks_io]`: the Fiks IO pipeline (see `crate::fiks_io`).

/// `[mottakersystem.fiks_io]`: the konto messages are received on, and as whom.
#[derive(Debug, Clone, PartialEq)]
pub struct FiksIoSettings {
    /// The broker, e.g. `amqps://io.fiks.ks.no:5671` (plain `amqp://` only on loopback).
    pub amqp_url: Url,
    /// The Fiks API host for dokumentlager downloads and receipts, e.g. `https://api.fiks.ks.no`.
    pub api_url: Url,
    /// The Fiks IO konto (a UUID, lowercase): the queue `fiksio.konto.<konto_id>`.
    pub konto_id: String,
    /// The integration's id (a UUID, lowercase): the AMQP user name.
    pub integrasjon_id: String,
    /// The integration's password, a secret like `password`.
    pub integrasjon_passord: SecretRef,
    /// PEM private keys of the konto (several during key rotation).
    pub private_keys: Vec<PathBuf>,
    pub maskinporten: MaskinportenSettings,
}

/// Fixed figures of the Fiks IO pipeline (the keys are all there is).
pub mod fiks_io_defaults {
    use std::time::Duration;

    /// Timeout of one receipt or token call.
    pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
    /// Timeout of one dokumentlager download.
    pub const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(60 * 60);
}

#[cfg(test)]
mod tests;
