//! Dashboard data behind the admin bearer key:
//!
//! - `GET /v1/stats/sites`: the configured site ids, the query names, and each
//!   site's goals and funnels ([`defs`], reloaded on SIGHUP);
//! - `GET /v1/stats/{query}?site=S&from=UNIX&to=UNIX`: one query of the
//!   analyst library (`ktra_schema::queries`, the `schema/queries/*.sql`
//!   files) for a site and a time range, as `{"query", "rows": [...]}`;
//! - funnels, goals, traffic (hourly up to two days), online now and weekly
//!   retention ([`explore`]);
//! - on every one of them `filter=` ([`filter`]), `compare=previous` and
//!   `format=csv` ([`respond`]).
//! - `GET /v1/stats/live?site=S&since=UNIX_MS`: the last events, so that a
//!   site owner testing the snippet sees it work (visitor ids truncated).
//!
//! It owns parameter checking ([`params`]), running SQL and turning the answer
//! into JSON ([`run`]) and the live view's SQL ([`live`]). It does not own the
//! analyst SQL: the dashboard, the tests and the README use the one library.
pub mod defs;
pub mod explore;
pub mod filter;
pub mod funnel;
pub mod goals;
pub mod live;
pub mod openapi;
pub mod params;
pub mod respond;
pub mod rollup;
pub mod run;
pub mod saved;
pub mod sessions;
pub mod shares;

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ktra_schema::queries::{self, QUERIES};
use serde_json::{json, Value};
use std::collections::HashMap;

/// Stats requests answered, by `query` (a library name or `live`; never the
/// raw path) and `outcome` (`ok`, `error`).
pub const STATS_REQUESTS: &str = "ktra_stats_requests_total";

/// Query-string parameters, or a 400 when they are not valid URL encoding.
pub(crate) type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

pub(crate) fn params_of(q: Params) -> Result<HashMap<String, String>, ApiError> {
    q.map(|Query(m)| m)
        .map_err(|e| ApiError::bad(ktra_schema::RejectReason::BadValue, format!("bad query string: {e}")))
}

fn no_store(value: Value) -> Response {
    let mut resp = Json(value).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `GET /v1/stats/sites`: `{"sites": [ids], "queries": [names]}`.
pub async fn sites(State(state): State<AppState>, viewer: shares::Viewer) -> Result<Response, ApiError> {
    let sites: Vec<&str> =
        state.config.sites.keys().map(String::as_str).filter(|s| viewer.only_site().is_none_or(|o| o == *s)).collect();
    let names: Vec<&str> = QUERIES.iter().map(|q| q.name).collect();
    let mut definitions = serde_json::Map::new();
    for id in &sites {
        let (d, saved) = saved::site_defs(&state, id).await;
        definitions.insert(id.to_string(), json!({ "goals": d.goals, "funnels": d.funnels, "saved_funnels": saved }));
    }
    let shared = viewer.only_site().is_some();
    Ok(no_store(json!({ "sites": sites, "queries": names, "definitions": definitions, "shared": shared })))
}

/// `GET /v1/stats/{query}?site=S&from=UNIX&to=UNIX[&filter&compare&format]`: the
/// library query rendered with those parameters, run against ClickHouse.
pub async fn query(
    State(state): State<AppState>,
    viewer: shares::Viewer,
    Path(name): Path<String>,
    q: Params,
) -> Result<Response, ApiError> {
    let query = queries::get(&name)
        .ok_or_else(|| ApiError::NotFound(format!("no query named {:?}", name.chars().take(64).collect::<String>())))?;
    explore::library(&state, &viewer, query, q).await
}

/// `GET /v1/stats/live?site=S&since=UNIX_MS`: the newest events (at most
/// [`live::LIMIT`]) with an event time after `since`, newest first.
pub async fn live(State(state): State<AppState>, viewer: shares::Viewer, q: Params) -> Result<Response, ApiError> {
    let p = params_of(q)?;
    let site = params::site(&state, &p)?;
    viewer.allows(&site)?;
    let since = params::since(&p, params::now_ms())?;
    let sql = live::sql(&site, since).map_err(|e| ApiError::Internal(format!("rendering live: {e}")))?;
    let rows = run::json_rows(&state.clickhouse, &sql).await;
    count("live", rows.is_ok());
    Ok(no_store(json!({ "query": "live", "since": since, "rows": rows? })))
}

pub(crate) fn count(query: &'static str, ok: bool) {
    metrics::counter!(STATS_REQUESTS, "query" => query, "outcome" => if ok { "ok" } else { "error" }).increment(1);
}
