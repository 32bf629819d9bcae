//! The config file as written: the `Raw*` serde shapes of its tables, the
//! defaults of optional keys, and the validation that needs the whole file
//! (unique names and drop folders, uses the spans kept by `Spanned`).
//!
//! `cargo test -p xtask` reads this file's `Raw*` structs to check that
//! docs/configuration.md documents every key.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::locate::{line_col, locate};
use super::values::*;
use super::*;

/// Reads the text into the raw shape and validates it into a [`Config`].
pub(super) fn parse(text: &str) -> Result<Config, ParseError> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| locate(text, e.span(), e.message()))?;
    raw.validate(text)
}

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
    #[serde(default = "defaults::svarinn_api")]
    svarinn_api: SvarInnApi,
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
    #[serde(default)]
    fiks_io: Option<RawFiksIo>,
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
    pub(super) fn svarinn_api() -> SvarInnApi {
        SvarInnApi::V1
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
                svarinn_api: raw.svarinn_api,
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
                fiks_io: match raw.fiks_io {
                    Some(f) => Some(f.validate(text)?),
                    None => None,
                },
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

impl RawMaskinporten {
    fn into_settings(self) -> MaskinportenSettings {
        MaskinportenSettings {
            url: self.url.0,
            audience: self.audience.0,
            client_id: self.client_id.0,
            private_key: self.private_key.0,
            certificate_chain: self.certificate_chain.0,
            scope: self.scope.0,
        }
    }
}

impl RawDigisos {
    fn into_settings(self) -> DigisosSettings {
        DigisosSettings {
            fiks_api_url: self.fiks_api_url.0,
            fiks_org_id: self.fiks_org_id.0,
            integrasjon_id: self.integrasjon_id.0,
            integrasjon_passord: self.integrasjon_passord.0,
            maskinporten: self.maskinporten.into_settings(),
            poll_interval: self.poll_interval.0,
            request_timeout: self.request_timeout.0,
            upload_timeout: self.upload_timeout.0,
        }
    }
}

/// `[mottakersystem.fiks_io]`: exactly the keys of issue 15, so a kommune's
/// config and the tests agree.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFiksIo {
    amqp_url: AmqpUrl,
    api_url: HttpsUrl,
    konto_id: Uuid,
    integrasjon_id: Uuid,
    integrasjon_passord: RawSecretRef,
    private_keys: Spanned<Vec<AbsPath>>,
    maskinporten: RawMaskinporten,
}

impl RawFiksIo {
    fn validate(self, text: &str) -> Result<FiksIoSettings, ParseError> {
        let keys_span = self.private_keys.span();
        let private_keys: Vec<PathBuf> = self
            .private_keys
            .into_inner()
            .into_iter()
            .map(|p| p.0)
            .collect();
        if private_keys.is_empty() {
            let mut err = locate(
                text,
                Some(keys_span),
                "at least one private key is needed to decrypt Fiks IO messages: the key whose public certificate is uploaded to the Fiks IO konto",
            );
            err.key = Some("private_keys".into());
            return Err(err);
        }
        Ok(FiksIoSettings {
            amqp_url: self.amqp_url.0,
            api_url: self.api_url.0,
            konto_id: self.konto_id.0,
            integrasjon_id: self.integrasjon_id.0,
            integrasjon_passord: self.integrasjon_passord.0,
            private_keys,
            maskinporten: self.maskinporten.into_settings(),
        })
    }
}
