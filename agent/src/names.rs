//! Names that come from outside (SvarInn file names, `Content-Disposition`,
//! zip entries, forsendelse ids) made safe to use as one path component in
//! the drop folder.
//!
//! Two rules, two functions:
//! - [`ForsendelseId::parse`] *refuses* anything that does not look like an id:
//!   an id names a folder the fagsystem and the journal key on, so it is never
//!   rewritten.
//! - [`sanitize_file_name`] *repairs* a file name: a sender's odd file name must
//!   not cost the kommune the forsendelse. It never yields a separator, `.` or
//!   `..`, a control character, a leading dot (hidden file) or more than
//!   [`MAX_NAME_BYTES`] bytes. Non-ASCII letters (æøå) are kept as they are
//!   (no Unicode normalisation).

use std::fmt;

/// The longest file name the agent writes, in bytes. ext4 allows 255; the
/// margin leaves room for the fagsystem's own suffixes (`.tmp`, ` (1)`).
pub const MAX_NAME_BYTES: usize = 200;

/// The longest forsendelse id accepted (a UUID is 36).
pub const MAX_ID_LEN: usize = 64;

/// The longest extension kept whole when a long name is cut (`.pdf`, `.docx`).
const MAX_KEPT_EXTENSION_BYTES: usize = 16;

/// Why a name from outside could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("the forsendelse id is empty")]
    EmptyId,
    #[error(
        "the forsendelse id is {len} characters long (at most {MAX_ID_LEN} allowed); refusing it"
    )]
    IdTooLong { len: usize },
    #[error(
        "the forsendelse id {shown:?} holds characters other than A-Z, a-z, 0-9 and '-', or starts with '-'; refusing it"
    )]
    IdCharacters { shown: String },
    #[error("the file name is empty (or nothing usable is left once cleaned)")]
    EmptyName,
}

/// A forsendelse id from SvarInn, checked to be uuid-ish: 1 to
/// [`MAX_ID_LEN`] characters of `[A-Za-z0-9-]`, not starting with `-`.
/// Safe to use as a folder name and a log field as it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ForsendelseId(String);

