//! The checks of `[mottakersystem.digisos]`: the integration password, the
//! Maskinporten key and chain, and the outbound folders. A section of its own
//! because only the mottakersystemer that send to Fiks have it.

use std::io;

use super::folders::writable_folder;
use super::{Environment, Report, Severity};
use crate::config::{self, Mottakersystem};
use crate::dropfolder::DropFolder;
use crate::dropfolder::dirfd::Name;
use crate::keys::{self, Expiry};
use crate::secret::{SecretError, SecretRef};

/// `[mottakersystem.digisos]`: the integration password, the Maskinporten
/// key and chain (key loads, is private, matches the first certificate;
/// every certificate valid now and not about to expire), and `ut/` and
/// `ut-feilet/` usable by the agent. Nothing is sent to Fiks or Maskinporten.
pub(super) fn check_digisos(
    m: &Mottakersystem,
    d: &config::DigisosSettings,
    env: &Environment,
    report: &mut Report,
) {
    let scope = m.name.as_str();
    check_integrasjon_passord("digisos", scope, &d.integrasjon_passord, env, report);
    check_maskinporten("digisos", scope, &d.maskinporten, env, report);

    // The agent claims ut/<id>/ by renaming it into .mottak/, and moves
    // sent ones into ut-sendt/ and bad ones into ut-feilet/. Each must be a
    // real folder (a link in its place is refused, as the worker refuses it).
    use crate::dropfolder::dirfd::Replace;
    use crate::dropfolder::{STAGING, UT_DIR, UT_FEILET_DIR, UT_SENDT_DIR};
    let drop = DropFolder::new(&m.drop_folder);
    let root = match drop.open_root() {
        Ok(root) => root,
        Err(e) => {
            report.push(
                Severity::Error,
                scope,
                "digisos: drop_folder",
                e.to_string(),
            );
            return;
        }
    };
    let (ut, sendt, feilet) = (
        Name::fixed(UT_DIR),
        Name::fixed(UT_SENDT_DIR),
        Name::fixed(UT_FEILET_DIR),
    );
    for dir in [&ut, &sendt, &feilet] {
        if let Err(problem) = writable_folder(&root, dir) {
            report.push(
                Severity::Error,
                scope,
                format!("digisos: {}", root.path_of(dir).display()),
                format!(
                    "{problem}\nthe agent's user must be able to rename folders out of ut/ and into ut-sendt/ and ut-feilet/ (e.g. group-owned by the agent's and the fagsystem's group, mode 2770)"
                ),
            );
        }
    }
    let (Ok(ut_dir), Ok(staging)) = (root.open_dir(&ut), root.open_dir(&STAGING)) else {
        return;
    };
    let Ok(probe) = Name::new(format!(".check-config-ut-{}", std::process::id())) else {
        return;
    };
    if ut_dir.create_dir(&probe, 0o700).is_ok() {
        if let Err(e) = ut_dir.rename(&probe, &staging, &probe, Replace::Never) {
            report.push(
                Severity::Error,
                scope,
                format!("digisos: {}", root.path_of(&ut).display()),
                format!(
                    "cannot rename a folder from ut/ into {} ({e}): the agent could not claim saksoppdateringer",
                    staging.path().display()
                ),
            );
        }
        let _ = staging.remove_dir(&probe);
        let _ = ut_dir.remove_dir(&probe);
    }
}

/// `<table>.integrasjon_passord`: readable and private.
pub(super) fn check_integrasjon_passord(
    table: &str,
    scope: &str,
    passord: &SecretRef,
    env: &Environment,
    report: &mut Report,
) {
    let subject = format!("{table}.integrasjon_passord {passord}");
    match (passord, &env.credentials_dir) {
        (SecretRef::Credential(name), None) => report.push(
            Severity::Warning,
            scope,
            subject,
            format!(
                "a systemd credential can only be read under systemd: check the unit has `LoadCredential={name}:/path/to/file`"
            ),
        ),
        _ => match passord.load(env.credentials_dir.as_deref()) {
            Ok(_) => {}
            Err(SecretError::Io { source, path }) if source.kind() == io::ErrorKind::NotFound => {
                report.push(
                    Severity::Error,
                    scope,
                    subject,
                    format!(
                        "{} does not exist; write the integration's password from Fiks forvaltning into it (mode 0600, owned by the agent's user)",
                        path.display()
                    ),
                )
            }
            Err(e) => report.push(Severity::Error, scope, subject, e.to_string()),
        },
    }
}

/// `<table>.maskinporten`: the key loads, is private, matches the first
/// certificate; every certificate is valid now and not about to expire.
pub(super) fn check_maskinporten(
    table: &str,
    scope: &str,
    mp: &config::MaskinportenSettings,
    env: &Environment,
    report: &mut Report,
) {
    let subject = format!(
        "{table}.maskinporten.private_key {} / certificate_chain {}",
        mp.private_key.display(),
        mp.certificate_chain.display()
    );
    match crate::maskinporten::GrantKey::load(&mp.private_key, &mp.certificate_chain) {
        Ok(key) => {
            for (i, c) in key.chain().iter().enumerate() {
                let which = if i == 0 {
                    "the virksomhetssertifikat".to_owned()
                } else {
                    format!("certificate {i} of the chain")
                };
                let subject = format!(
                    "{table}.maskinporten.certificate_chain {} [{i}]",
                    mp.certificate_chain.display()
                );
                if c.not_before > env.now {
                    report.push(
                        Severity::Error,
                        scope,
                        subject.clone(),
                        format!(
                            "{which} ({}) is not valid before {}; Maskinporten refuses it until then",
                            c.description,
                            c.not_before.date()
                        ),
                    );
                }
                match keys::expiry(c.not_after, env.now) {
                    Expiry::Valid { .. } => {}
                    Expiry::ExpiresSoon { days_left } => report.push(
                        Severity::Warning,
                        scope,
                        subject,
                        format!(
                            "{which} ({}) expires in {days_left} days ({}); order a new virksomhetssertifikat, register it for the client in Digdir's self-service, and put it here",
                            c.description,
                            c.not_after.date()
                        ),
                    ),
                    Expiry::Expired { days_ago } => report.push(
                        Severity::Error,
                        scope,
                        subject,
                        format!(
                            "{which} ({}) expired {days_ago} days ago ({}); Maskinporten refuses grants signed with it: put a valid virksomhetssertifikat here",
                            c.description,
                            c.not_after.date()
                        ),
                    ),
                }
            }
        }
        Err(e) => report.push(Severity::Error, scope, subject, e.to_string()),
    }
}
