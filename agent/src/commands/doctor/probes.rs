//! The probes of what the agent logs into and writes to: SvarInn's
//! credentials, a Maskinporten grant, Fiks Digisos (public key, privilege)
//! and the drop folder. Each is read-only towards KS and Fiks.

use std::sync::Arc;
use std::time::Duration;

use mottak_protocol::digisos::OAuthError;

use super::Lines;
use super::network::check_endpoint;
use crate::clock::{Clock, SystemClock};
use crate::commands::check_config::Environment;
use crate::config::{DigisosSettings, Mottakersystem};
use crate::dropfolder::{DropFolder, INN, INN_DIR, STAGING, STAGING_DIR};
use crate::fiks_client::{FiksCallError, FiksClient};
use crate::maskinporten::{GrantKey, Maskinporten, TokenError};
use crate::svarinn_client::{ApiClient, ClientError, SvarInnApi, Timeouts};

/// The case the privilege check lists the files of: no case has this id,
/// so Fiks answers 403 without the privilege on the organisation and
/// 400/404 (unknown case) with it. Nothing exists to change.
const NO_CASE: &str = "00000000-0000-0000-0000-000000000000";

/// What the list call is named in doctor's report: V1's hentNyeForsendelser, V2's list URL.
pub(super) fn svarinn_subject(m: &Mottakersystem) -> String {
    match m.svarinn_api {
        SvarInnApi::V1 => format!("hentNyeForsendelser as {}", m.username),
        SvarInnApi::V2 => format!(
            "GET {} as {}",
            mottak_protocol::svarinn_v2::LIST_PATH,
            m.username
        ),
    }
}

/// SvarInn's list call (of the API the mottakersystem speaks): a GET, which changes
/// nothing at SvarInn (nothing is downloaded or acknowledged).
pub(super) async fn check_svarinn(m: &Mottakersystem, env: &Environment, lines: &mut Lines<'_>) {
    let subject = svarinn_subject(m);
    let password = match m.password.load(env.credentials_dir.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            return lines.fail(
                "svarinn",
                subject,
                format!("cannot read the service password: {e}"),
                "see the check-config findings above".to_owned(),
            );
        }
    };
    let client = match ApiClient::new(
        m.svarinn_api,
        m.svarinn_url.as_str(),
        &m.username,
        password.expose(),
        Timeouts {
            request: m.request_timeout,
            ..Timeouts::default()
        },
    ) {
        Ok(c) => c,
        Err(e) => {
            return lines.fail(
                "svarinn",
                subject,
                e.to_string(),
                "fix svarinn_url".to_owned(),
            );
        }
    };
    let listed = match client.list().await {
        Ok(page) => Ok((page.items.len() + page.ignored).to_string()),
        // Credentials are what this probes: a list that is not one still says they work.
        Err(ClientError::Malformed { .. }) => Ok("an unreadable list of".to_owned()),
        Err(e) => Err(e),
    };
    match listed {
        Ok(waiting) => {
            lines.pass(
                "svarinn",
                subject,
                format!(
                    "credentials accepted; {waiting} forsendelser waiting (listed only: nothing fetched or acknowledged)"
                ),
            );
        }
        Err(ClientError::Unauthorized { status }) => lines.fail(
            "svarinn",
            subject,
            format!("SvarInn refused the credentials ({status})"),
            format!(
                "check `username` = {:?} (the mottakersystem id from SvarInn's Service tab) and the service password `password` = {} (generate a new one in the Service tab if unsure)",
                m.username, m.password
            ),
        ),
        Err(e) => lines.fail(
            "svarinn",
            subject,
            e.to_string(),
            "SvarInn may be down (status.ks.no), or svarinn_url is wrong".to_owned(),
        ),
    }
}

