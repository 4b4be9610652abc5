//! `POST /v1/server/stripe/{site}`: Stripe webhooks, verified with the
//! site's `stripe_signing_secret`, become server events:
//!
//! | Stripe event | ktra event |
//! | --- | --- |
//! | `checkout.session.completed` (paid), `checkout.session.async_payment_succeeded` | `purchase` of `amount_total` |
//! | `charge.refunded` | `refund` of `amount_refunded` (cumulative, one row per charge: a later partial refund replaces it) |
//! | `customer.subscription.deleted` | `subscription_cancel` |
//!
//! Anything else is answered 200 and ignored, so Stripe stops resending it.
//!
//! The order id is `metadata.order_id` when the site set one (and passed the
//! same id to `ktra('purchase', …)` on its thank-you page), else the checkout
//! session id (what `{CHECKOUT_SESSION_ID}` in a success URL gives the page).
//! A refund or a cancellation names the payment intent or the subscription,
//! not the session: it finds its order through the purchase row, which keeps
//! those ids in `props` (`stripe_payment_intent`, `stripe_subscription`).
//! `client_reference_id` or `metadata.ktra_vid` is the visitor; `metadata.lead_id`
//! the lead; the customer's email becomes the same hashed lead id `identify`
//! stores. Event ids derive from Stripe's object ids, so Stripe's retries and
//! replays are stored once.
//!
//! Signature (Stripe's scheme): `Stripe-Signature: t=<unix>,v1=<hex>`, the
//! HMAC-SHA256 of `"{t}.{body}"` keyed with the whole `whsec_…` string,
//! accepted within 5 minutes of `t`.
use super::{ingest, refused};
use crate::error::ApiError;
use crate::ingest::body::read_limited;
use crate::ingest::events::{respond, Outcome, Refusal};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use ktra_schema::limits::{MAX_BODY_BYTES, MAX_ID_LEN};
use ktra_schema::server::ServerEvent;
use ktra_schema::validate::is_token_id;
use ktra_schema::{RawEvent, RejectReason};
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// How far `t` may lie from now, in seconds (Stripe's default tolerance).
pub const TOLERANCE_SECS: i64 = 300;

/// Stripe's signature header.
pub const SIGNATURE_HEADER: &str = "stripe-signature";

/// Checks a `Stripe-Signature` header for `body` at `now` (Unix seconds).
pub fn verify(secret: &str, header: &str, body: &[u8], now: i64) -> Result<(), &'static str> {
    if secret.is_empty() {
        return Err("no stripe_signing_secret is configured for this site");
    }
    let mut t = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.push(v),
            _ => {}
        }
    }
    let t = t.ok_or("Stripe-Signature has no timestamp")?;
    if (now - t).abs() > TOLERANCE_SECS {
        return Err("Stripe-Signature timestamp is outside the 5-minute tolerance");
    }
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).map_err(|_| "bad secret")?;
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let want = hex(&mac.finalize().into_bytes());
    if signatures.iter().any(|s| s.len() == want.len() && bool::from(s.as_bytes().ct_eq(want.as_bytes()))) {
        Ok(())
    } else {
        Err("no v1 signature of Stripe-Signature matches")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A stable event id for a Stripe object of a site (a name-based UUID, version 8).
pub fn event_id(site: &str, key: &str) -> String {
    let d = Sha256::digest(format!("stripe\0{site}\0{key}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(b).hyphenated().to_string()
}

/// Minor units → the currency's unit (Stripe amounts are integers in the
/// smallest unit; zero-decimal and three-decimal currencies differ).
pub fn amount(minor: i64, currency: &str) -> f64 {
    const ZERO: &[&str] = &[
        "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf",
    ];
    const THREE: &[&str] = &["bhd", "jod", "kwd", "omr", "tnd"];
    let c = currency.to_ascii_lowercase();
    let scale = if ZERO.contains(&c.as_str()) {
        1.0
    } else if THREE.contains(&c.as_str()) {
        1000.0
    } else {
        100.0
    };
    minor as f64 / scale
}

fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k)).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// A visitor id the checkout passed on, if it looks like one.
fn visitor(obj: &Value) -> Option<String> {
    [text(obj, &["metadata", "ktra_vid"]), text(obj, &["client_reference_id"])]
        .into_iter()
        .flatten()
        .find(|v| v.len() <= MAX_ID_LEN && is_token_id(v))
        .map(str::to_string)
}

/// What a Stripe event says, before its order is resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The ktra event (`order_id` may still be a Stripe object id, see `lookup`).
    pub event: ServerEvent,
    /// A Stripe id (payment intent, subscription) to find the order by, when
    /// the event did not name it.
    pub lookup: Option<String>,
}

