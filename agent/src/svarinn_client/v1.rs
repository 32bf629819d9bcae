//! SvarInn V1's wire (`/tjenester/svarinn/...`, deprecated by KS but without an end date):
//! hentNyeForsendelser, the download by `downloadUrl`, kvitterMottak and mottakFeilet.

use std::net::SocketAddr;
use std::sync::Arc;

use mottak_protocol::svarinn::SvarInnEndpoints;

use super::{ClientError, Download, Http, Page, SvarInnApi, Timeouts, parse_page};
use crate::telemetry::{SvarInnOp, SystemTelemetry};

/// A V1 client for one mottakersystem.
#[derive(Clone)]
pub struct SvarInnClient {
    pub(super) http: Http,
    pub(super) endpoints: SvarInnEndpoints,
}

impl std::fmt::Debug for SvarInnClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.http.debug("SvarInnClient", f)
    }
}

impl SvarInnClient {
    /// `svarinn_url` is the host part from the config (`https://svarut.ks.no`);
    /// `/tjenester/svarinn/...` is appended.
    pub fn new(
        svarinn_url: &str,
        username: &str,
        password: &str,
        timeouts: Timeouts,
    ) -> Result<Self, ClientError> {
        let http = Http::new(SvarInnApi::V1, svarinn_url, username, password, timeouts)?;
        let endpoints = SvarInnEndpoints::new(http.base.as_str());
        Ok(SvarInnClient { http, endpoints })
    }

    /// Counts and times every call in `telemetry` (`/metrics`).
    #[must_use]
    pub fn with_telemetry(mut self, telemetry: Arc<SystemTelemetry>) -> Self {
        telemetry.speaks(SvarInnApi::V1);
        self.http.telemetry = Some(telemetry);
        self
    }

    /// The host SvarInn lives on, for status reports.
    pub fn host(&self) -> &str {
        self.http.host()
    }

    /// The addresses SvarInn's host resolves to now: KS changes its IPs and
    /// kommune firewalls block the new ones, so operators need to see them.
    pub async fn resolve(&self) -> std::io::Result<Vec<SocketAddr>> {
        self.http.resolve().await
    }

    /// `hentNyeForsendelser`: the raw body, at most 200 forsendelser not yet acknowledged.
    ///
    /// The caller splits it with [`mottak_protocol::svarinn::parse_list_lenient`],
    /// so one malformed forsendelse cannot hide the others.
    pub async fn list_new(&self) -> Result<Vec<u8>, ClientError> {
        const OP: &str = "hentNyeForsendelser";
        self.http
            .get_list(OP, &self.endpoints.hent_nye_forsendelser())
            .await
    }

    /// `hentNyeForsendelser` read item by item into the common model ([`super::Listed`]).
    pub async fn list(&self) -> Result<Page, ClientError> {
        let body = self.list_new().await?;
        parse_page("hentNyeForsendelser", SvarInnApi::V1, &body)
    }

    /// `hentForsendelsefil`: starts the download at `download_url` (from the list),
    /// which must be on the configured SvarInn host.
    pub async fn download(&self, download_url: &str) -> Result<Download, ClientError> {
        self.http.download("downloadUrl", download_url).await
    }

    /// `kvitterMottak`: the forsendelse is taken; SvarInn stops listing it.
    pub async fn kvitter_mottak(&self, forsendelse_id: &str) -> Result<(), ClientError> {
        const OP: &str = "kvitterMottak";
        let url = self
            .http
            .url(OP, &self.endpoints.kvitter_mottak(forsendelse_id))?;
        let request = self.http.http.post(url).timeout(self.http.timeouts.request);
        self.http.send(OP, SvarInnOp::Ack, request).await.map(drop)
    }

    /// `mottakFeilet`: tells the sender the import failed; `permanent` sends
    /// the forsendelse to another channel (Altinn or print).
    pub async fn mottak_feilet(
        &self,
        forsendelse_id: &str,
        feilmelding: &str,
        permanent: bool,
    ) -> Result<(), ClientError> {
        const OP: &str = "mottakFeilet";
        let url = self
            .http
            .url(OP, &self.endpoints.mottak_feilet(forsendelse_id))?;
        let body = serde_json::json!({ "feilmelding": feilmelding, "permanent": permanent });
        self.http
            .send_json(
                OP,
                SvarInnOp::ReportFailure,
                self.http.http.post(url),
                body.to_string(),
            )
            .await
    }
}
