//! The access view: coverage per mottakersystem, then grants and members.

use mottak_protocol::console::MembershipSource;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row};

use super::widgets::{block, info_line, list_table, table_state, u16_of};
use crate::app::{AccessRow, App, View};
use crate::i18n::fill;
use crate::theme::{Level, Theme};

pub(super) fn render_access(app: &App, theme: &Theme, f: &mut Frame<'_>, area: Rect) {
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
