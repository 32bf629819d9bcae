//! The inbound pipeline: SvarInn → decrypt → drop folder → acknowledge.
//!
//! - `concurrency`: the adaptive limit on SvarInn calls in flight (pure, clock passed in).
//! - `link`: that limit as slots for downloads and for the other calls, and the pacing
//!   (`Retry-After`) every call of a mottakersystem's client obeys.
//! - `fetch`: one download streamed through decryption and SHA-256 into a file.
//! - `deliver`: a listed forsendelse into a verified staging folder (unzip, checksums).
//! - `limits`: `max_forsendelse_size` on the encrypted and the decrypted bytes as they
//!   stream, and the `min_free_space` floor on the drop folder's filesystem.
//! - `pipeline`: the [`crate::pipeline::Pipeline`] a mottakersystem's SvarInn
//!   side is: setup (password, keys, drop folder, recovery), then the worker.
//! - `worker`: one mottakersystem's loop: poll, then advance every row of the
//!   journal step by step (download → publish → await import → ack).
//! - `actions`: what an operator may do from the console (retry, move back to
//!   `inn/`, mark permanent, pause, resume, poll now).
//! - `console`: the inbound part of the console state, and its alerts.

pub mod actions;
pub mod concurrency;
pub mod console;
pub mod deliver;
pub mod fetch;
pub mod limits;
pub mod link;
pub mod pipeline;
pub mod worker;
