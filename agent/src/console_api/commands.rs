//! Console commands, done on the agent: checked against the caller's role
//! and scope (with the access list as the journal holds it now, not as the
//! last snapshot showed it), done, and written to the audit log, whatever
//! the outcome. A command id is remembered per user: sending it again
//! returns the first outcome and does nothing again.
//!
//! Commands on one mottakersystem run one at a time (a lock per
//! mottakersystem, and one for access changes), and a command id runs once
//! at a time (a lock per user and id), so a repeated id never runs twice
//! concurrently. No lock is shared between mottakersystemer: a command
//! whose file work on one drop folder is slow never holds up a command on
//! another.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use mottak_protocol::console::{
    Command, ErrorCode, MAX_COMMAND_ID_LEN, MAX_REASON_LEN, Outcome, Principal, RoleGrant, mask_fnr,
};
use tokio::sync::{Mutex, Notify, OwnedMutexGuard};
use tracing::{error, info, warn};

use super::access::{AccessData, Identity, check, check_name};
use crate::dropfolder::{DropFolder, FeilTxt};
use crate::inbound::worker::WorkerHealth;
use crate::journal::access::AuditNote;
use crate::journal::{Change, JournalError, SharedJournal, State, can_transition};
use crate::names::ForsendelseId;

/// What a command needs of one mottakersystem.
#[derive(Debug, Clone)]
pub struct SystemControl {
    pub drop: DropFolder,
    pub health: Arc<WorkerHealth>,
}

/// Runs console commands.
#[derive(Debug)]
pub struct CommandRunner {
    journal: SharedJournal,
    /// By name, in config order for messages.
    systems: BTreeMap<String, SystemControl>,
    order: Vec<String>,
    /// One lock per mottakersystem (and one for access changes), one per
    /// (user, command id); see the module doc.
    locks: KeyedLocks,
    /// Told after every command, so consoles see its effect at once.
    rebuild: Arc<Notify>,
    /// Outbound workers: `retry`/`mark_permanent` of an update id (`ut.…`).
    outbound: Vec<crate::outbound::console::OutboundSource>,
}

impl CommandRunner {
    pub fn new(
        journal: SharedJournal,
        systems: Vec<(String, SystemControl)>,
        rebuild: Arc<Notify>,
    ) -> Self {
        CommandRunner {
            journal,
            order: systems.iter().map(|(n, _)| n.clone()).collect(),
            systems: systems.into_iter().collect(),
            locks: KeyedLocks::default(),
            rebuild,
            outbound: Vec::new(),
        }
    }

    /// The outbound workers whose failed saksoppdateringer may be retried
    /// or discarded.
    pub fn set_outbound(&mut self, sources: Vec<crate::outbound::console::OutboundSource>) {
        self.outbound = sources;
    }

    /// The access list as the journal holds it now, and the audit head
    /// read just before it (its version, comparable with
    /// [`Built::access_version`](super::state::Built)).
    pub async fn access_now(&self) -> Result<(AccessData, i64), JournalError> {
        self.journal
            .call(|j| {
                let version = j.audit_head()?;
                Ok((
                    AccessData {
                        grants: j.grants()?,
                        members: j.members()?,
                    },
                    version,
                ))
            })
            .await
    }

