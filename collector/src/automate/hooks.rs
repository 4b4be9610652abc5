//! Zapier-style REST hooks: a site's server subscribes an endpoint to a
//! trigger with its site key (`POST /v1/hooks`), lists (`GET /v1/hooks?site=`)
//! and unsubscribes (`DELETE /v1/hooks/{id}`) them, and asks for sample
//! payloads (`GET /v1/hooks/samples/{trigger}`). Subscriptions are rows of
//! `webhook_subscriptions`, written to ClickHouse before the answer, so every
//! collector sees them (read back every `revocation_refresh_secs`) and they
//! survive restarts. A target answering 410 is unsubscribed.
use super::{deliver, Trigger};
use crate::config::{TriggerFilter, WebhookEndpoint};
use crate::error::ApiError;
use crate::ingest::ClientMeta;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use ktra_schema::row::{EventRow, WebhookSubscriptionRow};
use ktra_schema::RejectReason;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::RwLock;
use subtle::ConstantTimeEq;

/// One live subscription.
#[derive(Debug, Clone)]
pub struct Subscription {
    /// Id.
    pub id: String,
    /// As an endpoint (one trigger, once per event).
    pub endpoint: WebhookEndpoint,
}

/// Live subscriptions by site.
#[derive(Debug, Default)]
pub struct Subscriptions {
    by_site: RwLock<HashMap<String, Vec<Subscription>>>,
}

fn unix_now() -> u32 {
    let s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    u32::try_from(s).unwrap_or(u32::MAX)
}

fn to_subscription(r: &WebhookSubscriptionRow) -> Subscription {
    let filter = serde_json::from_str(&r.filter).unwrap_or_default();
    let endpoint = WebhookEndpoint {
        url: r.target_url.clone(),
        secret: r.secret.clone(),
        triggers: vec![r.trigger_name.clone()],
        filter,
        once_per: "event".into(),
        engaged_secs: 30,
    };
    Subscription { id: r.id.clone(), endpoint }
}

impl Subscriptions {
    /// The live subscriptions of `site`.
    pub fn of(&self, site: &str) -> Vec<Subscription> {
        self.by_site.read().ok().and_then(|m| m.get(site).cloned()).unwrap_or_default()
    }

    fn set(&self, site: &str, f: impl FnOnce(&mut Vec<Subscription>)) {
        if let Ok(mut m) = self.by_site.write() {
            f(m.entry(site.to_string()).or_default());
        }
    }

    /// Reads every live subscription back from ClickHouse (the table is small).
    pub async fn load(&self, client: &clickhouse::Client) -> Result<usize, clickhouse::error::Error> {
        let rows: Vec<WebhookSubscriptionRow> =
            client.query("SELECT ?fields FROM webhook_subscriptions FINAL WHERE deleted = 0").fetch_all().await?;
        let mut by_site: HashMap<String, Vec<Subscription>> = HashMap::new();
        for r in &rows {
            by_site.entry(r.site_id.clone()).or_default().push(to_subscription(r));
        }
        if let Ok(mut m) = self.by_site.write() {
            *m = by_site;
        }
        Ok(rows.len())
    }

    /// Stores a version of a subscription in ClickHouse.
    async fn store(client: &clickhouse::Client, row: &WebhookSubscriptionRow) -> Result<(), ApiError> {
        let write = async {
            let mut ins = client.insert::<WebhookSubscriptionRow>("webhook_subscriptions").await?;
            ins.write(row).await?;
            ins.end().await
        };
        write
            .await
            .map_err(|e| ApiError::Unavailable { retry_after: 5, message: format!("cannot store the hook: {e}") })
    }

    /// Unsubscribes `id` of `site` (a 410 from its target, or `DELETE`).
    pub async fn unsubscribe(&self, client: &clickhouse::Client, site: &str, id: &str) -> Result<bool, ApiError> {
        let Some(sub) = self.of(site).into_iter().find(|s| s.id == id) else { return Ok(false) };
        let row = WebhookSubscriptionRow {
            id: id.into(),
            site_id: site.into(),
            target_url: sub.endpoint.url,
            trigger_name: sub.endpoint.triggers.first().cloned().unwrap_or_default(),
            deleted: 1,
            updated_at: unix_now(),
            ..Default::default()
        };
        Self::store(client, &row).await?;
        self.set(site, |v| v.retain(|s| s.id != id));
        Ok(true)
    }
}

/// The site a bearer site key acts for. Wrong keys count against the
/// client's failed-attempt budget, like the admin key.
pub(crate) fn site_of_key(state: &AppState, headers: &HeaderMap, meta: &ClientMeta) -> Result<String, ApiError> {
    let Some(got) = headers.get(header::AUTHORIZATION) else { return Err(ApiError::Unauthorized) };
    state.admin_failures.peek(&meta.rate_key()).map_err(ApiError::RateLimited)?;
    let got = got.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).unwrap_or("").trim().as_bytes();
    for (id, site) in &state.config.sites {
        if site.api_keys.iter().any(|k| k.len() == got.len() && bool::from(k.as_bytes().ct_eq(got))) {
            return Ok(id.clone());
        }
    }
    let _ = state.admin_failures.check(&meta.rate_key());
    Err(ApiError::Unauthorized)
}

