//! `POST /v1/events`: read and decode the batch, check site, origin and
//! consent, validate each event on its own, enrich, and hand the rows to the
//! writer. Valid events of a batch are kept when others are rejected; the
//! response lists each rejected event with its reason.
use super::batch::Events;
use super::body::{check_content_type, read_limited};
use super::{cors, ClientMeta};
use crate::config::BotPolicy;
use crate::enrich::event_row::{RequestContext, RowBuilder};
use crate::enrich::parse_user_agent;
use crate::error::ApiError;
use crate::sink::Rows;
use crate::state::{origin_allowed, AppState};
use crate::telemetry as t;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ktra_schema::limits::MAX_BODY_BYTES;
use ktra_schema::limits::MAX_ID_LEN;
use ktra_schema::row::{EventRow, TableRow};
use ktra_schema::validate::is_token_id;
use ktra_schema::validate::truncate;
use ktra_schema::{check_amplification, validate_batch, validate_from, RawEvent, RejectReason};
use serde::de::DeserializeOwned;
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

/// A batch refused as a whole: the error to answer, and the site and number
/// of events it held, counted once in [`post_events`].
pub(crate) struct Refusal {
    site: String,
    events: usize,
    error: ApiError,
}

/// What a handled batch came to: the answer, and known bots' events dropped
/// silently (`bots = "drop"`: a bot is not told).
pub(crate) struct Outcome {
    pub(crate) site: String,
    pub(crate) answer: EventsResponse,
    pub(crate) bots: usize,
}

/// `refuse(site, n)(error)`: a [`Refusal`] of `n` events of `site`.
pub(crate) fn refuse(site: &str, events: usize) -> impl FnOnce(ApiError) -> Refusal + '_ {
    move |error| Refusal { site: site.to_string(), events, error }
}

/// The handler: every refusal, whole-batch or per event, is counted here.
pub async fn post_events(State(state): State<AppState>, meta: ClientMeta, headers: HeaderMap, body: Body) -> Response {
    let origin = meta.origin.clone();
    let mut cookie = None;
    let mut resp = respond(handle(&state, meta, &headers, body, &mut cookie).await);
    let allowed = origin.as_deref().is_some_and(|o| state.any_site_allows(o));
    if let Some(o) = origin.as_deref() {
        if allowed && resp.status() != StatusCode::FORBIDDEN {
            cors::allow(resp.headers_mut(), o);
        }
    }
    // `server_cookie`: the visitor cookie from the tracking domain, after a stored batch under a grant.
    if let (Some(c), StatusCode::ACCEPTED) = (cookie, resp.status()) {
        crate::tracking::cookie::attach(resp.headers_mut(), c, allowed);
    }
    resp
}

