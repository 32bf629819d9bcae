//! `cargo run -p xtask -- dist-assets OUT`: man pages and shell completions
//! for the .deb and the RPM, generated from the binaries' clap definitions.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Build helpers for Mottak.
#[derive(Debug, Parser)]
#[command(name = "xtask")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write man pages (OUT/man/man1/) and bash, zsh and fish completions
    /// (OUT/completions/) for the shipped binaries.
    DistAssets {
        /// The folder to write into (created if missing).
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::DistAssets { out } => match xtask::dist_assets(&out) {
            Ok(files) => {
                for f in &files {
                    println!("{}", f.display());
                }
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("xtask: {err:#}");
                ExitCode::FAILURE
            }
        },
    }
}
