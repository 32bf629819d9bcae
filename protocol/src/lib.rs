//! Every format Mottak speaks on a wire or a disk, pure: no sockets, no tokio,
//! no files opened by path.
//!
//! Module map:
//! - [`svarinn`]: the SvarInn V1 mottaksservice JSON (forsendelse, mottakFeilet).
//! - [`svarinn_v2`]: SvarInn V2 (`/api/svarinn/v2`): its forsendelse JSON (both address shapes)
//!   and the status PATCH body.
//! - [`listed`]: a listed forsendelse as the agent works with it, which both versions map into.
//! - [`cms`]: streaming CMS EnvelopedData reader and writer (SvarInn files, Fiks uploads).
//! - [`console`]: the console ⇄ agent websocket messages, the state a console sees, its deltas.
//! - [`asice`]: the manifest of an ASiC-E container (Fiks IO messages): each data file's name,
//!   type and SHA-256, read from the sender's XML without DTDs.
//! - [`alert`]: what an alert is about, with its data, so each language is written from it.
//! - [`digisos`]: Fiks Digisos and Maskinporten (paths, bodies, grant claims), NAV's
//!   digisos-soker schema ([`digisos::validate_soker`]) and `fil:` placeholders.
//! - [`fnr`]: the one rule for finding and masking fødselsnumre (control digits), used for
//!   everything sent to a console and every log line.

pub mod alert;
pub mod asice;
pub mod cms;
pub mod console;
pub mod digisos;
pub mod fnr;
pub mod listed;
pub mod svarinn;
pub mod svarinn_v2;
