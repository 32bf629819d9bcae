//! The Fiks IO pipeline (`[mottakersystem.fiks_io]`, issue 15): Digisos
//! søknader received on the konto's AMQP queue, delivered into
//! `inn/<melding-id>/` exactly as SvarInn forsendelser are, and answered with
//! a receipt over REST. Wire facts in `../shared/reference/fiks-2026.md` Q2.
//!
//! - `pipeline`: its setup as a [`crate::pipeline::Pipeline`] (passord, keys,
//!   Maskinporten, drop folder, recovery from the journal);
//! - `consumer`: the AMQP link (login with `"<passord> <token>"`, a fresh
//!   token at every connect, prefetch 10, manual ack, reconnect with backoff);
//! - `deliver`: one message, from its body to a published folder (journal,
//!   kept encrypted copy, CMS, unzip, ASiC-E manifest, `melding.json`);
//! - `console`: what consoles are shown of the link (`FiksIoLink`);
//! - `receipt`: the receipt loop (`*.mottatt.v1`, on delivery or on import).
//!
//! This file: the message's headers, read from AMQP (pure), and the
//! channel's health for the console.

pub mod console;
pub mod consumer;
pub mod deliver;
pub mod pipeline;
pub mod receipt;

use std::sync::{Arc, Mutex};

use lapin::types::{AMQPValue, FieldTable};
use mottak_protocol::digisos::is_uuid;

use crate::journal::fiks_io::NewMelding;
use crate::pipeline::Health;

/// What consoles and `/metrics` read of one mottakersystem's Fiks IO link,
/// besides the pipeline's own [`Health`].
#[derive(Debug)]
pub struct FiksIoHealth {
    pub pipeline: Arc<Health>,
    pub link: Mutex<LinkStatus>,
}

impl FiksIoHealth {
    pub fn new(pipeline: Arc<Health>) -> Self {
        FiksIoHealth {
            pipeline,
            link: Mutex::new(LinkStatus::default()),
        }
    }

    /// A copy of the link's status.
    pub fn link(&self) -> LinkStatus {
        self.link.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn update(&self, f: impl FnOnce(&mut LinkStatus)) {
        if let Ok(mut l) = self.link.lock() {
            f(&mut l);
        }
    }
}

/// The AMQP link, as the console shows it. Times are Unix ms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkStatus {
    /// Consuming since (`None` while down).
    pub connected_since: Option<i64>,
    /// Down since: the link was lost or a connect failed (`None` while up,
    /// and before the first attempt).
    pub down_since: Option<i64>,
    /// Why the last connect failed or the link was lost (cleared by the next connect).
    pub last_error: Option<String>,
    /// When the last message arrived.
    pub last_message_at: Option<i64>,
    /// Messages received and not yet acked here.
    pub unacked: u64,
    /// Receipts owed whose last send failed.
    pub receipts_failing: u64,
}

/// The Fiks IO headers (AMQP long strings; KS's .NET client reads them as UTF-8).
pub const HEADER_MELDING_ID: &str = "melding-id";
pub const HEADER_TYPE: &str = "type";
pub const HEADER_AVSENDER_ID: &str = "avsender-id";
pub const HEADER_SVAR_TIL: &str = "svar-til";
pub const HEADER_DOKUMENTLAGER_ID: &str = "dokumentlager-id";

/// The Digisos message types and the receipt each is answered with.
pub const DIGISOS_RECEIPTS: [(&str, &str); 2] = [
    (
        "no.nav.digisos.soknad.v1",
        "no.nav.digisos.soknad.mottatt.v1",
    ),
    (
        "no.nav.digisos.ettersendelse.v1",
        "no.nav.digisos.ettersendelse.mottatt.v1",
    ),
];

/// The receipt type a message of `melding_type` is answered with (`None`:
/// not a Digisos type, delivered without a receipt).
pub fn receipt_type(melding_type: &str) -> Option<&'static str> {
    DIGISOS_RECEIPTS
        .iter()
        .find(|(t, _)| *t == melding_type)
        .map(|(_, r)| *r)
}

