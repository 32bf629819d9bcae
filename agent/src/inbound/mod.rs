//! The inbound pipeline: SvarInn → decrypt → drop folder → acknowledge.
//!
//! - `fetch`: one download streamed through decryption and SHA-256 into a file.

pub mod fetch;
