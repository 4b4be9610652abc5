//! The analyst query library on real data: a small shop's day created through
//! the real HTTP endpoints, every query in `schema/queries/` run on the
//! ClickHouse 18.16 server with its result asserted. The same data and
//! results are dumped (when `KTRA_ENGINE_DUMP_DIR` is set) for
//! `tests/chdb/check.py`, which replays them on current ClickHouse.
#![allow(clippy::unwrap_used, missing_docs)]

use ktra_schema::queries::{self, Param, QUERIES};
use ktra_tests::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
const GMAIL_PROXY: &str = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)";
const GOOGLEBOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
const SITE_KEY: &str = "queries-site-key-0123456789abcdef-01";

#[allow(clippy::too_many_arguments)]
async fn send(
    c: &TestCollector,
    token: &str,
    vid: &str,
    sid: &str,
    utm: Option<Value>,
    ua: &str,
    ip: &str,
    events: Vec<Value>,
) -> Value {
    let mut b = c.batch(token, vid, sid, events);
    if let Some(u) = utm {
        b["utm"] = u;
    }
    let (s, _, body) =
        c.post_raw(b.to_string(), &[("user-agent", ua), ("x-forwarded-for", ip), ("content-type", "text/plain")]).await;
    assert_eq!(s, 202, "{body}");
    b
}

