//! Export and erasure of one visitor's data (the operator's tools; a
//! visitor's own withdrawal goes through [`crate::consent::erasure`]). Values are bound as escaped
//! literals by the client; nothing from the request is pasted into SQL.
use crate::consent::erasure::mutation_target;
use crate::stats::rollup;
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
    /// From `email_clicks`: the visitor's leads' clicks and the clicks their sessions came from.
    pub email_clicks: u64,
    /// From `email_opens`: the visitor's leads' opens.
    pub email_opens: u64,
}

/// Deletes the visitor's rows from `events`, the email tables (by the leads
/// the visitor identified as, and by the clicks their sessions came from)
/// and `lead_consent`, and, with `include_consent`, from `consent_log` (a
/// withdrawal keeps its own proof). On a cluster the mutations go to the
/// `_local` tables of every node. With `wait`, returns only once ClickHouse
/// has applied them (polling `system.mutations`, up to 60 s), so a later
/// `SELECT` finds nothing.
pub async fn erase_visitor(
    client: &Client,
    cluster: &str,
    site: &str,
    vid: &str,
    include_consent: bool,
    wait: bool,
) -> Result<Erased, clickhouse::error::Error> {
    let by_visitor = "site_id = ? AND visitor_id = ?";
    let count = |table: &'static str, cond: &'static str| {
        let sql = format!("SELECT count() FROM {table} WHERE {cond}");
        async move { client.query(&sql).bind(site).bind(vid).fetch_one::<u64>().await }
    };
    let leads: Vec<String> = client
        .query("SELECT DISTINCT lead_id FROM events WHERE site_id = ? AND visitor_id = ? AND lead_id != ''")
        .bind(site)
        .bind(vid)
        .fetch_all()
        .await?;
    let clicks: Vec<String> = client
        .query(
            "SELECT DISTINCT email_click_id FROM events WHERE site_id = ? AND visitor_id = ? AND email_click_id != ''",
        )
        .bind(site)
        .bind(vid)
        .fetch_all()
        .await?;
    let by_lead = |table: &str| {
        format!("SELECT count() FROM {table} WHERE site_id = ? AND has(CAST(? AS Array(String)), lead_id)")
    };
    let mut erased = Erased { events: count("events", by_visitor).await?, ..Erased::default() };
    if include_consent {
        erased.consent_log = count("consent_log", by_visitor).await?;
    }
    erased.email_clicks = client
        .query("SELECT count() FROM email_clicks WHERE site_id = ? AND (has(CAST(? AS Array(String)), lead_id) OR has(CAST(? AS Array(String)), click_id))")
        .bind(site)
        .bind(&leads)
        .bind(&clicks)
        .fetch_one()
        .await?;
    erased.email_opens = client.query(&by_lead("email_opens")).bind(site).bind(&leads).fetch_one().await?;

    let target = |t: &str| mutation_target(t, cluster);
    // Email rows first: they are found through the visitor's events.
    client
        .query(&format!(
            "ALTER TABLE {} DELETE WHERE site_id = ? AND (has(CAST(? AS Array(String)), lead_id) OR has(CAST(? AS Array(String)), click_id))",
            target("email_clicks")
        ))
        .bind(site)
        .bind(&leads)
        .bind(&clicks)
        .execute()
        .await?;
    for table in ["email_opens", "lead_consent"] {
        client
            .query(&format!(
                "ALTER TABLE {} DELETE WHERE site_id = ? AND has(CAST(? AS Array(String)), lead_id)",
                target(table)
            ))
            .bind(site)
            .bind(&leads)
            .execute()
            .await?;
    }
    let hours: rollup::Hours = client.query(&rollup::hours_sql(by_visitor)).bind(site).bind(vid).fetch_all().await?;
    let mut tables = vec!["events"];
    // Stored sessions (`stats::sessions`) are the visitor's too; no mutation
    // (on a cluster, DDL on every node) when none was stored.
    if count("session_facts", by_visitor).await? > 0 {
        tables.push("session_facts");
    }
    if include_consent {
        tables.push("consent_log");
    }
    for table in tables {
        client
            .query(&format!("ALTER TABLE {} DELETE WHERE {by_visitor}", target(table)))
            .bind(site)
            .bind(vid)
            .execute()
            .await?;
    }
    tracing::info!(site, ?erased, "visitor erased");
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
        if let Err(e) = rollup::mark(client, &hours).await {
            tracing::error!(error = %e, "cannot mark the erased hours stale; their rollups keep the erased rows' counts until the next insert there");
        }
    } else {
        rollup::mark_when_applied(client.clone(), hours);
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
