//! The write path to ClickHouse. [`start`] opens the spool and starts two
//! tasks; handlers hand [`Rows`] of any table to the [`Sink`] (a bounded
//! queue).
//!
//! - [`rows`]: rows of any [`TableRow`](ktra_schema::row::TableRow) type,
//!   erased for the queue, and [`rows::TABLES`], the one list of tables;
//! - [`writer`]: the queue's consumer: group commit to the spool
//!   (`writer::disk`) or batches in memory (`writer::memory`);
//! - [`spool`]: checksummed segment files of binary row records;
//! - [`shipper`]: moves the spool into ClickHouse in order;
//! - [`insert`]: the one place rows leave: erased chains dropped, data
//!   errors isolated and dead-lettered;
//! - [`clickhouse`] (client, error policy), [`migrate`], [`journal`]
//!   (small durable lists), [`ledger`] (memory mode's crash account).
//!
//! Two durability modes (config `durability`):
//! - `disk` (default): the writer appends each request's rows to the spool
//!   and fsyncs once for all requests that arrived meanwhile (group commit);
//!   only then is the request answered 202. The shipper inserts from the
//!   spool in batches. A crash loses nothing acknowledged.
//! - `memory`: the request is answered once its rows are queued; the writer
//!   batches in memory and inserts directly, spilling to the spool when
//!   ClickHouse fails. What is acknowledged but only in memory is bounded in
//!   bytes ([`MemoryBudget`]) by `memory_max_bytes` and by the spool's free
//!   room, so it can always be spilled. A crash loses the queued and buffered
//!   rows (at most one batch window), counted at the next start.
//!
//! Handlers never wait on ClickHouse.
pub mod clickhouse;
pub mod insert;
pub mod journal;
pub mod ledger;
pub mod migrate;
pub mod raw;
pub mod rowbinary;
pub mod rows;
pub mod shipper;
pub mod spool;
pub mod writer;

pub use rows::Rows;

use crate::config::Config;
use crate::consent::erasure::Erasures;
use serde::Deserialize;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// Acknowledgement policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Answer once the rows are fsynced to the spool.
    Disk,
    /// Answer once the rows are queued in memory.
    Memory,
}

/// Memory mode's bound: bytes of acknowledged rows that are only in memory
/// (queued or buffered). A request is accepted only if its rows fit under
/// `max` *and* could still be spilled to the spool with everything else held
/// in memory, so an acknowledged row always has somewhere to go, whatever
/// ClickHouse does.
#[derive(Debug)]
pub struct MemoryBudget {
    used: AtomicUsize,
    max: usize,
    spool: Arc<spool::Spool>,
}

impl MemoryBudget {
    /// A budget of `max` bytes against `spool`'s room.
    pub fn new(max: usize, spool: Arc<spool::Spool>) -> Self {
        Self { used: AtomicUsize::new(0), max, spool }
    }

    /// Reserves `n` bytes, or refuses when memory or the spool's room would overflow.
    pub fn try_reserve(&self, n: usize) -> bool {
        let room = usize::try_from(self.spool.max_bytes().saturating_sub(self.spool.stats().pending_bytes))
            .unwrap_or(usize::MAX);
        let limit = self.max.min(room);
        self.used.fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| (u + n <= limit).then_some(u + n)).is_ok()
    }

    /// Releases `n` bytes.
    pub fn release(&self, n: usize) {
        let _ = self.used.fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| Some(u.saturating_sub(n)));
    }

    /// Bytes reserved now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

/// Rows plus, in disk mode, the sender waiting for them to be durable.
#[derive(Debug)]
pub struct Envelope {
    /// The rows.
    pub rows: Rows,
    /// Answered `true` once durable, `false` if they could not be spooled.
    pub ack: Option<oneshot::Sender<bool>>,
}

/// Health of the write path, shared by the writer, the shipper and `/readyz`.
#[derive(Debug, Default)]
pub struct SinkHealth {
    /// Unix seconds of the last successful insert (0: none yet).
    pub last_ok: AtomicU64,
    /// Failed inserts since the last success.
    pub consecutive_failures: AtomicU64,
    /// Rows buffered in the writer (memory mode).
    pub buffered_rows: AtomicUsize,
    /// Requests waiting in the queue.
    pub queued: AtomicUsize,
}

