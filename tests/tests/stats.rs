//! The dashboard's data endpoints against the real collector and ClickHouse:
//! every `/v1/stats/{query}` answers exactly what the same library query
//! answers by a direct SELECT, the admin key is required, unknown queries and
//! bad parameters are refused with a JSON error, and the live view shows the
//! events just posted, newest first, without full visitor ids.
#![allow(clippy::unwrap_used, missing_docs)]

use ktra_schema::queries::{self, Param, QUERIES};
use ktra_tests::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
/// A second configured site, sorted after every test's own site id.
const OTHER_SITE: &str = "zz_other";

async fn start(name: &str) -> (Ch, TestCollector) {
    let ch = Ch::fresh(name).await;
    let mut cfg = test_config(&ch);
    cfg.trust_proxy = true;
    cfg.geoip.path = Some(geo_db());
    cfg.sites.insert(OTHER_SITE.into(), site());
    let c = TestCollector::start(cfg).await;
    assert_eq!(c.site, name);
    (ch, c)
}

/// GET with an optional bearer key; `(status, JSON body, raw body)`.
async fn get(c: &TestCollector, path: &str, key: Option<&str>) -> (u16, Value, String) {
    let mut req = c.http.get(format!("{}{path}", c.url));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null), text)
}

async fn admin_get(c: &TestCollector, path: &str) -> (u16, Value, String) {
    get(c, path, Some(&c.config.admin_key.clone())).await
}

async fn post_as(c: &TestCollector, batch: &Value, ua: &str, ip: &str) {
    let (s, _, body) = c
        .post_raw(batch.to_string(), &[("user-agent", ua), ("x-forwarded-for", ip), ("content-type", "text/plain")])
        .await;
    assert_eq!(s, 202, "{body}");
}

/// Rows of a direct SELECT, with the numbers ClickHouse 18.16 quotes (64-bit
/// integers) turned into JSON numbers by the column types it reports; string
/// columns stay strings, whatever they hold.
async fn typed_rows(ch: &Ch, sql: &str) -> Vec<Value> {
    let answer: Value = serde_json::from_str(&ch.exec(&format!("{sql}\nFORMAT JSON")).await.unwrap()).unwrap();
    let numeric: Vec<String> = answer["meta"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| {
            let t = m["type"].as_str().unwrap();
            let t = t.strip_prefix("Nullable(").unwrap_or(t);
            ["UInt", "Int", "Float", "Decimal"].iter().any(|p| t.starts_with(p))
        })
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect();
    let mut rows = answer["data"].as_array().unwrap().clone();
    for row in &mut rows {
        for col in &numeric {
            if let Some(Value::String(s)) = row.get(col) {
                let v: Value =
                    serde_json::from_str(s).unwrap_or_else(|_| panic!("column {col}: {s:?} is not a number"));
                row[col.as_str()] = v;
            }
        }
    }
    rows
}

/// A visitor id as the pixel makes them (long enough to be truncated).
fn vid() -> String {
    format!("v{}", uuid::Uuid::new_v4().simple())
}

