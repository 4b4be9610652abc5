//! Webhook deliveries you can trust (Standard Webhooks): a stable
//! `webhook-id` across retries, `webhook-timestamp`, and `webhook-signature:
//! v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` with the endpoint's
//! `whsec_` secret. 2xx is delivered; anything else is retried on the
//! configured schedule (8 attempts over about 27.6 hours by default), at most
//! `concurrency_per_endpoint` attempts in flight per endpoint. Pending
//! deliveries live in `webhooks.jsonl` beside the spool, written before an
//! attempt and after its outcome, so a crash between attempts neither loses
//! nor repeats a delivery (a crash during an attempt may repeat that attempt,
//! with the same `webhook-id`, for the receiver to fold). Every attempt is a
//! `webhook_deliveries` row.
use crate::config::{WebhookEndpoint, WebhooksConfig};
use crate::sink::journal::Journal;
use crate::sink::{Rows, Sink};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use ktra_schema::row::{EventRow, WebhookDeliveryRow};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify, Semaphore};

/// Delivery attempts, by outcome (one of [`STATUSES`]).
pub const WEBHOOK_ATTEMPTS: &str = "ktra_webhook_attempts_total";

/// Every `webhook_deliveries.status`: an attempt's outcome (`delivered`, `failed`, `gave_up` after
/// the last retry, `gone` for a REST hook's 410), a delivery ended without an attempt (`dropped`
/// by a withdrawal, `disabled` endpoint), or an operator's `enabled`.
pub const STATUSES: [&str; 7] = ["delivered", "failed", "gave_up", "gone", "dropped", "disabled", "enabled"];

/// One delivery: what to send where, and where it stands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    /// `webhook-id`.
    pub id: String,
    /// Site.
    pub site: String,
    /// Target URL.
    pub url: String,
    /// `whsec_` secret.
    pub secret: String,
    /// Trigger name.
    pub trigger: String,
    /// The event that fired it.
    pub event_id: String,
    /// The lead.
    pub lead_id: String,
    /// The JSON body (fixed at creation, so every attempt sends the same bytes).
    pub body: String,
    /// Attempts made.
    pub attempts: u16,
    /// Next attempt at, Unix milliseconds.
    pub next_at: u64,
    /// The visitor's consent chain (a withdrawal drops its deliveries).
    #[serde(default)]
    pub consent_root: String,
    /// The REST hook it goes to (a 410 unsubscribes it); none for config endpoints.
    #[serde(default)]
    pub subscription: Option<String>,
}

fn rfc3339(ms: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

impl Delivery {
    /// A delivery of `trigger` for `row` to `endpoint`, due now. Its
    /// `webhook-id` derives from `key` (what fired: site, endpoint, trigger,
    /// `once_per` scope), so that two collectors firing the same trigger (a
    /// purchase reported by the browser to one and by Stripe to another)
    /// send one id, which receivers fold as the Standard Webhooks spec asks.
    pub fn new(
        endpoint: &WebhookEndpoint,
        trigger: super::Trigger,
        row: &EventRow,
        (lead_id, message_id): (&str, &str),
        key: &str,
        now_ms: u64,
    ) -> Self {
        let digest = <Sha256 as sha2::Digest>::digest(key.as_bytes());
        let id = format!("msg_{}", digest[..16].iter().map(|b| format!("{b:02x}")).collect::<String>());
        let body = serde_json::json!({
            "type": trigger.as_str(),
            "timestamp": rfc3339(now_ms),
            "data": {
                "site": row.site_id, "lead_id": lead_id, "visitor_id": row.visitor_id,
                "session_id": row.session_id, "event_id": row.event_id.to_string(), "event_type": row.event_type,
                "url": row.url, "path": row.path, "video_id": row.video_id, "form_id": row.form_id,
                "product_id": row.product_id, "order_id": row.order_id, "revenue": row.revenue,
                "currency": row.currency, "source": row.source, "message_id": message_id, "email_click_id": row.email_click_id,
                "utm": {"source": row.utm_source, "medium": row.utm_medium, "campaign": row.utm_campaign},
                "email": {"message_id": message_id, "click_id": row.email_click_id},
            }
        })
        .to_string();
        Self {
            id,
            site: row.site_id.clone(),
            url: endpoint.url.clone(),
            secret: endpoint.secret.clone(),
            trigger: trigger.as_str().into(),
            event_id: row.event_id.to_string(),
            lead_id: lead_id.into(),
            body,
            attempts: 0,
            next_at: now_ms,
            consent_root: row.consent_root.clone(),
            subscription: None,
        }
    }
}

/// The key of a `whsec_<base64>` secret.
pub fn secret_key(secret: &str) -> Result<Vec<u8>, String> {
    let b64 = secret.strip_prefix("whsec_").ok_or("the secret must start with whsec_")?;
    let key = B64.decode(b64).map_err(|_| "the secret after whsec_ must be base64")?;
    if key.len() < 16 {
        return Err("the secret must be at least 16 bytes".into());
    }
    Ok(key)
}

/// `v1,<signature>` of a message (Standard Webhooks).
pub fn sign(secret: &str, id: &str, timestamp: u64, body: &str) -> Result<String, String> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&secret_key(secret)?).map_err(|e| e.to_string())?;
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    Ok(format!("v1,{}", B64.encode(mac.finalize().into_bytes())))
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.octets()[0] == 100 && (64..128).contains(&v4.octets()[1])
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6.to_ipv4_mapped().is_some_and(|v4| is_private(IpAddr::V4(v4)))
        }
    }
}

