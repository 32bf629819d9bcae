//! The confirmation choke point: how much confirmation a command needs,
//! the dialog's stages, and the only place a command becomes [`Effect::Send`].

use mottak_protocol::console::{Command, Target};
use ratatui::crossterm::event::{KeyCode, KeyEvent};

use super::{App, Batch, Effect, Mode};
use crate::i18n::fill;
use crate::theme::Level;

/// How much confirmation a command needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConfirmLevel {
    /// Harmless: sent at once (poll now).
    None,
    /// A yes/no dialog with Cancel focused.
    YesNo,
    /// A reason, then a typed word.
    Typed,
}

/// The confirmation each command needs: the single table the choke point reads.
pub fn confirm_level(c: &Command) -> ConfirmLevel {
    match c {
        Command::PollNow { .. } => ConfirmLevel::None,
        Command::MarkPermanent { .. } => ConfirmLevel::Typed,
        Command::Retry { .. }
        | Command::MoveToInn { .. }
        | Command::Pause { .. }
        | Command::Resume { .. }
        | Command::Grant { .. }
        | Command::Revoke { .. }
        | Command::AddMember { .. }
        | Command::RemoveMember { .. } => ConfirmLevel::YesNo,
    }
}

/// Where a confirmation dialog is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    YesNo { ok_focused: bool },
    Reason { input: String, error: bool },
    Typed { input: String, error: bool },
}

/// A proposal waiting for the person's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    pub question: String,
    pub commands: Vec<Command>,
    pub label: String,
    pub stage: Stage,
    /// The reason given (mark permanent), once given.
    pub reason: Option<String>,
    /// What the reason stage asks, and the word the typed stage wants:
    /// marking a forsendelse permanent and discarding a saksoppdatering
    /// differ in who is told and in the word typed.
    pub reason_prompt: &'static str,
    pub typed_word: &'static str,
}

impl App {
    /// Every command to the agent starts here. Harmless ones are sent at
    /// once; the rest open a dialog, and only [`App::confirm`] sends them.
    pub fn propose(
        &mut self,
        question: String,
        label: String,
        commands: Vec<Command>,
    ) -> Vec<Effect> {
        let level = commands
            .iter()
            .map(confirm_level)
            .max()
            .unwrap_or(ConfirmLevel::None);
        let t = self.t();
        // Discarding saksoppdateringer tells nobody outside: its own words.
        let discard = !commands.is_empty()
            && commands.iter().all(|c| {
                matches!(
                    c,
                    Command::MarkPermanent {
                        target: Target::Update(_),
                        ..
                    }
                )
            });
        let confirm = Confirm {
            question,
            commands,
            label,
            stage: match level {
                ConfirmLevel::Typed => Stage::Reason {
                    input: String::new(),
                    error: false,
                },
                _ => Stage::YesNo { ok_focused: false },
            },
            reason: None,
            reason_prompt: if discard {
                t.reason_prompt_discard
            } else {
                t.reason_prompt
            },
            typed_word: if discard {
                t.typed_word_discard
            } else {
                t.typed_word
            },
        };
        if level == ConfirmLevel::None {
            return self.confirm(confirm);
        }
        self.mode = Mode::Confirm(confirm);
        Vec::new()
    }

    /// Sends a confirmed proposal: one command per row, each with its own id.
    fn confirm(&mut self, c: Confirm) -> Vec<Effect> {
        self.mode = Mode::Normal;
        let batch = self.next_batch;
        self.next_batch += 1;
        let mut out = Vec::new();
        for mut command in c.commands {
            if let (Command::MarkPermanent { reason, .. }, Some(r)) = (&mut command, &c.reason) {
                reason.clone_from(r);
            }
            let id = format!("{}-{}", self.id_prefix, self.next_id);
            self.next_id += 1;
            self.pending.insert(id.clone(), batch);
            out.push(Effect::Send { id, command });
        }
        self.batches.insert(
            batch,
            Batch {
                label: c.label.clone(),
                total: out.len(),
                ok: 0,
                failed: 0,
                first_error: None,
            },
        );
        // Marks are used up by the action they were for.
        self.marks.clear();
        self.out_marks.clear();
        let text = fill(self.t().sent, &[&c.label]);
        self.toast(Level::Info, text);
        out
    }

    pub(super) fn cancel(&mut self) {
        self.mode = Mode::Normal;
        let text = self.t().cancelled.to_owned();
        self.toast(Level::Info, text);
    }

    pub(super) fn on_confirm_key(&mut self, key: KeyEvent, mut c: Confirm) -> Vec<Effect> {
        match &mut c.stage {
            Stage::YesNo { ok_focused } => match key.code {
                KeyCode::Esc | KeyCode::Char('n' | 'N' | 'q') => self.cancel(),
                KeyCode::Char('y' | 'Y') => return self.confirm(c),
                KeyCode::Left
                | KeyCode::Right
                | KeyCode::Tab
                | KeyCode::BackTab
                | KeyCode::Char('h' | 'l') => {
                    *ok_focused = !*ok_focused;
                    self.mode = Mode::Confirm(c);
                }
                KeyCode::Enter => {
                    if *ok_focused {
                        return self.confirm(c);
                    }
                    self.cancel();
                }
                _ => {}
            },
            Stage::Reason { input, error } => match key.code {
                KeyCode::Esc => self.cancel(),
                KeyCode::Enter => {
                    let reason = input.trim().to_owned();
                    if reason.is_empty() {
                        *error = true;
                    } else {
                        c.reason = Some(reason);
                        c.stage = Stage::Typed {
                            input: String::new(),
                            error: false,
                        };
                    }
                    self.mode = Mode::Confirm(c);
                }
                KeyCode::Backspace => {
                    input.pop();
                    self.mode = Mode::Confirm(c);
                }
                KeyCode::Char(ch) => {
                    if input.chars().count() < mottak_protocol::console::MAX_REASON_LEN {
                        input.push(ch);
                    }
                    *error = false;
                    self.mode = Mode::Confirm(c);
                }
                _ => {}
            },
            Stage::Typed { input, error } => match key.code {
                KeyCode::Esc => self.cancel(),
                KeyCode::Enter => {
                    if input.trim() == c.typed_word {
                        return self.confirm(c);
                    }
                    *error = true;
                    self.mode = Mode::Confirm(c);
                }
                KeyCode::Backspace => {
                    input.pop();
                    self.mode = Mode::Confirm(c);
                }
                KeyCode::Char(ch) => {
                    input.push(ch);
                    *error = false;
                    self.mode = Mode::Confirm(c);
                }
                _ => {}
            },
        }
        Vec::new()
    }
}
