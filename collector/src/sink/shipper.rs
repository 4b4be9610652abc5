//! The shipper: moves the spool into ClickHouse, oldest first, in batches of
//! about `max_rows` rows, committing the spool's read position after each
//! table run is stored. On a retryable failure it backs off and retries the
//! same records (nothing is lost, order is kept); rows ClickHouse refuses for
//! their content go to the dead-letter file.
use super::clickhouse::backoff;
use super::insert::{insert_isolating, Erasable};
use crate::consent::erasure::Erasures;
use super::spool::{Record, Spool, Table};
use super::SinkHealth;
use crate::telemetry as t;
use clickhouse::{Client, RowOwned, RowWrite};
use ktra_schema::row::{ConsentRow, EmailClickRow, EmailOpenRow, EventRow};
use serde::de::DeserializeOwned;
use serde::Serialize;
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
    /// Timeout of one insert.
    pub insert_timeout: Duration,
}

/// The shipper task.
pub struct Shipper {
    /// ClickHouse.
    pub client: Client,
    /// The spool.
    pub spool: Arc<Spool>,
    /// Settings.
    pub cfg: ShipperConfig,
    /// Shared health.
    pub health: Arc<SinkHealth>,
    /// Woken when the writer spooled something.
    pub notify: Arc<Notify>,
    /// Erased consent chains, dropped before insert.
    pub erasures: Arc<Erasures>,
}

enum Shipped {
    Ok(usize),
    Retry(clickhouse::error::Error),
}

fn decode<T: DeserializeOwned>(spool: &Spool, records: &[Record]) -> Vec<T> {
    let mut out = Vec::new();
    for r in records {
        match serde_json::from_slice::<Vec<T>>(&r.payload) {
            Ok(mut rows) => out.append(&mut rows),
            Err(e) => {
                tracing::error!(error = %e, "undecodable spool record; dead-lettered");
                if let Err(io) = spool.dead_letter(r.table, &r.payload, &e.to_string()) {
                    tracing::error!(error = %io, "cannot write dead letter");
                }
                metrics::counter!(t::DROPPED_ROWS, "table" => r.table.name(), "reason" => "undecodable")
                    .increment(u64::from(r.rows));
            }
        }
    }
    out
}

/// Decodes on the blocking pool: a 10 000-row round is tens of milliseconds
/// of CPU that would otherwise stall request handling on a runtime worker.
async fn decode_off_runtime<T: DeserializeOwned + Send + 'static>(spool: Arc<Spool>, records: Vec<Record>) -> Vec<T> {
    tokio::task::spawn_blocking(move || decode::<T>(&spool, &records)).await.unwrap_or_default()
}

impl Shipper {
    async fn ship_rows<T>(&self, table: Table, rows: Vec<T>) -> Shipped
    where
        T: RowOwned + RowWrite + Serialize + Send + Sync + Erasable,
    {
        let n = rows.len();
        match insert_isolating(&self.client, table.name(), rows, self.cfg.insert_timeout, &self.erasures).await {
            Ok(done) => {
                for (row, err) in done.refused {
                    let json = serde_json::to_vec(&row).unwrap_or_default();
                    if let Err(e) = self.spool.dead_letter(table, &json, &err) {
                        tracing::error!(error = %e, "cannot write dead letter");
                    }
                }
                Shipped::Ok(n)
            }
            Err((_, e)) => Shipped::Retry(e),
        }
    }

    async fn ship(&self, table: Table, records: Vec<Record>) -> Shipped {
        match table {
            Table::Events => {
                self.ship_rows(table, decode_off_runtime::<EventRow>(self.spool.clone(), records).await).await
            }
            Table::Consent => {
                self.ship_rows(table, decode_off_runtime::<ConsentRow>(self.spool.clone(), records).await).await
            }
            Table::Clicks => {
                self.ship_rows(table, decode_off_runtime::<EmailClickRow>(self.spool.clone(), records).await).await
            }
            Table::Opens => {
                self.ship_rows(table, decode_off_runtime::<EmailOpenRow>(self.spool.clone(), records).await).await
            }
        }
    }

    /// One round: read up to a batch, ship it table run by table run.
    /// Returns rows shipped, or the error that stopped the round.
    async fn round(&self) -> Result<usize, clickhouse::error::Error> {
        let spool = self.spool.clone();
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
        let mut shipped = 0;
        let mut records = records.into_iter().peekable();
        while let Some(first) = records.next() {
            // A run of records of one table, up to about max_rows rows.
            let table = first.table;
            let mut rows = first.rows as usize;
            let mut run = vec![first];
            while let Some(next) = records.next_if(|r| r.table == table && rows < self.cfg.max_rows) {
                rows += next.rows as usize;
                run.push(next);
            }
            let (end, n_records) = (run[run.len() - 1].end, run.len() as u64);
            match self.ship(table, run).await {
                Shipped::Ok(n) => {
                    shipped += n;
                    self.health.insert_ok();
                    if let Err(e) = self.spool.commit(end, n_records) {
                        tracing::error!(error = %e, "cannot persist spool cursor");
                    }
                }
                Shipped::Retry(e) => return Err(e),
            }
        }
        let st = self.spool.stats();
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
                if self.spool.is_empty() || Instant::now() >= u {
                    break;
                }
            }
            match self.round().await {
                Ok(n) => {
                    attempt = 0;
                    // Wait for a fuller batch unless a backlog is waiting.
                    let backlog = self.spool.stats().pending_bytes as usize >= self.cfg.max_bytes / 2;
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
                    tracing::warn!(error = %e, ?wait, pending = ?self.spool.stats(), "shipping failed; will retry");
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
        let st = self.spool.stats();
        if st.pending_records > 0 {
            tracing::warn!(?st, "stopping with rows in the spool; they are shipped at the next start");
        }
    }
}
