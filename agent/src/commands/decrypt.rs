//! `mottak-agent decrypt`: decrypt a SvarInn file by hand.

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `mottak-agent decrypt`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A private key (PEM: PKCS#1, PKCS#8). Repeat for several keys (key rotation).
    #[arg(long = "key", required = true)]
    pub keys: Vec<PathBuf>,
    /// The encrypted file as downloaded from SvarInn.
    #[arg(long = "in")]
    pub input: PathBuf,
    /// Where to write the plaintext.
    #[arg(long = "out")]
    pub output: PathBuf,
}

pub fn run(_args: &Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("decrypt is being written")
}
