//! One batch into ClickHouse, isolating rows the server refuses for their
//! content: a data error splits the batch in halves until the bad rows are
//! alone; they are returned with the error, the rest is inserted. A
//! retryable error returns the rows not yet stored.
use super::clickhouse::{classify, ErrorKind};
use crate::telemetry as t;
use crate::consent::erasure::Erasures;
use clickhouse::{Client, RowOwned, RowWrite};
use ktra_schema::row::{ConsentRow, EmailClickRow, EmailOpenRow, EventRow};
use serde::Serialize;
use std::time::{Duration, Instant};

/// Outcome of a successful (possibly partial) batch.
pub struct Inserted<T> {
    /// Rows the server refused, with its error.
    pub refused: Vec<(T, String)>,
}

/// Whether a row belongs to an erased consent chain. Only event rows carry a
/// chain; the other tables are erased by the mutations of
/// [`crate::consent::erasure`].
pub trait Erasable {
    /// Whether `erasures` covers this row.
    fn is_erased(&self, _erasures: &Erasures) -> bool {
        false
    }
}

impl Erasable for EventRow {
    fn is_erased(&self, erasures: &Erasures) -> bool {
        erasures.is_erased(&self.consent_root)
    }
}
impl Erasable for ConsentRow {}
impl Erasable for EmailClickRow {}
impl Erasable for EmailOpenRow {}

/// Inserts `rows` into `table`, first dropping rows of erased consent
/// chains (wherever they waited: spool or memory). See the module docs.
pub async fn insert_isolating<T>(
    client: &Client,
    table: &'static str,
    mut rows: Vec<T>,
    timeout: Duration,
    erasures: &Erasures,
) -> Result<Inserted<T>, (Vec<T>, clickhouse::error::Error)>
where
    T: RowOwned + RowWrite + Serialize + Send + Sync + Erasable,
{
    let before = rows.len();
    rows.retain(|r| !r.is_erased(erasures));
    if rows.len() < before {
        metrics::counter!(t::DROPPED_ROWS, "table" => table, "reason" => "erased").increment((before - rows.len()) as u64);
    }
    if rows.is_empty() {
        return Ok(Inserted { refused: Vec::new() });
    }
    let total = rows.len();
    let started = Instant::now();
    let mut stack: Vec<Vec<T>> = vec![rows];
    let mut refused = Vec::new();
    while let Some(chunk) = stack.pop() {
        match insert_once(client, table, &chunk, timeout).await {
            Ok(()) => {}
            Err(e) if classify(&e) == ErrorKind::Data => {
                metrics::counter!(t::INSERT_ERRORS, "table" => table, "kind" => "data").increment(1);
                if chunk.len() == 1 {
                    tracing::error!(table, error = %e, "ClickHouse refused a row");
                    metrics::counter!(t::DROPPED_ROWS, "table" => table, "reason" => "refused_by_clickhouse")
                        .increment(1);
                    refused.extend(chunk.into_iter().map(|r| (r, e.to_string())));
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
    let stored = total - refused.len();
    metrics::counter!(t::INSERTED_ROWS, "table" => table).increment(stored as u64);
    metrics::histogram!(t::BATCH_ROWS, "table" => table).record(total as f64);
    metrics::histogram!(t::INSERT_SECONDS, "table" => table).record(started.elapsed().as_secs_f64());
    Ok(Inserted { refused })
}

async fn insert_once<T>(
    client: &Client,
    table: &str,
    rows: &[T],
    timeout: Duration,
) -> Result<(), clickhouse::error::Error>
where
    T: RowOwned + RowWrite + Serialize,
{
    let mut insert = client.insert::<T>(table).await?.with_timeouts(Some(timeout), Some(timeout));
    for row in rows {
        insert.write(row).await?;
    }
    insert.end().await
}
