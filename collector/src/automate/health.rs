//! Endpoints that keep failing are disabled, as Svix and Stripe do: once an
//! endpoint has answered nothing but failures for `webhooks.disable_after_secs`
//! (default 5 days), its pending deliveries end with status `disabled`, new
//! triggers skip it, and the dashboard shows it disabled until an operator
//! enables it again (`POST /v1/admin/webhooks/enable {"site","url"}`, which
//! logs an `enabled` row).
//!
//! The state is each endpoint's failing streak: when its first failure after
//! its last success (or enabling) happened. A collector keeps it from its own
//! attempts and reads back every collector's from `webhook_deliveries` at
//! each refresh, so all of them agree within a refresh period and a restart
//! forgets nothing.
use crate::admin::Admin;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Statuses that end a failing streak.
const OK: &str = "'delivered', 'enabled'";
/// Statuses that extend one.
const FAILED: &str = "'failed', 'gave_up'";

/// Failing streaks by `(site, endpoint URL)`: Unix ms of the first failure since the last success.
#[derive(Debug)]
pub struct Health {
    failing_since: Mutex<HashMap<(String, String), u64>>,
    /// When this collector last saw each endpoint succeed or get enabled: a streak read
    /// back from ClickHouse that began before it is stale (its end is not stored yet).
    cleared_at: Mutex<HashMap<(String, String), u64>>,
    after_secs: AtomicU64,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            failing_since: Mutex::default(),
            cleared_at: Mutex::default(),
            after_secs: AtomicU64::new(DEFAULT_DISABLE_AFTER_SECS),
        }
    }
}

/// `webhooks.disable_after_secs` by default: 5 days.
pub const DEFAULT_DISABLE_AFTER_SECS: u64 = 5 * 86_400;

impl Health {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), u64>> {
        self.failing_since.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// An attempt's outcome at `now_ms`.
    pub fn attempted(&self, site: &str, url: &str, ok: bool, now_ms: u64) {
        let key = (site.to_string(), url.to_string());
        if ok {
            self.map().remove(&key);
            self.cleared().insert(key, now_ms);
        } else {
            self.map().entry(key).or_insert(now_ms);
        }
    }

    /// Since when the endpoint has been failing, if it is.
    pub fn failing_since(&self, site: &str, url: &str) -> Option<u64> {
        self.map().get(&(site.to_string(), url.to_string())).copied()
    }

    /// Sets how long an endpoint may fail before it is disabled.
    pub fn set_disable_after(&self, secs: u64) {
        self.after_secs.store(secs, Ordering::Relaxed);
    }

    /// Whether the endpoint has been failing for `disable_after_secs` or longer at `now_ms`.
    pub fn disabled(&self, site: &str, url: &str, now_ms: u64) -> bool {
        let after_ms = self.after_secs.load(Ordering::Relaxed).saturating_mul(1000);
        self.failing_since(site, url).is_some_and(|since| now_ms.saturating_sub(since) >= after_ms)
    }

    /// Enabled again by an operator at `now_ms`.
    pub fn enable(&self, site: &str, url: &str, now_ms: u64) {
        let key = (site.to_string(), url.to_string());
        self.map().remove(&key);
        self.cleared().insert(key, now_ms);
    }

