//! `POST /v1/events`: read and decode the batch, check site, origin and
//! consent, validate each event on its own, enrich, and hand the rows to the
//! writer. Valid events of a batch are kept when others are rejected; the
//! response lists each rejected event with its reason.
use super::body::{check_content_type, read_limited};
use super::{cors, ClientMeta};
use crate::config::BotPolicy;
use crate::enrich::event_row::{build_row, RequestContext};
use crate::enrich::parse_user_agent;
use crate::enrich::urlparts::strip_params;
use crate::error::ApiError;
use crate::sink::Rows;
use crate::state::{origin_allowed, AppState};
use crate::telemetry as t;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ktra_schema::row::TableRow;
use ktra_schema::limits::MAX_BODY_BYTES;
use ktra_schema::validate::truncate;
use ktra_schema::{check_amplification, validate_batch, validate_event, Batch, RawEvent, RejectReason};
use serde::Serialize;
use serde_json::value::RawValue;
use std::collections::HashSet;

/// One rejected event in the response.
#[derive(Debug, Serialize)]
pub struct RejectedEvent {
    /// Position in the batch.
    pub index: usize,
    /// The event's id, when it could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Fixed reason code.
    pub reason: &'static str,
    /// What was wrong.
    pub message: String,
}

/// The response body of `POST /v1/events`.
#[derive(Debug, Serialize)]
pub struct EventsResponse {
    /// Events stored.
    pub accepted: usize,
    /// Events refused, with reasons.
    pub rejected: Vec<RejectedEvent>,
}

/// The handler.
pub async fn post_events(State(state): State<AppState>, meta: ClientMeta, headers: HeaderMap, body: Body) -> Response {
    let origin = meta.origin.clone();
    let result = handle(&state, meta, &headers, body).await;
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    if let Some(o) = origin.as_deref() {
        if state.any_site_allows(o) && resp.status() != StatusCode::FORBIDDEN {
            cors::allow(resp.headers_mut(), o);
        }
    }
    resp
}

