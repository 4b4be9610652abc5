//! The ingest pipeline against the real ClickHouse server: what lands, what
//! is refused, and what is never stored.
#![allow(clippy::unwrap_used, missing_docs)]

use ktra_tests::*;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn every_type() -> Vec<Value> {
    let u = "https://shop.example/landing?utm_source=newsletter&utm_medium=email&utm_campaign=spring";
    vec![
        event("page_view", u, json!({"title": "Landing", "referrer": "https://www.google.com/"})),
        event("scroll", u, json!({"depth": 75})),
        event("engagement", u, json!({"engaged_ms": 12345})),
        event("form_submit", u, json!({"form_id": "lead", "form_action": "/subscribe", "fields": ["email", "name"]})),
        event("video_start", u, json!({"video_id": "intro"})),
        event("video_progress", u, json!({"video_id": "intro", "percent": 50})),
        event("video_complete", u, json!({"video_id": "intro"})),
        event(
            "purchase",
            u,
            json!({"order_id": "A-1", "value": 49.5, "currency": "eur", "product_id": "course", "product_name": "Course"}),
        ),
        event("outbound_click", u, json!({"target": "https://partner.example/x"})),
        event("email_click", u, json!({"click_id": "clk_123"})),
        event("identify", u, json!({"lead_id": "lead-42"})),
        event("custom", u, json!({"name": "coupon_applied", "props": {"code": "SPRING", "pct": 10, "first": true}})),
    ]
}

#[tokio::test]
async fn a_batch_of_every_event_type_lands_with_the_right_columns() {
    let ch = Ch::fresh("every_type").await;
    let mut cfg = test_config(&ch);
    cfg.trust_proxy = true;
    cfg.geoip.path = Some(geo_db());
    let c = TestCollector::start(cfg).await;
    let token = c.grant_site().await;
    let events = every_type();
    let mut b = c.batch(&token, "vis_1", "ses_1", events.clone());
    b["utm"] = json!({"source": "newsletter", "medium": "email", "campaign": "spring"});
    let (status, _, body) = c
        .post_raw(
            b.to_string(),
            &[("content-type", "text/plain"), ("x-forwarded-for", "81.2.69.142"), ("origin", SHOP_ORIGIN)],
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["accepted"], 12);
    assert_eq!(body["rejected"], json!([]));
    assert_eq!(ch.wait_count("SELECT count() FROM events", 12, WAIT).await, 12);

    let rows = ch.rows("SELECT * FROM events ORDER BY event_type").await;
    let by = |t: &str| rows.iter().find(|r| r["event_type"] == t).unwrap_or_else(|| panic!("no {t} row")).clone();
    for r in &rows {
        assert_eq!(r["site_id"], c.site.as_str());
        assert_eq!(r["visitor_id"], "vis_1");
        assert_eq!(r["session_id"], "ses_1");
        assert!(!r["consent_id"].as_str().unwrap().is_empty());
        assert_eq!(r["host"], "shop.example");
        assert_eq!(r["path"], "/landing");
        assert_eq!(r["utm_source"], "newsletter");
        assert_eq!(r["utm_campaign"], "spring");
        assert_eq!(
            (r["country"].as_str(), r["region"].as_str(), r["city"].as_str()),
            (Some("GB"), Some("ENG"), Some("London"))
        );
        assert_eq!(r["browser"], "Chrome");
        assert_eq!(r["device"], "desktop");
        assert!(r["os"].as_str().unwrap().starts_with("Windows"));
        assert_eq!(r["is_bot"], 0);
    }
    let ids: std::collections::HashSet<_> = rows.iter().map(|r| r["event_id"].as_str().unwrap().to_string()).collect();
    let sent: std::collections::HashSet<_> = events.iter().map(|e| e["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids, sent, "event ids are stored as sent");
    let pv = by("page_view");
    assert_eq!(pv["title"], "Landing");
    assert_eq!(pv["referrer_host"], "google.com");
    // The session's campaign says email, which outranks the search referrer.
    assert_eq!(pv["channel"], "email");
    assert_eq!(by("scroll")["scroll_depth"], 75);
    assert_eq!(by("engagement")["engaged_ms"], 12345);
    let f = by("form_submit");
    assert_eq!((f["form_id"].as_str(), f["form_action"].as_str()), (Some("lead"), Some("/subscribe")));
    assert_eq!(f["form_fields"], json!(["email", "name"]));
    assert_eq!(by("video_progress")["video_percent"], 50);
    assert_eq!(by("video_complete")["video_id"], "intro");
    let p = by("purchase");
    assert_eq!(
        (p["order_id"].as_str(), p["revenue"].as_f64(), p["currency"].as_str()),
        (Some("A-1"), Some(49.5), Some("EUR"))
    );
    assert_eq!(p["product_name"], "Course");
    assert_eq!(by("outbound_click")["link_url"], "https://partner.example/x");
    assert_eq!(by("email_click")["email_click_id"], "clk_123");
    assert_eq!(by("identify")["lead_id"], "lead-42");
    let cu = by("custom");
    assert_eq!(cu["event_name"], "coupon_applied");
    assert_eq!(cu["props.key"], json!(["code", "first", "pct"]));
    assert_eq!(cu["props.value"], json!(["SPRING", "true", "10"]));
    c.stop().await;
}

#[tokio::test]
async fn invalid_events_are_rejected_with_reasons_while_valid_ones_land() {
    let ch = Ch::fresh("mixed").await;
    let c = TestCollector::start(test_config(&ch)).await;
    let token = c.grant_site().await;
    let u = "https://shop.example/";
    let good1 = event("page_view", u, json!({}));
    let good2 = event("scroll", u, json!({"depth": 25}));
    let dup = good2.clone();
    let events = vec![
        good1.clone(),
        event("scroll", u, json!({"depth": 33})),
        json!({"id": "not-a-uuid", "type": "page_view", "url": u}),
        event("teleport", u, json!({})),
        event("purchase", u, json!({"value": 10, "currency": "EUR"})),
        event("page_view", u, json!({"depth": "deep"})),
        event("page_view", &format!("https://shop.example/{}", "x".repeat(3000)), json!({})),
        good2.clone(),
        dup,
    ];
    let (status, body) = c.post(&c.batch(&token, "v", "s", events)).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["accepted"], 2);
    let reasons: Vec<(u64, String)> = body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["index"].as_u64().unwrap(), r["reason"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            (1, "bad_value".into()),
            (2, "bad_event_id".into()),
            (3, "unknown_type".into()),
            (4, "missing_field".into()),
            (5, "invalid_event".into()),
            (6, "too_long".into()),
            (8, "duplicate_in_batch".into()),
        ]
    );
    assert!(body["rejected"][3]["message"].as_str().unwrap().contains("order_id"), "{body}");
    assert_eq!(ch.wait_count("SELECT count() FROM events", 2, WAIT).await, 2);
    let ids: Vec<String> = ch
        .rows("SELECT toString(event_id) AS id FROM events ORDER BY id")
        .await
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    let mut want = vec![good1["id"].as_str().unwrap().to_string(), good2["id"].as_str().unwrap().to_string()];
    want.sort();
    assert_eq!(ids, want);
    let m = c.metrics().await;
    assert_eq!(metric(&m, "ktra_rejected_events_total", &[("site", c.site.as_str()), ("reason", "unknown_type")]), 1.0);
    assert_eq!(metric(&m, "ktra_rejected_events_total", &[("site", c.site.as_str()), ("reason", "bad_value")]), 1.0);
    assert_eq!(metric(&m, "ktra_accepted_events_total", &[("site", c.site.as_str())]), 2.0);
    c.stop().await;
}

