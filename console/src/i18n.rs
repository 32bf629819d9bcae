//! Every word the console shows, in Norwegian bokmål and English.
//!
//! The language comes from `--lang`, else from `LC_ALL`, `LC_MESSAGES` and
//! `LANG` (in that order, as POSIX reads them): `nb`, `no` and `nn` give
//! bokmål, anything else English. Texts with `{}` are filled by [`fill`].

use std::fmt;

/// The console's languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Lang {
    /// Norsk bokmål.
    Nb,
    /// English.
    En,
}

impl Lang {
    /// The language the environment asks for (`LC_ALL`, `LC_MESSAGES`, `LANG`).
    pub fn from_env() -> Lang {
        Lang::from_vars(|name| std::env::var(name).ok())
    }

    /// [`Lang::from_env`] with the variables given by `get` (for tests).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Lang {
        for name in ["LC_ALL", "LC_MESSAGES", "LANG"] {
            if let Some(v) = get(name).filter(|v| !v.is_empty()) {
                return Lang::from_locale(&v);
            }
        }
        Lang::En
    }

    /// `nb_NO.UTF-8` → bokmål; `en_US`, `C`, `POSIX` → English.
    pub fn from_locale(locale: &str) -> Lang {
        let l = locale.to_ascii_lowercase();
        if l.starts_with("nb") || l.starts_with("no") || l.starts_with("nn") {
            Lang::Nb
        } else {
            Lang::En
        }
    }

    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::Nb => &NB,
            Lang::En => &EN,
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Lang::Nb => "nb",
            Lang::En => "en",
        })
    }
}

/// Replaces each `{}` in `template` with the next argument.
pub fn fill(template: &str, args: &[&dyn fmt::Display]) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    let mut args = args.iter();
    while let Some(pos) = rest.find("{}") {
        out.push_str(&rest[..pos]);
        match args.next() {
            Some(a) => out.push_str(&a.to_string()),
            None => out.push_str("{}"),
        }
        rest = &rest[pos + 2..];
    }
    out.push_str(rest);
    out
}

