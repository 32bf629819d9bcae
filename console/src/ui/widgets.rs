//! Small renderers every view shares: boxes, tables, the info line, detail
//! fields. Kept apart so each view file holds only its own layout.

use mottak_protocol::console::HistoryEntry;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, BorderType, Borders, Cell, HighlightSpacing, Paragraph, Row, Table, TableState, Wrap,
};

use crate::app::{App, Mode, View};
use crate::human::utc_short;
use crate::i18n::{Texts, fill};
use crate::theme::{Level, Theme};

pub(super) fn u16_of(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// `▲ WARNING` in the level's style.
pub(super) fn level_span(t: &Texts, theme: &Theme, l: Level) -> Span<'static> {
    Span::styled(format!("{} {}", l.symbol(), l.word(t)), theme.level(l))
}

pub(super) fn block<'a>(theme: &Theme, title: String) -> Block<'a> {
    Block::new()
        .borders(Borders::ALL)
        .border_type(BorderType::Plain)
        .border_style(theme.border)
        .title(Span::styled(format!(" {title} "), theme.title))
}

/// The info line above a table: counts, sort, filter, marks.
pub(super) fn info_line(
    app: &App,
    theme: &Theme,
    shown: usize,
    total: u64,
    view: View,
) -> Line<'static> {
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
pub(super) fn wrapped_height(line: &Line<'_>, width: usize) -> usize {
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

pub(super) fn table_state(selected: usize, n: usize) -> TableState {
    let mut s = TableState::default();
    if n > 0 {
        s.select(Some(selected.min(n - 1)));
    }
    s
}

/// A table's header row, in the header style.
pub(super) fn header_row<'h>(
    theme: &Theme,
    labels: impl IntoIterator<Item = &'h str>,
) -> Row<'static> {
    Row::new(labels.into_iter().map(|h| Cell::from(h.to_owned()))).style(theme.table_header)
}

/// A list the cursor moves in: its header, and the selected row marked
/// `▶` and highlighted.
pub(super) fn list_table<'a, 'h>(
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
pub(super) fn list_and_detail(area: Rect, detail: bool, list_pct: u16) -> (Rect, Option<Rect>) {
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
pub(super) fn empty_list(t: &Texts, theme: &Theme, msg: &str) -> Paragraph<'static> {
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
pub(super) fn push_capped_note(
    line: &mut Line<'static>,
    t: &Texts,
    theme: &Theme,
    listed: usize,
    total: u64,
) {
    if (listed as u64) < total {
        line.spans.push(Span::styled(" · ", theme.dim));
        line.spans.push(Span::styled(
            fill(t.capped_note, &[&listed, &total]),
            theme.warning,
        ));
    }
}

/// A detail pane's `name  value` line: the name in 18 columns, dim.
pub(super) fn detail_field(theme: &Theme, name: &str, value: String) -> Line<'static> {
    field_styled(theme, name, value, Style::default())
}

pub(super) fn field_styled(
    theme: &Theme,
    name: &str,
    value: String,
    style: Style,
) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("{name:<18} "), theme.dim),
        Span::styled(value, style),
    ])
}

/// A detail pane's state: `✖ failed (failed)` in its level's style.
pub(super) fn state_field(
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
pub(super) fn what_to_do_line(t: &Texts, theme: &Theme, todo: &'static str) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("{}: ", t.what_to_do), theme.title),
        Span::raw(todo),
    ])
}

/// A detail pane's history, newest first, after a blank line and a title;
/// `error` writes an entry's error.
pub(super) fn history_lines(
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
pub(super) fn render_detail(
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

pub(super) fn count_cell(n: u64, theme: &Theme, level: Level) -> Cell<'static> {
    if n == 0 {
        Cell::from(Span::styled("0", theme.dim))
    } else {
        Cell::from(Span::styled(n.to_string(), theme.level(level)))
    }
}
