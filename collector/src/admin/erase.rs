//! Export and erasure of one visitor's data. Values are bound as escaped
//! literals by the client; nothing from the request is pasted into SQL.
use clickhouse::Client;
use serde::Serialize;
use std::time::{Duration, Instant};

/// Rows deleted, per table.
#[derive(Debug, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Erased {
    /// From `events`.
    pub events: u64,
    /// From `consent_log`.
    pub consent_log: u64,
}

async fn count(client: &Client, table: &str, site: &str, vid: &str) -> Result<u64, clickhouse::error::Error> {
    // `table` is one of our constant names.
    client
        .query(&format!("SELECT count() FROM {table} WHERE site_id = ? AND visitor_id = ?"))
        .bind(site)
        .bind(vid)
        .fetch_one::<u64>()
        .await
}

/// Deletes the visitor's rows from `events` and, with `include_consent`, from
/// `consent_log` (a withdrawal keeps its own proof). With `wait`,
/// returns only once ClickHouse has applied the deletions (polling
/// `system.mutations`, up to 60 s), so a later `SELECT` finds nothing.
pub async fn erase_visitor(
    client: &Client,
    site: &str,
    vid: &str,
    include_consent: bool,
    wait: bool,
) -> Result<Erased, clickhouse::error::Error> {
    let tables: &[&str] = if include_consent { &["events", "consent_log"] } else { &["events"] };
    let mut erased = Erased { events: count(client, "events", site, vid).await?, consent_log: 0 };
    if include_consent {
        erased.consent_log = count(client, "consent_log", site, vid).await?;
    }
    for table in tables {
        client
            .query(&format!("ALTER TABLE {table} DELETE WHERE site_id = ? AND visitor_id = ?"))
            .bind(site)
            .bind(vid)
            .execute()
            .await?;
    }
    tracing::info!(site, events = erased.events, consent_log = erased.consent_log, "visitor erased");
    if wait {
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let pending: u64 = client
                .query("SELECT count() FROM system.mutations WHERE database = currentDatabase() AND is_done = 0")
                .fetch_one()
                .await?;
            if pending == 0 || Instant::now() >= until {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(erased)
}

async fn json_rows(
    client: &Client,
    sql: &str,
    site: &str,
    vid: &str,
) -> Result<Vec<serde_json::Value>, clickhouse::error::Error> {
    let bytes = client.query(sql).bind(site).bind(vid).fetch_bytes("JSONEachRow")?.collect().await?;
    Ok(bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()).filter_map(|l| serde_json::from_slice(l).ok()).collect())
}

/// Everything stored about the visitor: events and consent decisions.
pub async fn export_visitor(
    client: &Client,
    site: &str,
    vid: &str,
) -> Result<serde_json::Value, clickhouse::error::Error> {
    let events =
        json_rows(client, "SELECT * FROM events WHERE site_id = ? AND visitor_id = ? ORDER BY ts", site, vid).await?;
    let consent = json_rows(
        client,
        "SELECT * FROM consent_log WHERE site_id = ? AND visitor_id = ? ORDER BY recorded_at",
        site,
        vid,
    )
    .await?;
    Ok(serde_json::json!({ "site": site, "visitor_id": vid, "events": events, "consent_log": consent }))
}
