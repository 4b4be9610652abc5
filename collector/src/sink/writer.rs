//! The writer task: drains the queue into per-table buffers and inserts a
//! buffer when it reaches `batch_max_rows` rows or `batch_max_bytes` bytes,
//! or when `batch_max_ms` has passed since its first row.
//!
//! Failures: a retryable error keeps the rows and retries with backoff while
//! the queue keeps filling (handlers get 503 once it is full, never unbounded
//! memory). A data error splits the batch until the bad rows are isolated;
//! those are logged and counted, the rest are inserted.
//!
//! We batch ourselves rather than use `clickhouse::inserter::Inserter`
//! because the inserter discards rows it has encoded, and a failed insert must
//! be retried with the very same rows.
use super::clickhouse::{backoff, classify, ErrorKind};
use super::{Rows, SinkHealth};
use crate::telemetry as t;
use clickhouse::{Client, RowOwned, RowWrite};
use ktra_schema::row::{ConsentRow, EmailClickRow, EmailOpenRow, EventRow};
use serde::Serialize;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Batch limits and timeouts.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Flush at this many rows.
    pub max_rows: usize,
    /// Flush at about this many bytes.
    pub max_bytes: usize,
    /// Flush a non-empty buffer this long after its first row.
    pub period: Duration,
    /// Stop taking from the queue while this many rows wait for a retry.
    pub max_buffered_rows: usize,
    /// Timeout of one insert.
    pub insert_timeout: Duration,
}

/// Approximate encoded size of a row, for the byte limit.
pub trait RowSize {
    /// Bytes, roughly as RowBinary encodes them.
    fn approx_size(&self) -> usize;
}

impl RowSize for EventRow {
    fn approx_size(&self) -> usize {
        let strings = [
            &self.site_id, &self.event_type, &self.visitor_id, &self.session_id, &self.consent_id, &self.url, &self.host,
            &self.path, &self.title, &self.referrer, &self.referrer_host, &self.channel, &self.utm_source, &self.utm_medium,
            &self.utm_campaign, &self.utm_term, &self.utm_content, &self.click_id_type, &self.click_id, &self.country,
            &self.region, &self.city, &self.browser, &self.os, &self.device, &self.form_id, &self.form_action,
            &self.video_id, &self.order_id, &self.currency, &self.product_id, &self.product_name, &self.link_url,
            &self.email_click_id, &self.lead_id, &self.event_name,
        ];
        let arrays: usize = self.form_fields.iter().chain(&self.props_key).chain(&self.props_value).map(|s| s.len() + 1).sum();
        strings.iter().map(|s| s.len() + 1).sum::<usize>() + arrays + 64
    }
}

impl RowSize for ConsentRow {
    fn approx_size(&self) -> usize {
        self.consent_id.len() + self.site_id.len() + self.text_hash.len() + self.previous_id.len() + self.visitor_id.len() + 96
    }
}

impl RowSize for EmailClickRow {
    fn approx_size(&self) -> usize {
        self.click_id.len() + self.lead_id.len() + self.message_id.len() + self.destination.len() + 64
    }
}

impl RowSize for EmailOpenRow {
    fn approx_size(&self) -> usize {
        self.open_id.len() + self.lead_id.len() + self.message_id.len() + 48
    }
}

struct Buffer<T> {
    table: &'static str,
    rows: Vec<T>,
    bytes: usize,
    first_at: Option<Instant>,
    retry_at: Option<Instant>,
    attempt: u32,
}

