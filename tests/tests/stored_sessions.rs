//! Session panels served from stored sessions (`stats::sessions`, table
//! `session_facts`) must answer exactly what the library SQL answers over the
//! `sessions` view: for sessions the background task stored, after late rows
//! and retried copies land in stored start hours (computed again in the
//! request), for the last day's sessions (never stored yet), and after an
//! erasure, which must also delete the visitor's stored sessions. Rows go
//! straight into ClickHouse, as `cargo xtask seed` or an import would.
#![allow(clippy::unwrap_used, missing_docs)]

use ktra_collector::stats::{explore, filter::Filter, params::Range, sessions};
use ktra_tests::*;
use serde_json::{json, Value};
use std::time::Duration;

/// 2026-01-01 00:00:00 UTC: long settled, so the background task stores it.
const T: u32 = 1_767_225_600;
const H: u32 = 3600;

/// One browser `events` row.
fn row(site: &str, n: u32, vid: &str, sid: &str, at: u32, kind: &str, extra: Value) -> Value {
    let mut r = json!({
        "site_id": site,
        "event_id": format!("00000000-0000-4000-8000-{n:012}"),
        "event_type": kind,
        "ts": at,
        "ts_ms": u64::from(at) * 1000,
        "received_at": at,
        "visitor_id": vid,
        "session_id": sid,
        "path": "/",
        "url": "https://shop.example/",
        "channel": "direct",
        "country": "DE",
        "device": "desktop",
    });
    r.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    r
}

/// Visitors over `hours` hours from `t0`: sessions from search, email links
/// and campaigns, some crossing hours and midnight, some buying (browser and
/// server reports of one order, a refund), a bot, retried copies.
fn fixture(site: &str, t0: u32, hours: u32, first_n: u32) -> (Vec<Value>, Vec<Value>) {
    let (mut rows, mut clicks) = (Vec::new(), Vec::new());
    let mut n = first_n;
    let mut next = || {
        n += 1;
        n
    };
    let channels = ["search", "social", "email", "paid", "internal"];
    for v in 0..30u32 {
        let vid = format!("v{first_n}-{v}");
        for s in 0..(1 + v % 3) {
            let sid = format!("{vid}-s{s}");
            let start = t0 + (v * 1973 + s * 7 * H + 1800) % (hours * H);
            let ch = channels[((v + s) % 5) as usize];
            let mut landing = json!({"channel": ch, "url": format!("https://shop.example/l{v}"), "path": format!("/l{v}"),
                "referrer_host": if ch == "search" { "www.google.com" } else { "" }});
            if v % 4 == 1 {
                landing["utm_source"] = json!("news");
                landing["utm_medium"] = json!("email");
                landing["utm_campaign"] = json!(format!("spring-{}", v % 3));
            }
            if ch == "email" {
                let click = format!("c{first_n}-{v}-{s}");
                landing["email_click_id"] = json!(click);
                landing["lead_id"] = json!(format!("lead{v}"));
                clicks.push(json!({"click_id": click, "site_id": site, "lead_id": format!("lead{v}"),
                    "message_id": format!("m{}", v % 2), "clicked_at": start - 5, "is_bot": 0}));
            }
            if v == 13 {
                landing["is_bot"] = json!(1);
            }
            let first = next();
            rows.push(row(site, first, &vid, &sid, start, "page_view", landing.clone()));
            if v % 6 == 0 {
                rows.push(row(site, first, &vid, &sid, start, "page_view", landing));
                // a retried copy
            }
            // More page views, up to ~2.5 hours later (crossing hours; midnight for some).
            for k in 1..(1 + v % 4) {
                let at = start + k * (40 * 60 + v * 13);
                rows.push(row(
                    site,
                    next(),
                    &vid,
                    &sid,
                    at,
                    "page_view",
                    json!({"channel": "internal", "path": format!("/p{k}")}),
                ));
            }
            if v % 3 == 0 {
                rows.push(row(site, next(), &vid, &sid, start + 300, "form_submit", json!({"form_id": "lead"})));
            }
            if v % 5 == 0 && s == 0 {
                let order = format!("o{first_n}-{v}");
                let buy = json!({"order_id": order, "revenue": 40.0 + f64::from(v), "currency": "EUR"});
                rows.push(row(site, next(), &vid, &sid, start + 900, "purchase", buy.clone()));
                let mut server = buy;
                server["source"] = json!("server");
                rows.push(row(site, next(), &vid, "", start + 960, "purchase", server));
                if v % 10 == 0 {
                    let refund = json!({"order_id": order, "revenue": -10.0, "source": "server"});
                    rows.push(row(site, next(), &vid, "", start + 4 * H, "refund", refund));
                }
            }
        }
    }
    (rows, clicks)
}

