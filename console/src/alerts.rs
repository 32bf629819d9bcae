//! The agent's alerts in the reader's language.
//!
//! Each alert says what it is about with the data ([`AlertKind`]); the
//! agent writes its English from that data (`agent/src/console_api/alert_text.rs`)
//! and sends it as the title and detail, and the console writes bokmål from
//! the same data here. An alert without a kind this console knows (from a
//! newer agent) shows the agent's own text. Free text from outside (an
//! error, a path) is shown masked.

use mottak_protocol::alert::AlertKind;
use mottak_protocol::console::{Alert, ExpiryLevel, ForsendelseState};

use crate::human::age;
use crate::i18n::Lang;

/// The alert's (title, detail) in `lang`.
pub fn localized(alert: &Alert, now_ms: i64, lang: Lang) -> (String, String) {
    let agent = || {
        (
            alert.title.masked().into_owned(),
            alert.detail.masked().into_owned(),
        )
    };
    match lang {
        Lang::En => agent(),
        Lang::Nb => nb(alert, now_ms).unwrap_or_else(agent),
    }
}

/// `nav-frogn: title`: the alert's title after its mottakersystem, once
/// (the outbound alerts' titles already start so).
pub fn title_with_system(alert: &Alert, title: String) -> String {
    match system_prefix(alert, &title) {
        Some(m) => format!("{m}: {title}"),
        None => title,
    }
}

/// The mottakersystem to write before `title`, unless the title already
/// starts with it (`nav-frogn: ...`).
pub fn system_prefix<'a>(alert: &'a Alert, title: &str) -> Option<&'a str> {
    alert
        .mottakersystem
        .as_deref()
        .filter(|m| !title.starts_with(&format!("{m}:")))
}

