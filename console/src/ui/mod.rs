//! Drawing: `render(&App, &mut Frame)`, pure. Every status is a word and a
//! symbol as well as a style, so the high-contrast theme and a colour-blind
//! reader see the same thing.
//!
//! This file lays out the frame (header, tabs, body, footer) and dispatches to
//! one submodule per view; `widgets` holds what the views share.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use crate::app::{App, Conn, Mode, View, completions};
use crate::i18n::fill;
use crate::keymap;
use crate::outbound as out;
use crate::theme::{Level, Theme};
use widgets::u16_of;

mod access;
mod audit;
mod failed;
mod integrations;
mod outbound;
mod overlays;
mod overview;
mod widgets;

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
            View::Overview => overview::render_overview(app, &theme, f, body),
            View::Failed => failed::render_failed(app, &theme, f, body),
            View::Outbound => outbound::render_outbound(app, &theme, f, body),
            View::Integrations => integrations::render_integrations(app, &theme, f, body),
            View::Access => access::render_access(app, &theme, f, body),
            View::Audit => audit::render_audit(app, &theme, f, body),
        }
    }
    render_footer(app, &theme, f, footer);
    match &app.mode {
        Mode::Help => overlays::render_help(app, &theme, f, area),
        Mode::Confirm(_) => overlays::render_confirm(app, &theme, f, area),
        Mode::Prompt { .. } => overlays::render_prompt(app, &theme, f, area),
        _ => {}
    }
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
