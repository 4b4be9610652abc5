//! `POST /v1/server/events` (site key): `{"site", "events": [...]}` of
//! purchase, refund, subscription_cancel and lead events. Answered as
//! `/v1/events` is: 202 with the rejected events, 400 when none was valid.
use super::{ingest, refused};
use crate::automate::hooks::key_for;
use crate::error::ApiError;
use crate::ingest::body::read_limited;
use crate::ingest::events::respond;
use crate::ingest::ClientMeta;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use ktra_schema::limits::{MAX_BODY_BYTES, MAX_EVENTS_PER_BATCH};
use ktra_schema::server::ServerBatch;
use ktra_schema::RejectReason;
use serde_json::value::RawValue;

/// The handler.
pub async fn post_server_events(
    State(state): State<AppState>,
    meta: ClientMeta,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(handle(&state, &meta, &headers, body).await)
}

async fn handle(
    state: &AppState,
    meta: &ClientMeta,
    headers: &HeaderMap,
    body: Body,
) -> Result<crate::ingest::events::Outcome, crate::ingest::events::Refusal> {
    let bytes = read_limited(headers, body, MAX_BODY_BYTES).await.map_err(|e| refused("unknown", 0, e))?;
    let batch: ServerBatch<Box<RawValue>> = serde_json::from_slice(&bytes).map_err(|e| {
        refused(
            "unknown",
            1,
            ApiError::bad(RejectReason::MalformedJson, format!("body is not a server event batch: {e}")),
        )
    })?;
    let n = batch.events.len();
    let Some(site) = state.site(&batch.site) else {
        // Unknown and foreign sites answer alike: the key is checked first.
        key_for(state, headers, meta, "").map_err(|e| refused("unknown", n, e))?;
        return Err(refused("unknown", n, ApiError::bad(RejectReason::UnknownSite, "unknown site")));
    };
    let site_id = batch.site.as_str();
    key_for(state, headers, meta, site_id).map_err(|e| refused(site_id, n, e))?;
    if n > MAX_EVENTS_PER_BATCH {
        let msg = format!("{n} events, the limit is {MAX_EVENTS_PER_BATCH}");
        return Err(refused(site_id, n, ApiError::bad(RejectReason::TooManyEvents, msg)));
    }
    state.site_limit.check(&batch.site).map_err(|w| refused(site_id, n, ApiError::RateLimited(w)))?;
    ingest(state, site_id, site, &batch.events, bytes.len()).await
}
