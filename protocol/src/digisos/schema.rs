//! Validation of a `digisos-soker.json` against NAV's JSON Schema (draft-06), embedded.
//!
//! The schema files are NAV's, unchanged (`protocol/schema/digisos-filformat/`, see its
//! PROVENANCE.md), built into the binary with `include_str!` and registered under a made-up
//! base URI so that their relative `$ref`s resolve among themselves: nothing is fetched.
//!
//! NAV's own validator (`JsonSosialhjelpValidator.ensureValidInnsyn` in
//! navikt/soknadsosialhjelp-filformat) treats warnings as errors (`shared/reference/digisos.md`
//! §2); here every finding is an error.
//!
//! Error messages name the field the way an operator or a fagsystem vendor reads it
//! (`hendelser[3] (vedtakFattet).vedtaksfil.referanse.id`), and say what is wrong in words.
//! The schema picks a hendelse's or a filreferanse's sub-schema with `oneOf`, whose own error
//! ("not valid under any of the schemas") names nothing; so a failed `oneOf` is replaced by
//! the errors of the branch its `type` names.

use std::sync::OnceLock;

use jsonschema::error::ValidationErrorKind;
use jsonschema::{Draft, Registry, ValidationError, Validator};
use serde_json::Value;

/// A made-up, never fetched base for the embedded files.
const BASE: &str = "https://schema.mottak.invalid/digisos-filformat/";
const ROOT: &str = "json/digisos/soker/digisos-soker.json";

/// Every file of the schema: its path under `json/` in NAV's repository, and its text.
const FILES: &[(&str, &str)] = &[
    (
        "json/digisos/soker/digisos-soker.json",
        include_str!("../../schema/digisos-filformat/json/digisos/soker/digisos-soker.json"),
    ),
    (
        "json/digisos/soker/parts/avsender.json",
        include_str!("../../schema/digisos-filformat/json/digisos/soker/parts/avsender.json"),
    ),
    (
        "json/digisos/soker/parts/filreferanse.json",
        include_str!("../../schema/digisos-filformat/json/digisos/soker/parts/filreferanse.json"),
    ),
    (
        "json/digisos/soker/parts/filreferanse/dokumentlager.json",
        include_str!(
            "../../schema/digisos-filformat/json/digisos/soker/parts/filreferanse/dokumentlager.json"
        ),
    ),
    (
        "json/digisos/soker/parts/filreferanse/svarut.json",
        include_str!(
            "../../schema/digisos-filformat/json/digisos/soker/parts/filreferanse/svarut.json"
        ),
    ),
    (
        "json/digisos/soker/parts/forvaltningsbrev.json",
        include_str!(
            "../../schema/digisos-filformat/json/digisos/soker/parts/forvaltningsbrev.json"
        ),
    ),
    (
        "json/digisos/soker/parts/hendelse.json",
        include_str!("../../schema/digisos-filformat/json/digisos/soker/parts/hendelse.json"),
    ),
    (
        "json/digisos/soker/parts/hendelse/dokumentasjonEtterspurt.json",
        include_str!(
            "../../schema/digisos-filformat/json/digisos/soker/parts/hendelse/dokumentasjonEtterspurt.json"
        ),
    ),
    (
        "json/digisos/soker/parts/hendelse/dokumentasjonkrav.json",
        include_str!(
            "../../schema/digisos-filformat/json/digisos/soker/parts/hendelse/dokumentasjonkrav.json"
        ),
    ),
    (
        "json/digisos/soker/parts/hendelse/forelopigSvar.json",
        include_str!(
            "../../schema/digisos-filformat/json/digisos/soker/parts/hendelse/forelopigSvar.json"
        ),
    ),
    (
        "json/digisos/soker/parts/hendelse/rammevedtak.json",
        include_str!(
            "../../schema/digisos-filformat/json/digisos/soker/parts/hendelse/rammevedtak.json"
        ),
    ),
    (
        "json/digisos/soker/parts/hendelse/saksStatus.json",
        include_str!(
            "../../schema/digisos-filformat/json/digisos/soker/parts/hendelse/saksStatus.json"
        ),
    ),
    (
        "json/digisos/soker/parts/hendelse/soknadsStatus.json",
        include_str!(
            "../../schema/digisos-filformat/json/digisos/soker/parts/hendelse/soknadsStatus.json"
        ),
    ),
    (
        "json/digisos/soker/parts/hendelse/tildeltNavKontor.json",
        include_str!(
            "../../schema/digisos-filformat/json/digisos/soker/parts/hendelse/tildeltNavKontor.json"
        ),
    ),
    (
        "json/digisos/soker/parts/hendelse/utbetaling.json",
        include_str!(
            "../../schema/digisos-filformat/json/digisos/soker/parts/hendelse/utbetaling.json"
        ),
    ),
    (
        "json/digisos/soker/parts/hendelse/vedtakFattet.json",
        include_str!(
            "../../schema/digisos-filformat/json/digisos/soker/parts/hendelse/vedtakFattet.json"
        ),
    ),
    (
        "json/digisos/soker/parts/hendelse/vilkar.json",
        include_str!(
            "../../schema/digisos-filformat/json/digisos/soker/parts/hendelse/vilkar.json"
        ),
    ),
    (
        "json/digisos/soker/parts/vedlegg.json",
        include_str!("../../schema/digisos-filformat/json/digisos/soker/parts/vedlegg.json"),
    ),
    (
        "json/digisos/soker/parts/version.json",
        include_str!("../../schema/digisos-filformat/json/digisos/soker/parts/version.json"),
    ),
    (
        "json/types/dato.json",
        include_str!("../../schema/digisos-filformat/json/types/dato.json"),
    ),
    (
        "json/types/tidspunkt.json",
        include_str!("../../schema/digisos-filformat/json/types/tidspunkt.json"),
    ),
];

