//! How a console's copy of the state follows the agent's: [`diff`] makes the
//! [`Patch`]es, [`ConsoleState::apply`] takes them, and
//! [`ConsoleState::normalize`] keeps the canonical order both rely on.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{
    AccessList, AgentInfo, Alert, AuditEntry, ConsoleState, ExternalId, FailedImport,
    IntegrationStatus, OutboundStatus, PipelineStatus, QueueHealth,
};

/// One change to a [`ConsoleState`].
// A patch lives from the diff to its serialisation, a few at a time: the
// size of its largest variant (`Outbound`) costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Patch {
    /// Replaces (or adds) the queue of `mottakersystem`.
    Queue(QueueHealth),
    QueueRemoved {
        mottakersystem: String,
    },
    /// Replaces (or adds) the failed import with this mottakersystem and id.
    Failed(FailedImport),
    FailedRemoved {
        mottakersystem: String,
        id: ExternalId,
    },
    FailedTotal {
        total: u64,
    },
    /// Replaces (or adds) the integrations of `mottakersystem`.
    Integration(IntegrationStatus),
    IntegrationRemoved {
        mottakersystem: String,
    },
    Alerts {
        alerts: Vec<Alert>,
    },
    Access(AccessList),
    Audit {
        entries: Vec<AuditEntry>,
    },
    Agent(AgentInfo),
    /// Replaces (or adds) the outbound status of `mottakersystem`.
    Outbound(OutboundStatus),
    OutboundRemoved {
        mottakersystem: String,
    },
    /// Replaces every pipeline's status (a few small entries).
    Pipelines {
        pipelines: Vec<PipelineStatus>,
    },
}

impl ConsoleState {
    /// Sorts every list into its canonical order.
    pub fn normalize(&mut self) {
        self.queues
            .sort_by(|a, b| a.mottakersystem.cmp(&b.mottakersystem));
        self.integrations
            .sort_by(|a, b| a.mottakersystem.cmp(&b.mottakersystem));
        self.failed.items.sort_by(failed_order);
        self.alerts.sort_by(alert_order);
        self.access.grants.sort();
        self.access.members.sort();
        self.access
            .coverage
            .sort_by(|a, b| a.mottakersystem.cmp(&b.mottakersystem));
        self.audit.sort_by_key(|e| e.seq);
        self.outbound
            .sort_by(|a, b| a.mottakersystem.cmp(&b.mottakersystem));
        self.pipelines
            .sort_by(|a, b| (&a.mottakersystem, &a.kind).cmp(&(&b.mottakersystem, &b.kind)));
    }

    /// Applies one patch. Applying a delta's patches in order to the state
    /// of `seq - 1` gives the state of `seq`.
    pub fn apply(&mut self, patch: &Patch) {
        match patch {
            Patch::Queue(q) => upsert_by(&mut self.queues, q.clone(), |x| x.mottakersystem.clone()),
            Patch::QueueRemoved { mottakersystem } => {
                self.queues.retain(|q| &q.mottakersystem != mottakersystem)
            }
            Patch::Failed(item) => {
                match self
                    .failed
                    .items
                    .binary_search_by(|x| failed_order(x, item))
                {
                    Ok(i) => self.failed.items[i] = item.clone(),
                    Err(i) => self.failed.items.insert(i, item.clone()),
                }
            }
            Patch::FailedRemoved { mottakersystem, id } => self
                .failed
                .items
                .retain(|x| !(&x.mottakersystem == mottakersystem && &x.id == id)),
            Patch::FailedTotal { total } => self.failed.total = *total,
            Patch::Integration(i) => upsert_by(&mut self.integrations, i.clone(), |x| {
                x.mottakersystem.clone()
            }),
            Patch::IntegrationRemoved { mottakersystem } => self
                .integrations
                .retain(|q| &q.mottakersystem != mottakersystem),
            Patch::Alerts { alerts } => self.alerts = alerts.clone(),
            Patch::Access(a) => self.access = a.clone(),
            Patch::Audit { entries } => self.audit = entries.clone(),
            Patch::Agent(a) => self.agent = a.clone(),
            Patch::Outbound(o) => {
                upsert_by(&mut self.outbound, o.clone(), |x| x.mottakersystem.clone())
            }
            Patch::OutboundRemoved { mottakersystem } => self
                .outbound
                .retain(|o| &o.mottakersystem != mottakersystem),
            Patch::Pipelines { pipelines } => self.pipelines = pipelines.clone(),
        }
    }

