//! The explore endpoints of the dashboard, each with `filter`, `compare` and `format`
//! ([`super::respond`]):
//!
//! - `GET /v1/stats/funnel?site&funnel&from&to[&breakdown=channel|utm_campaign|message]`;
//! - `GET /v1/stats/goals?site&from&to`;
//! - `GET /v1/stats/traffic?site&from&to`: hourly for ranges up to two days,
//!   daily beyond, with the range's totals (`summary`);
//! - `GET /v1/stats/online?site`: visitors with an event in the last five minutes;
//! - `GET /v1/stats/retention?site&from&to`: weekly cohorts (`retention()`).
use super::filter::{self, Filter};
use super::params::{self, Range};
use super::respond::{self, Common};
use super::shares::Viewer;
use super::{count, funnel, goals, params_of, rollup, sessions, Params};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;
use ktra_schema::queries::{self, Param};
use ktra_schema::RejectReason;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

/// Ranges up to this long are answered per hour.
pub const HOURLY_MAX_SECS: u32 = 2 * 86_400;
/// "Online now" looks this far back.
pub const ONLINE_SECS: u32 = 300;

/// Library-style SQL of this module (`schema/queries/`, not in the analyst
/// list the engine comparison runs: these are tested by `tests/tests/funnels.rs`).
pub const TRAFFIC_HOURLY: &str = include_str!("../../../schema/queries/traffic_hourly.sql");
/// The range's headline numbers.
pub const SUMMARY: &str = include_str!("../../../schema/queries/summary.sql");
/// Visitors online now.
pub const ONLINE_NOW: &str = include_str!("../../../schema/queries/online_now.sql");
/// Weekly retention cohorts.
pub const RETENTION_WEEKLY: &str = include_str!("../../../schema/queries/retention_weekly.sql");

/// Renders a `{site}/{from}/{to}` template, applies the filter, runs it.
pub async fn run_template(
    state: &AppState,
    name: &str,
    template: &str,
    site: &str,
    r: Range,
    filter: &Filter,
) -> Result<Vec<Value>, ApiError> {
    if let (true, Some(panel)) = (filter.is_empty(), rollup::Panel::of(name)) {
        if let Some(rows) = rollup::answer(state, panel, site, r.from, r.to).await? {
            return Ok(rows);
        }
    }
    sessions::rows(state, site, render(name, template, site, r, filter)?).await
}

/// The SQL [`run_template`] runs.
pub fn render(name: &str, template: &str, site: &str, r: Range, filter: &Filter) -> Result<String, ApiError> {
    let sql = queries::render(
        template,
        &BTreeMap::from([
            ("site", Param::Str(site.to_string())),
            ("from", Param::Time(r.from)),
            ("to", Param::Time(r.to)),
            ("since", Param::Time(r.from)),
        ]),
    )
    .map_err(|e| ApiError::Internal(format!("rendering {name}: {e}")))?;
    if filter.is_empty() {
        return Ok(sql);
    }
    filter::apply(&sql, site, &filter.sql(site, r.from, r.to))
        .ok_or_else(|| ApiError::bad(RejectReason::BadValue, format!("{name} cannot be filtered (it reads no events)")))
}

struct Req {
    site: String,
    range: Range,
    common: Common,
    p: HashMap<String, String>,
}

fn req(state: &AppState, viewer: &Viewer, q: Params, needs_range: bool) -> Result<Req, ApiError> {
    let p = params_of(q)?;
    let site = params::site(state, &p)?;
    viewer.allows(&site)?;
    let range = if needs_range {
        params::range(&p)?
    } else {
        let now = u32::try_from(params::now_ms() / 1000).unwrap_or(u32::MAX);
        Range { from: now.saturating_sub(ONLINE_SECS), to: now.saturating_add(1) }
    };
    let common = respond::common(&p)?;
    Ok(Req { site, range, common, p })
}

