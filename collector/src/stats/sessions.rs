//! Session panels (`channels`, `utm_campaigns`, `email_funnel`, the
//! attribution queries: whatever reads the `sessions` view) from stored
//! sessions (table `session_facts`, migration 0014) instead of grouping every
//! event ever: on 18.16 a view cannot see a request's range, so `sessions`
//! grouped all events (a month of ten million: 1.5 million sessions) even for
//! one day.
//!
//! A session belongs to the UTC hour it started in (its start hour). Its
//! values come from its events, which lie within a day of its start (the
//! filter's bound too), so a start hour's sessions are the
//! [`ktra_schema::sessions::visits`] of the events from a day before it to a
//! day after it, keeping those that started in it. They can change while
//! events are inserted in the start hour or the 24 after it: a start hour is
//! stale when those 25 hours hold more marks (`rollup_marks`, one per insert
//! and hour, see [`super::rollup`]) than its stored sessions saw.
//!
//! - [`keep_stored`] (run by the rollups' background task) stores the stale
//!   start hours whose 25 hours are over, as one insert of the sessions with a
//!   new `version` followed by the hour's `''` row naming that version and the
//!   marks it saw: readers switch to the new version only with that row.
//! - A request (and a filter, through [`VISITS`]) reads the stored sessions of every other hour and computes the
//!   stale ones (the last day's, as traffic arrives) from `events` in the same
//!   query, then joins `orders` as the view does ([`ktra_schema::sessions::sessions`]).
//!   With more than [`MAX_LIVE_HOURS`] stale hours, or spread over more than
//!   [`MAX_LIVE_SPAN_HOURS`], it reads the view.
//!
//! An erasure deletes the visitor's stored sessions with its events and marks
//! their hours, so the start hours around them are computed again.
use super::rollup;
use super::run;
use crate::error::ApiError;
use crate::state::AppState;
use clickhouse::Client;
use ktra_schema::queries::quote;
use ktra_schema::sessions::{sessions, visits, VISIT_COLUMNS};

/// Stale start hours a request computes from `events`; more read the view.
pub const MAX_LIVE_HOURS: usize = 72;
/// The widest span of stale start hours a request computes from `events`.
pub const MAX_LIVE_SPAN_HOURS: u32 = 96;
/// Start hours one stored computation covers.
const CHUNK_HOURS: u32 = 72;
/// A session's events lie within this long after its start.
const SESSION_SECS: u32 = 86_400;
/// Requests reading `sessions`, by `source` (`stored`, `view`: the fallback).
pub const SESSION_SOURCE: &str = "ktra_session_requests_total";
/// Start hours stored.
pub const STORED_HOURS: &str = "ktra_session_hours_stored_total";

/// Start hours of `[lo, hi)` whose 25 hours hold more marks than their stored
/// sessions saw, newest first, with those marks now.
pub fn stale_sql(site: &str, lo: u32, hi: u32) -> String {
    let site = quote(site);
    let marks_hi = u64::from(hi) + u64::from(SESSION_SECS);
    format!(
        "SELECT toUInt32(s) AS h, marks FROM \
         (SELECT toDateTime(toUInt32(hour) - k * 3600) AS s, sum(marks) AS marks FROM rollup_marks \
         ARRAY JOIN range(25) AS k WHERE site_id = {site} AND hour >= toDateTime({lo}) \
         AND hour < toDateTime({marks_hi}) GROUP BY s HAVING s >= toDateTime({lo}) AND s < toDateTime({hi})) AS m \
         ANY LEFT JOIN \
         (SELECT hour AS s, argMax(marks_seen, version) AS seen FROM session_facts WHERE site_id = {site} \
         AND session_id = '' AND hour >= toDateTime({lo}) AND hour < toDateTime({hi}) GROUP BY s) AS f \
         USING s WHERE marks > seen ORDER BY h DESC"
    )
}

/// The sessions of `site` that started in `hours` (UTC hour starts), from `events`.
fn computed(site: &str, hours: &[u32]) -> String {
    let lo = hours.iter().min().copied().unwrap_or(0);
    let hi = hours.iter().max().copied().unwrap_or(0);
    let list: Vec<String> = hours.iter().map(u32::to_string).collect();
    let cond = format!(
        "site_id = {site} AND ts >= toDateTime({from}) AND ts < toDateTime({to})",
        site = quote(site),
        from = lo.saturating_sub(SESSION_SECS),
        to = u64::from(hi) + 3600 + u64::from(SESSION_SECS),
    );
    format!(
        "SELECT {cols} FROM ({visits}) WHERE toUInt32(toStartOfHour(started_at, 'UTC')) IN ({list})",
        cols = VISIT_COLUMNS.join(", "),
        visits = visits(&cond),
        list = list.join(", "),
    )
}

