//! The question a funnel seller asks, built by clicks alone in headless
//! Chromium: "which campaign brings buyers of the course through the pricing
//! page?" — New funnel, a page step and a purchase step, save, break down by
//! UTM campaign, download the CSV; then edit it (any order) and delete it.
//! The data is a hand-built fixture, so the numbers are known.
#![allow(clippy::unwrap_used, missing_docs)]

use ktra_tests::browser::{exclusive, web_dir, Browser};
use ktra_tests::dashboard::{break_down, download_csv, funnel_steps, sign_in, tid};
use ktra_tests::*;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// Pricing → course purchase, by campaign: spring v1, v3, v5 (v1 and v5 buy),
/// summer v2, v4 (v2 buys the course, v4 an ebook); v6 buys without pricing.
fn fixture(site: &str, t: u32) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut n = 0;
    let mut add = |vid: &str, at: u32, kind: &str, path: &str, campaign: &str, product: &str| {
        n += 1;
        rows.push(json!({
            "site_id": site, "event_id": format!("00000000-0000-4000-8000-{n:012}"), "event_type": kind,
            "ts": at, "ts_ms": u64::from(at) * 1000, "received_at": at, "visitor_id": vid,
            "session_id": format!("s-{vid}"), "path": path, "url": format!("https://shop.example{path}"),
            "channel": if campaign.is_empty() { "internal" } else { "paid" }, "utm_campaign": campaign,
            "product_id": product, "revenue": if product.is_empty() { 0.0 } else { 50.0 },
            "order_id": if product.is_empty() { String::new() } else { format!("o-{vid}") },
            "device": "desktop", "country": "DE",
        }));
    };
    for (i, (vid, campaign, buys)) in [
        ("v1", "spring", "course"),
        ("v2", "summer", "course"),
        ("v3", "spring", ""),
        ("v4", "summer", "ebook"),
        ("v5", "spring", "course"),
    ]
    .into_iter()
    .enumerate()
    {
        let at = t + i as u32 * 60;
        add(vid, at, "page_view", "/pricing", campaign, "");
        if !buys.is_empty() {
            add(vid, at + 120, "purchase", "/thanks", "", buys);
        }
    }
    add("v6", t, "page_view", "/blog", "", "");
    add("v6", t + 60, "purchase", "/thanks", "", "course");
    rows
}

/// Waits until the funnel panel shows `name` drawn.
async fn funnel_shown(b: &Browser, name: &str) {
    b.wait_js(
        "the funnel drawn",
        &format!(
            "(p => p.dataset.state == 'ready' && p.dataset.funnel == {} && p.querySelectorAll('[data-testid=funnel-step]').length > 0)(document.querySelector('[data-panel=funnel]'))",
            json!(name)
        ),
        WAIT,
    )
    .await;
}

async fn pick(b: &Browser, select: &str, value: &str) {
    b.click(&b.find(&format!("{select} option[value=\"{value}\"]")).await).await;
}

