//! Value types of the config: each checks itself while deserialising, so
//! toml attaches the span of the offending value to the error.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use mottak_protocol::digisos::is_uuid;
use reqwest::Url;
use serde::Deserialize;

use crate::secret::SecretRef;

/// A mottakersystem's short name: 1–32 of `[a-z0-9-]`, starting with a
/// letter or digit. Used as a folder name, a log field and a console label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SystemName(String);

impl SystemName {
    pub const MAX_LEN: usize = 32;

    pub fn parse(raw: &str) -> Result<Self, SystemNameError> {
        let ok = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !raw.starts_with('-');
        if ok {
            Ok(SystemName(raw.to_owned()))
        } else {
            Err(SystemNameError {
                name: raw.to_owned(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A mottakersystem name that breaks the rule of [`SystemName`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "name {name:?} must be 1 to {max} characters of a-z, 0-9 and '-', not starting with '-' (e.g. \"nav-frogn\")",
    max = SystemName::MAX_LEN
)]
pub struct SystemNameError {
    pub name: String,
}

impl fmt::Display for SystemName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An address to listen on, `"127.0.0.1:9464"` or `"[::]:7443"`.
pub(super) struct ListenAddr(pub(super) std::net::SocketAddr);

impl<'de> Deserialize<'de> for ListenAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map(ListenAddr).map_err(|_| {
            serde::de::Error::custom(format!(
                "{s:?} is not an address to listen on; write an IP and a port, e.g. \"127.0.0.1:9464\" or \"0.0.0.0:7443\""
            ))
        })
    }
}

/// A UUID in its 8-4-4-4-12 hex form, kept lowercase (Fiks's patterns
/// accept only lowercase).
pub(super) struct Uuid(pub(super) String);

impl<'de> Deserialize<'de> for Uuid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if is_uuid(&s) {
            Ok(Uuid(s.to_ascii_lowercase()))
        } else {
            Err(serde::de::Error::custom(format!(
                "{s:?} is not a UUID; copy it from Fiks forvaltning, e.g. \"3f2b6c1e-8d4a-4b7e-9c1d-2a5e6f7b8c9d\""
            )))
        }
    }
}

/// A non-blank string without control characters.
pub(super) struct NonEmpty(pub(super) String);

impl<'de> Deserialize<'de> for NonEmpty {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.trim().is_empty() || s.chars().any(char::is_control) {
            return Err(serde::de::Error::custom(
                "must not be empty or hold control characters",
            ));
        }
        Ok(NonEmpty(s))
    }
}

/// The Fiks API base: an [`HttpsUrl`] without query and without the
/// `/digisos/api` the agent appends.
pub(super) struct FiksUrl(pub(super) Url);

impl<'de> Deserialize<'de> for FiksUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let url = parse_https_url(&s).map_err(serde::de::Error::custom)?;
        if url.query().is_some() || url.path().contains("/digisos") {
            return Err(serde::de::Error::custom(UrlError::NotAFiksHost { url: s }));
        }
        Ok(FiksUrl(url))
    }
}

/// An https URL (plain http only for localhost), without user or fragment.
pub(super) struct HttpsUrl(pub(super) Url);

impl<'de> Deserialize<'de> for HttpsUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_https_url(&s)
            .map(HttpsUrl)
            .map_err(serde::de::Error::custom)
    }
}

/// The Fiks IO broker: `amqps://host[:port][/vhost]`, plain `amqp://` only
/// for loopback (the login carries the integration password and a token).
pub(super) struct AmqpUrl(pub(super) Url);

impl<'de> Deserialize<'de> for AmqpUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_amqp_url(&s)
            .map(AmqpUrl)
            .map_err(serde::de::Error::custom)
    }
}

pub(super) fn parse_amqp_url(s: &str) -> Result<Url, UrlError> {
    let url = Url::parse(s).map_err(|reason| UrlError::NotAUrl {
        url: s.to_owned(),
        reason,
        example: "amqps://io.fiks.ks.no:5671",
    })?;
    match url.scheme() {
        "amqps" => {}
        "amqp" if is_loopback(&url) => {}
        "amqp" => return Err(UrlError::PlainAmqp { url: s.to_owned() }),
        other => {
            return Err(UrlError::AmqpScheme {
                url: s.to_owned(),
                scheme: other.to_owned(),
            });
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(UrlError::NoHost { url: s.to_owned() });
    }
    if url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(UrlError::AmqpNotABase { url: s.to_owned() });
    }
    Ok(url)
}