    /// Checks, does and audits one command; the outcome goes back to the console.
    pub async fn run(&self, who: &Identity, id: &str, command: Command) -> Outcome {
        if id.is_empty()
            || id.chars().count() > MAX_COMMAND_ID_LEN
            || id.chars().any(char::is_control)
        {
            return Outcome::error(
                ErrorCode::InvalidArgument,
                format!(
                    "a command id must be 1 to {MAX_COMMAND_ID_LEN} characters without control characters"
                ),
            );
        }
        // The id first (a repeat waits for the first, then finds its
        // outcome), then what the command acts on.
        let _this_id = self.locks.lock(format!("id/{}/{id}", who.user)).await;
        let _one_per_target = self.locks.lock(lock_key(&command)).await;
        let user = who.user.clone();
        let key = id.to_owned();
        match self
            .journal
            .call(move |j| j.command_outcome(&user, &key))
            .await
        {
            Ok(Some(stored)) => {
                return serde_json::from_str(&stored).unwrap_or_else(|e| {
                    Outcome::error(
                        ErrorCode::Failed,
                        format!("command {id} was done before, but its stored outcome cannot be read ({e}); send it again with a new id"),
                    )
                });
            }
            Ok(None) => {}
            Err(err) => return journal_failed(&err),
        }
        let access = match self
            .journal
            .call(|j| {
                Ok(AccessData {
                    grants: j.grants()?,
                    members: j.members()?,
                })
            })
            .await
        {
            Ok(a) => a,
            Err(err) => return journal_failed(&err),
        };
        let mut note = AuditNote {
            who: who.user.clone(),
            via: who.via().to_owned(),
            action: command.name().to_owned(),
            mottakersystem: command.mottakersystem().map(str::to_owned),
            target: Some(command.target()),
            reason: command.reason().map(str::to_owned),
            outcome: String::new(),
            command_id: Some(id.to_owned()),
        };
        let applicable = access.applicable(who);
        let (outcome, audited) = match check(&command, who, &applicable, &self.order, &access) {
            Err((code, message)) => {
                warn!(user = %who.user, command = command.name(), target = %command.target(), %code, "console command refused");
                (Outcome::Error { code, message }, false)
            }
            Ok(()) => self.execute(&command, &note).await,
        };
        // Results quote outside text (feil.txt, errors): mask it as all
        // text sent is, before it is stored for a repeated id.
        let outcome = match outcome {
            Outcome::Ok { message } => Outcome::Ok {
                message: mask_fnr(&message).into_owned(),
            },
            Outcome::Error { code, message } => Outcome::Error {
                code,
                message: mask_fnr(&message).into_owned(),
            },
        };
        note.outcome = match &outcome {
            Outcome::Ok { message } => format!("ok: {message}"),
            Outcome::Error { code, message } => format!("{code}: {message}"),
        };
        let json = serde_json::to_string(&outcome).unwrap_or_default();
        let user = who.user.clone();
        let key = id.to_owned();
        let audit = (!audited).then_some(note);
        if let Err(err) = self
            .journal
            .call(move |j| j.record_command(&user, &key, &json, audit.as_ref()))
            .await
        {
            error!(user = %who.user, command = command.name(), error = %err, "could not write the command's outcome to the audit log");
        }
        if outcome.is_ok() {
            info!(user = %who.user, via = who.via(), command = command.name(), target = %command.target(), "console command done");
        }
        self.rebuild.notify_one();
        outcome
    }

    /// Does an allowed command. The flag says whether the audit line was
    /// already written with the change (access changes).
    async fn execute(&self, command: &Command, note: &AuditNote) -> (Outcome, bool) {
        match command {
            Command::Retry {
                mottakersystem,
                forsendelse,
            } if forsendelse.starts_with(crate::outbound::claim::CLAIM_PREFIX) => (
                self.outbound_action(mottakersystem, forsendelse, &note.who, None)
                    .await,
                false,
            ),
            Command::Retry {
                mottakersystem,
                forsendelse,
            } => (self.retry(mottakersystem, forsendelse).await, false),
            Command::MoveToInn {
                mottakersystem,
                forsendelse,
            } => (self.move_to_inn(mottakersystem, forsendelse).await, false),
            Command::MarkPermanent {
                mottakersystem,
                forsendelse,
                reason,
            } if forsendelse.starts_with(crate::outbound::claim::CLAIM_PREFIX) => (
                self.outbound_action(mottakersystem, forsendelse, &note.who, Some(reason))
                    .await,
                false,
            ),
            Command::MarkPermanent {
                mottakersystem,
                forsendelse,
                reason,
            } => (
                self.mark_permanent(mottakersystem, forsendelse, reason)
                    .await,
                false,
            ),
            Command::Pause {
                mottakersystem,
                reason,
            } => (
                self.pause(mottakersystem, &note.who, reason.as_deref())
                    .await,
                false,
            ),
            Command::Resume { mottakersystem } => (self.resume(mottakersystem).await, false),
            Command::PollNow { mottakersystem } => (self.poll_now(mottakersystem), false),
            Command::Grant {
                principal,
                role,
                scope,
            }
            | Command::Revoke {
                principal,
                role,
                scope,
            } => {
                let grant = RoleGrant {
                    principal: principal.clone(),
                    role: *role,
                    scope: scope.clone(),
                };
                self.change_grant(matches!(command, Command::Grant { .. }), grant, note)
                    .await
            }
            Command::AddMember { user, group } | Command::RemoveMember { user, group } => {
                self.change_member(
                    matches!(command, Command::AddMember { .. }),
                    user,
                    group,
                    note,
                )
                .await
            }
        }
    }

