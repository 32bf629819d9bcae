//! `dist-assets` writes a man page for the agent and each of its
//! subcommands, and completions for three shells, all naming the real
//! subcommands and options.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;

#[test]
fn man_pages_and_completions_name_the_real_commands() {
    let dir = tempfile::tempdir().unwrap();
    let files = xtask::dist_assets(dir.path()).unwrap();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.strip_prefix(dir.path()).unwrap().display().to_string())
        .collect();
    for want in [
        "usr/share/man/man1/mottak-agent.1",
        "usr/share/man/man1/mottak-agent-run.1",
        "usr/share/man/man1/mottak-agent-check-config.1",
        "usr/share/man/man1/mottak-agent-doctor.1",
        "usr/share/man/man1/mottak-agent-keygen.1",
        "usr/share/man/man1/mottak-agent-decrypt.1",
        "usr/share/man/man1/mottak-agent-access.1",
        "usr/share/bash-completion/completions/mottak-agent",
        "usr/share/zsh/vendor-completions/_mottak-agent",
        "usr/share/fish/vendor_completions.d/mottak-agent.fish",
        "usr/share/man/man1/mottak.1",
        "usr/share/man/man1/mottak-status.1",
        "usr/share/man/man1/mottak-check.1",
        "usr/share/bash-completion/completions/mottak",
        "usr/share/zsh/vendor-completions/_mottak",
        "usr/share/fish/vendor_completions.d/mottak.fish",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
    let main = fs::read_to_string(dir.path().join("usr/share/man/man1/mottak-agent.1")).unwrap();
    assert!(main.starts_with(".ie") || main.contains(".TH"), "{main}");
    assert!(main.contains(".TH mottak-agent 1"), "{main}");
    assert!(
        main.contains("check\\-config"),
        "subcommands listed: {main}"
    );
    assert!(main.contains(".SH FILES") && main.contains("/etc/mottak/agent.toml"));
    // doctor's page carries its whole --help: read-only, the checks, the exit codes.
    let doctor =
        fs::read_to_string(dir.path().join("usr/share/man/man1/mottak-agent-doctor.1")).unwrap();
    for want in [
        "Read\\-only",
        "\\-\\-json",
        "Exit codes",
        "doctor\\-last.json",
    ] {
        assert!(doctor.contains(want), "{want} not in {doctor}");
    }
    assert!(main.contains("doctor"), "{main}");
    let run = fs::read_to_string(dir.path().join("usr/share/man/man1/mottak-agent-run.1")).unwrap();
    assert!(run.contains("\\-\\-config"), "{run}");
    // The global options are on every subcommand's page (`--config` after
    // `access grant`, `--socket` after `status`).
    for (page, option) in [
        ("mottak-agent-run.1", "\\-\\-config"),
        ("mottak-agent-access.1", "\\-\\-config"),
        ("mottak-agent-access-grant.1", "\\-\\-config"),
        ("mottak-agent-check-config.1", "\\-\\-config"),
        ("mottak-status.1", "\\-\\-socket"),
        ("mottak-check.1", "\\-\\-url"),
        ("mottak-check.1", "\\-\\-lang"),
    ] {
        let text = fs::read_to_string(dir.path().join("usr/share/man/man1").join(page)).unwrap();
        assert!(text.contains(option), "{option} in {page}:\n{text}");
    }
    let bash = fs::read_to_string(
        dir.path()
            .join("usr/share/bash-completion/completions/mottak-agent"),
    )
    .unwrap();
    assert!(
        bash.contains("check-config") && bash.contains("keygen") && bash.contains("doctor"),
        "{bash}"
    );
    assert!(bash.contains("complete -F"), "{bash}");
    // Completion offers --config after `access grant` too.
    let grant = bash
        .split("mottak__subcmd__agent__subcmd__access__subcmd__grant)")
        .nth(1)
        .unwrap_or_else(|| panic!("no access grant case in\n{bash}"));
    let grant = grant.split(";;").next().unwrap();
    assert!(grant.contains("--config"), "{grant}");
    let zsh = fs::read_to_string(
        dir.path()
            .join("usr/share/zsh/vendor-completions/_mottak-agent"),
    )
    .unwrap();
    assert!(zsh.starts_with("#compdef mottak-agent"), "{zsh}");
    let fish = fs::read_to_string(
        dir.path()
            .join("usr/share/fish/vendor_completions.d/mottak-agent.fish"),
    )
    .unwrap();
    assert!(fish.contains("complete -c mottak-agent"), "{fish}");
    // The access subcommand's own subcommands get pages too.
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("usr/share/man/man1/mottak-agent-access-")),
        "{names:?}"
    );
    let console = fs::read_to_string(dir.path().join("usr/share/man/man1/mottak.1")).unwrap();
    assert!(console.contains(".TH mottak 1"), "{console}");
    assert!(
        console.contains("MOTTAK_SOCKET") && console.contains("mottak-ops"),
        "{console}"
    );
    let fish = fs::read_to_string(
        dir.path()
            .join("usr/share/fish/vendor_completions.d/mottak.fish"),
    )
    .unwrap();
    assert!(
        fish.contains("complete -c mottak") && fish.contains("status"),
        "{fish}"
    );
}
