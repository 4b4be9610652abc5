//! The write path to ClickHouse. Handlers hand rows to a bounded queue
//! ([`Sink`]); one writer task takes them ([`writer`]); the on-disk
//! [`spool`] keeps what is not yet in ClickHouse; the [`shipper`] moves the
//! spool into ClickHouse in order; [`insert`] isolates rows ClickHouse
//! refuses; [`clickhouse`] holds the client and error policy; [`migrate`]
//! applies the schema.
//!
//! Two durability modes (config `durability`):
//! - `disk` (default): the writer appends each request's rows to the spool
//!   and fsyncs once for all requests that arrived meanwhile (group commit);
//!   only then is the request answered 202. The shipper inserts from the
//!   spool in batches. A crash loses nothing acknowledged.
//! - `memory`: the request is answered once its rows are queued; the writer
//!   batches in memory and inserts directly, spilling to the spool when
//!   ClickHouse fails. A crash loses the queued and buffered rows (at most
//!   one batch window), counted on the next start as nothing — they were
//!   never on disk — so this mode is for deployments that prefer latency.
//!
//! Handlers never wait on ClickHouse.
pub mod clickhouse;
pub mod insert;
pub mod journal;
pub mod migrate;
pub mod shipper;
pub mod spool;
pub mod writer;

use ktra_schema::row::{ConsentRow, EmailClickRow, EmailOpenRow, EventRow};
use serde::Deserialize;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Acknowledgement policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Answer once the rows are fsynced to the spool.
    Disk,
    /// Answer once the rows are queued in memory.
    Memory,
}

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
    /// The spool could not take the rows (full or failing disk).
    #[error("the spool cannot take more rows")]
    SpoolFull,
    /// The writer did not confirm in time.
    #[error("the writer did not confirm in time")]
    Timeout,
}

impl Sink {
    /// A queue of `capacity` requests and its receiving end.
    pub fn channel(capacity: usize, durability: Durability) -> (Self, mpsc::Receiver<Envelope>, Arc<SinkHealth>) {
        let (tx, rx) = mpsc::channel(capacity);
        let health = Arc::new(SinkHealth::default());
        (Self { tx, health: health.clone(), durability, ack_timeout: Duration::from_secs(10) }, rx, health)
    }

    fn enqueue(&self, env: Envelope) -> Result<(), QueueFull> {
        match self.tx.try_send(env) {
            Ok(()) => {
                let q = self.health.queued.fetch_add(1, Ordering::Relaxed) + 1;
                metrics::gauge!(crate::telemetry::QUEUE_DEPTH).set(q as f64);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(_) | mpsc::error::TrySendError::Closed(_)) => Err(QueueFull),
        }
    }

    /// Hands rows to the writer and, in disk mode, waits until they are
    /// durable in the spool. Never waits on ClickHouse.
    pub async fn submit(&self, rows: Rows) -> Result<(), SubmitError> {
        match self.durability {
            Durability::Memory => self.enqueue(Envelope { rows, ack: None }).map_err(|_| SubmitError::QueueFull),
            Durability::Disk => {
                let (tx, rx) = oneshot::channel();
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
    /// answering fast matters more, e.g. an email click's redirect).
    pub fn try_send(&self, rows: Rows) -> Result<(), QueueFull> {
        self.enqueue(Envelope { rows, ack: None })
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
