//! The activity log behind the dashboard's automations panel: each
//! endpoint's state and the recent delivery attempts
//! (`GET /v1/stats/webhooks?site=S&trigger=T&status=S`), and redelivery of a
//! delivery with its `webhook-id` and body (`POST /v1/admin/webhooks/{id}/redeliver`).
use super::deliver::Delivery;
use crate::admin::Admin;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

/// Query parameters.
#[derive(Debug, Deserialize)]
pub struct ActivityQuery {
    /// Site id.
    pub site: String,
    /// Only this trigger.
    #[serde(default)]
    pub trigger: String,
    /// Only this status (one of [`super::deliver::STATUSES`]).
    #[serde(default)]
    pub status: String,
}

#[derive(clickhouse::Row, Deserialize)]
struct Attempt {
    delivery_id: String,
    endpoint: String,
    trigger_name: String,
    lead_id: String,
    attempt: u16,
    status: String,
    http_status: u16,
    error: String,
    latency_ms: u32,
    attempted_at: u32,
}

#[derive(clickhouse::Row, Deserialize)]
struct EndpointState {
    endpoint: String,
    last_status: String,
    last_at: u32,
    delivered_24h: u64,
    failed_24h: u64,
}

fn internal(e: clickhouse::error::Error) -> ApiError {
    ApiError::Internal(e.to_string())
}

/// `GET /v1/stats/webhooks`.
pub async fn activity(
    State(state): State<AppState>,
    _: Admin,
    Query(q): Query<ActivityQuery>,
) -> Result<Json<Value>, ApiError> {
    let site = state.site(&q.site).ok_or_else(|| ApiError::NotFound("unknown site".into()))?;
    let attempts: Vec<Attempt> = state
        .clickhouse
        .query(
            "SELECT delivery_id, endpoint, trigger_name, lead_id, attempt, status, http_status, error, latency_ms, \
             toUInt32(attempted_at) AS attempted_at FROM webhook_deliveries FINAL \
             WHERE site_id = ? AND (? = '' OR trigger_name = ?) AND (? = '' OR status = ?) \
             ORDER BY attempted_at DESC, attempt DESC LIMIT 100",
        )
        .bind(&q.site)
        .bind(&q.trigger)
        .bind(&q.trigger)
        .bind(&q.status)
        .bind(&q.status)
        .fetch_all()
        .await
        .map_err(internal)?;
    let states: Vec<EndpointState> = state
        .clickhouse
        .query(
            "SELECT endpoint, argMax(status, (attempted_at, attempt)) AS last_status, \
             toUInt32(max(attempted_at)) AS last_at, \
             countIf(status = 'delivered' AND attempted_at > now() - 86400) AS delivered_24h, \
             countIf(status IN ('failed', 'gave_up') AND attempted_at > now() - 86400) AS failed_24h \
             FROM webhook_deliveries FINAL WHERE site_id = ? GROUP BY endpoint",
        )
        .bind(&q.site)
        .fetch_all()
        .await
        .map_err(internal)?;
    let mut endpoints: Vec<Value> = Vec::new();
    let configured = site.webhooks.iter().map(|w| (w.url.clone(), "config", w.triggers.clone()));
    let rest =
        state.automations.subscriptions.of(&q.site).into_iter().map(|s| (s.endpoint.url, "rest", s.endpoint.triggers));
    for (url, source, triggers) in configured.chain(rest) {
        let st = states.iter().find(|s| s.endpoint == url);
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let streak = state.automations.queue.health.failing_since(&q.site, &url);
        let health = match st {
            _ if state.automations.queue.health.disabled(&q.site, &url, now) => "disabled",
            None => "idle",
            Some(s) if s.last_status == "delivered" => "healthy",
            Some(s) if s.last_status == "enabled" => "enabled",
            Some(s) if s.delivered_24h == 0 && s.failed_24h > 0 => "failing",
            Some(_) => "degraded",
        };
        endpoints.push(json!({
            "url": url, "source": source, "triggers": triggers, "health": health,
            "last_status": st.map(|s| s.last_status.clone()), "last_attempt_at": st.map(|s| s.last_at),
            "delivered_24h": st.map_or(0, |s| s.delivered_24h), "failed_24h": st.map_or(0, |s| s.failed_24h),
            "failing_since": streak.map(|ms| ms / 1000),
        }));
    }
    let deliveries: Vec<Value> = attempts
        .iter()
        .map(|a| {
            json!({
                "delivery_id": a.delivery_id, "endpoint": a.endpoint, "trigger": a.trigger_name, "lead_id": a.lead_id,
                "attempt": a.attempt, "status": a.status, "http_status": a.http_status, "error": a.error,
                "latency_ms": a.latency_ms, "attempted_at": a.attempted_at,
            })
        })
        .collect();
    let triggers: Vec<&str> = super::Trigger::ALL.iter().map(|t| t.as_str()).collect();
    Ok(Json(json!({
        "site": q.site, "endpoints": endpoints, "deliveries": deliveries,
        "triggers": triggers, "statuses": super::deliver::STATUSES,
    })))
}

#[derive(clickhouse::Row, Deserialize)]
struct Sent {
    site_id: String,
    endpoint: String,
    trigger_name: String,
    event_id: String,
    lead_id: String,
    attempt: u16,
    body: String,
}

/// `POST /v1/admin/webhooks/{delivery_id}/redeliver`: sends the delivery
/// again now, same `webhook-id` and body, to its endpoint if it is still configured.
pub async fn redeliver(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let sent: Option<Sent> = state
        .clickhouse
        .query(
            "SELECT site_id, endpoint, trigger_name, event_id, lead_id, attempt, body FROM webhook_deliveries \
             WHERE delivery_id = ? ORDER BY attempted_at DESC, attempt DESC LIMIT 1",
        )
        .bind(&id)
        .fetch_optional()
        .await
        .map_err(internal)?;
    let sent =
        sent.ok_or_else(|| ApiError::NotFound(format!("no delivery {:?}", id.chars().take(64).collect::<String>())))?;
    let site = state.site(&sent.site_id).ok_or_else(|| ApiError::NotFound("unknown site".into()))?;
    let subscription =
        state.automations.subscriptions.of(&sent.site_id).into_iter().find(|s| s.endpoint.url == sent.endpoint);
    let secret = site
        .webhooks
        .iter()
        .find(|w| w.url == sent.endpoint)
        .map(|w| w.secret.clone())
        .or_else(|| subscription.as_ref().map(|s| s.endpoint.secret.clone()))
        .ok_or_else(|| ApiError::NotFound("the delivery's endpoint is no longer configured".into()))?;
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    state.automations.queue.push(Delivery {
        id: id.clone(),
        site: sent.site_id,
        url: sent.endpoint,
        secret,
        trigger: sent.trigger_name,
        event_id: sent.event_id,
        lead_id: sent.lead_id,
        body: sent.body,
        attempts: sent.attempt,
        next_at: now,
        consent_root: String::new(),
        subscription: subscription.map(|s| s.id),
    });
    Ok(Json(json!({ "delivery_id": id, "queued": true })))
}