    fn control(&self, mottakersystem: &str) -> Option<&SystemControl> {
        self.systems.get(mottakersystem)
    }

    fn paused_note(&self, mottakersystem: &str) -> &'static str {
        match self.control(mottakersystem) {
            Some(c) if c.health.paused.load(Ordering::Relaxed) => {
                " (the mottakersystem is paused: this happens once it is resumed)"
            }
            _ => "",
        }
    }

    async fn row(
        &self,
        mottakersystem: &str,
        forsendelse: &str,
    ) -> Result<(ForsendelseId, crate::journal::Row), Outcome> {
        let id = ForsendelseId::parse(forsendelse).map_err(|e| {
            Outcome::error(
                ErrorCode::InvalidArgument,
                format!("{forsendelse:?} is not a forsendelse id: {e}"),
            )
        })?;
        let (m, i) = (mottakersystem.to_owned(), id.clone());
        match self.journal.call(move |j| j.get(&m, &i)).await {
            Ok(Some(row)) => Ok((id, row)),
            Ok(None) => Err(Outcome::error(
                ErrorCode::NotFound,
                format!("forsendelse {forsendelse} of {mottakersystem} is not in the journal"),
            )),
            Err(err) => Err(journal_failed(&err)),
        }
    }

    async fn transition(
        &self,
        mottakersystem: &str,
        id: &ForsendelseId,
        change: Change,
    ) -> Result<(), JournalError> {
        let (m, i) = (mottakersystem.to_owned(), id.clone());
        self.journal
            .call(move |j| j.transition(&m, &i, change))
            .await
            .map(|_| ())
    }

    async fn retry(&self, mottakersystem: &str, forsendelse: &str) -> Outcome {
        let (id, row) = match self.row(mottakersystem, forsendelse).await {
            Ok(r) => r,
            Err(o) => return o,
        };
        let paused = self.paused_note(mottakersystem);
        match row.state {
            State::Failed => match self.transition(mottakersystem, &id, Change::Relisted).await {
                Ok(()) => Outcome::Ok {
                    message: format!(
                        "forsendelse {id} of {mottakersystem} is downloaded again now{paused}"
                    ),
                },
                Err(err) => state_error(&err),
            },
            State::RetryWait => {
                let (m, i) = (mottakersystem.to_owned(), id.clone());
                match self.journal.call(move |j| j.retry_now(&m, &i)).await {
                    Ok(()) => Outcome::Ok {
                        message: format!(
                            "forsendelse {id} of {mottakersystem} is tried again now{paused}"
                        ),
                    },
                    Err(err) => state_error(&err),
                }
            }
            State::Rejected => Outcome::error(
                ErrorCode::WrongState,
                format!(
                    "forsendelse {id} of {mottakersystem} was rejected by the fagsystem (it is in feilet/): move it back to inn/ to let the fagsystem try again, or mark it permanent"
                ),
            ),
            other => Outcome::error(
                ErrorCode::WrongState,
                format!(
                    "forsendelse {id} of {mottakersystem} is {other}: only failed and retry_wait forsendelser can be retried"
                ),
            ),
        }
    }

    /// Retry (`discard_reason` `None`) or discard a failed saksoppdatering.
    async fn outbound_action(
        &self,
        mottakersystem: &str,
        update_id: &str,
        who: &str,
        discard_reason: Option<&str>,
    ) -> Outcome {
        let Some(source) = self.outbound.iter().find(|o| o.name == mottakersystem) else {
            return Outcome::error(
                ErrorCode::NotFound,
                format!(
                    "{mottakersystem} sends no saksoppdateringer (no [mottakersystem.digisos])"
                ),
            );
        };
        if update_id.chars().any(|c| c == '/' || c.is_control()) || update_id.len() > 300 {
            return Outcome::error(ErrorCode::InvalidArgument, "not an update id");
        }
        if let Some(reason) = discard_reason
            && (reason.trim().is_empty() || reason.chars().count() > MAX_REASON_LEN)
        {
            return Outcome::error(
                ErrorCode::InvalidArgument,
                format!(
                    "a reason of 1 to {MAX_REASON_LEN} characters is required to discard a saksoppdatering"
                ),
            );
        }
        let (m, id, by, drop) = (
            mottakersystem.to_owned(),
            update_id.to_owned(),
            who.to_owned(),
            source.drop_folder.clone(),
        );
        use crate::outbound::actions;
        let discard = discard_reason.is_some();
        let resolved = {
            let m = m.clone();
            self.journal
                .call(move |j| Ok(actions::resolve_shown(j, &m, &id)))
                .await
        };
        let result = match resolved {
            Ok(Ok(id)) if discard => {
                self.journal
                    .call(move |j| Ok(actions::discard(j, &m, &id, &by)))
                    .await
            }
            // Not inside a journal call: the journal is shared by every
            // mottakersystem's commands, and a retry moves folders.
            Ok(Ok(id)) => Ok(actions::retry(&self.journal, &drop, &m, &id, &by).await),
            Ok(Err(refused)) => Ok(Err(refused)),
            Err(err) => Err(err),
        };
        match result {
            Ok(Ok(message)) => {
                source.health.wake.notify_one();
                Outcome::Ok { message }
            }
            Ok(Err(message)) => Outcome::error(ErrorCode::WrongState, message),
            Err(err) => journal_failed(&err),
        }
    }

    async fn move_to_inn(&self, mottakersystem: &str, forsendelse: &str) -> Outcome {
        let (id, row) = match self.row(mottakersystem, forsendelse).await {
            Ok(r) => r,
            Err(o) => return o,
        };
        if row.state != State::Rejected {
            return Outcome::error(
                ErrorCode::WrongState,
                format!(
                    "forsendelse {id} of {mottakersystem} is {}: only a forsendelse the fagsystem rejected (in feilet/) can be moved back to inn/",
                    row.state
                ),
            );
        }
        let Some(control) = self.control(mottakersystem) else {
            return Outcome::error(
                ErrorCode::NotFound,
                format!("no mottakersystem {mottakersystem}"),
            );
        };
        // The folder moves first, then the journal. A crash in between
        // leaves the row rejected with its folder in inn/: the worker repairs
        // that on its next turn (the folder in inn/ wins: delivered again),
        // and may do so between the two steps here as well (handled below).
        let drop = control.drop.clone();
        let i = id.clone();
        let moved = tokio::task::spawn_blocking(move || drop.retry_rejected(&i)).await;
        let feil = match moved {
            Ok(Ok(feil)) => feil,
            Ok(Err(err)) => {
                return Outcome::error(ErrorCode::Failed, format!("could not move it back: {err}"));
            }
            Err(err) => {
                return Outcome::error(
                    ErrorCode::Failed,
                    format!("the move did not finish: {err}"),
                );
            }
        };
        let folder_name = row
            .folder_name
            .clone()
            .unwrap_or_else(|| id.as_str().to_owned());
        let change = Change::Delivered {
            folder_name,
            digisos_id: None,
        };
        let done = match self.transition(mottakersystem, &id, change).await {
            Ok(()) => Ok(()),
            // The worker saw the folder in inn/ first and made it delivered.
            Err(JournalError::IllegalTransition { .. })
                if matches!(
                    self.row(mottakersystem, forsendelse).await,
                    Ok((_, ref now)) if now.state == State::Delivered
                ) =>
            {
                Ok(())
            }
            Err(err) => Err(err),
        };
        match done {
            Ok(()) => Outcome::Ok {
                message: format!(
                    "forsendelse {id} of {mottakersystem} is back in inn/ for the fagsystem{}{}",
                    match feil {
                        FeilTxt::Absent => String::new(),
                        FeilTxt::Text(r) => format!(" (its feil.txt said: {r})"),
                        // Never quoted: it was not read.
                        FeilTxt::Refused(what) => format!(
                            " (its feil.txt was {what}, not a regular file: removed unread)"
                        ),
                        FeilTxt::Unreadable(_) => {
                            " (its feil.txt could not be read: removed)".to_owned()
                        }
                    },
                    self.paused_note(mottakersystem)
                ),
            },
            Err(err) => Outcome::error(
                ErrorCode::Failed,
                format!(
                    "forsendelse {id} of {mottakersystem} was moved back to inn/, but the journal could not record it ({err}); the fagsystem will see it, and its acknowledgement waits until this is fixed: check the journal's disk and restart the agent"
                ),
            ),
        }
    }

    async fn mark_permanent(
        &self,
        mottakersystem: &str,
        forsendelse: &str,
        reason: &str,
    ) -> Outcome {
        let reason = reason.trim();
        if reason.is_empty() {
            return Outcome::error(
                ErrorCode::InvalidArgument,
                "a reason is required: it goes to the sender in SvarUt with mottakFeilet",
            );
        }
        if reason.chars().count() > MAX_REASON_LEN {
            return Outcome::error(
                ErrorCode::InvalidArgument,
                format!("the reason is longer than {MAX_REASON_LEN} characters; shorten it"),
            );
        }
        let (id, row) = match self.row(mottakersystem, forsendelse).await {
            Ok(r) => r,
            Err(o) => return o,
        };
        if !can_transition(row.state, State::Permanent) {
            return Outcome::error(
                ErrorCode::WrongState,
                format!(
                    "forsendelse {id} of {mottakersystem} is {}: only listed, failed, rejected and retry_wait forsendelser can be marked permanent",
                    row.state
                ),
            );
        }
        let change = Change::Permanent {
            reason: reason.to_owned(),
        };
        match self.transition(mottakersystem, &id, change).await {
            Ok(()) => Outcome::Ok {
                message: format!(
                    "forsendelse {id} of {mottakersystem} is marked permanent; SvarInn is told (mottakFeilet, permanent) within seconds{}",
                    self.paused_note(mottakersystem)
                ),
            },
            Err(err) => state_error(&err),
        }
    }

    async fn pause(&self, mottakersystem: &str, by: &str, reason: Option<&str>) -> Outcome {
        let Some(control) = self.control(mottakersystem) else {
            return Outcome::error(
                ErrorCode::NotFound,
                format!("no mottakersystem {mottakersystem}"),
            );
        };
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        if reason.is_some_and(|r| r.chars().count() > MAX_REASON_LEN) {
            return Outcome::error(
                ErrorCode::InvalidArgument,
                format!("the reason is longer than {MAX_REASON_LEN} characters; shorten it"),
            );
        }
        let (m, b, r) = (
            mottakersystem.to_owned(),
            by.to_owned(),
            reason.map(str::to_owned),
        );
        match self
            .journal
            .call(move |j| j.set_paused(&m, Some((&b, r.as_deref()))))
            .await
        {
            Ok(changed) => {
                control.health.paused.store(true, Ordering::Relaxed);
                Outcome::Ok {
                    message: if changed {
                        format!(
                            "{mottakersystem} is paused: no polls and no steps until resumed (steps in progress finish)"
                        )
                    } else {
                        format!("{mottakersystem} was already paused")
                    },
                }
            }
            Err(err) => journal_failed(&err),
        }
    }

    async fn resume(&self, mottakersystem: &str) -> Outcome {
        let Some(control) = self.control(mottakersystem) else {
            return Outcome::error(
                ErrorCode::NotFound,
                format!("no mottakersystem {mottakersystem}"),
            );
        };
        let m = mottakersystem.to_owned();
        match self.journal.call(move |j| j.set_paused(&m, None)).await {
            Ok(changed) => {
                control.health.paused.store(false, Ordering::Relaxed);
                control.health.poll_now.notify_one();
                Outcome::Ok {
                    message: if changed {
                        format!("{mottakersystem} is resumed and polls SvarInn now")
                    } else {
                        format!("{mottakersystem} was not paused")
                    },
                }
            }
            Err(err) => journal_failed(&err),
        }
    }

    fn poll_now(&self, mottakersystem: &str) -> Outcome {
        let Some(control) = self.control(mottakersystem) else {
            return Outcome::error(
                ErrorCode::NotFound,
                format!("no mottakersystem {mottakersystem}"),
            );
        };
        if control.health.paused.load(Ordering::Relaxed) {
            return Outcome::error(
                ErrorCode::WrongState,
                format!("{mottakersystem} is paused: resume it first"),
            );
        }
        control.health.poll_now.notify_one();
        Outcome::Ok {
            message: format!("{mottakersystem} polls SvarInn now"),
        }
    }

    async fn change_grant(
        &self,
        granting: bool,
        grant: RoleGrant,
        note: &AuditNote,
    ) -> (Outcome, bool) {
        let (kind, name) = (grant.principal.kind(), grant.principal.name().to_owned());
        if let Err(msg) = check_name(kind, &name) {
            return (Outcome::error(ErrorCode::InvalidArgument, msg), false);
        }
        let target = format!(
            "{}: {} over {}",
            grant.principal,
            grant.role,
            grant.scope.as_str()
        );
        let mut n = note.clone();
        n.outcome = "ok".into();
        let result = self
            .journal
            .call(move |j| {
                if granting {
                    j.grant(&grant, &n)
                } else {
                    j.revoke(&grant, &n)
                }
            })
            .await;
        match (granting, result) {
            (true, Ok(true)) => (ok(format!("granted {target}")), true),
            (true, Ok(false)) => (ok(format!("already granted: {target}")), false),
            (false, Ok(true)) => (ok(format!("revoked {target}")), true),
            (false, Ok(false)) => (
                Outcome::error(ErrorCode::NotFound, format!("no such grant: {target}")),
                false,
            ),
            (_, Err(err)) => (journal_failed(&err), false),
        }
    }

    async fn change_member(
        &self,
        adding: bool,
        user: &str,
        group: &str,
        note: &AuditNote,
    ) -> (Outcome, bool) {
        for (kind, name) in [("user", user), ("group", group)] {
            if let Err(msg) = check_name(kind, name) {
                return (Outcome::error(ErrorCode::InvalidArgument, msg), false);
            }
        }
        let target = format!("{} in group {group}", Principal::User(user.to_owned()));
        let (u, g) = (user.to_owned(), group.to_owned());
        let mut n = note.clone();
        n.outcome = "ok".into();
        let result = self
            .journal
            .call(move |j| {
                if adding {
                    j.add_member(&u, &g, &n)
                } else {
                    j.remove_member(&u, &g, &n)
                }
            })
            .await;
        match (adding, result) {
            (true, Ok(true)) => (ok(format!("added {target}")), true),
            (true, Ok(false)) => (ok(format!("already there: {target}")), false),
            (false, Ok(true)) => (ok(format!("removed {target}")), true),
            (false, Ok(false)) => (
                Outcome::error(ErrorCode::NotFound, format!("not a member: {target}")),
                false,
            ),
            (_, Err(err)) => (journal_failed(&err), false),
        }
    }
}

