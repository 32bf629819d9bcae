//! Read-only queries for the console API's state builder (`console_api::state`), shaped for a
//! journal of hundreds of thousands of rows: the per-mottakersystem figures come from one pass
//! over the table for all mottakersystemer together (instead of several per mottakersystem),
//! the change check reads only indexes, and the failed imports are read without their
//! forsendelse JSON (the console never shows it).

use super::access::OldestUnacked;
use super::{COLUMNS, Journal, JournalError, Row, parse_state, read_row};

/// Separates the parts of the "oldest" key below; never in an id (see `names`).
const SEP: char = '\u{1f}';

/// One mottakersystem's figures for the console, from [`Journal::console_stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemStats {
    pub mottakersystem: String,
    /// As [`Journal::oldest_unacked_by_sent`]: not acknowledged nor given up, sent first
    /// (ties: the lowest id).
    pub oldest_unacked: Option<OldestUnacked>,
    /// `delivered_at` of each forsendelse delivered at or after the `delivered_from` asked for.
    pub delivered_since: Vec<i64>,
    /// Acknowledged at or after the `acked_from` asked for.
    pub acked_since: u64,
    /// Ever delivered into `inn/`, and their declared bytes.
    pub delivered_total: u64,
    pub delivered_bytes: u64,
}

impl Journal {
    /// A fingerprint of the forsendelse rows that changes with every state change (the row
    /// count per mottakersystem and state, from the state index), every attempt (the
    /// history's last id) and every duplicate link (their count: a Fiks IO duplicate touches
    /// no forsendelse row), read from indexes only. Steps that change what a console shows also
    /// record an attempt or change the state; the builder still rereads everything now and
    /// then in case something else changed.
    pub fn console_fingerprint(&self) -> Result<(String, i64), JournalError> {
        Ok(self.conn.query_row(
            "SELECT COALESCE((SELECT group_concat(k, ',') FROM (
                        SELECT mottakersystem || '/' || state || '=' || COUNT(*) AS k
                        FROM forsendelse GROUP BY mottakersystem, state)), '')
                        || ';dup=' || (SELECT COUNT(*) FROM innsending_duplicate),
                    (SELECT COALESCE(MAX(id), 0) FROM attempt)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?)
    }

    /// Every mottakersystem's figures in one pass over the forsendelse table: the oldest
    /// unacknowledged, deliveries since `delivered_from_ms`, acknowledgements since
    /// `acked_from_ms`, and delivery totals. Mottakersystemer without rows are left out.
    pub fn console_stats(
        &self,
        delivered_from_ms: i64,
        acked_from_ms: i64,
    ) -> Result<Vec<SystemStats>, JournalError> {
        // The oldest is the MIN of a key that sorts as ORDER BY since, forsendelse_id would
        // (since is a non-negative Unix time in milliseconds, zero-padded).
        let sql = format!(
            "SELECT mottakersystem,
                    MIN(CASE WHEN state NOT IN ('acked','permanent')
                        THEN printf('%020d', COALESCE(sendt_at, first_seen_at))
                             || char({sep}) || forsendelse_id || char({sep}) || state END),
                    group_concat(CASE WHEN delivered_at >= ?1 THEN delivered_at END, ','),
                    COALESCE(SUM(acked_at >= ?2), 0),
                    COUNT(delivered_at),
                    COALESCE(SUM(CASE WHEN delivered_at IS NOT NULL THEN size END), 0)
             FROM forsendelse GROUP BY mottakersystem ORDER BY mottakersystem",
            sep = SEP as u32
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(rusqlite::params![delivered_from_ms, acked_from_ms], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (mottakersystem, oldest, delivered, acked, total, bytes) = row?;
            let oldest_unacked = match oldest {
                Some(key) => Some(parse_oldest(&key)?),
                None => None,
            };
            let delivered_since = delivered
                .as_deref()
                .unwrap_or("")
                .split(',')
                .filter(|s| !s.is_empty())
                .filter_map(|s| s.parse().ok())
                .collect();
            out.push(SystemStats {
                mottakersystem,
                oldest_unacked,
                delivered_since,
                acked_since: u64::try_from(acked).unwrap_or(0),
                delivered_total: u64::try_from(total).unwrap_or(0),
                delivered_bytes: u64::try_from(bytes).unwrap_or(0),
            });
        }
        Ok(out)
    }

    /// As [`Journal::needing_attention`] (rows in `failed`, `rejected` or `retry_wait`, by
    /// mottakersystem and id, at most `limit`), but with `raw_json` left empty: the console
    /// never shows it, and it is most of a row's bytes.
    pub fn console_needing_attention(&self, limit: usize) -> Result<Vec<Row>, JournalError> {
        let columns = COLUMNS.replacen("raw_json", "'' AS raw_json", 1);
        let sql = format!(
            "SELECT {columns} FROM forsendelse WHERE state IN ('failed','rejected','retry_wait')
             ORDER BY mottakersystem, forsendelse_id LIMIT ?1"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(
            rusqlite::params![i64::try_from(limit).unwrap_or(i64::MAX)],
            read_row,
        )?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row??);
        }
        Ok(out)
    }
}