/// Signs a tracking link through the admin endpoint; returns `(click_url, open_url)`.
async fn sign_link(c: &TestCollector, lead: &str, message: &str, url: &str) -> (String, String) {
    let body = json!({"site": c.site, "lead": lead, "message": message, "url": url});
    let r = c
        .http
        .post(format!("{}/v1/admin/links", c.url))
        .bearer_auth(&c.config.admin_key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    (v["click_url"].as_str().unwrap().to_string(), v["open_url"].as_str().unwrap().to_string())
}

/// GETs a tracking URL the way a mail client or browser would, without following redirects.
async fn hit(url: &str, ua: &str, ip: &str) -> reqwest::Response {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    client.get(url).header("user-agent", ua).header("x-forwarded-for", ip).send().await.unwrap()
}

/// Creates the shop's day; returns the number of stored event rows to wait for.
async fn shop_day(c: &TestCollector, ch: &Ch) -> u64 {
    let grant = || json!({"site": c.site, "action": "grant", "granted": ["analytics", "marketing"]});
    let mut tokens = Vec::new();
    for _ in 0..3 {
        let (s, v) = c.consent(grant()).await;
        assert_eq!(s, 200);
        tokens.push(v["token"].as_str().unwrap().to_string());
    }
    assert_eq!(c.consent(json!({"site": c.site, "action": "deny"})).await.0, 200);
    assert_eq!(
        c.consent(json!({"site": c.site, "action": "change", "granted": ["analytics"], "denied": ["marketing"]}))
            .await
            .0,
        200
    );
    let (s, bot) = c.consent(grant()).await;
    assert_eq!(s, 200);
    let bot_token = bot["token"].as_str().unwrap().to_string();

    // A: opens the newsletter (and Gmail's image proxy fetches it too), clicks
    // its tracking link, reads, watches, subscribes, buys two minutes after the click.
    let (click_url, open_url) = sign_link(
        c,
        "lead-a",
        "spring-news",
        "https://shop.example/landing?utm_source=newsletter&utm_medium=email&utm_campaign=spring",
    )
    .await;
    assert_eq!(hit(&open_url, IPHONE, "81.2.69.10").await.status(), 200);
    assert_eq!(hit(&open_url, GMAIL_PROXY, "66.249.84.1").await.status(), 200);
    let r = hit(&click_url, CHROME_UA, "81.2.69.10").await;
    assert_eq!(r.status(), 302);
    let landing = r.headers()["location"].to_str().unwrap().to_string();
    let ec = landing.split("ktra_ec=").nth(1).unwrap().to_string();
    assert_eq!(ch.wait_count("SELECT count() FROM email_clicks", 1, WAIT).await, 1);
    let clicked_at = n(&ch.rows("SELECT toUInt32(clicked_at) AS t FROM email_clicks").await[0]["t"]) as i64;
    let land = landing.as_str();
    let utm = json!({"source": "newsletter", "medium": "email", "campaign": "spring"});
    let mut b = c.batch(
        &tokens[0],
        "vA",
        "sA",
        vec![
            event("email_click", land, json!({"click_id": ec})),
            event("page_view", land, json!({"title": "Spring sale"})),
            event("scroll", land, json!({"depth": 25})),
            event("scroll", land, json!({"depth": 50})),
            event("video_start", land, json!({"video_id": "intro"})),
            event("video_progress", land, json!({"video_id": "intro", "percent": 25})),
            event("video_progress", land, json!({"video_id": "intro", "percent": 50})),
            event("video_progress", land, json!({"video_id": "intro", "percent": 75})),
            event("video_complete", land, json!({"video_id": "intro"})),
            event("engagement", land, json!({"engaged_ms": 5000})),
            event("form_submit", land, json!({"form_id": "lead", "fields": ["email"]})),
            event(
                "purchase",
                "https://shop.example/thanks",
                json!({"order_id": "o-1", "value": 49.5, "currency": "EUR", "ts": clicked_at * 1000 + 120_000}),
            ),
        ],
    );
    b["utm"] = utm;
    b["ec"] = json!(ec);
    let (s, _, body) = c
        .post_raw(
            b.to_string(),
            &[("user-agent", CHROME_UA), ("x-forwarded-for", "81.2.69.10"), ("content-type", "text/plain")],
        )
        .await;
    assert_eq!(s, 202, "{body}");
    // B: from Google on an iPhone, two pages, buys (no campaign, no email: no touch).
    send(
        c,
        &tokens[1],
        "vB",
        "sB",
        None,
        IPHONE,
        "203.0.113.7",
        vec![
            event("page_view", "https://shop.example/", json!({"referrer": "https://www.google.com/"})),
            event("page_view", "https://shop.example/pricing", json!({"referrer": "https://shop.example/"})),
            event("scroll", "https://shop.example/pricing", json!({"depth": 25})),
            event(
                "purchase",
                "https://shop.example/pricing",
                json!({"order_id": "o-3", "value": 10.0, "currency": "EUR"}),
            ),
        ],
    )
    .await;
    // C: from a tweeted campaign link, buys; its batch is retried (same event ids).
    let tweet = json!({"source": "twitter", "medium": "social", "campaign": "launch-tweet"});
    let b = send(
        c,
        &tokens[2],
        "vC",
        "sC",
        Some(tweet),
        CHROME_UA,
        "198.51.100.1",
        vec![
            event("page_view", "https://shop.example/landing", json!({"referrer": "https://t.co/abc"})),
            event("custom", "https://shop.example/landing", json!({"name": "share"})),
            event(
                "purchase",
                "https://shop.example/landing",
                json!({"order_id": "o-2", "value": 20.0, "currency": "USD"}),
            ),
        ],
    )
    .await;
    let (s, _, _) = c.post_raw(b.to_string(), &[("x-forwarded-for", "198.51.100.1")]).await;
    assert_eq!(s, 202);
    // The shop's server reports C's order too (counted once), refunds 5 of it, and
    // reports an order of B's that no browser saw (B's visitor id passed to the checkout).
    let server = |kind: &str, order: &str, value: f64, extra: Value| {
        let mut e = json!({"id": uuid::Uuid::new_v4().to_string(), "type": kind, "order_id": order,
            "value": value, "currency": if order == "o-2" { "USD" } else { "EUR" }});
        e.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        e
    };
    let events = vec![
        server("purchase", "o-2", 20.0, json!({"vid": "vC"})),
        server("refund", "o-2", 5.0, json!({})),
        server("purchase", "o-4", 7.0, json!({"vid": "vB"})),
    ];
    let r = c.http.post(format!("{}/v1/server/events", c.url)).bearer_auth(SITE_KEY);
    let r = r.json(&json!({"site": c.site, "events": events})).send().await.unwrap();
    assert_eq!(r.status(), 202);
    // A crawler, flagged and excluded from every query.
    send(
        c,
        &bot_token,
        "vD",
        "sD",
        None,
        GOOGLEBOT,
        "198.51.100.2",
        vec![event("page_view", "https://shop.example/landing", json!({}))],
    )
    .await;
    12 + 4 + 2 * 3 + 3 + 1
}

fn n(v: &Value) -> f64 {
    num(v)
}

fn sum(rows: &[Value], col: &str) -> f64 {
    rows.iter().map(|r| n(&r[col])).sum()
}

fn find<'a>(rows: &'a [Value], col: &str, val: &str) -> &'a Value {
    rows.iter().find(|r| r[col] == val).unwrap_or_else(|| panic!("no row with {col} = {val}: {rows:?}"))
}

