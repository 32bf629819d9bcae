//! The `:` command line: view names, Tab completion, quitting.

use std::collections::BTreeSet;

use ratatui::crossterm::event::{KeyCode, KeyEvent};

use super::{App, Effect, Mode, View};
use crate::i18n::fill;
use crate::theme::Level;

impl App {
    pub(super) fn on_command_key(
        &mut self,
        key: KeyEvent,
        mut input: String,
        typed: String,
        completion: usize,
    ) -> Vec<Effect> {
        match key.code {
            KeyCode::Esc => self.mode = Mode::Normal,
            KeyCode::Tab => {
                // Complete the typed prefix; Tab again cycles through the candidates.
                let matches = completions(&typed);
                if let Some(name) = matches.get(completion % matches.len().max(1)) {
                    self.mode = Mode::Command {
                        input: (*name).to_owned(),
                        typed,
                        completion: completion + 1,
                    };
                }
            }
            KeyCode::Backspace => {
                input.pop();
                self.mode = Mode::Command {
                    typed: input.clone(),
                    input,
                    completion: 0,
                };
            }
            KeyCode::Char(c) => {
                input.push(c);
                self.mode = Mode::Command {
                    typed: input.clone(),
                    input,
                    completion: 0,
                };
            }
            KeyCode::Enter => {
                self.mode = Mode::Normal;
                let word = input.trim().to_lowercase();
                if matches!(word.as_str(), "q" | "quit" | "avslutt") {
                    return vec![Effect::Quit];
                }
                if word.is_empty() {
                    return Vec::new();
                }
                match view_by_name(&word) {
                    Some(v) => self.view = v,
                    None => {
                        let text = fill(self.t().unknown_view, &[&word]);
                        self.toast(Level::Warning, text);
                    }
                }
            }
            _ => {}
        }
        Vec::new()
    }
}

/// View names that start with `prefix` (each name once).
pub fn completions(prefix: &str) -> Vec<&'static str> {
    let p = prefix.trim().to_lowercase();
    View::ALL
        .iter()
        .flat_map(|v| v.names().iter().copied())
        .filter(|n| n.starts_with(&p))
        .collect()
}

/// A view by a name or an unambiguous prefix of one.
pub fn view_by_name(word: &str) -> Option<View> {
    if let Some(v) = View::ALL.into_iter().find(|v| v.names().contains(&word)) {
        return Some(v);
    }
    let hits: BTreeSet<View> = View::ALL
        .into_iter()
        .filter(|v| v.names().iter().any(|n| n.starts_with(word)))
        .collect();
    if hits.len() == 1 {
        hits.into_iter().next()
    } else {
        None
    }
}
