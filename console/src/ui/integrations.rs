//! The integrations view: per mottakersystem, SvarInn, certificates, drop
//! folder, Fiks IO, Fiks Digisos and Maskinporten, and the last doctor run.

use mottak_protocol::console::{
    CertificateStatus, DoctorResult, Duplicates, ExpiryLevel, ExternalId, FIKS_IO_DOWN_CRITICAL_MS,
    FIKS_IO_RECEIPT_CRITICAL_MS, FiksIoLink, IntegrationStatus, OutboundStatus, PipelineStatus,
};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::widgets::{block, info_line};
use crate::app::{App, View, short_id};
use crate::human::{age, bytes, utc};
use crate::i18n::fill;
use crate::outbound::{self as out, LinkStatus};
use crate::theme::{Level, Theme};

fn cert_line(
    app: &App,
    theme: &Theme,
    c: &CertificateStatus,
    todo_renew: &'static str,
) -> Vec<Line<'static>> {
    let t = app.t();
    let (lv, what) = match c.level {
        ExpiryLevel::Ok => (
            Level::Ok,
            c.days_left
                .map(|d| fill(t.days_left, &[&d]))
                .unwrap_or_default(),
        ),
        ExpiryLevel::ExpiresSoon => (
            Level::Warning,
            c.days_left
                .map(|d| fill(t.days_left, &[&d]))
                .unwrap_or_default(),
        ),
        ExpiryLevel::Expired => (
            Level::Critical,
            c.days_left
                .map(|d| fill(t.expired_days_ago, &[&(-d)]))
                .unwrap_or_default(),
        ),
        ExpiryLevel::Unreadable => (
            Level::Critical,
            format!(
                "{}{}",
                t.unreadable,
                c.error
                    .as_ref()
                    .map(|e| format!(": {}", e.masked()))
                    .unwrap_or_default()
            ),
        ),
    };
    let mut out = vec![Line::from(vec![
        Span::raw("    "),
        Span::styled(format!("{} ", lv.symbol()), theme.level(lv)),
        Span::raw(format!("{}  ", c.path)),
        Span::styled(what, theme.level(lv)),
        Span::styled(
            c.not_after
                .map(|n| format!("  ({})", utc(n)))
                .unwrap_or_default(),
            theme.dim,
        ),
    ])];
    let todo = match c.level {
        ExpiryLevel::Ok => None,
        ExpiryLevel::ExpiresSoon | ExpiryLevel::Expired => Some(todo_renew),
        ExpiryLevel::Unreadable => Some(t.todo_cert_unreadable),
    };
    if let Some(todo) = todo {
        out.push(todo_line(theme, todo.to_owned()));
    }
    out
}

