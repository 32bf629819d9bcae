//! The receipt loop: each message whose receipt is owed gets its
//! `*.mottatt.v1` (`POST /fiks-io/api/v1/send`, one `metadata` part, no data)
//! when the mottakersystem's `ack` says: at once (`on-delivery`), or once the
//! fagsystem took the folder out of `inn/` and not into `feilet/`
//! (`on-import`). A failed send is tried again with backoff from the journal
//! (attempts, next try, last error), so one owed at a crash is sent after
//! the restart.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::deliver::Context;
use super::receipt_type;
use crate::backoff::Backoff;
use crate::config::AckMode;
use crate::dropfolder::DeliveryStatus;
use crate::journal::fiks_io::{FiksIoRow, FiksIoState};

/// How often owed receipts and imports are looked at without a nudge.
const TURN: Duration = Duration::from_secs(1);
/// The longest wait between two tries of one receipt.
const RETRY_CAP: Duration = Duration::from_secs(10 * 60);

/// The receipt's metadata part (the Java client's camelCase, ms TTL: the reference form).
pub fn receipt_metadata(own_konto: &str, row: &FiksIoRow) -> Option<serde_json::Value> {
    let melding_type = receipt_type(&row.melding.melding_type)?;
    Some(json!({
        "avsenderKontoId": own_konto,
        "mottakerKontoId": row.melding.avsender_konto,
        "meldingType": melding_type,
        "svarPaMelding": row.melding.melding_id,
    }))
}

/// Whether an owed receipt may go now: on-import waits for the import.
pub fn may_send(ack: AckMode, row: &FiksIoRow) -> bool {
    match ack {
        AckMode::OnDelivery => true,
        AckMode::OnImport => matches!(row.state, FiksIoState::Imported | FiksIoState::Duplicate),
    }
}

/// Runs until `shutdown`.
pub async fn run(ctx: Arc<Context>, own_konto: String, shutdown: CancellationToken) {
    loop {
        turn(&ctx, &own_konto).await;
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = ctx.receipts.notified() => {}
            () = tokio::time::sleep(TURN) => {}
        }
    }
}

/// One look: imports, then the receipts due.
pub async fn turn(ctx: &Context, own_konto: &str) {
    mark_imports(ctx).await;
    let system = ctx.system.clone();
    let now = ctx.clock.now_ms();
    let due = match ctx
        .journal
        .read(move |j| j.fiks_io_receipts_due(&system, now))
        .await
    {
        Ok(rows) => rows,
        Err(e) => {
            warn!(mottakersystem = %ctx.system, error = %e, "cannot read the owed Fiks IO receipts");
            return;
        }
    };
    let mut failing = 0u64;
    for row in due.iter().filter(|r| may_send(ctx.ack, r)) {
        let Some(metadata) = receipt_metadata(own_konto, row) else {
            continue;
        };
        let (system, mid) = (ctx.system.clone(), row.melding.melding_id.clone());
        match ctx.fiks.fiks_io_send(&metadata).await {
            Ok(()) => {
                info!(mottakersystem = %ctx.system, melding_id = %mid, receipt = %metadata["meldingType"], "Fiks IO receipt sent");
                let _ = ctx
                    .journal
                    .call(move |j| j.fiks_io_receipt_sent(&system, &mid))
                    .await;
            }
            Err(e) => {
                failing += 1;
                let delay = Backoff::NETWORK
                    .delay_with_random_jitter(row.receipt_attempts)
                    .min(RETRY_CAP);
                let next = ctx
                    .clock
                    .now_ms()
                    .saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
                let error = e.to_string();
                warn!(mottakersystem = %ctx.system, melding_id = %mid, error = %error, retry_in = ?delay, "cannot send the Fiks IO receipt; trying again (Fiks falls back to SvarInn if it stays missing)");
                let _ = ctx
                    .journal
                    .call(move |j| j.fiks_io_receipt_failed(&system, &mid, &error, next))
                    .await;
            }
        }
    }
    let waiting_failed = due.iter().filter(|r| r.receipt_attempts > 0).count() as u64;
    ctx.health
        .update(|l| l.receipts_failing = failing.max(waiting_failed));
}