    fn cleared(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), u64>> {
        self.cleared_at.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads every collector's streaks back from `webhook_deliveries`.
    pub async fn load(&self, client: &clickhouse::Client) -> Result<usize, clickhouse::error::Error> {
        #[derive(clickhouse::Row, Deserialize)]
        struct Streak {
            site_id: String,
            endpoint: String,
            ok_at: u32,
            since: u32,
        }
        // Per endpoint: the first failure after the last success (0 = not failing).
        // Only the recent log: a streak older than twice the threshold shows as one that
        // began at the window's start, which is disabled all the same.
        let window = self.after_secs.load(Ordering::Relaxed).saturating_mul(2).max(86_400);
        let sql = format!(
            "SELECT site_id, endpoint, toUInt32(any(last_ok)) AS ok_at, \
             toUInt32(minIf(attempted_at, status IN ({FAILED}) AND attempted_at > last_ok)) AS since \
             FROM webhook_deliveries ANY INNER JOIN \
             (SELECT site_id, endpoint, maxIf(attempted_at, status IN ({OK})) AS last_ok \
              FROM webhook_deliveries WHERE attempted_at > now() - {window} \
              GROUP BY site_id, endpoint) AS last USING (site_id, endpoint) \
             WHERE attempted_at > now() - {window} \
             GROUP BY site_id, endpoint"
        );
        let rows: Vec<Streak> = client.query(&sql).fetch_all().await?;
        let cleared = self.cleared().clone();
        let mut map = self.map();
        for r in &rows {
            let key = (r.site_id.clone(), r.endpoint.clone());
            if r.since == 0 {
                // Not failing as far as ClickHouse knows: forget a local streak only if a
                // success came after it began (this collector's failures may not be stored yet).
                if map.get(&key).is_some_and(|&local| local <= u64::from(r.ok_at) * 1000) {
                    map.remove(&key);
                }
            } else {
                let since = u64::from(r.since) * 1000;
                if cleared.get(&key).is_some_and(|&at| since < at) {
                    continue; // ended here after it began; the end is not stored yet
                }
                let e = map.entry(key).or_insert(since);
                *e = (*e).min(since);
            }
        }
        Ok(rows.len())
    }
}

/// `POST /v1/admin/webhooks/enable`.
#[derive(Debug, Deserialize)]
pub struct EnableRequest {
    /// Site id.
    pub site: String,
    /// The endpoint's URL.
    pub url: String,
}

/// `POST /v1/admin/webhooks/enable {"site","url"}`: ends the endpoint's
/// failing streak (an `enabled` row every collector reads back).
pub async fn enable(
    State(state): State<AppState>,
    _: Admin,
    Json(req): Json<EnableRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let site = state.site(&req.site).ok_or_else(|| ApiError::NotFound("unknown site".into()))?;
    let known = site.webhooks.iter().any(|w| w.url == req.url)
        || state.automations.subscriptions.of(&req.site).iter().any(|s| s.endpoint.url == req.url);
    if !known {
        return Err(ApiError::NotFound("no such endpoint for this site".into()));
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    state.automations.queue.health.enable(&req.site, &req.url, now);
    let d = super::deliver::Delivery {
        id: format!("enable_{}", uuid::Uuid::new_v4().simple()),
        site: req.site.clone(),
        url: req.url.clone(),
        secret: String::new(),
        trigger: String::new(),
        event_id: String::new(),
        lead_id: String::new(),
        body: String::new(),
        attempts: 0,
        next_at: u64::MAX,
        consent_root: String::new(),
        subscription: None,
    };
    super::deliver::record(&state.sink, &d, "enabled", 0, "enabled by an operator", 0);
    Ok(Json(serde_json::json!({ "site": req.site, "url": req.url, "enabled": true })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streak_of_failures_disables_and_a_success_or_enabling_ends_it() {
        let h = Health::default();
        h.set_disable_after(10);
        h.attempted("s", "u", false, 1_000);
        h.attempted("s", "u", false, 5_000);
        assert_eq!(h.failing_since("s", "u"), Some(1_000), "the streak starts at the first failure");
        assert!(!h.disabled("s", "u", 10_999));
        assert!(h.disabled("s", "u", 11_000));
        assert!(!h.disabled("s", "other", 11_000));
        h.attempted("s", "u", true, 12_000);
        assert!(!h.disabled("s", "u", 99_000), "a success ends it");
        h.attempted("s", "u", false, 100_000);
        h.enable("s", "u", 100_500);
        assert!(!h.disabled("s", "u", 999_000), "enabling ends it");
    }
}
