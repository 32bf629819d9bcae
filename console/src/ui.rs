//! Drawing: `render(&App, &mut Frame)`, pure. Every status is a word and a
//! symbol as well as a style, so the high-contrast theme and a colour-blind
//! reader see the same thing.

use mottak_protocol::console::{
    CertificateStatus, DoctorResult, ExpiryLevel, FailedImport, ForsendelseState, HistoryEntry,
    IntegrationStatus, MembershipSource, OutboundState, OutboundStatus, QueueHealth,
    UNACKED_WARNING_MS,
};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Margin, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{
    Block, BorderType, Borders, Cell, Clear, HighlightSpacing, Paragraph, Row, Table, TableState,
    Wrap,
};

use crate::alerts::system_prefix;
use crate::app::{
    AccessRow, App, Conn, Mode, OutboundRow, PromptKind, Stage, View, completions, in_progress,
    needs_person, queue_count, short_id,
};
use crate::human::{age, bytes, sparkline, utc, utc_short};
use crate::i18n::{Texts, fill};
use crate::keymap;
use crate::outbound::{self as out, LinkStatus};
use crate::theme::{Level, Theme};

/// Draws the whole screen.
pub fn render(app: &App, f: &mut Frame<'_>) {
    let theme = Theme::new(app.theme);
    let area = f.area();
    f.render_widget(Block::new().style(theme.base), area);
    let [header, tabs, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    render_header(app, &theme, f, header);
    render_tabs(app, &theme, f, tabs);
    if app.state.is_none() {
        render_waiting(app, &theme, f, body);
    } else {
        match app.view {
            View::Overview => render_overview(app, &theme, f, body),
            View::Failed => render_failed(app, &theme, f, body),
            View::Outbound => render_outbound(app, &theme, f, body),
            View::Integrations => render_integrations(app, &theme, f, body),
            View::Access => render_access(app, &theme, f, body),
            View::Audit => render_audit(app, &theme, f, body),
        }
    }
    render_footer(app, &theme, f, footer);
    match &app.mode {
        Mode::Help => render_help(app, &theme, f, area),
        Mode::Confirm(_) => render_confirm(app, &theme, f, area),
        Mode::Prompt { .. } => render_prompt(app, &theme, f, area),
        _ => {}
    }
}

fn u16_of(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// `▲ WARNING` in the level's style.
fn level_span(t: &Texts, theme: &Theme, l: Level) -> Span<'static> {
    Span::styled(format!("{} {}", l.symbol(), l.word(t)), theme.level(l))
}

fn render_header(app: &App, theme: &Theme, f: &mut Frame<'_>, area: Rect) {
    let t = app.t();
    let mut left = vec![Span::styled(" mottak ", theme.title)];
    if let Some(s) = &app.state
        && !s.agent.hostname.is_empty()
    {
        left.push(Span::styled("· ", theme.dim));
        left.push(Span::raw(s.agent.hostname.clone()));
        left.push(Span::raw(" "));
    }
    if let Some(w) = &app.welcome {
        left.push(Span::styled("· ", theme.dim));
        let role = w.top_role().map_or("-", |r| r.as_str());
        left.push(Span::raw(format!("{} ({role})", w.user)));
    }
    let (level, text) = match &app.conn {
        Conn::Connecting { attempt } if *attempt > 1 => {
            (Level::Warning, fill(t.connecting_attempt, &[attempt]))
        }
        Conn::Connecting { .. } => (Level::Info, t.connecting.to_owned()),
        Conn::Connected { .. } if !app.synced => (Level::Info, t.resyncing.to_owned()),
        Conn::Connected { .. } => (Level::Ok, t.connected.to_owned()),
        Conn::Lost { retry_at, .. } => {
            let secs = ((retry_at - app.now_ms).max(0) + 999) / 1000;
            (Level::Critical, fill(t.lost_retrying, &[&secs]))
        }
    };
    let symbol = match level {
        Level::Ok => "●",
        Level::Info => "◌",
        Level::Warning | Level::Critical => "✖",
    };
    let mut right = vec![Span::styled(format!("{symbol} {text}"), theme.level(level))];
    if app.stale() {
        right.push(Span::raw(" "));
        right.push(Span::styled(format!(" {} ", t.stale), theme.badge));
    }
    if app.welcome.is_some() && app.read_only() {
        right.push(Span::raw(" "));
        right.push(Span::styled(format!("[{}]", t.read_only), theme.badge));
    }
    if app.in_flight() > 0 {
        right.push(Span::styled(format!(" ⟳{}", app.in_flight()), theme.dim));
    }
    right.push(Span::raw(" "));
    let right_width: u16 = right.iter().map(|s| u16_of(s.width())).sum();
    let [l, r] =
        Layout::horizontal([Constraint::Min(1), Constraint::Length(right_width)]).areas(area);
    f.render_widget(Paragraph::new(Line::from(left)).style(theme.header), l);
    f.render_widget(Paragraph::new(Line::from(right)).style(theme.header), r);
}

/// The tab row, as compact as the width needs: long names, short names,
/// less space, and at last only the numbers (and counts) of the other tabs.
fn render_tabs(app: &App, theme: &Theme, f: &mut Frame<'_>, area: Rect) {
    let t = app.t();
    let count = |v: View| -> Option<u64> {
        let s = app.state.as_ref()?;
        match v {
            View::Failed => Some(s.failed.total),
            View::Outbound if !s.outbound.is_empty() => Some(out::failed_total(s)),
            _ => None,
        }
    };
    let build = |long: bool, pad: bool, numbers_only: bool| -> Vec<Span<'static>> {
        let gap = if pad { " " } else { "" };
        let mut spans = vec![Span::raw(" ")];
        for (n, v) in View::ALL.into_iter().enumerate() {
            let name = match (long, v) {
                (_, View::Outbound) | (false, _) => v.short_title(t),
                (true, _) => v.title(t),
            };
            let mut text = if numbers_only && v != app.view {
                format!("{}", n + 1)
            } else {
                format!("{} {name}", n + 1)
            };
            if let Some(c) = count(v) {
                text.push_str(&format!(" ({c})"));
            }
            let (style, text) = if v == app.view {
                (theme.tab_active, format!("[{text}]"))
            } else {
                (theme.tab, format!("{gap}{text}{gap}"))
            };
            spans.push(Span::styled(text, style));
            spans.push(Span::raw(" "));
        }
        spans
    };
    let width = |spans: &[Span<'_>]| spans.iter().map(Span::width).sum::<usize>();
    let fits = usize::from(area.width);
    let spans = [
        (true, true, false),
        (false, true, false),
        (false, false, false),
        (false, false, true),
    ]
    .into_iter()
    .map(|(long, pad, numbers)| build(long, pad, numbers))
    .find(|s| width(s) <= fits)
    .unwrap_or_else(|| build(false, false, true));
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn render_waiting(app: &App, theme: &Theme, f: &mut Frame<'_>, area: Rect) {
    let t = app.t();
    let mut lines = vec![
        Line::raw(""),
        Line::raw(format!("  {}", fill(t.waiting_for_agent, &[&app.target]))),
    ];
    if let Conn::Lost { error, .. } = &app.conn {
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            format!("  {}", fill(t.last_error, &[error])),
            theme.critical,
        ));
    }
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
}

