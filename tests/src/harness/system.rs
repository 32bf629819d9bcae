//! What a test asks for ([`System`]: one `[[mottakersystem]]` and its options) and
//! what it becomes on disk ([`Installed`]: keys, password file, drop folder).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use mottak_fixtures::TestKeyPair;
use mottak_fixtures::kit::write_private;

/// `forsendelse.json`, the metadata file in every delivered folder.
pub const FORSENDELSE_JSON: &str = "forsendelse.json";

/// When the agent acknowledges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    OnImport,
    OnDelivery,
}

impl Ack {
    pub(super) fn as_str(self) -> &'static str {
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
    /// This pair (e.g. one made once for every test in a binary).
    Pair(TestKeyPair),
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

pub(super) fn install(root: &Path, spec: System) -> Result<Installed> {
    let key_path = root.join("keys").join(format!("{}.pem", spec.name));
    let cert_path = root.join("keys").join(format!("{}.crt", spec.name));
    let (key_pem, cert_pem) = match &spec.keys {
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
        KeySource::Pair(pair) => (pair.key_pem.clone().into_bytes(), pair.cert_pem.clone()),
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
