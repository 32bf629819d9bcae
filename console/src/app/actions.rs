//! What an action key proposes: the rows it applies to, the permission it
//! needs, and the commands and question it hands to [`App::propose`].

use mottak_protocol::console::{
    Command, FailedImport, ForsendelseState, OutboundItem, OutboundState, Permission, Target,
};

use super::rows::key_of;
use super::{AccessRow, App, Effect, View, out_key, short_id};
use crate::i18n::fill;
use crate::keymap::KeyAction;
use crate::theme::Level;

impl App {
    /// The failed imports an action applies to: the marked ones, or the one
    /// under the cursor.
    fn chosen_failed(&self) -> Vec<&FailedImport> {
        if self.marks.is_empty() {
            return self.selected_failed().into_iter().collect();
        }
        let Some(state) = &self.state else {
            return Vec::new();
        };
        state
            .failed
            .items
            .iter()
            .filter(|f| self.marks.contains(&key_of(f)))
            .collect()
    }

    pub(super) fn act_on_failed(&mut self, what: KeyAction) -> Vec<Effect> {
        let t = self.t();
        let (perm, applies): (Permission, fn(ForsendelseState) -> bool) = match what {
            KeyAction::Retry => (Permission::Retry, |s| {
                matches!(s, ForsendelseState::Failed | ForsendelseState::RetryWait)
            }),
            KeyAction::MoveToInn => (Permission::MoveToInn, |s| s == ForsendelseState::Rejected),
            _ => (Permission::MarkPermanent, |s| s.needs_attention()),
        };
        let chosen: Vec<FailedImport> = self.chosen_failed().into_iter().cloned().collect();
        let allowed: Vec<&FailedImport> = chosen
            .iter()
            .filter(|f| self.may(perm, &f.mottakersystem))
            .collect();
        if !chosen.is_empty() && allowed.is_empty() {
            self.toast(Level::Warning, t.not_allowed.to_owned());
            return Vec::new();
        }
        let targets: Vec<&FailedImport> =
            allowed.into_iter().filter(|f| applies(f.state)).collect();
        if targets.is_empty() {
            self.toast(Level::Warning, t.nothing_applies.to_owned());
            return Vec::new();
        }
        let n = targets.len();
        let one = (n == 1).then(|| {
            format!(
                " {}/{}",
                targets[0].mottakersystem,
                short_id(targets[0].id.raw())
            )
        });
        let (question, label, commands): (String, String, Vec<Command>) = match what {
            KeyAction::Retry => (
                fill(t.ask_retry, &[&n]),
                t.k_retry.to_owned(),
                targets
                    .iter()
                    .map(|f| Command::Retry {
                        mottakersystem: f.mottakersystem.clone(),
                        target: Target::Forsendelse(f.id.raw().to_owned()),
                    })
                    .collect(),
            ),
            KeyAction::MoveToInn => (
                fill(t.ask_move_to_inn, &[&n]),
                t.k_move_to_inn.to_owned(),
                targets
                    .iter()
                    .map(|f| Command::MoveToInn {
                        mottakersystem: f.mottakersystem.clone(),
                        forsendelse: f.id.raw().to_owned(),
                    })
                    .collect(),
            ),
            _ => (
                fill(t.ask_mark_permanent, &[&n]),
                t.k_mark_permanent.to_owned(),
                targets
                    .iter()
                    .map(|f| Command::MarkPermanent {
                        mottakersystem: f.mottakersystem.clone(),
                        target: Target::Forsendelse(f.id.raw().to_owned()),
                        reason: String::new(),
                    })
                    .collect(),
            ),
        };
        let question = match one {
            Some(which) => format!("{question}{which}"),
            None => question,
        };
        self.propose(question, label, commands)
    }

