//! The outbound half of the demo's world: the fake Maskinporten and the fake Fiks Digisos, in
//! this process, with a Maskinporten client key and certificate chain and the integration's
//! password written into the demo's folder, and the cases (digisosIds) the fake Fiks knows.
//!
//! A case is registered when the stream of forsendelser ([`crate::trickle`]) makes a NAV
//! digital søknad; `fagsystem-ut.sh` answers it once the fagsystem has imported it. Some cases
//! meet a fault at Fiks ([`CaseFate`]): one that heals by itself, one that needs an admin.

use std::path::Path;
use std::sync::Mutex;

use anyhow::{Context, Result};
use mottak_fixtures::TestCertChain;
use mottak_fixtures::digisos::{FakeFiksDigisos, FakeFiksDigisosHandle, Fault, RequestKind, Scope};
use mottak_fixtures::maskinporten::{FakeMaskinporten, FakeMaskinportenHandle};

use mottak_fixtures::kit::write_private;

use crate::setup::DigisosSettings;

/// The kommune's organisation in Fiks.
pub const FIKS_ORG: &str = "11415cd1-e26d-499a-8421-751457dfcbd5";
/// The integration set up in Fiks forvaltning.
pub const INTEGRASJON_ID: &str = "0b9c8f5e-2f3a-4c55-9d1e-5d7f6a8b9c0d";
pub const INTEGRASJON_PASSORD: &str = "demo-fiks-integrasjon-passord";
/// The client registered in Digdir's self-service.
pub const CLIENT_ID: &str = "mottak-demo-kommune";

/// What happens at Fiks to the n-th case the demo registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseFate {
    /// Every update accepted.
    Clean,
    /// The first update is refused with 403 (as when the integration lacks the Digisos
    /// privilege): it lands in `ut-feilet/`, and a retry from the console sends it.
    Forbidden,
    /// Fiks answers the first update 503: the agent retries by itself, with backoff.
    Unavailable,
}

/// The fate of the n-th case (0-based): the second, and every fifth after it, is refused
/// once; the third meets an outage.
pub fn case_fate(n: usize) -> CaseFate {
    if n % 5 == 1 {
        CaseFate::Forbidden
    } else if n == 2 {
        CaseFate::Unavailable
    } else {
        CaseFate::Clean
    }
}

/// The two fakes, running.
pub struct Fiks {
    pub maskinporten: FakeMaskinportenHandle,
    pub digisos: FakeFiksDigisosHandle,
    pub settings: DigisosSettings,
    /// Cases registered so far, in order.
    cases: Mutex<Vec<String>>,
}

impl std::fmt::Debug for Fiks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fiks")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// What Fiks has seen of the saksoppdateringer.
#[derive(Debug, Default, Clone, Copy)]
pub struct FiksCounts {
    /// Cases registered.
    pub cases: usize,
    /// Updates Fiks accepted (202).
    pub accepted: usize,
    /// Update requests Fiks refused or failed (4xx, 5xx).
    pub refused: usize,
    /// Files uploaded.
    pub files: usize,
}

impl Fiks {
    /// Makes the client key and chain (`keys/maskinporten-*.pem`) and the integration's
    /// password (`secrets/fiks-integrasjon.passord`) in `root`, and starts both fakes on
    /// 127.0.0.1 with free ports.
    pub async fn start(root: &Path) -> Result<Fiks> {
        let chain = tokio::task::spawn_blocking(|| {
            TestCertChain::generate("Demo kommune (virksomhetssertifikat)", "Demo test-CA")
        })
        .await
        .context("generating the Maskinporten client's certificate chain")?
        .context("generating the Maskinporten client's certificate chain")?;
        let private_key = root.join("keys").join("maskinporten-key.pem");
        let certificate_chain = root.join("keys").join("maskinporten-chain.pem");
        let passord = root.join("secrets").join("fiks-integrasjon.passord");
        write_private(&private_key, &chain.key_pem)?;
        std::fs::write(&certificate_chain, chain.chain_pem())
            .with_context(|| format!("writing {}", certificate_chain.display()))?;
        write_private(&passord, INTEGRASJON_PASSORD)?;

        let maskinporten = FakeMaskinporten::builder()
            .trust_client(CLIENT_ID, &chain.leaf_pem)
            .start()
            .await
            .context("starting the fake Maskinporten")?;
        let digisos = FakeFiksDigisos::builder()
            .maskinporten(&maskinporten)
            .integrasjon(INTEGRASJON_ID, INTEGRASJON_PASSORD)
            .fiks_org(FIKS_ORG)
            .start()
            .await
            .context("starting the fake Fiks Digisos")?;
        let settings = DigisosSettings {
            fiks_api_url: digisos.base_url().to_owned(),
            fiks_org_id: FIKS_ORG.to_owned(),
            integrasjon_id: INTEGRASJON_ID.to_owned(),
            integrasjon_passord: passord,
            token_url: maskinporten.token_url(),
            audience: maskinporten.audience().to_owned(),
            client_id: CLIENT_ID.to_owned(),
            private_key,
            certificate_chain,
        };
        Ok(Fiks {
            maskinporten,
            digisos,
            settings,
            cases: Mutex::new(Vec::new()),
        })
    }

    /// Makes a case exist at Fiks, with the fault its place in line gives it.
    pub fn register_case(&self, digisos_id: &str) -> Result<CaseFate> {
        self.digisos
            .add_case(digisos_id)
            .with_context(|| format!("registering case {digisos_id} in the fake Fiks"))?;
        let n = {
            let mut cases = self.cases.lock().unwrap_or_else(|e| e.into_inner());
            cases.push(digisos_id.to_owned());
            cases.len() - 1
        };
        let fate = case_fate(n);
        let next_update = || Scope::every(RequestKind::Update).case(digisos_id).once();
        match fate {
            CaseFate::Clean => {}
            CaseFate::Forbidden => self.digisos.inject(Fault::Forbidden, next_update()),
            CaseFate::Unavailable => self.digisos.inject(Fault::Status(503), next_update()),
        }
        tracing::info!(%digisos_id, ?fate, "case registered in the fake Fiks");
        Ok(fate)
    }

    /// The cases registered so far, in order.
    pub fn cases(&self) -> Vec<String> {
        self.cases.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn counts(&self) -> FiksCounts {
        let cases = self.cases();
        let mut c = FiksCounts {
            cases: cases.len(),
            files: cases.iter().map(|id| self.digisos.files(id).len()).sum(),
            ..FiksCounts::default()
        };
        for e in self.digisos.events() {
            if e.kind != RequestKind::Update {
                continue;
            }
            match e.status {
                202 => c.accepted += 1,
                s if s >= 400 => c.refused += 1,
                _ => {}
            }
        }
        c
    }

    /// Stops both, letting running requests finish.
    pub async fn shutdown(self) {
        self.digisos.shutdown().await;
        self.maskinporten.shutdown().await;
    }
}
