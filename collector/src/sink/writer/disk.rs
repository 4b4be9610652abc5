//! Disk mode's group commit: every request's rows are appended to the spool
//! as one record, then one fsync covers everything that arrived meanwhile,
//! and only then are the waiting handlers answered.
use crate::sink::spool::{Encoding, Spool};
use crate::sink::Envelope;
use crate::telemetry as t;
use std::sync::Arc;
use tokio::sync::Notify;

/// Appends `envs`, fsyncs once, acknowledges, wakes the shipper.
pub async fn persist(spool: &Arc<Spool>, notify: &Notify, envs: Vec<Envelope>) {
    let mut acks = Vec::with_capacity(envs.len());
    for env in envs {
        let n = u32::try_from(env.rows.len()).unwrap_or(u32::MAX);
        let table = env.rows.table();
        let (tag, payload) = env.rows.into_spool_record();
        let ok = match spool.append(tag, Encoding::Binary, n, &payload) {
            Ok(()) => {
                metrics::counter!(t::SPOOLED_ROWS, "table" => table).increment(u64::from(n));
                true
            }
            Err(e) => {
                metrics::counter!(t::DROPPED_ROWS, "table" => table, "reason" => "spool_full").increment(u64::from(n));
                tracing::warn!(error = %e, "cannot spool rows");
                false
            }
        };
        acks.push((env.ack, ok));
    }
    let s = spool.clone();
    let started = std::time::Instant::now();
    let synced = matches!(tokio::task::spawn_blocking(move || s.sync()).await, Ok(Ok(())));
    metrics::histogram!(t::SPOOL_FSYNC_SECONDS).record(started.elapsed().as_secs_f64());
    if !synced {
        tracing::error!("spool fsync failed");
    }
    for (ack, ok) in acks {
        if let Some(tx) = ack {
            let _ = tx.send(ok && synced);
        }
    }
    notify.notify_one();
}
