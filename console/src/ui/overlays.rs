//! What is drawn over a view: help, the confirmation dialog, and the
//! add-grant/add-member prompt.

use ratatui::Frame;
use ratatui::layout::{Margin, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::widgets::{block, u16_of};
use crate::app::{App, Mode, PromptKind, Stage, View};
use crate::i18n::fill;
use crate::keymap;
use crate::theme::{Level, Theme};

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

pub(super) fn render_help(app: &App, theme: &Theme, f: &mut Frame<'_>, area: Rect) {
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

pub(super) fn render_confirm(app: &App, theme: &Theme, f: &mut Frame<'_>, area: Rect) {
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

pub(super) fn render_prompt(app: &App, theme: &Theme, f: &mut Frame<'_>, area: Rect) {
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
