//! Locating a config error in the text: line, column and the key on the
//! offending line, without ever quoting the line (it may hold a password).

use std::path::Path;

/// A config error located in the text: line and column are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render(None))]
pub struct ParseError {
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// The key on the offending line, when there is one.
    pub key: Option<String>,
    pub message: String,
}

impl ParseError {
    pub(super) fn render(&self, file: Option<&Path>) -> String {
        let mut out = String::new();
        if let Some(file) = file {
            out.push_str(&file.display().to_string());
            out.push(':');
        }
        if let Some(line) = self.line {
            out.push_str(&line.to_string());
            out.push(':');
            if let Some(col) = self.column {
                out.push_str(&col.to_string());
                out.push(':');
            }
        }
        if !out.is_empty() {
            out.push(' ');
        }
        if let Some(key) = &self.key {
            out.push_str(&format!("key `{key}`: "));
        }
        out.push_str(&self.message);
        out
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let mut start = offset;
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let before = &text[..start];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// The key of a `key = value` line, when the offset sits on one.
pub(super) fn key_on_line(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[line_start..]
        .find('\n')
        .map_or(text.len(), |i| line_start + i);
    let line = text.get(line_start..line_end)?.trim_start();
    if line.starts_with('[') || line.starts_with('#') {
        return None;
    }
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"');
    let plain = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    plain.then(|| key.to_owned())
}

pub(super) fn locate(
    text: &str,
    span: Option<std::ops::Range<usize>>,
    message: &str,
) -> ParseError {
    match span {
        Some(span) => {
            let (line, column) = line_col(text, span.start);
            ParseError {
                line: Some(line),
                column: Some(column),
                key: key_on_line(text, span.start),
                message: message.to_owned(),
            }
        }
        None => ParseError {
            line: None,
            column: None,
            key: None,
            message: message.to_owned(),
        },
    }
}
