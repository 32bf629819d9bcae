//! `mottak-agent`: the daemon and its admin commands. Each subcommand lives in
//! `mottak_agent::commands`; this file only parses the command line.

use std::process::ExitCode;

use clap::Parser;
use mottak_agent::commands::{Cli, dispatch};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            // `{:#}` prints the whole context chain on one line: what failed and why.
            eprintln!("mottak-agent: {}", mottak_agent::commands::one_line(&err));
            ExitCode::FAILURE
        }
    }
}
