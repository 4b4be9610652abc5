//! The event panels served from hourly rollups (`stats::rollup`) must answer
//! exactly what the library SQL answers over `events`, for aligned and
//! unaligned ranges, after late rows land in hours already rolled up, after
//! retried copies, and after an erasure empties an hour. Rows go straight
//! into ClickHouse (as `cargo xtask seed` or an import would), so the marks
//! come from the materialized view, not from the collector.
#![allow(clippy::unwrap_used, missing_docs)]

use ktra_collector::stats::{explore, filter::Filter, params::Range};
use ktra_tests::*;
use serde_json::{json, Value};

/// 2026-01-01 00:00:00 UTC.
const T: u32 = 1_767_225_600;
const H: u32 = 3600;

/// One `events` row of the test's site.
fn row(site: &str, n: u32, vid: &str, at: u32, kind: &str, path: &str, extra: Value) -> Value {
    let mut r = json!({
        "site_id": site,
        "event_id": format!("00000000-0000-4000-8000-{n:012}"),
        "event_type": kind,
        "ts": at,
        "ts_ms": u64::from(at) * 1000,
        "received_at": at,
        "visitor_id": vid,
        "session_id": format!("s-{vid}-{}", at / (2 * H)),
        "path": path,
        "url": format!("https://shop.example{path}"),
        "country": "DE",
        "browser": "Firefox",
        "os": "Linux",
        "device": "desktop",
    });
    r.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    r
}

/// Six hours of traffic with bots, a server report, engagement, retried
/// copies and visitors in several countries and devices.
fn fixture(site: &str) -> Vec<Value> {
    let mut rows = Vec::new();
    let paths = ["/", "/pricing", "/blog/a", "/blog/b", "/checkout"];
    let mut n = 0;
    for v in 0..40u32 {
        let vid = format!("v{v}");
        let country = ["DE", "FR", "US", "GB"][v as usize % 4];
        let (browser, os, device) =
            [("Chrome", "Windows", "desktop"), ("Safari", "iOS", "mobile"), ("Firefox", "Linux", "desktop")]
                [v as usize % 3];
        for k in 0..(1 + v % 4) {
            n += 1;
            let at = T + (v * 977 + k * 1511) % (6 * H);
            let path = paths[((v + k) % 5) as usize];
            let extra = json!({"country": country, "browser": browser, "os": os, "device": device});
            rows.push(row(site, n, &vid, at, "page_view", path, extra.clone()));
            n += 1;
            let mut eng = extra.clone();
            eng["engaged_ms"] = json!(1000 + v * 10);
            rows.push(row(site, n, &vid, at + 5, "engagement", path, eng));
            if v % 7 == 0 {
                // A retried copy of the page view.
                rows.push(row(site, n - 1, &vid, at, "page_view", path, extra.clone()));
            }
        }
        if v % 3 == 0 {
            // A form, submitted twice by some (a retried copy for others).
            n += 1;
            let form = json!({"form_id": if v % 2 == 0 { "lead" } else { "checkout" }});
            rows.push(row(site, n, &vid, T + v * 401 + 60, "form_submit", "/pricing", form.clone()));
            if v % 9 == 0 {
                rows.push(row(site, n, &vid, T + v * 401 + 60, "form_submit", "/pricing", form));
            }
        }
        if v % 5 == 0 {
            n += 1;
            rows.push(row(site, n, &vid, T + v * 500 + 30, "scroll", "/pricing", json!({"scroll_depth": 50})));
        }
    }
    // A bot on every page, and a server report: never counted.
    for (i, p) in paths.iter().enumerate() {
        rows.push(row(site, 9000 + i as u32, "bot", T + i as u32 * H + 10, "page_view", p, json!({"is_bot": 1})));
    }
    rows.push(row(site, 9100, "v1", T + 2 * H + 99, "purchase", "", json!({"source": "server", "order_id": "o1"})));
    rows
}