fn block<'a>(theme: &Theme, title: String) -> Block<'a> {
    Block::new()
        .borders(Borders::ALL)
        .border_type(BorderType::Plain)
        .border_style(theme.border)
        .title(Span::styled(format!(" {title} "), theme.title))
}

/// The info line above a table: counts, sort, filter, marks.
fn info_line(app: &App, theme: &Theme, shown: usize, total: u64, view: View) -> Line<'static> {
    let t = app.t();
    let l = &app.lists[view.index()];
    let mut spans = vec![Span::raw(fill(t.shown_of_total, &[&shown, &total]))];
    let sort = app.sort_label(view);
    if !sort.is_empty() {
        spans.push(Span::styled(" · ", theme.dim));
        let arrow = if l.descending { "↓" } else { "↑" };
        spans.push(Span::raw(fill(t.sorted_by, &[&format!("{sort} {arrow}")])));
    }
    if !l.filter.is_empty() || matches!(app.mode, Mode::Filter) && app.view == view {
        spans.push(Span::styled(" · ", theme.dim));
        spans.push(Span::styled(fill(t.filter_label, &[&l.filter]), theme.key));
    }
    let marked = match view {
        View::Failed => app.marks.len(),
        View::Outbound => app.out_marks.len(),
        _ => 0,
    };
    if marked > 0 {
        spans.push(Span::styled(" · ", theme.dim));
        spans.push(Span::styled(fill(t.marked_n, &[&marked]), theme.marked));
    }
    Line::from(spans)
}

/// How many rows `line` takes when word-wrapped to `width` (as ratatui's
/// wrapping does, closely enough to plan a box).
fn wrapped_height(line: &Line<'_>, width: usize) -> usize {
    let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
    let mut rows = 1usize;
    let mut col = 0usize;
    for word in text.split(' ') {
        let w = Span::raw(word).width();
        let need = if col == 0 { w } else { col + 1 + w };
        if need <= width {
            col = need;
        } else if w <= width {
            rows += 1;
            col = w;
        } else {
            // A word longer than the line starts a row and is cut across rows.
            rows += usize::from(col > 0) + (w - 1) / width;
            col = (w - 1) % width + 1;
        }
    }
    rows
}

fn table_state(selected: usize, n: usize) -> TableState {
    let mut s = TableState::default();
    if n > 0 {
        s.select(Some(selected.min(n - 1)));
    }
    s
}

/// A table's header row, in the header style.
fn header_row<'h>(theme: &Theme, labels: impl IntoIterator<Item = &'h str>) -> Row<'static> {
    Row::new(labels.into_iter().map(|h| Cell::from(h.to_owned()))).style(theme.table_header)
}

/// A list the cursor moves in: its header, and the selected row marked
/// `▶` and highlighted.
fn list_table<'a, 'h>(
    theme: &Theme,
    rows: Vec<Row<'a>>,
    widths: impl IntoIterator<Item = Constraint>,
    header: impl IntoIterator<Item = &'h str>,
) -> Table<'a> {
    Table::new(rows, widths)
        .header(header_row(theme, header))
        .row_highlight_style(theme.selected)
        .highlight_symbol("▶")
        .highlight_spacing(HighlightSpacing::Always)
}

/// The list's area and, when its detail pane is open, the pane's: side by
/// side from 120 columns, else the list above in `list_pct` of the height.
fn list_and_detail(area: Rect, detail: bool, list_pct: u16) -> (Rect, Option<Rect>) {
    if !detail {
        return (area, None);
    }
    let [list, pane] = if area.width >= 120 {
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area)
    } else {
        Layout::vertical([
            Constraint::Percentage(list_pct),
            Constraint::Percentage(100 - list_pct),
        ])
        .areas(area)
    };
    (list, Some(pane))
}

/// What an empty list shows instead: `✔ OK  <msg>`.
fn empty_list(t: &Texts, theme: &Theme, msg: &str) -> Paragraph<'static> {
    Paragraph::new(vec![
        Line::raw(""),
        Line::from(vec![
            level_span(t, theme, Level::Ok),
            Span::raw(format!("  {msg}")),
        ]),
    ])
}

/// Says on a list's info line that the agent sent `listed` of `total`
/// rows (its cap), when it sent fewer.
fn push_capped_note(line: &mut Line<'static>, t: &Texts, theme: &Theme, listed: usize, total: u64) {
    if (listed as u64) < total {
        line.spans.push(Span::styled(" · ", theme.dim));
        line.spans.push(Span::styled(
            fill(t.capped_note, &[&listed, &total]),
            theme.warning,
        ));
    }
}

/// A detail pane's `name  value` line: the name in 18 columns, dim.
fn detail_field(theme: &Theme, name: &str, value: String) -> Line<'static> {
    field_styled(theme, name, value, Style::default())
}

fn field_styled(theme: &Theme, name: &str, value: String, style: Style) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("{name:<18} "), theme.dim),
        Span::styled(value, style),
    ])
}

/// A detail pane's state: `✖ failed (failed)` in its level's style.
fn state_field(
    t: &Texts,
    theme: &Theme,
    lv: Level,
    word: &str,
    state: impl std::fmt::Display,
) -> Line<'static> {
    field_styled(
        theme,
        t.d_state,
        format!("{} {word} ({state})", lv.symbol()),
        theme.level(lv),
    )
}

/// `What to do: <todo>`.
fn what_to_do_line(t: &Texts, theme: &Theme, todo: &'static str) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("{}: ", t.what_to_do), theme.title),
        Span::raw(todo),
    ])
}