/// Maps a verified Stripe event; `Ok(None)` for types ktra does not store.
pub fn map(site: &str, ev: &Value) -> Result<Option<Report>, String> {
    let kind = ev.get("type").and_then(Value::as_str).ok_or("no type")?;
    let obj = ev.pointer("/data/object").ok_or("no data.object")?;
    let id = text(obj, &["id"]).ok_or("data.object has no id")?;
    let created = obj.get("created").and_then(Value::as_i64).or_else(|| ev.get("created").and_then(Value::as_i64));
    let currency = text(obj, &["currency"]).map(str::to_ascii_uppercase);
    let lead_id = text(obj, &["metadata", "lead_id"]).or(text(obj, &["metadata", "ktra_lead"])).map(str::to_string);
    let own_order = text(obj, &["metadata", "order_id"]).map(str::to_string);
    let mut props = std::collections::BTreeMap::new();
    let base = |kind: &str, key: String| RawEvent {
        id: event_id(site, &key),
        kind: kind.into(),
        ts: created.map(|s| s.saturating_mul(1000)),
        currency: currency.clone(),
        lead_id: lead_id.clone(),
        ..Default::default()
    };
    let report = match kind {
        // A delayed payment method completes the session unpaid and succeeds later: one
        // purchase either way (its id derives from the session).
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            if !matches!(text(obj, &["payment_status"]), Some("paid" | "no_payment_required") | None) {
                return Ok(None); // unpaid yet: `checkout.session.async_payment_succeeded` follows
            }
            for (name, path) in [("stripe_payment_intent", "payment_intent"), ("stripe_subscription", "subscription")] {
                if let Some(v) = text(obj, &[path]) {
                    props.insert(name.to_string(), ktra_schema::wire::PropValue::Str(v.into()));
                }
            }
            props.insert("stripe_checkout_session".into(), ktra_schema::wire::PropValue::Str(id.into()));
            let minor = obj.get("amount_total").and_then(Value::as_i64).ok_or("no amount_total")?;
            let product = text(obj, &["metadata", "product_id"])
                .or(text(obj, &["metadata", "price_id"]))
                .or_else(|| obj.pointer("/line_items/data/0/price/id").and_then(Value::as_str))
                .map(str::to_string);
            let event = RawEvent {
                order_id: Some(own_order.unwrap_or_else(|| id.to_string())),
                value: Some(amount(minor, currency.as_deref().unwrap_or(""))),
                product_id: product,
                email: text(obj, &["customer_details", "email"]).map(str::to_string),
                props: Some(props),
                ..base("purchase", format!("purchase/{id}"))
            };
            Report { event: ServerEvent { event, vid: visitor(obj) }, lookup: None }
        }
        "charge.refunded" => {
            let minor = obj.get("amount_refunded").and_then(Value::as_i64).ok_or("no amount_refunded")?;
            let intent = text(obj, &["payment_intent"]).map(str::to_string);
            let event = RawEvent {
                order_id: Some(own_order.clone().or(intent.clone()).unwrap_or_else(|| id.to_string())),
                value: Some(amount(minor, currency.as_deref().unwrap_or(""))),
                ..base("refund", format!("refund/{id}"))
            };
            Report { event: ServerEvent { event, vid: None }, lookup: own_order.is_none().then_some(intent).flatten() }
        }
        "customer.subscription.deleted" => {
            let product = obj
                .pointer("/items/data/0/price/id")
                .or_else(|| obj.pointer("/items/data/0/price/product"))
                .and_then(Value::as_str)
                .map(str::to_string);
            let event = RawEvent {
                order_id: Some(own_order.clone().unwrap_or_else(|| id.to_string())),
                product_id: product,
                currency: None,
                ..base("subscription_cancel", format!("cancel/{id}"))
            };
            Report { event: ServerEvent { event, vid: None }, lookup: own_order.is_none().then(|| id.to_string()) }
        }
        _ => return Ok(None),
    };
    Ok(Some(report))
}