fn assert_query(name: &str, rows: &[Value]) {
    match name {
        "traffic_daily" => {
            assert_eq!(sum(rows, "visitors"), 3.0, "{rows:?}");
            assert_eq!(sum(rows, "sessions"), 3.0);
            assert_eq!(sum(rows, "page_views"), 4.0, "the retried batch counts once; the bot not at all");
        }
        "top_pages" => {
            assert_eq!(rows[0]["path"], "/landing");
            assert_eq!(n(&rows[0]["page_views"]), 2.0);
            assert_eq!(n(&find(rows, "path", "/pricing")["page_views"]), 1.0);
            // 5000 ms engaged over the two page views of /landing.
            assert_eq!(n(&find(rows, "path", "/landing")["avg_engaged_ms"]), 2500.0);
            assert_eq!(rows.len(), 3);
        }
        "channels" => {
            let email = find(rows, "channel", "email");
            assert_eq!((n(&email["sessions"]), n(&email["purchases"]), n(&email["revenue"])), (1.0, 1.0, 49.5));
            assert_eq!(n(&find(rows, "channel", "search")["sessions"]), 1.0);
            let social = find(rows, "channel", "social");
            assert_eq!(social["referrer_host"], "t.co");
            assert_eq!((n(&social["purchases"]), n(&social["revenue"])), (1.0, 15.0), "browser + server once, net");
            assert_eq!(sum(rows, "sessions"), 3.0);
        }
        "utm_campaigns" => {
            assert_eq!(rows.len(), 2, "{rows:?}");
            let t = find(rows, "utm_campaign", "launch-tweet");
            assert_eq!(
                (t["utm_source"].as_str(), n(&t["sessions"]), n(&t["purchases"]), n(&t["revenue"])),
                (Some("twitter"), 1.0, 1.0, 15.0)
            );
            let r = find(rows, "utm_campaign", "spring");
            assert_eq!(
                (r["utm_source"].as_str(), r["utm_medium"].as_str(), r["utm_campaign"].as_str()),
                (Some("newsletter"), Some("email"), Some("spring"))
            );
            assert_eq!(
                (n(&r["sessions"]), n(&r["form_submits"]), n(&r["purchases"]), n(&r["revenue"])),
                (1.0, 1.0, 1.0, 49.5)
            );
        }
        "countries" => {
            assert_eq!(n(&find(rows, "country", "GB")["visitors"]), 1.0);
            assert_eq!(n(&find(rows, "country", "DE")["visitors"]), 1.0);
            assert_eq!(n(&find(rows, "country", "")["visitors"]), 1.0);
        }
        "devices" => {
            assert_eq!(n(&find(rows, "device", "desktop")["visitors"]), 2.0);
            let m = find(rows, "device", "mobile");
            assert_eq!((m["browser"].as_str(), n(&m["visitors"])), (Some("Safari"), 1.0));
            assert!(rows.iter().all(|r| r["device"] != "bot"));
        }
        "scroll_depth" => {
            assert_eq!(n(&rows[0]["depth"]), 25.0);
            assert_eq!(n(&rows[0]["page_views_reaching"]), 2.0);
            assert_eq!(n(&rows[1]["depth"]), 50.0);
            assert_eq!(n(&rows[1]["page_views_reaching"]), 1.0);
        }
        "video_engagement" => {
            let v = find(rows, "video_id", "intro");
            for col in ["starts", "p25", "p50", "p75", "completes"] {
                assert_eq!(n(&v[col]), 1.0, "{col}");
            }
        }
        "form_conversion" => {
            let f = find(rows, "form_id", "lead");
            assert_eq!((n(&f["submits"]), n(&f["sessions_submitting"]), n(&f["sessions_total"])), (1.0, 1.0, 3.0));
            assert!((n(&f["conversion"]) - 0.3333).abs() < 1e-9);
        }
        "consent_rates" => {
            assert_eq!(sum(rows, "decisions"), 6.0);
            assert_eq!(sum(rows, "accepted"), 4.0);
            assert_eq!(sum(rows, "rejected"), 1.0);
            assert_eq!(sum(rows, "customized"), 1.0);
            assert_eq!(sum(rows, "withdrawn"), 0.0);
        }
        // Email and attribution: A's click and session, B's purchase without a
        // touch, C's campaign purchase (its retried batch counts once).
        "email_funnel" => {
            assert_eq!(rows.len(), 1, "{rows:?}");
            let r = find(rows, "message_id", "spring-news");
            let got: Vec<f64> = ["clicks", "leads", "bot_clicks", "sessions", "form_submits", "purchases", "revenue"]
                .iter()
                .map(|c| n(&r[*c]))
                .collect();
            assert_eq!(got, [1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 49.5]);
        }
        "email_click_to_purchase" => {
            assert_eq!(rows.len(), 1, "{rows:?}");
            let r = find(rows, "message_id", "spring-news");
            let got: Vec<f64> = ["purchases", "revenue", "median_seconds", "avg_seconds", "min_seconds", "max_seconds"]
                .iter()
                .map(|c| n(&r[*c]))
                .collect();
            assert_eq!(got, [1.0, 49.5, 120.0, 120.0, 120.0, 120.0]);
        }
        "email_opens_clicks" => {
            assert_eq!(rows.len(), 1, "{rows:?}");
            let r = find(rows, "message_id", "spring-news");
            let got: Vec<f64> = ["opens", "leads_opened", "proxy_opens", "clicks", "leads_clicked", "click_to_open"]
                .iter()
                .map(|c| n(&r[*c]))
                .collect();
            assert_eq!(got, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0], "Gmail's proxy fetch is not a human open");
        }
        "attribution_purchases" => {
            assert_eq!(rows.len(), 4, "{rows:?}");
            let touch = |order: &str| {
                let r = find(rows, "order_id", order);
                let s = |c: &str| r[c].as_str().unwrap().to_string();
                (
                    s("visitor_id"),
                    n(&r["touches"]),
                    s("first_touch_type"),
                    s("first_touch"),
                    s("last_touch_type"),
                    s("last_touch"),
                    s("lead_id"),
                )
            };
            let t = |v: &str, k: f64, ft: &str, f: &str, lt: &str, l: &str, lead: &str| {
                (v.to_string(), k, ft.to_string(), f.to_string(), lt.to_string(), l.to_string(), lead.to_string())
            };
            assert_eq!(touch("o-1"), t("vA", 1.0, "email", "spring-news", "email", "spring-news", "lead-a"));
            assert_eq!(touch("o-2"), t("vC", 1.0, "utm", "launch-tweet", "utm", "launch-tweet", ""));
            assert_eq!(touch("o-3"), t("vB", 0.0, "none", "", "none", "", ""));
            assert_eq!(touch("o-4"), t("vB", 0.0, "none", "", "none", "", ""), "the server's order joins vB");
            assert_eq!(
                (n(&find(rows, "order_id", "o-2")["revenue"]), find(rows, "order_id", "o-2")["currency"].as_str()),
                (15.0, Some("USD")),
                "net of the refund"
            );
        }
        "attribution_touches" => {
            let got: Vec<(String, String, [f64; 4])> = rows
                .iter()
                .map(|r| {
                    let k =
                        ["first_touch_purchases", "first_touch_revenue", "last_touch_purchases", "last_touch_revenue"]
                            .map(|c| n(&r[c]));
                    (r["touch_type"].as_str().unwrap().to_string(), r["touch"].as_str().unwrap().to_string(), k)
                })
                .collect();
            assert_eq!(
                got,
                [
                    ("email".to_string(), "spring-news".to_string(), [1.0, 49.5, 1.0, 49.5]),
                    ("none".into(), "".into(), [2.0, 17.0, 2.0, 17.0]),
                    ("utm".into(), "launch-tweet".into(), [1.0, 15.0, 1.0, 15.0]),
                ]
            );
        }
        other => panic!("query {other} has no assertion here: add one"),
    }
}

