//! What of the state each caller may see, by their role per mottakersystem;
//! separate so what a role hides is read in one place.

use std::collections::BTreeMap;

use mottak_protocol::console::{AccessList, ConsoleState, FailedImports, QueueHealth, Role};

/// The part of `state` a caller with `roles` may see: only their
/// mottakersystemer; the audit log only where they are admin (access changes
/// over all systems to any admin). The access list itself is visible to all
/// callers, so everyone knows whom to ask.
pub fn visible_to(state: &ConsoleState, roles: &BTreeMap<String, Role>) -> ConsoleState {
    let sees = |m: &str| roles.contains_key(m);
    let any_admin = roles.values().any(|r| *r == Role::Admin);
    let queues: Vec<QueueHealth> = state
        .queues
        .iter()
        .filter(|q| sees(&q.mottakersystem))
        .cloned()
        .collect();
    let total = queues
        .iter()
        .flat_map(|q| q.counts.iter())
        .filter(|(s, _)| s.needs_attention())
        .map(|(_, n)| *n)
        .sum();
    ConsoleState {
        agent: state.agent.clone(),
        queues,
        failed: FailedImports {
            total,
            items: state
                .failed
                .items
                .iter()
                .filter(|f| sees(&f.mottakersystem))
                .cloned()
                .collect(),
        },
        integrations: state
            .integrations
            .iter()
            .filter(|i| sees(&i.mottakersystem))
            .cloned()
            .collect(),
        alerts: state
            .alerts
            .iter()
            .filter(|a| a.mottakersystem.as_deref().is_none_or(sees))
            .cloned()
            .collect(),
        access: AccessList {
            grants: state.access.grants.clone(),
            members: state.access.members.clone(),
            coverage: state
                .access
                .coverage
                .iter()
                .filter(|c| sees(&c.mottakersystem))
                .cloned()
                .collect(),
        },
        audit: state
            .audit
            .iter()
            .filter(|e| match &e.mottakersystem {
                Some(m) => roles.get(m.raw()) == Some(&Role::Admin),
                None => any_admin,
            })
            .cloned()
            .collect(),
        outbound: state
            .outbound
            .iter()
            .filter(|o| sees(&o.mottakersystem))
            .cloned()
            .collect(),
        pipelines: state
            .pipelines
            .iter()
            .filter(|p| sees(&p.mottakersystem))
            .cloned()
            .collect(),
    }
}