/// Every rolled-up panel for `[from, to)` equals its library SQL over `events`.
async fn check(ch: &Ch, c: &TestCollector, from: u32, to: u32, when: &str) {
    let site = ch.name.as_str();
    let range = Range { from, to };
    let library = |name: &str, template: &str| {
        let sql = explore::render(name, template, site, range, &Filter::default()).unwrap();
        async move { ch.rows(&sql).await }
    };
    let q = format!("site={site}&from={from}&to={to}");
    for name in ["traffic_daily", "top_pages", "countries", "devices", "form_conversion"] {
        let template = ktra_schema::queries::get(name).unwrap().sql;
        let want = library(name, template).await;
        let got = c.admin_get(&format!("/v1/stats/{name}?{q}")).await;
        let got = got["rows"].as_array().unwrap();
        assert_eq!(canon(got), canon(&want), "{name} [{from}, {to}) {when}");
    }
    let traffic = c.admin_get(&format!("/v1/stats/traffic?{q}")).await;
    let hourly = to - from <= explore::HOURLY_MAX_SECS;
    let template =
        if hourly { explore::TRAFFIC_HOURLY } else { ktra_schema::queries::get("traffic_daily").unwrap().sql };
    let want = library("traffic", template).await;
    assert_eq!(canon(traffic["rows"].as_array().unwrap()), canon(&want), "traffic [{from}, {to}) {when}");
    let want = library("summary", explore::SUMMARY).await;
    assert_eq!(canon(&[traffic["summary"].clone()]), canon(&want), "summary [{from}, {to}) {when}");
}

const RANGES: &[(u32, u32)] = &[
    (T, T + 6 * H),                // whole hours
    (T + 1234, T + 5 * H + 77),    // partial hours at both ends
    (T + 100, T + 200),            // inside one hour
    (T - 86_400, T + 2 * 86_400),  // daily resolution
    (T + 2 * H, T + 2 * H + 1800), // half an hour
];

#[tokio::test]
async fn rolled_up_panels_equal_the_library_over_events() {
    let ch = Ch::fresh("rollups").await;
    let c = TestCollector::start(test_config(&ch)).await;
    let site = ch.name.clone();
    ch.insert_json("events", &fixture(&site)).await;
    for (from, to) in RANGES {
        check(&ch, &c, *from, *to, "on the fixture").await;
    }
    let used = |m: &str| metric(m, "ktra_rollup_panel_requests_total", &[("source", "rollups")]);
    let served = used(&c.metrics().await);
    assert!(served >= (RANGES.len() * 7) as f64, "the panels were served from rollups ({served})");
    let hours = ch.count(&format!("SELECT uniqExact(hour) FROM rollups WHERE site_id = '{site}'")).await;
    assert_eq!(hours, 6, "six hours of events, six hours rolled up");

    // Late rows in hours already rolled up: a new page, and retried copies of stored rows.
    let mut late = vec![row(&site, 20_000, "late", T + H + 42, "page_view", "/late", json!({"country": "JP"}))];
    late.extend(fixture(&site).into_iter().take(10));
    ch.insert_json("events", &late).await;
    for (from, to) in RANGES {
        check(&ch, &c, *from, *to, "after late rows and copies").await;
    }
    let top = c.admin_get(&format!("/v1/stats/top_pages?site={site}&from={T}&to={}", T + 6 * H)).await;
    assert!(top["rows"].as_array().unwrap().iter().any(|r| r["path"] == "/late"), "{top}");

    // Erasure: the only visitor of hour 7 goes, and so does that hour.
    ch.insert_json("events", &[row(&site, 30_000, "alone", T + 6 * H + 5, "page_view", "/alone", json!({}))]).await;
    let wide = (T, T + 8 * H);
    check(&ch, &c, wide.0, wide.1, "with the lone visitor").await;
    let r =
        c.http.delete(format!("{}/v1/admin/visitors/{site}/alone", c.url)).bearer_auth(ADMIN_KEY).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    check(&ch, &c, wide.0, wide.1, "after the erasure").await;
    let pages = c.admin_get(&format!("/v1/stats/top_pages?site={site}&from={}&to={}", wide.0, wide.1)).await;
    assert!(!pages["rows"].as_array().unwrap().iter().any(|r| r["path"] == "/alone"), "{pages}");

    // Too many stale hours for one request: answered from events (or from
    // rollups the background task made meanwhile), the same either way.
    let far = T + 30 * 86_400;
    let spread: Vec<Value> = (0..60u32)
        .map(|i| row(&site, 40_000 + i, &format!("f{}", i % 9), far + i * H + 17, "page_view", "/far", json!({})))
        .collect();
    ch.insert_json("events", &spread).await;
    check(&ch, &c, far, far + 61 * H, "with 60 stale hours").await;
    c.stop().await;
}