/// Runs `compute` for the range (and the previous one when asked) and answers.
async fn answer<F, Fut>(
    name: &'static str,
    r: &Req,
    table: impl Fn(&Value) -> Vec<Value>,
    compute: F,
) -> Result<Response, ApiError>
where
    F: Fn(Range) -> Fut,
    Fut: std::future::Future<Output = Result<Value, ApiError>>,
{
    // Both periods at once: ClickHouse answers them side by side.
    let pr = respond::previous(r.range);
    let (current, previous) = tokio::join!(compute(r.range), async {
        match r.common.compare {
            true => Some(compute(pr).await),
            false => None,
        }
    });
    count(name, current.is_ok());
    let mut current = current?;
    if let Some(o) = current.as_object_mut() {
        o.insert("from".into(), r.range.from.into());
        o.insert("to".into(), r.range.to.into());
        o.insert("filter".into(), r.common.filter.to_param().into());
    }
    let previous = match previous {
        Some(p) => Some((pr, p?)),
        None => None,
    };
    Ok(respond::answer(name, current, previous, r.common.csv, table))
}

fn rows_of(v: &Value) -> Vec<Value> {
    v["rows"].as_array().cloned().unwrap_or_default()
}

/// `GET /v1/stats/funnel`.
pub async fn funnel(State(state): State<AppState>, viewer: Viewer, q: Params) -> Result<Response, ApiError> {
    let r = req(&state, &viewer, q, true)?;
    let name = r.p.get("funnel").map(|s| s.trim()).unwrap_or("");
    let (defs, _) = super::saved::site_defs(&state, &r.site).await;
    let f = defs.funnels.get(name).cloned().ok_or_else(|| {
        ApiError::NotFound(format!(
            "site {} has no funnel {:?} (configured: {})",
            r.site,
            name.chars().take(64).collect::<String>(),
            defs.funnels.keys().cloned().collect::<Vec<_>>().join(", ")
        ))
    })?;
    let window = f.window_secs().map_err(ApiError::Internal)?;
    let breakdown = match r.p.get("breakdown").map(|s| s.trim()).unwrap_or("") {
        "" => None,
        b => Some(funnel::Breakdown::parse(b).ok_or_else(|| {
            ApiError::bad(RejectReason::BadValue, "breakdown must be channel, utm_campaign or message")
        })?),
    };
    let (site, filter) = (r.site.clone(), r.common.filter.clone());
    let (state, f2, name2) = (&state, &f, name.to_string());
    answer("funnel", &r, funnel::flat_rows, |range| {
        let (site, filter, name) = (site.clone(), filter.clone(), name2.clone());
        async move {
            let cond = filter.sql(&site, range.from, range.to);
            let scope = funnel::Scope { site: &site, from: range.from, to: range.to, filter: &cond };
            let total_sql = funnel::sql(f2, window, &scope, None);
            let (total, groups) = tokio::join!(sessions::rows(state, &site, total_sql), async {
                match breakdown {
                    Some(b) => Some(sessions::rows(state, &site, funnel::sql(f2, window, &scope, Some(b))).await),
                    None => None,
                }
            });
            let total = total?;
            let empty = json!({});
            let mut body = json!({
                "funnel": name,
                "order": f2.order,
                "window_secs": window,
                "steps": funnel::steps(f2, total.first().unwrap_or(&empty)),
            });
            if let (Some(b), Some(groups)) = (breakdown, groups) {
                let groups: Vec<Value> = groups?
                    .iter()
                    .map(|g| json!({ "value": g["group_value"].clone(), "steps": funnel::steps(f2, g) }))
                    .collect();
                body["breakdown"] = json!({ "by": b.as_str(), "groups": groups });
            }
            Ok(body)
        }
    })
    .await
}

