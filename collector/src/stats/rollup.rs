//! The event panels (`traffic_daily`, `traffic_hourly`, `summary`,
//! `top_pages`, `countries`, `devices`, and the sessions behind
//! `form_conversion`'s share) from hourly rollups (table `rollups`,
//! migration 0012) instead of every event of the range.
//!
//! A rollup row is the library's own aggregation of one hour of `events`,
//! each event id once, for one dimension value (`''` for the site as a whole,
//! `path`, `country`, `device` = browser, OS and device type), so an event
//! counts once however many copies were stored. Every insert into `events`
//! marks its hours (`rollup_marks`, by a materialized view, whoever
//! inserts); an hour whose marks outnumber those its newest rollup saw is
//! stale. A request:
//!
//! 1. finds the stale hours of its range (two small reads);
//! 2. recomputes them first when there are at most [`MAX_SYNC_HOURS`] (under a
//!    per-site lock, so concurrent panels do it once), or else answers from
//!    the library SQL over `events` as before and leaves them to
//!    [`keep_fresh`], the background task that recomputes stale hours;
//! 3. reads the newest version of each whole hour of the range, plus the
//!    partial hours at both ends straight from `events`, and aggregates.
//!
//! Counts of page views and engaged time are exact; visitors and sessions
//! are merged `uniq` states (exact to tens of thousands per cell, within
//! about 1 % beyond: ClickHouse's adaptive-sampling `uniq`) where the
//! library SQL uses `uniqExact`. Filtered requests always use the library
//! SQL (a filter keeps whole sessions, which the rollups do not know).
use super::run;
use crate::error::ApiError;
use crate::state::AppState;
use clickhouse::Client;
use ktra_schema::queries::quote;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

/// Stale hours a request recomputes before answering; more fall back to the
/// library SQL and are left to the background task.
pub const MAX_SYNC_HOURS: usize = 48;
/// Hours one background recomputation covers.
const CHUNK_HOURS: usize = 24;
/// How often the background task looks for stale hours.
const PERIOD: std::time::Duration = std::time::Duration::from_secs(5);
/// Hours recomputed, by `by` (`request`, `background`).
pub const RECOMPUTED_HOURS: &str = "ktra_rollup_recomputed_hours_total";
/// Panel requests, by `source` (`rollups`, `events`: the fallback).
pub const PANEL_SOURCE: &str = "ktra_rollup_panel_requests_total";

/// The UTC hour of an event, as a plain `DateTime`.
const HOUR: &str = "toDateTime(toUInt32(toStartOfHour(ts, 'UTC')))";
/// On a cluster a rollup (or a mark) is readable once its insert returns.
pub(super) const SYNC: &str = "insert_distributed_sync";
/// Events a rollup counts: people in browsers.
const HUMAN: &str = "is_bot = 0 AND source != 'server'";
/// Unit separator between browser, OS and device in a `device` key (a
/// ClickHouse string escape; written and split with this one literal).
macro_rules! sep {
    () => {
        "\\x1F"
    };
}

/// A panel answered from rollups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Panel {
    /// `traffic_daily`.
    TrafficDaily,
    /// `traffic_hourly` (the traffic panel up to two days).
    TrafficHourly,
    /// `summary` (the traffic panel's totals).
    Summary,
    /// `top_pages`.
    TopPages,
    /// `countries`.
    Countries,
    /// `devices`.
    Devices,
    /// `form_conversion`: its share of all sessions takes the sessions from rollups.
    FormConversion,
}

impl Panel {
    /// The panel behind a library or explore query name.
    pub fn of(name: &str) -> Option<Self> {
        Some(match name {
            "traffic_daily" => Self::TrafficDaily,
            "traffic_hourly" => Self::TrafficHourly,
            "summary" => Self::Summary,
            "top_pages" => Self::TopPages,
            "countries" => Self::Countries,
            "devices" => Self::Devices,
            "form_conversion" => Self::FormConversion,
            _ => return None,
        })
    }

    fn dim(self) -> &'static str {
        match self {
            Self::TrafficDaily | Self::TrafficHourly | Self::Summary | Self::FormConversion => "",
            Self::TopPages => "path",
            Self::Countries => "country",
            Self::Devices => "device",
        }
    }
}