/// The answer to a handled batch (202 with the rejected events, or 400 when
/// none was valid), or to a refused one; every refusal is counted here.
pub(crate) fn respond(result: Result<Outcome, Refusal>) -> Response {
    match result {
        Ok(Outcome { site, answer, bots }) => {
            let mut by_reason: Vec<(&'static str, u64)> = Vec::new();
            if bots > 0 {
                by_reason.push((RejectReason::Bot.as_str(), bots as u64));
            }
            for r in &answer.rejected {
                match by_reason.iter_mut().find(|(reason, _)| *reason == r.reason) {
                    Some((_, n)) => *n += 1,
                    None => by_reason.push((r.reason, 1)),
                }
            }
            for (reason, n) in by_reason {
                metrics::counter!(t::REJECTED_EVENTS, "site" => site.clone(), "reason" => reason).increment(n);
            }
            let status = if answer.accepted == 0 && bots == 0 {
                metrics::counter!(t::REJECTED_REQUESTS, "reason" => "all_events_invalid").increment(1);
                StatusCode::BAD_REQUEST
            } else {
                if answer.accepted > 0 {
                    metrics::counter!(t::ACCEPTED_EVENTS, "site" => site).increment(answer.accepted as u64);
                }
                StatusCode::ACCEPTED
            };
            (status, Json(answer)).into_response()
        }
        Err(Refusal { site, events, error }) => {
            if let (Some(reason), true) = (error.reason(), events > 0) {
                metrics::counter!(t::REJECTED_EVENTS, "site" => site, "reason" => reason.as_str())
                    .increment(events as u64);
            }
            error.into_response()
        }
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Read → check site, origin, batch fields, consent, site budget → validate
/// each event → enrich → bound the stored bytes → submit.
async fn handle(
    state: &AppState,
    meta: ClientMeta,
    headers: &HeaderMap,
    body: Body,
    cookie: &mut Option<axum::http::HeaderValue>,
) -> Result<Outcome, Refusal> {
    state.client_limit.check(&meta.rate_key()).map_err(|w| refuse("unknown", 0)(ApiError::RateLimited(w)))?;
    check_content_type(headers).map_err(refuse("unknown", 0))?;
    let bytes = read_limited(headers, body, MAX_BODY_BYTES).await.map_err(refuse("unknown", 0))?;
    // One pass when every event decodes; else each event on its own (slices of the body).
    let (batch, events) = super::batch::decode(&bytes).map_err(|e| {
        refuse("unknown", 1)(ApiError::bad(
            RejectReason::MalformedJson,
            format!("body is not a valid event batch: {e}"),
        ))
    })?;
    let n = batch.events.len();
    let Some(site) = state.site(&batch.site) else {
        let msg = format!("unknown site {:?}", truncate(&batch.site, 64));
        return Err(refuse("unknown", n)(ApiError::bad(RejectReason::UnknownSite, msg)));
    };
    let site_id = batch.site.as_str();
    let refused = |error| refuse(site_id, n)(error);
    if !origin_allowed(site, meta.origin.as_deref()) {
        return Err(refused(ApiError::Origin(meta.origin.unwrap_or_default())));
    }
    validate_batch(&batch).map_err(|r| refused(ApiError::bad(r.reason, r.message)))?;
    // Consent: the token in the body, else the first-party cookie (custom domain).
    let token = batch.consent.as_deref().filter(|t| !t.is_empty()).or(meta.consent_cookie.as_deref());
    let consent = crate::consent::handler::check_event_consent(state, site_id, site, token, &meta).map_err(refused)?;
    // The site's bucket is spent only by requests that passed origin and
    // consent: junk cannot use up a site's budget and get real visitors 429.
    state.site_limit.check(&batch.site).map_err(|w| refused(ApiError::RateLimited(w)))?;

    let ua = parse_user_agent(&meta.user_agent);
    if ua.is_bot && state.config.bots == BotPolicy::Drop {
        let answer = EventsResponse { accepted: 0, rejected: Vec::new() };
        return Ok(Outcome { site: site_id.to_string(), answer, bots: n });
    }
    let now = now_ms();
    *cookie = crate::tracking::cookie::set_vid(site, &batch.vid, consent.expires, (now / 1000).max(0) as u64);
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
        source: ktra_schema::Sender::Browser,
    };
    let strip = &state.config.strip_query_params;
    let (rows, rejected) = match events {
        Events::Decoded(events) => rows_of(&ctx, n, events.into_iter().map(Ok), now, strip),
        Events::Raw(events) => build_rows::<RawEvent>(&ctx, &events, now, strip),
    };
    let stored: usize = rows.iter().map(TableRow::approx_size).sum();
    check_amplification(stored, bytes.len()).map_err(|r| refused(ApiError::bad(r.reason, r.message)))?;
    let accepted = store(state, site_id, site, rows, now).await?;
    Ok(Outcome { site: site_id.to_string(), answer: EventsResponse { accepted, rejected }, bots: 0 })
}

/// Submits accepted rows, records the leads they identify as consented, and
/// hands them to the site's triggers (off the request's time). Returns how
/// many were stored.
pub(crate) async fn store(
    state: &AppState,
    site_id: &str,
    site: &crate::config::SiteConfig,
    rows: Vec<EventRow>,
    now: i64,
) -> Result<usize, Refusal> {
    let accepted = rows.len();
    if accepted > 0 {
        let leads: Vec<String> = rows
            .iter()
            .filter(|r| r.event_type == "identify" && !r.lead_id.is_empty())
            .map(|r| r.lead_id.clone())
            .collect();
        // Triggers see only what was stored; rows are copied only for sites with webhooks.
        let hooked = !site.webhooks.is_empty() || !state.automations.subscriptions.of(site_id).is_empty();
        let for_triggers = hooked.then(|| rows.clone());
        state.sink.submit(Rows::new(rows)).await.map_err(|e| {
            refuse(site_id, accepted)(ApiError::Unavailable { retry_after: 2, message: format!("{e}; retry later") })
        })?;
        // A visitor who granted marketing and identified makes the lead consented (email tracking).
        for lead in &leads {
            state.leads.grant(site_id, lead);
        }
        if let Some(rows) = for_triggers {
            // A trigger that fires journals its delivery (fsync): never on the request's time.
            let (state, site_id, now) = (state.clone(), site_id.to_string(), u64::try_from(now).unwrap_or(0));
            tokio::task::spawn_blocking(move || {
                if let Some(site) = state.site(&site_id) {
                    state.automations.observe(&site_id, site, &rows, now);
                }
            });
        }
    }
    Ok(accepted)
}

/// An event as one sender reports it: the event, and the visitor it names
/// when that is not the request's (a server's report carries `vid`).
pub(crate) trait Reported: DeserializeOwned {
    /// The event and its own visitor id, if any.
    fn into_parts(self) -> (RawEvent, Option<String>);
}

impl Reported for RawEvent {
    fn into_parts(self) -> (RawEvent, Option<String>) {
        (self, None)
    }
}

impl Reported for ktra_schema::server::ServerEvent {
    fn into_parts(self) -> (RawEvent, Option<String>) {
        (self.event, self.vid.filter(|v| !v.is_empty()))
    }
}

/// Decodes and validates each event on its own, as `ctx.source` may send
/// it; valid ones (query-string secrets stripped, duplicates within the
/// batch dropped) become rows.
pub(crate) fn build_rows<E: Reported>(
    ctx: &RequestContext,
    events: &[impl std::ops::Deref<Target = RawValue>],
    now: i64,
    strip: &[String],
) -> (Vec<EventRow>, Vec<RejectedEvent>) {
    rows_of(ctx, events.len(), events.iter().map(|raw| serde_json::from_str::<E>(raw.get())), now, strip)
}

/// [`build_rows`] of `n` events already decoded (or not), in batch order.
pub(crate) fn rows_of<E: Reported>(
    ctx: &RequestContext,
    n: usize,
    events: impl Iterator<Item = Result<E, serde_json::Error>>,
    now: i64,
    strip: &[String],
) -> (Vec<EventRow>, Vec<RejectedEvent>) {
    let mut rows = Vec::with_capacity(n);
    let mut rejected = Vec::new();
    let mut seen = HashSet::with_capacity(n);
    // The batch's events share URL work (their page URL and referrer, mostly the same).
    let mut builder = RowBuilder::new(ctx, strip);
    for (index, decoded) in events.enumerate() {
        let (ev, vid) = match decoded {
            Ok(ev) => ev.into_parts(),
            Err(e) => {
                let reason = RejectReason::InvalidEvent.as_str();
                rejected.push(RejectedEvent { index, id: None, reason, message: e.to_string() });
                continue;
            }
        };
        let id = truncate(&ev.id, 64).to_string();
        if let Some(v) = vid.as_deref().filter(|v| v.len() > MAX_ID_LEN || !is_token_id(v)) {
            let message = format!("vid {:?} is not a ktra_vid ([A-Za-z0-9_.-], at most {MAX_ID_LEN})", truncate(v, 40));
            rejected.push(RejectedEvent { index, id: Some(id), reason: RejectReason::BadValue.as_str(), message });
            continue;
        }
        match validate_from(ctx.source, ev, now) {
            Ok(valid) => {
                if !seen.insert(valid.id) {
                    rejected.push(RejectedEvent {
                        index,
                        id: Some(id),
                        reason: RejectReason::DuplicateInBatch.as_str(),
                        message: "event id appears twice in this batch".into(),
                    });
                    continue;
                }
                // Query-string secrets are stripped from page URL, referrer and link target there.
                let mut row = builder.build_row(valid);
                if let Some(vid) = vid {
                    row.visitor_id = vid;
                }
                rows.push(row);
            }
            Err(r) => {
                rejected.push(RejectedEvent { index, id: Some(id), reason: r.reason.as_str(), message: r.message })
            }
        }
    }
    (rows, rejected)
}