/// One thing wrong with a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    /// JSON pointer (RFC 6901) of the field at fault: `/hendelser/2/vedtaksfil/referanse/id`.
    /// For a missing field, the pointer of where it should be. Empty for the whole document.
    pub path: String,
    /// What is wrong, in words, without the field's name (see the `Display` impl).
    pub message: String,
    /// The hendelse type when the field is inside a hendelse with a readable `type`.
    pub hendelse_type: Option<String>,
}

impl SchemaError {
    /// The field in words: `hendelser[2] (vedtakFattet).vedtaksfil.referanse.id`, or
    /// `the document` for the top level.
    pub fn field(&self) -> String {
        field_in_words(&self.path, self.hendelse_type.as_deref())
    }
}

impl std::fmt::Display for SchemaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field(), self.message)
    }
}

impl std::error::Error for SchemaError {}

/// Validates a whole `digisos-soker.json` (the value of `sak.soker` in an update) against
/// NAV's schema. Every problem is reported, in document order, each naming its field.
///
/// Extra fields NAV does not know are allowed (NAV's `kan-ha-nye-felter.json`); a `fil:`
/// placeholder still in a dokumentlager `id` is an error (replace them first, see
/// [`super::placeholders`]).
pub fn validate_soker(doc: &Value) -> Result<(), Vec<SchemaError>> {
    let validator = match validator() {
        Ok(v) => v,
        // Only a broken embedded schema gets here, and the unit test `schema_compiles`
        // proves it does not; still, refuse rather than pass a document unchecked.
        Err(message) => {
            return Err(vec![SchemaError {
                path: String::new(),
                message: format!(
                    "the embedded digisos-soker schema could not be loaded: {message}"
                ),
                hendelse_type: None,
            }]);
        }
    };
    let mut errors = Vec::new();
    for error in validator.iter_errors(doc) {
        collect(&error, doc, &mut errors);
    }
    if errors.is_empty() && !validator.is_valid(doc) {
        // Only a shape the rules above drop entirely; never pass an invalid document.
        errors.push(SchemaError {
            path: String::new(),
            message: "does not match NAV's digisos-soker schema".to_owned(),
            hendelse_type: None,
        });
    }
    if errors.is_empty() {
        Ok(())
    } else {
        errors.sort_by(|a, b| pointer_order(&a.path, &b.path));
        errors.dedup();
        Err(errors)
    }
}

/// Formats a list of errors as lines for `feil.txt` or a log: one per error.
pub fn describe_errors(errors: &[SchemaError]) -> String {
    let mut out = String::new();
    for e in errors {
        out.push_str("- ");
        out.push_str(&e.to_string());
        out.push('\n');
    }
    out
}

fn validator() -> Result<&'static Validator, String> {
    static VALIDATOR: OnceLock<Result<Validator, String>> = OnceLock::new();
    VALIDATOR
        .get_or_init(build_validator)
        .as_ref()
        .map_err(Clone::clone)
}

fn build_validator() -> Result<Validator, String> {
    let mut root = None;
    let mut registry = Registry::new().draft(Draft::Draft6);
    for (path, text) in FILES {
        let value: Value =
            serde_json::from_str(text).map_err(|e| format!("{path} is not JSON: {e}"))?;
        if *path == ROOT {
            root = Some(value.clone());
        }
        registry = registry
            .add(format!("{BASE}{path}"), value)
            .map_err(|e| format!("{path}: {e}"))?;
    }
    let registry = registry.prepare().map_err(|e| e.to_string())?;
    let root = root.ok_or_else(|| format!("{ROOT} is missing"))?;
    jsonschema::options()
        .with_draft(Draft::Draft6)
        .with_base_uri(format!("{BASE}{ROOT}"))
        .with_registry(&registry)
        .build(&root)
        .map_err(|e| e.to_string())
}