/// `(dim, key expression)` of every dimension, `''` first.
const DIMS: &[(&str, &str)] = &[
    ("", "''"),
    ("path", "path"),
    ("country", "country"),
    ("device", concat!("concat(browser, '", sep!(), "', os, '", sep!(), "', device)")),
];

/// The hourly aggregation of the `events` rows matching `time_cond`, each
/// event id once (`LIMIT 1 BY event_id`: `FINAL` would merge the whole day
/// the sorting key narrows a range to, 2 s for a partial hour at ten
/// million events against 0.06 s), per
/// `(hour, dim, key)` of `dims`: `pv`, `eng`, `vis`, `ses` — the library's
/// definitions (visitors of a page are those who viewed it).
fn aggregate(site: &str, time_cond: &str, dims: &[&str]) -> String {
    let pairs: Vec<String> =
        DIMS.iter().filter(|(d, _)| dims.contains(d)).map(|(d, k)| format!("('{d}', {k})")).collect();
    format!(
        "SELECT {HOUR} AS hour, d.1 AS dim, d.2 AS key, \
         countIf(human AND event_type = 'page_view') AS pv, \
         sumIf(engaged_ms, human AND event_type = 'engagement') AS eng, \
         uniqIfState(visitor_id, human AND (d.1 != 'path' OR event_type = 'page_view')) AS vis, \
         uniqIfState(session_id, human) AS ses \
         FROM (SELECT ts, event_type, engaged_ms, visitor_id, session_id, path, country, browser, os, device, \
         {HUMAN} AS human FROM events WHERE site_id = {site} AND ({time_cond}) LIMIT 1 BY event_id) \
         ARRAY JOIN [{pairs}] AS d \
         GROUP BY hour, dim, key \
         HAVING dim = '' OR countIf(human) > 0",
        site = quote(site),
        pairs = pairs.join(", "),
    )
}

/// Whole hours `[h0, h1)` inside `[from, to)`; `h0 == h1` when there are none.
pub fn whole_hours(from: u32, to: u32) -> (u32, u32) {
    let h0 = from.div_ceil(3600).saturating_mul(3600);
    let h1 = to / 3600 * 3600;
    if h0 < h1 {
        (h0, h1)
    } else {
        (to, to)
    }
}

/// Hours of `[h0, h1)` whose marks outnumber those their newest rollup saw,
/// with their marks now.
pub fn stale_sql(site: &str, h0: u32, h1: u32) -> String {
    let site = quote(site);
    format!(
        "SELECT toUInt32(hour) AS h, marks FROM \
         (SELECT hour, sum(marks) AS marks FROM rollup_marks WHERE site_id = {site} \
         AND hour >= toDateTime({h0}) AND hour < toDateTime({h1}) GROUP BY hour) AS m \
         ANY LEFT JOIN \
         (SELECT hour, argMax(marks_seen, version) AS seen FROM rollups WHERE site_id = {site} AND dim = '' \
         AND hour >= toDateTime({h0}) AND hour < toDateTime({h1}) GROUP BY hour) AS r \
         USING hour WHERE marks > seen ORDER BY h DESC"
    )
}