fn integration_lines(app: &App, theme: &Theme, i: &IntegrationStatus) -> Vec<Line<'static>> {
    let t = app.t();
    let s = &i.svarinn;
    let svarinn_level =
        if s.consecutive_failures >= 3 || (s.last_error.is_some() && s.last_success_at.is_none()) {
            Level::Critical
        } else if s.consecutive_failures > 0 {
            Level::Warning
        } else {
            Level::Ok
        };
    let cert_level = i
        .certificates
        .iter()
        .map(|c| Level::from(c.level))
        .max()
        .unwrap_or(Level::Warning);
    let drop_level = if i.drop_folder.writable {
        Level::Ok
    } else {
        Level::Critical
    };
    let queue = app.state.as_ref().and_then(|st| {
        st.queues
            .iter()
            .find(|q| q.mottakersystem == i.mottakersystem)
    });
    let stale = queue.map_or(0, |q| q.stale_in_inn.count);
    let outbound = app.state.as_ref().and_then(|st| {
        st.outbound
            .iter()
            .find(|o| o.mottakersystem == i.mottakersystem)
    });
    let channels: Vec<&PipelineStatus> = app.state.as_ref().map_or_else(Vec::new, |st| {
        st.pipelines
            .iter()
            .filter(|p| p.mottakersystem == i.mottakersystem)
            .collect()
    });
    let channels_level = channels
        .iter()
        .map(|p| channel_level(p))
        .max()
        .unwrap_or(Level::Ok);
    let fiks_io_level = i
        .fiks_io
        .as_ref()
        .map_or(Level::Ok, |l| fiks_io_level(l, app.now_ms));
    let overall = svarinn_level
        .max(channels_level)
        .max(fiks_io_level)
        .max(cert_level)
        .max(drop_level)
        .max(if stale > 0 { Level::Warning } else { Level::Ok })
        .max(outbound.map_or(Level::Ok, |o| {
            // "Not contacted yet" is no trouble for the block as a whole.
            match out::outbound_level(o, app.now_ms, t) {
                Level::Info => Level::Ok,
                l => l,
            }
        }));
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("{} ", overall.symbol()), theme.level(overall)),
        Span::styled(i.mottakersystem.clone(), theme.title),
        Span::raw("  "),
        Span::styled(overall.word(t), theme.level(overall)),
    ])];
    if !channels.is_empty() {
        lines.extend(channel_lines(app, theme, &channels, channels_level));
    }
    if let Some(q) = queue.filter(|q| q.duplicates.total > 0) {
        lines.extend(duplicates_lines(app, theme, &q.duplicates));
    }
    // SvarInn
    let mut svarinn = vec![
        Span::raw("  "),
        Span::styled(
            format!("{} ", svarinn_level.symbol()),
            theme.level(svarinn_level),
        ),
        // Which API it speaks: a V1 system still has a move to make (docs/install.md).
        Span::styled(
            format!("{:<15}", format!("{} {}", t.svarinn, s.api.as_str())),
            theme.title,
        ),
        Span::raw(s.url.clone()),
        Span::styled(" · ", theme.dim),
        Span::raw(fill(
            t.last_success,
            &[&s.last_success_at
                .map_or_else(|| t.never.to_owned(), |at| age(app.now_ms - at))],
        )),
    ];
    if let Some(ms) = s.latency_ms {
        svarinn.push(Span::styled(" · ", theme.dim));
        svarinn.push(Span::raw(fill(t.latency, &[&ms])));
    }
    if s.consecutive_failures > 0 {
        svarinn.push(Span::styled(" · ", theme.dim));
        svarinn.push(Span::styled(
            fill(t.failures_in_row, &[&s.consecutive_failures]),
            theme.level(svarinn_level),
        ));
    }
    lines.push(Line::from(svarinn));
    if !s.resolved.is_empty() {
        lines.push(Line::styled(
            format!("      {}", fill(t.resolves_to, &[&s.resolved.join(", ")])),
            theme.dim,
        ));
    }
    if let Some(e) = &s.last_error {
        lines.push(Line::from(vec![
            Span::raw("      "),
            Span::styled(
                e.masked().into_owned(),
                theme.level(svarinn_level.max(Level::Warning)),
            ),
        ]));
        if svarinn_level > Level::Ok {
            lines.push(Line::from(vec![
                Span::raw("      → "),
                Span::styled(fill(t.todo_svarinn, &[&s.url]), theme.dim),
            ]));
        }
    }
    // Certificates
    lines.push(Line::from(vec![
        Span::raw("  "),
        Span::styled(format!("{} ", cert_level.symbol()), theme.level(cert_level)),
        Span::styled(t.certificates.to_owned(), theme.title),
    ]));
    if i.certificates.is_empty() {
        lines.push(Line::styled(
            format!("    {}", t.no_certificates),
            theme.warning,
        ));
    }
    for c in &i.certificates {
        lines.extend(cert_line(app, theme, c, t.todo_cert_soon));
    }
    // Drop folder
    let d = &i.drop_folder;
    let mut drop = vec![
        Span::raw("  "),
        Span::styled(format!("{} ", drop_level.symbol()), theme.level(drop_level)),
        Span::styled(format!("{:<15}", t.drop_folder), theme.title),
        Span::raw(format!("{}  ", d.path)),
        Span::styled(
            if d.writable {
                t.writable
            } else {
                t.not_writable
            },
            theme.level(drop_level),
        ),
    ];
    if let (Some(free), Some(total)) = (d.free_bytes, d.total_bytes) {
        drop.push(Span::styled(" · ", theme.dim));
        drop.push(Span::raw(fill(
            t.free_space,
            &[&bytes(free), &bytes(total)],
        )));
    }
    lines.push(Line::from(drop));
    if let Some(e) = &d.error {
        lines.push(Line::styled(
            format!("      {}", e.masked()),
            theme.critical,
        ));
    }
    if !d.writable {
        lines.push(Line::from(vec![
            Span::raw("      → "),
            Span::styled(t.todo_drop, theme.dim),
        ]));
    }
    if stale > 0 {
        lines.push(Line::from(vec![
            Span::raw("      → "),
            Span::styled(fill(t.todo_stale_inn, &[&stale]), theme.warning),
        ]));
    }
    if let Some(link) = &i.fiks_io {
        lines.extend(fiks_io_lines(app, theme, link, fiks_io_level));
    }
    if let Some(o) = outbound {
        lines.extend(outbound_integration_lines(app, theme, o));
    }
    lines.extend(doctor_lines(app, theme, i.doctor.as_ref()));
    lines.push(Line::raw(""));
    lines
}

