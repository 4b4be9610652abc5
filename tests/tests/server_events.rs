//! Server-side conversions against the real collector and ClickHouse: Stripe
//! webhooks verified by signature, an order reported by the browser and by
//! Stripe counted once, a refund netting it to 0 in every revenue query, a
//! server report with the visitor's `vid` or a known lead joining that
//! visitor's story, and the site key guarding `/v1/server/events`.
#![allow(clippy::unwrap_used, missing_docs)]

use hmac::{Hmac, Mac};
use ktra_collector::config::{TriggerFilter, WebhookEndpoint};
use ktra_tests::receiver::Receiver;
use ktra_tests::*;
use serde_json::{json, Value};
use sha2::Sha256;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const STRIPE_SECRET: &str = "whsec_stripe_test_secret_0123456789";
const KEY: &str = "site-key-0123456789abcdef-0123456789";
const OTHER_KEY: &str = "other-key-0123456789abcdef-012345678";

fn stripe_signature(body: &str, t: i64) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(STRIPE_SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let sig: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={t},v1={sig}")
}

async fn stripe(c: &TestCollector, body: &Value, signature: Option<String>) -> (u16, Value) {
    let body = body.to_string();
    let sig = signature.unwrap_or_else(|| stripe_signature(&body, now_ms() / 1000));
    let r = c
        .http
        .post(format!("{}/v1/server/stripe/{}", c.url, c.site))
        .header("stripe-signature", sig)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn server_events(c: &TestCollector, key: &str, site: &str, events: Vec<Value>) -> (u16, Value) {
    let r = c
        .http
        .post(format!("{}/v1/server/events", c.url))
        .bearer_auth(key)
        .json(&json!({"site": site, "events": events}))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Every library query that reports revenue, with its purchases and revenue summed over its rows.
async fn revenue_everywhere(c: &TestCollector) -> Vec<(&'static str, f64, f64)> {
    let (from, to) = (now_ms() / 1000 - 86_400, now_ms() / 1000 + 3600);
    let mut out = Vec::new();
    for (query, purchases, revenue) in [
        ("channels", "purchases", "revenue"),
        ("utm_campaigns", "purchases", "revenue"),
        ("attribution_touches", "last_touch_purchases", "last_touch_revenue"),
        ("attribution_purchases", "", "revenue"),
        ("email_click_to_purchase", "purchases", "revenue"),
    ] {
        let url = format!("{}/v1/stats/{query}?site={}&from={from}&to={to}", c.url, c.site);
        let v: Value = c.http.get(url).bearer_auth(ADMIN_KEY).send().await.unwrap().json().await.unwrap();
        let rows = v["rows"].as_array().unwrap_or_else(|| panic!("{query}: {v}"));
        let p = if purchases.is_empty() { rows.len() as f64 } else { rows.iter().map(|r| num(&r[purchases])).sum() };
        out.push((query, p, rows.iter().map(|r| num(&r[revenue])).sum()));
    }
    // The dashboard's headline numbers and a purchase goal.
    let range = format!("site={}&from={from}&to={to}", c.site);
    let get = |path: String| async move {
        let r = c.http.get(format!("{}{path}", c.url)).bearer_auth(ADMIN_KEY).send().await.unwrap();
        r.json::<Value>().await.unwrap()
    };
    let traffic = get(format!("/v1/stats/traffic?{range}")).await;
    out.push(("traffic summary", num(&traffic["summary"]["purchases"]), num(&traffic["summary"]["revenue"])));
    let goals = get(format!("/v1/stats/goals?{range}")).await;
    let buy = goals["rows"].as_array().into_iter().flatten().find(|g| g["goal"] == "buy").cloned().unwrap_or_default();
    out.push(("goal buy", num(&buy["conversions"]), num(&buy["revenue"])));
    out
}

fn checkout(session: &str, vid: &str, amount: i64) -> Value {
    json!({"id": format!("evt_{session}"), "type": "checkout.session.completed", "created": now_ms() / 1000,
        "data": {"object": {"id": session, "object": "checkout.session", "created": now_ms() / 1000,
            "amount_total": amount, "currency": "eur", "payment_status": "paid", "payment_intent": "pi_1",
            "client_reference_id": vid, "customer_details": {"email": "ada@example.com"},
            "metadata": {"price_id": "price_A"}}}})
}

#[tokio::test]
async fn stripe_and_browser_report_one_order_once_and_a_refund_nets_it_to_zero_everywhere() {
    let ch = Ch::fresh("srv_stripe").await;
    let mut cfg = test_config(&ch);
    let rx = Receiver::start(vec![]).await;
    cfg.webhooks.allow_private_targets = true;
    let site = cfg.sites.get_mut(&ch.name).unwrap();
    site.stripe_signing_secret = STRIPE_SECRET.into();
    site.api_keys = vec![KEY.into()];
    site.products.insert("price_A".into(), "course-a".into());
    let buy = ktra_collector::stats::defs::Goal { event: Some("purchase".into()), ..Default::default() };
    site.goals.insert("buy".into(), buy);
    site.webhooks = vec![WebhookEndpoint {
        url: rx.url.clone(),
        secret: "whsec_dGVzdC1zZWNyZXQtdGVzdC1zZWNyZXQ=".into(),
        triggers: vec!["purchase".into(), "refund".into()],
        filter: TriggerFilter::default(),
        ..Default::default()
    }];
    let c = TestCollector::start(cfg).await;

    // A lead arrives from a campaign and buys on the thank-you page (browser).
    let token = c.grant_site().await;
    let mut batch = c.batch(
        &token,
        "vid-ada",
        "sid-1",
        vec![
            event("page_view", "https://shop.example/pricing", json!({})),
            event("identify", "https://shop.example/pricing", json!({"lead_id": "lead-ada"})),
            event(
                "purchase",
                "https://shop.example/thanks",
                json!({"order_id": "cs_test_1", "value": 49.0, "currency": "EUR", "product_id": "course-a"}),
            ),
        ],
    );
    batch["utm"] = json!({"source": "newsletter", "medium": "email", "campaign": "spring"});
    assert_eq!(c.post(&batch).await.0, 202);

    // A forged Stripe call is refused and stores nothing; the signed one lands.
    let body = checkout("cs_test_1", "vid-ada", 4900);
    let forged = stripe_signature(&body.to_string().replace("4900", "1"), now_ms() / 1000);
    let (s, v) = stripe(&c, &body, Some(forged)).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("bad_signature")), "{v}");
    let stale = stripe_signature(&body.to_string(), now_ms() / 1000 - 600);
    assert_eq!(stripe(&c, &body, Some(stale)).await.0, 400, "outside the 5-minute tolerance");
    let (s, v) = stripe(&c, &body, None).await;
    assert_eq!((s, v["accepted"].as_u64()), (202, Some(1)), "{v}");
    assert_eq!(stripe(&c, &body, None).await.0, 202, "Stripe's retry of the same event");
    let sql = "SELECT count() FROM events FINAL WHERE event_type = 'purchase'";
    assert_eq!(ch.wait_count(sql, 2, WAIT).await, 2, "the browser's report and Stripe's (its retry folded)");
    let server =
        ch.rows("SELECT visitor_id, product_id, revenue, lead_id FROM events FINAL WHERE source = 'server'").await;
    assert_eq!(server.len(), 1, "{server:?}");
    assert_eq!(server[0]["visitor_id"], "vid-ada", "client_reference_id is the visitor");
    assert_eq!(server[0]["product_id"], "course-a", "mapped through [sites.ID.products]");
    assert!(server[0]["lead_id"].as_str().unwrap().starts_with("sha256:"), "the email, hashed");

    // One order, once, everywhere.
    for (query, purchases, revenue) in revenue_everywhere(&c).await {
        if query == "email_click_to_purchase" {
            assert_eq!((purchases, revenue), (0.0, 0.0), "no email click in this story");
            continue;
        }
        assert_eq!((purchases, revenue), (1.0, 49.0), "{query}");
    }
    let touch = c.http.get(format!(
        "{}/v1/stats/attribution_purchases?site={}&from={}&to={}",
        c.url,
        c.site,
        now_ms() / 1000 - 86_400,
        now_ms() / 1000 + 3600
    ));
    let v: Value = touch.bearer_auth(ADMIN_KEY).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        (v["rows"][0]["order_id"].as_str(), v["rows"][0]["last_touch"].as_str()),
        (Some("cs_test_1"), Some("spring"))
    );

    // The purchase trigger fired once for the order, though two reports came.
    let got = rx.wait_for(1, WAIT).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let purchases: Vec<Value> = rx.bodies().into_iter().filter(|b| b["type"] == "purchase").collect();
    assert_eq!(purchases.len(), 1, "{got:?}");
    assert_eq!(purchases[0]["data"]["order_id"], "cs_test_1");

    // Stripe refunds the charge: the order nets to 0 in every query.
    let refund = json!({"id": "evt_refund_1", "type": "charge.refunded", "data": {"object": {"id": "ch_1",
        "created": now_ms() / 1000, "amount_refunded": 4900, "currency": "eur", "payment_intent": "pi_1"}}});
    let (s, v) = stripe(&c, &refund, None).await;
    assert_eq!((s, v["accepted"].as_u64()), (202, Some(1)), "{v}");
    let sql =
        "SELECT count() FROM events FINAL WHERE event_type = 'refund' AND order_id = 'cs_test_1' AND revenue = -49";
    assert_eq!(ch.wait_count(sql, 1, WAIT).await, 1, "found its order through the payment intent");
    for (query, _, revenue) in revenue_everywhere(&c).await {
        assert_eq!(revenue, 0.0, "{query}: net of the refund");
    }
    let refunds = rx.wait_for(2, WAIT).await;
    assert!(refunds.len() >= 2, "the refund trigger: {refunds:?}");
    c.stop().await;
}

