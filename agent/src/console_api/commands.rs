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

use mottak_protocol::console::{
    Command, ErrorCode, MAX_COMMAND_ID_LEN, MAX_REASON_LEN, Outcome, Principal, RoleGrant, Target,
    mask_fnr,
};
use tokio::sync::{Mutex, Notify, OwnedMutexGuard};
use tracing::{error, info, warn};

use super::roles::{AccessData, Identity, check, check_name};
use crate::inbound::actions::{self as inbound, ActionError as InboundError};
use crate::journal::access::AuditNote;
use crate::journal::{JournalError, SharedJournal};
use crate::outbound::error::ActionError;

/// What a command needs of one mottakersystem's SvarInn side.
pub use crate::inbound::actions::SystemControl;

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
    /// Outbound workers: `retry`/`mark_permanent` of a [`Target::Update`].
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
        let j = &self.journal;
        let done = match command {
            // A saksoppdatering: the outbound side's (`outbound::actions`).
            Command::Retry {
                mottakersystem,
                target: Target::Update(update_id),
            } => {
                let done = self.outbound_action(mottakersystem, update_id, &note.who, None);
                return (done.await, false);
            }
            Command::MarkPermanent {
                mottakersystem,
                target: Target::Update(update_id),
                reason,
            } => {
                let done = self.outbound_action(mottakersystem, update_id, &note.who, Some(reason));
                return (done.await, false);
            }
            // The access list: audited with the change.
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
                return self
                    .change_grant(matches!(command, Command::Grant { .. }), grant, note)
                    .await;
            }
            Command::AddMember { user, group } | Command::RemoveMember { user, group } => {
                return self
                    .change_member(
                        matches!(command, Command::AddMember { .. }),
                        user,
                        group,
                        note,
                    )
                    .await;
            }
            // A forsendelse or the SvarInn worker: the inbound side's (`inbound::actions`).
            Command::Retry {
                mottakersystem,
                target: Target::Forsendelse(forsendelse),
            } => inbound::retry(j, mottakersystem, forsendelse).await,
            Command::MarkPermanent {
                mottakersystem,
                target: Target::Forsendelse(forsendelse),
                reason,
            } => inbound::mark_permanent(j, mottakersystem, forsendelse, reason).await,
            Command::MoveToInn {
                mottakersystem,
                forsendelse,
            } => match self.control(mottakersystem) {
                Ok(c) => inbound::move_to_inn(j, c, mottakersystem, forsendelse).await,
                Err(o) => return (o, false),
            },
            Command::Pause {
                mottakersystem,
                reason,
            } => match self.control(mottakersystem) {
                Ok(c) => inbound::pause(j, c, mottakersystem, &note.who, reason.as_deref()).await,
                Err(o) => return (o, false),
            },
            Command::Resume { mottakersystem } => match self.control(mottakersystem) {
                Ok(c) => inbound::resume(j, c, mottakersystem).await,
                Err(o) => return (o, false),
            },
            Command::PollNow { mottakersystem } => match self.control(mottakersystem) {
                Ok(c) => inbound::poll_now(j, c, mottakersystem),
                Err(o) => return (o, false),
            },
        };
        let outcome = match done {
            Ok(message) => {
                // A retried or abandoned forsendelse has a step to take: now, not at a rescan.
                if let Some(c) = command.mottakersystem().and_then(|m| self.systems.get(m)) {
                    c.health.rescan.notify_one();
                }
                Outcome::Ok { message }
            }
            Err(err) => inbound_refused(&err),
        };
        (outcome, false)
    }

    fn control(&self, mottakersystem: &str) -> Result<&SystemControl, Outcome> {
        self.systems.get(mottakersystem).ok_or_else(|| {
            Outcome::error(
                ErrorCode::NotFound,
                format!("no mottakersystem {mottakersystem}"),
            )
        })
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
                source.health.pipeline.wake.notify_one();
                Outcome::Ok { message }
            }
            // By kind, as for a forsendelse: unknown id, journal failure, or
            // refused in its current state.
            Ok(Err(ActionError::Journal(err))) => journal_failed(&err),
            Ok(Err(e @ ActionError::NotFound { .. })) => {
                Outcome::error(ErrorCode::NotFound, e.to_string())
            }
            Ok(Err(refused)) => Outcome::error(ErrorCode::WrongState, refused.to_string()),
            Err(err) => journal_failed(&err),
        }
    }

    async fn change_grant(
        &self,
        granting: bool,
        grant: RoleGrant,
        note: &AuditNote,
    ) -> (Outcome, bool) {
        let (kind, name) = (grant.principal.kind(), grant.principal.name().to_owned());
        if let Err(err) = check_name(kind, &name) {
            return (
                Outcome::error(ErrorCode::InvalidArgument, err.to_string()),
                false,
            );
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
            if let Err(err) = check_name(kind, name) {
                return (
                    Outcome::error(ErrorCode::InvalidArgument, err.to_string()),
                    false,
                );
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

/// An inbound action not done, by kind: a bad argument, an unknown
/// forsendelse, a journal failure, a failed move, or refused in its current state.
fn inbound_refused(err: &InboundError) -> Outcome {
    let code = match err {
        InboundError::Journal(err) => return journal_failed(err),
        InboundError::Transition(err) => return state_error(err),
        InboundError::NotAnId { .. } | InboundError::NoReason | InboundError::ReasonTooLong => {
            ErrorCode::InvalidArgument
        }
        InboundError::NotFound { .. } => ErrorCode::NotFound,
        InboundError::NotMoved(_)
        | InboundError::MoveUnfinished(_)
        | InboundError::NotRecorded { .. } => ErrorCode::Failed,
        InboundError::RetryRejected { .. }
        | InboundError::NotRetryable { .. }
        | InboundError::NotRejected { .. }
        | InboundError::NotMarkable { .. }
        | InboundError::Paused { .. } => ErrorCode::WrongState,
    };
    Outcome::error(code, err.to_string())
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
    use crate::dropfolder::DropFolder;
    use crate::dropfolder::dirfd::{Dir, FsOps, Name, RealFs, Replace};
    use crate::journal::{Change, Journal, NewForsendelse, SystemClock};
    use crate::names::ForsendelseId;
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