/// SSRF rules: https and a public host, unless `allow_private`.
pub fn check_target(url: &str, allow_private: bool) -> Result<(), String> {
    let u = url::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    if allow_private {
        return matches!(u.scheme(), "http" | "https").then_some(()).ok_or_else(|| "http(s) only".into());
    }
    if u.scheme() != "https" {
        return Err("https only".into());
    }
    match u.host() {
        Some(url::Host::Ipv4(ip)) if is_private(ip.into()) => Err("a private or loopback address".into()),
        Some(url::Host::Ipv6(ip)) if is_private(ip.into()) => Err("a private or loopback address".into()),
        Some(url::Host::Domain(d)) if d == "localhost" || d.ends_with(".localhost") => Err("localhost".into()),
        None => Err("no host".into()),
        _ => Ok(()),
    }
}

/// Resolves a target's host at send time: every address must be public
/// (a name that resolves to a private address is refused too).
async fn resolves_public(url: &str) -> Result<(), String> {
    let u = url::Url::parse(url).map_err(|e| e.to_string())?;
    let host = u.host_str().ok_or("no host")?.trim_matches(|c| c == '[' || c == ']').to_string();
    let port = u.port_or_known_default().unwrap_or(443);
    let addrs = tokio::net::lookup_host((host.as_str(), port)).await.map_err(|e| e.to_string())?;
    for a in addrs {
        if is_private(a.ip()) {
            return Err(format!("{host} resolves to a private address"));
        }
    }
    Ok(())
}

/// The pending deliveries.
pub struct Queue {
    journal: Journal<Delivery>,
    pending: Mutex<Vec<Delivery>>,
    notify: Notify,
    /// Failing streaks of the endpoints (disabled after `disable_after_secs`).
    pub health: super::health::Health,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue").finish_non_exhaustive()
    }
}