impl ForsendelseId {
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        if raw.is_empty() {
            return Err(NameError::EmptyId);
        }
        if raw.len() > MAX_ID_LEN {
            return Err(NameError::IdTooLong {
                len: raw.chars().count(),
            });
        }
        let ok =
            raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') && !raw.starts_with('-');
        if !ok {
            return Err(NameError::IdCharacters {
                shown: raw.escape_debug().to_string(),
            });
        }
        Ok(ForsendelseId(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ForsendelseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ForsendelseId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for ForsendelseId {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A file name that is safe as one path component (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SafeName(String);

impl SafeName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The lower-cased form, for spotting names that collide on a
    /// case-insensitive filesystem (a fagsystem reading over SMB).
    pub fn collision_key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl fmt::Display for SafeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for SafeName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<std::path::Path> for SafeName {
    fn as_ref(&self) -> &std::path::Path {
        std::path::Path::new(&self.0)
    }
}

/// The names the drop-folder contract gives a meaning (DESIGN.md, "Drop
/// folder contract"): SvarInn's metadata, the fagsystem's reason for a
/// rejection, the agent's receipt, the fagsystem's "ready" marker, and
/// Fiks IO's message. The one list: inbound delivery, unzip and outbound
/// all take it from here. Compared ignoring case (a fagsystem reading over
/// SMB sees `FEIL.TXT` as `feil.txt`).
pub const RESERVED_NAMES: [&str; 5] = [
    "forsendelse.json",
    "feil.txt",
    "kvittering.json",
    "KLAR",
    "melding.json",
];

/// The prefix a sender's file with a reserved name is delivered under
/// (`feil.txt` → `vedlegg-feil.txt`).
pub const RESERVED_PREFIX: &str = "vedlegg-";

/// Whether `name` is one the contract gives a meaning ([`RESERVED_NAMES`]).
pub fn is_reserved(name: &str) -> bool {
    RESERVED_NAMES.iter().any(|r| r.eq_ignore_ascii_case(name))
}

/// A sender's file may never take a name the contract gives a meaning:
/// refusing it would fail the sender's forsendelse for a name, so it is
/// delivered under [`RESERVED_PREFIX`] + its name instead (`feil.txt` →
/// `vedlegg-feil.txt`; if that is `taken` too, `vedlegg-feil-2.txt`,
/// `vedlegg-feil-3.txt`, …). A name that is not reserved is returned as it
/// is. `taken` compares as the caller needs (the unzip ignores case).
pub fn unreserved(name: SafeName, taken: impl Fn(&str) -> bool) -> SafeName {
    if !is_reserved(name.as_str()) {
        return name;
    }
    let base = format!("{RESERVED_PREFIX}{}", name.as_str());
    let (stem, ext) = match base.rfind('.') {
        Some(i) if i > RESERVED_PREFIX.len() => base.split_at(i),
        _ => (base.as_str(), ""),
    };
    let mut candidate = base.clone();
    let mut n = 2u32;
    // Reserved names are short, so every candidate stays far below
    // MAX_NAME_BYTES, and it is safe: a safe name with a plain prefix.
    while taken(&candidate) {
        candidate = format!("{stem}-{n}{ext}");
        n += 1;
    }
    SafeName(candidate)
}

/// Characters replaced by `_`: path separators, control characters, and the
/// characters Windows refuses (the fagsystem may read the folder over SMB).
fn is_replaced(c: char) -> bool {
    c.is_control() || matches!(c, '/' | '\\' | '<' | '>' | ':' | '"' | '|' | '?' | '*')
}

/// Makes a name from outside safe as one path component:
/// separators, control and Windows-reserved characters become `_`;
/// leading dots become `_` (no hidden files, no `.`/`..`); trailing dots and
/// spaces are dropped (Windows drops them silently); surrounding whitespace is
/// trimmed; names longer than [`MAX_NAME_BYTES`] are cut at a character
/// boundary keeping the extension. Errors only when nothing is left.
pub fn sanitize_file_name(raw: &str) -> Result<SafeName, NameError> {
    let replaced: String = raw
        .chars()
        .map(|c| if is_replaced(c) { '_' } else { c })
        .collect();
    let trimmed = replaced
        .trim()
        .trim_end_matches(|c: char| c == '.' || c.is_whitespace());
    let leading_dots = trimmed.len() - trimmed.trim_start_matches('.').len();
    let mut name = "_".repeat(leading_dots);
    name.push_str(&trimmed[leading_dots..]);
    if name.is_empty() {
        return Err(NameError::EmptyName);
    }
    Ok(SafeName(truncate_keeping_extension(&name, MAX_NAME_BYTES)))
}

/// [`sanitize_file_name`], falling back to `fallback` (which must itself be
/// safe, e.g. `"dokument.pdf"`) when nothing usable is left.
pub fn sanitize_or(raw: &str, fallback: &str) -> SafeName {
    sanitize_file_name(raw)
        .or_else(|_| sanitize_file_name(fallback))
        .unwrap_or_else(|_| SafeName("fil".to_owned()))
}

/// Cuts `name` to at most `max` bytes at a character boundary, keeping a short
/// extension (`.pdf`) so the fagsystem still knows the file type.
fn truncate_keeping_extension(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_owned();
    }
    let ext = match name.rfind('.') {
        // A dot at 0 would be a hidden-file prefix, already replaced above.
        Some(i) if i > 0 && name.len() - i <= MAX_KEPT_EXTENSION_BYTES => &name[i..],
        _ => "",
    };
    let stem = &name[..name.len() - ext.len()];
    let mut cut = max - ext.len();
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut out = stem[..cut]
        .trim_end_matches(|c: char| c == '.' || c.is_whitespace())
        .to_owned();
    out.push_str(ext);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(raw: &str) -> String {
        sanitize_file_name(raw).unwrap().as_str().to_owned()
    }

    #[test]
    fn reserved_names_get_a_prefix_and_a_free_number() {
        let none = |_: &str| false;
        assert_eq!(
            unreserved(name("feil.txt"), none).as_str(),
            "vedlegg-feil.txt"
        );
        assert_eq!(
            unreserved(name("FEIL.TXT"), none).as_str(),
            "vedlegg-FEIL.TXT"
        );
        assert_eq!(unreserved(name("KLAR"), none).as_str(), "vedlegg-KLAR");
        assert_eq!(
            unreserved(name("Melding.json"), none).as_str(),
            "vedlegg-Melding.json"
        );
        assert_eq!(
            unreserved(name("rapport.pdf"), none).as_str(),
            "rapport.pdf"
        );
        assert_eq!(
            unreserved(name("vedlegg-feil.txt"), none).as_str(),
            "vedlegg-feil.txt"
        );
        let taken = |n: &str| ["vedlegg-feil.txt", "vedlegg-feil-2.txt"].contains(&n);
        assert_eq!(
            unreserved(name("feil.txt"), taken).as_str(),
            "vedlegg-feil-3.txt"
        );
        let taken = |n: &str| n == "vedlegg-KLAR";
        assert_eq!(unreserved(name("KLAR"), taken).as_str(), "vedlegg-KLAR-2");
        for r in RESERVED_NAMES {
            assert!(is_reserved(r) && is_reserved(&r.to_uppercase()));
            assert!(!is_reserved(unreserved(name(r), none).as_str()));
        }
    }

    fn name(raw: &str) -> SafeName {
        sanitize_file_name(raw).unwrap()
    }

    #[test]
    fn ids_must_look_like_ids() {
        let uuid = "0b3f5c2e-9b7e-4c1a-8d2f-0123456789ab";
        assert_eq!(ForsendelseId::parse(uuid).unwrap().as_str(), uuid);
        assert_eq!(ForsendelseId::parse(""), Err(NameError::EmptyId));
        for bad in [
            "../etc", "a/b", "a b", "a\0b", "-rf", ".hidden", "æøå", "a\nb",
        ] {
            assert!(
                matches!(
                    ForsendelseId::parse(bad),
                    Err(NameError::IdCharacters { .. })
                ),
                "{bad:?} was accepted"
            );
        }
        assert!(matches!(
            ForsendelseId::parse(&"a".repeat(65)),
            Err(NameError::IdTooLong { len: 65 })
        ));
        assert!(ForsendelseId::parse(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn separators_and_parent_dirs_cannot_survive() {
        assert_eq!(s("a/b.pdf"), "a_b.pdf");
        assert_eq!(s("a\\b.pdf"), "a_b.pdf");
        assert_eq!(s("../../etc/passwd"), "___.._etc_passwd");
        assert_eq!(s("/etc/passwd"), "_etc_passwd");
        for dots in [".", "..", "..."] {
            assert_eq!(sanitize_file_name(dots), Err(NameError::EmptyName));
        }
        assert_eq!(s(".bashrc"), "_bashrc");
        // `..` inside a name is harmless once there are no separators.
        assert_eq!(s("rapport..pdf"), "rapport..pdf");
    }

    #[test]
    fn control_and_windows_characters_are_replaced() {
        assert_eq!(s("a\0b\nc\td\u{7f}e\u{9b}.pdf"), "a_b_c_d_e_.pdf");
        assert_eq!(s("vedtak: 2026?.pdf"), "vedtak_ 2026_.pdf");
        assert_eq!(s("  navn.pdf. . "), "navn.pdf");
    }

    #[test]
    fn norwegian_letters_survive() {
        assert_eq!(
            s("Søknad om støtte – Ærlig Å.pdf"),
            "Søknad om støtte – Ærlig Å.pdf"
        );
        // Decomposed (NFD) input is kept as it came: no normalisation.
        assert_eq!(s("a\u{30a}.pdf"), "a\u{30a}.pdf");
    }

    #[test]
    fn empty_names_are_refused_or_replaced() {
        assert_eq!(sanitize_file_name(""), Err(NameError::EmptyName));
        assert_eq!(sanitize_file_name("   "), Err(NameError::EmptyName));
        assert_eq!(sanitize_file_name(" . "), Err(NameError::EmptyName));
        assert_eq!(sanitize_or("", "dokument.pdf").as_str(), "dokument.pdf");
        assert_eq!(sanitize_or("x.pdf", "dokument.pdf").as_str(), "x.pdf");
    }

    #[test]
    fn long_names_are_cut_at_a_char_boundary_keeping_the_extension() {
        let long = format!("{}.pdf", "a".repeat(1000));
        let out = s(&long);
        assert_eq!(out.len(), MAX_NAME_BYTES);
        assert!(out.ends_with(".pdf"));

        // 2-byte characters: the cut must not split one.
        let long = format!("{}.docx", "ø".repeat(500));
        let out = s(&long);
        assert!(out.len() <= MAX_NAME_BYTES);
        assert!(out.ends_with("ø.docx"));
        assert!(out.starts_with("øøø"));

        // No extension, or one too long to be an extension: plain cut.
        let out = s(&"å".repeat(1000));
        assert!(out.len() <= MAX_NAME_BYTES && out.len() >= MAX_NAME_BYTES - 1);
        let out = s(&format!("x.{}", "y".repeat(1000)));
        assert_eq!(out.len(), MAX_NAME_BYTES);
    }

    proptest::proptest! {
        #[test]
        fn any_input_gives_a_safe_component(raw in "\\PC*|[./\\\\\\x00-\\x1f]{0,10}|.{190,400}") {
            if let Ok(name) = sanitize_file_name(&raw) {
                let n = name.as_str();
                proptest::prop_assert!(!n.is_empty() && n.len() <= MAX_NAME_BYTES);
                proptest::prop_assert!(!n.contains('/') && !n.contains('\\'));
                proptest::prop_assert!(!n.starts_with('.'));
                proptest::prop_assert!(n != "." && n != "..");
                proptest::prop_assert!(!n.chars().any(char::is_control));
                let p = std::path::Path::new(n);
                proptest::prop_assert_eq!(p.components().count(), 1);
                proptest::prop_assert!(matches!(
                    p.components().next(),
                    Some(std::path::Component::Normal(_))
                ));
            }
        }
    }
}
