//! Build helpers that need the binaries' own command-line definitions.
//!
//! `dist-assets OUT` writes what the packages (.deb and RPM) ship beside the binaries,
//! generated from the clap definitions so they never drift from `--help`:
//!
//! ```text
//! OUT/usr/share/man/man1/mottak-agent.1   and one page per subcommand (mottak-agent-run.1, ...)
//! OUT/usr/share/bash-completion/completions/mottak-agent
//! OUT/usr/share/zsh/vendor-completions/_mottak-agent
//! OUT/usr/share/fish/vendor_completions.d/mottak-agent.fish
//! ```
//!
//! The layout is where Debian looks for them, so the .deb takes `OUT/usr/share`
//! as one glob and a source install can copy `OUT/usr` to `/usr/local`; the
//! RPM's spec moves the zsh completions to RHEL's `site-functions`.
//!
//! Both binaries of the package are covered: `mottak-agent` (from
//! `mottak_agent::commands::Cli`) and the console `mottak` (from
//! `mottak_console::cli::command()`).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_complete::Shell;

pub mod dockeys;

/// A program the package ships, with what its main man page adds to `--help`.
pub struct Program {
    pub command: clap::Command,
    /// Roff text appended to the main page (FILES, SEE ALSO, ...).
    pub extra_roff: String,
}

/// The programs whose man pages and completions are generated.
pub fn programs() -> Vec<Program> {
    vec![
        Program {
            command: mottak_agent::commands::Cli::command(),
            extra_roff: AGENT_EXTRA.to_owned(),
        },
        Program {
            command: mottak_console::cli::command(),
            extra_roff: CONSOLE_EXTRA.to_owned(),
        },
    ]
}

const CONSOLE_EXTRA: &str = r#".SH ENVIRONMENT
.TP
\fBMOTTAK_SOCKET\fR
The local agent's console socket, instead of \fI/run/mottak/console.sock\fR.
.TP
\fBLC_ALL\fR, \fBLC_MESSAGES\fR, \fBLANG\fR
The language (nb or en) unless \fB\-\-lang\fR is given.
.TP
\fBNO_COLOR\fR
Chooses the high-contrast theme (no colours).
.SH FILES
.TP
\fI/run/mottak/console.sock\fR
The local agent's socket: mode 0660, group \fBmottak-ops\fR. Your login name is your user in the agent's access lists (\fBmottak-agent access list\fR).
.SH SEE ALSO
\fBmottak-status\fR(1), \fBmottak-check\fR(1), \fBmottak-agent\fR(1),
\fI/usr/share/doc/mottak/runbook.md\fR (what each alert means and what to do)
"#;

const AGENT_EXTRA: &str = r#".SH FILES
.TP
\fI/etc/mottak/agent.toml\fR
The configuration (see \fI/usr/share/doc/mottak/configuration.md\fR and the commented example \fI/usr/share/doc/mottak/examples/agent.example.toml\fR).
.TP
\fI/etc/mottak/keys/\fR, \fI/etc/mottak/secrets/\fR
Private keys (mode 0600, owned by the agent's user \fBmottak\fR) and the SvarInn passwords.
.TP
\fI/var/lib/mottak/journal.sqlite\fR
The journal: one row per forsendelse. Back it up.
.TP
\fI/var/log/mottak/\fR
Daily log files (the same lines also go to the systemd journal).
.TP
\fI/run/mottak/console.sock\fR
The console socket (group \fBmottak-ops\fR).
.TP
\fI/usr/lib/systemd/system/mottak-agent.service\fR
The hardened unit. Site settings (drop folders, credentials) go in a drop-in: \fBsystemctl edit mottak-agent\fR.
.SH EXIT STATUS
0 on success and after a clean stop (SIGTERM); non-zero when a command fails, from \fBcheck-config\fR when it found an error, and from \fBdoctor\fR 1 (config unreadable), 2 (config errors) or 3 (an online check failed).
.SH SEE ALSO
\fBmottak-agent-run\fR(1), \fBmottak-agent-check-config\fR(1), \fBmottak-agent-doctor\fR(1), \fBmottak-agent-keygen\fR(1), \fBmottak-agent-decrypt\fR(1), \fBmottak-agent-access\fR(1), \fBsystemd.exec\fR(5),
\fI/usr/share/doc/mottak/\fR (install.md, configuration.md, runbook.md, key-rotation.md, drop-folder.md)
"#;

/// Where a shell's completion for `bin` goes, under `OUT` (Debian's paths).
pub fn completion_path(shell: Shell, bin: &str) -> PathBuf {
    match shell {
        Shell::Bash => Path::new("usr/share/bash-completion/completions").join(bin),
        Shell::Zsh => Path::new("usr/share/zsh/vendor-completions").join(format!("_{bin}")),
        Shell::Fish => Path::new("usr/share/fish/vendor_completions.d").join(format!("{bin}.fish")),
        _ => Path::new("usr/share/completions").join(format!("{bin}.{shell}")),
    }
}

/// Where the man pages go, under `OUT`.
pub const MAN1: &str = "usr/share/man/man1";

pub const SHELLS: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

/// Writes the man pages and completions of every [`programs`] entry under
/// `out`; returns the files written, sorted.
pub fn dist_assets(out: &Path) -> Result<Vec<PathBuf>> {
    let man_dir = out.join(MAN1);
    fs::create_dir_all(&man_dir).with_context(|| format!("cannot create {}", man_dir.display()))?;
    let mut written = Vec::new();
    for program in programs() {
        written.extend(man_pages(&program, &man_dir)?);
        written.extend(completions(&program.command, out)?);
    }
    written.sort();
    Ok(written)
}

/// The main page (with the extra sections) and one page per subcommand,
/// recursively (`mottak-agent-access-grant.1`).
fn man_pages(program: &Program, dir: &Path) -> Result<Vec<PathBuf>> {
    let mut cmd = program.command.clone().disable_help_subcommand(true);
    cmd.build();
    let mut written = Vec::new();
    write_page(&cmd, Some(&program.extra_roff), dir, &mut written)?;
    Ok(written)
}

fn write_page(
    cmd: &clap::Command,
    extra: Option<&str>,
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_page(sub, None, dir, written)?;
    }
    let man = clap_mangen::Man::new(cmd.clone())
        .manual("Mottak")
        .source(format!("mottak {}", env!("CARGO_PKG_VERSION")));
    let path = dir.join(man.get_filename());
    let mut buf = Vec::new();
    man.render(&mut buf)
        .with_context(|| format!("cannot render {}", path.display()))?;
    if let Some(extra) = extra {
        buf.extend_from_slice(extra.as_bytes());
    }
    let mut file =
        fs::File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(&buf)
        .and_then(|()| file.flush())
        .with_context(|| format!("cannot write {}", path.display()))?;
    written.push(path);
    Ok(())
}

fn completions(cmd: &clap::Command, out: &Path) -> Result<Vec<PathBuf>> {
    let bin = cmd.get_name().to_owned();
    let mut written = Vec::new();
    for shell in SHELLS {
        let path = out.join(completion_path(shell, &bin));
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd.clone(), &bin, &mut buf);
        fs::write(&path, &buf).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}
