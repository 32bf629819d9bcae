//! Keeps `docs/configuration.md` true to the agent's config module
//! (`agent/src/config/`, whose `raw.rs` holds the `Raw*` structs).
//!
//! The config's tables are the `Raw*` structs with `#[serde(deny_unknown_fields)]`
//! and named fields: a field whose type names another such struct is a
//! sub-table, every other field a key. The docs have one heading per table
//! (`` ## `[agent]` ``, `` ## `[[mottakersystem]]` ``, ...) and, under it, a
//! table whose first column is `` `key` ``. [`check`] reports a key of the
//! code that its section does not document, and a documented key the code
//! does not have (a key renamed or removed).

use std::collections::{BTreeMap, BTreeSet};

/// Table path (`""` for the top level, `agent`, `agent.remote`,
/// `mottakersystem`, ...) → its keys, as the code defines them.
pub type Tables = BTreeMap<String, BTreeSet<String>>;

/// One `Raw*` struct: its fields and their types.
#[derive(Debug, Default)]
struct RawStruct {
    fields: Vec<(String, String)>,
}

/// The tables and keys of the config, read from the source of the config
/// module (its files concatenated: see [`config_source`]).
pub fn config_tables(source: &str) -> Result<Tables, String> {
    let structs = raw_structs(source);
    if !structs.contains_key("RawConfig") {
        return Err("no `struct RawConfig {` with deny_unknown_fields in agent/src/config/".into());
    }
    let mut tables = Tables::new();
    walk(&structs, "RawConfig", "", &mut tables, 0)?;
    Ok(tables)
}

/// The source of the config module: every `.rs` file directly in `dir`
/// (`agent/src/config/`), in name order, joined. A file that cannot be read
/// is an error, so a moved module cannot make the check pass vacuously.
pub fn config_source(dir: &std::path::Path) -> Result<String, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut files: Vec<std::path::PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    files.sort();
    let mut source = String::new();
    for f in files {
        let text =
            std::fs::read_to_string(&f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
        source.push_str(&text);
        source.push('\n');
    }
    Ok(source)
}

fn walk(
    structs: &BTreeMap<String, RawStruct>,
    name: &str,
    path: &str,
    tables: &mut Tables,
    depth: usize,
) -> Result<(), String> {
    if depth > 8 {
        return Err(format!("config tables nest deeper than 8 at {path}"));
    }
    let s = structs
        .get(name)
        .ok_or_else(|| format!("struct {name} not found"))?;
    let keys = tables.entry(path.to_owned()).or_default();
    let mut subs = Vec::new();
    for (field, ty) in &s.fields {
        match structs
            .keys()
            .find(|candidate| type_names(ty).iter().any(|t| t == *candidate))
        {
            Some(sub) => subs.push((field.clone(), sub.clone())),
            None => {
                keys.insert(field.clone());
            }
        }
    }
    for (field, sub) in subs {
        let sub_path = if path.is_empty() {
            field
        } else {
            format!("{path}.{field}")
        };
        walk(structs, &sub, &sub_path, tables, depth + 1)?;
    }
    Ok(())
}

/// The identifiers in a type (`Option<Spanned<RawRemote>>` → Option, Spanned, RawRemote).
fn type_names(ty: &str) -> Vec<String> {
    ty.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Every `struct Raw... {` preceded (within its attributes) by
/// `#[serde(deny_unknown_fields)]`, with its fields; serde renames honoured.
fn raw_structs(source: &str) -> BTreeMap<String, RawStruct> {
    let lines: Vec<&str> = source.lines().collect();
    let mut out = BTreeMap::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        let name = line
            .strip_prefix("pub struct ")
            .or_else(|| line.strip_prefix("pub(super) struct "))
            .or_else(|| line.strip_prefix("pub(crate) struct "))
            .or_else(|| line.strip_prefix("struct "))
            .and_then(|rest| rest.strip_suffix('{'))
            .map(str::trim);
        let Some(name) = name else {
            i += 1;
            continue;
        };
        // The attributes right above the struct.
        let mut j = i;
        let mut denies = false;
        while j > 0 {
            let above = lines[j - 1].trim();
            if above.starts_with("#[") || above.starts_with("///") {
                denies |= above.contains("deny_unknown_fields");
                j -= 1;
            } else {
                break;
            }
        }
        i += 1;
        let mut s = RawStruct::default();
        let mut rename: Option<String> = None;
        while i < lines.len() && lines[i].trim() != "}" {
            let l = lines[i].trim();
            i += 1;
            if let Some(attr) = l.strip_prefix("#[serde(") {
                if let Some(r) = attr.split("rename = \"").nth(1)
                    && let Some(end) = r.find('"')
                {
                    rename = Some(r[..end].to_owned());
                }
                continue;
            }
            if l.starts_with("//") || l.starts_with("#[") || l.is_empty() {
                continue;
            }
            let l = l.strip_prefix("pub ").unwrap_or(l);
            if let Some((field, ty)) = l.split_once(':') {
                let field = field.trim().trim_start_matches("r#");
                if !field.is_empty() && field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    let key = rename.take().unwrap_or_else(|| field.to_owned());
                    s.fields
                        .push((key, ty.trim().trim_end_matches(',').to_owned()));
                }
            }
        }
        if denies && name.starts_with("Raw") {
            out.insert(name.to_owned(), s);
        }
        i += 1;
    }
    out
}