/// What a command is serialised on: its mottakersystem, or the access list.
fn lock_key(command: &Command) -> String {
    match command {
        Command::Grant { .. }
        | Command::Revoke { .. }
        | Command::AddMember { .. }
        | Command::RemoveMember { .. } => "access".to_owned(),
        other => format!("system/{}", other.mottakersystem().unwrap_or_default()),
    }
}

/// Async locks by key, made when first wanted and dropped when no one holds
/// or waits for them.
#[derive(Debug, Default)]
struct KeyedLocks {
    map: std::sync::Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

impl KeyedLocks {
    async fn lock(&self, key: String) -> KeyedGuard<'_> {
        let lock = {
            let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(key.clone()).or_default().clone()
        };
        let guard = lock.lock_owned().await;
        KeyedGuard {
            locks: self,
            key,
            guard: Some(guard),
        }
    }
}

struct KeyedGuard<'a> {
    locks: &'a KeyedLocks,
    key: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Drop for KeyedGuard<'_> {
    fn drop(&mut self) {
        self.guard.take();
        let mut map = self.locks.map.lock().unwrap_or_else(|p| p.into_inner());
        // Only the map holds it: nobody has it or waits for it.
        if map
            .get(&self.key)
            .is_some_and(|l| Arc::strong_count(l) == 1)
        {
            map.remove(&self.key);
        }
    }
}

