//! The overview: the queues table, the outbound queues, and the alerts box.

use mottak_protocol::console::{ForsendelseState, QueueHealth, UNACKED_WARNING_MS};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Wrap};

use super::outbound::render_outbound_queues;
use super::widgets::{
    block, count_cell, info_line, level_span, list_table, table_state, u16_of, wrapped_height,
};
use crate::alerts::system_prefix;
use crate::app::{App, View, in_progress, needs_person, queue_count};
use crate::human::{age, sparkline};
use crate::i18n::fill;
use crate::theme::{Level, Theme};

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

pub(super) fn render_overview(app: &App, theme: &Theme, f: &mut Frame<'_>, area: Rect) {
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