pub(super) async fn check_digisos(
    d: &DigisosSettings,
    env: &Environment,
    timeout: Duration,
    lines: &mut Lines<'_>,
) {
    let mp = &d.maskinporten;
    let mp_reachable = check_endpoint(&mp.url, "digisos.maskinporten.url", timeout, lines).await;
    let fiks_reachable =
        check_endpoint(&d.fiks_api_url, "digisos.fiks_api_url", timeout, lines).await;
    if !mp_reachable {
        return lines.skip(
            "maskinporten",
            format!("grant for client {}", mp.client_id),
            "not tried, nor Fiks Digisos: no address of digisos.maskinporten.url took a connection (see above)".to_owned(),
        );
    }
    let subject = format!("grant for client {} (scope {:?})", mp.client_id, mp.scope);
    let key = match GrantKey::load(&mp.private_key, &mp.certificate_chain) {
        Ok(k) => k,
        Err(e) => {
            return lines.fail(
                "maskinporten",
                subject,
                e.to_string(),
                "see the check-config findings above".to_owned(),
            );
        }
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let maskinporten =
        match Maskinporten::new(mp.clone(), key, d.request_timeout, Arc::clone(&clock)) {
            Ok(m) => Arc::new(m),
            Err(e) => {
                return lines.fail(
                    "maskinporten",
                    subject,
                    e.to_string(),
                    "see the error".to_owned(),
                );
            }
        };
    match maskinporten.token().await {
        Ok(_) => lines.pass("maskinporten", subject, "token granted".to_owned()),
        Err(e) => {
            let fix = match refused_scope(&e) {
                Some(why) => format!(
                    "Maskinporten refused the scope {:?} ({why}): give client {} the scope ks:fiks in Digdir's self-service (Samarbeidsportalen), or fix `scope` in [mottakersystem.digisos.maskinporten]",
                    mp.scope, mp.client_id
                ),
                None => "check client_id, audience, and that the certificate chain is the one registered for the client".to_owned(),
            };
            lines.fail("maskinporten", subject, e.to_string(), fix);
            return lines.skip(
                "digisos",
                format!("integration {}", d.integrasjon_id),
                "not tried: Fiks Digisos needs a Maskinporten token (see above)".to_owned(),
            );
        }
    }
    if !fiks_reachable {
        return lines.skip(
            "digisos",
            format!("integration {}", d.integrasjon_id),
            "not tried: no address of digisos.fiks_api_url took a connection (see above)"
                .to_owned(),
        );
    }
    let passord = match d.integrasjon_passord.load(env.credentials_dir.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            return lines.fail(
                "digisos",
                "integrasjon_passord".to_owned(),
                e.to_string(),
                "see the check-config findings above".to_owned(),
            );
        }
    };
    let fiks = match FiksClient::from_settings(d, passord, maskinporten, clock) {
        Ok(f) => f,
        Err(e) => {
            return lines.fail(
                "digisos",
                "client".to_owned(),
                e.to_string(),
                "see the error".to_owned(),
            );
        }
    };
    let integration_fix = format!(
        "check integrasjon_id {} and integrasjon_passord ({}) in Fiks forvaltning",
        d.integrasjon_id, d.integrasjon_passord
    );
    let subject = format!(
        "GET dokumentlager-public-key as integration {}",
        d.integrasjon_id
    );
    match fiks.public_key().await {
        Ok(cert) => lines.pass(
            "digisos",
            subject,
            format!(
                "token and integration accepted; Fiks's public key {}",
                cert.description()
            ),
        ),
        Err(e) => return lines.fail("digisos", subject, e.to_string(), integration_fix),
    }
    // The privilege: a file list of a case that cannot exist, on the
    // organisation. A GET; Fiks checks the organisation before the case.
    let subject = format!(
        "Digisos privilege of integration {} on fiks_org_id {}",
        d.integrasjon_id, d.fiks_org_id
    );
    match fiks.list_files(NO_CASE).await {
        Ok(_) => lines.pass("digisos", subject, "privilege present (the file list answered)".to_owned()),
        Err(FiksCallError::Rejected { status: 403, message, .. }) => lines.fail(
            "digisos",
            subject,
            format!("Fiks refused the organisation (403): {message}"),
            format!(
                "give integration {} the Digisos privilege for organisation {} in Fiks forvaltning (Tilganger), and check fiks_org_id",
                d.integrasjon_id, d.fiks_org_id
            ),
        ),
        Err(FiksCallError::Rejected { status: 400 | 404, .. }) => lines.pass(
            "digisos",
            subject,
            "privilege present (Fiks looked for the case: the organisation is open to the integration)".to_owned(),
        ),
        Err(e) => lines.fail("digisos", subject, e.to_string(), integration_fix),
    }
}

/// Why Maskinporten refused the scope, when that is what it refused.
pub(super) fn refused_scope(e: &TokenError) -> Option<String> {
    let TokenError::Refused { body, .. } = e else {
        return None;
    };
    let oauth: OAuthError = serde_json::from_str(body).ok()?;
    (oauth.error == "invalid_scope").then(|| oauth.to_string())
}

/// The drop folder, through the agent's own handle (`dirfd`): `inn/` and
/// `.mottak/` writable, on one filesystem, free space over `min_free_space`.
pub(super) fn check_drop_folder(m: &Mottakersystem, lines: &mut Lines<'_>) {
    const KIND: &str = "drop-folder";
    let drop = DropFolder::new(&m.drop_folder);
    let shown = m.drop_folder.display().to_string();
    let root = match drop.open_root() {
        Ok(r) => r,
        Err(e) => {
            return lines.fail(
                KIND,
                shown.clone(),
                e.to_string(),
                format!("create it for the agent's user: `install -d -o mottak -g mottak -m 2770 {shown}`"),
            );
        }
    };
    for (name, dir) in [(INN, INN_DIR), (STAGING, STAGING_DIR)] {
        let path = m.drop_folder.join(dir).display().to_string();
        match root.open_dir(&name).and_then(|d| d.check_writable()) {
            Ok(()) => lines.pass(KIND, path, "writable".to_owned()),
            Err(e) => lines.fail(
                KIND,
                path.clone(),
                format!("not writable: {e}"),
                format!("give the agent's user write access: `chown mottak {path}` (or its group, mode 2770)"),
            ),
        }
    }
    let both = format!("{shown} {INN_DIR}/ and {STAGING_DIR}/");
    match drop.check_same_filesystem() {
        Ok(()) => lines.pass(KIND, both, "on one filesystem (publishing is one atomic rename)".to_owned()),
        Err(e) => lines.fail(
            KIND,
            both,
            e.to_string(),
            format!("mount nothing on {shown}/{INN_DIR} or {shown}/{STAGING_DIR}: they must share a filesystem"),
        ),
    }
    let subject = format!("{shown} free space");
    match root.space() {
        Ok(space) if space.free_bytes >= m.min_free_space => lines.pass(
            KIND,
            subject,
            format!(
                "{} MiB free, min_free_space {} MiB",
                space.free_bytes >> 20,
                m.min_free_space >> 20
            ),
        ),
        Ok(space) => lines.fail(
            KIND,
            subject,
            format!(
                "{} MiB free, under min_free_space {} MiB: the agent would stop fetching",
                space.free_bytes >> 20,
                m.min_free_space >> 20
            ),
            "free space on the drop folder's filesystem, or lower min_free_space".to_owned(),
        ),
        Err(e) => lines.fail(KIND, subject, e.to_string(), "see the error".to_owned()),
    }
}