    /// Retry or discard the marked saksoppdateringer, or the one under the
    /// cursor (only failed ones; the agent handles the queue by itself).
    pub(super) fn act_on_outbound(&mut self, what: KeyAction) -> Vec<Effect> {
        let t = self.t();
        let chosen: Vec<(String, OutboundItem)> = if self.out_marks.is_empty() {
            self.selected_outbound()
                .map(|r| (r.mottakersystem.to_owned(), r.item.clone()))
                .into_iter()
                .collect()
        } else {
            self.outbound_rows()
                .into_iter()
                .filter(|r| self.out_marks.contains(&out_key(*r)))
                .map(|r| (r.mottakersystem.to_owned(), r.item.clone()))
                .collect()
        };
        if chosen.is_empty() {
            self.toast(Level::Warning, t.nothing_applies.to_owned());
            return Vec::new();
        }
        let perm = if what == KeyAction::Discard {
            Permission::MarkPermanent
        } else {
            Permission::Retry
        };
        let allowed: Vec<&(String, OutboundItem)> = chosen
            .iter()
            .filter(|(sys, _)| self.may(perm, sys))
            .collect();
        if allowed.is_empty() {
            self.toast(Level::Warning, t.not_allowed.to_owned());
            return Vec::new();
        }
        let targets: Vec<&(String, OutboundItem)> = allowed
            .into_iter()
            .filter(|(_, item)| item.state == OutboundState::Failed)
            .collect();
        if targets.is_empty() {
            self.toast(Level::Warning, t.out_only_failed.to_owned());
            return Vec::new();
        }
        let question = match targets.as_slice() {
            [(sys, item)] => {
                let which = format!("{} ({sys})", item.digisos_id);
                if what == KeyAction::Discard {
                    fill(t.ask_out_discard, &[&which])
                } else {
                    fill(t.ask_out_retry, &[&which])
                }
            }
            many if what == KeyAction::Discard => fill(t.ask_out_discard_n, &[&many.len()]),
            many => fill(t.ask_out_retry_n, &[&many.len()]),
        };
        let commands = targets
            .iter()
            .map(|(sys, item)| {
                if what == KeyAction::Discard {
                    Command::MarkPermanent {
                        mottakersystem: sys.clone(),
                        target: Target::Update(item.update_id.raw().to_owned()),
                        reason: String::new(),
                    }
                } else {
                    Command::Retry {
                        mottakersystem: sys.clone(),
                        target: Target::Update(item.update_id.raw().to_owned()),
                    }
                }
            })
            .collect();
        let label = if what == KeyAction::Discard {
            t.k_discard
        } else {
            t.k_out_retry
        };
        self.propose(question, label.to_owned(), commands)
    }

    pub(super) fn act_on_queue(&mut self, what: KeyAction) -> Vec<Effect> {
        let t = self.t();
        let rows = self.queue_rows();
        let Some(q) = rows.get(self.lists[View::Overview.index()].selected) else {
            return Vec::new();
        };
        let sys = q.mottakersystem.clone();
        let paused = q.paused.is_some();
        let (perm, command, question, label) = match what {
            KeyAction::PollNow => (
                Permission::PollNow,
                Command::PollNow {
                    mottakersystem: sys.clone(),
                },
                fill(t.ask_poll, &[&sys]),
                t.k_poll_now,
            ),
            _ if paused => (
                Permission::Resume,
                Command::Resume {
                    mottakersystem: sys.clone(),
                },
                fill(t.ask_resume, &[&sys]),
                t.k_pause,
            ),
            _ => (
                Permission::Pause,
                Command::Pause {
                    mottakersystem: sys.clone(),
                    reason: None,
                },
                fill(t.ask_pause, &[&sys]),
                t.k_pause,
            ),
        };
        if !self.may(perm, &sys) {
            self.toast(Level::Warning, t.not_allowed.to_owned());
            return Vec::new();
        }
        self.propose(question, label.to_owned(), vec![command])
    }

    pub(super) fn remove_access_row(&mut self) -> Vec<Effect> {
        let t = self.t();
        let rows = self.access_rows();
        let Some(row) = rows.get(self.lists[View::Access.index()].selected).copied() else {
            return Vec::new();
        };
        let (command, question) = match row {
            AccessRow::Grant(g) => (
                Command::Revoke {
                    principal: g.principal.clone(),
                    role: g.role,
                    scope: g.scope.clone(),
                },
                fill(t.ask_revoke, &[&g.role, &g.scope.as_str(), &g.principal]),
            ),
            AccessRow::Member(m) => (
                Command::RemoveMember {
                    user: m.user.clone(),
                    group: m.group.clone(),
                },
                fill(t.ask_remove_member, &[&m.user, &m.group]),
            ),
        };
        if let AccessRow::Member(m) = row
            && m.source == mottak_protocol::console::MembershipSource::UnixGroup
        {
            // /etc/group is not the agent's to change.
            self.toast(Level::Warning, t.nothing_applies.to_owned());
            return Vec::new();
        }
        self.propose(question, t.k_remove.to_owned(), vec![command])
    }
}
