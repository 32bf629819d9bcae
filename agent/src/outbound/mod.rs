//! The outbound pipeline: saksoppdateringer from the fagsystem's `ut/` to Fiks
//! Digisos (`../shared/DESIGN.md`, "Outbound").
//!
//! ```text
//! ut/<digisos-id>/ + KLAR ──claim (rename)──▶ .mottak/ut.<ms>.<n>.<digisos-id>/ ──▶ journal queued
//!        │ bad input (JSON, schema, missing file, not a digisos-id)
//!        └──────────────────────────────────────────▶ ut-feilet/<digisos-id>-<time>/feil.txt
//! queued ──(a newer one for the case)──▶ superseded
//! queued ──upload files not yet on the case (sha256) ──▶ replace fil: ──▶ validate ──▶ post ──▶ sent
//! sent, superseded ──▶ ut-sendt/<digisos-id>-<time>/kvittering.json ("sendt" | "erstattet")
//!   ├─ network, 5xx, token, 401 after a fresh token ─▶ retry_wait (backoff) ─▶ queued
//!   └─ Fiks 400/403/404 ─▶ failed ─▶ ut-feilet/ with Fiks's error text
//! ```
//!
//! Module map:
//! - `claim`: the folders: ready updates in `ut/`, claiming, `ut-feilet/`,
//!   `ut-sendt/`.
//! - `kvittering`: `kvittering.json` in `ut-sendt/`, and finishing a claim
//!   left behind by a crash.
//! - `validate`: every local check, each problem named for `feil.txt`.
//! - `pipeline`: the [`crate::pipeline::Pipeline`] a mottakersystem's
//!   `[mottakersystem.digisos]` is: setup (grant key, password, folders), then the worker.
//! - `worker`: one mottakersystem's loop and the steps of one update.
//! - `actions`: what an operator may do from the console (retry, discard).
//! - `error`: the errors by kind (a turn, an action, a folder in `ut-feilet/`).
//! - `console`: the outbound part of the console state, and its alerts.

pub mod actions;
pub mod claim;
pub mod console;
pub mod error;
pub mod kvittering;
pub mod pipeline;
pub mod validate;
pub mod worker;

pub use worker::{OutboundHealth, OutboundWorker};