/// `delivered` rows whose folder left `inn/` (not into `feilet/`) become `imported`.
async fn mark_imports(ctx: &Context) {
    let system = ctx.system.clone();
    let Ok(delivered) = ctx
        .journal
        .read(move |j| j.fiks_io_in_states(&system, &[FiksIoState::Delivered]))
        .await
    else {
        return;
    };
    if delivered.is_empty() {
        return;
    }
    let drop = ctx.drop.clone();
    let ids: Vec<String> = delivered
        .into_iter()
        .map(|r| r.melding.melding_id)
        .collect();
    let imported = tokio::task::spawn_blocking(move || {
        ids.into_iter()
            .filter(|id| matches!(drop.status(id), Ok(DeliveryStatus::Imported)))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    for id in imported {
        let system = ctx.system.clone();
        let mid = id.clone();
        if ctx
            .journal
            .call(move |j| j.fiks_io_imported(&system, &mid))
            .await
            .is_ok()
        {
            info!(mottakersystem = %ctx.system, melding_id = %id, "Fiks IO message imported by the fagsystem");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::fiks_io::{NewMelding, ReceiptDuty};

    fn row(melding_type: &str, state: FiksIoState) -> FiksIoRow {
        FiksIoRow {
            mottakersystem: "s".into(),
            melding: NewMelding {
                melding_id: "0e5b4c3a-2d1f-4a9b-8c7d-6e5f4a3b2c1d".into(),
                melding_type: melding_type.into(),
                avsender_konto: "aaaaaaaa-0000-4000-8000-000000000001".into(),
                svar_til: None,
                dokumentlager_id: None,
            },
            state,
            receipt: ReceiptDuty::Owed,
            receipt_attempts: 0,
            receipt_next_at: None,
            receipt_error: None,
            digisos_id: None,
            ekstern_ref: None,
            reason: None,
            kept_copy: None,
            size: None,
            received_at: 0,
            staged_at: None,
            delivered_at: None,
            imported_at: None,
            receipt_sent_at: None,
            updated_at: 0,
        }
    }

    #[test]
    fn the_receipt_answers_the_message_from_our_konto() {
        let own = "2f0c4a1e-7d3b-4c55-9a0e-6b1d2c3e4f50";
        let m = receipt_metadata(
            own,
            &row("no.nav.digisos.soknad.v1", FiksIoState::Delivered),
        )
        .unwrap();
        assert_eq!(
            m,
            json!({
                "avsenderKontoId": own,
                "mottakerKontoId": "aaaaaaaa-0000-4000-8000-000000000001",
                "meldingType": "no.nav.digisos.soknad.mottatt.v1",
                "svarPaMelding": "0e5b4c3a-2d1f-4a9b-8c7d-6e5f4a3b2c1d",
            })
        );
        let m = receipt_metadata(
            own,
            &row("no.nav.digisos.ettersendelse.v1", FiksIoState::Delivered),
        )
        .unwrap();
        assert_eq!(m["meldingType"], "no.nav.digisos.ettersendelse.mottatt.v1");
        assert_eq!(
            receipt_metadata(own, &row("other", FiksIoState::Delivered)),
            None
        );
    }

    #[test]
    fn on_import_waits_for_the_import_and_on_delivery_does_not() {
        let delivered = row("no.nav.digisos.soknad.v1", FiksIoState::Delivered);
        let imported = row("no.nav.digisos.soknad.v1", FiksIoState::Imported);
        let duplicate = row("no.nav.digisos.soknad.v1", FiksIoState::Duplicate);
        assert!(may_send(AckMode::OnDelivery, &delivered));
        assert!(!may_send(AckMode::OnImport, &delivered));
        assert!(may_send(AckMode::OnImport, &imported));
        assert!(may_send(AckMode::OnImport, &duplicate));
    }
}
