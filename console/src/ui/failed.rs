//! The failed imports view: the list and its detail pane.

use mottak_protocol::console::{FailedImport, ForsendelseState};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row};

use super::widgets::{
    block, detail_field, empty_list, field_styled, history_lines, info_line, list_and_detail,
    list_table, push_capped_note, render_detail, state_field, table_state, what_to_do_line,
};
use crate::app::{App, View, short_id};
use crate::human::{age, bytes, utc};
use crate::i18n::Texts;
use crate::theme::{Level, Theme};

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

pub(super) fn render_failed(app: &App, theme: &Theme, f: &mut Frame<'_>, area: Rect) {
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