/// How a pipeline is: a channel that cannot start is critical; one that is
/// starting or paused (by a person, who knows) is information.
fn channel_level(p: &PipelineStatus) -> Level {
    if p.up && !p.paused {
        Level::Ok
    } else if !p.up && p.setup_attempts > 0 {
        Level::Critical
    } else {
        Level::Info
    }
}

/// What a channel carries, in the console's words; a kind this console does
/// not know yet (a newer agent's channel) is shown as the agent names it.
fn channel_name(t: &crate::i18n::Texts, kind: &str) -> String {
    match kind {
        "inbound" => t.channel_inbound.to_owned(),
        "outbound" => t.channel_outbound.to_owned(),
        "fiks-io" => t.channel_fiks_io.to_owned(),
        other => other.to_owned(),
    }
}

/// One line with every channel of a mottakersystem and how each is; under it,
/// why a channel cannot start when no section of its own says so (the
/// SvarInn and Fiks Digisos lines below show their channel's setup error).
fn channel_lines(
    app: &App,
    theme: &Theme,
    channels: &[&PipelineStatus],
    level: Level,
) -> Vec<Line<'static>> {
    let t = app.t();
    let mut line = vec![
        Span::raw("  "),
        Span::styled(format!("{} ", level.symbol()), theme.level(level)),
        Span::styled(format!("{:<15}", t.channels), theme.title),
    ];
    for (n, p) in channels.iter().enumerate() {
        if n > 0 {
            line.push(Span::styled(" · ", theme.dim));
        }
        let lv = channel_level(p);
        let how = if p.up && p.paused {
            t.channel_paused.to_owned()
        } else if p.up {
            t.channel_running.to_owned()
        } else if p.setup_attempts > 0 {
            fill(t.channel_cannot_start, &[&p.setup_attempts])
        } else {
            t.channel_starting.to_owned()
        };
        line.push(Span::raw(format!("{} ", channel_name(t, &p.kind))));
        line.push(Span::styled(
            format!("{} {how}", lv.symbol()),
            theme.level(lv),
        ));
    }
    let mut lines = vec![Line::from(line)];
    for p in channels {
        let shown_elsewhere = matches!(p.kind.as_str(), "inbound" | "outbound");
        if let (false, false, Some(e)) = (shown_elsewhere, p.up, &p.setup_error) {
            lines.push(Line::styled(
                format!("      {}", e.masked()),
                theme.critical,
            ));
            lines.push(todo_line(
                theme,
                fill(t.todo_channel_setup, &[&channel_name(t, &p.kind)]),
            ));
        }
    }
    lines
}

/// How many innsendinger came by both channels and were delivered once, and the latest
/// pair: the delivery not delivered again, under it "=" the one that was.
fn duplicates_lines(app: &App, theme: &Theme, d: &Duplicates) -> Vec<Line<'static>> {
    let t = app.t();
    let delivery = |channel: &str, id: &ExternalId| {
        let what = match channel {
            "svarinn" => t.dup_svarinn,
            "fiks-io" => t.dup_fiks_io,
            other => other,
        };
        format!("{what} {id}")
    };
    let mut lines = vec![Line::from(vec![
        Span::raw("  "),
        Span::styled(
            format!("{} ", Level::Info.symbol()),
            theme.level(Level::Info),
        ),
        Span::styled(format!("{:<15}", t.dup_title), theme.title),
        Span::raw(fill(t.dup_count, &[&d.total])),
    ])];
    if let Some(l) = d.latest.first() {
        lines.push(Line::styled(
            format!("      {}", delivery(&l.channel, &l.id)),
            theme.dim,
        ));
        lines.push(Line::styled(
            format!("      = {}", delivery(&l.delivered_by, &l.delivered_as)),
            theme.dim,
        ));
    }
    lines
}