#[tokio::test]
async fn server_events_need_the_sites_key_and_join_the_visitors_story() {
    let ch = Ch::fresh("srv_events").await;
    let mut cfg = test_config(&ch);
    cfg.sites.get_mut(&ch.name).unwrap().api_keys = vec![KEY.into()];
    let mut other = site();
    other.api_keys = vec![OTHER_KEY.into()];
    cfg.sites.insert("zz_other".into(), other);
    let c = TestCollector::start(cfg).await;
    let order = |id: &str, extra: Value| {
        let mut e = json!({"id": uuid::Uuid::new_v4().to_string(), "type": "purchase", "order_id": id,
            "value": 30.0, "currency": "EUR"});
        e.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        e
    };

    // Attacks first: no key, a wrong key, another site's key, a refund from a browser.
    let r = c
        .http
        .post(format!("{}/v1/server/events", c.url))
        .json(&json!({"site": c.site, "events": [order("x", json!({}))]}));
    assert_eq!(r.send().await.unwrap().status(), 401);
    assert_eq!(
        server_events(&c, "wrong-key-0123456789abcdef-0123456789", &c.site, vec![order("x", json!({}))]).await.0,
        401
    );
    let (s, v) = server_events(&c, OTHER_KEY, &c.site, vec![order("x", json!({}))]).await;
    assert_eq!(s, 403, "a site key acts for its own site only: {v}");
    let token = c.grant_site().await;
    let forged =
        event("refund", "https://shop.example/", json!({"order_id": "A-1", "value": 1000.0, "currency": "EUR"}));
    let (s, v) = c.post(&c.batch(&token, "vid-x", "sid-x", vec![forged])).await;
    assert_eq!((s, v["rejected"][0]["reason"].as_str()), (400, Some("server_only")), "{v}");
    let bad = server_events(&c, KEY, &c.site, vec![order("x", json!({"vid": "not a vid!"}))]).await;
    assert_eq!((bad.0, bad.1["rejected"][0]["reason"].as_str()), (400, Some("bad_value")), "{bad:?}");

    // A visitor from a campaign identifies as a lead; the checkout reports two orders:
    // one naming the visitor's ktra_vid, one naming only the lead.
    let mut batch = c.batch(
        &token,
        "vid-bo",
        "sid-bo",
        vec![
            event("page_view", "https://shop.example/", json!({})),
            event("identify", "https://shop.example/", json!({"lead_id": "lead-bo"})),
        ],
    );
    batch["utm"] = json!({"source": "google", "medium": "cpc", "campaign": "autumn"});
    assert_eq!(c.post(&batch).await.0, 202);
    let (s, v) = server_events(
        &c,
        KEY,
        &c.site,
        vec![
            order("A-2", json!({"vid": "vid-bo"})),
            order("A-3", json!({"lead_id": "lead-bo"})),
            json!({"id": uuid::Uuid::new_v4().to_string(), "type": "refund", "order_id": "A-3", "value": 10.0, "currency": "EUR"}),
            json!({"id": uuid::Uuid::new_v4().to_string(), "type": "lead", "lead_id": "lead-new"}),
        ],
    )
    .await;
    assert_eq!((s, v["accepted"].as_u64()), (202, Some(4)), "{v}");
    let sql = "SELECT count() FROM events FINAL WHERE source = 'server'";
    assert_eq!(ch.wait_count(sql, 4, WAIT).await, 4);
    assert_eq!(ch.count("SELECT count() FROM events FINAL WHERE source = 'server' AND channel != ''").await, 0);
    assert_eq!(
        ch.count("SELECT count() FROM sessions WHERE session_id = ''").await,
        0,
        "server reports start no session"
    );
    let (from, to) = (now_ms() / 1000 - 86_400, now_ms() / 1000 + 3600);
    let url = format!("{}/v1/stats/attribution_purchases?site={}&from={from}&to={to}", c.url, c.site);
    let v: Value = c.http.get(url).bearer_auth(ADMIN_KEY).send().await.unwrap().json().await.unwrap();
    let rows = v["rows"].as_array().unwrap();
    let find = |o: &str| rows.iter().find(|r| r["order_id"] == o).unwrap_or_else(|| panic!("{o}: {v}"));
    for (o, net) in [("A-2", 30.0), ("A-3", 20.0)] {
        assert_eq!(find(o)["visitor_id"], "vid-bo", "{o}: the visitor's order");
        assert_eq!((find(o)["last_touch"].as_str(), num(&find(o)["revenue"])), (Some("autumn"), net), "{o}");
    }
    c.stop().await;
}