/// A small shop day: an email click that leads to a consented session with
/// every kind of event and a purchase, a search visitor on a phone who buys,
/// consent decisions of every kind, and events of another site.
async fn shop_day(c: &TestCollector, ch: &Ch) {
    let (s, link) = {
        let body = json!({"site": c.site, "lead": "lead-1", "message": "may-news", "url": "https://shop.example/landing?utm_source=newsletter&utm_medium=email&utm_campaign=may"});
        let r = c
            .http
            .post(format!("{}/v1/admin/links", c.url))
            .bearer_auth(&c.config.admin_key)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    assert_eq!(s, 200, "{link}");
    let nofollow = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let open = nofollow
        .get(link["open_url"].as_str().unwrap())
        .header("user-agent", IPHONE)
        .header("x-forwarded-for", "81.2.69.10")
        .send()
        .await
        .unwrap();
    assert_eq!(open.status(), 200);
    let r = nofollow
        .get(link["click_url"].as_str().unwrap())
        .header("user-agent", CHROME_UA)
        .header("x-forwarded-for", "81.2.69.10")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let landing = r.headers()["location"].to_str().unwrap().to_string();
    let ec = landing.split("ktra_ec=").nth(1).unwrap().to_string();

    let (t1, t2, t3) = (c.grant_site().await, c.grant_site().await, c.grant_site().await);
    assert_eq!(c.consent(json!({"site": c.site, "action": "deny"})).await.0, 200);
    assert_eq!(
        c.consent(json!({"site": c.site, "action": "change", "granted": ["analytics"], "denied": ["marketing"]}))
            .await
            .0,
        200
    );

    let land = landing.as_str();
    let mut a = c.batch(&t1, &vid(), "sA", vec![
        event("email_click", land, json!({"click_id": ec})),
        event("page_view", land, json!({"title": "May offers"})),
        event("scroll", land, json!({"depth": 25})),
        event("scroll", land, json!({"depth": 50})),
        event("scroll", land, json!({"depth": 75})),
        event("engagement", land, json!({"engaged_ms": 4200})),
        event("video_start", "https://shop.example/video", json!({"video_id": "tour"})),
        event("video_progress", "https://shop.example/video", json!({"video_id": "tour", "percent": 25})),
        event("video_progress", "https://shop.example/video", json!({"video_id": "tour", "percent": 50})),
        event("video_complete", "https://shop.example/video", json!({"video_id": "tour"})),
        event("form_submit", "https://shop.example/signup", json!({"form_id": "lead-form", "fields": ["email", "name"]})),
        event("identify", "https://shop.example/signup", json!({"lead_id": "lead-1"})),
        event("outbound_click", "https://shop.example/signup", json!({"target": "https://partner.example/"})),
        event("page_view", "https://shop.example/thanks", json!({"referrer": "https://shop.example/checkout"})),
        event("purchase", "https://shop.example/thanks", json!({"order_id": "o-100", "value": 59.0, "currency": "EUR", "product_id": "mug", "product_name": "Mug"})),
    ]);
    a["utm"] = json!({"source": "newsletter", "medium": "email", "campaign": "may"});
    a["ec"] = json!(ec);
    post_as(c, &a, CHROME_UA, "81.2.69.10").await;
    let b = c.batch(
        &t2,
        &vid(),
        "sB",
        vec![
            event("page_view", "https://shop.example/", json!({"referrer": "https://www.google.com/"})),
            event("scroll", "https://shop.example/", json!({"depth": 25})),
            event("page_view", "https://shop.example/product", json!({"referrer": "https://shop.example/"})),
            event(
                "purchase",
                "https://shop.example/thanks",
                json!({"order_id": "o-101", "value": 12.5, "currency": "EUR"}),
            ),
        ],
    );
    post_as(c, &b, IPHONE, "203.0.113.7").await;
    // Another site's events must not show up in this site's answers.
    let (s, v) = c.consent(json!({"site": OTHER_SITE, "action": "grant", "granted": ["analytics", "marketing"]})).await;
    assert_eq!(s, 200);
    let o = batch_for(
        OTHER_SITE,
        v["token"].as_str().unwrap(),
        &vid(),
        "sO",
        vec![event("page_view", "https://shop.example/elsewhere", json!({}))],
    );
    post_as(c, &o, CHROME_UA, "81.2.69.10").await;
    // A withdrawal after the day's events (no visitor id: nothing to erase).
    assert_eq!(c.consent(json!({"site": c.site, "action": "withdraw", "previous": t3})).await.0, 200);

    assert_eq!(ch.wait_count("SELECT count() FROM events", 15 + 4 + 1, WAIT).await, 20);
    assert_eq!(ch.wait_count("SELECT count() FROM email_clicks", 1, WAIT).await, 1);
    assert_eq!(ch.wait_count("SELECT count() FROM email_opens", 1, WAIT).await, 1);
    assert_eq!(ch.wait_count("SELECT count() FROM consent_log", 7, WAIT).await, 7);
}

#[tokio::test]
async fn every_stats_query_answers_what_the_library_query_answers() {
    let (ch, c) = start("stats").await;
    shop_day(&c, &ch).await;

    let (s, sites, _) = admin_get(&c, "/v1/stats/sites").await;
    assert_eq!(s, 200);
    assert_eq!(sites["sites"], json!(["stats", OTHER_SITE]));
    let names: Vec<&str> = QUERIES.iter().map(|q| q.name).collect();
    assert_eq!(sites["queries"], json!(names));

    let now = (now_ms() / 1000) as u32;
    let (from, to) = (now - 86_400, now + 3_600);
    let mut answered = BTreeMap::new();
    for q in QUERIES {
        let (s, body, text) = admin_get(&c, &format!("/v1/stats/{}?site=stats&from={from}&to={to}", q.name)).await;
        assert_eq!(s, 200, "{}: {text}", q.name);
        assert_eq!(body["query"], q.name);
        let params = BTreeMap::from([
            ("site", Param::Str("stats".into())),
            ("from", Param::Time(from)),
            ("to", Param::Time(to)),
        ]);
        let want = typed_rows(&ch, &queries::render(q.sql, &params).unwrap()).await;
        assert!(!want.is_empty(), "{}: the shop day should give this query rows", q.name);
        assert_eq!(body["rows"], Value::Array(want), "{}", q.name);
        answered.insert(q.name, body["rows"].as_array().unwrap().clone());
    }

    // What the dashboard shows, as numbers (not strings) and without the other site.
    let traffic = &answered["traffic_daily"];
    assert_eq!(traffic.iter().map(|r| r["page_views"].as_u64().unwrap()).sum::<u64>(), 4);
    assert_eq!(traffic.iter().map(|r| r["visitors"].as_u64().unwrap()).sum::<u64>(), 2);
    assert!(answered["top_pages"].iter().all(|r| r["path"] != "/elsewhere"));
    let consent = &answered["consent_rates"];
    let total = |col: &str| consent.iter().map(|r| r[col].as_u64().unwrap()).sum::<u64>();
    assert_eq!((total("accepted"), total("rejected"), total("customized"), total("withdrawn")), (3, 1, 1, 1));
    let funnel = &answered["email_funnel"][0];
    assert_eq!(
        (
            funnel["message_id"].as_str(),
            funnel["clicks"].as_u64(),
            funnel["sessions"].as_u64(),
            funnel["purchases"].as_u64()
        ),
        (Some("may-news"), Some(1), Some(1), Some(1))
    );
    assert_eq!(funnel["revenue"].as_f64(), Some(59.0));
    let video = &answered["video_engagement"][0];
    assert_eq!(
        [&video["starts"], &video["p25"], &video["p50"], &video["p75"], &video["completes"]],
        [&json!(1), &json!(1), &json!(1), &json!(0), &json!(1)]
    );

    // A range that holds nothing answers empty rows, not an error.
    let (s, body, _) = admin_get(&c, "/v1/stats/traffic_daily?site=stats&from=86400&to=172800").await;
    assert_eq!((s, body["rows"].clone()), (200, json!([])));
    // The other site has its own answer.
    let (s, body, _) = admin_get(&c, &format!("/v1/stats/top_pages?site={OTHER_SITE}&from={from}&to={to}")).await;
    assert_eq!(s, 200);
    assert_eq!(
        body["rows"].as_array().unwrap().iter().map(|r| r["path"].clone()).collect::<Vec<_>>(),
        [json!("/elsewhere")]
    );
    c.stop().await;
}

#[tokio::test]
async fn stats_need_the_admin_key_and_say_what_is_wrong() {
    let (_ch, c) = start("stats_refusals").await;
    let now = (now_ms() / 1000) as u32;
    let ok = format!("site=stats_refusals&from={}&to={now}", now - 3600);
    for path in [
        "/v1/stats/sites".to_string(),
        format!("/v1/stats/top_pages?{ok}"),
        "/v1/stats/live?site=stats_refusals".into(),
    ] {
        for key in [None, Some("wrong-key"), Some("test-admin-key-but-longer"), Some("")] {
            let (s, body, _) = get(&c, &path, key).await;
            assert_eq!((s, body["error"].as_str()), (401, Some("unauthorized")), "{path} with {key:?}");
        }
        let (s, _, text) = admin_get(&c, &path).await;
        assert_eq!(s, 200, "{path}: {text}");
    }
    let r = c.http.get(format!("{}/v1/stats/sites", c.url)).send().await.unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Bearer");

    // An unknown query is a 404 (even with good parameters); the key is checked first.
    let (s, body, _) = admin_get(&c, &format!("/v1/stats/no_such_query?{ok}")).await;
    assert_eq!((s, body["error"].as_str()), (404, Some("not_found")));
    assert!(body["message"].as_str().unwrap().contains("no_such_query"));
    assert_eq!(get(&c, &format!("/v1/stats/no_such_query?{ok}"), None).await.0, 401);

    let bad: &[(String, &str, &str)] = &[
        (format!("from={}&to={now}", now - 60), "missing_field", "site is required"),
        (format!("site=nope&from={}&to={now}", now - 60), "unknown_site", "unknown site \"nope\""),
        ("site=stats_refusals&to=100".into(), "missing_field", "from is required"),
        ("site=stats_refusals&from=100".into(), "missing_field", "to is required"),
        ("site=stats_refusals&from=yesterday&to=100".into(), "bad_value", "from must be Unix seconds"),
        ("site=stats_refusals&from=-5&to=100".into(), "bad_value", "from must be Unix seconds"),
        ("site=stats_refusals&from=200&to=100".into(), "bad_value", "from (200) must be before to (100)"),
        ("site=stats_refusals&from=100&to=100".into(), "bad_value", "must be before"),
        (format!("site=stats_refusals&from={}&to={now}", now - 401 * 86_400), "bad_value", "at most 400 days"),
        ("site=stats_refusals&from=1&to=%ZZ".into(), "bad_value", ""),
    ];
    for (q, code, msg) in bad {
        let (s, body, text) = admin_get(&c, &format!("/v1/stats/traffic_daily?{q}")).await;
        assert_eq!((s, body["error"].as_str()), (400, Some(*code)), "{q}: {text}");
        assert!(body["message"].as_str().unwrap().contains(msg), "{q}: {text}");
    }
    // 400 days exactly is allowed.
    assert_eq!(
        admin_get(&c, &format!("/v1/stats/traffic_daily?site=stats_refusals&from={}&to={now}", now - 400 * 86_400))
            .await
            .0,
        200
    );
    // The live view checks its own parameters.
    let week_ago = now_ms() - 8 * 86_400_000;
    let (s, body, _) = admin_get(&c, &format!("/v1/stats/live?site=stats_refusals&since={week_ago}")).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("bad_value")));
    assert_eq!(admin_get(&c, "/v1/stats/live?site=stats_refusals&since=later").await.0, 400);
    assert_eq!(admin_get(&c, "/v1/stats/live").await.0, 400);
    c.stop().await;
}

