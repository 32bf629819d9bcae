//! The agent's alerts in the reader's language.
//!
//! The agent writes each alert's title and detail in English, under a key
//! whose prefix is stable while the condition lasts (`needs-person/<m>`,
//! `certificate/<m>/<path>`, `outbound-failed/<m>`, ... — see
//! `agent/src/console_api/state.rs` and `agent/src/outbound/console.rs`).
//! In bokmål the console writes the known ones itself, from the same state
//! the agent used; an unknown key, or one whose data is not in the state,
//! shows the agent's own text. Free text from outside (an error, a path)
//! is shown as the agent sent it (masked).

use mottak_protocol::console::{Alert, ConsoleState, ExpiryLevel, ForsendelseState, OutboundState};

use crate::app::queue_count;
use crate::human::age;
use crate::i18n::Lang;
use crate::outbound;

/// The alert's (title, detail) in `lang`.
pub fn localized(alert: &Alert, state: &ConsoleState, now_ms: i64, lang: Lang) -> (String, String) {
    let agent = || {
        (
            alert.title.masked().into_owned(),
            alert.detail.masked().into_owned(),
        )
    };
    match lang {
        Lang::En => agent(),
        Lang::Nb => nb(alert, state, now_ms).unwrap_or_else(agent),
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

/// The key's kind (`needs-person`) and the mottakersystem part after it.
fn split_key(key: &str) -> Option<(&str, &str)> {
    key.split_once('/')
}

fn nb(alert: &Alert, state: &ConsoleState, now_ms: i64) -> Option<(String, String)> {
    let (kind, rest) = split_key(&alert.key)?;
    // Every known key names its mottakersystem first.
    let m = alert.mottakersystem.as_deref()?;
    let queue = || state.queues.iter().find(|q| q.mottakersystem == m);
    let integration = || state.integrations.iter().find(|i| i.mottakersystem == m);
    let out = || state.outbound.iter().find(|o| o.mottakersystem == m);
    let same_system = rest == m || rest.starts_with(&format!("{m}/"));
    if !same_system {
        return None;
    }
    Some(match kind {
        "unacknowledged" => {
            let o = queue()?.oldest_unacknowledged.as_ref()?;
            let what = match o.state {
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
                    "forsendelse {} har ventet {} på kvittering (SvarInn varsler avsender etter 2 t)",
                    o.id,
                    age(now_ms - o.since)
                ),
                what.to_owned(),
            )
        }
        "needs-person" => {
            let q = queue()?;
            let (failed, rejected) = (
                queue_count(q, ForsendelseState::Failed),
                queue_count(q, ForsendelseState::Rejected),
            );
            (
                format!(
                    "{} forsendelser trenger en person ({failed} feilet, {rejected} avvist av fagsystemet)",
                    failed + rejected
                ),
                "åpne Feilede importer: prøv igjen, flytt tilbake til inn/, eller merk permanent med en årsak".to_owned(),
            )
        }
        "stale-inn" => {
            let s = &queue()?.stale_in_inn;
            (
                format!(
                    "{} mapper har ligget i inn/ i mer enn {}",
                    s.count,
                    age(s.threshold_ms)
                ),
                "fagsystemet henter dem ikke: sjekk at importen kjører".to_owned(),
            )
        }
        "paused" => {
            let p = queue()?.paused.as_ref()?;
            (
                format!("pauset av {}", p.by),
                "ingenting hentes eller kvitteres før noen gjenopptar".to_owned(),
            )
        }
        "svarinn" => {
            let l = &integration()?.svarinn;
            (
                format!(
                    "SvarInn-spørringer feilet {} ganger på rad",
                    l.consecutive_failures
                ),
                format!(
                    "siste feil: {}; sjekk nettet og brannmuren mot {} ({})",
                    l.last_error
                        .as_ref()
                        .map_or_else(|| "ukjent".to_owned(), |e| e.masked().into_owned()),
                    l.url,
                    if l.resolved.is_empty() {
                        "ikke slått opp".to_owned()
                    } else {
                        l.resolved.join(", ")
                    }
                ),
            )
        }
        "certificate" => {
            let path = rest.strip_prefix(m)?.strip_prefix('/')?;
            let c = integration()?
                .certificates
                .iter()
                .find(|c| c.path == path)?;
            let title = match c.level {
                ExpiryLevel::Ok => return None,
                ExpiryLevel::ExpiresSoon => format!(
                    "sertifikatet {path} utløper om {} dager",
                    c.days_left.unwrap_or(0)
                ),
                ExpiryLevel::Expired => format!("sertifikatet {path} er utløpt"),
                ExpiryLevel::Unreadable => format!("sertifikatet {path} kan ikke leses"),
            };
            (
                title,
                "lag ny nøkkel og nytt sertifikat (mottak-agent keygen), last det opp under Tjeneste i SvarInn, og legg begge i konfigurasjonen".to_owned(),
            )
        }
        "drop-folder" => {
            let d = &integration()?.drop_folder;
            (
                format!("leveringsmappen {} kan ikke brukes", d.path),
                d.error.as_ref().map_or_else(
                    || "sjekk rettighetene".to_owned(),
                    |e| e.masked().into_owned(),
                ),
            )
        }
        "disk" => {
            let d = &integration()?.drop_folder;
            (
                format!(
                    "bare {} MiB ledig i leveringsmappen {}",
                    d.free_bytes? / (1 << 20),
                    d.path
                ),
                "frigjør plass, ellers kan neste store forsendelse ikke leveres".to_owned(),
            )
        }
        "disk-floor" => {
            let d = &integration()?.drop_folder;
            (
                format!(
                    "nedlastinger venter: bare {} MiB ledig i leveringsmappen {}, under min_free_space ({} MiB)",
                    d.free_bytes? / (1 << 20),
                    d.path,
                    d.min_free_bytes? / (1 << 20)
                ),
                "frigjør plass på det filsystemet; forsendelsene som venter, lastes ned innen et minutt etterpå, ingenting går tapt".to_owned(),
            )
        }
        "coverage" => {
            let c = state
                .access
                .coverage
                .iter()
                .find(|c| c.mottakersystem == m)?;
            let who = if c.can_act.is_empty() {
                "ingen".to_owned()
            } else {
                c.can_act.join(", ")
            };
            (
                format!("færre enn to kan handle på feil (kan handle: {who})"),
                "en admin kan gi operatør-rollen i konsollen eller med mottak-agent access grant"
                    .to_owned(),
            )
        }
        "outbound-setup" => {
            let e = out()?.setup_error.as_ref()?;
            (
                format!("{m}: saksoppdateringer kan ikke sendes til Fiks"),
                format!(
                    "utgående kan ikke starte: {}; rett det, så prøver agenten igjen selv (mottak-agent check-config hjelper)",
                    e.masked()
                ),
            )
        }
        "outbound-failed" => {
            let n = outbound::count(out()?, OutboundState::Failed);
            (
                format!(
                    "{m}: {n} saksoppdatering{} ble ikke sendt (ut-feilet/)",
                    if n == 1 { "" } else { "er" }
                ),
                "hver har en feil.txt som nevner problemene; la fagsystemet skrive saken på nytt, eller prøv igjen eller forkast her".to_owned(),
            )
        }
        "outbound-unmoved" => {
            let o = out()?;
            let first = o.unmoved.first()?;
            let n = o.unmoved.len();
            (
                format!(
                    "{m}: {n} ferdig{} saksoppdatering{} ikke levert tilbake til fagsystemet",
                    if n == 1 { "" } else { "e" },
                    if n == 1 { "" } else { "er" }
                ),
                format!(
                    "flytting av {} til {}/ feiler: {}; fagsystemet ser utfallet (kvittering.json eller feil.txt) først når den er flyttet. Sjekk mappen: den må finnes og være skrivbar for agenten, med ledig plass. Agenten prøver igjen hvert sekund",
                    first.update_id,
                    first.to,
                    first.error.masked()
                ),
            )
        }
        "outbound-ignored" => {
            let o = out()?;
            let n = o.ignored.len();
            if n == 0 {
                return None;
            }
            let names: Vec<String> = o
                .ignored
                .iter()
                .take(5)
                .map(|i| format!("ut/{}", i.name.masked()))
                .collect();
            (
                format!(
                    "{m}: {n} oppføring{} i ut/ er ikke mapper og blir latt være",
                    if n == 1 { "" } else { "er" }
                ),
                format!(
                    "{}{}: lenker, FIFO-er og lignende følges aldri og sendes ikke. Noen med fagsystemets konto har lagt dem der; spør eieren av fagsystemet hva de er",
                    names.join(", "),
                    if n > 5 {
                        format!(" og {} til", n - 5)
                    } else {
                        String::new()
                    }
                ),
            )
        }
        "outbound-stuck" => {
            let o = out()?;
            let why = o
                .fiks
                .last_error
                .as_ref()
                .or(o.maskinporten.last_error.as_ref())
                .map_or_else(
                    || "se køens siste feil".to_owned(),
                    |e| e.masked().into_owned(),
                );
            (
                format!("{m}: saksoppdateringer har ventet mer enn 15 minutter på Fiks"),
                format!("søkerne ser ikke status for saken sin på nav.no; siste feil: {why}"),
            )
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mottak_protocol::console::{
        IgnoredEntry, OutboundStatus, QueueHealth, Severity, Text, UnmovedUpdate,
    };

    fn alert(key: &str, m: &str) -> Alert {
        Alert {
            key: key.into(),
            severity: Severity::Warning,
            mottakersystem: Some(m.into()),
            title: Text::from("the agent's English title"),
            detail: Text::from("the agent's English detail"),
            since: None,
        }
    }

    #[test]
    fn known_keys_are_bokmal_unknown_ones_the_agents_words() {
        let mut q = QueueHealth {
            mottakersystem: "nav-frogn".into(),
            ..QueueHealth::default()
        };
        q.counts.insert(ForsendelseState::Failed, 2);
        q.counts.insert(ForsendelseState::Rejected, 1);
        let mut o = OutboundStatus {
            mottakersystem: "nav-frogn".into(),
            ..OutboundStatus::default()
        };
        o.counts.insert(OutboundState::Failed, 1);
        o.unmoved.push(UnmovedUpdate {
            update_id: "ut.1.0.x".into(),
            to: "ut-sendt".into(),
            error: Text::from("ut-sendt is not a folder"),
            since: 0,
        });
        o.ignored.push(IgnoredEntry {
            name: Text::from("3fa85f64-5717-4562-b3fc-abcdefabcdef"),
            reason: Text::from("ut/3fa85f64-5717-4562-b3fc-abcdefabcdef is a symbolic link"),
            since: 0,
        });
        let state = ConsoleState {
            queues: vec![q],
            outbound: vec![o],
            ..ConsoleState::default()
        };
        let (t, d) = localized(
            &alert("needs-person/nav-frogn", "nav-frogn"),
            &state,
            0,
            Lang::Nb,
        );
        assert_eq!(
            t,
            "3 forsendelser trenger en person (2 feilet, 1 avvist av fagsystemet)"
        );
        assert!(d.starts_with("åpne Feilede importer"), "{d}");
        let (t, _) = localized(
            &alert("outbound-failed/nav-frogn", "nav-frogn"),
            &state,
            0,
            Lang::Nb,
        );
        assert_eq!(
            t,
            "nav-frogn: 1 saksoppdatering ble ikke sendt (ut-feilet/)"
        );
        let (t, d) = localized(
            &alert("outbound-unmoved/nav-frogn", "nav-frogn"),
            &state,
            0,
            Lang::Nb,
        );
        assert_eq!(
            t,
            "nav-frogn: 1 ferdig saksoppdatering ikke levert tilbake til fagsystemet"
        );
        assert!(
            d.starts_with("flytting av ut.1.0.x til ut-sendt/ feiler: ut-sendt is not a folder;"),
            "{d}"
        );
        let (t, d) = localized(
            &alert("outbound-ignored/nav-frogn", "nav-frogn"),
            &state,
            0,
            Lang::Nb,
        );
        assert_eq!(
            t,
            "nav-frogn: 1 oppføring i ut/ er ikke mapper og blir latt være"
        );
        assert!(
            d.starts_with("ut/3fa85f64-5717-4562-b3fc-abcdefabcdef: lenker"),
            "{d}"
        );
        // English: the agent's own words.
        let (t, _) = localized(
            &alert("needs-person/nav-frogn", "nav-frogn"),
            &state,
            0,
            Lang::En,
        );
        assert_eq!(t, "the agent's English title");
        // An unknown key, a key for another system, or missing data: the agent's words.
        for a in [
            alert("something-new/nav-frogn", "nav-frogn"),
            alert("needs-person/other", "nav-frogn"),
            alert("paused/nav-frogn", "nav-frogn"),
            alert("needs-person/barnevern", "barnevern"),
            alert("no-slash", "nav-frogn"),
        ] {
            let (t, d) = localized(&a, &state, 0, Lang::Nb);
            assert_eq!(
                (t.as_str(), d.as_str()),
                ("the agent's English title", "the agent's English detail"),
                "{}",
                a.key
            );
        }
    }
}
