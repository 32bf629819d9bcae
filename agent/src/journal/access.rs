//! What the console API keeps in the journal (migration 2): access lists
//! (grants to users and groups, group members), the append-only audit log,
//! the results of console commands (so a repeated command id is answered,
//! not done again), and paused mottakersystemer (kept over restarts).
//!
//! An access change and its audit line are written in one transaction: the
//! log cannot miss a change that happened.

use mottak_protocol::console::{Principal, Role, RoleGrant, Scope};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{Journal, JournalError};
use crate::names::ForsendelseId;

/// One audit line to write. `at` is the journal clock's now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditNote {
    /// Login name or certificate CN.
    pub who: String,
    /// `local_socket`, `tls`, `cli`.
    pub via: String,
    /// The command's name (`retry`, `grant`, ...).
    pub action: String,
    pub mottakersystem: Option<String>,
    pub target: Option<String>,
    pub reason: Option<String>,
    /// `ok`, `refused: ...`, `failed: ...`.
    pub outcome: String,
    pub command_id: Option<String>,
}

/// One audit line as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Increases by one per line, never reused.
    pub seq: i64,
    /// Unix milliseconds.
    pub at: i64,
    pub note: AuditNote,
}

/// A user's membership of a group in the access list.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Member {
    pub user: String,
    pub group: String,
}

/// A paused mottakersystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paused {
    pub mottakersystem: String,
    pub by: String,
    /// Unix milliseconds.
    pub at: i64,
    pub reason: Option<String>,
}

impl Journal {
    /// Every grant, sorted.
    pub fn grants(&self) -> Result<Vec<RoleGrant>, JournalError> {
        let mut stmt = self.conn.prepare(
            "SELECT principal_kind, principal, role, scope FROM access_grant
             ORDER BY principal_kind, principal, role, scope",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (kind, name, role, scope) = row?;
            let principal = match kind.as_str() {
                "user" => Principal::User(name),
                "group" => Principal::Group(name),
                other => {
                    return Err(JournalError::Corrupt(format!(
                        "unknown principal kind {other:?} in access_grant"
                    )));
                }
            };
            let role = Role::parse(&role).ok_or_else(|| {
                JournalError::Corrupt(format!("unknown role {role:?} in access_grant"))
            })?;
            out.push(RoleGrant {
                principal,
                role,
                scope: Scope::parse(&scope),
            });
        }
        out.sort();
        Ok(out)
    }