/// The key acts for `site`, or the request is refused.
pub(crate) fn key_for(state: &AppState, headers: &HeaderMap, meta: &ClientMeta, site: &str) -> Result<(), ApiError> {
    let own = site_of_key(state, headers, meta)?;
    if own != site {
        return Err(ApiError::Consent {
            reason: RejectReason::OriginNotAllowed,
            message: "this key acts for another site".into(),
        });
    }
    Ok(())
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad(RejectReason::BadValue, message)
}

/// `POST /v1/hooks` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscribe {
    /// Site id.
    pub site: String,
    /// Where to deliver.
    pub target_url: String,
    /// One trigger.
    pub trigger: String,
    /// Optional filter.
    #[serde(default)]
    pub filter: Option<TriggerFilter>,
}

/// `POST /v1/hooks` → 201 `{"id","secret"}`.
pub async fn subscribe(
    State(state): State<AppState>,
    meta: ClientMeta,
    headers: HeaderMap,
    Json(req): Json<Subscribe>,
) -> Result<Response, ApiError> {
    key_for(&state, &headers, &meta, &req.site)?;
    Trigger::parse(&req.trigger).ok_or_else(|| bad(format!("unknown trigger {:?}", req.trigger)))?;
    deliver::check_target(&req.target_url, state.config.webhooks.allow_private_targets).map_err(bad)?;
    if req.target_url.len() > 2048 {
        return Err(bad("target_url is too long"));
    }
    let key: [u8; 24] = std::array::from_fn(|_| rand::random::<u8>());
    let secret = format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(key));
    let filter = req.filter.unwrap_or_default();
    let row = WebhookSubscriptionRow {
        id: format!("hook_{}", uuid::Uuid::new_v4().simple()),
        site_id: req.site.clone(),
        target_url: req.target_url,
        trigger_name: req.trigger,
        filter: serde_json::to_string(&filter_json(&filter)).unwrap_or_default(),
        secret: secret.clone(),
        deleted: 0,
        updated_at: unix_now(),
    };
    Subscriptions::store(&state.clickhouse, &row).await?;
    // The refresh may have read the new row back already: one entry per id.
    state.automations.subscriptions.set(&req.site, |v| {
        v.retain(|s| s.id != row.id);
        v.push(to_subscription(&row));
    });
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "id": row.id, "secret": secret }))).into_response())
}

fn filter_json(f: &TriggerFilter) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for (k, v) in [
        ("path", &f.path),
        ("video_id", &f.video_id),
        ("form_id", &f.form_id),
        ("product_id", &f.product_id),
        ("message_id", &f.message_id),
        ("utm_campaign", &f.utm_campaign),
    ] {
        if !v.is_empty() {
            m.insert(k.into(), v.clone().into());
        }
    }
    m.into()
}

/// `GET /v1/hooks?site=ID` query.
#[derive(Debug, Deserialize)]
pub struct SiteQuery {
    /// Site id.
    pub site: String,
}

/// `GET /v1/hooks?site=ID` → the site's live subscriptions (without secrets).
pub async fn list(
    State(state): State<AppState>,
    meta: ClientMeta,
    headers: HeaderMap,
    Query(q): Query<SiteQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    key_for(&state, &headers, &meta, &q.site)?;
    let subs: Vec<serde_json::Value> = state
        .automations
        .subscriptions
        .of(&q.site)
        .iter()
        .map(|s| {
            serde_json::json!({
                "id": s.id, "target_url": s.endpoint.url,
                "trigger": s.endpoint.triggers.first(), "filter": filter_json(&s.endpoint.filter),
            })
        })
        .collect();
    Ok(Json(serde_json::Value::Array(subs)))
}

/// `DELETE /v1/hooks/{id}`.
pub async fn unsubscribe(
    State(state): State<AppState>,
    meta: ClientMeta,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let site = site_of_key(&state, &headers, &meta)?;
    if !state.automations.subscriptions.unsubscribe(&state.clickhouse, &site, &id).await? {
        return Err(ApiError::NotFound(format!("no hook {:?} for this site", id.chars().take(64).collect::<String>())));
    }
    Ok(Json(serde_json::json!({ "id": id, "deleted": true })))
}

/// `GET /v1/hooks/samples/{trigger}` → `[payload]`, as deliveries carry them.
pub async fn samples(
    State(state): State<AppState>,
    meta: ClientMeta,
    headers: HeaderMap,
    Path(trigger): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let site = site_of_key(&state, &headers, &meta)?;
    let t = Trigger::parse(&trigger).ok_or_else(|| bad(format!("unknown trigger {trigger:?}")))?;
    let row = EventRow {
        site_id: site,
        event_id: uuid::Uuid::nil(),
        event_type: "page_view".into(),
        visitor_id: "sample-visitor".into(),
        session_id: "sample-session".into(),
        url: "https://shop.example/pricing".into(),
        path: "/pricing".into(),
        utm_source: "newsletter".into(),
        utm_medium: "email".into(),
        utm_campaign: "spring".into(),
        ..Default::default()
    };
    let endpoint = WebhookEndpoint { url: String::new(), secret: String::new(), ..Default::default() };
    let d = deliver::Delivery::new(&endpoint, t, &row, ("sample-lead", "sample-message"), "sample", 0);
    let body: serde_json::Value = serde_json::from_str(&d.body).unwrap_or_default();
    Ok(Json(serde_json::Value::Array(vec![body])))
}