/// The branches of a `oneOf` in the order the schema lists them, named by the `type` value
/// each accepts (NAV names each sub-schema file after it: `hendelse/vedtakFattet.json`).
fn branch_names(error: &ValidationError<'_>) -> Option<&'static [&'static str]> {
    const HENDELSER: &[&str] = &[
        "tildeltNavKontor",
        "soknadsStatus",
        "vedtakFattet",
        "dokumentasjonEtterspurt",
        "forelopigSvar",
        "saksStatus",
        "utbetaling",
        "vilkar",
        "dokumentasjonkrav",
        "rammevedtak",
    ];
    const FILREFERANSER: &[&str] = &["svarut", "dokumentlager"];
    match error.kind() {
        ValidationErrorKind::OneOfNotValid { context }
        | ValidationErrorKind::OneOfMultipleValid { context } => match context.len() {
            10 => Some(HENDELSER),
            2 => Some(FILREFERANSER),
            _ => None,
        },
        _ => None,
    }
}

fn collect(error: &ValidationError<'_>, doc: &Value, out: &mut Vec<SchemaError>) {
    let pointer = error.instance_path().as_str().to_owned();
    let instance = doc.pointer(&pointer);
    match error.kind() {
        ValidationErrorKind::OneOfNotValid { context } => {
            let chosen = instance
                .and_then(|v| v.get("type"))
                .and_then(Value::as_str)
                .and_then(|t| branch_names(error)?.iter().position(|name| *name == t));
            match chosen.and_then(|i| context.get(i)) {
                Some(branch) if !branch.is_empty() => {
                    for inner in branch {
                        collect(inner, doc, out);
                    }
                }
                // No usable `type`: the `type` property's own `required`/`enum`/`type`
                // error (from the same schema, reported separately) names the problem.
                _ => {}
            }
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            let child = format!("{pointer}/{}", escape_pointer(name));
            out.push(make(doc, &child, "is missing; it is required".to_owned()));
        }
        _ => {
            let message = message(error, instance);
            out.push(make(doc, &pointer, message));
        }
    }
}

fn make(doc: &Value, pointer: &str, message: String) -> SchemaError {
    SchemaError {
        path: pointer.to_owned(),
        message,
        hendelse_type: hendelse_type(doc, pointer),
    }
}

/// The `type` of the hendelse a pointer points into, when it has a string one.
fn hendelse_type(doc: &Value, pointer: &str) -> Option<String> {
    let mut parts = pointer.split('/').skip(1);
    if parts.next()? != "hendelser" {
        return None;
    }
    let index = parts.next()?;
    doc.pointer(&format!("/hendelser/{index}"))?
        .get("type")?
        .as_str()
        .map(str::to_owned)
}

fn message(error: &ValidationError<'_>, instance: Option<&Value>) -> String {
    let got = instance.map(short_value).unwrap_or_default();
    match error.kind() {
        ValidationErrorKind::Type { kind } => {
            let wanted = match kind {
                jsonschema::error::TypeKind::Single(t) => t.to_string(),
                jsonschema::error::TypeKind::Multiple(ts) => format!("{ts:?}"),
            };
            format!("must be {} {wanted}, not {got}", article(&wanted))
        }
        ValidationErrorKind::Enum { options } => {
            let options = options
                .as_array()
                .map(|a| a.iter().map(short_value).collect::<Vec<_>>().join(", "))
                .unwrap_or_else(|| options.to_string());
            format!("{got} is not one of the allowed values ({options})")
        }
        ValidationErrorKind::Pattern { pattern } => pattern_message(pattern, instance, &got),
        ValidationErrorKind::MinItems { limit } => {
            if error.instance_path().as_str() == "/hendelser" {
                "must hold at least one hendelse".to_owned()
            } else {
                format!("must hold at least {limit} item(s)")
            }
        }
        _ => error.to_string(),
    }
}

fn pattern_message(pattern: &str, instance: Option<&Value>, got: &str) -> String {
    let text = instance.and_then(Value::as_str).unwrap_or_default();
    if let Some(name) = text.strip_prefix(super::placeholders::PLACEHOLDER_PREFIX) {
        return format!(
            "{got} is a file placeholder that was not replaced: file {name:?} was not uploaded"
        );
    }
    let what = if pattern.contains("T[0-9][0-9]:") {
        "must be a UTC time with milliseconds, like \"2018-10-04T13:37:00.134Z\""
    } else if pattern == "^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]$" {
        "must be a date as YYYY-MM-DD, like \"2018-10-04\""
    } else if pattern
        .starts_with("^[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-")
    {
        "must be a UUID in lowercase hex, like \"12345678-9abc-def0-1234-56789abcdef0\""
    } else if pattern == format!("^{}$", "[0-9]".repeat(4)) {
        "must be exactly 4 digits (a NAV-kontor's enhetsnummer), like \"0314\""
    } else if pattern == format!("^{}$", "[0-9]".repeat(11)) {
        "must be exactly 11 digits (a bank account number)"
    } else if pattern.starts_with("^[0-9]+\\.[0-9]+\\.[0-9]+") {
        "must be a version number like \"1.0.0\""
    } else {
        return format!("{got} does not match the pattern {pattern}");
    };
    format!("{what}; got {got}")
}

fn article(word: &str) -> &'static str {
    match word.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}