#[tokio::test]
async fn live_view_shows_the_events_just_posted_newest_first_without_visitor_ids() {
    let (ch, c) = start("stats_live").await;
    let token = c.grant_site().await;
    let visitor = vid();
    let events = vec![
        event(
            "page_view",
            "https://shop.example/landing?utm_campaign=spring",
            json!({"referrer": "https://www.google.com/"}),
        ),
        event("scroll", "https://shop.example/landing", json!({"depth": 50})),
        event("form_submit", "https://shop.example/signup", json!({"form_id": "lead-form"})),
        event("video_progress", "https://shop.example/video", json!({"video_id": "tour", "percent": 25})),
        event("purchase", "https://shop.example/thanks", json!({"order_id": "o-7", "value": 19.9, "currency": "EUR"})),
    ];
    let ids: Vec<String> = events.iter().map(|e| e["id"].as_str().unwrap().to_string()).collect();
    let times: Vec<i64> = events.iter().map(|e| e["ts"].as_i64().unwrap()).collect();
    let batch = c.batch(&token, &visitor, "s-live", events);
    post_as(&c, &batch, IPHONE, "81.2.69.10").await;
    // The same batch again (a retry) must not show twice.
    post_as(&c, &batch, IPHONE, "81.2.69.10").await;
    let (s, v) = c.consent(json!({"site": OTHER_SITE, "action": "grant", "granted": ["analytics", "marketing"]})).await;
    assert_eq!(s, 200);
    let other = batch_for(
        OTHER_SITE,
        v["token"].as_str().unwrap(),
        &vid(),
        "s-other",
        vec![event("page_view", "https://shop.example/other", json!({}))],
    );
    post_as(&c, &other, CHROME_UA, "81.2.69.10").await;
    assert_eq!(ch.wait_count("SELECT count() FROM events", 11, WAIT).await, 11);

    let (s, body, text) = admin_get(&c, &format!("/v1/stats/live?site=stats_live&since={}", times[0] - 1)).await;
    assert_eq!(s, 200, "{text}");
    let rows = body["rows"].as_array().unwrap();
    let got: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let want: Vec<&str> = ids.iter().rev().map(String::as_str).collect();
    assert_eq!(got, want, "newest first, each event once, no other site's");
    let ts: Vec<i64> = rows.iter().map(|r| r["ts"].as_i64().unwrap()).collect();
    assert_eq!(ts, times.iter().rev().copied().collect::<Vec<_>>());
    let first = &rows[0];
    assert_eq!(
        (
            first["type"].as_str(),
            first["path"].as_str(),
            first["country"].as_str(),
            first["device"].as_str(),
            first["browser"].as_str()
        ),
        (Some("purchase"), Some("/thanks"), Some("GB"), Some("mobile"), Some("Safari"))
    );
    assert_eq!(first["detail"], "o-7 · 19.9 EUR");
    assert_eq!(rows[4]["channel"], "search");
    assert_eq!(rows[3]["detail"], "50 %");
    // Visitor ids are cut: a short prefix, never the id.
    assert!(!text.contains(&visitor), "the full visitor id leaked: {text}");
    assert!(!text.contains(&visitor[..7]));
    assert!(rows.iter().all(|r| r["visitor"] == format!("{}…", &visitor[..6])), "{rows:?}");
    assert!(!text.contains("s-live"), "no session ids either");

    // Only events after `since`; without it, the last day.
    let (_, body, _) = admin_get(&c, &format!("/v1/stats/live?site=stats_live&since={}", times[2])).await;
    let after: Vec<&str> = body["rows"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(after, [ids[4].as_str(), ids[3].as_str()]);
    let (_, body, _) = admin_get(&c, "/v1/stats/live?site=stats_live").await;
    assert_eq!(body["rows"].as_array().unwrap().len(), 5);
    c.stop().await;
}