/// The docs' sections: table path → the keys its key table lists (first
/// column) and every `` `word` `` mentioned in it.
#[derive(Debug, Default)]
pub struct Section {
    pub listed: BTreeSet<String>,
}

/// Splits the docs by headings that name a table, `` `[x]` `` or `` `[[x]]` ``.
pub fn doc_sections(docs: &str) -> BTreeMap<String, Section> {
    let mut out: BTreeMap<String, Section> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in docs.lines() {
        if line.starts_with('#') {
            current = line
                .split('`')
                .nth(1)
                .filter(|t| t.starts_with('[') && t.ends_with(']'))
                .map(|t| t.trim_matches(|c| c == '[' || c == ']').to_owned());
            if let Some(c) = &current {
                out.entry(c.clone()).or_default();
            }
            continue;
        }
        let Some(table) = &current else { continue };
        // A key table row: | `key` | ...
        if let Some(rest) = line.trim_start().strip_prefix("| `")
            && let Some(end) = rest.find('`')
        {
            let key = &rest[..end];
            if let Some(section) = out.get_mut(table) {
                section.listed.insert(key.to_owned());
            }
        }
    }
    out
}

/// Problems, one line each; empty when the docs and the code agree.
pub fn check(tables: &Tables, docs: &str) -> Vec<String> {
    let sections = doc_sections(docs);
    let mut problems = Vec::new();
    for (table, keys) in tables {
        if table.is_empty() {
            continue; // the top level holds only tables
        }
        let Some(section) = sections.get(table) else {
            problems.push(format!(
                "docs/configuration.md has no heading for `[{table}]` (keys: {})",
                keys.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
            continue;
        };
        for key in keys {
            if !section.listed.contains(key) {
                problems.push(format!(
                    "docs/configuration.md: `[{table}]` does not document `{key}` (add a row `| `{key}` | default | meaning |`)"
                ));
            }
        }
        for key in &section.listed {
            if !keys.contains(key) {
                problems.push(format!(
                    "docs/configuration.md: `[{table}]` documents `{key}`, which agent/src/config/ does not have"
                ));
            }
        }
    }
    for table in sections.keys() {
        if !tables.contains_key(table) {
            problems.push(format!(
                "docs/configuration.md has a section for `[{table}]`, which agent/src/config/ does not have"
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    agent: RawAgent,
    #[serde(default)]
    mottakersystem: Vec<RawSystem>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgent {
    #[serde(default = "d")]
    state_dir: AbsPath,
    remote: Option<RawRemote>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRemote {
    listen: ListenAddr,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSystem {
    name: Spanned<RawName>,
    #[serde(rename = "type")]
    kind: String,
}

struct RawName(SystemName);
"#;

    #[test]
    fn tables_and_keys_are_read_from_the_structs() {
        let t = config_tables(SAMPLE).unwrap();
        let keys = |p: &str| t[p].iter().cloned().collect::<Vec<_>>();
        assert_eq!(keys("agent"), ["state_dir"]);
        assert_eq!(keys("agent.remote"), ["listen"]);
        // RawName is a value type (a tuple struct), not a table.
        assert_eq!(keys("mottakersystem"), ["name", "type"]);
        assert!(t[""].is_empty());
    }

    #[test]
    fn a_missing_or_stale_key_is_reported() {
        let t = config_tables(SAMPLE).unwrap();
        let good = "## `[agent]`\n| `state_dir` | x |\n### `[agent.remote]`\n| `listen` | x |\n## `[[mottakersystem]]`\n| `name` | x |\n| `type` | y |\n";
        assert_eq!(check(&t, good), Vec::<String>::new());
        let missing = good.replace("| `type` | y |\n", "");
        let p = check(&t, &missing);
        assert!(p.len() == 1 && p[0].contains("`type`"), "{p:?}");
        let stale = format!("{good}| `gone` | z |\n");
        let p = check(&t, &stale);
        assert!(p.len() == 1 && p[0].contains("`gone`"), "{p:?}");
        let no_heading = good.replace("### `[agent.remote]`\n| `listen` | x |\n", "");
        let p = check(&t, &no_heading);
        assert!(
            p.iter()
                .any(|l| l.contains("no heading for `[agent.remote]`")),
            "{p:?}"
        );
    }

    /// The real thing: every key of agent/src/config/ is documented in
    /// docs/configuration.md under its table, and the docs list no key the
    /// code does not have.
    #[test]
    fn configuration_md_documents_every_config_key() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let source = config_source(&root.join("agent/src/config")).unwrap();
        let docs = std::fs::read_to_string(root.join("docs/configuration.md")).unwrap();
        let tables = config_tables(&source).unwrap();
        assert!(
            tables
                .get("mottakersystem")
                .is_some_and(|k| k.contains("drop_folder")),
            "the parser no longer finds [[mottakersystem]] drop_folder: {tables:?}"
        );
        let problems = check(&tables, &docs);
        assert!(problems.is_empty(), "\n{}", problems.join("\n"));
    }
}
