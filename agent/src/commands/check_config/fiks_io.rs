//! The checks of `[mottakersystem.fiks_io]`: the integration password, the
//! konto's private keys and the Maskinporten key and chain. Nothing is sent
//! to Fiks, the broker or Maskinporten.

use super::digisos::{check_integrasjon_passord, check_maskinporten};
use super::{Environment, Report, Severity, key_message};
use crate::config::{FiksIoSettings, Mottakersystem};
use crate::keys;

/// `[mottakersystem.fiks_io]`, and the line that says where it receives.
pub(super) fn check_fiks_io(
    m: &Mottakersystem,
    f: &FiksIoSettings,
    env: &Environment,
    report: &mut Report,
) {
    let scope = m.name.as_str();
    report.fiks_io.push((scope.to_owned(), receives_line(m, f)));
    check_integrasjon_passord("fiks_io", scope, &f.integrasjon_passord, env, report);
    for (i, path) in f.private_keys.iter().enumerate() {
        if let Err(e) = keys::load_private_key(path) {
            report.push(
                Severity::Error,
                scope,
                format!("fiks_io.private_keys[{i}] {}", path.display()),
                key_message(&e),
            );
        }
    }
    check_maskinporten("fiks_io", scope, &f.maskinporten, env, report);
}

/// What `check-config` prints about the channel: konto, broker, receipt timing.
fn receives_line(m: &Mottakersystem, f: &FiksIoSettings) -> String {
    let host = f.amqp_url.host_str().unwrap_or("?");
    let port = f
        .amqp_url
        .port()
        .map(|p| format!(":{p}"))
        .unwrap_or_default();
    format!(
        "Fiks IO konto {} at {}://{host}{port} as integration {} (receipts {}: ack = \"{}\")",
        f.konto_id,
        f.amqp_url.scheme(),
        f.integrasjon_id,
        match m.ack {
            crate::config::AckMode::OnDelivery => "as soon as a message is in inn/",
            crate::config::AckMode::OnImport => "once the fagsystem took the folder out of inn/",
        },
        m.ack
    )
}
