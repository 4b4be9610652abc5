//! Funnels made in the dashboard, beside those of the config file:
//!
//! - `PUT /v1/admin/funnels/{site}/{name}` (admin key) with a funnel in the
//!   config's own shape (`{"steps": [...], "window": "7d", "order": "strict"}`)
//!   saves it: 201 when new, 200 when it replaced a saved one;
//! - `DELETE /v1/admin/funnels/{site}/{name}` removes a saved one: 204, or 404.
//!
//! They are rows of `saved_funnels` (migration 0015), so every collector sees
//! them: a collector reads a site's saved funnels at most [`RECHECK`] after it
//! last did, and its own saves at once. A site's funnels ([`site_defs`]) are
//! the config's and the saved ones; a configured name is read-only here (it is
//! edited in the file and reloaded on SIGHUP), and a saved one that a later
//! config takes the name of is hidden by it. Each is checked as the config's
//! are ([`super::defs::check_site`]), and the site's total stays within
//! [`MAX_PER_SITE`].
use super::defs::{check_name, check_site, Funnel, SiteDefs, MAX_PER_SITE};
use super::rollup;
use crate::admin::Admin;
use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ktra_schema::queries::quote;
use ktra_schema::RejectReason;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a collector trusts the saved funnels it last read.
pub const RECHECK: Duration = Duration::from_secs(3);
/// Largest body of a save: a funnel of 8 steps at the longest values is
/// about 13 KB of JSON.
pub const MAX_BODY: usize = 16 * 1024;
/// Saves and deletions, by `outcome` (`created`, `replaced`, `deleted`).
pub const CHANGES: &str = "ktra_saved_funnel_changes_total";

type Saved = BTreeMap<String, Funnel>;

fn cache() -> &'static Mutex<HashMap<String, (Saved, Instant)>> {
    static CACHE: OnceLock<Mutex<HashMap<String, (Saved, Instant)>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The SQL of a site's saved funnels: each name's newest row, unless deleted.
fn read_sql(site: &str) -> String {
    format!(
        "SELECT name, argMax(definition, version) AS definition, argMax(deleted, version) AS gone \
         FROM saved_funnels WHERE site_id = {} GROUP BY name HAVING gone = 0 ORDER BY name LIMIT {}",
        quote(site),
        MAX_PER_SITE
    )
}

/// A site's saved funnels from ClickHouse (a row that no longer parses or
/// checks, e.g. after a stricter release, is left out and logged).
async fn read(state: &AppState, site: &str) -> Result<Saved, ApiError> {
    let rows = super::run::json_rows(&state.clickhouse, &read_sql(site)).await?;
    let mut saved = Saved::new();
    for r in rows {
        let name = r["name"].as_str().unwrap_or_default().to_string();
        let parsed = serde_json::from_str::<Funnel>(r["definition"].as_str().unwrap_or_default())
            .map_err(|e| e.to_string())
            .and_then(|f| check_site(&BTreeMap::new(), &BTreeMap::from([(name.clone(), f.clone())])).map(|()| f));
        match parsed {
            Ok(f) => {
                saved.insert(name, f);
            }
            Err(e) => tracing::warn!(site, funnel = %name, error = %e, "a saved funnel does not check; left out"),
        }
    }
    cache().lock().unwrap_or_else(|e| e.into_inner()).insert(site.to_string(), (saved.clone(), Instant::now()));
    Ok(saved)
}

/// A site's saved funnels, read again when older than [`RECHECK`]. With
/// ClickHouse away, the last ones read (or none) and a warning: the config's
/// funnels still answer.
async fn saved(state: &AppState, site: &str) -> Saved {
    let known = cache().lock().unwrap_or_else(|e| e.into_inner()).get(site).cloned();
    match known {
        Some((s, at)) if at.elapsed() < RECHECK => s,
        _ => match read(state, site).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(site, error = ?e, "cannot read the saved funnels; the config's answer alone");
                known.map(|(s, _)| s).unwrap_or_default()
            }
        },
    }
}

/// A site's goals and funnels: the config's, then the saved funnels under
/// the names the config does not use. Also the names of the saved ones.
pub async fn site_defs(state: &AppState, site: &str) -> (SiteDefs, Vec<String>) {
    let mut defs = state.definitions.site(site);
    let mut names = Vec::new();
    for (name, f) in saved(state, site).await {
        if !defs.funnels.contains_key(&name) {
            names.push(name.clone());
            defs.funnels.insert(name, f);
        }
    }
    (defs, names)
}

fn refused(reason: RejectReason, message: impl Into<String>) -> ApiError {
    ApiError::bad(reason, message)
}