/// A URL the config refuses, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("{url:?} is not a URL ({reason}); write e.g. \"{example}\"")]
    NotAUrl {
        url: String,
        reason: url::ParseError,
        example: &'static str,
    },
    /// `exposed` names what would travel in the clear.
    #[error(
        "{url:?} uses plain http; {exposed} would cross the network unencrypted: use https (http is allowed only for localhost)"
    )]
    PlainHttp { url: String, exposed: &'static str },
    #[error("{url:?}: scheme {scheme:?} is not http(s)")]
    Scheme { url: String, scheme: String },
    #[error("{url:?} has no host")]
    NoHost { url: String },
    #[error("{url:?}: no user or fragment in the URL")]
    UserOrFragment { url: String },
    #[error(
        "{url:?}: give only the base URL (no query, fragment or user), e.g. \"https://svarut.ks.no\""
    )]
    NotABase { url: String },
    #[error(
        "{url:?}: give the base URL without /tjenester/svarinn (the agent appends it), e.g. \"https://svarut.ks.no\""
    )]
    WithTjenester { url: String },
    #[error(
        "{url:?}: give only the Fiks API host (the agent appends /digisos/api/v1/...), e.g. \"https://api.fiks.test.ks.no\""
    )]
    NotAFiksHost { url: String },
    #[error(
        "{url:?} uses plain amqp; the integration password and the token would cross the network unencrypted: use amqps (amqp is allowed only for localhost), e.g. \"amqps://io.fiks.ks.no:5671\""
    )]
    PlainAmqp { url: String },
    #[error("{url:?}: scheme {scheme:?} is not amqps; write e.g. \"amqps://io.fiks.ks.no:5671\"")]
    AmqpScheme { url: String, scheme: String },
    #[error(
        "{url:?}: give only the broker (no user, password, query or fragment: the agent logs in with integrasjon_id), e.g. \"amqps://io.fiks.ks.no:5671\""
    )]
    AmqpNotABase { url: String },
}

/// `localhost` or a loopback address.
fn is_loopback(url: &Url) -> bool {
    url.host_str().is_some_and(|h| {
        h == "localhost"
            || h.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    })
}

/// An http(s) URL with a host, plain http only for loopback: what the
/// SvarInn and the Fiks URLs share. `example` goes into the "not a URL"
/// message, `exposed` into the plain-http one.
fn http_url(s: &str, example: &'static str, exposed: &'static str) -> Result<Url, UrlError> {
    let url = Url::parse(s).map_err(|reason| UrlError::NotAUrl {
        url: s.to_owned(),
        reason,
        example,
    })?;
    let loopback = is_loopback(&url);
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(UrlError::PlainHttp {
                url: s.to_owned(),
                exposed,
            });
        }
        other => {
            return Err(UrlError::Scheme {
                url: s.to_owned(),
                scheme: other.to_owned(),
            });
        }
    }
    if url.host().is_none() {
        return Err(UrlError::NoHost { url: s.to_owned() });
    }
    Ok(url)
}

pub(super) fn parse_https_url(s: &str) -> Result<Url, UrlError> {
    let url = http_url(
        s,
        "https://api.fiks.test.ks.no",
        "tokens and the integration password",
    )?;
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(UrlError::UserOrFragment { url: s.to_owned() });
    }
    Ok(url)
}

pub(super) struct RawName(pub(super) SystemName);

impl<'de> Deserialize<'de> for RawName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SystemName::parse(&s)
            .map(RawName)
            .map_err(serde::de::Error::custom)
    }
}

/// An absolute path (the agent runs with `/` as its working directory, so a
/// relative path would only confuse).
pub(super) struct AbsPath(pub(super) PathBuf);

impl<'de> Deserialize<'de> for AbsPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let p = PathBuf::from(&s);
        if !p.is_absolute() {
            return Err(serde::de::Error::custom(format!(
                "{s:?} is not an absolute path; write the full path from /"
            )));
        }
        Ok(AbsPath(p))
    }
}

pub(super) struct Username(pub(super) String);

impl<'de> Deserialize<'de> for Username {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.trim().is_empty() || s.contains(':') || s.chars().any(char::is_control) {
            return Err(serde::de::Error::custom(
                "username must be the mottakersystem id from SvarInn (non-empty, no ':')",
            ));
        }
        Ok(Username(s))
    }
}

/// The password reference. Deserialised through `toml::Value` so that no
/// error message can repeat a literal password (serde's own type errors
/// quote the value).
pub(super) struct RawSecretRef(pub(super) SecretRef);

impl<'de> Deserialize<'de> for RawSecretRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match toml::Value::deserialize(d) {
            Ok(toml::Value::String(s)) => SecretRef::parse(&s)
                .map(RawSecretRef)
                .map_err(serde::de::Error::custom),
            _ => Err(serde::de::Error::custom(
                crate::secret::SecretError::NotAReference,
            )),
        }
    }
}

