//! The demo's stream of forsendelser: one every few seconds, alternating between the
//! mottakersystemer, the n-th with the n-th entry of [`CYCLE`] — every way the fake SvarInn can
//! fail, the transient ones (which the agent rides out by itself) and the ones that end as a
//! failed import on the console. Some of those heal (the fake breaks only the first few
//! downloads, so a retry from the console succeeds); others never do (mark them permanent).
//!
//! For a mottakersystem that answers through Fiks Digisos, the forsendelser that may be
//! generated (those whose fault, if any, is not tied to their id) are NAV digital søknader
//! (`nav.digisos` zips); each søknad's case is registered in the fake Fiks
//! ([`crate::fiks::Fiks::register_case`]) so `fagsystem-ut.sh` can answer it.
//!
//! The stream is the same for a mottakersystem on SvarInn V2; the fake puts its PDFs in ZIPs
//! (V2 serves nothing else) and every fault applies there too.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use mottak_fixtures::svarinn::{
    Corruption, FakeSvarInnHandle, Fault, GenerateSpec, GeneratedKind, NewForsendelse, Plaintext,
    RequestKind, Scope,
};

use crate::fiks::Fiks;

/// What happens to one forsendelse of the cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Nothing goes wrong.
    Clean,
    /// SvarInn answers 503 to the first download.
    Download503,
    /// The first three downloads do not decrypt (bad padding); a retry from the console works.
    BadPaddingHeals,
    /// The list gives a wrong sha256 for its file: it fails every time. Mark it permanent.
    WrongSha256,
    /// The connection is cut 2,000 bytes into the first download.
    CutDownload,
    /// Encrypted to somebody else's certificate: it fails every time. Mark it permanent.
    WrongKey,
    /// SvarInn answers 500 to the first kvittering.
    Kvittering500,
    /// The first three downloads carry 100 bytes too many; a retry from the console works.
    ExtraBytesHeals,
    /// The first download waits 3 s before its headers.
    SlowHeaders,
    /// Listed again after it was acknowledged (a lost kvittering response).
    RelistAfterAck,
    /// One byte flipped in the middle: it decrypts, but the sha256 check catches it, every time.
    CorruptMiddle,
    /// Its entry in the list does not fit SvarInn's model the first two times.
    MalformedEntry,
    /// The first download dribbles in, 8 KiB every 100 ms.
    SlowBody,
    /// SvarInn refuses the password once (401) on a list.
    Unauthorized,
    /// One list is not JSON at all.
    MalformedList,
}

/// The order forsendelser meet their fates in. The start of the cycle is sent at once, so the
/// console has both kinds of failure to show within the first minute.
pub const CYCLE: [Fate; 17] = [
    Fate::Clean,
    Fate::BadPaddingHeals,
    Fate::Clean,
    Fate::WrongKey,
    Fate::Download503,
    Fate::Clean,
    Fate::WrongSha256,
    Fate::CutDownload,
    Fate::Kvittering500,
    Fate::ExtraBytesHeals,
    Fate::SlowHeaders,
    Fate::RelistAfterAck,
    Fate::CorruptMiddle,
    Fate::MalformedEntry,
    Fate::SlowBody,
    Fate::Unauthorized,
    Fate::MalformedList,
];

/// How many forsendelser are sent at once when the demo starts.
pub const INITIAL: usize = 7;

/// Titles for the PDFs, per mottakersystem (the first is social services, the second building
/// permits), so the console's tables look like a kommune's.
const TITLES: [&[&str]; 2] = [
    &[
        "Vedtak om økonomisk stønad",
        "Ettersendelse av dokumentasjon",
        "Melding om endret situasjon",
        "Klage på vedtak",
        "Kopi av husleiekontrakt",
    ],
    &[
        "Søknad om tillatelse til tiltak",
        "Nabovarsel",
        "Søknad om ferdigattest",
        "Situasjonsplan",
        "Søknad om dispensasjon",
    ],
];

/// A mottakersystem the stream feeds.
#[derive(Debug, Clone)]
pub struct Recipient {
    /// SvarInn's username.
    pub username: String,
    /// Answers NAV's søknader through Fiks Digisos: gets `nav.digisos` søknader.
    pub digisos: bool,
}

/// Adds forsendelser to the fake: [`INITIAL`] at once, then one every `every`, until dropped.
#[derive(Debug)]
pub struct Trickle {
    fake: Arc<FakeSvarInnHandle>,
    /// In the order of the config.
    users: Vec<Recipient>,
    /// Where the søknader's cases are registered.
    fiks: Arc<Fiks>,
    /// Forsendelser added so far.
    pub sent: Arc<AtomicUsize>,
}

