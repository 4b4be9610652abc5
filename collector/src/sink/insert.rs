//! One batch into ClickHouse: the single place where rows leave the sink.
//!
//! Rows of erased consent chains are dropped first (wherever they waited:
//! spool or memory). A data error splits the batch in halves until the bad
//! rows are alone; they go to the dead-letter file with the server's error,
//! the rest is inserted. A retryable error returns the rows not yet stored.
use super::clickhouse::{classify, ErrorKind};
use super::raw::RawRow;
use super::rowbinary;
use super::spool::Spool;
use crate::consent::erasure::Erasures;
use crate::telemetry as t;
use clickhouse::Client;
use ktra_schema::row::TableRow;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What an insert needs besides its rows.
#[derive(Clone)]
pub struct InsertCtx {
    /// ClickHouse.
    pub client: Client,
    /// Timeout of one insert.
    pub timeout: Duration,
    /// Erased consent chains.
    pub erasures: Arc<Erasures>,
    /// For the dead-letter file.
    pub spool: Arc<Spool>,
}

/// Drops the rows of erased consent chains (counted as `erased`).
fn drop_erased<R>(ctx: &InsertCtx, table: &'static str, rows: &mut Vec<R>, erased: impl Fn(&Erasures, &R) -> bool) {
    let before = rows.len();
    rows.retain(|r| !erased(&ctx.erasures, r));
    if rows.len() < before {
        metrics::counter!(t::DROPPED_ROWS, "table" => table, "reason" => "erased")
            .increment((before - rows.len()) as u64);
    }
}

/// Inserts `rows` into their table. `Err` carries the rows not yet stored.
pub async fn insert_isolating<T: TableRow>(
    ctx: &InsertCtx,
    mut rows: Vec<T>,
) -> Result<(), (Vec<T>, clickhouse::error::Error)> {
    let table = T::TABLE;
    drop_erased(ctx, table, &mut rows, |e, r| e.is_erased(r.consent_root()));
    if rows.is_empty() {
        return Ok(());
    }
    let total = rows.len();
    let started = Instant::now();
    let mut stack: Vec<Vec<T>> = vec![rows];
    let mut refused = 0;
    while let Some(chunk) = stack.pop() {
        match insert_once(&ctx.client, table, &chunk, ctx.timeout).await {
            Ok(()) => {}
            Err(e) if classify(&e) == ErrorKind::Data => {
                metrics::counter!(t::INSERT_ERRORS, "table" => table, "kind" => "data").increment(1);
                if chunk.len() == 1 {
                    tracing::error!(table, error = %e, "ClickHouse refused a row; dead-lettered");
                    metrics::counter!(t::DROPPED_ROWS, "table" => table, "reason" => "refused_by_clickhouse")
                        .increment(1);
                    let json = serde_json::to_vec(&chunk[0]).unwrap_or_default();
                    if let Err(io) = ctx.spool.dead_letter(table, &json, &e.to_string()) {
                        tracing::error!(error = %io, "cannot write dead letter");
                    }
                    refused += 1;
                } else {
                    let mut first = chunk;
                    let second = first.split_off(first.len() / 2);
                    stack.push(second);
                    stack.push(first);
                }
            }
            Err(e) => {
                metrics::counter!(t::INSERT_ERRORS, "table" => table, "kind" => "retryable").increment(1);
                let mut rest = chunk;
                while let Some(mut more) = stack.pop() {
                    rest.append(&mut more);
                }
                return Err((rest, e));
            }
        }
    }
    metrics::counter!(t::INSERTED_ROWS, "table" => table).increment((total - refused) as u64);
    metrics::histogram!(t::BATCH_ROWS, "table" => table).record(total as f64);
    metrics::histogram!(t::INSERT_SECONDS, "table" => table).record(started.elapsed().as_secs_f64());
    Ok(())
}

async fn insert_once<T: TableRow>(
    client: &Client,
    table: &str,
    rows: &[T],
    timeout: Duration,
) -> Result<(), clickhouse::error::Error> {
    let mut insert = client.insert::<T>(table).await?.with_timeouts(Some(timeout), Some(timeout));
    for row in rows {
        insert.write(row).await?;
    }
    insert.end().await
}

