//! The masking types every string from outside travels in: [`Text`] (free
//! text) and [`ExternalId`] (ids a console may act on). Separate so the one
//! place a fødselsnummer could leak is small enough to read at once.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Free text from outside that may hold a fødselsnummer (titles, sender
/// names, errors, `feil.txt`, reasons): stored as received, masked whenever
/// it is serialised or displayed ([`crate::fnr`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Text(String);

impl Text {
    pub fn new(s: impl Into<String>) -> Self {
        Text(s.into())
    }

    /// The text as received (unmasked): for comparisons inside the agent only.
    pub fn raw(&self) -> &str {
        &self.0
    }

    /// The text as a console sees it.
    pub fn masked(&self) -> Cow<'_, str> {
        mask_fnr(&self.0)
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text(s.to_owned())
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text(s)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.masked())
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Text)
    }
}

/// An id or name that came from outside and that a console may act on: a
/// SvarInn forsendelse id, a folder name the fagsystem chose in `ut/`,
/// `inn/` or `feilet/` (and the update ids and `ut-feilet/` names made from
/// it), a command id or target a console sent (in the audit log). Stored as
/// received; serialised (and displayed) with every fødselsnummer masked
/// ([`crate::fnr`]), so UUIDs and hashes stay readable, and a folder named
/// after a person's fødselsnummer reaches no console.
///
/// A console sends back the id it was shown. A masked id cannot be a real
/// one (`*` is in neither a forsendelse id nor a claimed folder's name), so
/// the agent looks it up among its ids by [`ExternalId::shown`]: the masked
/// form is only ever a name for the one real id that shows as it (the agent
/// refuses a command when several do). On a console the value is the shown form.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExternalId(String);

impl ExternalId {
    pub fn new(s: impl Into<String>) -> Self {
        ExternalId(s.into())
    }

    /// The id as received (on the agent: unmasked, for keys and lookups
    /// inside the agent only; on a console: the shown form it received).
    pub fn raw(&self) -> &str {
        &self.0
    }

    /// The id as a console sees it.
    pub fn shown(&self) -> Cow<'_, str> {
        crate::fnr::mask(&self.0)
    }
}

impl From<&str> for ExternalId {
    fn from(s: &str) -> Self {
        ExternalId(s.to_owned())
    }
}

impl From<String> for ExternalId {
    fn from(s: String) -> Self {
        ExternalId(s)
    }
}

impl PartialEq<str> for ExternalId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for ExternalId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for ExternalId {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl fmt::Display for ExternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown())
    }
}

impl Serialize for ExternalId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.shown())
    }
}

impl<'de> Deserialize<'de> for ExternalId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(ExternalId)
    }
}

/// The mask written over a fødselsnummer ([`crate::fnr::MASK`]).
pub const FNR_MASK: &str = crate::fnr::MASK;

/// Masks every fødselsnummer ([`crate::fnr::mask`], the one rule). Borrowed
/// when there is nothing to mask.
pub fn mask_fnr(s: &str) -> Cow<'_, str> {
    crate::fnr::mask(s)
}