/// A value for a message: strings quoted, long ones cut, objects and arrays summarised.
fn short_value(v: &Value) -> String {
    match v {
        Value::String(s) => {
            let cut: String = s.chars().take(60).collect();
            if cut.len() < s.len() {
                format!("{cut:?}…")
            } else {
                format!("{s:?}")
            }
        }
        Value::Object(_) => "an object".to_owned(),
        Value::Array(_) => "a list".to_owned(),
        Value::Null => "null".to_owned(),
        Value::Bool(_) => format!("{v} (a boolean)"),
        Value::Number(_) => format!("{v} (a number)"),
    }
}

fn escape_pointer(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

fn unescape_pointer(part: &str) -> String {
    part.replace("~1", "/").replace("~0", "~")
}

/// `/hendelser/2/vedtaksfil/referanse/id` → `hendelser[2] (vedtakFattet).vedtaksfil.referanse.id`.
fn field_in_words(pointer: &str, hendelse_type: Option<&str>) -> String {
    if pointer.is_empty() {
        return "the document".to_owned();
    }
    let mut out = String::new();
    for (i, part) in pointer.split('/').skip(1).enumerate() {
        let part = unescape_pointer(part);
        if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{part}]"));
            if i == 1
                && let Some(t) = hendelse_type
            {
                out.push_str(&format!(" ({t})"));
            }
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&part);
        }
    }
    out
}

/// An order for pointers that keeps a hendelse's errors together and hendelser in order:
/// segment by segment, array indices numerically.
fn pointer_order(a: &str, b: &str) -> std::cmp::Ordering {
    let mut xs = a.split('/');
    let mut ys = b.split('/');
    loop {
        match (xs.next(), ys.next()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, Some(_)) => return std::cmp::Ordering::Less,
            (Some(_), None) => return std::cmp::Ordering::Greater,
            (Some(x), Some(y)) => {
                // A total order (the sort needs one): indices numerically, names as text,
                // an index before a name.
                let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n),
                    (Ok(_), Err(_)) => std::cmp::Ordering::Less,
                    (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
                    (Err(_), Err(_)) => x.cmp(y),
                };
                if ord != std::cmp::Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn schema_compiles() {
        validator().unwrap();
    }

    #[test]
    fn field_names_read_well() {
        assert_eq!(field_in_words("", None), "the document");
        assert_eq!(
            field_in_words("/hendelser/2/vedtaksfil/referanse/id", Some("vedtakFattet")),
            "hendelser[2] (vedtakFattet).vedtaksfil.referanse.id"
        );
        assert_eq!(
            field_in_words("/avsender/systemnavn", None),
            "avsender.systemnavn"
        );
        assert_eq!(field_in_words("/a~1b", None), "a/b");
    }

    #[test]
    fn pointer_order_is_numeric() {
        let mut v = vec!["/hendelser/10/x", "/hendelser/2/x", "/avsender"];
        v.sort_by(|a, b| pointer_order(a, b));
        assert_eq!(v, ["/avsender", "/hendelser/2/x", "/hendelser/10/x"]);
    }

    #[test]
    fn unreplaced_placeholder_is_named() {
        let doc = json!({
            "version": "1.0.0",
            "avsender": {"systemnavn": "x", "systemversjon": "1"},
            "hendelser": [{
                "type": "vedtakFattet",
                "hendelsestidspunkt": "2018-10-04T13:37:00.134Z",
                "saksreferanse": "SAK1",
                "vedtaksfil": {"referanse": {"type": "dokumentlager", "id": "fil:vedtak.pdf"}}
            }]
        });
        let errors = validate_soker(&doc).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].path, "/hendelser/0/vedtaksfil/referanse/id");
        let text = errors[0].to_string();
        assert!(
            text.contains("hendelser[0] (vedtakFattet).vedtaksfil.referanse.id"),
            "{text}"
        );
        assert!(text.contains("vedtak.pdf"), "{text}");
    }
}