impl Queue {
    /// The queue kept in `dir/webhooks.jsonl` (the last state of each delivery wins).
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        let (journal, items) = Journal::<Delivery>::open(&dir.join("webhooks.jsonl"))?;
        let mut by_id: HashMap<String, Delivery> = HashMap::new();
        for d in items {
            by_id.insert(d.id.clone(), d);
        }
        let mut pending: Vec<Delivery> = by_id.into_values().filter(|d: &Delivery| d.next_at != u64::MAX).collect();
        pending.sort_by_key(|d| d.next_at);
        let q = Self { journal, pending: Mutex::new(pending), notify: Notify::new(), health: Default::default() };
        q.compact();
        Ok(q)
    }

    fn list(&self) -> std::sync::MutexGuard<'_, Vec<Delivery>> {
        self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn compact(&self) {
        let list = self.list();
        if let Err(e) = self.journal.rewrite(list.iter()) {
            tracing::error!(error = %e, "cannot rewrite the webhook queue");
        }
    }

    /// Queues a delivery (on disk before this returns).
    pub fn push(&self, d: Delivery) {
        if let Err(e) = self.journal.append(&d) {
            tracing::error!(error = %e, "cannot persist a webhook delivery");
        }
        self.list().push(d);
        self.notify.notify_one();
    }

    /// Deliveries waiting.
    pub fn len(&self) -> usize {
        self.list().len()
    }

    /// Whether none wait.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops the queued deliveries of a withdrawn consent chain; returns how many.
    pub fn drop_chain(&self, root: &str, sink: &Sink) -> usize {
        let dropped: Vec<Delivery> = {
            let mut list = self.list();
            let (gone, kept) = std::mem::take(&mut *list).into_iter().partition(|d| d.consent_root == root);
            *list = kept;
            gone
        };
        if !dropped.is_empty() {
            self.compact();
            for d in &dropped {
                record(sink, d, "dropped", 0, "consent withdrawn", 0);
            }
        }
        dropped.len()
    }

    /// Sends due deliveries until `stop`; a REST hook whose target answers
    /// 410 is unsubscribed through `subs`.
    pub async fn run(
        self: Arc<Self>,
        cfg: WebhooksConfig,
        sink: Sink,
        subs: Arc<super::hooks::Subscriptions>,
        clickhouse: clickhouse::Client,
        mut stop: watch::Receiver<bool>,
    ) {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(cfg.timeout_secs.max(1)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        self.health.set_disable_after(cfg.disable_after_secs);
        let cfg = Arc::new(cfg);
        let slots: Arc<Mutex<HashMap<String, Arc<Semaphore>>>> = Arc::default();
        let in_flight: Arc<Mutex<std::collections::HashSet<String>>> = Arc::default();
        loop {
            let now = now_ms();
            self.end_disabled(&sink, now);
            let due: Vec<Delivery> = {
                let busy = in_flight.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                self.list().iter().filter(|d| d.next_at <= now && !busy.contains(&d.id)).cloned().collect()
            };
            for d in due {
                let sem = slots
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .entry(d.url.clone())
                    .or_insert_with(|| Arc::new(Semaphore::new(cfg.concurrency_per_endpoint.max(1))))
                    .clone();
                let Ok(permit) = sem.try_acquire_owned() else { continue };
                in_flight.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(d.id.clone());
                let (queue, client, cfg, sink, in_flight) =
                    (self.clone(), client.clone(), cfg.clone(), sink.clone(), in_flight.clone());
                let (subs, ch) = (subs.clone(), clickhouse.clone());
                tokio::spawn(async move {
                    if queue.attempt(&client, &cfg, &sink, d.clone()).await == Some(410) {
                        if let Some(id) = &d.subscription {
                            match subs.unsubscribe(&ch, &d.site, id).await {
                                Ok(_) => tracing::info!(hook = %id, "target answered 410: unsubscribed"),
                                Err(e) => tracing::warn!(hook = %id, error = %e, "cannot unsubscribe after 410"),
                            }
                        }
                    }
                    in_flight.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&d.id);
                    drop(permit);
                    queue.notify.notify_one();
                });
            }
            let next = self.list().iter().map(|d| d.next_at).min().unwrap_or(u64::MAX);
            let wait = Duration::from_millis(next.saturating_sub(now_ms()).clamp(20, 1000));
            tokio::select! {
                _ = crate::sink::wait_true(&mut stop) => return,
                _ = self.notify.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Ends the pending deliveries of disabled endpoints (status `disabled`).
    fn end_disabled(&self, sink: &Sink, now: u64) {
        let ended: Vec<Delivery> = {
            let mut list = self.list();
            let (gone, kept) =
                std::mem::take(&mut *list).into_iter().partition(|d| self.health.disabled(&d.site, &d.url, now));
            *list = kept;
            gone
        };
        if ended.is_empty() {
            return;
        }
        tracing::warn!(deliveries = ended.len(), "endpoints failing too long are disabled: deliveries ended");
        self.compact();
        for d in &ended {
            record(sink, d, "disabled", 0, "the endpoint is disabled (failing too long)", 0);
        }
    }

    /// One attempt; returns the HTTP status, if any.
    async fn attempt(&self, client: &reqwest::Client, cfg: &WebhooksConfig, sink: &Sink, d: Delivery) -> Option<u16> {
        let started = Instant::now();
        let ts = now_ms() / 1000;
        let outcome = async {
            if !cfg.allow_private_targets {
                resolves_public(&d.url).await?;
            }
            let sig = sign(&d.secret, &d.id, ts, &d.body)?;
            let r = client
                .post(&d.url)
                .header("content-type", "application/json")
                .header("webhook-id", &d.id)
                .header("webhook-timestamp", ts.to_string())
                .header("webhook-signature", sig)
                .body(d.body.clone())
                .send()
                .await
                .map_err(|e| e.to_string())?;
            Ok::<u16, String>(r.status().as_u16())
        }
        .await;
        let latency = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
        let attempts = d.attempts.saturating_add(1);
        let (status, http, error) = match &outcome {
            Ok(s) if (200..300).contains(s) => ("delivered", *s, String::new()),
            Ok(410) if d.subscription.is_some() => ("gone", 410, "HTTP 410: unsubscribed".to_string()),
            Ok(s) => ("failed", *s, format!("HTTP {s}")),
            Err(e) => ("failed", 0, e.clone()),
        };
        if status != "gone" {
            self.health.attempted(&d.site, &d.url, status == "delivered", now_ms());
        }
        let schedule = &cfg.retry_schedule_secs;
        let gave_up = status == "failed" && usize::from(attempts) > schedule.len();
        let status = if gave_up { "gave_up" } else { status };
        let updated = {
            let mut list = self.list();
            let Some(pos) = list.iter().position(|p| p.id == d.id) else {
                return None; // dropped meanwhile (withdrawal)
            };
            if status == "failed" {
                let wait_ms = schedule[usize::from(attempts) - 1].saturating_mul(1000);
                let jitter = rand::random::<u64>() % (wait_ms / 10 + 1);
                list[pos].attempts = attempts;
                list[pos].next_at = now_ms() + wait_ms + jitter;
                Some(list[pos].clone())
            } else {
                let mut done = list.remove(pos);
                done.attempts = attempts;
                done.next_at = u64::MAX;
                Some(done)
            }
        };
        if let Some(u) = updated {
            if let Err(e) = self.journal.append(&u) {
                tracing::error!(error = %e, "cannot persist a webhook attempt");
            }
        }
        record(sink, &Delivery { attempts, ..d }, status, http, &error, latency);
        if self.list().is_empty() {
            self.compact();
        }
        outcome.ok()
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Logs an attempt (or a drop, an end, an enabling) as a `webhook_deliveries` row.
pub(crate) fn record(sink: &Sink, d: &Delivery, status: &'static str, http_status: u16, error: &str, latency_ms: u32) {
    metrics::counter!(WEBHOOK_ATTEMPTS, "outcome" => status).increment(1);
    let row = WebhookDeliveryRow {
        delivery_id: d.id.clone(),
        site_id: d.site.clone(),
        endpoint: d.url.clone(),
        trigger_name: d.trigger.clone(),
        event_id: d.event_id.clone(),
        lead_id: d.lead_id.clone(),
        attempt: d.attempts,
        status: status.into(),
        http_status,
        error: ktra_schema::validate::truncate(error, 512).to_string(),
        latency_ms,
        body: d.body.clone(),
        attempted_at: u32::try_from(now_ms() / 1000).unwrap_or(u32::MAX),
    };
    if sink.try_send(Rows::one(row)).is_err() {
        tracing::warn!("webhook attempt not logged: the write queue is full");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_standard_webhooks() {
        // The example of the Standard Webhooks specification's reference tests.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = r#"{"test": 2432232314}"#;
        let sig = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(sign("nope", "id", 1, "{}").is_err());
    }

    #[test]
    fn what_fired_names_the_webhook_id() {
        let endpoint = WebhookEndpoint::default();
        let row = EventRow::default();
        let d = |key: &str| Delivery::new(&endpoint, super::super::Trigger::Purchase, &row, ("l", "m"), key, 0).id;
        assert_eq!(d("s/cfg0/purchase/order/A-1"), d("s/cfg0/purchase/order/A-1"), "the same order, any collector");
        assert_ne!(d("s/cfg0/purchase/order/A-1"), d("s/cfg0/purchase/order/A-2"));
        assert!(d("x").starts_with("msg_") && d("x").len() == 4 + 32);
    }

    #[test]
    fn private_addresses_are_private() {
        for ip in
            ["127.0.0.1", "10.0.0.1", "192.168.1.1", "169.254.1.1", "100.64.0.1", "::1", "fd00::1", "::ffff:10.0.0.1"]
        {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["81.2.69.1", "2001:4860::1"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }
}