impl Trickle {
    pub fn new(fake: Arc<FakeSvarInnHandle>, users: Vec<Recipient>, fiks: Arc<Fiks>) -> Self {
        Trickle {
            fake,
            users,
            fiks,
            sent: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Runs for ever (cancel by dropping the future).
    pub async fn run(&self, every: Duration) -> Result<()> {
        for i in 0..INITIAL {
            self.add(i).await?;
        }
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        for i in INITIAL.. {
            tick.tick().await;
            self.add(i).await?;
        }
        Ok(())
    }

    /// The i-th forsendelse of the demo.
    async fn add(&self, i: usize) -> Result<()> {
        let n_users = self.users.len().max(1);
        let which = i % n_users;
        let Recipient {
            username: user,
            digisos,
        } = self
            .users
            .get(which)
            .cloned()
            .context("no mottakersystem")?;
        let fate = CYCLE[i % CYCLE.len()];
        // Sizes between 40 and 400 KB, varied but repeatable.
        let size = 40_000 + ((i as u64).wrapping_mul(2_654_435_761) % 360_000);
        // Generated forsendelser get their id from the fake, so only those whose fault (if
        // any) is not tied to the id: for a Fiks Digisos system every one of them is a NAV
        // søknad, for the other now and then a zip instead of a PDF.
        let id_free = matches!(fate, Fate::Clean | Fate::Unauthorized | Fate::MalformedList);
        let kind = match (id_free, digisos) {
            (true, true) => Some(GeneratedKind::Digisos),
            (true, false) if fate == Fate::Clean && i % 2 == 1 => {
                Some(GeneratedKind::Zip { entries: 3 })
            }
            _ => None,
        };
        let id = if let Some(kind) = kind {
            if let Some((fault, scope)) = fault_for(fate, "", &user) {
                self.fake
                    .inject(fault, scope)
                    .with_context(|| format!("injecting {fate:?} for {user}"))?;
            }
            let made = self
                .fake
                .generate_with(GenerateSpec::new(1, size, kind).for_mottakersystem(user.clone()))
                .await
                .context("generating a forsendelse in the fake SvarInn")?;
            let made = made
                .into_iter()
                .next()
                .context("the fake generated nothing")?;
            // Registered as soon as the søknad is listed: the fagsystem answers only after
            // the agent has delivered it and the fagsystem has imported it, seconds later.
            if let Some(digisos_id) = &made.digisos_id {
                self.fiks.register_case(digisos_id)?;
            }
            made.id
        } else {
            // The id is chosen first so the fault is in place before the forsendelse is listed.
            let id = uuid();
            if let Some((fault, scope)) = fault_for(fate, &id, &user) {
                self.fake
                    .inject(fault, scope)
                    .with_context(|| format!("injecting {fate:?} for {id}"))?;
            }
            let titles = TITLES[which % TITLES.len()];
            let tittel = titles[(i / n_users) % titles.len()];
            let new = NewForsendelse::pdf(
                user.clone(),
                format!("dokument-{i:05}.pdf"),
                Plaintext::Generated {
                    seed: 0xDE30 + i as u64,
                    size,
                },
            )
            .id(id)
            .tittel(tittel);
            self.fake
                .add_forsendelse(new)
                .await
                .context("adding a forsendelse to the fake SvarInn")?
        };
        tracing::info!(%id, mottakersystem = %user, ?fate, "new forsendelse");
        self.sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// A random UUID (version 4 layout), as SvarInn's forsendelse ids are.
fn uuid() -> String {
    use std::hash::{BuildHasher, Hasher};
    let random = || {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0);
        h.finish()
    };
    let (a, b) = (random(), random());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

/// The fault that gives a forsendelse its fate.
fn fault_for(fate: Fate, id: &str, user: &str) -> Option<(Fault, Scope)> {
    let one = || Scope::forsendelse(id);
    let download = || Scope::forsendelse(id).on(RequestKind::Download);
    Some(match fate {
        Fate::Clean => return None,
        Fate::Download503 => (Fault::Status(503), download().once()),
        // Three: the agent's max_decrypt_attempts in the demo's config.
        Fate::BadPaddingHeals => (
            Fault::CorruptCiphertext(Corruption::Padding),
            download().times(3),
        ),
        Fate::WrongSha256 => (Fault::WrongSha256, one()),
        Fate::CutDownload => (Fault::CutAfter(2000), download().once()),
        Fate::WrongKey => (Fault::WrongKey, one()),
        Fate::Kvittering500 => (Fault::Status(500), one().on(RequestKind::Kvittering).once()),
        Fate::ExtraBytesHeals => (Fault::ExtraBytes(100), download().times(3)),
        Fate::SlowHeaders => (
            Fault::DelayHeaders(Duration::from_secs(3)),
            download().once(),
        ),
        Fate::RelistAfterAck => (Fault::RelistAfterAck, one().once()),
        Fate::CorruptMiddle => (Fault::CorruptCiphertext(Corruption::Middle), one()),
        Fate::MalformedEntry => (Fault::MalformedEntry, one().times(2)),
        Fate::SlowBody => (
            Fault::Trickle {
                chunk: 8192,
                interval: Duration::from_millis(100),
            },
            download().once(),
        ),
        Fate::Unauthorized => (
            Fault::Unauthorized,
            Scope::mottakersystem(user).on(RequestKind::List).once(),
        ),
        Fate::MalformedList => (
            Fault::MalformedJson,
            Scope::mottakersystem(user).on(RequestKind::List).once(),
        ),
    })
}
