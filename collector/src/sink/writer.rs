//! The writer task: the only consumer of the queue.
//!
//! In `disk` mode it appends every request's rows to the spool, fsyncs once
//! for everything that arrived meanwhile (group commit) and then acknowledges
//! the waiting handlers; the shipper takes it from there.
//!
//! In `memory` mode it batches rows per table and inserts a batch when it
//! reaches `max_rows` rows or `max_bytes` bytes, or `period` after its first
//! row. A batch ClickHouse cannot take goes to the spool (and, while the spool
//! holds anything, new batches follow it there, so order is kept); if the
//! spool is full too, the batch stays in memory, and once `max_buffered_rows`
//! are waiting the writer stops taking from the queue — handlers then get 503.
//!
//! We batch ourselves rather than use `clickhouse::inserter::Inserter`
//! because the inserter discards rows it has encoded, and a failed batch must
//! be retried or spooled with the very same rows.
use super::clickhouse::backoff;
use super::insert::{insert_isolating, Erasable};
use crate::consent::erasure::Erasures;
use super::spool::{Spool, Table};
use super::{Durability, Envelope, Rows, SinkHealth};
use crate::telemetry as t;
use clickhouse::{Client, RowOwned, RowWrite};
use ktra_schema::row::{ConsentRow, EmailClickRow, EmailOpenRow, EventRow};
use serde::Serialize;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, Notify};

/// Batch limits and timeouts.
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
    /// Stop taking from the queue while this many rows wait in memory.
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
            &self.site_id,
            &self.event_type,
            &self.visitor_id,
            &self.session_id,
            &self.consent_id,
            &self.consent_root,
            &self.url,
            &self.host,
            &self.path,
            &self.title,
            &self.referrer,
            &self.referrer_host,
            &self.channel,
            &self.utm_source,
            &self.utm_medium,
            &self.utm_campaign,
            &self.utm_term,
            &self.utm_content,
            &self.click_id_type,
            &self.click_id,
            &self.country,
            &self.region,
            &self.city,
            &self.browser,
            &self.os,
            &self.device,
            &self.form_id,
            &self.form_action,
            &self.video_id,
            &self.order_id,
            &self.currency,
            &self.product_id,
            &self.product_name,
            &self.link_url,
            &self.email_click_id,
            &self.lead_id,
            &self.event_name,
        ];
        let arrays: usize =
            self.form_fields.iter().chain(&self.props_key).chain(&self.props_value).map(|s| s.len() + 1).sum();
        strings.iter().map(|s| s.len() + 1).sum::<usize>() + arrays + 72
    }
}

