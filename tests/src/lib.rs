//! Shared helpers for the end-to-end tests in `tests/tests/`: finding the real
//! binaries, running them as child processes that die with the test, and
//! waiting for a condition without fixed sleeps.
//!
//! The binaries are the ones `cargo test --workspace` builds next to the test
//! executables (`target/<profile>/`); run the workspace's test command, not this
//! package alone, so they are fresh.
//!
//! Module map:
//! - this file: [`binary`], [`ChildGuard`]; [`wait_until`] is the kit's
//!   (`mottak_fixtures::kit`), re-exported.
//! - [`harness`]: a temporary world for the inbound pipeline: the fake SvarInn
//!   in-process, keys, secrets, config and drop folders on disk, the real
//!   `mottak-agent run` as a child, and read-only views of the drop folder,
//!   the journal and the agent's logs.
//! - [`outbound_harness`]: the same world with a fake Maskinporten and a fake
//!   Fiks Digisos, `[mottakersystem.digisos]` configured, and the test
//!   playing the fagsystem in `ut/`.
//! - [`console_client`]: one console session on the agent's socket (state,
//!   commands), for tests of what an operator sees and does.
//! - [`procfs`]: a process's memory, CPU and I/O from `/proc`, for the benches
//!   (`benches/inbound_drain.rs` runs the agent in [`harness::World`]).

pub mod console_client;
pub mod harness;
pub mod outbound_harness;
pub mod procfs;

/// The kit's blocking wait (the tests' old path).
pub use mottak_fixtures::kit::wait_until;

use std::path::PathBuf;
use std::process::{Child, Command};

/// The path of a binary of this workspace, built in the same profile as the test.
///
/// A test finds `target/debug/<name>`, a bench `target/release/<name>` (the bench
/// profile's folder; cargo does not build it for a bench of this package, so
/// `benches/inbound_drain.rs` runs `cargo build --profile bench` first).
///
/// Errors name the missing file and the command that builds it.
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    // target/<profile>/deps/<test-exe> → target/<profile>/<name>
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .ok_or_else(|| anyhow::anyhow!("cannot find the target folder from {}", exe.display()))?;
    let path = profile_dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        anyhow::bail!(
            "{} is not built; run the whole suite with `cargo test --workspace` (or `cargo build --workspace --bins` first)",
            path.display()
        )
    }
}

/// A child process killed (SIGKILL) and reaped when dropped, so a failing
/// test never leaves an agent or a fake running.
#[derive(Debug)]
pub struct ChildGuard {
    pub child: Child,
    pub name: String,
}

impl ChildGuard {
    pub fn spawn(name: &str, command: &mut Command) -> anyhow::Result<Self> {
        let child = command
            .spawn()
            .map_err(|err| anyhow::anyhow!("could not start {name}: {err}"))?;
        Ok(ChildGuard {
            child,
            name: name.to_owned(),
        })
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL now and reap: a crash, as far as the child can tell.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        // kill() fails only when the child has already been reaped.
        let _ = self.child.kill();
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