fn count_rejected(site: &str, reason: RejectReason, n: usize) {
    if n > 0 {
        metrics::counter!(t::REJECTED_EVENTS, "site" => site.to_string(), "reason" => reason.as_str())
            .increment(n as u64);
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

async fn handle(state: &AppState, meta: ClientMeta, headers: &HeaderMap, body: Body) -> Result<Response, ApiError> {
    state.client_limit.check(&meta.rate_key()).map_err(ApiError::RateLimited)?;
    check_content_type(headers)?;
    let bytes = read_limited(headers, body, MAX_BODY_BYTES).await?;
    let batch: Batch<Box<RawValue>> = serde_json::from_slice(&bytes).map_err(|e| {
        count_rejected("unknown", RejectReason::MalformedJson, 1);
        ApiError::bad(RejectReason::MalformedJson, format!("body is not a valid event batch: {e}"))
    })?;
    let n = batch.events.len();

    let Some(site) = state.site(&batch.site) else {
        count_rejected("unknown", RejectReason::UnknownSite, n);
        return Err(ApiError::bad(RejectReason::UnknownSite, format!("unknown site {:?}", truncate(&batch.site, 64))));
    };
    let site_id = batch.site.as_str();
    if !origin_allowed(site, meta.origin.as_deref()) {
        count_rejected(site_id, RejectReason::OriginNotAllowed, n);
        return Err(ApiError::Origin(meta.origin.unwrap_or_default()));
    }
    validate_batch(&batch).map_err(|r| {
        count_rejected(site_id, r.reason, n);
        ApiError::bad(r.reason, r.message)
    })?;

    // Consent: the token in the body, else the first-party cookie (custom domain).
    let token = batch.consent.as_deref().filter(|t| !t.is_empty()).or(meta.consent_cookie.as_deref());
    let consent = match crate::consent::handler::check_event_consent(state, site_id, site, token) {
        Ok(c) => c,
        Err(e) => {
            if let ApiError::Consent { reason, .. } = &e {
                count_rejected(site_id, *reason, n);
            }
            return Err(e);
        }
    };
    // The site's bucket is spent only by requests that passed origin and
    // consent: junk cannot use up a site's budget and get real visitors 429.
    if let Err(wait) = state.site_limit.check(&batch.site) {
        count_rejected(site_id, RejectReason::RateLimited, n);
        return Err(ApiError::RateLimited(wait));
    }

    let ua = parse_user_agent(&meta.user_agent);
    if ua.is_bot && state.config.bots == BotPolicy::Drop {
        count_rejected(site_id, RejectReason::Bot, n);
        return Ok((StatusCode::ACCEPTED, Json(EventsResponse { accepted: 0, rejected: Vec::new() })).into_response());
    }
    let now = now_ms();
    let ctx = RequestContext {
        site_id: site_id.to_string(),
        visitor_id: batch.vid.clone(),
        session_id: batch.sid.clone(),
        consent_id: consent.consent_id,
        consent_root: consent.root,
        utm: batch.utm.clone().unwrap_or_default(),
        email_click_id: batch.ec.clone().unwrap_or_default(),
        geo: state.geo.lookup(meta.ip),
        ua,
        received_at: u32::try_from(now / 1000).unwrap_or(u32::MAX),
    };

    let mut rows = Vec::with_capacity(n);
    let mut rejected = Vec::new();
    let mut seen = HashSet::with_capacity(n);
    for (index, raw) in batch.events.iter().enumerate() {
        let ev: RawEvent = match serde_json::from_str(raw.get()) {
            Ok(ev) => ev,
            Err(e) => {
                rejected.push(RejectedEvent {
                    index,
                    id: None,
                    reason: RejectReason::InvalidEvent.as_str(),
                    message: e.to_string(),
                });
                count_rejected(site_id, RejectReason::InvalidEvent, 1);
                continue;
            }
        };
        let id = ev.id.clone();
        match validate_event(ev, now) {
            Ok(mut valid) => {
                let deny = &state.config.strip_query_params;
                for field in [&mut valid.raw.url, &mut valid.raw.referrer, &mut valid.raw.target] {
                    if let Some(v) = field.as_mut() {
                        *v = strip_params(v, deny);
                    }
                }
                if !seen.insert(valid.id) {
                    rejected.push(RejectedEvent {
                        index,
                        id: Some(id),
                        reason: RejectReason::DuplicateInBatch.as_str(),
                        message: "event id appears twice in this batch".into(),
                    });
                    count_rejected(site_id, RejectReason::DuplicateInBatch, 1);
                    continue;
                }
                rows.push(build_row(&ctx, valid));
            }
            Err(r) => {
                count_rejected(site_id, r.reason, 1);
                rejected.push(RejectedEvent {
                    index,
                    id: Some(truncate(&id, 64).to_string()),
                    reason: r.reason.as_str(),
                    message: r.message,
                });
            }
        }
    }

    let stored: usize = rows.iter().map(TableRow::approx_size).sum();
    let leads: Vec<String> =
        rows.iter().filter(|r| r.event_type == "identify" && !r.lead_id.is_empty()).map(|r| r.lead_id.clone()).collect();
    if let Err(r) = check_amplification(stored, bytes.len()) {
        count_rejected(site_id, r.reason, n);
        return Err(ApiError::bad(r.reason, r.message));
    }
    let accepted = rows.len();
    if accepted > 0 {
        if let Err(e) = state.sink.submit(Rows::new(rows)).await {
            count_rejected(site_id, RejectReason::Overloaded, accepted);
            return Err(ApiError::Unavailable { retry_after: 2, message: format!("{e}; retry later") });
        }
        metrics::counter!(t::ACCEPTED_EVENTS, "site" => site_id.to_string()).increment(accepted as u64);
        // A visitor who granted marketing and identified makes the lead consented (email tracking).
        for lead in &leads {
            state.leads.grant(site_id, lead);
        }
    }
    let status = if accepted == 0 { StatusCode::BAD_REQUEST } else { StatusCode::ACCEPTED };
    if accepted == 0 {
        metrics::counter!(t::REJECTED_REQUESTS, "reason" => "all_events_invalid").increment(1);
    }
    Ok((status, Json(EventsResponse { accepted, rejected })).into_response())
}