/// `<since, 20 digits>SEP<id>SEP<state>` back into its parts.
fn parse_oldest(key: &str) -> Result<OldestUnacked, JournalError> {
    let mut parts = key.splitn(3, SEP);
    let (Some(since), Some(id), Some(state)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(JournalError::Interrupted(format!(
            "unexpected oldest-unacknowledged key {key:?}"
        )));
    };
    Ok(OldestUnacked {
        id: id.to_owned(),
        state: parse_state(state)?,
        since: since.parse().unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use time::macros::datetime;

    use super::*;
    use crate::journal::{Change, ManualClock, NewForsendelse};
    use crate::names::ForsendelseId;

    fn new(id: &str, sent_min: i64) -> NewForsendelse {
        NewForsendelse {
            id: ForsendelseId::parse(id).unwrap(),
            tittel: format!("t {id}"),
            avsender_navn: None,
            forsendelse_type: None,
            sendt_at: Some(datetime!(2026-11-21 05:00 UTC) + time::Duration::minutes(sent_min)),
            size: Some(10),
            raw_json: "{\"big\": true}".into(),
        }
    }

    /// The one-pass figures equal the per-mottakersystem queries they replace, and the
    /// fingerprint moves with a state change and with an attempt.
    #[test]
    fn stats_match_the_per_system_queries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(crate::journal::FILE_NAME);
        let clock = Arc::new(ManualClock::new(datetime!(2026-11-21 08:00 UTC)));
        let mut j = Journal::open(&path, clock.clone()).unwrap();
        // Two with the same sendt_at: the lower id is the oldest.
        for (sys, id, sent) in [
            ("a", "f3", 0),
            ("a", "f2", 0),
            ("a", "f1", 5),
            ("b", "g1", 1),
            ("b", "g2", 2),
        ] {
            j.record_listed(sys, &new(id, sent)).unwrap();
        }
        let f2 = ForsendelseId::parse("f2").unwrap();
        j.transition("a", &f2, Change::Failed { error: "x".into() })
            .unwrap();
        let g1 = ForsendelseId::parse("g1").unwrap();
        j.transition("b", &g1, Change::Downloaded).unwrap();
        j.transition(
            "b",
            &g1,
            Change::Delivered {
                folder_name: "g1".into(),
                digisos_id: None,
            },
        )
        .unwrap();
        clock.set(datetime!(2026-11-21 08:30 UTC));
        j.transition("b", &g1, Change::Acked).unwrap();
        let before = j.console_fingerprint().unwrap();
        j.record_attempt("a", &f2, "download", &crate::journal::Outcome::Ok)
            .unwrap();
        let after_attempt = j.console_fingerprint().unwrap();
        assert_ne!(before, after_attempt);

        let stats = j.console_stats(0, 0).unwrap();
        assert_eq!(stats.len(), 2);
        for s in &stats {
            let expected = j.oldest_unacked_by_sent(&s.mottakersystem).unwrap();
            assert_eq!(s.oldest_unacked, expected, "{}", s.mottakersystem);
            assert_eq!(
                s.delivered_since,
                j.delivered_since(&s.mottakersystem, 0).unwrap()
            );
            assert_eq!(s.acked_since, j.acked_since(&s.mottakersystem, 0).unwrap());
        }
        assert_eq!(stats[0].oldest_unacked.as_ref().unwrap().id, "f2");
        // g1 was delivered and acknowledged; g2 is now b's oldest.
        assert_eq!(stats[1].oldest_unacked.as_ref().unwrap().id, "g2");
        assert_eq!(stats[1].delivered_since.len(), 1);
        assert_eq!(
            (stats[1].delivered_total, stats[1].delivered_bytes),
            (1, 10)
        );
        assert_eq!(stats[1].acked_since, 1);
        let late = crate::clock::to_millis(datetime!(2026-11-21 08:15 UTC));
        let later = j.console_stats(late, late).unwrap();
        assert!(later[1].delivered_since.is_empty());
        assert_eq!(later[1].acked_since, 1);
        assert_eq!(j.delivered_totals().unwrap(), vec![("b".to_owned(), 1, 10)]);

        let rows = j.console_needing_attention(10).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].id.as_str(), "f2");
        assert!(rows[0].raw_json.is_empty());
        let full = j.needing_attention(10).unwrap();
        assert_eq!(
            Row {
                raw_json: String::new(),
                ..full[0].clone()
            },
            rows[0]
        );
    }
}