/// Recomputes `hours` (`(hour, marks)` as [`stale_sql`] read them, before
/// any event is read) as one insert of version `version`.
pub fn recompute_sql(site: &str, hours: &[(u32, u64)], version: u64) -> String {
    let hs: Vec<String> = hours.iter().map(|(h, _)| h.to_string()).collect();
    let ms: Vec<String> = hours.iter().map(|(_, m)| m.to_string()).collect();
    let (lo, hi) = hours.iter().fold((u32::MAX, 0), |(lo, hi), (h, _)| (lo.min(*h), hi.max(*h)));
    let time_cond = format!(
        "ts >= toDateTime({lo}) AND ts < toDateTime({end}) AND toUInt32({HOUR}) IN ({list})",
        end = u64::from(hi) + 3600,
        list = hs.join(", ")
    );
    let dims: Vec<&str> = DIMS.iter().map(|(d, _)| *d).collect();
    format!(
        "INSERT INTO rollups (site_id, hour, dim, key, page_views, engaged_ms, visitors, sessions, marks_seen, version) \
         SELECT {site}, hour, dim, key, pv, eng, vis, ses, \
         if(dim = '', transform(toUInt32(hour), [{hs}], [{ms}], toUInt64(0)), toUInt64(0)), toUInt64({version}) \
         FROM ({agg}) \
         UNION ALL \
         SELECT {site}, hour, '', '#', toUInt64(0), toUInt64(0), uniqIfState('', toUInt8(0)), uniqIfState('', toUInt8(0)), \
         transform(toUInt32(hour), [{hs}], [{ms}], toUInt64(0)), toUInt64({version}) \
         FROM (SELECT arrayJoin([{hs}]) AS h, toDateTime(h) AS hour) GROUP BY hour",
        site = quote(site),
        hs = hs.join(", "),
        ms = ms.join(", "),
        agg = aggregate(site, &time_cond, &dims),
    )
}

/// The rows of `dim` for `[from, to)`: the newest rollup of each whole hour
/// plus the partial hours at both ends from `events`.
fn source(site: &str, from: u32, to: u32, dim: &str) -> String {
    let (h0, h1) = whole_hours(from, to);
    let s = quote(site);
    let edges = format!(
        "(ts >= toDateTime({from}) AND ts < toDateTime({h0})) OR (ts >= toDateTime({h1}) AND ts < toDateTime({to}))"
    );
    format!(
        "SELECT hour, dim, key, page_views AS pv, engaged_ms AS eng, visitors AS vis, sessions AS ses FROM rollups \
         WHERE site_id = {s} AND dim = '{dim}' AND hour >= toDateTime({h0}) AND hour < toDateTime({h1}) \
         AND (hour, version) GLOBAL IN (SELECT hour, max(version) FROM rollups WHERE site_id = {s} AND dim = '' \
         AND hour >= toDateTime({h0}) AND hour < toDateTime({h1}) GROUP BY hour) \
         UNION ALL {agg}",
        agg = aggregate(site, &edges, &[dim]),
    )
}

/// The panel's SQL: the same columns, order and limits as its library query.
pub fn panel_sql(panel: Panel, site: &str, from: u32, to: u32) -> String {
    let src = source(site, from, to, panel.dim());
    match panel {
        Panel::TrafficDaily | Panel::TrafficHourly => {
            let (col, expr) = if panel == Panel::TrafficDaily { ("day", "toDate(hour)") } else { ("hour", "hour") };
            format!(
                "SELECT {expr} AS {col}, uniqIfMerge(vis) AS visitors, uniqIfMerge(ses) AS sessions, \
                 sum(pv) AS page_views FROM ({src}) GROUP BY {col} HAVING visitors > 0 ORDER BY {col}"
            )
        }
        Panel::Summary => {
            let orders = format!(
                "FROM orders WHERE site_id = {} AND purchased_at >= toDateTime({from}) \
                 AND purchased_at < toDateTime({to}) AND is_bot = 0",
                quote(site)
            );
            format!(
                "SELECT visitors, sessions, page_views, placed.1 AS purchases, placed.2 AS revenue FROM \
                 (SELECT uniqIfMerge(vis) AS visitors, uniqIfMerge(ses) AS sessions, sum(pv) AS page_views, \
                 (SELECT (count(), sum(revenue)) {orders}) AS placed FROM ({src}))"
            )
        }
        Panel::FormConversion => format!(
            "SELECT form_id, uniqExact(event_id) AS submits, uniqExact(session_id) AS sessions_submitting, \
             (SELECT uniqIfMerge(ses) FROM ({src})) AS sessions_total, \
             round(sessions_submitting / sessions_total, 4) AS conversion \
             FROM events WHERE site_id = {s} AND ts >= toDateTime({from}) AND ts < toDateTime({to}) \
             AND event_type = 'form_submit' AND is_bot = 0 \
             GROUP BY form_id ORDER BY submits DESC, form_id",
            s = quote(site)
        ),
        Panel::TopPages => format!(
            "SELECT key AS path, sum(pv) AS page_views, uniqIfMerge(vis) AS visitors, \
             toUInt32(sum(eng) / greatest(sum(pv), 1)) AS avg_engaged_ms FROM ({src}) \
             GROUP BY path HAVING page_views > 0 ORDER BY page_views DESC, path LIMIT 50"
        ),
        Panel::Countries => format!(
            "SELECT key AS country, uniqIfMerge(vis) AS visitors FROM ({src}) \
             GROUP BY country HAVING visitors > 0 ORDER BY visitors DESC, country LIMIT 100"
        ),
        Panel::Devices => format!(
            "SELECT parts[1] AS browser, parts[2] AS os, parts[3] AS device, visitors FROM \
             (SELECT splitByChar('{sep}', key) AS parts, uniqIfMerge(vis) AS visitors FROM ({src}) \
             GROUP BY key HAVING visitors > 0) \
             ORDER BY visitors DESC, browser, os, device LIMIT 100",
            sep = sep!()
        ),
    }
}

