//! The free-text prompt for adding a grant or a member, and the parsers of
//! what is typed there.

use mottak_protocol::console::{Command, Principal, Role, Scope};
use ratatui::crossterm::event::{KeyCode, KeyEvent};

use super::{App, Effect, Mode};
use crate::i18n::fill;

/// What a free-text prompt is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    AddGrant,
    AddMember,
}

impl App {
    pub(super) fn on_prompt_key(
        &mut self,
        key: KeyEvent,
        kind: PromptKind,
        mut input: String,
    ) -> Vec<Effect> {
        let t = self.t();
        match key.code {
            KeyCode::Esc => self.cancel(),
            KeyCode::Backspace => {
                input.pop();
                self.mode = Mode::Prompt {
                    kind,
                    input,
                    error: false,
                };
            }
            KeyCode::Char(c) => {
                input.push(c);
                self.mode = Mode::Prompt {
                    kind,
                    input,
                    error: false,
                };
            }
            KeyCode::Enter => {
                let parsed = match kind {
                    PromptKind::AddGrant => parse_grant(&input).map(|(principal, role, scope)| {
                        let q = fill(t.ask_grant, &[&principal, &role, &scope.as_str()]);
                        (
                            q,
                            Command::Grant {
                                principal,
                                role,
                                scope,
                            },
                        )
                    }),
                    PromptKind::AddMember => parse_member(&input).map(|(user, group)| {
                        let q = fill(t.ask_add_member, &[&user, &group]);
                        (q, Command::AddMember { user, group })
                    }),
                };
                match parsed {
                    Some((question, command)) => {
                        let label = match kind {
                            PromptKind::AddGrant => t.k_add_grant,
                            PromptKind::AddMember => t.k_add_member,
                        };
                        self.mode = Mode::Normal;
                        return self.propose(question, label.to_owned(), vec![command]);
                    }
                    None => {
                        self.mode = Mode::Prompt {
                            kind,
                            input,
                            error: true,
                        }
                    }
                }
            }
            _ => {}
        }
        Vec::new()
    }
}

/// `user kari operator nav-frogn` → a grant.
pub fn parse_grant(s: &str) -> Option<(Principal, Role, Scope)> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [kind, name, role, scope] = parts.as_slice() else {
        return None;
    };
    let principal = match *kind {
        "user" | "bruker" => Principal::User((*name).to_owned()),
        "group" | "gruppe" => Principal::Group((*name).to_owned()),
        _ => return None,
    };
    let role = Role::parse(role)?;
    Some((principal, role, Scope::parse(scope)))
}

/// `kari drift` → (user, group).
pub fn parse_member(s: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [user, group] = parts.as_slice() else {
        return None;
    };
    Some(((*user).to_owned(), (*group).to_owned()))
}