/// Why a message's headers cannot be used: it is not a Fiks IO message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("the message has no {0} header")]
    Missing(&'static str),
    #[error("the {header} header is not a UUID")]
    NotAUuid { header: &'static str },
    #[error("the {0} header is not UTF-8 text")]
    NotText(&'static str),
    #[error("the type header is empty, too long or holds control characters")]
    BadType,
}

/// The longest meldingstype accepted.
const MAX_TYPE_LEN: usize = 200;

/// Reads a message's Fiks IO headers. The ids must be UUIDs (they become a
/// folder name and go back to Fiks), kept lowercase.
pub fn read_headers(headers: Option<&FieldTable>) -> Result<NewMelding, HeaderError> {
    let text = |name: &'static str| -> Result<Option<String>, HeaderError> {
        let Some(table) = headers else {
            return Ok(None);
        };
        let Some(value) = table.inner().get(name) else {
            return Ok(None);
        };
        let bytes = match value {
            AMQPValue::LongString(s) => s.as_bytes().to_vec(),
            AMQPValue::ShortString(s) => s.as_str().as_bytes().to_vec(),
            _ => return Err(HeaderError::NotText(name)),
        };
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| HeaderError::NotText(name))
    };
    let uuid = |name: &'static str| -> Result<Option<String>, HeaderError> {
        match text(name)? {
            None => Ok(None),
            Some(s) if is_uuid(s.trim()) => Ok(Some(s.trim().to_ascii_lowercase())),
            Some(_) => Err(HeaderError::NotAUuid { header: name }),
        }
    };
    let melding_id = uuid(HEADER_MELDING_ID)?.ok_or(HeaderError::Missing(HEADER_MELDING_ID))?;
    let melding_type = text(HEADER_TYPE)?.ok_or(HeaderError::Missing(HEADER_TYPE))?;
    if melding_type.trim().is_empty()
        || melding_type.len() > MAX_TYPE_LEN
        || melding_type.chars().any(char::is_control)
    {
        return Err(HeaderError::BadType);
    }
    let avsender_konto =
        uuid(HEADER_AVSENDER_ID)?.ok_or(HeaderError::Missing(HEADER_AVSENDER_ID))?;
    Ok(NewMelding {
        melding_id,
        melding_type: melding_type.trim().to_owned(),
        avsender_konto,
        svar_til: uuid(HEADER_SVAR_TIL)?,
        dokumentlager_id: uuid(HEADER_DOKUMENTLAGER_ID)?,
    })
}

#[cfg(test)]
mod tests {
    use lapin::types::{LongString, ShortString};

    use super::*;

    const ID: &str = "0E5B4C3A-2D1F-4A9B-8C7D-6E5F4A3B2C1D";
    const AVSENDER: &str = "aaaaaaaa-0000-4000-8000-000000000001";

    fn table(pairs: &[(&str, &str)]) -> FieldTable {
        let mut t = FieldTable::default();
        for (k, v) in pairs {
            t.insert(
                ShortString::from(*k),
                AMQPValue::LongString(LongString::from(v.as_bytes().to_vec())),
            );
        }
        t
    }

    #[test]
    fn the_fiks_io_headers_are_read_and_ids_kept_lowercase() {
        let t = table(&[
            (HEADER_MELDING_ID, ID),
            (HEADER_TYPE, "no.nav.digisos.soknad.v1"),
            (HEADER_AVSENDER_ID, AVSENDER),
            (HEADER_DOKUMENTLAGER_ID, AVSENDER),
            ("egendefinert-header.klientMeldingId", "x"),
        ]);
        let m = read_headers(Some(&t)).unwrap();
        assert_eq!(m.melding_id, ID.to_ascii_lowercase());
        assert_eq!(m.melding_type, "no.nav.digisos.soknad.v1");
        assert_eq!(m.avsender_konto, AVSENDER);
        assert_eq!(m.svar_til, None);
        assert_eq!(m.dokumentlager_id.as_deref(), Some(AVSENDER));
    }

    #[test]
    fn a_message_without_or_with_hostile_headers_is_refused() {
        assert_eq!(
            read_headers(None),
            Err(HeaderError::Missing(HEADER_MELDING_ID))
        );
        let t = table(&[(HEADER_MELDING_ID, "../../etc"), (HEADER_TYPE, "t")]);
        assert_eq!(
            read_headers(Some(&t)),
            Err(HeaderError::NotAUuid {
                header: HEADER_MELDING_ID
            })
        );
        let t = table(&[
            (HEADER_MELDING_ID, ID),
            (HEADER_TYPE, "a\nb"),
            (HEADER_AVSENDER_ID, AVSENDER),
        ]);
        assert_eq!(read_headers(Some(&t)), Err(HeaderError::BadType));
        let t = table(&[(HEADER_MELDING_ID, ID), (HEADER_TYPE, "t")]);
        assert_eq!(
            read_headers(Some(&t)),
            Err(HeaderError::Missing(HEADER_AVSENDER_ID))
        );
        let mut t = table(&[(HEADER_TYPE, "t"), (HEADER_AVSENDER_ID, AVSENDER)]);
        t.insert(
            ShortString::from(HEADER_MELDING_ID),
            AMQPValue::LongString(LongString::from(vec![0xff, 0xfe])),
        );
        assert_eq!(
            read_headers(Some(&t)),
            Err(HeaderError::NotText(HEADER_MELDING_ID))
        );
    }

    #[test]
    fn digisos_types_get_their_receipt_and_others_none() {
        assert_eq!(
            receipt_type("no.nav.digisos.soknad.v1"),
            Some("no.nav.digisos.soknad.mottatt.v1")
        );
        assert_eq!(
            receipt_type("no.nav.digisos.ettersendelse.v1"),
            Some("no.nav.digisos.ettersendelse.mottatt.v1")
        );
        assert_eq!(receipt_type("no.ks.fiks.kvittering.tidsavbrudd"), None);
    }
}