pub(super) struct SvarinnUrl(pub(super) Url);

impl<'de> Deserialize<'de> for SvarinnUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_svarinn_url(&s)
            .map(SvarinnUrl)
            .map_err(serde::de::Error::custom)
    }
}

pub(super) fn parse_svarinn_url(s: &str) -> Result<Url, UrlError> {
    let url = http_url(s, "https://svarut.ks.no", "the service password")?;
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(UrlError::NotABase { url: s.to_owned() });
    }
    if url.path().contains("/tjenester") {
        return Err(UrlError::WithTjenester { url: s.to_owned() });
    }
    Ok(url)
}

/// A duration written like `"30s"`, `"5m"`, `"1h30m"`, `"500ms"`, `"2d"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s)
            .map(HumanDuration)
            .map_err(serde::de::Error::custom)
    }
}

/// Parses `"30s"`, `"5m"`, `"1h"`, `"1h30m"`, `"500ms"`, `"2d"` (no spaces
/// inside a part, parts may be separated by spaces). Zero is refused.
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let bad = || DurationError::NotADuration {
        input: s.to_owned(),
    };
    let mut total = Duration::ZERO;
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = rest[unit_len..].trim_start();
        let part = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" | "min" => Duration::from_secs(n.checked_mul(60).ok_or_else(bad)?),
            "h" => Duration::from_secs(n.checked_mul(3600).ok_or_else(bad)?),
            "d" => Duration::from_secs(n.checked_mul(86_400).ok_or_else(bad)?),
            _ => return Err(bad()),
        };
        total = total.checked_add(part).ok_or_else(bad)?;
    }
    if total.is_zero() {
        return Err(DurationError::Zero {
            input: s.to_owned(),
        });
    }
    Ok(total)
}

/// A duration [`parse_duration`] refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error(
        "{input:?} is not a duration; write a number and a unit: \"30s\", \"5m\", \"1h\", \"1h30m\" (units ms, s, m, h, d)"
    )]
    NotADuration { input: String },
    #[error("{input:?}: the duration must be more than zero")]
    Zero { input: String },
}

/// A size in bytes: an integer, or `"500MB"`, `"2GiB"`, `"64KiB"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match toml::Value::deserialize(d)? {
            toml::Value::Integer(n) if n > 0 => Ok(ByteSize(n.unsigned_abs())),
            toml::Value::String(s) => parse_size(&s)
                .map(ByteSize)
                .map_err(serde::de::Error::custom),
            _ => Err(serde::de::Error::custom(
                "a size must be a positive number of bytes or a string like \"500MB\" or \"2GiB\"",
            )),
        }
    }
}

/// Parses `"500MB"`, `"2GiB"`, `"64KiB"`, `"1000"` (B, KB/MB/GB/TB are powers
/// of 1000, KiB/MiB/GiB/TiB powers of 1024).
pub fn parse_size(s: &str) -> Result<u64, SizeError> {
    let t = s.trim();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let bad = || SizeError::NotASize {
        input: s.to_owned(),
    };
    if digits == 0 {
        return Err(bad());
    }
    let n: u64 = t[..digits].parse().map_err(|_| bad())?;
    let mult: u64 = match t[digits..].trim() {
        "" | "B" => 1,
        "KB" | "kB" => 1000,
        "MB" => 1000_u64.pow(2),
        "GB" => 1000_u64.pow(3),
        "TB" => 1000_u64.pow(4),
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        _ => return Err(bad()),
    };
    let v = n.checked_mul(mult).ok_or_else(bad)?;
    if v == 0 {
        return Err(SizeError::Zero {
            input: s.to_owned(),
        });
    }
    Ok(v)
}

/// A size [`parse_size`] refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error("{input:?} is not a size; write e.g. \"500MB\", \"2GiB\" or a number of bytes")]
    NotASize { input: String },
    #[error("{input:?}: the size must be more than zero")]
    Zero { input: String },
}

/// An integer in `MIN..=MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounded<const MIN: u64, const MAX: u64>(pub u64);

impl<'de, const MIN: u64, const MAX: u64> Deserialize<'de> for Bounded<MIN, MAX> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        match u64::try_from(n) {
            Ok(v) if (MIN..=MAX).contains(&v) => Ok(Bounded(v)),
            _ => Err(serde::de::Error::custom(format!(
                "{n} is out of range: give a whole number from {MIN} to {MAX}"
            ))),
        }
    }
}