macro_rules! texts {
    ($($name:ident: $en:expr, $nb:expr;)*) => {
        /// One language's texts; see [`EN`] and [`NB`].
        #[derive(Debug)]
        pub struct Texts { $(pub $name: &'static str,)* }
        /// English.
        pub static EN: Texts = Texts { $($name: $en,)* };
        /// Norsk bokmål.
        pub static NB: Texts = Texts { $($name: $nb,)* };
    };
}

texts! {
    // connection
    connecting: "connecting", "kobler til";
    connecting_attempt: "connecting (attempt {})", "kobler til (forsøk {})";
    connected: "connected", "tilkoblet";
    lost_retrying: "lost — retrying in {} s", "brudd — prøver igjen om {} s";
    resyncing: "resynchronising", "synkroniserer";
    stale: "STALE", "FORELDET";
    read_only: "READ-ONLY", "KUN LESE";
    waiting_for_agent: "Waiting for the agent at {} …", "Venter på agenten på {} …";
    last_error: "Last error: {}", "Siste feil: {}";
    // views
    view_overview: "Overview", "Oversikt";
    view_failed: "Failed imports", "Feilede importer";
    view_integrations: "Integrations", "Integrasjoner";
    view_outbound: "Outbound to Fiks Digisos", "Utgående til Fiks Digisos";
    view_access: "Access", "Tilgang";
    view_audit: "Audit log", "Revisjonslogg";
    tab_overview: "Overview", "Oversikt";
    tab_failed: "Failed", "Feilet";
    tab_integrations: "Integrations", "Integrasjoner";
    tab_outbound: "Outbound", "Utgående";
    tab_access: "Access", "Tilgang";
    tab_audit: "Audit", "Logg";
    // overview
    queues: "Queues", "Køer";
    col_system: "mottakersystem", "mottakersystem";
    col_system_short: "system", "system";
    col_in_progress: "moving", "i gang";
    col_in_inn: "in inn/", "i inn/";
    col_failed: "failed", "feilet";
    col_rejected: "rejected", "avvist";
    col_retry: "retry", "venter";
    col_oldest: "oldest unacked", "eldste ukvittert";
    col_last_hour: "last hour", "siste time";
    over_two_hours: "OVER 2h", "OVER 2 t";
    left_before_line: "{} left", "{} igjen";
    none: "none", "ingen";
    paused_by: "PAUSED by {}", "PAUSET av {}";
    alerts: "Alerts, worst first", "Varsler, verste først";
    more_alerts: "… and {} more (a taller window shows them; mottak status lists all)", "… og {} til (et høyere vindu viser dem; mottak status viser alle)";
    no_alerts: "No alerts: everything looks fine.", "Ingen varsler: alt ser bra ut.";
    no_data: "No data yet.", "Ingen data ennå.";
    sev_critical: "CRITICAL", "KRITISK";
    sev_warning: "WARNING", "ADVARSEL";
    sev_info: "INFO", "INFO";
    sev_ok: "OK", "OK";
    // failed imports
    col_id: "id", "id";
    col_state: "state", "tilstand";
    col_tittel: "tittel", "tittel";
    col_avsender: "avsender", "avsender";
    col_age: "age", "alder";
    col_attempts: "att", "fors";
    col_error: "last error", "siste feil";
    st_failed: "failed", "feilet";
    st_rejected: "rejected", "avvist";
    st_retry: "retry", "venter";
    st_other: "other", "annet";
    shown_of_total: "{} shown of {}", "{} vist av {}";
    capped_note: "the agent sends the oldest {} of {}", "agenten sender de eldste {} av {}";
    marked_n: "{} marked", "{} merket";
    sorted_by: "sort: {}", "sortering: {}";
    filter_label: "filter: {}", "filter: {}";
    no_failed: "No failed imports.", "Ingen feilede importer.";
    no_match: "Nothing matches the filter.", "Ingenting passer filteret.";
    detail: "Details", "Detaljer";
    d_mottakersystem: "mottakersystem", "mottakersystem";
    d_id: "id", "id";
    d_state: "state", "tilstand";
    d_tittel: "tittel", "tittel";
    d_avsender: "avsender", "avsender";
    d_type: "type", "type";
    d_sent: "sent", "sendt";
    d_size: "size", "størrelse";
    d_first_seen: "first seen", "først sett";
    d_attempts: "attempts", "forsøk";
    d_content_failures: "content failures", "innholdsfeil";
    d_last_error: "last error", "siste feil";
    d_reason: "reason / feil.txt", "årsak / feil.txt";
    d_next_attempt: "next attempt", "neste forsøk";
    d_reported: "reported to SvarInn", "meldt til SvarInn";
    d_history: "History", "Historikk";
    yes: "yes", "ja";
    no: "no", "nei";
    what_to_do: "What to do", "Hva du gjør";
    todo_failed: "The file could not be decrypted or verified. Retry once the sender or the key is fixed; give up with mark permanent.", "Filen kunne ikke dekrypteres eller kontrolleres. Prøv igjen når avsender eller nøkkel er rettet; gi opp med merk permanent.";
    todo_rejected: "The fagsystem rejected it (see feil.txt). Fix the cause, then move it back to inn/; or mark it permanent.", "Fagsystemet avviste den (se feil.txt). Rett årsaken og flytt den tilbake til inn/; eller merk den permanent.";
    todo_retry_wait: "The agent retries by itself. Retry now to skip the wait.", "Agenten prøver igjen selv. Prøv nå for å slippe ventetiden.";
    // integrations
    svarinn: "SvarInn", "SvarInn";
    certificates: "Certificates", "Sertifikater";
    drop_folder: "Drop folder", "Leveringsmappe";
    last_success: "last success {}", "siste vellykkede {}";
    never: "never", "aldri";
    failures_in_row: "{} failures in a row", "{} feil på rad";
    latency: "latency {} ms", "svartid {} ms";
    resolves_to: "resolves to {}", "peker til {}";
    days_left: "{} days left", "{} dager igjen";
    expired_days_ago: "expired {} days ago", "utløpt for {} dager siden";
    unreadable: "unreadable", "kan ikke leses";
    writable: "writable", "skrivbar";
    not_writable: "NOT writable", "IKKE skrivbar";
    free_space: "{} free of {}", "{} ledig av {}";
    todo_svarinn: "SvarInn does not answer: check the network path to {} (firewall, DNS, proxy) and the password.", "SvarInn svarer ikke: sjekk nettveien til {} (brannmur, DNS, proxy) og passordet.";
    todo_cert_soon: "Make a new key (mottak-agent keygen), upload the certificate in SvarInn's Service tab, and add it to the config beside the old one.", "Lag en ny nøkkel (mottak-agent keygen), last opp sertifikatet under Tjeneste i SvarInn, og legg den i konfigurasjonen ved siden av den gamle.";
    todo_cert_unreadable: "The agent cannot read this certificate: check the path and its permissions.", "Agenten kan ikke lese sertifikatet: sjekk stien og rettighetene.";
    todo_drop: "The agent cannot write here: check the mount, the owner and the free space.", "Agenten kan ikke skrive her: sjekk monteringen, eieren og ledig plass.";
    todo_stale_inn: "{} folders sit in inn/ longer than expected: is the fagsystem importing?", "{} mapper har ligget i inn/ lenger enn ventet: importerer fagsystemet?";
    all_well: "All well.", "Alt i orden.";
    no_certificates: "no certificates configured", "ingen sertifikater konfigurert";
    // the Fiks IO link
    fiks_io: "Fiks IO", "Fiks IO";
    fio_konto: "konto {}", "konto {}";
    fio_connected: "connected {}", "tilkoblet i {}";
    fio_down: "down {}", "nede i {}";
    fio_never_connected: "not connected yet", "ikke tilkoblet ennå";
    fio_last_message: "last message {} ago", "siste melding for {} siden";
    fio_no_message: "no message yet", "ingen melding ennå";
    fio_waiting: "waiting at Fiks {} (read {} ago)", "venter hos Fiks {} (lest for {} siden)";
    fio_unacked: "unacked here {}", "ubekreftet her {}";
    fio_delivered: "delivered {}", "levert {}";
    fio_receipts: "receipts owed {} ({} failing)", "kvitteringer skyldig {} ({} feiler)";
    fio_failed: "{} kept as failed", "{} holdt tilbake som feilet";
    todo_fiks_io_down: "Fiks IO does not take the connection: check the network to {}, the IntegrasjonPassord and Maskinporten (mottak-agent doctor). Fiks sends what waits by SvarInn meanwhile.", "Fiks IO tar ikke imot forbindelsen: sjekk nettet mot {}, IntegrasjonPassord og Maskinporten (mottak-agent doctor). Fiks sender det som venter med SvarInn i mellomtiden.";
    todo_fiks_io_receipts: "Receipts to {} fail: without them Fiks sends the søknader again by SvarInn (Mottak delivers them once). The agent keeps trying.", "Kvitteringer til {} feiler: uten dem sender Fiks søknadene på nytt med SvarInn (Mottak leverer dem én gang). Agenten fortsetter å prøve.";
    todo_fiks_io_failed: "Messages that could not be decrypted or verified are kept, unanswered, so Fiks sends them by SvarInn: check that private_keys matches the key uploaded to the Fiks IO konto.", "Meldinger som ikke kunne dekrypteres eller kontrolleres er tatt vare på, uten kvittering, så Fiks sender dem med SvarInn: sjekk at private_keys stemmer med nøkkelen som er lastet opp til Fiks IO-kontoen.";
    // channels (every pipeline, whatever it carries)
    channels: "Channels", "Kanaler";
    channel_inbound: "SvarInn → inn/", "SvarInn → inn/";
    channel_outbound: "ut/ → Fiks Digisos", "ut/ → Fiks Digisos";
    channel_fiks_io: "Fiks IO → inn/", "Fiks IO → inn/";
    channel_running: "running", "kjører";
    channel_paused: "paused", "pauset";
    channel_starting: "starting", "starter";
    channel_cannot_start: "cannot start ({} attempts)", "kan ikke starte ({} forsøk)";
    todo_channel_setup: "The {} channel cannot start: fix what the error names (mottak-agent check-config helps); the agent tries again by itself.", "Kanalen {} kan ikke starte: rett det feilen nevner (mottak-agent check-config hjelper); agenten prøver igjen selv.";
    // innsendinger that came by both channels (Fiks IO and SvarInn), delivered once
    dup_title: "Both channels", "Begge kanaler";
    dup_count: "{} innsendinger came by both, delivered once; the latest:", "{} innsendinger kom på begge, levert én gang; den siste:";
    dup_svarinn: "SvarInn forsendelse", "SvarInn-forsendelse";
    dup_fiks_io: "Fiks IO melding", "Fiks IO-melding";
    doctor: "Pre-flight", "Forhåndssjekk";
    doctor_at: "{} ({} ago)", "{} (for {} siden)";
    doctor_passed: "all {} checks passed", "alle {} sjekker bestått";
    doctor_failed: "{} failed, {} passed", "{} feilet, {} bestått";
    doctor_config_errors: "{} config errors", "{} feil i konfigurasjonen";
    doctor_never: "never run: run `mottak-agent doctor` before go-live", "aldri kjørt: kjør `mottak-agent doctor` før produksjon";
    doctor_more: "… and {} more: run `mottak-agent doctor` to see them all", "… og {} til: kjør `mottak-agent doctor` for å se alle";
    // access
    coverage: "Who can act on failed imports", "Hvem kan handle på feilede importer";
    grants: "Roles", "Roller";
    members: "Group members", "Gruppemedlemmer";
    col_principal: "who", "hvem";
    col_role: "role", "rolle";
    col_scope: "scope", "omfang";
    col_user: "user", "bruker";
    col_group: "group", "gruppe";
    col_source: "source", "kilde";
    scope_all: "all", "alle";
    src_access_list: "access list", "tilgangsliste";
    src_unix: "unix group", "unix-gruppe";
    can_act: "can act: {}", "kan handle: {}";
    fewer_than_two: "fewer than two can act", "færre enn to kan handle";
    no_access_rows: "No grants.", "Ingen tildelinger.";
    // audit
    col_time: "time", "tid";
    col_who: "who", "hvem";
    col_action: "action", "handling";
    col_target: "target", "mål";
    col_outcome: "outcome", "utfall";
    no_audit: "No audit entries (admins only).", "Ingen revisjonslinjer (bare for admin).";
    // dialogs
    confirm_title: "Confirm", "Bekreft";
    cancel: "Cancel", "Avbryt";
    ok: "OK", "OK";
    confirm_hint: "←/→ choose · Enter · y yes · Esc cancel", "←/→ velg · Enter · y ja · Esc avbryt";
    ask_retry: "Retry {} forsendelse(r)?", "Prøve {} forsendelse(r) på nytt?";
    ask_move_to_inn: "Move {} forsendelse(r) from feilet/ back to inn/?", "Flytte {} forsendelse(r) fra feilet/ tilbake til inn/?";
    ask_mark_permanent: "Mark {} forsendelse(r) as permanently failed? SvarInn is told (mottakFeilet permanent) and the sender must send again. This cannot be undone.", "Merke {} forsendelse(r) som permanent feilet? SvarInn får beskjed (mottakFeilet permanent) og avsender må sende på nytt. Dette kan ikke angres.";
    ask_pause: "Pause {}? Nothing is fetched until someone resumes it.", "Pause {}? Ingenting hentes før noen gjenopptar.";
    ask_resume: "Resume {}?", "Gjenoppta {}?";
    ask_poll: "Poll SvarInn now for {}?", "Spørre SvarInn nå for {}?";
    ask_grant: "Give {} the role {} over {}?", "Gi {} rollen {} over {}?";
    ask_revoke: "Take the role {} over {} from {}?", "Ta rollen {} over {} fra {}?";
    ask_add_member: "Put user {} in group {}?", "Legge bruker {} i gruppe {}?";
    ask_remove_member: "Take user {} out of group {}?", "Ta bruker {} ut av gruppe {}?";
    reason_prompt: "Reason (required, shown to SvarInn and in the audit log):", "Årsak (påkrevd, sendes til SvarInn og revisjonsloggen):";
    reason_empty: "A reason is required.", "Årsak er påkrevd.";
    typed_prompt: "Type {} to confirm:", "Skriv {} for å bekrefte:";
    typed_mismatch: "That is not {}. Esc cancels.", "Det er ikke {}. Esc avbryter.";
    typed_word: "permanent", "permanent";
    grant_prompt: "Add a role: user|group NAME viewer|operator|admin SCOPE (* or a mottakersystem)", "Ny rolle: user|group NAVN viewer|operator|admin OMFANG (* eller et mottakersystem)";
    member_prompt: "Add a member: USER GROUP", "Nytt medlem: BRUKER GRUPPE";
    bad_grant: "Write it as: user kari operator nav-frogn", "Skriv slik: user kari operator nav-frogn";
    bad_member: "Write it as: kari drift", "Skriv slik: kari drift";
    // results
    sent: "Sent: {}", "Sendt: {}";
    done_ok: "{}: done", "{}: utført";
    done_n: "{} of {} done", "{} av {} utført";
    failed_first: "{} failed: {}", "{} feilet: {}";
    not_connected: "Not connected: nothing was sent.", "Ikke tilkoblet: ingenting ble sendt.";
    nothing_applies: "None of the chosen rows allows that.", "Ingen av de valgte radene tillater det.";
    not_allowed: "Your role does not allow that here.", "Rollen din tillater ikke det her.";
    cancelled: "Cancelled: nothing was done.", "Avbrutt: ingenting ble gjort.";
    agent_says: "The agent says: {}", "Agenten sier: {}";
    unknown_view: "No view called {}.", "Ingen visning heter {}.";
    // help and footer
    help_title: "Keys (j/k scroll, Esc closes)", "Taster (j/k blar, Esc lukker)";
    footer_help: "? help", "? hjelp";
    command_prompt: ":", ":";
    filter_prompt: "/", "/";
    views_hint: "views: {}", "visninger: {}";
    // key help (generated from the key map)
    k_quit: "quit", "avslutt";
    k_help: "help", "hjelp";
    k_next_view: "next view", "neste visning";
    k_prev_view: "previous view", "forrige visning";
    k_goto_view: "jump to a view by name", "gå til visning ved navn";
    k_view_n: "view 1–6", "visning 1–6";
    k_down: "down", "ned";
    k_up: "up", "opp";
    k_top: "first row", "første rad";
    k_bottom: "last row", "siste rad";
    k_page_down: "page down", "side ned";
    k_page_up: "page up", "side opp";
    k_filter: "filter", "filter";
    k_clear: "clear filter, close", "tøm filter, lukk";
    k_sort: "sort by next column", "sorter på neste kolonne";
    k_reverse: "reverse sort", "snu sortering";
    k_mark: "mark row", "merk rad";
    k_mark_all: "mark all shown", "merk alle viste";
    k_unmark_all: "clear marks", "fjern merker";
    k_detail: "details", "detaljer";
    k_retry: "retry", "prøv igjen";
    k_move_to_inn: "move back to inn/", "flytt tilbake til inn/";
    k_mark_permanent: "mark permanent", "merk permanent";
    k_pause: "pause / resume", "pause / gjenoppta";
    k_poll_now: "poll now", "spør nå";
    k_add_grant: "add role", "ny rolle";
    k_add_member: "add member", "nytt medlem";
    k_remove: "remove", "fjern";
    k_theme: "switch theme", "bytt tema";
    k_lang: "switch language", "bytt språk";
    // headless
    h_status_ok: "OK", "OK";
    h_as_user: "as {} via {}", "som {} via {}";
    h_failed_total: "failed imports needing a person: {}", "feilede importer som trenger en person: {}";
    h_outbound_failed_total: "saksoppdateringer not sent (ut-feilet/): {}", "saksoppdateringer som ikke ble sendt (ut-feilet/): {}";
    h_outbound: "Outbound to Fiks Digisos", "Utgående til Fiks Digisos";
    // outbound
    outbound_queues: "Outbound to Fiks Digisos", "Utgående til Fiks Digisos";
    col_queued: "queued", "i kø";
    col_last_sent: "last sent", "sist sendt";
    col_fiks: "Fiks", "Fiks";
    col_maskinporten: "Maskinporten", "Maskinporten";
    col_case: "case", "sak";
    col_claimed: "age", "alder";
    fiks_digisos: "Fiks Digisos", "Fiks Digisos";
    maskinporten: "Maskinporten", "Maskinporten";
    ost_queued: "queued", "i kø";
    ost_retry: "retry", "venter";
    ost_failed: "failed", "feilet";
    ost_other: "other", "annet";
    out_summary: "{} queued · {} waiting to retry · {} failed · last sent {}", "{} i kø · {} venter på nytt forsøk · {} feilet · sist sendt {}";
    out_setup_error: "cannot start: {}", "kan ikke starte: {}";
    fiks_ok: "last answer {} ago", "siste svar for {} siden";
    fiks_error: "error {} ago: {}", "feil for {} siden: {}";
    fiks_not_yet: "not contacted yet (nothing to send since start)", "ikke kontaktet ennå (ingenting å sende siden start)";
    fiks_key: "encryption key: {}", "krypteringsnøkkel: {}";
    mp_token_valid: "token valid {} more", "token gyldig {} til";
    mp_token_old: "last token {} ago (a new one is fetched when needed)", "siste token for {} siden (nytt hentes ved behov)";
    mp_no_token: "no token yet (fetched when there is something to send)", "ingen token ennå (hentes når noe skal sendes)";
    mp_tokens: "{} tokens fetched", "{} tokener hentet";
    mp_token_one: "1 token fetched", "1 token hentet";
    mp_chain: "Virksomhetssertifikat", "Virksomhetssertifikat";
    mp_chain_days: "virksomhetssertifikat: {} days left", "virksomhetssertifikat: {} dager igjen";
    mp_chain_expired: "virksomhetssertifikat expired {} days ago", "virksomhetssertifikat utløpt for {} dager siden";
    mp_no_chain: "chain not loaded yet", "kjeden er ikke lastet ennå";
    w_ok: "OK", "OK";
    w_error: "ERROR", "FEIL";
    w_waiting: "not yet", "ikke ennå";
    w_stopped: "STOPPED", "STOPPET";
    todo_out_setup: "The outbound worker cannot start: fix what the error names (mottak-agent check-config helps); the agent tries again by itself.", "Utgående kan ikke starte: rett det feilen nevner (mottak-agent check-config hjelper); agenten prøver igjen selv.";
    todo_fiks: "Check the network path to {} (firewall, DNS, proxy), integrasjon_id and integrasjon_passord, and that the integration is approved for Fiks org {}.", "Sjekk nettveien til {} (brannmur, DNS, proxy), integrasjon_id og integrasjon_passord, og at integrasjonen er godkjent for Fiks-organisasjon {}.";
    todo_maskinporten: "Check the network path to {}, client_id, that the client has the scope ks:fiks, and that the virksomhetssertifikat is registered with it.", "Sjekk nettveien til {}, client_id, at klienten har scopet ks:fiks, og at virksomhetssertifikatet er registrert på den.";
    todo_mp_cert: "Order a new virksomhetssertifikat, register it with the Maskinporten client, and point private_key and certificate_chain at it.", "Bestill nytt virksomhetssertifikat, registrer det på Maskinporten-klienten, og pek private_key og certificate_chain til det.";
    no_outbound: "No mottakersystem sends saksoppdateringer (none has [mottakersystem.digisos]).", "Ingen mottakersystemer sender saksoppdateringer (ingen har [mottakersystem.digisos]).";
    no_outbound_items: "Nothing queued or failed: every saksoppdatering has been sent.", "Ingenting i kø eller feilet: alle saksoppdateringer er sendt.";
    d_update_id: "update id", "oppdaterings-id";
    d_case: "case (digisos id)", "sak (digisos-id)";
    d_claimed: "claimed from ut/", "hentet fra ut/";
    d_updated: "last change", "sist endret";
    d_failed_folder: "folder", "mappe";
    d_feil_txt: "feil.txt", "feil.txt";
    d_problems: "problems (feil.txt)", "problemer (feil.txt)";
    out_items_title: "Saksoppdateringer not sent yet", "Saksoppdateringer som ikke er sendt";
    todo_out_failed: "feil.txt says what is wrong. Usually the fagsystem must write the case's update again (a newer one replaces this). Retry if the cause was outside the file and is fixed (Fiks refused access); discard if it is never to be sent.", "feil.txt sier hva som er galt. Som regel må fagsystemet skrive oppdateringen for saken på nytt (en nyere erstatter denne). Prøv igjen hvis årsaken lå utenfor filen og er rettet (Fiks nektet tilgang); forkast hvis den aldri skal sendes.";
    todo_out_retry_wait: "A passing failure (network, Fiks 5xx, Maskinporten): the agent tries again by itself.", "En forbigående feil (nett, Fiks 5xx, Maskinporten): agenten prøver igjen selv.";
    todo_out_queued: "Waiting for its upload and post to Fiks.", "Venter på opplasting og innsending til Fiks.";
    ask_out_retry: "Send the saksoppdatering for case {} again? It is moved back from ut-feilet/ and checked again before it is sent.", "Sende saksoppdateringen for sak {} på nytt? Den flyttes tilbake fra ut-feilet/ og kontrolleres på nytt før den sendes.";
    ask_out_retry_n: "Send {} saksoppdateringer again? Each is moved back from ut-feilet/ and checked again before it is sent.", "Sende {} saksoppdateringer på nytt? Hver flyttes tilbake fra ut-feilet/ og kontrolleres på nytt før den sendes.";
    ask_out_discard_n: "Discard {} failed saksoppdateringer? They are never sent: the applicants do not see these updates on nav.no. Their folders stay in ut-feilet/. This cannot be undone.", "Forkaste {} feilede saksoppdateringer? De blir aldri sendt: søkerne ser ikke disse oppdateringene på nav.no. Mappene blir liggende i ut-feilet/. Dette kan ikke angres.";
    ask_out_discard: "Discard the failed saksoppdatering for case {}? It is never sent: the applicant does not see this update on nav.no. Its folder stays in ut-feilet/. This cannot be undone.", "Forkaste den feilede saksoppdateringen for sak {}? Den blir aldri sendt: søkeren ser ikke denne oppdateringen på nav.no. Mappen blir liggende i ut-feilet/. Dette kan ikke angres.";
    reason_prompt_discard: "Reason (required, kept in the audit log):", "Årsak (påkrevd, lagres i revisjonsloggen):";
    typed_word_discard: "discard", "forkast";
    out_only_failed: "Only a failed saksoppdatering can be retried or discarded; this one is handled by the agent.", "Bare en feilet saksoppdatering kan prøves på nytt eller forkastes; denne tar agenten seg av.";
    k_discard: "discard", "forkast";
    k_out_retry: "send again", "send igjen";
}