/// The site (known) and the funnel name (checked as the config's are).
fn target(state: &AppState, site: &str, name: &str) -> Result<(), ApiError> {
    if state.site(site).is_none() {
        return Err(refused(
            RejectReason::UnknownSite,
            format!("unknown site {:?}", site.chars().take(64).collect::<String>()),
        ));
    }
    check_name("funnel", name).map_err(|e| refused(RejectReason::BadValue, e))
}

/// The path's site and name; a path that does not decode is refused with a reason.
fn path_of(path: Result<Path<(String, String)>, PathRejection>) -> Result<(String, String), ApiError> {
    path.map(|Path(p)| p).map_err(|e| refused(RejectReason::BadValue, format!("bad path: {e}")))
}

/// Refuses a name the config file defines: it is edited there.
fn not_configured(state: &AppState, site: &str, name: &str) -> Result<(), ApiError> {
    if state.definitions.site(site).funnels.contains_key(name) {
        return Err(refused(
            RejectReason::BadValue,
            format!("funnel {name} is defined in the config file: edit it there and reload (SIGHUP)"),
        ));
    }
    Ok(())
}

/// Writes one row of the funnel, readable from every collector once this returns.
async fn store(state: &AppState, site: &str, name: &str, definition: &str, deleted: bool) -> Result<(), ApiError> {
    let sql = format!(
        "INSERT INTO saved_funnels (site_id, name, definition, deleted, version, changed_at) VALUES \
         ({}, {}, {}, {}, {}, now())",
        quote(site),
        quote(name),
        quote(definition),
        u8::from(deleted),
        rollup::next_version()
    );
    let mut q = state.clickhouse.query(&sql).with_setting(rollup::SYNC, "1");
    let quorum = rollup::replicas(state).await?;
    if quorum > 1 {
        q = q.with_setting("insert_quorum", quorum.to_string());
    }
    q.execute().await.map_err(|e| ApiError::Unavailable {
        retry_after: 5,
        message: format!("cannot store the funnel: {}", e.to_string().chars().take(200).collect::<String>()),
    })
}

/// `PUT /v1/admin/funnels/{site}/{name}`.
pub async fn save(
    State(state): State<AppState>,
    _: Admin,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (site, name) = path_of(path)?;
    target(&state, &site, &name)?;
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            refused(RejectReason::BodyTooLarge, format!("a funnel is at most {MAX_BODY} bytes of JSON"))
        } else {
            refused(RejectReason::MalformedJson, format!("cannot read the body: {e}"))
        }
    })?;
    let funnel: Funnel = serde_json::from_slice(&body)
        .map_err(|e| refused(RejectReason::MalformedJson, format!("not a funnel: {e}")))?;
    check_site(&BTreeMap::new(), &BTreeMap::from([(name.clone(), funnel.clone())]))
        .map_err(|e| refused(RejectReason::BadValue, e))?;
    not_configured(&state, &site, &name)?;
    let current = read(&state, &site).await?;
    let configured = state.definitions.site(&site).funnels.len();
    let existed = current.contains_key(&name);
    if !existed && configured + current.len() >= MAX_PER_SITE {
        return Err(refused(RejectReason::BadValue, format!("a site has at most {MAX_PER_SITE} funnels")));
    }
    let definition = serde_json::to_string(&funnel).map_err(|e| ApiError::Internal(e.to_string()))?;
    store(&state, &site, &name, &definition, false).await?;
    forget(&site);
    let outcome = if existed { "replaced" } else { "created" };
    metrics::counter!(CHANGES, "outcome" => outcome).increment(1);
    let status = if existed { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(json!({ "site": site, "name": name, "funnel": funnel }))).into_response())
}

/// `DELETE /v1/admin/funnels/{site}/{name}`.
pub async fn delete(
    State(state): State<AppState>,
    _: Admin,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let (site, name) = path_of(path)?;
    target(&state, &site, &name)?;
    not_configured(&state, &site, &name)?;
    if !read(&state, &site).await?.contains_key(&name) {
        return Err(ApiError::NotFound(format!("site {site} has no saved funnel {name}")));
    }
    store(&state, &site, &name, "", true).await?;
    forget(&site);
    metrics::counter!(CHANGES, "outcome" => "deleted").increment(1);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Drops this collector's copy: the next read sees its own change.
fn forget(site: &str) {
    cache().lock().unwrap_or_else(|e| e.into_inner()).remove(site);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_site_is_a_literal_and_the_newest_row_decides() {
        let sql = read_sql("x' OR 1=1 --");
        assert!(sql.contains("site_id = 'x\\' OR 1=1 --'"), "{sql}");
        assert!(sql.contains("argMax(deleted, version)") && sql.contains("HAVING gone = 0"), "{sql}");
    }
}