impl RowSize for ConsentRow {
    fn approx_size(&self) -> usize {
        self.consent_id.len()
            + self.site_id.len()
            + self.text_hash.len()
            + self.previous_id.len()
            + self.visitor_id.len()
            + 96
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

/// Encodes rows as a spool record: table, count and JSON payload.
pub fn encode(rows: &Rows) -> (Table, u32, Vec<u8>) {
    let (table, json) = match rows {
        Rows::Events(v) => (Table::Events, serde_json::to_vec(v)),
        Rows::Consent(r) => (Table::Consent, serde_json::to_vec(&[r])),
        Rows::Click(r) => (Table::Clicks, serde_json::to_vec(&[r])),
        Rows::Open(r) => (Table::Opens, serde_json::to_vec(&[r])),
    };
    (table, u32::try_from(rows.len()).unwrap_or(u32::MAX), json.unwrap_or_default())
}

/// Appends `payload` rows to the spool and fsyncs (used by memory mode to spill).
async fn spill(spool: &Arc<Spool>, table: Table, rows: u32, payload: Vec<u8>) -> bool {
    if spool.append(table, rows, &payload).is_err() {
        return false;
    }
    let s = spool.clone();
    matches!(tokio::task::spawn_blocking(move || s.sync()).await, Ok(Ok(())))
}

struct Buffer<T> {
    table: Table,
    rows: Vec<T>,
    bytes: usize,
    first_at: Option<Instant>,
    retry_at: Option<Instant>,
    attempt: u32,
}

impl<T> Buffer<T>
where
    T: RowOwned + RowWrite + Serialize + RowSize + Erasable + Send + Sync,
{
    fn new(table: Table) -> Self {
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

    fn reset(&mut self) {
        self.bytes = 0;
        self.first_at = None;
        self.retry_at = None;
        self.attempt = 0;
    }

    /// Inserts the buffer, or spools it when the spool already holds rows
    /// (to keep order) or ClickHouse fails.
    async fn flush(
        &mut self,
        client: &Client,
        cfg: &WriterConfig,
        health: &SinkHealth,
        spool: &Arc<Spool>,
        notify: &Notify,
        erasures: &Erasures,
    ) {
        if self.rows.is_empty() {
            return;
        }
        let table = self.table;
        if spool.is_empty() {
            let rows = std::mem::take(&mut self.rows);
            match insert_isolating(client, table.name(), rows, cfg.insert_timeout, erasures).await {
                Ok(done) => {
                    health.insert_ok();
                    for (row, err) in done.refused {
                        let json = serde_json::to_vec(&row).unwrap_or_default();
                        if let Err(e) = spool.dead_letter(table, &json, &err) {
                            tracing::error!(error = %e, "cannot write dead letter");
                        }
                    }
                    self.reset();
                    return;
                }
                Err((rest, err)) => {
                    health.insert_failed();
                    tracing::warn!(table = table.name(), rows = rest.len(), error = %err, "insert failed; spooling");
                    self.rows = rest;
                }
            }
        }
        let payload = serde_json::to_vec(&self.rows).unwrap_or_default();
        let n = u32::try_from(self.rows.len()).unwrap_or(u32::MAX);
        if spill(spool, table, n, payload).await {
            metrics::counter!(t::SPOOLED_ROWS, "table" => table.name()).increment(u64::from(n));
            self.rows.clear();
            self.reset();
            notify.notify_one();
        } else {
            // Spool full: keep the rows in memory and retry later.
            let wait = backoff(self.attempt);
            self.attempt = self.attempt.saturating_add(1);
            self.retry_at = Some(Instant::now() + wait);
            tracing::warn!(table = table.name(), rows = self.rows.len(), ?wait, "spool full; holding rows in memory");
        }
    }
}

/// Memory mode's account of rows taken from the queue but not yet settled
/// (inserted, spooled, dead-lettered), kept in `memory-ledger` in the spool
/// directory. After a crash the difference is what was lost; the next start
/// reports and counts it (`ktra_dropped_rows_total{reason="crash_memory_mode"}`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Ledger {
    /// Rows taken from the queue.
    pub taken: u64,
    /// Rows no longer only in memory.
    pub settled: u64,
}

impl Ledger {
    fn path(dir: &std::path::Path) -> std::path::PathBuf {
        dir.join("memory-ledger")
    }

    /// Reads the ledger a previous run left, if any.
    pub fn read(dir: &std::path::Path) -> Option<Self> {
        let text = std::fs::read_to_string(Self::path(dir)).ok()?;
        let (a, b) = text.trim().split_once(' ')?;
        Some(Self { taken: a.parse().ok()?, settled: b.parse().ok()? })
    }

    fn write(&self, dir: &std::path::Path) {
        let tmp = dir.join("memory-ledger.tmp");
        if std::fs::write(&tmp, format!("{} {}\n", self.taken, self.settled)).is_ok() {
            let _ = std::fs::rename(tmp, Self::path(dir));
        }
    }

    /// Rows a crashed run held only in memory: reported, counted, and the
    /// ledger reset. Called once at start, before requests are served.
    pub fn recover(dir: &std::path::Path) -> u64 {
        let lost = Self::read(dir).map(|l| l.taken.saturating_sub(l.settled)).unwrap_or(0);
        Self::default().write(dir);
        if lost > 0 {
            tracing::error!(
                rows = lost,
                "the previous run crashed in memory durability mode and lost rows it held in memory"
            );
            metrics::counter!(t::DROPPED_ROWS, "table" => "all", "reason" => "crash_memory_mode").increment(lost);
        }
        lost
    }
}

/// The writer: owns the memory buffers; runs until told to stop, then drains the queue.
pub struct Writer {
    client: Client,
    cfg: WriterConfig,
    health: Arc<SinkHealth>,
    spool: Arc<Spool>,
    notify: Arc<Notify>,
    erasures: Arc<Erasures>,
    events: Buffer<EventRow>,
    consent: Buffer<ConsentRow>,
    clicks: Buffer<EmailClickRow>,
    opens: Buffer<EmailOpenRow>,
    ledger: Ledger,
}

impl Writer {
    /// A writer inserting through `client`, spooling to `spool`, waking the shipper through `notify`.
    pub fn new(
        client: Client,
        cfg: WriterConfig,
        health: Arc<SinkHealth>,
        spool: Arc<Spool>,
        notify: Arc<Notify>,
        erasures: Arc<Erasures>,
    ) -> Self {
        Self {
            client,
            cfg,
            health,
            spool,
            notify,
            erasures,
            events: Buffer::new(Table::Events),
            consent: Buffer::new(Table::Consent),
            clicks: Buffer::new(Table::Clicks),
            opens: Buffer::new(Table::Opens),
            ledger: Ledger::default(),
        }
    }

    fn note_ledger(&mut self) {
        if self.cfg.durability == Durability::Memory {
            let buffered = self.buffered() as u64;
            self.ledger.settled = self.ledger.taken.saturating_sub(buffered);
            self.ledger.write(self.spool.dir());
        }
    }

    fn buffered(&self) -> usize {
        self.events.rows.len() + self.consent.rows.len() + self.clicks.rows.len() + self.opens.rows.len()
    }

    fn accept(&mut self, rows: Rows) {
        match rows {
            Rows::Events(v) => v.into_iter().for_each(|r| self.events.push(r)),
            Rows::Consent(r) => self.consent.push(r),
            Rows::Click(r) => self.clicks.push(r),
            Rows::Open(r) => self.opens.push(r),
        }
    }

    /// Disk mode: append every envelope, one fsync, then acknowledge.
    async fn persist(&mut self, envs: Vec<Envelope>) {
        let mut acks = Vec::with_capacity(envs.len());
        for env in envs {
            let (table, n, payload) = encode(&env.rows);
            let ok = match self.spool.append(table, n, &payload) {
                Ok(()) => {
                    metrics::counter!(t::SPOOLED_ROWS, "table" => table.name()).increment(u64::from(n));
                    true
                }
                Err(e) => {
                    metrics::counter!(t::DROPPED_ROWS, "table" => table.name(), "reason" => "spool_full")
                        .increment(u64::from(n));
                    tracing::warn!(error = %e, "cannot spool rows");
                    false
                }
            };
            acks.push((env.ack, ok));
        }
        let s = self.spool.clone();
        let synced = matches!(tokio::task::spawn_blocking(move || s.sync()).await, Ok(Ok(())));
        if !synced {
            tracing::error!("spool fsync failed");
        }
        for (ack, ok) in acks {
            if let Some(tx) = ack {
                let _ = tx.send(ok && synced);
            }
        }
        self.notify.notify_one();
    }

    async fn take(&mut self, envs: Vec<Envelope>) {
        self.health.queued.fetch_sub(envs.len(), Ordering::Relaxed);
        match self.cfg.durability {
            Durability::Disk => self.persist(envs).await,
            Durability::Memory => {
                for env in envs {
                    // A handler in memory mode does not wait; answer anyway if it does.
                    if let Some(tx) = env.ack {
                        let _ = tx.send(true);
                    }
                    self.ledger.taken += env.rows.len() as u64;
                    self.accept(env.rows);
                }
                self.note_ledger();
                self.flush_due(false).await;
            }
        }
    }

    async fn flush_due(&mut self, force: bool) {
        let now = Instant::now();
        let cfg = self.cfg.clone();
        let (c, h, s, n, e) = (&self.client, &*self.health, &self.spool, &*self.notify, &*self.erasures);
        // Consent first: proof of consent matters most.
        if force || self.consent.due(&cfg, now) {
            self.consent.flush(c, &cfg, h, s, n, e).await;
        }
        if force || self.events.due(&cfg, now) {
            self.events.flush(c, &cfg, h, s, n, e).await;
        }
        if force || self.clicks.due(&cfg, now) {
            self.clicks.flush(c, &cfg, h, s, n, e).await;
        }
        if force || self.opens.due(&cfg, now) {
            self.opens.flush(c, &cfg, h, s, n, e).await;
        }
        self.note_ledger();
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
            let backpressure = self.buffered() >= self.cfg.max_buffered_rows;
            let deadline = tokio::time::Instant::from_std(self.next_deadline());
            tokio::select! {
                biased;
                _ = super::wait_true(&mut shutdown) => break,
                n = rx.recv_many(&mut envs, TAKE), if !backpressure => {
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
        self.ledger.write(self.spool.dir());
        if lost > 0 {
            tracing::error!(rows = lost, "shutdown: rows could be stored neither in ClickHouse nor in the spool");
            metrics::counter!(t::DROPPED_ROWS, "table" => "all", "reason" => "shutdown").increment(lost as u64);
        }
        lost
    }
}
