//! The cursor: kept on the same row when data changes or a list is re-sorted,
//! clamped to the rows there are, moved by keys and the mouse wheel.

use std::collections::BTreeSet;

use mottak_protocol::console::OutboundState;

use super::rows::key_of;
use super::{App, View};

impl App {
    /// Keeps the cursor on the same failed import, drops marks of rows gone.
    pub(super) fn after_data_change(&mut self) {
        if let Some(state) = &self.state {
            let present: BTreeSet<(&str, &str)> = state
                .failed
                .items
                .iter()
                .map(|f| (f.mottakersystem.as_str(), f.id.raw()))
                .collect();
            self.marks
                .retain(|(s, i)| present.contains(&(s.as_str(), i.as_str())));
            // Only failed saksoppdateringer can be marked; one that left the
            // failures (retried, discarded) loses its mark.
            let failed: BTreeSet<(&str, &str)> = state
                .outbound
                .iter()
                .flat_map(|o| {
                    o.failures
                        .iter()
                        .filter(|i| i.state == OutboundState::Failed)
                        .map(|i| (o.mottakersystem.as_str(), i.update_id.raw()))
                })
                .collect();
            self.out_marks
                .retain(|(s, i)| failed.contains(&(s.as_str(), i.as_str())));
        }
        if let Some(key) = self.selected_failed.clone() {
            let pos = self
                .failed_rows()
                .iter()
                .position(|f| f.mottakersystem == key.0 && f.id == key.1);
            if let Some(pos) = pos {
                self.lists[View::Failed.index()].selected = pos;
            }
        }
        if let Some(key) = self.selected_outbound.clone() {
            let pos = self
                .outbound_rows()
                .iter()
                .position(|r| r.mottakersystem == key.0 && r.item.update_id == key.1);
            if let Some(pos) = pos {
                self.lists[View::Outbound.index()].selected = pos;
            }
        }
        self.clamp_all();
        self.remember_failed();
        self.remember_outbound();
    }

    fn remember_failed(&mut self) {
        self.selected_failed = self.selected_failed().map(key_of);
    }

    fn remember_outbound(&mut self) {
        self.selected_outbound = self.selected_outbound().map(|r| {
            (
                r.mottakersystem.to_owned(),
                r.item.update_id.raw().to_owned(),
            )
        });
    }

    /// Remembers the row under the cursor of the lists that keep it.
    pub(super) fn remember(&mut self) {
        match self.view {
            View::Failed => self.remember_failed(),
            View::Outbound => self.remember_outbound(),
            _ => {}
        }
    }

    pub(super) fn clamp_all(&mut self) {
        for v in View::ALL {
            let n = self.row_count(v);
            let l = &mut self.lists[v.index()];
            if l.selected >= n {
                l.selected = n.saturating_sub(1);
            }
        }
    }

    pub(super) fn move_by(&mut self, delta: isize) {
        let n = self.row_count(self.view);
        let l = self.list_mut();
        let cur = l.selected as isize;
        let max = n.saturating_sub(1) as isize;
        l.selected = (cur + delta).clamp(0, max.max(0)) as usize;
        self.integrations_offset = 0;
        self.remember();
    }

    pub(super) fn set_selected(&mut self, i: usize) {
        let n = self.row_count(self.view);
        self.list_mut().selected = i.min(n.saturating_sub(1));
        self.integrations_offset = 0;
        self.remember();
    }

    pub(super) fn after_sort(&mut self) {
        if matches!(self.view, View::Failed | View::Outbound) {
            // Keep the cursor on the same forsendelse or saksoppdatering.
            self.after_data_change();
        } else {
            self.list_mut().selected = 0;
        }
    }
}