impl SinkHealth {
    /// Whether ClickHouse accepted the last insert (or none was tried yet).
    pub fn clickhouse_ok(&self) -> bool {
        self.consecutive_failures.load(Ordering::Relaxed) == 0
    }

    pub(crate) fn insert_ok(&self) {
        self.consecutive_failures.store(0, Ordering::Relaxed);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        self.last_ok.store(now, Ordering::Relaxed);
    }

    pub(crate) fn insert_failed(&self) {
        self.consecutive_failures.fetch_add(1, Ordering::Relaxed);
    }
}

/// The handlers' side of the queue.
#[derive(Debug, Clone)]
pub struct Sink {
    tx: mpsc::Sender<Envelope>,
    health: Arc<SinkHealth>,
    durability: Durability,
    ack_timeout: Duration,
    budget: Arc<MemoryBudget>,
}

/// The queue is full (or closed); the caller answers 503. The rows are dropped.
#[derive(Debug, thiserror::Error)]
#[error("the write queue is full")]
pub struct QueueFull;

/// Why rows were not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The queue is full or the collector is stopping.
    #[error("the write queue is full")]
    QueueFull,
    /// Memory mode: the memory budget (or the spool room behind it) is used up.
    #[error("the collector holds as much in memory as it can spool")]
    MemoryFull,
    /// The spool could not take the rows (full or failing disk).
    #[error("the spool cannot take more rows")]
    SpoolFull,
    /// The writer did not confirm in time.
    #[error("the writer did not confirm in time")]
    Timeout,
}

impl Sink {
    /// A queue of `capacity` requests and its receiving end.
    pub fn channel(
        capacity: usize,
        durability: Durability,
        budget: Arc<MemoryBudget>,
    ) -> (Self, mpsc::Receiver<Envelope>, Arc<SinkHealth>) {
        let (tx, rx) = mpsc::channel(capacity);
        let health = Arc::new(SinkHealth::default());
        let sink = Self { tx, health: health.clone(), durability, ack_timeout: Duration::from_secs(10), budget };
        (sink, rx, health)
    }

    fn enqueue(&self, env: Envelope) -> Result<(), QueueFull> {
        // Counted before it is sent: the writer may take it (and count it off) at once.
        let q = self.health.queued.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        match self.tx.try_send(env) {
            Ok(()) => {
                metrics::gauge!(crate::telemetry::QUEUE_DEPTH).set(q as f64);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(_) | mpsc::error::TrySendError::Closed(_)) => {
                self.health.queued.fetch_sub(1, Ordering::Relaxed);
                Err(QueueFull)
            }
        }
    }

    /// Hands rows to the writer and, in disk mode, waits until they are
    /// durable in the spool. Never waits on ClickHouse.
    pub async fn submit(&self, rows: Rows) -> Result<(), SubmitError> {
        match self.durability {
            Durability::Memory => {
                let bytes = rows.bytes() + spool::RECORD_OVERHEAD;
                if !self.budget.try_reserve(bytes) {
                    return Err(SubmitError::MemoryFull);
                }
                self.enqueue(Envelope { rows, ack: None }).map_err(|_| {
                    self.budget.release(bytes);
                    SubmitError::QueueFull
                })
            }
            Durability::Disk => {
                let (tx, rx) = oneshot::channel();
                let rows = rows.into_encoded();
                self.enqueue(Envelope { rows, ack: Some(tx) }).map_err(|_| SubmitError::QueueFull)?;
                match tokio::time::timeout(self.ack_timeout, rx).await {
                    Ok(Ok(true)) => Ok(()),
                    Ok(Ok(false)) | Ok(Err(_)) => Err(SubmitError::SpoolFull),
                    Err(_) => Err(SubmitError::Timeout),
                }
            }
        }
    }

