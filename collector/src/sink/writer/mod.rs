//! The writer task: the only consumer of the queue. In `disk` mode it hands
//! each batch of requests to the group commit ([`disk`]); in `memory` mode
//! it batches rows per table and inserts them directly ([`memory`]).
pub mod disk;
pub mod memory;

use super::ledger::{Ledger, LedgerFile};
use super::{Durability, Envelope};
use crate::telemetry as t;
use memory::{FlushCtx, TableBuffer};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Batch limits.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Acknowledgement policy.
    pub durability: Durability,
    /// Flush at this many rows.
    pub max_rows: usize,
    /// Flush at about this many bytes.
    pub max_bytes: usize,
    /// Flush a non-empty buffer this long after its first row.
    pub period: Duration,
}

/// The writer: owns the memory buffers; runs until told to stop, then drains the queue.
pub struct Writer {
    ctx: FlushCtx,
    buffers: BTreeMap<u8, Box<dyn TableBuffer>>,
    ledger: Ledger,
    ledger_file: LedgerFile,
}

impl Writer {
    /// A writer with everything a flush needs.
    pub fn new(ctx: FlushCtx) -> Self {
        let ledger_file = LedgerFile::new(ctx.insert.spool.dir());
        Self { ctx, buffers: BTreeMap::new(), ledger: Ledger::default(), ledger_file }
    }

    fn memory_mode(&self) -> bool {
        self.ctx.cfg.durability == Durability::Memory
    }

    fn note_ledger(&mut self) {
        if self.memory_mode() {
            self.ledger.settled = self.ledger.taken.saturating_sub(self.buffered() as u64);
            self.ledger_file.write(self.ledger);
        }
    }

    fn buffered(&self) -> usize {
        self.buffers.values().map(|b| b.len()).sum()
    }

    async fn take(&mut self, envs: Vec<Envelope>) {
        self.ctx.health.queued.fetch_sub(envs.len(), Ordering::Relaxed);
        if !self.memory_mode() {
            return disk::persist(&self.ctx.insert.spool, &self.ctx.notify, envs).await;
        }
        for env in envs {
            // A handler in memory mode does not wait; answer anyway if it does.
            if let Some(tx) = env.ack {
                let _ = tx.send(true);
            }
            self.ledger.taken += env.rows.len() as u64;
            let tag = env.rows.tag();
            self.buffers.entry(tag).or_insert_with(|| env.rows.new_buffer()).push(env.rows);
        }
        self.note_ledger();
        self.flush_due(false).await;
    }

    async fn flush_due(&mut self, force: bool) {
        let now = Instant::now();
        // Every table in turn, in spool-tag order.
        for buffer in self.buffers.values_mut() {
            if force || buffer.due(&self.ctx.cfg, now) {
                buffer.flush(&self.ctx).await;
            }
        }
        self.note_ledger();
        let b = self.buffered();
        self.ctx.health.buffered_rows.store(b, Ordering::Relaxed);
        metrics::gauge!(t::BUFFERED_ROWS).set(b as f64);
        metrics::gauge!(t::QUEUE_DEPTH).set(self.ctx.health.queued.load(Ordering::Relaxed) as f64);
    }

    fn next_deadline(&self) -> Instant {
        self.buffers
            .values()
            .filter_map(|b| b.next_deadline(&self.ctx.cfg))
            .min()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600))
    }

    /// Runs until `shutdown` turns true; then closes the queue, takes what is
    /// left, and (memory mode) flushes its buffers to ClickHouse or the
    /// spool, trying for up to `drain_timeout`. Returns the rows it could
    /// store nowhere (counted as dropped).
    pub async fn run(
        mut self,
        mut rx: mpsc::Receiver<Envelope>,
        mut shutdown: watch::Receiver<bool>,
        drain_timeout: Duration,
    ) -> usize {
        const TAKE: usize = 1024;
        let mut envs = Vec::with_capacity(TAKE);
        loop {
            let deadline = tokio::time::Instant::from_std(self.next_deadline());
            tokio::select! {
                biased;
                _ = super::wait_true(&mut shutdown) => break,
                n = rx.recv_many(&mut envs, TAKE) => {
                    if n == 0 {
                        break;
                    }
                    let batch = std::mem::replace(&mut envs, Vec::with_capacity(TAKE));
                    self.take(batch).await;
                }
                _ = tokio::time::sleep_until(deadline) => self.flush_due(false).await,
            }
        }
        rx.close();
        loop {
            let n = rx.recv_many(&mut envs, TAKE).await;
            if n == 0 {
                break;
            }
            let batch = std::mem::replace(&mut envs, Vec::with_capacity(TAKE));
            self.take(batch).await;
        }
        let until = Instant::now() + drain_timeout;
        loop {
            self.flush_due(true).await;
            if self.buffered() == 0 || Instant::now() >= until {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let lost = self.buffered();
        // What is still buffered now is dropped and counted here, not at the next start.
        self.ledger.settled = self.ledger.taken;
        self.ledger_file.write(self.ledger);
        if lost > 0 {
            tracing::error!(rows = lost, "shutdown: rows could be stored neither in ClickHouse nor in the spool");
            metrics::counter!(t::DROPPED_ROWS, "table" => "all", "reason" => "shutdown").increment(lost as u64);
        }
        lost
    }
}