/// The last `mottak-agent doctor` run: when, the counts, each failing line
/// with its fix. A past check, so it does not colour the block as a whole.
fn doctor_lines(app: &App, theme: &Theme, d: Option<&DoctorResult>) -> Vec<Line<'static>> {
    let t = app.t();
    let label = |lv: Level| {
        vec![
            Span::raw("  "),
            Span::styled(format!("{} ", lv.symbol()), theme.level(lv)),
            Span::styled(format!("{:<15}", t.doctor), theme.title),
        ]
    };
    let Some(d) = d else {
        let mut spans = label(Level::Info);
        spans.push(Span::styled(t.doctor_never.to_owned(), theme.dim));
        return vec![Line::from(spans)];
    };
    let failing = d.failed + d.config_errors;
    let lv = if failing > 0 {
        Level::Critical
    } else {
        Level::Ok
    };
    let mut spans = label(lv);
    spans.push(Span::raw(fill(
        t.doctor_at,
        &[&utc(d.at), &age(app.now_ms - d.at)],
    )));
    spans.push(Span::styled(" · ", theme.dim));
    if failing == 0 {
        spans.push(Span::styled(
            fill(t.doctor_passed, &[&d.passed]),
            theme.level(lv),
        ));
    } else {
        let mut words = Vec::new();
        if d.failed > 0 || d.config_errors == 0 {
            words.push(fill(t.doctor_failed, &[&d.failed, &d.passed]));
        }
        if d.config_errors > 0 {
            words.push(fill(t.doctor_config_errors, &[&d.config_errors]));
        }
        spans.push(Span::styled(words.join(", "), theme.level(lv)));
    }
    let mut lines = vec![Line::from(spans)];
    for f in &d.failures {
        lines.push(Line::from(vec![
            Span::raw("      "),
            Span::styled(format!("{} ", Level::Critical.symbol()), theme.critical),
            Span::styled(format!("{} ", f.kind), theme.title),
            Span::raw(format!("{}: ", f.subject.masked())),
            Span::styled(f.detail.masked().into_owned(), theme.critical),
        ]));
        if let Some(fix) = &f.fix {
            lines.push(todo_line(theme, fix.masked().into_owned()));
        }
    }
    let shown = u32::try_from(d.failures.len()).unwrap_or(u32::MAX);
    if failing > shown {
        lines.push(Line::styled(
            format!("      {}", fill(t.doctor_more, &[&(failing - shown)])),
            theme.dim,
        ));
    }
    lines
}

/// `  ✔ Fiks Digisos   https://… · last answer 2m ago`
fn link_line(theme: &Theme, name: &str, url: &str, who: String, s: &LinkStatus) -> Line<'static> {
    Line::from(vec![
        Span::raw("  "),
        Span::styled(format!("{} ", s.level.symbol()), theme.level(s.level)),
        Span::styled(format!("{name:<15}"), theme.title),
        Span::raw(url.to_owned()),
        Span::styled(" · ", theme.dim),
        Span::raw(who),
        Span::styled(" · ", theme.dim),
        Span::styled(format!("{} ", s.word), theme.level(s.level)),
        Span::styled(s.text.clone(), theme.level(s.level.max(Level::Ok))),
    ])
}

/// How the Fiks IO link is: down or receipts failing warn at once and are
/// critical once they last (the agent's alerts use the same thresholds);
/// messages kept as failed warn.
fn fiks_io_level(l: &FiksIoLink, now_ms: i64) -> Level {
    let lasting = |since: Option<i64>, limit: i64| {
        if since.is_some_and(|s| now_ms - s >= limit) {
            Level::Critical
        } else {
            Level::Warning
        }
    };
    let mut level = Level::Ok;
    if !l.is_up() {
        level = level.max(lasting(l.down_since, FIKS_IO_DOWN_CRITICAL_MS));
    }
    if l.receipts_failing > 0 {
        level = level.max(lasting(
            l.oldest_receipt_owed_at,
            FIKS_IO_RECEIPT_CRITICAL_MS,
        ));
    }
    if l.failed > 0 {
        level = level.max(Level::Warning);
    }
    level
}

