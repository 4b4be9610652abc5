//! The database ceiling and floor, with the very rows ktra stores.
//!
//! - [`bulk`]: RowBinary inserts of `batch` rows each, straight into the
//!   `events` table with the `clickhouse` crate (LZ4, no validation, as the
//!   collector's client): what ClickHouse itself can take, in rows/s.
//! - [`per_event`]: one insert per event over HTTP, as the simplest
//!   collectors write — the floor ktra must beat by batching.
//!
//! Rows come from the real pipeline (decode → validate → enrich) over the
//! same bodies the load generator sends, each with its own event id.
use crate::pipeline;
use crate::workload::{BodyMaker, SITE, USER_AGENT};
use clickhouse::{Client, Compression};
use ktra_collector::config::ClickHouseConfig;
use ktra_schema::row::EventRow;
use serde::Serialize;
use std::time::{Duration, Instant};

/// What a database run measured.
#[derive(Debug, Clone, Serialize)]
pub struct DbReport {
    /// `bulk` or `per_event`.
    pub kind: String,
    /// Rows inserted.
    pub rows: u64,
    /// Inserts issued.
    pub inserts: u64,
    /// Failed inserts.
    pub errors: u64,
    /// Seconds spent inserting.
    pub seconds: f64,
    /// Rows per second.
    pub rows_per_s: f64,
    /// Concurrent inserters.
    pub connections: usize,
    /// Rows per insert.
    pub batch: usize,
}

/// A client like the collector's (RowBinary, LZ4, no validation).
pub fn client(url: &str, database: &str) -> Client {
    Client::default().with_url(url).with_database(database).with_validation(false).with_compression(Compression::Lz4)
}

/// Creates `database` with ktra's schema (the collector's own migrations).
pub async fn migrate(url: &str, database: &str) -> anyhow::Result<()> {
    let cfg = ClickHouseConfig { url: url.to_string(), database: database.to_string(), ..Default::default() };
    ktra_collector::sink::migrate::run(&cfg).await?;
    Ok(())
}

/// `n` distinct rows built by the collector's pipeline, visitor ids tagged `tag`.
pub fn make_rows(n: usize, tag: &str) -> anyhow::Result<Vec<EventRow>> {
    let token = "unused-by-the-pipeline";
    let mut maker = BodyMaker::new(token, SITE, tag, 0, 20);
    let mut body = Vec::new();
    let mut rows = Vec::with_capacity(n + 20);
    maker.next_body(&mut body);
    let ctx = pipeline::context(&body, USER_AGENT)?;
    let now = pipeline::now_ms();
    while rows.len() < n {
        maker.next_body(&mut body);
        pipeline::rows(&body, &ctx, now, &mut rows)?;
    }
    rows.truncate(n);
    Ok(rows)
}

async fn insert(client: &Client, rows: &[EventRow]) -> clickhouse::error::Result<()> {
    let mut ins = client.insert::<EventRow>("events").await?;
    for r in rows {
        ins.write(r).await?;
    }
    ins.end().await
}

/// Inserts `rows` in batches of `batch`, `connections` inserts at a time.
pub async fn bulk(client: Client, rows: Vec<EventRow>, batch: usize, connections: usize) -> DbReport {
    let rows = std::sync::Arc::new(rows);
    let chunks: Vec<(usize, usize)> =
        (0..rows.len()).step_by(batch.max(1)).map(|s| (s, (s + batch).min(rows.len()))).collect();
    let queue = std::sync::Arc::new(std::sync::Mutex::new(chunks.into_iter()));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections.max(1) {
        let (client, rows, queue) = (client.clone(), rows.clone(), queue.clone());
        tasks.push(tokio::spawn(async move {
            let (mut ok_rows, mut inserts, mut errors) = (0u64, 0u64, 0u64);
            loop {
                let next = queue.lock().ok().and_then(|mut q| q.next());
                let Some((a, b)) = next else { break };
                inserts += 1;
                match insert(&client, &rows[a..b]).await {
                    Ok(()) => ok_rows += (b - a) as u64,
                    Err(_) => errors += 1,
                }
            }
            (ok_rows, inserts, errors)
        }));
    }
    let (mut ok, mut inserts, mut errors) = (0, 0, 0);
    for t in tasks {
        if let Ok((r, i, e)) = t.await {
            ok += r;
            inserts += i;
            errors += e;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    DbReport {
        kind: "bulk".into(),
        rows: ok,
        inserts,
        errors,
        seconds,
        rows_per_s: ok as f64 / seconds,
        connections,
        batch,
    }
}

/// One insert per row for `duration`, `connections` at a time.
pub async fn per_event(client: Client, rows: Vec<EventRow>, duration: Duration, connections: usize) -> DbReport {
    let rows = std::sync::Arc::new(rows);
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let end = start + duration;
    let mut tasks = Vec::new();
    for _ in 0..connections.max(1) {
        let (client, rows, next) = (client.clone(), rows.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut errors) = (0u64, 0u64);
            while Instant::now() < end {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(row) = rows.get(i) else { break };
                match tokio::time::timeout(Duration::from_secs(10), insert(&client, std::slice::from_ref(row))).await {
                    Ok(Ok(())) => ok += 1,
                    _ => errors += 1,
                }
            }
            (ok, errors)
        }));
    }
    let (mut ok, mut errors) = (0, 0);
    for t in tasks {
        if let Ok((r, e)) = t.await {
            ok += r;
            errors += e;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    DbReport {
        kind: "per_event".into(),
        rows: ok,
        inserts: ok + errors,
        errors,
        seconds,
        rows_per_s: ok as f64 / seconds,
        connections,
        batch: 1,
    }
}