impl<T> Buffer<T>
where
    T: RowOwned + RowWrite + Serialize + RowSize + Send + Sync,
{
    fn new(table: &'static str) -> Self {
        Self { table, rows: Vec::new(), bytes: 0, first_at: None, retry_at: None, attempt: 0 }
    }

    fn push(&mut self, row: T) {
        self.bytes += row.approx_size();
        self.rows.push(row);
        self.first_at.get_or_insert_with(Instant::now);
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

    /// Inserts the buffer. On a retryable failure the rows not yet stored stay
    /// buffered and a retry is scheduled.
    async fn flush(&mut self, client: &Client, cfg: &WriterConfig, health: &SinkHealth) {
        if self.rows.is_empty() {
            return;
        }
        let rows = std::mem::take(&mut self.rows);
        let n = rows.len();
        let started = Instant::now();
        match insert_isolating(client, self.table, rows, cfg.insert_timeout).await {
            Ok(dropped) => {
                let stored = n - dropped;
                metrics::counter!(t::INSERTED_ROWS, "table" => self.table).increment(stored as u64);
                metrics::histogram!(t::BATCH_ROWS, "table" => self.table).record(n as f64);
                metrics::histogram!(t::INSERT_SECONDS, "table" => self.table).record(started.elapsed().as_secs_f64());
                health.consecutive_failures.store(0, Ordering::Relaxed);
                health.last_ok.store(unix_now(), Ordering::Relaxed);
                self.bytes = 0;
                self.first_at = None;
                self.retry_at = None;
                self.attempt = 0;
            }
            Err((rest, err)) => {
                metrics::counter!(t::INSERT_ERRORS, "table" => self.table, "kind" => "retryable").increment(1);
                health.consecutive_failures.fetch_add(1, Ordering::Relaxed);
                let wait = backoff(self.attempt);
                tracing::warn!(table = self.table, rows = rest.len(), attempt = self.attempt, ?wait, error = %err, "insert failed; will retry");
                self.attempt = self.attempt.saturating_add(1);
                self.retry_at = Some(Instant::now() + wait);
                self.bytes = rest.iter().map(RowSize::approx_size).sum();
                self.rows = rest;
            }
        }
    }
}

/// Inserts `rows`; on a data error splits them until the bad rows are
/// isolated and dropped (counted). Returns the number dropped, or on a
/// retryable error the rows not yet stored.
async fn insert_isolating<T>(
    client: &Client,
    table: &'static str,
    rows: Vec<T>,
    timeout: Duration,
) -> Result<usize, (Vec<T>, clickhouse::error::Error)>
where
    T: RowOwned + RowWrite + Serialize + Send + Sync,
{
    // Iterative split: a stack of slices still to insert, first half first.
    let mut stack: Vec<Vec<T>> = vec![rows];
    let mut dropped = 0;
    while let Some(chunk) = stack.pop() {
        match insert_once(client, table, &chunk, timeout).await {
            Ok(()) => {}
            Err(e) if classify(&e) == ErrorKind::Data => {
                metrics::counter!(t::INSERT_ERRORS, "table" => table, "kind" => "data").increment(1);
                if chunk.len() == 1 {
                    tracing::error!(table, error = %e, "ClickHouse refused a row; dropped");
                    metrics::counter!(t::DROPPED_ROWS, "table" => table, "reason" => "refused_by_clickhouse").increment(1);
                    dropped += 1;
                } else {
                    let mut first = chunk;
                    let second = first.split_off(first.len() / 2);
                    stack.push(second);
                    stack.push(first);
                }
            }
            Err(e) => {
                let mut rest = chunk;
                while let Some(mut more) = stack.pop() {
                    rest.append(&mut more);
                }
                return Err((rest, e));
            }
        }
    }
    Ok(dropped)
}

async fn insert_once<T>(client: &Client, table: &str, rows: &[T], timeout: Duration) -> Result<(), clickhouse::error::Error>
where
    T: RowOwned + RowWrite + Serialize,
{
    let mut insert = client.insert::<T>(table).await?.with_timeouts(Some(timeout), Some(timeout));
    for row in rows {
        insert.write(row).await?;
    }
    insert.end().await
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The writer: owns the buffers, runs until the queue is closed and drained.
pub struct Writer {
    client: Client,
    cfg: WriterConfig,
    health: Arc<SinkHealth>,
    events: Buffer<EventRow>,
    consent: Buffer<ConsentRow>,
    clicks: Buffer<EmailClickRow>,
    opens: Buffer<EmailOpenRow>,
}

impl Writer {
    /// A writer inserting through `client`.
    pub fn new(client: Client, cfg: WriterConfig, health: Arc<SinkHealth>) -> Self {
        Self {
            client,
            cfg,
            health,
            events: Buffer::new("events"),
            consent: Buffer::new("consent_log"),
            clicks: Buffer::new("email_clicks"),
            opens: Buffer::new("email_opens"),
        }
    }

    fn buffered(&self) -> usize {
        self.events.rows.len() + self.consent.rows.len() + self.clicks.rows.len() + self.opens.rows.len()
    }

    fn accept(&mut self, rows: Rows) {
        self.health.queued.fetch_sub(1, Ordering::Relaxed);
        match rows {
            Rows::Events(v) => v.into_iter().for_each(|r| self.events.push(r)),
            Rows::Consent(r) => self.consent.push(r),
            Rows::Click(r) => self.clicks.push(r),
            Rows::Open(r) => self.opens.push(r),
        }
    }

    async fn flush_due(&mut self, force: bool) {
        let now = Instant::now();
        let cfg = self.cfg.clone();
        // Consent first: proof of consent matters most.
        if force || self.consent.due(&cfg, now) {
            self.consent.flush(&self.client, &cfg, &self.health).await;
        }
        if force || self.events.due(&cfg, now) {
            self.events.flush(&self.client, &cfg, &self.health).await;
        }
        if force || self.clicks.due(&cfg, now) {
            self.clicks.flush(&self.client, &cfg, &self.health).await;
        }
        if force || self.opens.due(&cfg, now) {
            self.opens.flush(&self.client, &cfg, &self.health).await;
        }
        let b = self.buffered();
        self.health.buffered_rows.store(b, Ordering::Relaxed);
        metrics::gauge!(t::BUFFERED_ROWS).set(b as f64);
        metrics::gauge!(t::QUEUE_DEPTH).set(self.health.queued.load(Ordering::Relaxed) as f64);
    }

    fn next_deadline(&self) -> Instant {
        [
            self.events.next_deadline(&self.cfg),
            self.consent.next_deadline(&self.cfg),
            self.clicks.next_deadline(&self.cfg),
            self.opens.next_deadline(&self.cfg),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600))
    }

    /// Runs until `shutdown` turns true, then closes the queue, drains it and
    /// makes a last effort to insert everything (retrying for up to
    /// `drain_timeout`). Returns the rows that could not be stored.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Rows>, mut shutdown: watch::Receiver<bool>, drain_timeout: Duration) -> usize {
        loop {
            let backpressure = self.buffered() >= self.cfg.max_buffered_rows;
            let deadline = tokio::time::Instant::from_std(self.next_deadline());
            tokio::select! {
                biased;
                _ = super::wait_true(&mut shutdown) => break,
                msg = rx.recv(), if !backpressure => match msg {
                    Some(rows) => {
                        self.accept(rows);
                        // Take what else is ready without waking up again.
                        while self.buffered() < self.cfg.max_rows.max(1) * 2 {
                            match rx.try_recv() {
                                Ok(rows) => self.accept(rows),
                                Err(_) => break,
                            }
                        }
                        self.flush_due(false).await;
                    }
                    None => break,
                },
                _ = tokio::time::sleep_until(deadline) => self.flush_due(false).await,
            }
        }
        rx.close();
        while let Some(rows) = rx.recv().await {
            self.accept(rows);
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
        if lost > 0 {
            tracing::error!(rows = lost, "shutdown: rows could not be stored");
            metrics::counter!(t::DROPPED_ROWS, "table" => "all", "reason" => "shutdown").increment(lost as u64);
        }
        lost
    }
}