/// `  ✔ Fiks IO   amqps://… · konto 1234abcd · connected 2h 05m · last message 3m ago`,
/// then the queues on both sides and the receipts, then what is wrong and what to do.
fn fiks_io_lines(app: &App, theme: &Theme, l: &FiksIoLink, level: Level) -> Vec<Line<'static>> {
    let t = app.t();
    let since = |at: Option<i64>| at.map(|at| age(app.now_ms - at));
    let link = if let Some(up) = since(l.connected_since) {
        fill(t.fio_connected, &[&up])
    } else if let Some(down) = since(l.down_since) {
        fill(t.fio_down, &[&down])
    } else {
        t.fio_never_connected.to_owned()
    };
    let last = since(l.last_message_at).map_or_else(
        || t.fio_no_message.to_owned(),
        |ago| fill(t.fio_last_message, &[&ago]),
    );
    let mut lines = vec![Line::from(vec![
        Span::raw("  "),
        Span::styled(format!("{} ", level.symbol()), theme.level(level)),
        Span::styled(format!("{:<15}", t.fiks_io), theme.title),
        Span::raw(l.amqp_url.clone()),
        Span::styled(" · ", theme.dim),
        Span::raw(fill(t.fio_konto, &[&short_id(&l.konto_id)])),
        Span::styled(" · ", theme.dim),
        Span::styled(link, theme.level(if l.is_up() { Level::Ok } else { level })),
        Span::styled(" · ", theme.dim),
        Span::raw(last),
    ])];
    let mut queues = Vec::new();
    if let (Some(n), Some(at)) = (l.waiting_at_fiks, since(l.waiting_read_at)) {
        queues.push(fill(t.fio_waiting, &[&n, &at]));
    }
    queues.push(fill(t.fio_unacked, &[&l.unacked]));
    queues.push(fill(t.fio_delivered, &[&l.delivered]));
    queues.push(fill(
        t.fio_receipts,
        &[&l.receipts_owed, &l.receipts_failing],
    ));
    lines.push(Line::styled(
        format!("      {}", queues.join(" · ")),
        theme.dim,
    ));
    if l.failed > 0 {
        lines.push(Line::styled(
            format!("      {}", fill(t.fio_failed, &[&l.failed])),
            theme.warning,
        ));
    }
    if !l.is_up() {
        if let Some(e) = &l.last_error {
            lines.push(Line::styled(
                format!("      {}", e.masked()),
                theme.level(level),
            ));
        }
        lines.push(todo_line(theme, fill(t.todo_fiks_io_down, &[&l.amqp_url])));
    }
    if l.receipts_failing > 0 {
        if let Some(e) = &l.last_receipt_error {
            lines.push(Line::styled(format!("      {}", e.masked()), theme.warning));
        }
        lines.push(todo_line(
            theme,
            fill(t.todo_fiks_io_receipts, &[&l.api_url]),
        ));
    }
    if l.failed > 0 {
        lines.push(todo_line(theme, t.todo_fiks_io_failed.to_owned()));
    }
    lines
}

fn todo_line(theme: &Theme, text: String) -> Line<'static> {
    Line::from(vec![Span::raw("      → "), Span::styled(text, theme.dim)])
}

