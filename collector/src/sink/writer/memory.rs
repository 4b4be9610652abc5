//! Memory mode's batcher: rows wait in one buffer per table and are inserted
//! when a buffer reaches `max_rows` rows or `max_bytes` bytes, or `period`
//! after its first row. A batch ClickHouse cannot take goes to the spool
//! (and while the spool holds anything, new batches follow it there, so
//! order is kept); if the spool refuses too, the batch stays in memory and is
//! retried with backoff. Every byte here was reserved in the
//! [`MemoryBudget`](crate::sink::MemoryBudget) when its request was
//! accepted, and is released once the rows left memory.
use super::WriterConfig;
use crate::sink::clickhouse::backoff;
use crate::sink::insert::{insert_isolating, InsertCtx};
use crate::sink::rows::{BoxFuture, Rows};
use crate::sink::spool::{Encoding, RECORD_OVERHEAD};
use crate::sink::{MemoryBudget, SinkHealth};
use crate::telemetry as t;
use ktra_schema::row::{encode_rows, TableRow};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Notify;

/// What a flush needs.
pub struct FlushCtx {
    /// Insert settings, erasures, spool.
    pub insert: InsertCtx,
    /// Limits.
    pub cfg: WriterConfig,
    /// Shared health.
    pub health: Arc<SinkHealth>,
    /// Wakes the shipper after a spill.
    pub notify: Arc<Notify>,
    /// Reserved bytes, released as rows leave memory.
    pub budget: Arc<MemoryBudget>,
}

/// One table's buffer, whatever its row type.
pub trait TableBuffer: Send {
    /// Adds rows (of this buffer's table).
    fn push(&mut self, rows: Rows);
    /// Rows waiting.
    fn len(&self) -> usize;
    /// Whether a flush is due at `now`.
    fn due(&self, cfg: &WriterConfig, now: Instant) -> bool;
    /// When the next flush is due, if any rows wait.
    fn next_deadline(&self, cfg: &WriterConfig) -> Option<Instant>;
    /// Inserts the buffer, or spools it; see the module docs.
    fn flush<'a>(&'a mut self, ctx: &'a FlushCtx) -> BoxFuture<'a, ()>;
}

/// The buffer of table `T`.
pub struct Buffer<T> {
    rows: Vec<T>,
    bytes: usize,
    first_at: Option<Instant>,
    retry_at: Option<Instant>,
    attempt: u32,
}

impl<T: TableRow> Buffer<T> {
    /// An empty buffer.
    pub fn new() -> Self {
        Self { rows: Vec::new(), bytes: 0, first_at: None, retry_at: None, attempt: 0 }
    }

    fn settled(&mut self, budget: &MemoryBudget) {
        budget.release(self.bytes);
        self.rows.clear();
        self.bytes = 0;
        self.first_at = None;
        self.retry_at = None;
        self.attempt = 0;
    }

    async fn flush_now(&mut self, ctx: &FlushCtx) {
        if self.rows.is_empty() {
            return;
        }
        let spool = &ctx.insert.spool;
        if spool.is_empty() {
            match insert_isolating(&ctx.insert, std::mem::take(&mut self.rows)).await {
                Ok(()) => {
                    ctx.health.insert_ok();
                    self.settled(&ctx.budget);
                    return;
                }
                Err((rest, err)) => {
                    ctx.health.insert_failed();
                    tracing::warn!(table = T::TABLE, rows = rest.len(), error = %err, "insert failed; spooling");
                    self.rows = rest;
                }
            }
        }
        let n = u32::try_from(self.rows.len()).unwrap_or(u32::MAX);
        let payload = encode_rows(&self.rows);
        let spilled = spool.append(T::TAG, Encoding::Binary, n, &payload).is_ok() && {
            let s = spool.clone();
            matches!(tokio::task::spawn_blocking(move || s.sync()).await, Ok(Ok(())))
        };
        if spilled {
            metrics::counter!(t::SPOOLED_ROWS, "table" => T::TABLE).increment(u64::from(n));
            self.settled(&ctx.budget);
            ctx.notify.notify_one();
        } else {
            // The budget keeps room for these rows in the spool, so this is a
            // failing disk: keep them and retry later.
            let wait = backoff(self.attempt);
            self.attempt = self.attempt.saturating_add(1);
            self.retry_at = Some(Instant::now() + wait);
            tracing::warn!(table = T::TABLE, rows = self.rows.len(), ?wait, "cannot spool; holding rows in memory");
        }
    }
}

impl<T: TableRow> Default for Buffer<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: TableRow> TableBuffer for Buffer<T> {
    fn push(&mut self, rows: Rows) {
        // What the request reserved: its rows and one record's overhead.
        let reserved = rows.bytes() + RECORD_OVERHEAD;
        let Ok(rows) = rows.downcast::<T>() else { return };
        self.bytes += reserved;
        self.rows.extend(rows);
        self.first_at.get_or_insert_with(Instant::now);
    }

    fn len(&self) -> usize {
        self.rows.len()
    }

    fn due(&self, cfg: &WriterConfig, now: Instant) -> bool {
        if self.rows.is_empty() {
            return false;
        }
        if let Some(r) = self.retry_at {
            return now >= r;
        }
        self.rows.len() >= cfg.max_rows
            || self.bytes >= cfg.max_bytes
            || self.first_at.is_some_and(|f| now.duration_since(f) >= cfg.period)
    }

    fn next_deadline(&self, cfg: &WriterConfig) -> Option<Instant> {
        if self.rows.is_empty() {
            return None;
        }
        self.retry_at.or_else(|| self.first_at.map(|f| f + cfg.period))
    }

    fn flush<'a>(&'a mut self, ctx: &'a FlushCtx) -> BoxFuture<'a, ()> {
        Box::pin(self.flush_now(ctx))
    }
}
