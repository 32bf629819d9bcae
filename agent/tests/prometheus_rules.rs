//! The alert rules the packages ship (`monitoring/mottak.rules.yml`): `promtool check rules`
//! accepts them, `promtool test rules` passes every unit test in `monitoring/tests/`, every
//! alert has a test, the mixin labels and annotations, and a `runbook_url` whose anchor is a
//! section of docs/runbook.md; the .deb installs the file where docs/install.md says.
//! Without promtool the promtool parts skip loudly (and fail under `CI`, see
//! `mottak_fixtures::promtool`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use mottak_fixtures::promtool;

const RULES: &str = "monitoring/mottak.rules.yml";
const INSTALLED_AT: &str = "usr/share/mottak/prometheus/mottak.rules.yml";
const RUNBOOK_URL: &str = "https://example.invalid/mottak/docs/runbook.md#";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn rule_tests() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("monitoring/tests"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no monitoring/tests/*.yml");
    files
}

/// One alert rule, as far as the checks below need it: its lines, by indentation.
struct Alert {
    name: String,
    text: String,
}

/// The `- alert:` blocks of the rules file.
fn alerts() -> Vec<Alert> {
    let text = read(RULES);
    let mut out: Vec<Alert> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.trim_start().strip_prefix("- alert: ") {
            out.push(Alert {
                name: name.trim().to_owned(),
                text: String::new(),
            });
        } else if line.trim_start().starts_with("- ") && !line.starts_with("        ") {
            // A new group or a recording rule ends the alert.
            continue;
        } else if let Some(a) = out.last_mut() {
            a.text.push_str(line);
            a.text.push('\n');
        }
    }
    assert!(
        out.len() >= 9,
        "expected the nine alerts, found {}",
        out.len()
    );
    out
}

/// GitHub-style anchors of docs/runbook.md's headings.
fn runbook_anchors() -> Vec<String> {
    read("docs/runbook.md")
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| {
            l.trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                    _ => None,
                })
                .collect()
        })
        .collect()
}

#[test]
fn every_alert_follows_the_mixin_conventions_and_has_its_runbook_section() {
    let anchors = runbook_anchors();
    let tests: String = rule_tests()
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    for a in alerts() {
        let name = &a.name;
        assert!(
            name.starts_with("Mottak"),
            "{name}: alerts are named Mottak*"
        );
        for key in [
            "expr:",
            "labels:",
            "annotations:",
            "summary:",
            "description:",
        ] {
            assert!(a.text.contains(key), "{name} has no {key}\n{}", a.text);
        }
        assert!(
            a.text.contains("severity: critical") || a.text.contains("severity: warning"),
            "{name}: severity must be critical or warning\n{}",
            a.text
        );
        let url = a
            .text
            .lines()
            .find_map(|l| l.trim().strip_prefix("runbook_url: "))
            .unwrap_or_else(|| panic!("{name} has no runbook_url"))
            .trim_matches('"');
        let anchor = url
            .strip_prefix(RUNBOOK_URL)
            .unwrap_or_else(|| panic!("{name}: runbook_url {url} is not under {RUNBOOK_URL}"));
        assert_eq!(
            anchor,
            name.to_lowercase(),
            "{name}: the anchor is the alert's name"
        );
        assert!(
            anchors.iter().any(|h| h == anchor),
            "{name}: docs/runbook.md has no section #{anchor} (a heading `### {name}`)"
        );
        assert!(
            tests.contains(&format!("alertname: {name}\n")),
            "{name} has no unit test in monitoring/tests/"
        );
    }
}

#[test]
fn both_packages_install_the_rules_where_the_docs_say() {
    // .ci/package puts the rules into the assets both packages ship from
    // (and fails when a package's file list lacks them).
    let package = read(".ci/package");
    assert!(
        package.contains(&format!("rules={RULES}\n"))
            && package.contains(&format!("rules_installed=/{INSTALLED_AT}\n")),
        ".ci/package does not install {RULES} at /{INSTALLED_AT}"
    );
    let spec = read("systemd/rpm/mottak.spec");
    let rpm_path = INSTALLED_AT.replacen("usr/share", "%{_datadir}", 1);
    assert!(
        spec.lines().any(|l| l.trim() == rpm_path),
        "systemd/rpm/mottak.spec's %files do not list {rpm_path}"
    );
    assert!(read("docs/install.md").contains(&format!("/{INSTALLED_AT}")));
}

#[test]
fn promtool_checks_the_rules_and_passes_their_unit_tests() {
    let Some(promtool) = promtool::find().unwrap() else {
        return;
    };
    let dir = root().join("monitoring");
    let check = promtool::run(
        &promtool,
        &dir,
        &["check", "rules", "mottak.rules.yml"],
        b"",
    )
    .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(check.status.success(), "promtool check rules:\n{said}");
    assert!(said.contains("SUCCESS"), "{said}");

    let files: Vec<String> = rule_tests()
        .iter()
        .map(|p| format!("tests/{}", p.file_name().unwrap().to_string_lossy()))
        .collect();
    let mut args = vec!["test", "rules"];
    args.extend(files.iter().map(String::as_str));
    let test = promtool::run(&promtool, &dir, &args, b"").unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&test.stdout),
        String::from_utf8_lossy(&test.stderr)
    );
    assert!(test.status.success(), "promtool test rules:\n{said}");
    assert_eq!(
        said.matches("SUCCESS").count(),
        files.len(),
        "every test file passes:\n{said}"
    );
}
