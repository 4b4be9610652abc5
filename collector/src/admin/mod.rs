//! Operator endpoints behind the admin bearer key: export everything stored
//! for a visitor (right of access) and erase it (right to erasure). The key
//! is compared in constant time and never logged.
pub mod erase;

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::Json;
use ktra_schema::validate::is_token_id;
use subtle::ConstantTimeEq;

/// Checks `Authorization: Bearer <admin key>`. An empty configured key
/// disables every admin endpoint.
pub fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let want = state.config.admin_key.as_bytes();
    if want.is_empty() {
        return Err(ApiError::Unauthorized);
    }
    let got = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .trim()
        .as_bytes();
    if got.len() == want.len() && bool::from(got.ct_eq(want)) {
        Ok(())
    } else {
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
    headers: HeaderMap,
    Path((site, vid)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorize(&state, &headers)?;
    check_ids(&state, &site, &vid)?;
    let data =
        erase::export_visitor(&state.clickhouse, &site, &vid).await.map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(data))
}

/// `DELETE /v1/admin/visitors/{site}/{vid}`: erase the visitor from every
/// table; answers with the rows deleted per table once the deletion is done.
pub async fn erase_visitor(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((site, vid)): Path<(String, String)>,
) -> Result<Json<erase::Erased>, ApiError> {
    authorize(&state, &headers)?;
    check_ids(&state, &site, &vid)?;
    let erased = erase::erase_visitor(&state.clickhouse, &site, &vid, true, true)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(erased))
}
