//! Operator endpoints behind the admin bearer key: export everything stored
//! for a visitor (right of access), erase it (right to erasure), and record
//! a lead's consent to email tracking. The key is compared in constant time
//! and never logged.
pub mod erase;

use crate::error::ApiError;
use crate::ingest::ClientMeta;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::Json;
use ktra_schema::validate::is_token_id;
use std::net::IpAddr;
use subtle::ConstantTimeEq;

/// Proof that a request carried the admin key: add `_: Admin` to a handler.
/// A client address that keeps sending wrong keys is refused for a while
/// (`limits.admin_failures_per_min`), even with the right one, so the key
/// cannot be guessed at network speed.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Ok(meta) = ClientMeta::from_request_parts(parts, state).await;
        authorize(state, &parts.headers, meta.rate_key()).map(|()| Admin)
    }
}

/// Checks `Authorization: Bearer <admin key>` for a client keyed `client`.
/// An empty configured key disables every admin endpoint.
pub fn authorize(state: &AppState, headers: &HeaderMap, client: IpAddr) -> Result<(), ApiError> {
    let want = state.config.admin_key.as_bytes();
    if want.is_empty() {
        return Err(ApiError::Unauthorized);
    }
    // No key at all is not a guess (a load balancer polling /readyz, a
    // browser opening the dashboard): refused, not counted.
    let Some(got) = headers.get(header::AUTHORIZATION) else { return Err(ApiError::Unauthorized) };
    state.admin_failures.peek(&client).map_err(ApiError::RateLimited)?;
    let got = got.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).unwrap_or("").trim().as_bytes();
    if got.len() == want.len() && bool::from(got.ct_eq(want)) {
        Ok(())
    } else {
        let _ = state.admin_failures.check(&client);
        Err(ApiError::Unauthorized)
    }
}

fn check_ids(state: &AppState, site: &str, vid: &str) -> Result<(), ApiError> {
    if state.site(site).is_none() {
        return Err(ApiError::NotFound(format!("unknown site {:?}", site.chars().take(64).collect::<String>())));
    }
    if !is_token_id(vid) {
        return Err(ApiError::bad(
            ktra_schema::RejectReason::BadValue,
            "visitor id must be 1 to 128 characters of [A-Za-z0-9_.-]",
        ));
    }
    Ok(())
}

/// `GET /v1/admin/visitors/{site}/{vid}`: every stored row about the visitor, as JSON.
pub async fn export_visitor(
    State(state): State<AppState>,
    _: Admin,
    Path((site, vid)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    check_ids(&state, &site, &vid)?;
    let data =
        erase::export_visitor(&state.clickhouse, &site, &vid).await.map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(data))
}

/// `DELETE /v1/admin/visitors/{site}/{vid}`: erase the visitor from every
/// table; answers with the rows deleted per table once the deletion is done.
pub async fn erase_visitor(
    State(state): State<AppState>,
    _: Admin,
    Path((site, vid)): Path<(String, String)>,
) -> Result<Json<erase::Erased>, ApiError> {
    check_ids(&state, &site, &vid)?;
    let erased = erase::erase_visitor(&state.clickhouse, &state.config.clickhouse.cluster, &site, &vid, true, true)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(erased))
}

/// `POST /v1/admin/leads/{site}/{lead}/consent`: the site owner records that
/// a lead consented to email tracking (e.g. a double opt-in), for
/// `email_tracking = "consented_leads"`. Shared with every collector through
/// `lead_consent`.
pub async fn record_lead_consent(
    State(state): State<AppState>,
    _: Admin,
    Path((site, lead)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if state.site(&site).is_none() {
        return Err(ApiError::NotFound(format!("unknown site {:?}", site.chars().take(64).collect::<String>())));
    }
    if lead.is_empty() || lead.len() > ktra_schema::limits::MAX_ID_LEN || lead.chars().any(char::is_control) {
        return Err(ApiError::bad(ktra_schema::RejectReason::BadValue, "lead must be 1 to 128 bytes"));
    }
    let row = ktra_schema::row::LeadConsentRow {
        site_id: site.clone(),
        lead_id: lead.clone(),
        source: "admin".into(),
        recorded_at: u32::try_from(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        )
        .unwrap_or(u32::MAX),
    };
    let insert = async {
        let mut ins = state.clickhouse.insert::<ktra_schema::row::LeadConsentRow>("lead_consent").await?;
        ins.write(&row).await?;
        ins.end().await
    };
    insert.await.map_err(|e| ApiError::Unavailable { retry_after: 5, message: format!("cannot record: {e}") })?;
    state.leads.grant(&site, &lead);
    Ok(Json(serde_json::json!({ "site": site, "lead": lead, "consented": true })))
}