    /// Every member of every group, sorted.
    pub fn members(&self) -> Result<Vec<Member>, JournalError> {
        let mut stmt = self
            .conn
            .prepare("SELECT user_name, group_name FROM access_member ORDER BY 1, 2")?;
        let rows = stmt.query_map([], |r| {
            Ok(Member {
                user: r.get(0)?,
                group: r.get(1)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Adds a grant and its audit line. Returns false (and audits nothing)
    /// when the grant was already there.
    pub fn grant(&mut self, grant: &RoleGrant, audit: &AuditNote) -> Result<bool, JournalError> {
        let now = self.now();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let added = tx.execute(
            "INSERT OR IGNORE INTO access_grant
                (principal_kind, principal, role, scope, granted_by, granted_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                grant.principal.kind(),
                grant.principal.name(),
                grant.role.as_str(),
                grant.scope.as_str(),
                audit.who,
                now
            ],
        )? == 1;
        if added {
            insert_audit(&tx, now, audit)?;
        }
        tx.commit()?;
        Ok(added)
    }

    /// Removes a grant and writes its audit line. Returns false (and audits
    /// nothing) when there was no such grant.
    pub fn revoke(&mut self, grant: &RoleGrant, audit: &AuditNote) -> Result<bool, JournalError> {
        let now = self.now();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let removed = tx.execute(
            "DELETE FROM access_grant
             WHERE principal_kind = ?1 AND principal = ?2 AND role = ?3 AND scope = ?4",
            params![
                grant.principal.kind(),
                grant.principal.name(),
                grant.role.as_str(),
                grant.scope.as_str()
            ],
        )? == 1;
        if removed {
            insert_audit(&tx, now, audit)?;
        }
        tx.commit()?;
        Ok(removed)
    }

    /// Puts `user` in `group`, with its audit line. False when already a member.
    pub fn add_member(
        &mut self,
        user: &str,
        group: &str,
        audit: &AuditNote,
    ) -> Result<bool, JournalError> {
        let now = self.now();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let added = tx.execute(
            "INSERT OR IGNORE INTO access_member (user_name, group_name, added_by, added_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![user, group, audit.who, now],
        )? == 1;
        if added {
            insert_audit(&tx, now, audit)?;
        }
        tx.commit()?;
        Ok(added)
    }

    /// Takes `user` out of `group`, with its audit line. False when not a member.
    pub fn remove_member(
        &mut self,
        user: &str,
        group: &str,
        audit: &AuditNote,
    ) -> Result<bool, JournalError> {
        let now = self.now();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let removed = tx.execute(
            "DELETE FROM access_member WHERE user_name = ?1 AND group_name = ?2",
            params![user, group],
        )? == 1;
        if removed {
            insert_audit(&tx, now, audit)?;
        }
        tx.commit()?;
        Ok(removed)
    }

    /// Appends one audit line; returns its sequence number.
    pub fn append_audit(&mut self, audit: &AuditNote) -> Result<i64, JournalError> {
        let now = self.now();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let seq = insert_audit(&tx, now, audit)?;
        tx.commit()?;
        Ok(seq)
    }

    /// The newest `limit` audit lines, oldest first.
    pub fn audit_tail(&self, limit: usize) -> Result<Vec<AuditRecord>, JournalError> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, at, who, via, action, mottakersystem, target, reason, outcome, command_id
             FROM (SELECT * FROM audit ORDER BY seq DESC LIMIT ?1) ORDER BY seq",
        )?;
        let rows = stmt.query_map(params![i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
            Ok(AuditRecord {
                seq: r.get(0)?,
                at: r.get(1)?,
                note: AuditNote {
                    who: r.get(2)?,
                    via: r.get(3)?,
                    action: r.get(4)?,
                    mottakersystem: r.get(5)?,
                    target: r.get(6)?,
                    reason: r.get(7)?,
                    outcome: r.get(8)?,
                    command_id: r.get(9)?,
                },
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The highest audit sequence number (0 when empty): a cheap "has
    /// anything changed" check.
    pub fn audit_head(&self) -> Result<i64, JournalError> {
        Ok(self
            .conn
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM audit", [], |r| r.get(0))?)
    }

    /// The stored outcome (JSON) of console command `command_id` sent by `who`.
    pub fn command_outcome(
        &self,
        who: &str,
        command_id: &str,
    ) -> Result<Option<String>, JournalError> {
        Ok(self
            .conn
            .query_row(
                "SELECT outcome FROM console_command WHERE who = ?1 AND command_id = ?2",
                params![who, command_id],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Stores the outcome (JSON) of a console command, and its audit line
    /// (`None` when the change itself already wrote it, as access changes
    /// do), in one transaction. The first outcome stored for an id stays.
    pub fn record_command(
        &mut self,
        who: &str,
        command_id: &str,
        outcome_json: &str,
        audit: Option<&AuditNote>,
    ) -> Result<(), JournalError> {
        let now = self.now();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT OR IGNORE INTO console_command (who, command_id, at, outcome)
             VALUES (?1, ?2, ?3, ?4)",
            params![who, command_id, now, outcome_json],
        )?;
        if let Some(audit) = audit {
            insert_audit(&tx, now, audit)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Every paused mottakersystem.
    pub fn paused(&self) -> Result<Vec<Paused>, JournalError> {
        let mut stmt = self.conn.prepare(
            "SELECT mottakersystem, paused_by, paused_at, reason FROM paused ORDER BY 1",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Paused {
                mottakersystem: r.get(0)?,
                by: r.get(1)?,
                at: r.get(2)?,
                reason: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Marks a mottakersystem paused (`Some((by, reason))`) or not (`None`);
    /// through [`super::SharedJournal::set_paused`], which keeps its copy in step.
    /// Returns whether anything changed.
    pub(super) fn set_paused(
        &mut self,
        mottakersystem: &str,
        pause: Option<(&str, Option<&str>)>,
    ) -> Result<bool, JournalError> {
        let now = self.now();
        let changed = match pause {
            Some((by, reason)) => self.conn.execute(
                "INSERT OR IGNORE INTO paused (mottakersystem, paused_by, paused_at, reason)
                 VALUES (?1, ?2, ?3, ?4)",
                params![mottakersystem, by, now, reason],
            )?,
            None => self.conn.execute(
                "DELETE FROM paused WHERE mottakersystem = ?1",
                params![mottakersystem],
            )?,
        };
        Ok(changed == 1)
    }

    /// A `retry_wait` forsendelse is tried again at once (a person asked):
    /// its `next_attempt_at` becomes now, so the worker's next turn wakes it.
    pub fn retry_now(
        &mut self,
        mottakersystem: &str,
        id: &ForsendelseId,
    ) -> Result<(), JournalError> {
        let now = self.now();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (from, _) = super::current_state(&tx, mottakersystem, id.as_str())?;
        if from != super::State::RetryWait {
            return Err(JournalError::IllegalTransition {
                mottakersystem: mottakersystem.to_owned(),
                id: id.to_string(),
                from,
                to: from,
                note: Some("only a retry_wait can be tried again now"),
            });
        }
        tx.execute(
            "UPDATE forsendelse SET next_attempt_at = ?3, updated_at = ?3
             WHERE mottakersystem = ?1 AND forsendelse_id = ?2",
            params![mottakersystem, id.as_str(), now],
        )?;
        super::insert_event(
            &tx,
            mottakersystem,
            id.as_str(),
            now,
            "retry-now",
            "ok",
            None,
        )?;
        tx.commit()?;
        Ok(())
    }

    /// SQLite's `PRAGMA data_version`: it changes whenever another
    /// connection commits, so a reader can tell cheaply that nothing changed.
    pub fn data_version(&self) -> Result<i64, JournalError> {
        Ok(self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))?)
    }

    /// A cheap fingerprint of the forsendelse rows and their history: it
    /// changes whenever a row or an attempt is written. The console API
    /// rebuilds its view of the journal only when it changes.
    pub fn fingerprint(&self) -> Result<(i64, i64, i64), JournalError> {
        Ok(self.conn.query_row(
            "SELECT (SELECT COUNT(*) FROM forsendelse),
                    (SELECT COALESCE(MAX(updated_at), 0) FROM forsendelse),
                    (SELECT COALESCE(MAX(id), 0) FROM attempt)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?)
    }
}

/// What the console's queue view needs of one mottakersystem's rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OldestUnacked {
    pub id: String,
    pub state: super::State,
    /// Unix milliseconds: when SvarUt sent it, or else when first seen.
    pub since: i64,
}

/// Console and metrics queries: reads only.
impl Journal {
    /// The forsendelse of `mottakersystem` not yet acknowledged (nor given
    /// up) that SvarUt sent first.
    pub fn oldest_unacked_by_sent(
        &self,
        mottakersystem: &str,
    ) -> Result<Option<OldestUnacked>, JournalError> {
        let found: Option<(String, String, i64)> = self
            .conn
            .query_row(
                "SELECT forsendelse_id, state, COALESCE(sendt_at, first_seen_at) AS since
                 FROM forsendelse
                 WHERE mottakersystem = ?1 AND state NOT IN ('acked','permanent')
                 ORDER BY since, forsendelse_id LIMIT 1",
                params![mottakersystem],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        found
            .map(|(id, state, since)| {
                Ok(OldestUnacked {
                    id,
                    state: super::parse_state(&state)?,
                    since,
                })
            })
            .transpose()
    }

    /// When each forsendelse of `mottakersystem` delivered at or after
    /// `from_ms` was delivered (Unix milliseconds).
    pub fn delivered_since(
        &self,
        mottakersystem: &str,
        from_ms: i64,
    ) -> Result<Vec<i64>, JournalError> {
        let mut stmt = self.conn.prepare(
            "SELECT delivered_at FROM forsendelse
             WHERE mottakersystem = ?1 AND delivered_at >= ?2",
        )?;
        let rows = stmt.query_map(params![mottakersystem, from_ms], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How many forsendelser of `mottakersystem` were acknowledged at or after `from_ms`.
    pub fn acked_since(&self, mottakersystem: &str, from_ms: i64) -> Result<u64, JournalError> {
        let n: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM forsendelse WHERE mottakersystem = ?1 AND acked_at >= ?2",
            params![mottakersystem, from_ms],
            |r| r.get(0),
        )?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The rows in `failed`, `rejected` or `retry_wait`, by mottakersystem
    /// and id, at most `limit`.
    pub fn needing_attention(&self, limit: usize) -> Result<Vec<super::Row>, JournalError> {
        let sql = format!(
            "SELECT {} FROM forsendelse WHERE state IN ('failed','rejected','retry_wait')
             ORDER BY mottakersystem, forsendelse_id LIMIT ?1",
            super::COLUMNS
        );
        self.query_rows(&sql, params![i64::try_from(limit).unwrap_or(i64::MAX)])
    }

    /// Per mottakersystem: forsendelser ever delivered into `inn/`, and their
    /// declared bytes.
    pub fn delivered_totals(&self) -> Result<Vec<(String, u64, u64)>, JournalError> {
        let mut stmt = self.conn.prepare(
            "SELECT mottakersystem, COUNT(*), COALESCE(SUM(size), 0) FROM forsendelse
             WHERE delivered_at IS NOT NULL GROUP BY mottakersystem ORDER BY mottakersystem",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

fn insert_audit(
    tx: &rusqlite::Transaction<'_>,
    at: i64,
    a: &AuditNote,
) -> Result<i64, JournalError> {
    tx.execute(
        "INSERT INTO audit (at, who, via, action, mottakersystem, target, reason, outcome, command_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            at,
            a.who,
            a.via,
            a.action,
            a.mottakersystem,
            a.target,
            a.reason,
            a.outcome,
            a.command_id
        ],
    )?;
    Ok(tx.last_insert_rowid())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{FILE_NAME, ManualClock, State};
    use std::sync::Arc;
    use time::macros::datetime;

    fn open(dir: &std::path::Path) -> Journal {
        let clock = Arc::new(ManualClock::new(datetime!(2026-11-21 08:00 UTC)));
        Journal::open(&dir.join(FILE_NAME), clock).unwrap()
    }

    fn note(action: &str) -> AuditNote {
        AuditNote {
            who: "root".into(),
            via: "cli".into(),
            action: action.into(),
            mottakersystem: None,
            target: Some("x".into()),
            reason: None,
            outcome: "ok".into(),
            command_id: None,
        }
    }

    #[test]
    fn grants_and_members_round_trip_with_their_audit() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = open(dir.path());
        let g = RoleGrant {
            principal: Principal::Group("drift".into()),
            role: Role::Operator,
            scope: Scope::Mottakersystem("nav-frogn".into()),
        };
        assert!(j.grant(&g, &note("grant")).unwrap());
        assert!(!j.grant(&g, &note("grant")).unwrap(), "already there");
        let admin = RoleGrant {
            principal: Principal::User("kari".into()),
            role: Role::Admin,
            scope: Scope::All,
        };
        assert!(j.grant(&admin, &note("grant")).unwrap());
        assert_eq!(j.grants().unwrap(), vec![admin.clone(), g.clone()]);
        assert!(j.add_member("ola", "drift", &note("add_member")).unwrap());
        assert!(!j.add_member("ola", "drift", &note("add_member")).unwrap());
        assert_eq!(
            j.members().unwrap(),
            vec![Member {
                user: "ola".into(),
                group: "drift".into()
            }]
        );
        assert!(j.revoke(&g, &note("revoke")).unwrap());
        assert!(!j.revoke(&g, &note("revoke")).unwrap());
        assert!(
            j.remove_member("ola", "drift", &note("remove_member"))
                .unwrap()
        );
        assert!(j.members().unwrap().is_empty());
        let audit = j.audit_tail(10).unwrap();
        let actions: Vec<&str> = audit.iter().map(|a| a.note.action.as_str()).collect();
        assert_eq!(
            actions,
            ["grant", "grant", "add_member", "revoke", "remove_member"]
        );
        assert!(audit.windows(2).all(|w| w[1].seq == w[0].seq + 1));
        assert_eq!(j.audit_head().unwrap(), audit[4].seq);
        assert_eq!(j.audit_tail(2).unwrap()[0].note.action, "revoke");
    }

    #[test]
    fn the_audit_log_is_append_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = open(dir.path());
        j.append_audit(&note("pause")).unwrap();
        let err = j
            .conn
            .execute("UPDATE audit SET who = 'someone else'", [])
            .unwrap_err();
        assert!(err.to_string().contains("append-only"), "{err}");
        let err = j.conn.execute("DELETE FROM audit", []).unwrap_err();
        assert!(err.to_string().contains("append-only"), "{err}");
        assert_eq!(j.audit_tail(10).unwrap().len(), 1);
    }

    #[test]
    fn command_outcomes_are_kept_per_user_and_id() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = open(dir.path());
        assert_eq!(j.command_outcome("kari", "c1").unwrap(), None);
        j.record_command("kari", "c1", "{\"ok\":1}", Some(&note("retry")))
            .unwrap();
        j.record_command("kari", "c1", "{\"second\":1}", None)
            .unwrap();
        assert_eq!(
            j.command_outcome("kari", "c1").unwrap().as_deref(),
            Some("{\"ok\":1}")
        );
        assert_eq!(j.command_outcome("ola", "c1").unwrap(), None);
    }

    #[test]
    fn pauses_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = open(dir.path());
        assert!(j.set_paused("a", Some(("kari", Some("upgrade")))).unwrap());
        assert!(!j.set_paused("a", Some(("ola", None))).unwrap());
        let p = j.paused().unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].by, "kari");
        assert_eq!(p[0].reason.as_deref(), Some("upgrade"));
        assert!(j.set_paused("a", None).unwrap());
        assert!(!j.set_paused("a", None).unwrap());
        assert!(j.paused().unwrap().is_empty());
    }

    #[test]
    fn retry_now_only_for_retry_wait() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = open(dir.path());
        let id = ForsendelseId::parse("f1").unwrap();
        let new = crate::journal::NewForsendelse {
            id: id.clone(),
            tittel: "t".into(),
            avsender_navn: None,
            forsendelse_type: None,
            sendt_at: None,
            size: None,
            raw_json: "{}".into(),
        };
        j.record_listed("a", &new).unwrap();
        let before = j.fingerprint().unwrap();
        assert!(matches!(
            j.retry_now("a", &id),
            Err(JournalError::IllegalTransition { .. })
        ));
        let later = datetime!(2026-11-21 10:00 UTC);
        j.transition(
            "a",
            &id,
            crate::journal::Change::RetryWait {
                next_attempt_at: later,
                error: "503".into(),
            },
        )
        .unwrap();
        assert_ne!(j.fingerprint().unwrap(), before);
        j.retry_now("a", &id).unwrap();
        assert_eq!(j.wake_due(Some("a")).unwrap(), 1);
        assert_eq!(j.get("a", &id).unwrap().unwrap().state, State::Listed);
    }
}