/// A detail pane's history, newest first, after a blank line and a title;
/// `error` writes an entry's error.
fn history_lines(
    t: &Texts,
    theme: &Theme,
    history: &[HistoryEntry],
    error: impl Fn(&mottak_protocol::console::Text) -> String,
) -> Vec<Line<'static>> {
    let mut lines = vec![
        Line::raw(""),
        Line::styled(t.d_history.to_owned(), theme.title),
    ];
    for h in history.iter().rev() {
        let mut spans = vec![
            Span::styled(format!("{} ", utc_short(h.at)), theme.dim),
            Span::raw(format!("{} {}", h.action, h.outcome)),
        ];
        if let Some(e) = &h.error {
            spans.push(Span::styled(format!(": {}", error(e)), theme.warning));
        }
        lines.push(Line::from(spans));
    }
    lines
}

/// The detail pane: the selected row's `lines`, or an empty box.
fn render_detail(
    t: &Texts,
    theme: &Theme,
    f: &mut Frame<'_>,
    area: Rect,
    lines: Option<Vec<Line<'static>>>,
) {
    let b = block(theme, t.detail.to_owned());
    match lines {
        Some(lines) => f.render_widget(
            Paragraph::new(lines).wrap(Wrap { trim: false }).block(b),
            area,
        ),
        None => f.render_widget(b, area),
    }
}

// ---------------------------------------------------------------------------------------------
// Overview

fn queue_level(app: &App, q: &QueueHealth) -> Level {
    let over = q
        .oldest_unacknowledged
        .as_ref()
        .is_some_and(|o| app.now_ms >= o.warning_at);
    if over {
        Level::Critical
    } else if needs_person(q) > 0 || q.paused.is_some() || q.stale_in_inn.count > 0 {
        Level::Warning
    } else {
        Level::Ok
    }
}

fn oldest_cell(app: &App, theme: &Theme, q: &QueueHealth) -> Cell<'static> {
    let t = app.t();
    match &q.oldest_unacknowledged {
        None => Cell::from(Span::styled(t.none.to_owned(), theme.dim)),
        Some(o) => {
            let waited = age(app.now_ms - o.since);
            if app.now_ms >= o.warning_at {
                Cell::from(Span::styled(
                    format!("{waited} ✖ {}", t.over_two_hours),
                    theme.critical,
                ))
            } else {
                let left = age(o.warning_at - app.now_ms);
                let style = if o.warning_at - app.now_ms < UNACKED_WARNING_MS / 4 {
                    theme.warning
                } else {
                    theme.base
                };
                Cell::from(Span::styled(
                    format!("{waited} ({})", fill(t.left_before_line, &[&left])),
                    style,
                ))
            }
        }
    }
}

fn count_cell(n: u64, theme: &Theme, level: Level) -> Cell<'static> {
    if n == 0 {
        Cell::from(Span::styled("0", theme.dim))
    } else {
        Cell::from(Span::styled(n.to_string(), theme.level(level)))
    }
}

fn render_overview(app: &App, theme: &Theme, f: &mut Frame<'_>, area: Rect) {
    let t = app.t();
    let rows = app.queue_rows();
    let Some(state) = &app.state else { return };
    let wide = area.width >= 100;
    let table_height =
        (u16_of(rows.len()).saturating_add(3)).min(area.height.saturating_sub(5).max(5));
    let out_height = if state.outbound.is_empty() {
        0
    } else {
        (u16_of(state.outbound.len()).saturating_add(3))
            .min(area.height.saturating_sub(table_height + 3))
    };
    let [top, middle, bottom] = Layout::vertical([
        Constraint::Length(table_height),
        Constraint::Length(out_height),
        Constraint::Min(3),
    ])
    .areas(area);
    if out_height > 0 {
        render_outbound_queues(app, theme, f, middle, &state.outbound);
    }

    // Narrow, the names' column is narrower than its full header.
    let system = if wide {
        t.col_system
    } else {
        t.col_system_short
    };
    let mut header = vec![system, t.col_in_progress];
    if wide {
        header.push(t.col_in_inn);
    }
    header.extend([
        t.col_failed,
        t.col_rejected,
        t.col_retry,
        t.col_oldest,
        t.col_last_hour,
    ]);
    let mut widths = vec![Constraint::Min(12), Constraint::Length(6)];
    if wide {
        widths.push(Constraint::Length(7));
    }
    widths.extend([
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(if wide { 24 } else { 18 }),
        Constraint::Length(16),
    ]);
    let body: Vec<Row<'static>> = rows
        .iter()
        .map(|q| {
            let level = queue_level(app, q);
            let count = |s| queue_count(q, s);
            let moving = in_progress(q);
            let mut name = vec![Span::styled(
                format!("{} ", level.symbol()),
                theme.level(level),
            )];
            name.push(Span::raw(q.mottakersystem.clone()));
            if q.paused.is_some() {
                // The agent's alert says who paused it and why.
                name.push(Span::styled(" ⏸", theme.warning));
            }
            let mut cells = vec![Cell::from(Line::from(name)), Cell::from(moving.to_string())];
            if wide {
                cells.push(count_cell(q.stale_in_inn.count, theme, Level::Warning));
            }
            cells.extend([
                count_cell(count(ForsendelseState::Failed), theme, Level::Critical),
                count_cell(count(ForsendelseState::Rejected), theme, Level::Warning),
                count_cell(count(ForsendelseState::RetryWait), theme, Level::Warning),
                oldest_cell(app, theme, q),
                Cell::from(Line::from(vec![
                    Span::styled(sparkline(&q.throughput.delivered_buckets), theme.spark),
                    Span::raw(format!(" {}", q.throughput.delivered_last_hour)),
                ])),
            ]);
            Row::new(cells)
        })
        .collect();
    let n = body.len();
    let table = list_table(theme, body, widths, header).block(
        block(theme, t.queues.to_owned()).title_bottom(info_line(
            app,
            theme,
            n,
            state.queues.len() as u64,
            View::Overview,
        )),
    );
    let mut ts = table_state(app.lists[View::Overview.index()].selected, n);
    f.render_stateful_widget(table, top, &mut ts);

    // Alerts, worst first (the agent sorts them).
    let mut lines: Vec<Line<'static>> = Vec::new();
    if state.alerts.is_empty() {
        lines.push(Line::from(vec![
            level_span(t, theme, Level::Ok),
            Span::raw(format!("  {}", t.no_alerts)),
        ]));
    }
    let alerts: Vec<(Line<'static>, Line<'static>)> = state
        .alerts
        .iter()
        .map(|a| {
            let l = Level::from(a.severity);
            let (title, detail) = crate::alerts::localized(a, app.now_ms, app.lang);
            let mut first = vec![level_span(t, theme, l), Span::raw("  ")];
            if let Some(m) = system_prefix(a, &title) {
                first.push(Span::styled(format!("{m}: "), theme.title));
            }
            first.push(Span::raw(title));
            if let Some(since) = a.since {
                first.push(Span::styled(
                    format!("  ({})", age(app.now_ms - since)),
                    theme.dim,
                ));
            }
            (
                Line::from(first),
                Line::from(vec![Span::raw("    → "), Span::styled(detail, theme.dim)]),
            )
        })
        .collect();
    // Every title first: when the box is short, details give way (worst
    // alert first), and a last line says how many did not fit at all.
    let inner_w = usize::from(bottom.width.saturating_sub(2)).max(1);
    let avail = usize::from(bottom.height.saturating_sub(2));
    let heights: Vec<(usize, usize)> = alerts
        .iter()
        .map(|(a, b)| (wrapped_height(a, inner_w), wrapped_height(b, inner_w)))
        .collect();
    let mut used = 0usize;
    let mut hidden = 0usize;
    for (i, (title, detail)) in alerts.into_iter().enumerate() {
        let (ht, hd) = heights[i];
        let later = heights.len() - i - 1;
        let reserve = usize::from(later > 0);
        if used + ht + reserve > avail && used > 0 {
            hidden = later + 1;
            break;
        }
        lines.push(title);
        used += ht;
        let rest_titles: usize = heights[i + 1..].iter().map(|h| h.0).sum();
        if used + hd + rest_titles <= avail {
            lines.push(detail);
            used += hd;
        }
    }
    if hidden > 0 {
        lines.push(Line::styled(fill(t.more_alerts, &[&hidden]), theme.warning));
    }
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(
                theme,
                format!("{} ({})", t.alerts, state.alerts.len()),
            )),
        bottom,
    );
}