/// The library's queries that read `sessions`, derived from the library.
fn session_queries() -> Vec<&'static ktra_schema::queries::Query> {
    ktra_schema::queries::QUERIES.iter().filter(|q| sessions::reads_sessions(q.sql)).collect()
}

/// Every session query for `[from, to)` equals its library SQL over the view;
/// returns how many answers had rows.
async fn check(ch: &Ch, c: &TestCollector, from: u32, to: u32, when: &str) -> usize {
    let site = ch.name.as_str();
    let mut with_rows = 0;
    for q in session_queries() {
        let sql = explore::render(q.name, q.sql, site, Range { from, to }, &Filter::default()).unwrap();
        let want = ch.rows(&sql).await;
        let got = c.admin_get(&format!("/v1/stats/{}?site={site}&from={from}&to={to}", q.name)).await;
        let got = got["rows"].as_array().unwrap();
        assert_eq!(canon(got), canon(&want), "{} [{from}, {to}) {when}", q.name);
        with_rows += usize::from(!want.is_empty());
    }
    with_rows
}

/// Filters (whose sessions come from stored sessions too) on every library
/// query they apply to equal the same SQL over every event.
async fn check_filtered(ch: &Ch, c: &TestCollector, from: u32, to: u32, when: &str) {
    let site = ch.name.as_str();
    let mut matched = 0;
    for filter in ["channel:search", "utm_campaign:spring-1;country:DE", "message:m1", "path:/p1*;channel:email"] {
        let f = Filter::parse(filter).unwrap();
        for q in ktra_schema::queries::QUERIES {
            let Ok(sql) = explore::render(q.name, q.sql, site, Range { from, to }, &f) else { continue };
            let want = ch.rows(&sessions::standalone(&sql)).await;
            let got = c
                .admin_get(&format!(
                    "/v1/stats/{}?site={site}&from={from}&to={to}&filter={}",
                    q.name,
                    filter.replace(';', "%3B").replace('*', "%2A")
                ))
                .await;
            assert_eq!(canon(got["rows"].as_array().unwrap()), canon(&want), "{} [{filter}] {when}", q.name);
            matched += usize::from(!want.is_empty());
        }
    }
    assert!(matched >= 20, "the filters keep rows ({matched} answers with rows)");
}

fn stored(text: &str) -> f64 {
    metric(text, sessions::SESSION_SOURCE, &[("source", "stored")])
}

