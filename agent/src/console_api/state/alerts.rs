//! The alerts of a whole state: each side's (`inbound::console`,
//! `outbound::console`) and the access list's (too few who can act).

use mottak_protocol::alert::AlertKind;
use mottak_protocol::console::{Alert, ConsoleState, Severity};

use crate::console_api::alert_text;

/// The alerts the state calls for at `now_ms`, per mottakersystem.
pub fn alerts(state: &ConsoleState, now_ms: i64) -> Vec<Alert> {
    let mut out = crate::inbound::console::alerts(&state.queues, &state.integrations, now_ms);
    for c in &state.access.coverage {
        if c.warning.is_some() {
            out.push(alert_text::alert(
                &c.mottakersystem,
                Severity::Warning,
                None,
                AlertKind::Coverage {
                    can_act: c.can_act.clone(),
                },
                now_ms,
            ));
        }
    }
    out.extend(crate::outbound::console::alerts(&state.outbound, now_ms));
    out
}