// ---------------------------------------------------------------------------------------------
// Failed imports

fn state_word(t: &Texts, s: ForsendelseState) -> &'static str {
    match s {
        ForsendelseState::Failed => t.st_failed,
        ForsendelseState::Rejected => t.st_rejected,
        ForsendelseState::RetryWait => t.st_retry,
        _ => t.st_other,
    }
}

fn state_level(s: ForsendelseState) -> Level {
    match s {
        ForsendelseState::Failed => Level::Critical,
        ForsendelseState::Rejected | ForsendelseState::RetryWait => Level::Warning,
        _ => Level::Info,
    }
}

fn render_failed(app: &App, theme: &Theme, f: &mut Frame<'_>, area: Rect) {
    let t = app.t();
    let Some(state) = &app.state else { return };
    let rows = app.failed_rows();
    let l = &app.lists[View::Failed.index()];
    let (table_area, detail_area) = list_and_detail(area, l.detail, 40);
    let wide = table_area.width >= 110;
    let mut header = vec![
        "",
        t.col_id,
        t.col_state,
        if wide {
            t.col_system
        } else {
            t.col_system_short
        },
        t.col_tittel,
        t.col_avsender,
        t.col_age,
        t.col_attempts,
    ];
    let mut widths = vec![
        Constraint::Length(1),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(if wide { 14 } else { 10 }),
        Constraint::Fill(2),
        Constraint::Length(if wide { 18 } else { 10 }),
        Constraint::Length(6),
        Constraint::Length(4),
    ];
    if table_area.width >= 70 {
        header.push(t.col_error);
        widths.push(Constraint::Fill(2));
    }
    let with_error = header.len() == 9;
    let body: Vec<Row<'static>> = rows
        .iter()
        .map(|f| {
            let marked = app
                .marks
                .contains(&(f.mottakersystem.clone(), f.id.raw().to_owned()));
            let lv = state_level(f.state);
            let mut cells = vec![
                Cell::from(Span::styled(if marked { "●" } else { " " }, theme.marked)),
                Cell::from(short_id(f.id.raw()).to_owned()),
                Cell::from(Span::styled(
                    format!("{} {}", lv.symbol(), state_word(t, f.state)),
                    theme.level(lv),
                )),
                Cell::from(f.mottakersystem.clone()),
                Cell::from(f.tittel.masked().into_owned()),
                Cell::from(
                    f.avsender
                        .as_ref()
                        .map(|a| a.masked().into_owned())
                        .unwrap_or_default(),
                ),
                Cell::from(age(app.now_ms - crate::app::failed_since(f))),
                Cell::from((f.attempts + f.content_failures).to_string()),
            ];
            if with_error {
                cells.push(Cell::from(
                    f.last_error
                        .as_ref()
                        .or(f.reason.as_ref())
                        .map(|e| e.masked().replace('\n', " "))
                        .unwrap_or_default(),
                ));
            }
            let row = Row::new(cells);
            if marked { row.style(theme.marked) } else { row }
        })
        .collect();
    let n = body.len();
    let mut title_bottom = info_line(app, theme, n, state.failed.total, View::Failed);
    push_capped_note(
        &mut title_bottom,
        t,
        theme,
        state.failed.items.len(),
        state.failed.total,
    );
    let table = list_table(theme, body, widths, header)
        .block(block(theme, t.view_failed.to_owned()).title_bottom(title_bottom));
    if n == 0 {
        let msg = if state.failed.items.is_empty() {
            t.no_failed
        } else {
            t.no_match
        };
        let b = block(theme, t.view_failed.to_owned()).title_bottom(info_line(
            app,
            theme,
            0,
            state.failed.total,
            View::Failed,
        ));
        f.render_widget(empty_list(t, theme, msg).block(b), table_area);
    } else {
        let mut ts = table_state(l.selected, n);
        f.render_stateful_widget(table, table_area, &mut ts);
    }
    if let Some(d) = detail_area {
        let item = rows.get(l.selected).copied();
        render_detail(t, theme, f, d, item.map(|i| failed_detail(app, theme, i)));
    }
}