/// One lock per site: concurrent panels recompute an hour once.
fn site_lock(site: &str) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: LazyLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> = LazyLock::new(Default::default);
    let mut m = LOCKS.lock().unwrap_or_else(|e| e.into_inner());
    m.entry(site.to_string()).or_default().clone()
}

/// Low bits of a version that name the process writing it.
const WRITER_BITS: u32 = 10;

/// A version above every earlier one of this process (and, by its clock,
/// of the others), never equal to another process's: collectors recompute the
/// same hour independently, and readers take every row of the newest version,
/// so two writers with one version would count that hour twice.
pub(super) fn next_version() -> u64 {
    static LAST: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    static WRITER: LazyLock<u64> = LazyLock::new(|| rand::random::<u64>() % (1 << WRITER_BITS));
    let now_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    let mut prev = LAST.load(std::sync::atomic::Ordering::SeqCst);
    loop {
        let (next, v) = version_at(now_us, prev, *WRITER);
        match LAST.compare_exchange(
            prev,
            next,
            std::sync::atomic::Ordering::SeqCst,
            std::sync::atomic::Ordering::SeqCst,
        ) {
            Ok(_) => return v,
            Err(p) => prev = p,
        }
    }
}

/// The version of `writer` at `now_us` after its `last` tick: the tick is
/// the clock in microseconds (or one above `last` if the clock has not
/// moved past it), the low [`WRITER_BITS`] the writer. Returns the new tick
/// and the version. Versions before this scheme (milliseconds × 1000) are all
/// below it.
fn version_at(now_us: u64, last: u64, writer: u64) -> (u64, u64) {
    let tick = now_us.max(last.saturating_add(1)).min(u64::MAX >> WRITER_BITS);
    (tick, (tick << WRITER_BITS) | writer)
}

async fn stale(client: &Client, site: &str, h0: u32, h1: u32) -> Result<Vec<(u32, u64)>, ApiError> {
    let rows = run::json_rows(client, &stale_sql(site, h0, h1)).await?;
    Ok(rows.iter().filter_map(|r| Some((u32::try_from(r["h"].as_u64()?).ok()?, r["marks"].as_u64()?))).collect())
}

/// Replicas per shard of the configured cluster (1 on one server).
pub(super) async fn replicas(state: &AppState) -> Result<u64, ApiError> {
    let cluster = &state.config.clickhouse.cluster;
    if cluster.is_empty() {
        return Ok(1);
    }
    let sql = format!("SELECT toUInt64(max(replica_num)) AS n FROM system.clusters WHERE cluster = {}", quote(cluster));
    let rows = run::json_rows(&state.clickhouse, &sql).await?;
    Ok(rows.first().and_then(|r| r["n"].as_u64()).unwrap_or(1).max(1))
}

