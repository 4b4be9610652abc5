//! Read-only links to one site's dashboard, for a client or a team without
//! the admin key:
//!
//! - `POST /v1/admin/shares` (admin key) `{"site", "days"?, "label"?}` → 201
//!   `{"id", "site", "label", "expires_at", "token", "path"}`; `path` is
//!   `/dashboard#share=TOKEN`;
//! - `GET /v1/admin/shares?site=S` lists a site's links (never their tokens);
//! - `DELETE /v1/admin/shares/{id}` revokes one.
//!
//! The token (`share.` + a payload signed with a key derived from the
//! secret for this purpose only) names the link id, its site and its expiry;
//! it is sent as `Authorization: Bearer` and opens the `/v1/stats/…`
//! endpoints of that site only ([`Viewer`]). Revocations are rows in the
//! `shares` table, so every collector sees them: a token's state is read
//! from ClickHouse at most [`RECHECK`] after it was last read (a revocation
//! made on this collector holds at once). ClickHouse away with nothing
//! known about a link: 503, never a silent pass.
use crate::admin::{authorize, Admin};
use crate::consent::token::TokenKey;
use crate::error::ApiError;
use crate::ingest::ClientMeta;
use crate::state::AppState;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ktra_schema::queries::quote;
use ktra_schema::row::{ShareRow, TableRow};
use ktra_schema::RejectReason;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a link's revocation state is trusted before ClickHouse is asked again.
pub const RECHECK: Duration = Duration::from_secs(3);
/// Longest life of a link: one year.
pub const MAX_DAYS: u32 = 366;
/// Default life of a link.
pub const DEFAULT_DAYS: u32 = 30;
/// Longest label.
pub const MAX_LABEL: usize = 100;
/// Prefix of share tokens (tells them from the admin key).
pub const PREFIX: &str = "share.";
/// Share links refused, by `reason` (`invalid`, `expired`, `revoked`, `other_site`).
pub const SHARE_REFUSALS: &str = "ktra_share_refusals_total";

#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    /// Link id.
    i: String,
    /// Site.
    s: String,
    /// Expiry, Unix seconds.
    e: u32,
}

fn key(state: &AppState) -> TokenKey {
    TokenKey::derive(state.config.secret.as_bytes(), "share")
}

fn now() -> u32 {
    u32::try_from(super::params::now_ms() / 1000).unwrap_or(u32::MAX)
}

/// Who reads the stats: the operator (admin key) or a share link of one site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    /// The admin key: every site.
    Admin,
    /// A share link: its site only.
    Share {
        /// Link id.
        id: String,
        /// The site it opens.
        site: String,
    },
}

impl Viewer {
    /// Refuses a site the viewer may not read: to a share link other sites do not exist (404, counted).
    pub fn allows(&self, site: &str) -> Result<(), ApiError> {
        match self {
            Viewer::Share { site: s, .. } if s != site => {
                refuse("other_site");
                Err(ApiError::NotFound("this shared link opens another site".into()))
            }
            _ => Ok(()),
        }
    }

    /// The one site of a share link.
    pub fn only_site(&self) -> Option<&str> {
        match self {
            Viewer::Share { site, .. } => Some(site),
            Viewer::Admin => None,
        }
    }
}

fn refuse(reason: &'static str) {
    metrics::counter!(SHARE_REFUSALS, "reason" => reason).increment(1);
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Ok(meta) = ClientMeta::from_request_parts(parts, state).await;
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let Some(token) = bearer.and_then(|b| b.strip_prefix(PREFIX)) else {
            return authorize(state, &parts.headers, meta.rate_key()).map(|()| Viewer::Admin);
        };
        // Wrong tokens count against the client like wrong admin keys.
        state.admin_failures.peek(&meta.rate_key()).map_err(ApiError::RateLimited)?;
        let payload = key(state).verify_bytes(token).ok().and_then(|b| serde_json::from_slice::<Payload>(&b).ok());
        let Some(p) = payload else {
            let _ = state.admin_failures.check(&meta.rate_key());
            refuse("invalid");
            return Err(ApiError::Unauthorized);
        };
        if p.e <= now() {
            refuse("expired");
            return Err(ApiError::Unauthorized);
        }
        if revoked(state, &p.i).await? {
            refuse("revoked");
            return Err(ApiError::Unauthorized);
        }
        Ok(Viewer::Share { id: p.i, site: p.s })
    }
}

/// Revocation state by link id, with when it was read.
fn cache() -> &'static Mutex<HashMap<String, (bool, Instant)>> {
    static CACHE: OnceLock<Mutex<HashMap<String, (bool, Instant)>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

fn remember(id: &str, revoked: bool) {
    let mut c = cache().lock().unwrap_or_else(|e| e.into_inner());
    if c.len() > 10_000 {
        c.retain(|_, (_, at)| at.elapsed() < RECHECK);
    }
    c.insert(id.to_string(), (revoked, Instant::now()));
}