#[tokio::test]
async fn a_funnel_built_by_clicks_answers_which_campaign_brings_buyers() {
    let _one = exclusive().await;
    let ch = Ch::fresh("browser_funnel_builder").await;
    let mut cfg = test_config(&ch);
    cfg.assets_dir = Some(web_dir());
    let c = TestCollector::start(cfg).await;
    let t = u32::try_from(now_ms() / 1000).unwrap() - 3 * 3600;
    ch.insert_json("events", &fixture(&c.site, t)).await;

    let b = Browser::start().await;
    sign_in(&b, &c.url, ADMIN_KEY).await;
    b.wait_js(
        "no funnel yet",
        "document.querySelector('[data-panel=funnel]').dataset.state == 'empty' && document.getElementById('dash').dataset.state == 'ready'",
        WAIT,
    )
    .await;
    assert!(!b.js("return document.getElementById('funnel-new').hidden", vec![]).await.as_bool().unwrap());

    // New funnel: pricing page, then a purchase of the course, within a day.
    b.click(&b.find(&tid("funnel-new")).await).await;
    b.find(&tid("funnel-editor")).await;
    b.type_into(&b.find(&tid("editor-name")).await, "course_buyers").await;
    let step = |i: usize, what: &str| format!("{}:nth-child({i}) {}", tid("editor-step"), tid(what));
    b.type_into(&b.find(&step(1, "step-value")).await, "/pricing*").await;
    pick(&b, &step(2, "step-kind"), "purchase").await;
    b.type_into(&b.find(&step(2, "step-value")).await, "course").await;
    pick(&b, &tid("editor-window"), "1d").await;
    // A third step, then removed again: two remain.
    b.click(&b.find(&tid("editor-add-step")).await).await;
    assert_eq!(b.js("return document.querySelectorAll('[data-testid=editor-step]').length", vec![]).await, json!(3));
    b.click(&b.find(&format!("{}:nth-child(3) .remove-step", tid("editor-step"))).await).await;
    b.js("window.scrollTo(0, document.querySelector('[data-panel=funnel]').offsetTop - 60)", vec![]).await;
    let editor_shot = b.screenshot("dashboard-funnel-editor").await;
    b.click(&b.find(&tid("editor-save")).await).await;
    funnel_shown(&b, "course_buyers").await;
    assert_eq!(funnel_steps(&b, "").await, [5, 3], "five saw pricing; v1, v2, v5 bought the course after it");
    let stored = c.admin_get("/v1/stats/sites").await["definitions"][&c.site]["funnels"]["course_buyers"].clone();
    assert_eq!(
        stored,
        json!({"steps": [{"path": "/pricing*"}, {"event": "purchase", "product_id": "course"}], "window": "1d", "order": "strict"})
    );

    // Which campaign: break it down by UTM campaign.
    assert_eq!(break_down(&b, "utm_campaign").await, ["spring", "summer"]);
    assert_eq!(funnel_steps(&b, "[data-testid=funnel-group]").await, [3, 2, 2, 1], "spring 3 → 2, summer 2 → 1");
    b.js("window.scrollTo(0, document.querySelector('[data-panel=funnel]').offsetTop - 60)", vec![]).await;
    let shot = b.screenshot("dashboard-funnel-built").await;

    // Exported.
    let (file, lines, _) = download_csv(&b, "funnel").await;
    assert_eq!(
        (file.as_str(), lines),
        ("ktra-browser_funnel_builder-funnel.csv", 7),
        "header, 2 total and 2 × 2 group rows"
    );

    // Edit: any order. The name stays; the answer follows.
    assert!(!b.js("return document.getElementById('funnel-edit').hidden", vec![]).await.as_bool().unwrap());
    b.click(&b.find(&tid("funnel-edit")).await).await;
    assert_eq!(b.property(&b.find(&tid("editor-name")).await, "readOnly").await, json!(true));
    pick(&b, &tid("editor-order"), "any").await;
    b.click(&b.find(&tid("editor-save")).await).await;
    b.wait_js(
        "the new order",
        "document.querySelector('[data-panel=funnel] .muted')?.textContent.startsWith('any order')",
        WAIT,
    )
    .await;
    let v6_counts = funnel_steps(&b, "[data-testid=funnel-group]").await;
    assert_eq!(v6_counts, [3, 2, 2, 1], "v6 bought without pricing: still not in it");

    // A step without its value is refused before anything is sent.
    b.click(&b.find(&tid("funnel-new")).await).await;
    b.type_into(&b.find(&tid("editor-name")).await, "half").await;
    b.click(&b.find(&tid("editor-save")).await).await;
    let err = b
        .wait_js("the editor's message", "document.querySelector('[data-testid=editor-error]').textContent", WAIT)
        .await;
    assert_eq!(err, json!("Step 1 needs a value."));
    eprintln!("screenshots: {} {}", editor_shot.display(), shot.display());
    drop(b);
    c.stop().await;
}