#[tokio::test]
async fn unknown_site_foreign_origin_and_bad_requests_get_clear_counted_errors() {
    let ch = Ch::fresh("refusals").await;
    let c = TestCollector::start(test_config(&ch)).await;
    let token = c.grant_site().await;
    let one = || vec![event("page_view", "https://shop.example/", json!({}))];

    let mut other = c.batch(&token, "v", "s", one());
    other["site"] = json!("nope");
    let (s, b) = c.post(&other).await;
    assert_eq!((s, b["error"].as_str()), (400, Some("unknown_site")), "{b}");

    let (s, h, b) =
        c.post_raw(c.batch(&token, "v", "s", one()).to_string(), &[("origin", "https://evil.example")]).await;
    assert_eq!((s, b["error"].as_str()), (403, Some("origin_not_allowed")), "{b}");
    assert!(h.get("access-control-allow-origin").is_none());

    let (s, h, _) = c.post_raw(c.batch(&token, "v", "s", one()).to_string(), &[("origin", SHOP_ORIGIN)]).await;
    assert_eq!(s, 202);
    assert_eq!(h.get("access-control-allow-origin").unwrap(), SHOP_ORIGIN);

    // Preflight: allowed origin gets CORS headers, a foreign one does not.
    let pre = |o: &'static str| {
        c.http
            .request(reqwest::Method::OPTIONS, format!("{}/v1/events", c.url))
            .header("origin", o)
            .header("access-control-request-method", "POST")
            .send()
    };
    assert_eq!(pre(SHOP_ORIGIN).await.unwrap().headers().get("access-control-allow-origin").unwrap(), SHOP_ORIGIN);
    assert!(pre("https://evil.example").await.unwrap().headers().get("access-control-allow-origin").is_none());

    let (s, _, b) = c.post_raw("{\"site\": \"shop\", \"events\": [", &[]).await;
    assert_eq!((s, b["error"].as_str()), (400, Some("malformed_json")), "{b}");
    assert!(b["message"].as_str().unwrap().contains("line 1"), "{b}");

    let (s, _, b) = c.post_raw(json!({"site": "shop", "events": "many"}).to_string(), &[]).await;
    assert_eq!((s, b["error"].as_str()), (400, Some("malformed_json")), "wrong type: {b}");

    let big = "x".repeat(ktra_schema::limits::MAX_BODY_BYTES + 1);
    let (s, _, b) = c.post_raw(big, &[]).await;
    assert_eq!((s, b["error"].as_str()), (413, Some("body_too_large")), "{b}");

    let many: Vec<Value> = (0..101).map(|_| event("page_view", "https://shop.example/", json!({}))).collect();
    let (s, b) = c.post(&c.batch(&token, "v", "s", many)).await;
    assert_eq!((s, b["error"].as_str()), (413, Some("too_many_events")), "{b}");

    let (s, _, b) =
        c.post_raw(c.batch(&token, "v", "s", one()).to_string(), &[("content-type", "application/xml")]).await;
    assert_eq!((s, b["error"].as_str()), (415, Some("unsupported_media_type")), "{b}");

    let (s, _, b) =
        c.post_raw(c.batch(&token, "v", "s", one()).to_string(), &[("content-type", "application/json")]).await;
    assert_eq!(s, 202, "application/json is accepted too: {b}");

    assert_eq!(ch.wait_count("SELECT count() FROM events", 2, WAIT).await, 2, "only the two good batches land");
    let m = c.metrics().await;
    for reason in [
        "unknown_site",
        "origin_not_allowed",
        "malformed_json",
        "body_too_large",
        "too_many_events",
        "unsupported_media_type",
    ] {
        assert!(metric(&m, "ktra_rejected_requests_total", &[("reason", reason)]) >= 1.0, "{reason} not counted");
    }
    assert_eq!(
        metric(&m, "ktra_rejected_events_total", &[("site", c.site.as_str()), ("reason", "too_many_events")]),
        101.0
    );
    c.stop().await;
}

