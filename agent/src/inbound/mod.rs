//! The inbound pipeline: SvarInn → decrypt → drop folder → acknowledge.
//!
//! - `fetch`: one download streamed through decryption and SHA-256 into a file.
//! - `deliver`: a listed forsendelse into a verified staging folder (unzip, checksums).
//! - `worker`: one mottakersystem's loop: poll, then advance every row of the
//!   journal step by step (download → publish → await import → ack).

pub mod deliver;
pub mod fetch;
pub mod worker;