/// Stores the sessions of `hours` (`(hour, marks)` as [`stale_sql`] read them)
/// under `version`: the sessions first, then the hours' `''` rows.
pub fn store_sql(site: &str, hours: &[(u32, u64)], version: u64) -> [String; 2] {
    let hs: Vec<u32> = hours.iter().map(|(h, _)| *h).collect();
    let list: Vec<String> = hs.iter().map(u32::to_string).collect();
    let ms: Vec<String> = hours.iter().map(|(_, m)| m.to_string()).collect();
    let cols = VISIT_COLUMNS.join(", ");
    [
        format!(
            "INSERT INTO session_facts ({cols}, hour, marks_seen, version) \
             SELECT {cols}, toDateTime(toUInt32(toStartOfHour(started_at, 'UTC'))), toUInt64(0), toUInt64({version}) \
             FROM ({computed})",
            computed = computed(site, &hs)
        ),
        format!(
            "INSERT INTO session_facts (site_id, hour, session_id, marks_seen, version) \
             SELECT {site}, toDateTime(h), '', transform(h, [{list}], [{ms}], toUInt64(0)), toUInt64({version}) \
             FROM (SELECT arrayJoin([{list}]) AS h)",
            site = quote(site),
            list = list.join(", "),
            ms = ms.join(", "),
        ),
    ]
}

/// The rows of the pseudo-table [`VISITS`]: one per session, the visit
/// columns of the `sessions` view without the orders (what a filter reads).
/// Only rewritten queries may read it.
pub const VISITS: &str = "session_visits";

/// Every visit of `site`: the stored ones of the newest version of each start
/// hour but `live`, and those of `live` computed from `events`.
fn visits_sql(site: &str, live: &[u32]) -> String {
    let s = quote(site);
    let cols = VISIT_COLUMNS.join(", ");
    let stored = format!(
        "SELECT {cols} FROM session_facts WHERE site_id = {s} AND session_id != '' \
         AND (hour, version) GLOBAL IN (SELECT hour, max(version) FROM session_facts \
         WHERE site_id = {s} AND session_id = '' GROUP BY hour)"
    );
    if live.is_empty() {
        return stored;
    }
    let list: Vec<String> = live.iter().map(u32::to_string).collect();
    format!("{stored} AND toUInt32(hour) NOT IN ({}) UNION ALL {}", list.join(", "), computed(site, live))
}

/// Every session of `site` ([`visits_sql`]) with its orders: the columns of
/// the `sessions` view.
pub fn source_sql(site: &str, live: &[u32]) -> String {
    sessions(&visits_sql(site, live), &format!("site_id = {}", quote(site)))
}

/// Where `sql` reads `table`: the byte ranges of each `FROM table` that is
/// followed by whitespace, `)` or the end (not a longer name).
fn reads_of(sql: &str, table: &str) -> Vec<std::ops::Range<usize>> {
    let from = format!("FROM {table}");
    sql.match_indices(&from)
        .map(|(i, m)| i..i + m.len())
        .filter(|r| sql[r.end..].chars().next().is_none_or(|c| c.is_whitespace() || c == ')'))
        .collect()
}

/// `sql` with every read of `table` replaced by `source`.
fn replace_table(sql: &str, table: &str, source: &str) -> String {
    let mut out = String::with_capacity(sql.len() + source.len());
    let mut at = 0;
    for r in reads_of(sql, table) {
        out.push_str(&sql[at..r.start]);
        out.push_str(&format!("FROM ({source}) AS {table}"));
        at = r.end;
    }
    out.push_str(&sql[at..]);
    out
}

/// `sql` with every read of the `sessions` view replaced by `source`.
pub fn substitute(sql: &str, source: &str) -> String {
    replace_table(sql, "sessions", source)
}

/// Whether `sql` reads the `sessions` view or [`VISITS`].
pub fn reads_sessions(sql: &str) -> bool {
    !reads_of(sql, "sessions").is_empty() || !reads_of(sql, VISITS).is_empty()
}

/// `sql` reading [`VISITS`] from every event ever, as the `sessions` view
/// does: for running it without the collector (tests, the engine comparison).
pub fn standalone(sql: &str) -> String {
    replace_table(sql, VISITS, &visits("1"))
}

async fn stale(client: &Client, site: &str, lo: u32, hi: u32) -> Result<Vec<(u32, u64)>, ApiError> {
    let rows = run::json_rows(client, &stale_sql(site, lo, hi)).await?;
    Ok(rows.iter().filter_map(|r| Some((u32::try_from(r["h"].as_u64()?).ok()?, r["marks"].as_u64()?))).collect())
}

fn now() -> u32 {
    u32::try_from(super::params::now_ms() / 1000).unwrap_or(u32::MAX)
}