#[tokio::test]
async fn every_analyst_query_gives_the_expected_answer_on_real_data() {
    let ch = Ch::fresh("queries").await;
    let mut cfg = test_config(&ch);
    cfg.trust_proxy = true;
    cfg.geoip.path = Some(geo_db());
    // The owner has a lawful basis for every recipient: clicks name their lead.
    cfg.sites.get_mut(&ch.name).unwrap().email_tracking = ktra_collector::config::EmailTracking::All;
    cfg.sites.get_mut(&ch.name).unwrap().api_keys = vec![SITE_KEY.into()];
    let c = TestCollector::start(cfg).await;
    let want = shop_day(&c, &ch).await;
    assert_eq!(ch.wait_count("SELECT count() FROM events", want, WAIT).await, want);
    assert_eq!(ch.wait_count("SELECT count() FROM consent_log", 6, WAIT).await, 6);
    assert_eq!(ch.wait_count("SELECT count() FROM email_opens", 2, WAIT).await, 2);

    let now = (now_ms() / 1000) as u32;
    let (from, to) = (now - 86_400, now + 86_400);
    let params =
        BTreeMap::from([("site", Param::Str(c.site.clone())), ("from", Param::Time(from)), ("to", Param::Time(to))]);
    let dump = std::env::var_os("KTRA_ENGINE_DUMP_DIR").map(std::path::PathBuf::from);
    if let Some(d) = &dump {
        let _ = std::fs::remove_dir_all(d);
        std::fs::create_dir_all(d.join("tables")).unwrap();
        std::fs::create_dir_all(d.join("results")).unwrap();
        std::fs::write(d.join("params.json"), json!({"site": c.site, "from": from, "to": to}).to_string()).unwrap();
        for table in ["events", "consent_log", "email_clicks", "email_opens"] {
            let text = ch.exec(&format!("SELECT * FROM {table} FORMAT JSONEachRow")).await.unwrap();
            std::fs::write(d.join("tables").join(format!("{table}.jsonl")), text).unwrap();
        }
    }
    for q in QUERIES {
        let sql = queries::render(q.sql, &params).unwrap();
        let rows = ch.rows(&sql).await;
        assert_query(q.name, &rows);
        if let Some(d) = &dump {
            let text = ch.exec(&format!("{sql} FORMAT JSONEachRow")).await.unwrap();
            std::fs::write(d.join("results").join(format!("{}.jsonl", q.name)), text).unwrap();
        }
    }
    c.stop().await;
}
