//! The outbound view (saksoppdateringer to Fiks Digisos) and the overview's
//! outbound queues table.

use mottak_protocol::console::{OutboundState, OutboundStatus};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, HighlightSpacing, Paragraph, Row, Table, Wrap};

use super::widgets::{
    block, count_cell, detail_field, empty_list, field_styled, header_row, history_lines,
    info_line, list_and_detail, list_table, push_capped_note, render_detail, state_field,
    table_state, u16_of, what_to_do_line,
};
use crate::app::{App, OutboundRow, View};
use crate::human::{age, utc};
use crate::i18n::fill;
use crate::outbound::{self as out, LinkStatus};
use crate::theme::{Level, Theme};

/// The overview's outbound table: per mottakersystem with digisos, the
/// queue, the failures, the last send, and Fiks and Maskinporten in a word.
pub(super) fn render_outbound_queues(
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
pub(super) fn render_outbound(app: &App, theme: &Theme, f: &mut Frame<'_>, area: Rect) {
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