/// The failed import's detail pane.
fn failed_detail(app: &App, theme: &Theme, item: &FailedImport) -> Vec<Line<'static>> {
    let t = app.t();
    let field = |name: &str, value: String| detail_field(theme, name, value);
    let lv = state_level(item.state);
    // What is wrong and what to do first: the pane may be short.
    let mut lines = vec![
        field(t.d_id, format!("{} / {}", item.mottakersystem, item.id)),
        state_field(t, theme, lv, state_word(t, item.state), item.state),
    ];
    if let Some(e) = &item.last_error {
        lines.push(field_styled(
            theme,
            t.d_last_error,
            e.masked().into_owned(),
            theme.critical,
        ));
    }
    if let Some(r) = &item.reason {
        lines.push(field(t.d_reason, r.masked().into_owned()));
    }
    let todo = match item.state {
        ForsendelseState::Failed => Some(t.todo_failed),
        ForsendelseState::Rejected => Some(t.todo_rejected),
        ForsendelseState::RetryWait => Some(t.todo_retry_wait),
        _ => None,
    };
    if let Some(todo) = todo {
        lines.push(what_to_do_line(t, theme, todo));
    }
    lines.push(Line::raw(""));
    lines.push(field(t.d_tittel, item.tittel.masked().into_owned()));
    lines.push(field(
        t.d_avsender,
        item.avsender
            .as_ref()
            .map(|a| a.masked().into_owned())
            .unwrap_or_default(),
    ));
    if let Some(ty) = &item.forsendelse_type {
        lines.push(field(t.d_type, ty.masked().into_owned()));
    }
    if let Some(s) = item.sendt_at {
        lines.push(field(
            t.d_sent,
            format!("{} ({})", utc(s), age(app.now_ms - s)),
        ));
    }
    lines.push(field(t.d_first_seen, utc(item.first_seen_at)));
    if let Some(s) = item.size {
        lines.push(field(t.d_size, bytes(s)));
    }
    lines.push(field(
        t.d_attempts,
        format!(
            "{} · {} {}",
            item.attempts, item.content_failures, t.d_content_failures
        ),
    ));
    if let Some(n) = item.next_attempt_at {
        let to = item
            .resume_state
            .map(|s| format!(" → {s}"))
            .unwrap_or_default();
        lines.push(field(t.d_next_attempt, format!("{}{to}", utc(n))));
    }
    if item.state == ForsendelseState::Failed {
        lines.push(field(
            t.d_reported,
            (if item.reported_to_svarinn {
                t.yes
            } else {
                t.no
            })
            .to_owned(),
        ));
    }
    lines.extend(history_lines(t, theme, &item.history, |e| {
        e.masked().into_owned()
    }));
    lines
}

// ---------------------------------------------------------------------------------------------
// Integrations

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
    let stale = app
        .state
        .as_ref()
        .and_then(|st| {
            st.queues
                .iter()
                .find(|q| q.mottakersystem == i.mottakersystem)
        })
        .map_or(0, |q| q.stale_in_inn.count);
    let outbound = app.state.as_ref().and_then(|st| {
        st.outbound
            .iter()
            .find(|o| o.mottakersystem == i.mottakersystem)
    });
    let overall = svarinn_level
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
    // SvarInn
    let mut svarinn = vec![
        Span::raw("  "),
        Span::styled(
            format!("{} ", svarinn_level.symbol()),
            theme.level(svarinn_level),
        ),
        Span::styled(format!("{:<15}", t.svarinn), theme.title),
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
    if let Some(o) = outbound {
        lines.extend(outbound_integration_lines(app, theme, o));
    }
    lines.extend(doctor_lines(app, theme, i.doctor.as_ref()));
    lines.push(Line::raw(""));
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

fn render_integrations(app: &App, theme: &Theme, f: &mut Frame<'_>, area: Rect) {
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

// ---------------------------------------------------------------------------------------------
// Access

fn render_access(app: &App, theme: &Theme, f: &mut Frame<'_>, area: Rect) {
    let t = app.t();
    let Some(state) = &app.state else { return };
    let cov = &state.access.coverage;
    let cov_height = (u16_of(cov.len()).saturating_add(2))
        .min(area.height / 3)
        .max(3);
    let [top, bottom] =
        Layout::vertical([Constraint::Length(cov_height), Constraint::Min(3)]).areas(area);
    let lines: Vec<Line<'static>> = cov
        .iter()
        .map(|c| {
            let lv = if c.warning.is_some() {
                Level::Warning
            } else {
                Level::Ok
            };
            let mut spans = vec![
                Span::styled(format!("{} ", lv.symbol()), theme.level(lv)),
                Span::styled(format!("{:<16} ", c.mottakersystem), theme.title),
                Span::raw(fill(
                    t.can_act,
                    &[&if c.can_act.is_empty() {
                        t.none.to_owned()
                    } else {
                        c.can_act.join(", ")
                    }],
                )),
            ];
            if c.warning.is_some() {
                spans.push(Span::styled(
                    format!(
                        "  {} {}",
                        Level::Warning.word(t),
                        fill(t.fewer_than_two, &[&c.mottakersystem])
                    ),
                    theme.warning,
                ));
            }
            Line::from(spans)
        })
        .collect();
    f.render_widget(
        Paragraph::new(lines).block(block(theme, t.coverage.to_owned())),
        top,
    );
    let rows = app.access_rows();
    let body: Vec<Row<'static>> = rows
        .iter()
        .map(|r| match r {
            AccessRow::Grant(g) => Row::new(vec![
                Cell::from(t.grants.to_owned()),
                Cell::from(format!("{} {}", g.principal.kind(), g.principal.name())),
                Cell::from(g.role.as_str().to_owned()),
                Cell::from(match &g.scope {
                    mottak_protocol::console::Scope::All => format!("* ({})", t.scope_all),
                    mottak_protocol::console::Scope::Mottakersystem(m) => m.clone(),
                }),
            ]),
            AccessRow::Member(m) => Row::new(vec![
                Cell::from(t.members.to_owned()),
                Cell::from(format!("user {}", m.user)),
                Cell::from(format!("∈ {}", m.group)),
                Cell::from(Span::styled(
                    match m.source {
                        MembershipSource::AccessList => t.src_access_list,
                        MembershipSource::UnixGroup => t.src_unix,
                    },
                    theme.dim,
                )),
            ]),
        })
        .collect();
    let n = body.len();
    let total = (state.access.grants.len() + state.access.members.len()) as u64;
    let table = list_table(
        theme,
        body,
        [
            Constraint::Length(16),
            Constraint::Fill(2),
            Constraint::Length(14),
            Constraint::Fill(2),
        ],
        ["", t.col_principal, t.col_role, t.col_scope],
    )
    .block(
        block(theme, format!("{} · {}", t.grants, t.members)).title_bottom(info_line(
            app,
            theme,
            n,
            total,
            View::Access,
        )),
    );
    if n == 0 {
        f.render_widget(
            Paragraph::new(t.no_access_rows).block(block(theme, t.grants.to_owned())),
            bottom,
        );
    } else {
        let mut ts = table_state(app.lists[View::Access.index()].selected, n);
        f.render_stateful_widget(table, bottom, &mut ts);
    }
}

// ---------------------------------------------------------------------------------------------
// Audit

fn via_short(via: &str) -> &str {
    match via {
        "local_socket" => "socket",
        other => other,
    }
}

fn render_audit(app: &App, theme: &Theme, f: &mut Frame<'_>, area: Rect) {
    let t = app.t();
    let Some(state) = &app.state else { return };
    let rows = app.audit_rows();
    let body: Vec<Row<'static>> = rows
        .iter()
        .map(|e| {
            let ok = e.outcome.raw() == "ok";
            let lv = if ok { Level::Ok } else { Level::Warning };
            let mut target = e
                .target
                .as_ref()
                .map(|t| t.shown().into_owned())
                .unwrap_or_default();
            if let Some(r) = &e.reason {
                target.push_str(&format!(" «{}»", r.masked()));
            }
            Row::new(vec![
                Cell::from(utc_short(e.at)),
                Cell::from(format!("{} ({})", e.who, via_short(&e.via))),
                Cell::from(e.action.clone()),
                Cell::from(target),
                Cell::from(Span::styled(
                    format!("{} {}", lv.symbol(), e.outcome.masked()),
                    theme.level(lv),
                )),
            ])
        })
        .collect();
    let n = body.len();
    if n == 0 && state.audit.is_empty() {
        f.render_widget(
            Paragraph::new(t.no_audit).block(block(theme, t.view_audit.to_owned())),
            area,
        );
        return;
    }
    let table = list_table(
        theme,
        body,
        [
            Constraint::Length(14),
            Constraint::Length(15),
            Constraint::Length(12),
            Constraint::Fill(3),
            Constraint::Fill(2),
        ],
        [
            t.col_time,
            t.col_who,
            t.col_action,
            t.col_target,
            t.col_outcome,
        ],
    )
    .block(
        block(theme, t.view_audit.to_owned()).title_bottom(info_line(
            app,
            theme,
            n,
            state.audit.len() as u64,
            View::Audit,
        )),
    );
    let mut ts = table_state(app.lists[View::Audit.index()].selected, n);
    f.render_stateful_widget(table, area, &mut ts);
}

// ---------------------------------------------------------------------------------------------
// Footer and overlays

fn render_footer(app: &App, theme: &Theme, f: &mut Frame<'_>, area: Rect) {
    let t = app.t();
    let line = match &app.mode {
        Mode::Filter => Line::from(vec![
            Span::styled("/", theme.key),
            Span::raw(app.list().filter.clone()),
            Span::styled("▏", theme.key),
        ]),
        Mode::Command { input, typed, .. } => {
            let mut spans = vec![
                Span::styled(":", theme.key),
                Span::raw(input.clone()),
                Span::styled("▏", theme.key),
            ];
            let c = completions(typed);
            if !c.is_empty() {
                spans.push(Span::styled(
                    format!("   {}", fill(t.views_hint, &[&c.join(" ")])),
                    theme.dim,
                ));
            }
            Line::from(spans)
        }
        _ => {
            if let Some(toast) = &app.toast {
                Line::from(vec![
                    Span::styled(
                        format!("{} ", toast.level.symbol()),
                        theme.level(toast.level),
                    ),
                    Span::styled(toast.text.clone(), theme.level(toast.level)),
                ])
            } else {
                // As many hints as fit whole; `?` (first) lists the rest.
                let mut spans = Vec::new();
                let mut used = 0usize;
                for (k, what) in keymap::footer_hints(app.view, t, |p| app.allowed(p)) {
                    let rest = format!(" {what}  ");
                    let w = k.chars().count() + rest.chars().count();
                    if used + w > usize::from(area.width) {
                        break;
                    }
                    used += w;
                    spans.push(Span::styled(k, theme.key));
                    spans.push(Span::raw(rest));
                }
                Line::from(spans)
            }
        }
    };
    f.render_widget(Paragraph::new(line), area);
}

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width.saturating_sub(2)).max(10);
    let h = height.min(area.height.saturating_sub(2)).max(3);
    Rect {
        x: area.x + (area.width.saturating_sub(w)) / 2,
        y: area.y + (area.height.saturating_sub(h)) / 2,
        width: w.min(area.width),
        height: h.min(area.height),
    }
}

