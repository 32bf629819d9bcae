//! `mottak`: the on-call admin's console. The console itself is not built yet;
//! until it is, this binary says so instead of pretending.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "mottak: the console is not built yet. Use `mottak-agent check-config` and the agent's logs meanwhile."
    );
    ExitCode::from(3)
}