    /// Hands rows to the writer without waiting for durability (used where
    /// answering fast matters more, e.g. an email click's redirect). In
    /// memory mode the rows count against the budget like any others.
    pub fn try_send(&self, rows: Rows) -> Result<(), QueueFull> {
        let bytes = if self.durability == Durability::Memory { rows.bytes() + spool::RECORD_OVERHEAD } else { 0 };
        if bytes > 0 && !self.budget.try_reserve(bytes) {
            return Err(QueueFull);
        }
        let rows = if self.durability == Durability::Disk { rows.into_encoded() } else { rows };
        self.enqueue(Envelope { rows, ack: None }).inspect_err(|_| self.budget.release(bytes))
    }

    /// Shared health.
    pub fn health(&self) -> &Arc<SinkHealth> {
        &self.health
    }

    /// The durability mode.
    pub fn durability(&self) -> Durability {
        self.durability
    }
}

/// Resolves once `rx` holds `true` (or its sender is gone). Unlike
/// `watch::Receiver::wait_for`, holds no lock guard across the await, so the
/// future stays `Send`.
pub async fn wait_true(rx: &mut tokio::sync::watch::Receiver<bool>) {
    while !*rx.borrow_and_update() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// The running sink: the writer and shipper tasks and what readiness reads.
pub struct SinkHandle {
    /// The spool.
    pub spool: Arc<spool::Spool>,
    /// Shared health.
    pub health: Arc<SinkHealth>,
    /// Memory mode's budget.
    pub budget: Arc<MemoryBudget>,
    stop: watch::Sender<bool>,
    ship_stop: watch::Sender<bool>,
    writer: tokio::task::JoinHandle<usize>,
    shipper: tokio::task::JoinHandle<()>,
}

/// Opens the spool and starts the writer and the shipper for `config`.
/// Rows of chains in `erasures` are dropped before they are inserted.
pub fn start(config: &Config, erasures: Arc<Erasures>) -> std::io::Result<(Sink, SinkHandle)> {
    let sp = &config.spool;
    let ch = &config.clickhouse;
    let spool = Arc::new(spool::Spool::open(&sp.dir, sp.max_bytes, sp.segment_bytes)?);
    if spool.corrupt_on_open > 0 {
        tracing::warn!(segments = spool.corrupt_on_open, "spool: cut torn records left by a crash");
    }
    ledger::Ledger::recover(&sp.dir);
    let budget = Arc::new(MemoryBudget::new(sp.memory_max_bytes, spool.clone()));
    let (sink, rx, health) = Sink::channel(ch.queue_capacity, sp.durability, budget.clone());
    let insert = insert::InsertCtx {
        client: self::clickhouse::client(ch),
        timeout: Duration::from_millis(ch.insert_timeout_ms),
        erasures,
        spool: spool.clone(),
    };
    let notify = Arc::new(tokio::sync::Notify::new());
    let (max_rows, max_bytes, period) = (ch.batch_max_rows, ch.batch_max_bytes, config.batch_period());
    let writer = writer::Writer::new(writer::memory::FlushCtx {
        insert: insert.clone(),
        cfg: writer::WriterConfig { durability: sp.durability, max_rows, max_bytes, period },
        health: health.clone(),
        notify: notify.clone(),
        budget: budget.clone(),
    });
    let shipper = shipper::Shipper {
        ctx: insert,
        cfg: shipper::ShipperConfig { max_rows, max_bytes, period },
        health: health.clone(),
        notify,
    };
    let drain = Duration::from_secs(sp.drain_secs);
    let (stop, stop_rx) = watch::channel(false);
    let (ship_stop, ship_stop_rx) = watch::channel(false);
    let writer = tokio::spawn(writer.run(rx, stop_rx, drain));
    let shipper = tokio::spawn(shipper.run(ship_stop_rx, drain));
    let handle = SinkHandle { spool, health, budget, stop, ship_stop, writer, shipper };
    Ok((sink, handle))
}

impl SinkHandle {
    /// Stops in order once every [`Sink`] clone is dropped or after the
    /// writer is told to: the writer takes what is queued and (memory mode)
    /// flushes, then the shipper ships the spool for up to `drain_secs`;
    /// what remains stays on disk for the next start.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.writer.await;
        let _ = self.ship_stop.send(true);
        let _ = self.shipper.await;
    }
}