fn render_help(app: &App, theme: &Theme, f: &mut Frame<'_>, area: Rect) {
    let t = app.t();
    let lines: Vec<Line<'static>> = keymap::help_lines(app.view, t, |p| app.allowed(p))
        .into_iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!("{k:>10}  "), theme.key),
                Span::raw(what),
            ])
        })
        .collect();
    let mut all = lines;
    all.push(Line::raw(""));
    all.push(Line::styled(
        format!(
            "  : {}",
            View::ALL
                .iter()
                .map(|v| v.names()[0])
                .collect::<Vec<_>>()
                .join(" · ")
        ),
        theme.dim,
    ));
    let h = u16_of(all.len()).saturating_add(2);
    let r = centered(area, 60, h);
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(all).scroll((app.help_scroll, 0)).block(
            block(theme, format!("{} — {}", t.help_title, app.view.title(t))).style(theme.dialog),
        ),
        r,
    );
}

fn render_confirm(app: &App, theme: &Theme, f: &mut Frame<'_>, area: Rect) {
    let t = app.t();
    let Mode::Confirm(c) = &app.mode else { return };
    let mut lines: Vec<Line<'static>> = vec![Line::raw(c.question.clone()), Line::raw("")];
    let buttons = |ok_focused: bool| -> Line<'static> {
        Line::from(vec![
            Span::styled(
                format!("[ {} ]", t.cancel),
                if ok_focused {
                    theme.button
                } else {
                    theme.button_focus
                },
            ),
            Span::raw("   "),
            Span::styled(
                format!("[ {} ]", t.ok),
                if ok_focused {
                    theme.button_focus
                } else {
                    theme.button
                },
            ),
        ])
    };
    match &c.stage {
        Stage::YesNo { ok_focused } => {
            lines.push(buttons(*ok_focused));
            lines.push(Line::raw(""));
            lines.push(Line::styled(t.confirm_hint.to_owned(), theme.dim));
        }
        Stage::Reason { input, error } => {
            lines.push(Line::styled(c.reason_prompt.to_owned(), theme.title));
            lines.push(Line::from(vec![
                Span::styled("> ", theme.key),
                Span::raw(input.clone()),
                Span::styled("▏", theme.key),
            ]));
            if *error {
                lines.push(Line::styled(
                    format!("{} {}", Level::Warning.symbol(), t.reason_empty),
                    theme.warning,
                ));
            }
        }
        Stage::Typed { input, error } => {
            if let Some(r) = &c.reason {
                lines.push(Line::styled(format!("«{r}»"), theme.dim));
            }
            lines.push(Line::styled(
                fill(t.typed_prompt, &[&c.typed_word]),
                theme.title,
            ));
            lines.push(Line::from(vec![
                Span::styled("> ", theme.key),
                Span::raw(input.clone()),
                Span::styled("▏", theme.key),
            ]));
            if *error {
                lines.push(Line::styled(
                    format!(
                        "{} {}",
                        Level::Warning.symbol(),
                        fill(t.typed_mismatch, &[&c.typed_word])
                    ),
                    theme.warning,
                ));
            }
        }
    }
    let width = 64u16;
    let text = Text::from(lines);
    // Wrapped height: a rough count is enough for a dialog.
    let inner = width.saturating_sub(4).max(1) as usize;
    let h: usize = text
        .lines
        .iter()
        .map(|l| l.width().max(1).div_ceil(inner))
        .sum();
    let r = centered(area, width, u16_of(h).saturating_add(2));
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: false })
            .block(block(theme, t.confirm_title.to_owned()).style(theme.dialog))
            .style(Style::default()),
        r.inner(Margin::new(0, 0)),
    );
}

