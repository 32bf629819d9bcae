//! Fiks Digisos: what the agent sends to KS Fiks and Maskinporten for a saksoppdatering, and
//! what the fakes in `mottak-fixtures` check it against. Pure: no sockets, no files.
//!
//! Module map:
//! - [`schema`]: [`validate_soker`], NAV's JSON Schema for `digisos-soker.json` (draft-06,
//!   embedded, `$ref`s resolved locally), with errors that name the field ([`SchemaError`]).
//! - [`placeholders`]: `{"type": "dokumentlager", "id": "fil:<filename>"}` placeholders:
//!   list them, replace them with the ids Fiks returned; list real dokumentlager references.
//! - [`api`]: paths, header names, bodies (update, file metadata, `DokumentInfo`, Fiks's
//!   error), and Maskinporten's grant claims, token request and response.
//!
//! Facts: `shared/reference/digisos.md`; rules: `shared/DESIGN.md`, "Outbound".

pub mod api;
pub mod placeholders;
pub mod schema;

pub use api::*;
pub use placeholders::{
    DokumentlagerReference, PLACEHOLDER_PREFIX, Placeholder, PlaceholderError, check_filename,
    dokumentlager_references, find_placeholders, placeholder_files, replace_placeholders,
};
pub use schema::{SchemaError, describe_errors, validate_soker};
