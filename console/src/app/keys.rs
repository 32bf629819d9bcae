//! Key handling: each mode's keys, and the normal mode's dispatch of the
//! keymap's actions.

use mottak_protocol::console::OutboundState;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::rows::key_of;
use super::{
    AUDIT_SORTS, App, Effect, FAILED_SORTS, FailedKey, Mode, OUTBOUND_SORTS, PromptKind,
    QUEUE_SORTS, View, out_key,
};
use crate::i18n::Lang;
use crate::keymap::{self, KeyAction};
use crate::theme::{Level, ThemeKind};

impl App {
    pub(super) fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if key.kind == ratatui::crossterm::event::KeyEventKind::Release {
            return Vec::new();
        }
        // Ctrl-C always leaves, whatever the mode.
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            return vec![Effect::Quit];
        }
        match self.mode.clone() {
            Mode::Normal => self.on_normal_key(key),
            Mode::Help => {
                match key.code {
                    KeyCode::Char('j') | KeyCode::Down => {
                        self.help_scroll = self.help_scroll.saturating_add(1)
                    }
                    KeyCode::Char('k') | KeyCode::Up => {
                        self.help_scroll = self.help_scroll.saturating_sub(1)
                    }
                    _ => {
                        self.mode = Mode::Normal;
                        self.help_scroll = 0;
                    }
                }
                Vec::new()
            }
            Mode::Filter => {
                match key.code {
                    KeyCode::Esc => {
                        self.list_mut().filter.clear();
                        self.mode = Mode::Normal;
                    }
                    KeyCode::Enter => self.mode = Mode::Normal,
                    KeyCode::Backspace => {
                        self.list_mut().filter.pop();
                    }
                    KeyCode::Char(c) => self.list_mut().filter.push(c),
                    _ => {}
                }
                self.list_mut().selected = 0;
                self.remember();
                Vec::new()
            }
            Mode::Command {
                input,
                typed,
                completion,
            } => self.on_command_key(key, input, typed, completion),
            Mode::Confirm(c) => self.on_confirm_key(key, c),
            Mode::Prompt { kind, input, .. } => self.on_prompt_key(key, kind, input),
        }
    }

    fn on_normal_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Some(b) = keymap::lookup(self.view, &key) else {
            return Vec::new();
        };
        if let Some(p) = b.needs
            && !self.allowed(p)
        {
            // Hidden from this role: the key does nothing but say so.
            let text = self.t().not_allowed.to_owned();
            self.toast(Level::Warning, text);
            return Vec::new();
        }
        match b.action {
            KeyAction::Quit => return vec![Effect::Quit],
            KeyAction::Help => {
                self.mode = Mode::Help;
                self.help_scroll = 0;
            }
            KeyAction::NextView => self.view = self.view.next(),
            KeyAction::PrevView => self.view = self.view.prev(),
            KeyAction::GotoView(v) => self.view = v,
            KeyAction::CommandMode => {
                self.mode = Mode::Command {
                    input: String::new(),
                    typed: String::new(),
                    completion: 0,
                }
            }
            KeyAction::Down => self.move_by(1),
            KeyAction::Up => self.move_by(-1),
            KeyAction::Top => self.set_selected(0),
            KeyAction::Bottom => self.set_selected(usize::MAX),
            KeyAction::PageDown if self.view == View::Integrations => {
                self.integrations_offset =
                    self.integrations_offset.saturating_add(self.page.max(1));
            }
            KeyAction::PageUp if self.view == View::Integrations => {
                self.integrations_offset =
                    self.integrations_offset.saturating_sub(self.page.max(1));
            }
            KeyAction::PageDown => self.move_by(self.page.max(1) as isize),
            KeyAction::PageUp => self.move_by(-(self.page.max(1) as isize)),
            KeyAction::Filter => self.mode = Mode::Filter,
            KeyAction::Escape => {
                let view = self.view;
                let l = self.list_mut();
                if l.detail {
                    l.detail = false;
                } else if !l.filter.is_empty() {
                    l.filter.clear();
                } else if view == View::Failed {
                    self.marks.clear();
                } else if view == View::Outbound {
                    self.out_marks.clear();
                }
                self.toast = None;
            }
            KeyAction::Sort => {
                let n = match self.view {
                    View::Overview => QUEUE_SORTS.len(),
                    View::Failed => FAILED_SORTS.len(),
                    View::Outbound => OUTBOUND_SORTS.len(),
                    View::Audit => AUDIT_SORTS.len(),
                    View::Integrations | View::Access => 1,
                };
                let l = self.list_mut();
                l.sort = (l.sort + 1) % n;
                l.descending = false;
                self.after_sort();
            }
            KeyAction::ReverseSort => {
                let l = self.list_mut();
                l.descending = !l.descending;
                self.after_sort();
            }
            KeyAction::Detail => {
                let l = self.list_mut();
                l.detail = !l.detail;
            }
            KeyAction::Mark if self.view == View::Outbound => {
                let Some(row) = self.selected_outbound() else {
                    return Vec::new();
                };
                if row.item.state != OutboundState::Failed {
                    let text = self.t().out_only_failed.to_owned();
                    self.toast(Level::Warning, text);
                    return Vec::new();
                }
                let k = out_key(row);
                if !self.out_marks.remove(&k) {
                    self.out_marks.insert(k);
                }
                self.move_by(1);
            }
            KeyAction::MarkAll if self.view == View::Outbound => {
                let keys: Vec<FailedKey> = self
                    .outbound_rows()
                    .into_iter()
                    .filter(|r| r.item.state == OutboundState::Failed)
                    .map(out_key)
                    .collect();
                self.out_marks.extend(keys);
            }
            KeyAction::UnmarkAll if self.view == View::Outbound => self.out_marks.clear(),
            KeyAction::Mark => {
                if let Some(k) = self.selected_failed().map(key_of) {
                    if !self.marks.remove(&k) {
                        self.marks.insert(k);
                    }
                    self.move_by(1);
                }
            }
            KeyAction::MarkAll => {
                let keys: Vec<FailedKey> = self.failed_rows().into_iter().map(key_of).collect();
                self.marks.extend(keys);
            }
            KeyAction::UnmarkAll => self.marks.clear(),
            KeyAction::Retry if self.view == View::Outbound => {
                return self.act_on_outbound(KeyAction::Retry);
            }
            KeyAction::Discard => return self.act_on_outbound(KeyAction::Discard),
            KeyAction::Retry => return self.act_on_failed(KeyAction::Retry),
            KeyAction::MoveToInn => return self.act_on_failed(KeyAction::MoveToInn),
            KeyAction::MarkPermanent => return self.act_on_failed(KeyAction::MarkPermanent),
            KeyAction::PauseResume | KeyAction::PollNow => return self.act_on_queue(b.action),
            KeyAction::AddGrant => {
                self.mode = Mode::Prompt {
                    kind: PromptKind::AddGrant,
                    input: String::new(),
                    error: false,
                }
            }
            KeyAction::AddMember => {
                self.mode = Mode::Prompt {
                    kind: PromptKind::AddMember,
                    input: String::new(),
                    error: false,
                }
            }
            KeyAction::Remove => return self.remove_access_row(),
            KeyAction::Theme => {
                self.theme = match self.theme {
                    ThemeKind::Default => ThemeKind::HighContrast,
                    ThemeKind::HighContrast => ThemeKind::Default,
                }
            }
            KeyAction::Lang => {
                self.lang = match self.lang {
                    Lang::Nb => Lang::En,
                    Lang::En => Lang::Nb,
                }
            }
        }
        Vec::new()
    }
}