fn render_prompt(app: &App, theme: &Theme, f: &mut Frame<'_>, area: Rect) {
    let t = app.t();
    let Mode::Prompt { kind, input, error } = &app.mode else {
        return;
    };
    let (title, prompt, bad) = match kind {
        PromptKind::AddGrant => (t.k_add_grant, t.grant_prompt, t.bad_grant),
        PromptKind::AddMember => (t.k_add_member, t.member_prompt, t.bad_member),
    };
    let mut lines = vec![
        Line::raw(prompt),
        Line::from(vec![
            Span::styled("> ", theme.key),
            Span::raw(input.clone()),
            Span::styled("▏", theme.key),
        ]),
    ];
    if *error {
        lines.push(Line::styled(
            format!("{} {}", Level::Warning.symbol(), bad),
            theme.warning,
        ));
    }
    let r = centered(area, 70, 7);
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(theme, title.to_owned()).style(theme.dialog)),
        r,
    );
}

// ---------------------------------------------------------------------------------------------
// Outbound

/// The overview's outbound table: per mottakersystem with digisos, the
/// queue, the failures, the last send, and Fiks and Maskinporten in a word.
fn render_outbound_queues(
    app: &App,
    theme: &Theme,
    f: &mut Frame<'_>,
    area: Rect,
    statuses: &[OutboundStatus],
) {
    let t = app.t();
    // Wide: the links' words and what they last said; narrow: the words.
    let wide = area.width >= 110;
    let link = |s: &LinkStatus| -> Cell<'static> {
        let text = if wide {
            format!("{} · {}", s.label(), s.text)
        } else {
            s.label()
        };
        Cell::from(Span::styled(text, theme.level(s.level)))
    };
    let body: Vec<Row<'static>> = statuses
        .iter()
        .map(|o| {
            let level = out::outbound_level(o, app.now_ms, t);
            let queued = out::count(o, OutboundState::Queued);
            let retry = out::count(o, OutboundState::RetryWait);
            let failed = out::count(o, OutboundState::Failed);
            Row::new(vec![
                Cell::from(Line::from(vec![
                    Span::styled(format!("{} ", level.symbol()), theme.level(level)),
                    Span::raw(o.mottakersystem.clone()),
                ])),
                count_cell(queued, theme, Level::Info),
                count_cell(
                    retry,
                    theme,
                    if out::stuck(o, app.now_ms) {
                        Level::Critical
                    } else {
                        Level::Warning
                    },
                ),
                count_cell(failed, theme, Level::Critical),
                Cell::from(out::last_sent(o, app.now_ms, t)),
                link(&out::fiks_status(o, app.now_ms, t)),
                link(&out::maskinporten_status(o, app.now_ms, t)),
            ])
        })
        .collect();
    let widths = if wide {
        [
            Constraint::Length(16),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Length(10),
            Constraint::Fill(1),
            Constraint::Fill(1),
        ]
    } else {
        [
            Constraint::Min(12),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Length(10),
            Constraint::Length(13),
            Constraint::Length(13),
        ]
    };
    let table = Table::new(body, widths)
        .header(header_row(
            theme,
            [
                t.col_system,
                t.col_queued,
                t.col_retry,
                t.col_failed,
                t.col_last_sent,
                t.col_fiks,
                t.col_maskinporten,
            ],
        ))
        .highlight_spacing(HighlightSpacing::Always)
        .highlight_symbol(" ")
        .block(block(theme, t.outbound_queues.to_owned()));
    f.render_widget(table, area);
}