#[tokio::test]
async fn stored_sessions_answer_what_the_view_answers() {
    let names: Vec<&str> = session_queries().iter().map(|q| q.name).collect();
    for want in ["channels", "utm_campaigns", "email_funnel", "attribution_touches", "attribution_purchases"] {
        assert!(names.contains(&want), "{want} reads sessions: {names:?}");
    }
    let ch = Ch::fresh("stored_sessions").await;
    let c = TestCollector::start(test_config(&ch)).await;
    let site = ch.name.clone();
    let (rows, clicks) = fixture(&site, T, 30, 0);
    ch.insert_json("email_clicks", &clicks).await;
    ch.insert_json("events", &rows).await;
    // Start hours without a stored computation (the background task also
    // stores the empty hours before them, whose 25 hours hold events).
    let unstored = format!(
        "SELECT count() FROM (SELECT DISTINCT toStartOfHour(min(ts)) AS h FROM events WHERE site_id = '{site}' \
         AND source != 'server' GROUP BY session_id) WHERE h NOT IN \
         (SELECT hour FROM session_facts WHERE site_id = '{site}' AND session_id = '')"
    );
    assert_eq!(ch.wait_count(&unstored, 0, Duration::from_secs(60)).await, 0, "every start hour stored");

    let ranges = [(T, T + 30 * H), (T + 5 * H, T + 9 * H), (T - 86_400, T + 3 * 86_400), (T + 29 * H, T + 31 * H)];
    let before = stored(&c.metrics().await);
    let mut with_rows = 0;
    for (from, to) in ranges {
        with_rows += check(&ch, &c, from, to, "stored").await;
    }
    assert!(with_rows >= 10, "the fixture fills the panels ({with_rows} answers with rows)");
    check_filtered(&ch, &c, T, T + 30 * H, "stored").await;
    let served = stored(&c.metrics().await) - before;
    assert!(served >= (ranges.len() * names.len()) as f64, "answered from stored sessions ({served})");

    // Late rows in stored start hours: more page views of stored sessions
    // (one hours later), a retried copy, a new session; then a refund.
    let mut late = vec![
        row(&site, 50_001, "v0-2", "v0-2-s0", T + 20 * H, "page_view", json!({"channel": "internal", "path": "/late"})),
        row(
            &site,
            50_002,
            "late",
            "late-s",
            T + 3 * H + 7,
            "page_view",
            json!({"channel": "search", "utm_source": "ads",
            "utm_medium": "cpc", "utm_campaign": "spring-1"}),
        ),
    ];
    late.extend(rows.iter().take(5).cloned());
    let stale_served = |m: &str| metric(m, sessions::STORED_HOURS, &[]);
    let stored_hours = stale_served(&c.metrics().await);
    ch.insert_json("events", &late).await;
    for (from, to) in ranges {
        check(&ch, &c, from, to, "after late rows (computed in the request)").await;
    }

    let until = std::time::Instant::now() + Duration::from_secs(60);
    while stale_served(&c.metrics().await) == stored_hours && std::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(stale_served(&c.metrics().await) > stored_hours, "the background task stored the stale hours again");
    for (from, to) in ranges {
        check(&ch, &c, from, to, "after late rows, stored again").await;
    }
    check_filtered(&ch, &c, T - 86_400, T + 3 * 86_400, "after late rows, stored again").await;

    // The last day's sessions: never stored yet, computed in the request.
    let now = u32::try_from(now_ms() / 1000).unwrap();
    let recent_t0 = now / H * H - 6 * H;
    let (recent, recent_clicks) = fixture(&site, recent_t0, 6, 100_000);
    ch.insert_json("email_clicks", &recent_clicks).await;
    ch.insert_json("events", &recent).await;
    check(&ch, &c, recent_t0 - H, now + H, "the last hours").await;
    check_filtered(&ch, &c, recent_t0 - H, now + H, "the last hours (computed in the request)").await;
    check(&ch, &c, T - 86_400, now + H, "everything").await;

    // Erasure: the visitor's stored sessions go with their events.
    let victim = "v0-4";
    let facts = format!("SELECT count() FROM session_facts WHERE site_id = '{site}' AND visitor_id = '{victim}'");
    assert!(ch.count(&facts).await > 0, "the victim's sessions were stored");
    let r = c
        .http
        .delete(format!("{}/v1/admin/visitors/{site}/{victim}", c.url))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    assert_eq!(ch.wait_count(&facts, 0, Duration::from_secs(30)).await, 0, "the erasure deleted the stored sessions");
    for (from, to) in ranges {
        check(&ch, &c, from, to, "after the erasure").await;
    }
    c.stop().await;
}
