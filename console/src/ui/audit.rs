//! The audit view: the agent's audit log, newest first.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Paragraph, Row};

use super::widgets::{block, info_line, list_table, table_state};
use crate::app::{App, View};
use crate::human::utc_short;
use crate::theme::{Level, Theme};

fn via_short(via: &str) -> &str {
    match via {
        "local_socket" => "socket",
        other => other,
    }
}

pub(super) fn render_audit(app: &App, theme: &Theme, f: &mut Frame<'_>, area: Rect) {
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
