//! The shipper: moves the spool into ClickHouse, oldest first, in batches of
//! about `max_rows` rows (one insert per table and round), committing the
//! spool's read position after each round is stored. On a retryable failure it backs off and retries the
//! same records (nothing is lost, order is kept); rows ClickHouse refuses for
//! their content go to the dead-letter file.
use super::clickhouse::backoff;
use super::insert::InsertCtx;
use super::rows::table;
use super::spool::{Record, Spool};
use super::SinkHealth;
use crate::telemetry as t;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};

/// Shipper settings.
#[derive(Debug, Clone)]
pub struct ShipperConfig {
    /// Rows per insert, at most about.
    pub max_rows: usize,
    /// Bytes read from the spool per round, about.
    pub max_bytes: usize,
    /// Wait this long for more rows after a small batch.
    pub period: Duration,
}

/// The shipper task.
pub struct Shipper {
    /// Client, timeout, erasures, spool.
    pub ctx: InsertCtx,
    /// Settings.
    pub cfg: ShipperConfig,
    /// Shared health.
    pub health: Arc<SinkHealth>,
    /// Woken when the writer spooled something.
    pub notify: Arc<Notify>,
}

impl Shipper {
    fn spool(&self) -> &Arc<Spool> {
        &self.ctx.spool
    }

    async fn ship(&self, tag: u8, records: Vec<Record>) -> Result<usize, clickhouse::error::Error> {
        match table(tag) {
            Some(t) => t.ship(&self.ctx, records).await,
            None => {
                // A table this version does not know (written by a newer one): kept aside, not lost.
                for r in &records {
                    if let Err(e) = self.spool().dead_letter(&format!("tag-{tag}"), &r.payload, "unknown table tag") {
                        tracing::error!(error = %e, "cannot write dead letter");
                    }
                    metrics::counter!(t::DROPPED_ROWS, "table" => "unknown", "reason" => "undecodable")
                        .increment(u64::from(r.rows));
                }
                Ok(0)
            }
        }
    }

    /// One round: read up to a batch, ship it table run by table run.
    /// Returns rows shipped, or the error that stopped the round.
    async fn round(&self) -> Result<usize, clickhouse::error::Error> {
        let spool = self.spool().clone();
        let (max_rows, max_bytes) = (self.cfg.max_rows, self.cfg.max_bytes);
        let read = tokio::task::spawn_blocking(move || spool.read(max_rows, max_bytes)).await;
        let records = match read {
            Ok(Ok((records, _))) => records,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot read spool");
                return Ok(0);
            }
            Err(_) => return Ok(0),
        };
        let Some(end) = records.last().map(|r| r.end) else { return Ok(0) };
        let n_records = records.len() as u64;
        // One insert per table and round, however the tables' records interleave
        // (every visitor's consent row sits between event records): a round of
        // single-event requests is a handful of inserts, not one per request.
        // The read position is committed once the whole round is stored; a
        // failure retries the round, and rows of it that were stored already
        // are stored again, which the tables' replacing keys fold.
        let mut runs: Vec<(u8, usize, Vec<Record>)> = Vec::new();
        for r in records {
            let at = runs.iter().position(|(tag, rows, _)| *tag == r.tag && *rows < self.cfg.max_rows);
            let run = match at {
                Some(i) => &mut runs[i],
                None => {
                    runs.push((r.tag, 0, Vec::new()));
                    let last = runs.len() - 1;
                    &mut runs[last]
                }
            };
            run.1 += r.rows as usize;
            run.2.push(r);
        }
        let mut shipped = 0;
        for (tag, _, run) in runs {
            shipped += self.ship(tag, run).await?;
            self.health.insert_ok();
        }
        if let Err(e) = self.spool().commit(end, n_records) {
            tracing::error!(error = %e, "cannot persist spool cursor");
        }
        let st = self.spool().stats();
        metrics::gauge!(t::SPOOL_BYTES).set(st.pending_bytes as f64);
        metrics::gauge!(t::SPOOL_RECORDS).set(st.pending_records as f64);
        Ok(shipped)
    }

    /// Ships until `stop` turns true, then keeps shipping until the spool is
    /// empty or `drain_timeout` has passed (what remains stays on disk for
    /// the next start).
    pub async fn run(self, mut stop: watch::Receiver<bool>, drain_timeout: Duration) {
        let mut attempt = 0u32;
        let mut drain_until: Option<Instant> = None;
        loop {
            if drain_until.is_none() && *stop.borrow() {
                drain_until = Some(Instant::now() + drain_timeout);
            }
            if let Some(u) = drain_until {
                if self.spool().is_empty() || Instant::now() >= u {
                    break;
                }
            }
            match self.round().await {
                Ok(n) => {
                    attempt = 0;
                    // Wait for a fuller batch unless a backlog is waiting.
                    let backlog = self.spool().stats().pending_bytes as usize >= self.cfg.max_bytes / 2;
                    if n < self.cfg.max_rows && drain_until.is_none() && !backlog {
                        // A small batch: let rows gather for one period (or until stopped).
                        let wait =
                            if n == 0 { self.cfg.period.max(Duration::from_millis(50)) } else { self.cfg.period };
                        tokio::select! {
                            _ = super::wait_true(&mut stop) => {}
                            _ = tokio::time::sleep(wait) => {}
                            _ = self.notify.notified(), if n == 0 => {
                                // Rows arrived in an empty spool: still give them a batch window.
                                tokio::select! {
                                    _ = super::wait_true(&mut stop) => {}
                                    _ = tokio::time::sleep(self.cfg.period) => {}
                                }
                            }
                        }
                    }
                }
                Err(e) => {
                    self.health.insert_failed();
                    let wait = backoff(attempt);
                    attempt = attempt.saturating_add(1);
                    tracing::warn!(error = %e, ?wait, pending = ?self.spool().stats(), "shipping failed; will retry");
                    let wait = match drain_until {
                        Some(u) => wait.min(u.saturating_duration_since(Instant::now())),
                        None => wait,
                    };
                    tokio::select! {
                        _ = super::wait_true(&mut stop), if drain_until.is_none() => {}
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
        let st = self.spool().stats();
        if st.pending_records > 0 {
            tracing::warn!(?st, "stopping with rows in the spool; they are shipped at the next start");
        }
    }
}