/// Recomputes the stale hours of `[h0, h1)` under the site's lock, at most
/// `limit` of them (newest first); returns how many remain stale.
async fn refresh(
    state: &AppState,
    site: &str,
    h0: u32,
    h1: u32,
    limit: usize,
    by: &'static str,
) -> Result<usize, ApiError> {
    let client = &state.clickhouse;
    let lock = site_lock(site);
    let _held = lock.lock().await;
    let hours = stale(client, site, h0, h1).await?;
    if hours.len() > limit {
        return Ok(hours.len());
    }
    let quorum = replicas(state).await?;
    for chunk in hours.chunks(CHUNK_HOURS) {
        let sql = recompute_sql(site, chunk, next_version());
        let mut q = client.query(&sql).with_setting(SYNC, "1");
        if quorum > 1 {
            // Every replica has the new version before a read may pick one.
            q = q.with_setting("insert_quorum", quorum.to_string());
        }
        q.execute().await.map_err(|e| ApiError::Internal(format!("rollup recompute: {e}")))?;
        metrics::counter!(RECOMPUTED_HOURS, "by" => by).increment(chunk.len() as u64);
    }
    Ok(0)
}

/// The panel's rows from rollups, or `None` when too many hours of the range
/// are stale (the caller answers from `events`).
pub async fn answer(
    state: &AppState,
    panel: Panel,
    site: &str,
    from: u32,
    to: u32,
) -> Result<Option<Vec<serde_json::Value>>, ApiError> {
    let (h0, h1) = whole_hours(from, to);
    if h0 < h1 && refresh(state, site, h0, h1, MAX_SYNC_HOURS, "request").await? > 0 {
        metrics::counter!(PANEL_SOURCE, "source" => "events").increment(1);
        return Ok(None);
    }
    metrics::counter!(PANEL_SOURCE, "source" => "rollups").increment(1);
    run::json_rows(&state.clickhouse, &panel_sql(panel, site, from, to)).await.map(Some)
}

/// The visitors of `[from, to)` as the summary counts them, from rollups, or
/// `None` when too many of its hours are stale (the caller counts them from
/// `events`).
pub async fn visitors(state: &AppState, site: &str, from: u32, to: u32) -> Result<Option<u64>, ApiError> {
    let (h0, h1) = whole_hours(from, to);
    if h0 < h1 && refresh(state, site, h0, h1, MAX_SYNC_HOURS, "request").await? > 0 {
        return Ok(None);
    }
    let sql = format!("SELECT uniqIfMerge(vis) AS visitors FROM ({})", source(site, from, to, ""));
    let rows = run::json_rows(&state.clickhouse, &sql).await?;
    // 18.16 writes 64-bit integers as strings.
    let v = rows.first().map(|r| &r["visitors"]);
    Ok(v.and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok())))
}

/// `(site, hour)` of the `events` rows a deletion is about to remove: their
/// rollups must be recomputed once it has been applied ([`mark`]).
pub type Hours = Vec<(String, u32)>;

/// The SQL selecting the [`Hours`] of the `events` rows matching `cond`
/// (with the caller's bind placeholders).
pub fn hours_sql(cond: &str) -> String {
    format!("SELECT DISTINCT site_id, toUInt32({HOUR}) FROM events WHERE {cond}")
}

/// Marks `hours` stale (after the deletion of their rows has been applied:
/// a recomputation that ran before would still have seen them).
pub async fn mark(client: &Client, hours: &Hours) -> Result<(), clickhouse::error::Error> {
    if hours.is_empty() {
        return Ok(());
    }
    let nonce = next_version();
    let values: Vec<String> =
        hours.iter().map(|(site, h)| format!("({}, toDateTime({h}), 1, {nonce})", quote(site))).collect();
    client
        .query(&format!("INSERT INTO rollup_marks (site_id, hour, marks, nonce) VALUES {}", values.join(", ")))
        .with_setting(SYNC, "1")
        .execute()
        .await
}