#[tokio::test]
async fn no_column_holds_the_client_ip() {
    let ch = Ch::fresh("no_ip").await;
    let mut cfg = test_config(&ch);
    cfg.trust_proxy = true;
    cfg.geoip.path = Some(geo_db());
    let c = TestCollector::start(cfg).await;
    let (s, v) = c.consent(json!({"site": c.site, "action": "grant", "granted": ["analytics", "marketing"]})).await;
    assert_eq!(s, 200);
    let token = v["token"].as_str().unwrap().to_string();
    let ip = "81.2.69.142";
    let (s, _, _) = c
        .post_raw(
            c.batch(&token, "v", "s", every_type()).to_string(),
            &[("x-forwarded-for", ip), ("content-type", "text/plain")],
        )
        .await;
    assert_eq!(s, 202);
    assert_eq!(ch.wait_count("SELECT count() FROM events", 12, WAIT).await, 12);
    assert_eq!(ch.wait_count("SELECT count() FROM consent_log", 1, WAIT).await, 1);
    assert_eq!(ch.count("SELECT count() FROM events WHERE city = 'London'").await, 12, "geo was looked up");
    for table in ["events", "consent_log", "email_clicks", "email_opens"] {
        let dump = ch.exec(&format!("SELECT * FROM {table} FORMAT TSV")).await.unwrap();
        for needle in [ip, "81.2.69", "127.0.0.1"] {
            assert!(!dump.contains(needle), "{table} holds {needle}");
        }
    }
    c.stop().await;
}