fn ok(message: String) -> Outcome {
    Outcome::Ok { message }
}

fn journal_failed(err: &JournalError) -> Outcome {
    Outcome::error(
        ErrorCode::Failed,
        format!(
            "the journal could not do it: {err}; nothing was changed, try again, and check the agent's log if it persists"
        ),
    )
}

/// A transition the journal refused (the row moved meanwhile) or could not write.
fn state_error(err: &JournalError) -> Outcome {
    match err {
        JournalError::IllegalTransition { .. } => {
            Outcome::error(ErrorCode::WrongState, err.to_string())
        }
        JournalError::NotFound { .. } => Outcome::error(ErrorCode::NotFound, err.to_string()),
        other => journal_failed(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dropfolder::dirfd::{Dir, FsOps, Name, RealFs, Replace};
    use crate::journal::{Journal, NewForsendelse, SystemClock};
    use mottak_protocol::console::{Principal, Role, Scope, Transport};
    use std::fs::File;
    use std::path::Path;
    use std::sync::mpsc;
    use std::time::Duration;

    /// Real operations, but the fsync of a `feilet/<id>` folder waits until
    /// the test lets it go: a drop folder whose file I/O hangs (a stuck
    /// network mount, a FIFO before the fix).
    struct HangingSync {
        started: std::sync::Mutex<Option<mpsc::Sender<()>>>,
        release: std::sync::Mutex<mpsc::Receiver<()>>,
    }

    impl FsOps for HangingSync {
        fn rename(
            &self,
            f: &Dir,
            fname: &Name,
            t: &Dir,
            tname: &Name,
            r: Replace,
        ) -> std::io::Result<()> {
            RealFs.rename(f, fname, t, tname, r)
        }
        fn sync_file(&self, file: &File, path: &Path) -> std::io::Result<()> {
            RealFs.sync_file(file, path)
        }
        fn sync_dir(&self, dir: &Dir) -> std::io::Result<()> {
            if dir.path().parent().is_some_and(|p| p.ends_with("feilet")) {
                if let Some(tx) = self.started.lock().unwrap().take() {
                    tx.send(()).unwrap();
                }
                let _ = self.release.lock().unwrap().recv();
            }
            RealFs.sync_dir(dir)
        }
    }

    /// "A command never holds a lock shared with other mottakersystemer
    /// across file I/O": while `move_to_inn` on ms-a hangs in its drop
    /// folder, a command on ms-b is answered (before the fix, one lock for
    /// all commands held it until ms-a's file work ended).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hanging_drop_folder_holds_up_no_other_mottakersystem() {
        let tmp = tempfile::tempdir().unwrap();
        let id = ForsendelseId::parse("f1").unwrap();
        let mut journal =
            Journal::open(&tmp.path().join("journal.sqlite"), Arc::new(SystemClock)).unwrap();
        journal
            .record_listed(
                "ms-a",
                &NewForsendelse {
                    id: id.clone(),
                    tittel: "Søknad".into(),
                    avsender_navn: None,
                    forsendelse_type: None,
                    sendt_at: None,
                    size: None,
                    raw_json: "{\"id\":\"f1\"}".into(),
                },
            )
            .unwrap();
        for change in [
            Change::Downloaded,
            Change::Delivered {
                folder_name: "f1".into(),
                digisos_id: None,
            },
            Change::Rejected { reason: None },
        ] {
            journal.transition("ms-a", &id, change).unwrap();
        }
        let note = AuditNote {
            who: "test".into(),
            via: "cli".into(),
            action: "grant".into(),
            mottakersystem: None,
            target: None,
            reason: None,
            outcome: "ok".into(),
            command_id: None,
        };
        let grant = RoleGrant {
            principal: Principal::User("ops".into()),
            role: Role::Operator,
            scope: Scope::All,
        };
        journal.grant(&grant, &note).unwrap();

        let (started_tx, started) = mpsc::channel();
        let (release, release_rx) = mpsc::channel();
        let ops = Arc::new(HangingSync {
            started: std::sync::Mutex::new(Some(started_tx)),
            release: std::sync::Mutex::new(release_rx),
        });
        let mut systems = Vec::new();
        for name in ["ms-a", "ms-b"] {
            let root = tmp.path().join(name);
            std::fs::create_dir(&root).unwrap();
            let drop = DropFolder::with_fs(&root, ops.clone());
            drop.ensure_layout().unwrap();
            let control = SystemControl {
                drop,
                health: Arc::default(),
            };
            systems.push((name.to_owned(), control));
        }
        std::fs::create_dir(tmp.path().join("ms-a/feilet/f1")).unwrap();
        let runner = Arc::new(CommandRunner::new(
            SharedJournal::new(journal),
            systems,
            Arc::default(),
        ));
        let who = Identity {
            user: "ops".into(),
            transport: Transport::LocalSocket,
            unix_groups: Default::default(),
        };

        let (r, w) = (runner.clone(), who.clone());
        let moving = tokio::spawn(async move {
            r.run(
                &w,
                "move-a",
                Command::MoveToInn {
                    mottakersystem: "ms-a".into(),
                    forsendelse: "f1".into(),
                },
            )
            .await
        });
        tokio::task::spawn_blocking(move || started.recv_timeout(Duration::from_secs(10)))
            .await
            .unwrap()
            .expect("move_to_inn never reached its drop folder");
        let other = tokio::time::timeout(
            Duration::from_secs(2),
            runner.run(
                &who,
                "poll-b",
                Command::PollNow {
                    mottakersystem: "ms-b".into(),
                },
            ),
        )
        .await
        .expect("ms-b's command waited for ms-a's file I/O");
        assert!(other.is_ok(), "{other:?}");
        // The same mottakersystem waits its turn, though.
        let same = tokio::time::timeout(
            Duration::from_millis(300),
            runner.run(
                &who,
                "poll-a",
                Command::PollNow {
                    mottakersystem: "ms-a".into(),
                },
            ),
        )
        .await;
        assert!(same.is_err(), "ms-a's commands run one at a time");
        release.send(()).unwrap();
        let moved = moving.await.unwrap();
        assert!(moved.is_ok(), "{moved:?}");
        assert!(tmp.path().join("ms-a/inn/f1").is_dir());
    }
}