/// Fiks Digisos and Maskinporten of one mottakersystem, in its Integrations block.
fn outbound_integration_lines(app: &App, theme: &Theme, o: &OutboundStatus) -> Vec<Line<'static>> {
    let t = app.t();
    let mut lines = Vec::new();
    if let Some(e) = &o.setup_error {
        lines.push(Line::from(vec![
            Span::raw("  "),
            Span::styled(
                format!("{} {}", Level::Critical.symbol(), t.view_outbound),
                theme.critical,
            ),
            Span::raw("  "),
            Span::styled(fill(t.out_setup_error, &[&e.masked()]), theme.critical),
        ]));
        lines.push(todo_line(theme, t.todo_out_setup.to_owned()));
        return lines;
    }
    let fiks = out::fiks_status(o, app.now_ms, t);
    lines.push(link_line(
        theme,
        t.fiks_digisos,
        &o.fiks.url,
        format!("org {}", short_id(&o.fiks.fiks_org_id)),
        &fiks,
    ));
    if fiks.level >= Level::Warning {
        lines.push(todo_line(
            theme,
            fill(t.todo_fiks, &[&o.fiks.url, &o.fiks.fiks_org_id]),
        ));
    }
    if let Some(k) = &o.fiks.public_key {
        let until = o
            .fiks
            .public_key_not_after
            .map(|n| format!(" ({})", utc(n)))
            .unwrap_or_default();
        lines.push(Line::styled(
            format!("      {}{until}", fill(t.fiks_key, &[k])),
            theme.dim,
        ));
    }
    let mp = out::maskinporten_status(o, app.now_ms, t);
    let m = &o.maskinporten;
    let mut who = format!("client {}", m.client_id);
    if m.tokens_fetched > 0 {
        let tokens = if m.tokens_fetched == 1 {
            t.mp_token_one.to_owned()
        } else {
            fill(t.mp_tokens, &[&m.tokens_fetched])
        };
        who.push_str(&format!(" · {tokens}"));
    }
    lines.push(link_line(theme, t.maskinporten, &m.url, who, &mp));
    let mp_error = m.last_error.is_some()
        && match (m.last_error_at, m.last_token_at) {
            (Some(e), Some(tok)) => e > tok,
            (_, None) => true,
            (None, Some(_)) => false,
        };
    if mp_error {
        lines.push(todo_line(theme, fill(t.todo_maskinporten, &[&m.url])));
    }
    let chain = out::chain_level(&m.certificates);
    lines.push(Line::from(vec![
        Span::raw("    "),
        Span::styled(format!("{} ", chain.symbol()), theme.level(chain)),
        Span::styled(t.mp_chain.to_owned(), theme.title),
    ]));
    if m.certificates.is_empty() {
        lines.push(Line::styled(format!("      {}", t.mp_no_chain), theme.dim));
    }
    for c in &m.certificates {
        lines.extend(
            cert_line(app, theme, c, t.todo_mp_cert)
                .into_iter()
                .map(|mut l| {
                    l.spans.insert(0, Span::raw("  "));
                    l
                }),
        );
    }
    lines
}

pub(super) fn render_integrations(app: &App, theme: &Theme, f: &mut Frame<'_>, area: Rect) {
    let t = app.t();
    let rows = app.integration_rows();
    let selected = app.lists[View::Integrations.index()].selected;
    let inner_width = usize::from(area.width.saturating_sub(2)).max(1);
    let mut lines: Vec<Line<'static>> = Vec::new();
    let mut selected_at = 0usize;
    for (n, i) in rows.iter().enumerate() {
        if n == selected {
            // Rows above the selected system, counting wrapped lines.
            selected_at = lines
                .iter()
                .map(|l| l.width().max(1).div_ceil(inner_width))
                .sum();
        }
        let mut block_lines = integration_lines(app, theme, i);
        if n == selected
            && let Some(first) = block_lines.first_mut()
        {
            first.spans.insert(0, Span::styled("▶ ", theme.key));
        } else if let Some(first) = block_lines.first_mut() {
            first.spans.insert(0, Span::raw("  "));
        }
        lines.extend(block_lines);
    }
    if rows.is_empty() {
        lines.push(Line::raw(t.no_data));
    }
    // The selected system's block from its top (PgDn reads further down).
    let total_lines: usize = lines
        .iter()
        .map(|l| l.width().max(1).div_ceil(inner_width))
        .sum();
    let scroll = (selected_at + app.integrations_offset).min(total_lines.saturating_sub(1));
    let total = app
        .state
        .as_ref()
        .map_or(0, |s| s.integrations.len() as u64);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((u16::try_from(scroll).unwrap_or(u16::MAX), 0))
            .block(
                block(theme, t.view_integrations.to_owned()).title_bottom(info_line(
                    app,
                    theme,
                    rows.len(),
                    total,
                    View::Integrations,
                )),
            ),
        area,
    );
}