#[tokio::test]
async fn bots_are_flagged_or_dropped_by_configuration_and_counted() {
    let ch = Ch::fresh("bots").await;
    let c = TestCollector::start(test_config(&ch)).await;
    let token = c.grant_site().await;
    let bot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
    let (s, _, _) = c
        .post_raw(
            c.batch(&token, "v", "s", vec![event("page_view", "https://shop.example/", json!({}))]).to_string(),
            &[("user-agent", bot)],
        )
        .await;
    assert_eq!(s, 202);
    assert_eq!(ch.wait_count("SELECT count() FROM events WHERE is_bot = 1 AND device = 'bot'", 1, WAIT).await, 1);
    c.stop().await;

    let mut cfg = test_config(&ch);
    cfg.bots = ktra_collector::config::BotPolicy::Drop;
    let c = TestCollector::start(cfg).await;
    let token = c.grant_site().await;
    let (s, _, _) = c
        .post_raw(
            c.batch(&token, "v", "s", vec![event("page_view", "https://shop.example/b", json!({}))]).to_string(),
            &[("user-agent", bot)],
        )
        .await;
    assert_eq!(s, 202);
    let (s, _) =
        c.post(&c.batch(&token, "v", "s", vec![event("page_view", "https://shop.example/human", json!({}))])).await;
    assert_eq!(s, 202);
    assert_eq!(ch.wait_count("SELECT count() FROM events WHERE path = '/human'", 1, WAIT).await, 1);
    assert_eq!(ch.count("SELECT count() FROM events WHERE path = '/b'").await, 0);
    let m = c.metrics().await;
    assert!(metric(&m, "ktra_rejected_events_total", &[("site", c.site.as_str()), ("reason", "bot")]) >= 1.0);
    c.stop().await;
}

#[tokio::test]
async fn a_retried_batch_is_counted_once_by_the_queries() {
    let ch = Ch::fresh("retry").await;
    let c = TestCollector::start(test_config(&ch)).await;
    let token = c.grant_site().await;
    let b = c.batch(
        &token,
        "v1",
        "s1",
        vec![
            event("page_view", "https://shop.example/a", json!({})),
            event("purchase", "https://shop.example/thanks", json!({"order_id": "o1", "value": 20, "currency": "EUR"})),
        ],
    );
    for _ in 0..3 {
        assert_eq!(c.post(&b).await.0, 202);
    }
    assert_eq!(ch.wait_count("SELECT count() FROM events", 6, WAIT).await, 6, "three copies were stored");
    let traffic = ch
        .rows(
            &ktra_schema::queries::render(
                ktra_schema::queries::get("traffic_daily").unwrap().sql,
                &std::collections::BTreeMap::from([
                    ("site", ktra_schema::queries::Param::Str(c.site.clone())),
                    ("from", ktra_schema::queries::Param::Time(0)),
                    ("to", ktra_schema::queries::Param::Time(u32::MAX)),
                ]),
            )
            .unwrap(),
        )
        .await;
    assert_eq!(traffic.len(), 1);
    assert_eq!(num(&traffic[0]["page_views"]), 1.0, "{traffic:?}");
    let s = ch.rows("SELECT purchases, revenue FROM sessions").await;
    assert_eq!(s.len(), 1);
    assert_eq!((num(&s[0]["purchases"]), num(&s[0]["revenue"])), (1.0, 20.0), "{s:?}");
    c.stop().await;
}

#[tokio::test]
async fn rate_limits_slow_bodies_and_compressed_bodies_get_clear_counted_errors() {
    use tokio::io::AsyncWriteExt;
    let ch = Ch::fresh("hostile").await;
    let mut cfg = test_config(&ch);
    cfg.limits.per_client_per_sec = 1.0;
    cfg.limits.per_client_burst = 3.0;
    let c = TestCollector::start(cfg).await;
    let token = c.grant_site().await; // takes one token
    let b = c.batch(&token, "v", "s", vec![event("page_view", "https://shop.example/", json!({}))]);
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..4 {
        let (s, h, _) = c.post_raw(b.to_string(), &[]).await;
        statuses.push(s);
        if s == 429 {
            retry_after = h.get("retry-after").map(|v| v.to_str().unwrap().to_string());
        }
    }
    assert_eq!(statuses, vec![202, 202, 429, 429], "burst of 3 per client");
    assert_eq!(retry_after.as_deref(), Some("1"));
    c.stop().await;

    let c = TestCollector::start(test_config(&ch)).await;
    let (s, _, body) = c.post_raw(b.to_string(), &[("content-encoding", "gzip")]).await;
    assert_eq!((s, body["error"].as_str()), (415, Some("unsupported_media_type")), "{body}");

    // A client that sends headers and then trickles nothing of its body.
    let addr = c.url.trim_start_matches("http://").to_string();
    let mut sock = tokio::net::TcpStream::connect(&addr).await.unwrap();
    sock.write_all(format!("POST /v1/events HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 100\r\n\r\n{{").as_bytes())
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut resp = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(30), tokio::io::AsyncReadExt::read(&mut sock, &mut resp))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&resp[..n]).to_string();
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("slow_client"), "{text}");
    assert!(started.elapsed() >= Duration::from_secs(9), "the body timeout is 10 s");
    let m = c.metrics().await;
    for reason in ["rate_limited", "slow_client", "unsupported_media_type"] {
        assert!(metric(&m, "ktra_rejected_requests_total", &[("reason", reason)]) >= 1.0, "{reason}");
    }
    c.stop().await;
}