/// `alert` in bokmål, from its kind's data; `None` for an alert without a
/// kind this console knows.
fn nb(alert: &Alert, now_ms: i64) -> Option<(String, String)> {
    let m = alert.mottakersystem.as_deref()?;
    let plural = |n: u64, one: &'static str, many: &'static str| if n == 1 { one } else { many };
    Some(match alert.about.clone()? {
        AlertKind::Unacknowledged { id, state, since } => {
            let what = match state {
                ForsendelseState::Failed => {
                    "den feilet: prøv igjen, eller merk den permanent så avsender bruker en annen kanal"
                }
                ForsendelseState::Rejected => {
                    "fagsystemet avviste den (feilet/): flytt den tilbake til inn/ eller merk den permanent"
                }
                ForsendelseState::Delivered => "den ligger i inn/: sjekk at fagsystemet importerer",
                _ => "agenten har ikke hentet den ennå: sjekk SvarInn-integrasjonen",
            };
            (
                format!(
                    "forsendelse {id} har ventet {} på kvittering (SvarInn varsler avsender etter 2 t)",
                    age(now_ms - since)
                ),
                what.to_owned(),
            )
        }
        AlertKind::NeedsPerson { failed, rejected } => (
            format!(
                "{} forsendelser trenger en person ({failed} feilet, {rejected} avvist av fagsystemet)",
                failed + rejected
            ),
            "åpne Feilede importer: prøv igjen, flytt tilbake til inn/, eller merk permanent med en årsak".to_owned(),
        ),
        AlertKind::StaleInn {
            count,
            threshold_ms,
        } => (
            format!(
                "{count} mapper har ligget i inn/ i mer enn {}",
                age(threshold_ms)
            ),
            "fagsystemet henter dem ikke: sjekk at importen kjører".to_owned(),
        ),
        AlertKind::Paused { by } => (
            format!("pauset av {by}"),
            "ingenting hentes eller kvitteres før noen gjenopptar".to_owned(),
        ),
        AlertKind::Svarinn {
            consecutive_failures,
            last_error,
            url,
            resolved,
        } => (
            format!("SvarInn-spørringer feilet {consecutive_failures} ganger på rad"),
            format!(
                "siste feil: {}; sjekk nettet og brannmuren mot {url} ({})",
                last_error
                    .as_ref()
                    .map_or_else(|| "ukjent".to_owned(), |e| e.masked().into_owned()),
                if resolved.is_empty() {
                    "ikke slått opp".to_owned()
                } else {
                    resolved.join(", ")
                }
            ),
        ),
        AlertKind::Certificate {
            path,
            level,
            days_left,
        } => {
            let title = match level {
                ExpiryLevel::Ok => return None,
                ExpiryLevel::ExpiresSoon => format!(
                    "sertifikatet {path} utløper om {} dager",
                    days_left.unwrap_or(0)
                ),
                ExpiryLevel::Expired => format!("sertifikatet {path} er utløpt"),
                ExpiryLevel::Unreadable => format!("sertifikatet {path} kan ikke leses"),
            };
            (
                title,
                "lag ny nøkkel og nytt sertifikat (mottak-agent keygen), last det opp under Tjeneste i SvarInn, og legg begge i konfigurasjonen".to_owned(),
            )
        }
        AlertKind::DropFolder { path, error } => (
            format!("leveringsmappen {path} kan ikke brukes"),
            error.as_ref().map_or_else(
                || "sjekk rettighetene".to_owned(),
                |e| e.masked().into_owned(),
            ),
        ),
        AlertKind::DiskLow { path, free_bytes } => (
            format!(
                "bare {} MiB ledig i leveringsmappen {path}",
                free_bytes / (1 << 20)
            ),
            "frigjør plass, ellers kan neste store forsendelse ikke leveres".to_owned(),
        ),
        AlertKind::DiskFloor {
            path,
            free_bytes,
            min_free_bytes,
        } => (
            format!(
                "nedlastinger venter: bare {} MiB ledig i leveringsmappen {path}, under min_free_space ({} MiB)",
                free_bytes / (1 << 20),
                min_free_bytes / (1 << 20)
            ),
            "frigjør plass på det filsystemet; forsendelsene som venter, lastes ned innen et minutt etterpå, ingenting går tapt".to_owned(),
        ),
        AlertKind::Coverage { can_act } => {
            let who = if can_act.is_empty() {
                "ingen".to_owned()
            } else {
                can_act.join(", ")
            };
            (
                format!("færre enn to kan handle på feil (kan handle: {who})"),
                "en admin kan gi operatør-rollen i konsollen eller med mottak-agent access grant"
                    .to_owned(),
            )
        }
        AlertKind::OutboundSetup { error } => (
            format!("{m}: saksoppdateringer kan ikke sendes til Fiks"),
            format!(
                "utgående kan ikke starte: {}; rett det, så prøver agenten igjen selv (mottak-agent check-config hjelper)",
                error.masked()
            ),
        ),
        AlertKind::OutboundFailed { count } => (
            format!(
                "{m}: {count} saksoppdatering{} ble ikke sendt (ut-feilet/)",
                plural(count, "", "er")
            ),
            "hver har en feil.txt som nevner problemene; la fagsystemet skrive saken på nytt, eller prøv igjen eller forkast her".to_owned(),
        ),
        AlertKind::OutboundUnmoved {
            count,
            update_id,
            to,
            error,
        } => (
            format!(
                "{m}: {count} ferdig{} saksoppdatering{} ikke levert tilbake til fagsystemet",
                plural(count, "", "e"),
                plural(count, "", "er")
            ),
            format!(
                "flytting av {} til {to}/ feiler: {}; fagsystemet ser utfallet (kvittering.json eller feil.txt) først når den er flyttet. Sjekk mappen: den må finnes og være skrivbar for agenten, med ledig plass. Agenten prøver igjen hvert sekund",
                update_id.shown(),
                error.masked()
            ),
        ),
        AlertKind::OutboundIgnored { count, first } => {
            let shown: Vec<String> = first
                .iter()
                .map(|i| format!("ut/{}", i.name.masked()))
                .collect();
            let more = count.saturating_sub(shown.len() as u64);
            (
                format!(
                    "{m}: {count} oppføring{} i ut/ er ikke mapper og blir latt være",
                    plural(count, "", "er")
                ),
                format!(
                    "{}{}: lenker, FIFO-er og lignende følges aldri og sendes ikke. Noen med fagsystemets konto har lagt dem der; spør eieren av fagsystemet hva de er",
                    shown.join(", "),
                    if more > 0 {
                        format!(" og {more} til")
                    } else {
                        String::new()
                    }
                ),
            )
        }
        AlertKind::OutboundStuck { last_error } => {
            let why = last_error.as_ref().map_or_else(
                || "se køens siste feil".to_owned(),
                |e| e.masked().into_owned(),
            );
            (
                format!("{m}: saksoppdateringer har ventet mer enn 15 minutter på Fiks"),
                format!("søkerne ser ikke status for saken sin på nav.no; siste feil: {why}"),
            )
        }
        AlertKind::FiksIoDown {
            amqp_url,
            last_error,
        } => (
            format!("{m}: ingen forbindelse til Fiks IO"),
            format!(
                "søknader venter hos Fiks, som sender dem med SvarInn i stedet når de har ventet for lenge (ingenting går tapt); siste feil: {}; sjekk nettet mot {amqp_url}, IntegrasjonPassord og Maskinporten (mottak-agent doctor)",
                last_error
                    .as_ref()
                    .map_or_else(|| "ingen ennå".to_owned(), |e| e.masked().into_owned())
            ),
        ),
        AlertKind::FiksIoReceipts {
            failing,
            last_error,
        } => (
            format!(
                "{m}: {failing} kvittering{} til Fiks IO kan ikke sendes",
                plural(u64::from(failing), "", "er")
            ),
            format!(
                "søknadene ligger i inn/, men uten kvittering sender Fiks dem på nytt med SvarInn (Mottak leverer dem ikke to ganger); siste feil: {}; agenten fortsetter å prøve",
                last_error
                    .as_ref()
                    .map_or_else(|| "ukjent".to_owned(), |e| e.masked().into_owned())
            ),
        ),
        AlertKind::FiksIoFailed { count } => (
            format!(
                "{m}: {count} melding{} fra Fiks IO kunne ikke leveres",
                plural(u64::from(count), "", "er")
            ),
            "de kunne ikke dekrypteres, eller manifestet stemte ikke; de er tatt vare på (kryptert, i tilstandsmappen) og ingen kvittering er sendt, så Fiks sender dem med SvarInn, der Mottak leverer dem. Sjekk at private_keys i [mottakersystem.fiks_io] stemmer med nøkkelen som er lastet opp til Fiks IO-kontoen".to_owned(),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mottak_protocol::console::{IgnoredEntry, Severity, Text};

    fn alert(kind: Option<AlertKind>) -> Alert {
        Alert {
            key: "some-key/nav-frogn".into(),
            severity: Severity::Warning,
            mottakersystem: Some("nav-frogn".into()),
            about: kind,
            title: Text::from("the agent's English title"),
            detail: Text::from("the agent's English detail"),
            since: None,
        }
    }

    fn nb_of(kind: AlertKind, now_ms: i64) -> (String, String) {
        localized(&alert(Some(kind)), now_ms, Lang::Nb)
    }

    #[test]
    fn bokmal_is_written_from_the_kinds_data() {
        let (t, d) = nb_of(
            AlertKind::NeedsPerson {
                failed: 2,
                rejected: 1,
            },
            0,
        );
        assert_eq!(
            t,
            "3 forsendelser trenger en person (2 feilet, 1 avvist av fagsystemet)"
        );
        assert!(d.starts_with("åpne Feilede importer"), "{d}");
        let (t, _) = nb_of(
            AlertKind::Unacknowledged {
                id: "aaaa".into(),
                state: ForsendelseState::Delivered,
                since: 0,
            },
            2 * 3_600_000 + 5 * 60_000,
        );
        assert_eq!(
            t,
            "forsendelse aaaa har ventet 2h 05m på kvittering (SvarInn varsler avsender etter 2 t)"
        );
        let (t, _) = nb_of(AlertKind::OutboundFailed { count: 1 }, 0);
        assert_eq!(
            t,
            "nav-frogn: 1 saksoppdatering ble ikke sendt (ut-feilet/)"
        );
        let (t, d) = nb_of(
            AlertKind::OutboundUnmoved {
                count: 1,
                update_id: "ut.1.0.x".into(),
                to: "ut-sendt".into(),
                error: Text::from("ut-sendt is not a folder"),
            },
            0,
        );
        assert_eq!(
            t,
            "nav-frogn: 1 ferdig saksoppdatering ikke levert tilbake til fagsystemet"
        );
        assert!(
            d.starts_with("flytting av ut.1.0.x til ut-sendt/ feiler: ut-sendt is not a folder;"),
            "{d}"
        );
        let entry = IgnoredEntry {
            name: Text::from("3fa85f64-5717-4562-b3fc-abcdefabcdef"),
            reason: Text::from("ut/3fa85f64-5717-4562-b3fc-abcdefabcdef is a symbolic link"),
            since: 0,
        };
        let (t, d) = nb_of(
            AlertKind::OutboundIgnored {
                count: 7,
                first: vec![entry],
            },
            0,
        );
        assert_eq!(
            t,
            "nav-frogn: 7 oppføringer i ut/ er ikke mapper og blir latt være"
        );
        assert!(
            d.starts_with("ut/3fa85f64-5717-4562-b3fc-abcdefabcdef og 6 til: lenker"),
            "{d}"
        );
    }

    #[test]
    fn outside_text_in_a_kind_is_shown_masked() {
        let (_, d) = nb_of(
            AlertKind::DropFolder {
                path: "/srv/x".into(),
                error: Some(Text::from("cannot open 01017012343")),
            },
            0,
        );
        assert!(!d.contains("01017012343"), "{d}");
        assert!(d.starts_with("cannot open "), "{d}");
    }

    #[test]
    fn english_and_unknown_kinds_show_the_agents_words() {
        let kind = AlertKind::NeedsPerson {
            failed: 1,
            rejected: 0,
        };
        let en = localized(&alert(Some(kind)), 0, Lang::En);
        assert_eq!(en.0, "the agent's English title");
        // No kind (an older or newer agent), or no mottakersystem: the agent's words.
        let mut no_system = alert(Some(AlertKind::Paused { by: "kari".into() }));
        no_system.mottakersystem = None;
        for a in [alert(None), no_system] {
            assert_eq!(
                localized(&a, 0, Lang::Nb),
                (
                    "the agent's English title".to_owned(),
                    "the agent's English detail".to_owned()
                )
            );
        }
    }
}