async fn revoked(state: &AppState, id: &str) -> Result<bool, ApiError> {
    let cached = cache().lock().unwrap_or_else(|e| e.into_inner()).get(id).copied();
    if let Some((r, at)) = cached {
        if r || at.elapsed() < RECHECK {
            return Ok(r);
        }
    }
    let sql =
        format!("SELECT toUInt8(count() > 0 AND max(revoked) = 0) AS live FROM shares FINAL WHERE id = {}", quote(id));
    match super::run::json_rows(&state.clickhouse, &sql).await {
        Ok(rows) => {
            let live = rows.first().and_then(|r| r["live"].as_u64()).unwrap_or(0) == 1;
            remember(id, !live);
            Ok(!live)
        }
        Err(e) => match cached {
            Some((r, _)) => Ok(r),
            None => Err(e),
        },
    }
}

/// `POST /v1/admin/shares` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewShare {
    /// Site id.
    pub site: String,
    /// Days until it expires (1 to 366, default 30).
    pub days: Option<u32>,
    /// What it is for ("for the agency").
    pub label: Option<String>,
}

/// Stores a version of a link before answering (a revocation must hold at once).
async fn store(state: &AppState, row: &ShareRow) -> Result<(), ApiError> {
    let write = async {
        let mut ins = state.clickhouse.insert::<ShareRow>(ShareRow::TABLE).await?;
        ins.write(row).await?;
        ins.end().await
    };
    write.await.map_err(|e| ApiError::Unavailable {
        retry_after: 5,
        message: format!("cannot store the share link: {}", e.to_string().chars().take(200).collect::<String>()),
    })
}

/// `POST /v1/admin/shares`.
pub async fn create(
    State(state): State<AppState>,
    _: Admin,
    body: Result<Json<NewShare>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::bad(RejectReason::BadValue, format!("bad body: {e}")))?;
    if state.site(&req.site).is_none() {
        return Err(ApiError::bad(
            RejectReason::UnknownSite,
            format!("unknown site {:?}", req.site.chars().take(64).collect::<String>()),
        ));
    }
    let days = req.days.unwrap_or(DEFAULT_DAYS);
    if days == 0 || days > MAX_DAYS {
        return Err(ApiError::bad(RejectReason::BadValue, format!("days must be 1 to {MAX_DAYS}")));
    }
    let label = req.label.unwrap_or_default();
    if label.len() > MAX_LABEL || label.chars().any(char::is_control) {
        return Err(ApiError::bad(
            RejectReason::BadValue,
            format!("label must be at most {MAX_LABEL} printable characters"),
        ));
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (created, expires) = (now(), now().saturating_add(days * 86_400));
    let row = ShareRow {
        id: id.clone(),
        site_id: req.site.clone(),
        label: label.clone(),
        created_at: created,
        expires_at: expires,
        revoked: 0,
        changed_at: created,
    };
    store(&state, &row).await?;
    remember(&id, false);
    let payload = serde_json::to_vec(&Payload { i: id.clone(), s: req.site.clone(), e: expires }).unwrap_or_default();
    let token = format!("{PREFIX}{}", key(&state).sign_bytes(&payload));
    let body = json!({
        "id": id, "site": req.site, "label": label, "expires_at": expires,
        "path": format!("/dashboard#share={token}"), "token": token,
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `GET /v1/admin/shares?site=S`.
pub async fn list(State(state): State<AppState>, _: Admin, q: super::Params) -> Result<Response, ApiError> {
    let p = super::params_of(q)?;
    let site = super::params::site(&state, &p)?;
    let rows = super::run::json_rows(
        &state.clickhouse,
        &format!(
            "SELECT id, label, toUInt32(created_at) AS created_at, toUInt32(expires_at) AS expires_at, revoked \
             FROM shares FINAL WHERE site_id = {} ORDER BY created_at DESC, id LIMIT 1000",
            quote(&site)
        ),
    )
    .await?;
    Ok(Json(json!({ "site": site, "shares": rows })).into_response())
}

/// `DELETE /v1/admin/shares/{id}`: 204, or 404 for a link that never existed.
pub async fn revoke(State(state): State<AppState>, _: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ApiError::NotFound("no such share link".into()));
    }
    let rows = super::run::json_rows(
        &state.clickhouse,
        &format!(
            "SELECT site_id, label, toUInt32(created_at) AS c, toUInt32(expires_at) AS e FROM shares FINAL WHERE id = {} LIMIT 1",
            quote(&id)
        ),
    )
    .await?;
    let Some(row) = rows.first() else { return Err(ApiError::NotFound("no such share link".into())) };
    let s = |k: &str| row[k].as_str().unwrap_or("").to_string();
    let n = |k: &str| row[k].as_u64().unwrap_or(0);
    let created = u32::try_from(n("c")).unwrap_or(0);
    let row = ShareRow {
        id: id.clone(),
        site_id: s("site_id"),
        label: s("label"),
        created_at: created,
        expires_at: u32::try_from(n("e")).unwrap_or(0),
        revoked: 1,
        // Later than the row it replaces even within the same second.
        changed_at: now().max(created) + 1,
    };
    store(&state, &row).await?;
    remember(&id, true);
    Ok(StatusCode::NO_CONTENT.into_response())
}