/// [`mark`] once this server has no unfinished mutation left (checked every
/// second, for up to ten minutes), in the background.
pub fn mark_when_applied(client: Client, hours: Hours) {
    if hours.is_empty() {
        return;
    }
    tokio::spawn(async move {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(600);
        while std::time::Instant::now() < until {
            let pending: Result<u64, _> = client
                .query("SELECT count() FROM system.mutations WHERE database = currentDatabase() AND is_done = 0")
                .fetch_one()
                .await;
            if matches!(pending, Ok(0)) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
        if let Err(e) = mark(&client, &hours).await {
            tracing::error!(error = %e, hours = hours.len(), "cannot mark erased hours stale; their rollups keep the erased rows' counts until the next insert there");
        }
    });
}

/// Background: every few seconds, recompute every site's stale hours, a day
/// at a time, newest first, and store its settled sessions
/// ([`super::sessions::keep_stored`]), until stopped.
pub async fn keep_fresh(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        for site in state.config.sites.keys() {
            let end = u32::try_from(super::params::now_ms() / 1000).unwrap_or(u32::MAX).saturating_add(7200);
            let hours = match stale(&state.clickhouse, site, 0, end).await {
                Ok(hours) => hours,
                Err(e) => {
                    tracing::debug!(site, error = ?e, "rollup staleness check failed; retrying later");
                    continue;
                }
            };
            if let Err(e) = super::sessions::keep_stored(&state, site).await {
                tracing::warn!(site, error = ?e, "storing sessions failed; retrying later");
            }
            for chunk in hours.chunks(CHUNK_HOURS) {
                let lo = chunk.iter().map(|h| h.0).min().unwrap_or(0);
                let hi = chunk.iter().map(|h| h.0).max().unwrap_or(0).saturating_add(3600);
                if let Err(e) = refresh(&state, site, lo, hi, usize::MAX, "background").await {
                    tracing::warn!(site, error = ?e, "rollup recompute failed; retrying later");
                    break;
                }
                if *stop.borrow() {
                    return;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(PERIOD) => {}
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_writers_at_one_instant_never_share_a_version() {
        let now = 1_796_238_000_123_456;
        let (_, a) = version_at(now, 0, 3);
        let (_, b) = version_at(now, 0, 700);
        assert_ne!(a, b, "collectors recomputing one hour in the same microsecond");
        let (tick, first) = version_at(now, 0, 3);
        let (_, second) = version_at(now, tick, 3);
        assert!(second > first, "one writer's versions increase when the clock stands still");
        let (_, earlier) = version_at(now - 1, 0, 1023);
        assert!(first > earlier, "a later microsecond wins whatever the writers");
        let old_scheme = (now / 1000 + 10_000) * 1000;
        assert!(first > old_scheme, "versions written before this scheme stay below");
        let live = next_version();
        assert!(next_version() > live);
    }

    #[test]
    fn whole_hours_of_a_range() {
        assert_eq!(whole_hours(3600, 7200), (3600, 7200));
        assert_eq!(whole_hours(3601, 10_799), (10_799, 10_799), "no whole hour: none, all from events");
        assert_eq!(whole_hours(100, 11_000), (3600, 10_800));
        assert_eq!(whole_hours(100, 200), (200, 200));
    }

    #[test]
    fn site_values_are_literals() {
        let bad = "x' OR 1=1 --";
        for p in [
            Panel::TrafficDaily,
            Panel::TrafficHourly,
            Panel::Summary,
            Panel::TopPages,
            Panel::Countries,
            Panel::Devices,
        ] {
            let sql = panel_sql(p, bad, 100, 100_000);
            assert!(!sql.contains("'x' OR"), "{sql}");
            assert!(sql.contains("'x\\' OR 1=1 --'"));
        }
        let r = recompute_sql(bad, &[(3600, 2), (7200, 5)], 9);
        assert!(r.contains("[3600, 7200], [2, 5]") && r.contains("toUInt64(9)") && !r.contains("'x' OR"), "{r}");
    }

    #[test]
    fn every_panel_name_maps_to_its_dimension() {
        assert_eq!(Panel::of("top_pages").map(Panel::dim), Some("path"));
        assert_eq!(Panel::of("devices").map(Panel::dim), Some("device"));
        assert_eq!(Panel::of("channels"), None, "session panels are not rolled up");
        for (d, _) in DIMS {
            assert!(*d == "" || [Panel::TopPages, Panel::Countries, Panel::Devices].iter().any(|p| p.dim() == *d));
        }
    }
}