    /// Applies a delta's patches in order.
    pub fn apply_all(&mut self, patches: &[Patch]) {
        for p in patches {
            self.apply(p);
        }
    }
}

fn failed_key(f: &FailedImport) -> (&str, &str) {
    (&f.mottakersystem, f.id.raw())
}

/// By mottakersystem, then id as shown, then raw id. A console holds only
/// the shown ids, and masking can reorder them (`*` sorts before digits), so
/// ordering by the raw id alone left its binary search on an unsorted list.
fn failed_order(a: &FailedImport, b: &FailedImport) -> std::cmp::Ordering {
    (&a.mottakersystem, a.id.shown(), a.id.raw()).cmp(&(
        &b.mottakersystem,
        b.id.shown(),
        b.id.raw(),
    ))
}

/// Worst first, then by key.
fn alert_order(a: &Alert, b: &Alert) -> std::cmp::Ordering {
    b.severity.cmp(&a.severity).then_with(|| a.key.cmp(&b.key))
}

fn upsert_by<T, K: Ord>(list: &mut Vec<T>, item: T, key: impl Fn(&T) -> K) {
    let k = key(&item);
    match list.binary_search_by(|x| key(x).cmp(&k)) {
        Ok(i) => list[i] = item,
        Err(i) => list.insert(i, item),
    }
}

/// The patches that take `old` to `new` (both normalised): per-entry for
/// queues, integrations and failed imports; whole sections otherwise.
pub fn diff(old: &ConsoleState, new: &ConsoleState) -> Vec<Patch> {
    let mut out = Vec::new();
    if old.agent != new.agent {
        out.push(Patch::Agent(new.agent.clone()));
    }
    keyed_diff(
        &old.queues,
        &new.queues,
        |q| q.mottakersystem.as_str(),
        |q| Patch::Queue(q.clone()),
        |k| Patch::QueueRemoved {
            mottakersystem: k.to_owned(),
        },
        &mut out,
    );
    {
        let old_items: BTreeMap<(&str, &str), &FailedImport> = old
            .failed
            .items
            .iter()
            .map(|f| (failed_key(f), f))
            .collect();
        let new_keys: BTreeSet<(&str, &str)> = new.failed.items.iter().map(failed_key).collect();
        for (k, _) in old_items.iter().filter(|(k, _)| !new_keys.contains(*k)) {
            out.push(Patch::FailedRemoved {
                mottakersystem: k.0.to_owned(),
                id: ExternalId::from(k.1),
            });
        }
        for item in &new.failed.items {
            if old_items.get(&failed_key(item)) != Some(&item) {
                out.push(Patch::Failed(item.clone()));
            }
        }
        if old.failed.total != new.failed.total {
            out.push(Patch::FailedTotal {
                total: new.failed.total,
            });
        }
    }
    keyed_diff(
        &old.integrations,
        &new.integrations,
        |q| q.mottakersystem.as_str(),
        |q| Patch::Integration(q.clone()),
        |k| Patch::IntegrationRemoved {
            mottakersystem: k.to_owned(),
        },
        &mut out,
    );
    if old.alerts != new.alerts {
        out.push(Patch::Alerts {
            alerts: new.alerts.clone(),
        });
    }
    if old.access != new.access {
        out.push(Patch::Access(new.access.clone()));
    }
    if old.audit != new.audit {
        out.push(Patch::Audit {
            entries: new.audit.clone(),
        });
    }
    keyed_diff(
        &old.outbound,
        &new.outbound,
        |o| o.mottakersystem.as_str(),
        |o| Patch::Outbound(o.clone()),
        |k| Patch::OutboundRemoved {
            mottakersystem: k.to_owned(),
        },
        &mut out,
    );
    if old.pipelines != new.pipelines {
        out.push(Patch::Pipelines {
            pipelines: new.pipelines.clone(),
        });
    }
    out
}

fn keyed_diff<T: PartialEq>(
    old: &[T],
    new: &[T],
    key: impl Fn(&T) -> &str,
    upsert: impl Fn(&T) -> Patch,
    removed: impl Fn(&str) -> Patch,
    out: &mut Vec<Patch>,
) {
    let old_by: BTreeMap<&str, &T> = old.iter().map(|x| (key(x), x)).collect();
    let new_keys: BTreeSet<&str> = new.iter().map(&key).collect();
    for k in old_by.keys().filter(|k| !new_keys.contains(*k)) {
        out.push(removed(k));
    }
    for item in new {
        if old_by.get(key(item)) != Some(&item) {
            out.push(upsert(item));
        }
    }
}