/// `sql` (a rendered query reading `sessions` or [`VISITS`]) reading stored
/// sessions, or the view and every event when too many start hours are stale.
pub async fn rewrite(state: &AppState, site: &str, sql: String) -> Result<String, ApiError> {
    let live: Vec<u32> =
        stale(&state.clickhouse, site, 0, now().saturating_add(7200)).await?.iter().map(|h| h.0).collect();
    let span = live.iter().max().zip(live.iter().min()).map_or(0, |(hi, lo)| (hi - lo) / 3600);
    if live.len() > MAX_LIVE_HOURS || span > MAX_LIVE_SPAN_HOURS {
        metrics::counter!(SESSION_SOURCE, "source" => "view").increment(1);
        return Ok(standalone(&sql));
    }
    metrics::counter!(SESSION_SOURCE, "source" => "stored").increment(1);
    let sql = replace_table(&sql, VISITS, &visits_sql(site, &live));
    Ok(substitute(&sql, &source_sql(site, &live)))
}

/// Runs a rendered stats query of `site`, reading stored sessions when it
/// reads sessions ([`rewrite`]).
pub async fn rows(state: &AppState, site: &str, sql: String) -> Result<Vec<serde_json::Value>, ApiError> {
    let sql = if reads_sessions(&sql) { rewrite(state, site, sql).await? } else { sql };
    run::json_rows(&state.clickhouse, &sql).await
}

/// Stores `site`'s stale start hours whose 25 hours are over, oldest chunk
/// last (newest first, as the dashboard reads them).
pub async fn keep_stored(state: &AppState, site: &str) -> Result<(), ApiError> {
    let settled = (now() / 3600 * 3600).saturating_sub(SESSION_SECS + 3600);
    let hours = stale(&state.clickhouse, site, 0, settled.saturating_add(3600)).await?;
    let quorum = rollup::replicas(state).await?;
    let mut rest = hours.as_slice();
    while let Some(&(newest, _)) = rest.first() {
        let n = rest.iter().take_while(|(h, _)| newest - h < CHUNK_HOURS * 3600).count();
        let (chunk, more) = rest.split_at(n);
        for sql in store_sql(site, chunk, rollup::next_version()) {
            let mut q = state.clickhouse.query(&sql).with_setting(rollup::SYNC, "1");
            if quorum > 1 {
                q = q.with_setting("insert_quorum", quorum.to_string());
            }
            q.execute().await.map_err(|e| ApiError::Internal(format!("storing sessions: {e}")))?;
        }
        metrics::counter!(STORED_HOURS).increment(chunk.len() as u64);
        rest = more;
    }
    Ok(())
}

/// The SQL selecting the session ids of the `events` rows matching `cond`
/// (with the caller's bind placeholders): their stored sessions are erased
/// with them.
pub fn session_ids_sql(cond: &str) -> String {
    format!("SELECT DISTINCT session_id FROM events WHERE {cond}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_read_of_the_view_is_replaced_and_nothing_else() {
        let sql = "SELECT a FROM sessions WHERE x IN (SELECT b FROM sessions) AND y IN (SELECT c FROM sessions_x)";
        let out = substitute(sql, "S");
        assert_eq!(out, "SELECT a FROM (S) AS sessions WHERE x IN (SELECT b FROM (S) AS sessions) AND y IN (SELECT c FROM sessions_x)");
        assert!(reads_sessions(sql));
        assert!(!reads_sessions("SELECT 1 FROM session_facts"));
        assert!(reads_sessions("SELECT 1 FROM sessions\nWHERE 1"));
        assert!(reads_sessions("x IN (SELECT session_id FROM session_visits WHERE 1)"));
        let alone = standalone("x IN (SELECT session_id FROM session_visits WHERE 1)");
        assert!(alone.contains("GROUP BY site_id, session_id) AS session_visits WHERE 1"), "{alone}");
    }

    #[test]
    fn site_values_are_literals() {
        let bad = "x' OR 1=1 --";
        let src = source_sql(bad, &[3600, 7200]);
        assert!(!src.contains("'x' OR") && src.contains("'x\\' OR 1=1 --'"), "{src}");
        for s in store_sql(bad, &[(3600, 2)], 9) {
            assert!(!s.contains("'x' OR"), "{s}");
        }
        assert!(!stale_sql(bad, 0, 3600).contains("'x' OR"));
    }

    #[test]
    fn computed_hours_read_a_day_around_them() {
        let c = computed("demo", &[90_000, 93_600]);
        assert!(c.contains(&format!("ts >= toDateTime({})", 90_000 - 86_400)), "{c}");
        assert!(c.contains(&format!("ts < toDateTime({})", 93_600 + 3600 + 86_400)), "{c}");
        assert!(c.contains("IN (90000, 93600)"));
        let [sessions, marker] = store_sql("demo", &[(90_000, 4), (93_600, 7)], 5);
        assert!(sessions.starts_with("INSERT INTO session_facts (site_id, session_id,"), "{sessions}");
        assert!(marker.contains("[90000, 93600], [4, 7]") && marker.contains("toUInt64(5)"), "{marker}");
    }
}