/// Like [`insert_isolating`] for RowBinary spool rows ([`super::raw`]): the
/// rows' bytes go into the insert as they are. A row ClickHouse refuses is
/// decoded only then, for the dead-letter file. `Err` leaves every row to
/// be retried (the spool keeps the records until the round succeeds).
pub async fn insert_raw_isolating<T: TableRow>(
    ctx: &InsertCtx,
    payloads: &[Vec<u8>],
    mut rows: Vec<RawRow>,
) -> Result<(), clickhouse::error::Error> {
    let table = T::TABLE;
    drop_erased(ctx, table, &mut rows, |e, r| {
        e.is_erased(std::str::from_utf8(&payloads[r.rec][r.root.clone()]).unwrap_or(""))
    });
    if rows.is_empty() {
        return Ok(());
    }
    let total = rows.len();
    let started = Instant::now();
    let sql = insert_sql::<T>();
    let mut stack: Vec<&[RawRow]> = vec![&rows];
    let mut refused = 0;
    while let Some(chunk) = stack.pop() {
        match insert_raw_once(&ctx.client, &sql, payloads, chunk, ctx.timeout).await {
            Ok(()) => {}
            Err(e) if classify(&e) == ErrorKind::Data => {
                metrics::counter!(t::INSERT_ERRORS, "table" => table, "kind" => "data").increment(1);
                if chunk.len() == 1 {
                    tracing::error!(table, error = %e, "ClickHouse refused a row; dead-lettered");
                    metrics::counter!(t::DROPPED_ROWS, "table" => table, "reason" => "refused_by_clickhouse")
                        .increment(1);
                    let bytes = &payloads[chunk[0].rec][chunk[0].row.clone()];
                    let json = match rowbinary::deserialize::<T>(bytes) {
                        Ok(row) => serde_json::to_vec(&row).unwrap_or_default(),
                        Err(_) => super::rows::hex_json(bytes),
                    };
                    if let Err(io) = ctx.spool.dead_letter(table, &json, &e.to_string()) {
                        tracing::error!(error = %io, "cannot write dead letter");
                    }
                    refused += 1;
                } else {
                    let (first, second) = chunk.split_at(chunk.len() / 2);
                    stack.push(second);
                    stack.push(first);
                }
            }
            Err(e) => {
                metrics::counter!(t::INSERT_ERRORS, "table" => table, "kind" => "retryable").increment(1);
                return Err(e);
            }
        }
    }
    metrics::counter!(t::INSERTED_ROWS, "table" => table).increment((total - refused) as u64);
    metrics::histogram!(t::BATCH_ROWS, "table" => table).record(total as f64);
    metrics::histogram!(t::INSERT_SECONDS, "table" => table).record(started.elapsed().as_secs_f64());
    Ok(())
}

/// `INSERT INTO table(columns…) FORMAT RowBinary`, the statement the
/// `clickhouse` crate sends for `T` with validation off.
fn insert_sql<T: TableRow>() -> String {
    let quote = |name: &str| format!("`{}`", name.replace('\\', "\\\\").replace('`', "\\`"));
    let columns: Vec<String> = T::COLUMN_NAMES.iter().map(|c| quote(c)).collect();
    format!("INSERT INTO {}({}) FORMAT RowBinary", quote(T::TABLE), columns.join(","))
}

/// Bytes handed to the connection at a time (the crate's own chunk size).
const CHUNK: usize = 256 * 1024;

async fn insert_raw_once(
    client: &Client,
    sql: &str,
    payloads: &[Vec<u8>],
    rows: &[RawRow],
    timeout: Duration,
) -> Result<(), clickhouse::error::Error> {
    let mut insert =
        client.insert_formatted_with(sql).with_timeouts(Some(timeout), Some(timeout)).buffered_with_capacity(CHUNK);
    for r in rows {
        insert.write_buffered(&payloads[r.rec][r.row.clone()]);
        if insert.buf_len() >= CHUNK {
            insert.flush().await?;
        }
    }
    insert.end().await
}