/// The order a refund or cancellation is about, and its visitor and lead:
/// the Stripe purchase row whose order id is `order`, or which keeps Stripe
/// object `id` in its props.
async fn order_of(state: &AppState, site: &str, order: &str, id: &str) -> Option<(String, String, String)> {
    let sql = "SELECT order_id, visitor_id, lead_id FROM events WHERE site_id = ? AND event_type = 'purchase' \
               AND source = 'server' AND (order_id = ? OR has(props.value, ?)) ORDER BY ts_ms LIMIT 1";
    let q = state.clickhouse.query(sql).bind(site).bind(order).bind(id);
    q.fetch_optional::<(String, String, String)>().await.ok().flatten()
}

/// The handler.
pub async fn post_stripe(
    State(state): State<AppState>,
    Path(site_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match handle(&state, &site_id, &headers, body).await {
        Ok(Some(outcome)) => respond(Ok(outcome)),
        Ok(None) => axum::Json(serde_json::json!({ "ignored": true })).into_response(),
        Err(refusal) => respond(Err(refusal)),
    }
}

async fn handle(state: &AppState, site_id: &str, headers: &HeaderMap, body: Body) -> Result<Option<Outcome>, Refusal> {
    let Some(site) = state.site(site_id) else {
        return Err(refused("unknown", 0, ApiError::NotFound("unknown site".into())));
    };
    let bytes = read_limited(headers, body, MAX_BODY_BYTES).await.map_err(|e| refused(site_id, 0, e))?;
    let header = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    let now = crate::ingest::events::now_ms() / 1000;
    verify(&site.stripe_signing_secret, header, &bytes, now)
        .map_err(|why| refused(site_id, 1, ApiError::bad(RejectReason::BadSignature, why)))?;
    // Spent only by signed calls: forged ones cannot use up the site's budget.
    state.site_limit.check(&site_id.to_string()).map_err(|w| refused(site_id, 1, ApiError::RateLimited(w)))?;
    let ev: Value = serde_json::from_slice(&bytes)
        .map_err(|e| refused(site_id, 1, ApiError::bad(RejectReason::MalformedJson, e.to_string())))?;
    let report = map(site_id, &ev).map_err(|e| refused(site_id, 1, ApiError::bad(RejectReason::InvalidEvent, e)))?;
    let Some(Report { mut event, lookup }) = report else { return Ok(None) };
    if event.event.kind != "purchase" {
        // The purchase row gives the order id (when Stripe named another object) and its visitor and lead.
        let order = event.event.order_id.clone().unwrap_or_default();
        if let Some((order, vid, lead)) = order_of(state, site_id, &order, lookup.as_deref().unwrap_or("")).await {
            event.event.order_id = Some(order);
            event.vid = event.vid.or((!vid.is_empty()).then_some(vid));
            event.event.lead_id = event.event.lead_id.or((!lead.is_empty()).then_some(lead));
        }
    }
    let raw =
        serde_json::value::to_raw_value(&event).map_err(|e| refused(site_id, 1, ApiError::Internal(e.to_string())))?;
    ingest(state, site_id, site, &[raw], bytes.len()).await.map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sign(secret: &str, t: i64, body: &[u8]) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        format!("t={t},v1={}", hex(&mac.finalize().into_bytes()))
    }

    #[test]
    fn signatures_are_checked_with_a_tolerance() {
        let (secret, body, t) = ("whsec_test_secret", br#"{"id":"evt_1"}"#.as_slice(), 1_800_000_000);
        let header = sign(secret, t, body);
        assert_eq!(verify(secret, &header, body, t + 10), Ok(()));
        // Rotated secrets: any v1 may match.
        assert_eq!(verify(secret, &format!("t={t},v1=00ff,{}", &header[13..]), body, t), Ok(()));
        assert!(verify(secret, &header, b"{\"id\":\"evt_2\"}", t).is_err(), "other body");
        assert!(verify("whsec_other", &header, body, t).is_err(), "other secret");
        assert!(verify(secret, &header, body, t + TOLERANCE_SECS + 1).is_err(), "too old");
        assert!(verify(secret, &header, body, t - TOLERANCE_SECS - 1).is_err(), "from the future");
        assert!(verify(secret, "v1=abc", body, t).is_err(), "no timestamp");
        assert!(verify("", &header, body, t).is_err(), "no secret configured");
    }

    #[test]
    fn checkout_refund_and_cancel_map_to_one_order() {
        let checkout = json!({"id": "evt_1", "type": "checkout.session.completed", "data": {"object": {
            "id": "cs_test_1", "created": 1_800_000_000, "amount_total": 4900, "currency": "eur",
            "payment_status": "paid", "payment_intent": "pi_1", "client_reference_id": "vid-123",
            "customer_details": {"email": "ada@example.com"}, "metadata": {"price_id": "price_A"}}}});
        let r = map("demo", &checkout).unwrap().unwrap();
        assert_eq!(r.event.event.kind, "purchase");
        assert_eq!((r.event.event.order_id.as_deref(), r.event.event.value), (Some("cs_test_1"), Some(49.0)));
        assert_eq!(r.event.event.currency.as_deref(), Some("EUR"));
        assert_eq!(r.event.vid.as_deref(), Some("vid-123"));
        assert_eq!(r.event.event.product_id.as_deref(), Some("price_A"));
        assert_eq!(r.event.event.ts, Some(1_800_000_000_000));
        assert_eq!(r.lookup, None);
        assert_eq!(map("demo", &checkout).unwrap().unwrap().event.event.id, r.event.event.id, "stable id");
        let refund = json!({"type": "charge.refunded", "data": {"object": {"id": "ch_1", "created": 1,
            "amount_refunded": 4900, "currency": "eur", "payment_intent": "pi_1"}}});
        let r = map("demo", &refund).unwrap().unwrap();
        assert_eq!((r.event.event.kind.as_str(), r.event.event.value), ("refund", Some(49.0)));
        assert_eq!(r.lookup.as_deref(), Some("pi_1"), "found through the purchase's props");
        let cancel = json!({"type": "customer.subscription.deleted", "data": {"object": {"id": "sub_1",
            "metadata": {"order_id": "A-7"}}}});
        let r = map("demo", &cancel).unwrap().unwrap();
        assert_eq!((r.event.event.order_id.as_deref(), r.lookup), (Some("A-7"), None));
        assert!(map("demo", &json!({"type": "invoice.paid", "data": {"object": {"id": "in_1"}}})).unwrap().is_none());
        let unpaid = json!({"type": "checkout.session.completed", "data": {"object": {"id": "cs_2",
            "amount_total": 100, "currency": "usd", "payment_status": "unpaid"}}});
        assert!(map("demo", &unpaid).unwrap().is_none());
        let mut later = unpaid.clone();
        later["type"] = json!("checkout.session.async_payment_succeeded");
        later["data"]["object"]["payment_status"] = json!("paid");
        let paid = map("demo", &later).unwrap().unwrap();
        assert_eq!((paid.event.event.kind.as_str(), paid.event.event.value), ("purchase", Some(1.0)));
    }

    #[test]
    fn amounts_follow_the_currency_exponent() {
        assert_eq!(amount(4900, "EUR"), 49.0);
        assert_eq!(amount(4900, "jpy"), 4900.0);
        assert_eq!(amount(4900, "KWD"), 4.9);
    }
}
