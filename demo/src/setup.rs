//! The demo's temporary world: keys made by `mottak-agent keygen`, password files, drop
//! folders, the agent's config, and the current Unix user granted admin in the journal.
//!
//! ```text
//! <tmp>/
//!   agent.toml            the agent's config (two mottakersystemer; nav-sosial also sends
//!                         saksoppdateringer to Fiks Digisos and, with rabbitmq-server,
//!                         receives over Fiks IO; byggesak speaks SvarInn V2)
//!   agent.log             the agent's stderr
//!   demo.log              the fakes (SvarInn, Maskinporten, Fiks) and the stream of forsendelser
//!   fagsystem-<name>.log  what the fagsystem script imported and rejected
//!   fagsystem-ut-<name>.log  the saksoppdateringer it wrote, and what became of them
//!   fagsystem.sh  fagsystem-ut.sh   the scripts (copies of demo/*.sh)
//!   keys/  secrets/       keys (0600) and certificates, the Maskinporten client's key and
//!                         chain; SvarInn passwords and the Fiks integration's password (0600)
//!   state/                journal.sqlite, console.sock
//!   drop/<name>/          the drop folders: inn/, feilet/, ut/, ut-sendt/, ut-feilet/, .mottak/
//!   fagsystem/<name>/     what the fagsystem has imported (.saker/: fagsystem-ut.sh's cases)
//!   fake-svarinn/         the fake's encrypted files
//! ```

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use mottak_fixtures::kit::write_private;
use mottak_fixtures::svarinn::SvarInnApi;

use crate::bins::Bins;

/// The fagsystem script, embedded so the demo runs from anywhere.
pub const FAGSYSTEM_SH: &str = include_str!("../fagsystem.sh");
/// Its outbound companion: saksoppdateringer for the NAV søknader it imported.
pub const FAGSYSTEM_UT_SH: &str = include_str!("../fagsystem-ut.sh");

/// What `[mottakersystem.digisos]` needs.
#[derive(Debug, Clone)]
pub struct DigisosSettings {
    pub fiks_api_url: String,
    pub fiks_org_id: String,
    pub integrasjon_id: String,
    /// The file holding the integration's password (0600).
    pub integrasjon_passord: PathBuf,
    pub token_url: String,
    pub audience: String,
    pub client_id: String,
    /// The virksomhetssertifikat's key (0600) and its chain, leaf first.
    pub private_key: PathBuf,
    pub certificate_chain: PathBuf,
}

/// One mottakersystem of the demo.
#[derive(Debug, Clone)]
pub struct System {
    /// The agent's name for it.
    pub name: &'static str,
    /// SvarInn's username (the mottakersystem id).
    pub username: &'static str,
    pub password: &'static str,
    /// `on-import` or `on-delivery`.
    pub ack: &'static str,
    pub cert_pem: String,
    /// Sends saksoppdateringer to Fiks Digisos (`[mottakersystem.digisos]`).
    pub digisos: bool,
    /// The SvarInn API it speaks (`svarinn_api`).
    pub api: SvarInnApi,
}

impl System {
    pub fn drop_folder(&self, root: &Path) -> PathBuf {
        root.join("drop").join(self.name)
    }
    pub fn archive(&self, root: &Path) -> PathBuf {
        root.join("fagsystem").join(self.name)
    }
}

/// The two mottakersystemer: social services (acknowledged once the fagsystem has imported;
/// answers NAV's søknader through Fiks Digisos; on SvarInn V1, as installed before V2) and
/// building permits (acknowledged on delivery; on SvarInn V2, as a new install would be).
fn systems() -> [(
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    SvarInnApi,
); 2] {
    [
        (
            "nav-sosial",
            "5d3c0a9e-7f1b-4c2a-9e58-1b6f0d2c4a71",
            "demo-sosial-passord",
            "on-import",
            true,
            SvarInnApi::V1,
        ),
        (
            "byggesak",
            "a81f3e62-0b4d-4e97-8c15-6f2d9b7e3c08",
            "demo-byggesak-passord",
            "on-delivery",
            false,
            SvarInnApi::V2,
        ),
    ]
}

/// Makes the folders, keys, secrets and config in `root`.
pub fn prepare(root: &Path, bins: &Bins) -> Result<Vec<System>> {
    for sub in ["state", "log", "keys", "secrets", "drop", "fagsystem"] {
        fs::create_dir_all(root.join(sub)).with_context(|| format!("creating {sub}/"))?;
    }
    let mut out = Vec::new();
    for (name, username, password, ack, digisos, api) in systems() {
        run_quiet(
            Command::new(&bins.agent)
                .arg("keygen")
                .arg("--name")
                .arg(name)
                .arg("--out")
                .arg(root.join("keys")),
            "mottak-agent keygen",
        )?;
        let cert_path = root.join("keys").join(format!("{name}.crt"));
        let cert_pem = fs::read_to_string(&cert_path)
            .with_context(|| format!("reading {}", cert_path.display()))?;
        write_private(
            &root.join("secrets").join(format!("{name}.passord")),
            password,
        )?;
        fs::create_dir_all(root.join("drop").join(name))?;
        out.push(System {
            name,
            username,
            password,
            ack,
            cert_pem,
            digisos,
            api,
        });
    }
    for (file, text) in [
        ("fagsystem.sh", FAGSYSTEM_SH),
        ("fagsystem-ut.sh", FAGSYSTEM_UT_SH),
    ] {
        let script = root.join(file);
        fs::write(&script, text).with_context(|| format!("writing {}", script.display()))?;
    }
    Ok(out)
}

