//! SvarInn V2's wire (`/api/svarinn/v2/...`, KS's current mottaksservice): the list, the
//! download by each item's `nedlastingslenke` (always an encrypted ZIP), and one
//! `PATCH …/status` for both the acknowledgement (MOTTATT) and a failure (FEILET).

use std::net::SocketAddr;
use std::sync::Arc;

use mottak_protocol::svarinn_v2::{Feil, LIST_PATH, Statusoppdatering, status_path};

use super::{ClientError, Download, Http, Page, SvarInnApi, Timeouts, parse_page};
use crate::telemetry::{SvarInnOp, SystemTelemetry};

/// A V2 client for one mottakersystem. Same credentials, origin rule, timeouts, error
/// classes and telemetry operations as [`super::SvarInnClient`].
#[derive(Clone)]
pub struct SvarInnV2Client {
    pub(super) http: Http,
}

impl std::fmt::Debug for SvarInnV2Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.http.debug("SvarInnV2Client", f)
    }
}

impl SvarInnV2Client {
    /// `svarinn_url` is the host part from the config (`https://svarut.ks.no`);
    /// `/api/svarinn/v2/...` is appended.
    pub fn new(
        svarinn_url: &str,
        username: &str,
        password: &str,
        timeouts: Timeouts,
    ) -> Result<Self, ClientError> {
        Ok(SvarInnV2Client {
            http: Http::new(SvarInnApi::V2, svarinn_url, username, password, timeouts)?,
        })
    }

    /// Counts and times every call in `telemetry` (`/metrics`).
    #[must_use]
    pub fn with_telemetry(mut self, telemetry: Arc<SystemTelemetry>) -> Self {
        telemetry.speaks(SvarInnApi::V2);
        self.http.telemetry = Some(telemetry);
        self
    }

    /// The host SvarInn lives on, for status reports.
    pub fn host(&self) -> &str {
        self.http.host()
    }

    /// The addresses SvarInn's host resolves to now.
    pub async fn resolve(&self) -> std::io::Result<Vec<SocketAddr>> {
        self.http.resolve().await
    }

    /// The list's URL under the configured `svarinn_url`.
    pub fn list_url(&self) -> String {
        self.http.endpoint(LIST_PATH)
    }

    /// `GET …/forsendelser`: the raw body, at most 200 forsendelser not yet acknowledged.
    pub async fn list_raw(&self) -> Result<Vec<u8>, ClientError> {
        self.http
            .get_list("hentNyeForsendelser", &self.list_url())
            .await
    }

    /// The list read item by item into the common model ([`super::Listed`]), so one
    /// malformed forsendelse cannot hide the others.
    pub async fn list(&self) -> Result<Page, ClientError> {
        let body = self.list_raw().await?;
        parse_page("hentNyeForsendelser", SvarInnApi::V2, &body)
    }

    /// `lastNedFiler`: starts the download at `nedlastingslenke` (from the list), which must
    /// be on the configured SvarInn origin. KS's example points it at V1's path: whatever
    /// the list says is followed, on that origin only.
    pub async fn download(&self, nedlastingslenke: &str) -> Result<Download, ClientError> {
        self.http
            .download("nedlastingslenke", nedlastingslenke)
            .await
    }

    /// `PATCH …/status` `MOTTATT`: the forsendelse is taken; SvarInn stops listing it.
    pub async fn mottatt(&self, forsendelse_id: &str) -> Result<(), ClientError> {
        self.status(
            "oppdaterStatus MOTTATT",
            SvarInnOp::Ack,
            forsendelse_id,
            &Statusoppdatering::Mottatt,
        )
        .await
    }

    /// `PATCH …/status` `FEILET`: it could not be received. Temporary: only logged by KS,
    /// it stays listed; `permanent`: KS sends it on by Altinn or print.
    pub async fn feilet(
        &self,
        forsendelse_id: &str,
        feilmelding: &str,
        permanent: bool,
    ) -> Result<(), ClientError> {
        let body = Statusoppdatering::Feilet {
            feil: Feil {
                feilmelding: feilmelding.to_owned(),
                permanent,
            },
        };
        self.status(
            "oppdaterStatus FEILET",
            SvarInnOp::ReportFailure,
            forsendelse_id,
            &body,
        )
        .await
    }

    async fn status(
        &self,
        operation: &'static str,
        op: SvarInnOp,
        forsendelse_id: &str,
        body: &Statusoppdatering,
    ) -> Result<(), ClientError> {
        let url = self
            .http
            .url(operation, &self.http.endpoint(&status_path(forsendelse_id)))?;
        // Two fixed shapes of strings and a bool: serialising cannot fail.
        let json = serde_json::to_string(body).unwrap_or_default();
        self.http
            .send_json(operation, op, self.http.http.patch(url), json)
            .await
    }
}
