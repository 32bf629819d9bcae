//! Finding the programs the demo starts: `mottak-agent` and `mottak`, beside the demo's own
//! executable. Run from the workspace (`cargo run -p mottak-demo`), the demo first builds them
//! in its own profile, so a fresh clone needs nothing else.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The programs the demo runs.
#[derive(Debug, Clone)]
pub struct Bins {
    pub agent: PathBuf,
    pub console: PathBuf,
}

/// The packages and binaries the demo needs built.
const PACKAGES: [&str; 2] = ["mottak-agent", "mottak-console"];

/// Locates the binaries, building them first unless `no_build` (or the demo was not started
/// from a checkout of the workspace it was built from).
pub fn locate(no_build: bool) -> Result<Bins> {
    let exe = std::env::current_exe().context("finding the demo's own executable")?;
    let dir = exe
        .parent()
        .with_context(|| format!("{} has no folder", exe.display()))?;
    locate_in(dir, no_build)
}

/// [`locate`] for binaries in `dir` (a profile folder such as `target/release`).
pub fn locate_in(dir: &Path, no_build: bool) -> Result<Bins> {
    let dir = dir.to_path_buf();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let manifest = workspace.join("Cargo.toml");
    if !no_build && manifest.is_file() {
        build(&manifest, &dir)?;
    }
    let bins = Bins {
        agent: dir.join("mottak-agent"),
        console: dir.join("mottak"),
    };
    for path in [&bins.agent, &bins.console] {
        if !path.is_file() {
            bail!(
                "{} is missing; build it with `cargo build --release -p mottak-agent -p mottak-console`, \
                 or run the demo with `cargo run --release -p mottak-demo`, which builds it",
                path.display()
            );
        }
    }
    Ok(bins)
}

/// `cargo build --bins -p mottak-agent -p mottak-console` in the profile the demo was built in
/// (the name of the folder it lives in: `release`, `debug`, or a custom profile).
fn build(manifest: &Path, exe_dir: &Path) -> Result<()> {
    let profile = match exe_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev".to_owned(),
        Some(name) => name.to_owned(),
        None => "release".to_owned(),
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("mottak-demo: building mottak-agent and mottak ({profile} profile) ...");
    let mut cmd = Command::new(&cargo);
    cmd.arg("build")
        .arg("--quiet")
        .arg("--manifest-path")
        .arg(manifest)
        .arg("--profile")
        .arg(&profile)
        .arg("--bins");
    for p in PACKAGES {
        cmd.arg("-p").arg(p);
    }
    // The binaries must land beside the demo: in the target folder above its profile folder
    // (cargo marks a target folder with CACHEDIR.TAG).
    if let Some(target_dir) = exe_dir.parent()
        && target_dir.join("CACHEDIR.TAG").is_file()
    {
        cmd.arg("--target-dir").arg(target_dir);
    }
    let status = cmd.status().with_context(|| {
        format!(
            "running {} to build mottak-agent and mottak (use --no-build to skip)",
            cargo.to_string_lossy()
        )
    })?;
    if !status.success() {
        bail!("building mottak-agent and mottak failed ({status}); see cargo's messages above");
    }
    Ok(())
}