/// The agent's config, pointing at the fake SvarInn at `svarinn_url` (each system on its
/// `svarinn_api`), and for the systems
/// with `digisos`, at the fake Fiks and Maskinporten described by `fiks` (without it, no
/// system sends saksoppdateringer), and with `fiks_io` (its `[mottakersystem.fiks_io]`
/// tables) when the demo shows Fiks IO.
pub fn write_config(
    root: &Path,
    systems: &[System],
    svarinn_url: &str,
    fiks: Option<&DigisosSettings>,
    fiks_io: Option<&str>,
) -> Result<PathBuf> {
    let r = root.display();
    let mut text = format!(
        "# Written by mottak-demo; systemd/agent.example.toml explains every key.\n\
         [agent]\n\
         state_dir = \"{r}/state\"\n\
         log_dir = \"{r}/log\"\n\
         console_socket = \"{r}/state/console.sock\"\n\
         log_level = \"info\"\n\
         inn_warning_after = \"2m\"\n"
    );
    for s in systems {
        let n = s.name;
        text.push_str(&format!(
            "\n[[mottakersystem]]\n\
             name = \"{n}\"\n\
             svarinn_url = \"{svarinn_url}\"\n\
             svarinn_api = \"{api}\"\n\
             username = \"{u}\"\n\
             password = \"file:{r}/secrets/{n}.passord\"\n\
             private_keys = [\"{r}/keys/{n}.pem\"]\n\
             certificates = [\"{r}/keys/{n}.crt\"]\n\
             drop_folder = \"{drop}\"\n\
             poll_interval = \"2s\"\n\
             ack = \"{ack}\"\n\
             max_decrypt_attempts = 3\n",
            u = s.username,
            drop = s.drop_folder(root).display(),
            ack = s.ack,
            api = s.api.as_str(),
        ));
        if let Some(fiks) = fiks.filter(|_| s.digisos) {
            text.push_str(&format!(
                "\n[mottakersystem.digisos]\n\
                 fiks_api_url = \"{api}\"\n\
                 fiks_org_id = \"{org}\"\n\
                 integrasjon_id = \"{integrasjon}\"\n\
                 integrasjon_passord = \"file:{passord}\"\n\
                 poll_interval = \"500ms\"\n\
                 request_timeout = \"10s\"\n\
                 \n[mottakersystem.digisos.maskinporten]\n\
                 url = \"{token_url}\"\n\
                 audience = \"{audience}\"\n\
                 client_id = \"{client_id}\"\n\
                 private_key = \"{key}\"\n\
                 certificate_chain = \"{chain}\"\n",
                api = fiks.fiks_api_url,
                org = fiks.fiks_org_id,
                integrasjon = fiks.integrasjon_id,
                passord = fiks.integrasjon_passord.display(),
                token_url = fiks.token_url,
                audience = fiks.audience,
                client_id = fiks.client_id,
                key = fiks.private_key.display(),
                chain = fiks.certificate_chain.display(),
            ));
        }
        if let Some(section) = fiks_io.filter(|_| s.digisos) {
            text.push_str(section);
        }
    }
    let path = root.join("agent.toml");
    fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// `check-config`, then the access list: `user` admin over everything, and a colleague as
/// operator on the first mottakersystem only (so the console has a coverage warning to show
/// for the second).
pub fn grant_access(bins: &Bins, config: &Path, user: &str, systems: &[System]) -> Result<()> {
    run_quiet(
        Command::new(&bins.agent)
            .arg("check-config")
            .arg("--config")
            .arg(config),
        "mottak-agent check-config",
    )?;
    run_quiet(
        Command::new(&bins.agent)
            .args(["access", "--config"])
            .arg(config)
            .args(["grant", "--user", user, "--role", "admin", "--all"]),
        "mottak-agent access grant",
    )?;
    if let Some(first) = systems.first()
        && user != "kari"
    {
        run_quiet(
            Command::new(&bins.agent)
                .args(["access", "--config"])
                .arg(config)
                .args([
                    "grant", "--user", "kari", "--role", "operator", "--system", first.name,
                ]),
            "mottak-agent access grant",
        )?;
    }
    Ok(())
}

/// The login name of the user running the demo, as the agent will see it on the console
/// socket (the agent names the peer's uid through the name service, and so does this).
pub fn login_name() -> Result<String> {
    let uid = rustix::process::getuid().as_raw();
    mottak_agent::console_api::accounts::lookup_peer(&mottak_agent::console_api::accounts::Nss, uid)
        .map(|peer| peer.name)
        .map_err(|err| anyhow::anyhow!("{err}; the agent could not name you on the console socket"))
}

/// Runs a short command; on failure the error carries its output.
pub fn run_quiet(cmd: &mut Command, what: &str) -> Result<()> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}