/// `GET /v1/stats/goals`.
pub async fn goals(State(state): State<AppState>, viewer: Viewer, q: Params) -> Result<Response, ApiError> {
    let r = req(&state, &viewer, q, true)?;
    let defs = state.definitions.site(&r.site).goals;
    let (site, filter, state) = (r.site.clone(), r.common.filter.clone(), &state);
    let defs = &defs;
    answer("goals", &r, rows_of, |range| {
        let (site, filter) = (site.clone(), filter.clone());
        async move {
            if defs.is_empty() {
                return Ok(json!({ "rows": [] }));
            }
            let cond = filter.sql(&site, range.from, range.to);
            let visitors =
                if filter.is_empty() { rollup::visitors(state, &site, range.from, range.to).await? } else { None };
            let sql = goals::sql(defs, &site, range.from, range.to, &cond, visitors);
            let rows = sessions::rows(state, &site, sql).await?;
            Ok(json!({ "rows": goals::rows(defs, rows.first().unwrap_or(&json!({}))) }))
        }
    })
    .await
}

/// `GET /v1/stats/traffic`.
pub async fn traffic(State(state): State<AppState>, viewer: Viewer, q: Params) -> Result<Response, ApiError> {
    let r = req(&state, &viewer, q, true)?;
    let hourly = r.range.to - r.range.from <= HOURLY_MAX_SECS;
    let daily = queries::get("traffic_daily").map(|q| q.sql).unwrap_or(TRAFFIC_HOURLY);
    let (template, name) = if hourly { (TRAFFIC_HOURLY, "traffic_hourly") } else { (daily, "traffic_daily") };
    let (site, filter, state) = (r.site.clone(), r.common.filter.clone(), &state);
    answer("traffic", &r, rows_of, |range| {
        let (site, filter) = (site.clone(), filter.clone());
        async move {
            let (rows, summary) = tokio::try_join!(
                run_template(state, name, template, &site, range, &filter),
                run_template(state, "summary", SUMMARY, &site, range, &filter)
            )?;
            Ok(json!({
                "resolution": if hourly { "hour" } else { "day" },
                "rows": rows,
                "summary": summary.into_iter().next().unwrap_or(json!({})),
            }))
        }
    })
    .await
}

/// `GET /v1/stats/online`.
pub async fn online(State(state): State<AppState>, viewer: Viewer, q: Params) -> Result<Response, ApiError> {
    let r = req(&state, &viewer, q, false)?;
    let (site, filter, state) = (r.site.clone(), r.common.filter.clone(), &state);
    answer(
        "online",
        &r,
        |v| vec![json!({ "visitors": v["visitors"].clone() })],
        |range| {
            let (site, filter) = (site.clone(), filter.clone());
            async move {
                let rows = run_template(state, "online", ONLINE_NOW, &site, range, &filter).await?;
                let n = rows.first().and_then(|r| r["visitors"].as_u64()).unwrap_or(0);
                Ok(json!({ "visitors": n, "window_secs": ONLINE_SECS }))
            }
        },
    )
    .await
}

/// `GET /v1/stats/retention`.
pub async fn retention(State(state): State<AppState>, viewer: Viewer, q: Params) -> Result<Response, ApiError> {
    let r = req(&state, &viewer, q, true)?;
    let (site, filter, state) = (r.site.clone(), r.common.filter.clone(), &state);
    answer("retention", &r, rows_of, |range| {
        let (site, filter) = (site.clone(), filter.clone());
        async move {
            let rows = run_template(state, "retention", RETENTION_WEEKLY, &site, range, &filter).await?;
            Ok(json!({ "rows": rows }))
        }
    })
    .await
}

/// A library query (`/v1/stats/{query}`) with filter, compare and format.
pub async fn library(
    state: &AppState,
    viewer: &Viewer,
    query: &'static queries::Query,
    q: Params,
) -> Result<Response, ApiError> {
    let r = req(state, viewer, q, true)?;
    let (site, filter) = (r.site.clone(), r.common.filter.clone());
    answer(query.name, &r, rows_of, |range| {
        let (site, filter) = (site.clone(), filter.clone());
        async move {
            let rows = run_template(state, query.name, query.sql, &site, range, &filter).await?;
            Ok(json!({ "query": query.name, "rows": rows }))
        }
    })
    .await
}