/// The outbound view: a line per mottakersystem, then the failed and
/// queued saksoppdateringer (failed first), with a detail pane.
fn render_outbound(app: &App, theme: &Theme, f: &mut Frame<'_>, area: Rect) {
    let t = app.t();
    let Some(state) = &app.state else { return };
    if state.outbound.is_empty() {
        f.render_widget(
            Paragraph::new(vec![
                Line::raw(""),
                Line::raw(format!("  {}", t.no_outbound)),
            ])
            .wrap(Wrap { trim: false })
            .block(block(theme, t.view_outbound.to_owned())),
            area,
        );
        return;
    }
    let summary: Vec<Line<'static>> = state
        .outbound
        .iter()
        .flat_map(|o| {
            let level = out::outbound_level(o, app.now_ms, t);
            let last = out::last_sent(o, app.now_ms, t);
            let fiks = out::fiks_status(o, app.now_ms, t);
            let mp = out::maskinporten_status(o, app.now_ms, t);
            [
                Line::from(vec![
                    Span::styled(format!("{} ", level.symbol()), theme.level(level)),
                    Span::styled(format!("{}  ", o.mottakersystem), theme.title),
                    Span::raw(fill(
                        t.out_summary,
                        &[
                            &out::count(o, OutboundState::Queued),
                            &out::count(o, OutboundState::RetryWait),
                            &out::count(o, OutboundState::Failed),
                            &last,
                        ],
                    )),
                ]),
                Line::from(vec![
                    Span::raw("    "),
                    Span::styled(format!("{}: ", t.fiks_digisos), theme.dim),
                    Span::styled(fiks.label(), theme.level(fiks.level)),
                    Span::styled(" · ", theme.dim),
                    Span::styled(format!("{}: ", t.maskinporten), theme.dim),
                    Span::styled(mp.label(), theme.level(mp.level)),
                ]),
            ]
        })
        .collect();
    let l = &app.lists[View::Outbound.index()];
    // On a narrow screen the detail pane needs the room more than the summary.
    let summary_height = if l.detail && area.width < 120 {
        0
    } else {
        (u16_of(summary.len()).saturating_add(2))
            .min(area.height / 3)
            .max(3)
    };
    let [top, rest] =
        Layout::vertical([Constraint::Length(summary_height), Constraint::Min(3)]).areas(area);
    if summary_height > 0 {
        f.render_widget(
            Paragraph::new(summary).block(block(theme, t.view_outbound.to_owned())),
            top,
        );
    }

    let rows = app.outbound_rows();
    let (table_area, detail_area) = list_and_detail(rest, l.detail, 35);
    let wide = table_area.width >= 110;
    let body: Vec<Row<'static>> = rows
        .iter()
        .map(|r| {
            let lv = out::item_level(r.item.state);
            let marked = app.out_marks.contains(&crate::app::out_key(*r));
            Row::new(vec![
                Cell::from(Line::from(vec![
                    Span::styled(if marked { "●" } else { " " }, theme.marked),
                    Span::styled(
                        format!("{} {}", lv.symbol(), out::item_word(t, r.item.state)),
                        theme.level(lv),
                    ),
                ])),
                Cell::from(r.mottakersystem.to_owned()),
                Cell::from(if wide {
                    r.item.digisos_id.shown().into_owned()
                } else {
                    out::short_case(r.item).to_owned()
                }),
                Cell::from(age(app.now_ms - r.item.claimed_at)),
                Cell::from(r.item.attempts.to_string()),
                Cell::from(out::first_line(r.item)),
            ])
        })
        .collect();
    let n = body.len();
    let total: u64 = state
        .outbound
        .iter()
        .map(|o| {
            out::count(o, OutboundState::Failed)
                + out::count(o, OutboundState::Queued)
                + out::count(o, OutboundState::RetryWait)
        })
        .sum();
    let listed: usize = state
        .outbound
        .iter()
        .map(|o| o.failures.len() + o.queue.len())
        .sum();
    let mut title_bottom = info_line(app, theme, n, total, View::Outbound);
    push_capped_note(&mut title_bottom, t, theme, listed, total);
    let title = t.out_items_title.to_owned();
    if n == 0 {
        let msg = if listed == 0 {
            t.no_outbound_items
        } else {
            t.no_match
        };
        f.render_widget(
            empty_list(t, theme, msg)
                .wrap(Wrap { trim: false })
                .block(block(theme, title).title_bottom(title_bottom)),
            table_area,
        );
    } else {
        let table = list_table(
            theme,
            body,
            [
                Constraint::Length(9),
                Constraint::Length(if wide { 14 } else { 10 }),
                Constraint::Length(if wide { 36 } else { 8 }),
                Constraint::Length(6),
                Constraint::Length(4),
                Constraint::Fill(1),
            ],
            [
                t.col_state,
                if wide {
                    t.col_system
                } else {
                    t.col_system_short
                },
                t.col_case,
                t.col_claimed,
                t.col_attempts,
                t.col_error,
            ],
        )
        .block(block(theme, title).title_bottom(title_bottom));
        let mut ts = table_state(l.selected, n);
        f.render_stateful_widget(table, table_area, &mut ts);
    }
    if let Some(d) = detail_area {
        let row = rows.get(l.selected).copied();
        render_detail(t, theme, f, d, row.map(|r| outbound_detail(app, theme, r)));
    }
}

/// The saksoppdatering's detail pane.
fn outbound_detail(app: &App, theme: &Theme, row: OutboundRow<'_>) -> Vec<Line<'static>> {
    let t = app.t();
    let item = row.item;
    let field = |name: &str, value: String| detail_field(theme, name, value);
    let lv = out::item_level(item.state);
    // What is wrong and what to do first: the pane may be short.
    let mut lines = vec![
        field(
            t.d_case,
            format!("{} / {}", row.mottakersystem, item.digisos_id),
        ),
        state_field(t, theme, lv, out::item_word(t, item.state), item.state),
    ];
    if let Some(folder) = &item.failed_folder {
        lines.push(field(t.d_failed_folder, format!("ut-feilet/{folder}")));
    }
    // feil.txt names every problem on a line of its own (`- ...`): those
    // first; the whole text further down.
    let error = item.last_error.as_ref().map(|e| e.masked().into_owned());
    let problems: Vec<&str> = error
        .as_deref()
        .map(|e| {
            e.lines()
                .filter_map(|l| l.trim().strip_prefix("- "))
                .collect()
        })
        .unwrap_or_default();
    let error_style = theme.level(lv.max(Level::Warning));
    if !problems.is_empty() {
        lines.push(Line::styled(format!("{}:", t.d_problems), theme.dim));
        for p in &problems {
            lines.push(Line::from(vec![
                Span::raw("  - "),
                Span::styled((*p).to_owned(), error_style),
            ]));
        }
    } else if let Some(e) = &error {
        lines.push(field_styled(
            theme,
            t.d_last_error,
            e.trim().to_owned(),
            error_style,
        ));
    }
    if let Some(todo) = out::item_todo(t, item.state) {
        lines.push(what_to_do_line(t, theme, todo));
    }
    lines.push(Line::raw(""));
    lines.push(field(t.d_update_id, item.update_id.shown().into_owned()));
    lines.push(field(
        t.d_claimed,
        format!(
            "{} ({})",
            utc(item.claimed_at),
            age(app.now_ms - item.claimed_at)
        ),
    ));
    lines.push(field(t.d_updated, utc(item.updated_at)));
    lines.push(field(t.d_attempts, item.attempts.to_string()));
    if let Some(n) = item.next_attempt_at {
        lines.push(field(t.d_next_attempt, utc(n)));
    }
    if let (false, Some(e)) = (problems.is_empty(), &error) {
        lines.push(Line::raw(""));
        lines.push(Line::styled(format!("{}:", t.d_feil_txt), theme.title));
        for l in e.lines() {
            lines.push(Line::raw(format!("  {l}")));
        }
    }
    lines.extend(history_lines(t, theme, &item.history, |e| {
        e.masked().lines().next().unwrap_or_default().to_owned()
    }));
    lines
}
