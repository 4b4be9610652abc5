//! The write path to ClickHouse: a bounded queue fed by handlers
//! ([`Sink`]), one writer task that batches rows by count, bytes and time and
//! inserts them as RowBinary ([`writer`]), the client and error policy
//! ([`clickhouse`]), and migrations ([`migrate`]).
//!
//! Handlers never wait on ClickHouse: they `try_send` into the queue and
//! answer 503 with `Retry-After` when it is full.
pub mod clickhouse;
pub mod migrate;
pub mod spool;
pub mod writer;

use ktra_schema::row::{ConsentRow, EmailClickRow, EmailOpenRow, EventRow};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Rows for one table, as handed over by a handler.
#[derive(Debug)]
pub enum Rows {
    /// Events of one request.
    Events(Vec<EventRow>),
    /// One consent decision.
    Consent(ConsentRow),
    /// One email click.
    Click(EmailClickRow),
    /// One email open.
    Open(EmailOpenRow),
}

impl Rows {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            Rows::Events(v) => v.len(),
            _ => 1,
        }
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Health of the write path, shared by the writer and `/readyz`.
#[derive(Debug, Default)]
pub struct SinkHealth {
    /// Unix seconds of the last successful insert (0: none yet).
    pub last_ok: AtomicU64,
    /// Failed inserts since the last success.
    pub consecutive_failures: AtomicU64,
    /// Rows buffered in the writer, including rows waiting for a retry.
    pub buffered_rows: AtomicUsize,
    /// Requests waiting in the queue.
    pub queued: AtomicUsize,
}

impl SinkHealth {
    /// Whether ClickHouse accepted the last insert (or none was tried yet).
    pub fn clickhouse_ok(&self) -> bool {
        self.consecutive_failures.load(Ordering::Relaxed) == 0
    }
}

/// The handlers' side of the queue.
#[derive(Debug, Clone)]
pub struct Sink {
    tx: mpsc::Sender<Rows>,
    health: Arc<SinkHealth>,
}

/// The queue is full; the caller answers 503.
#[derive(Debug, thiserror::Error)]
#[error("the write queue is full")]
pub struct QueueFull(pub Rows);

impl Sink {
    /// A queue of `capacity` requests and its receiving end.
    pub fn channel(capacity: usize) -> (Self, mpsc::Receiver<Rows>, Arc<SinkHealth>) {
        let (tx, rx) = mpsc::channel(capacity);
        let health = Arc::new(SinkHealth::default());
        (Self { tx, health: health.clone() }, rx, health)
    }

    /// Enqueues rows without waiting.
    pub fn try_send(&self, rows: Rows) -> Result<(), QueueFull> {
        match self.tx.try_send(rows) {
            Ok(()) => {
                let q = self.health.queued.fetch_add(1, Ordering::Relaxed) + 1;
                metrics::gauge!(crate::telemetry::QUEUE_DEPTH).set(q as f64);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(r) | mpsc::error::TrySendError::Closed(r)) => Err(QueueFull(r)),
        }
    }

    /// Shared health.
    pub fn health(&self) -> &Arc<SinkHealth> {
        &self.health
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
