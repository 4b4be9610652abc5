//! Regional consent in real headless Chromium: where the site's rule for the
//! visitor's region is `opt_out`, the banner is a notice (not modal, with a
//! visible "Do not sell or share" refusal), tracking starts under implied
//! consent, a refusal stops it at once, and GPC is a refusal from the start.
//! The browser is on loopback; the test's GeoIP database places loopback in
//! California.
#![allow(clippy::unwrap_used, missing_docs)]

use ktra_collector::regions::Regions;
use ktra_schema::consent::ConsentModel;
use ktra_tests::browser::{decode_consent, wait_until, Stack, BANNER_ROOT};
use ktra_tests::*;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

/// A stack whose collector locates loopback in California, where the rule is `opt_out`.
async fn stack_in_california(name: &str) -> Stack {
    let rules = Regions([("eu".to_string(), ConsentModel::OptIn), ("US-CA".to_string(), ConsentModel::OptOut)].into());
    let mut s = Stack::start(name, |site| site.regions = rules).await;
    let db = fresh_dir("geo-ca").join("ca.mmdb");
    let entry = mmdb::Entry { net: "127.0.0.0".parse().unwrap(), prefix: 8, country: "US", region: "CA", city: "" };
    std::fs::write(&db, mmdb::build(&[entry])).unwrap();
    let mut cfg = s.collector.config.clone();
    cfg.geoip.path = Some(db);
    cfg.spool.dir = fresh_dir(&format!("spool-{name}-ca"));
    let located = TestCollector::start(cfg).await;
    std::mem::replace(&mut s.collector, located).stop().await;
    s.pages.set("COLLECTOR", &s.collector.url);
    s
}

async fn decisions(s: &Stack, n: u64) -> Vec<Value> {
    assert_eq!(s.ch.wait_count("SELECT count() FROM consent_log", n, WAIT).await, n, "decisions in consent_log");
    s.ch.rows(
        "SELECT action, source, granted, region, model, gpc, text_hash FROM consent_log ORDER BY recorded_at, action",
    )
    .await
}

/// What the dialog looks like: aria-modal, backdrop, visible buttons, GPC line.
async fn dialog(s: &Stack) -> Value {
    s.browser
        .js(
            &format!(
                "const r = {BANNER_ROOT}, d = r.querySelector('[role=dialog]');\
                 const shown = x => x.getClientRects().length > 0;\
                 return {{modal: d.getAttribute('aria-modal'), backdrop: !!r.querySelector('.ktra-backdrop'),\
                   title: r.getElementById('ktra-title').textContent,\
                   buttons: [...d.querySelectorAll('.ktra-actions button')].filter(shown).map(x => x.textContent),\
                   close: !!d.querySelector('[data-a=x]'), gpc: [...d.querySelectorAll('.ktra-gpc')].filter(shown).map(x => x.textContent)[0] || null}}"
            ),
            vec![],
        )
        .await
}

#[tokio::test]
async fn opt_out_shows_a_notice_tracks_under_implied_consent_and_a_refusal_stops_it() {
    let s = stack_in_california("br_regions_notice").await;
    let b = &s.browser;
    b.goto(&s.pages.url("/consent.html")).await;
    s.banner_shown().await;
    let d = dialog(&s).await;
    assert_eq!(d["modal"], "false", "a notice does not block the page: {d}");
    assert_eq!(d["backdrop"], false, "{d}");
    assert_eq!(d["close"], true, "a notice can be closed: {d}");
    assert_eq!(
        d["buttons"],
        json!(["OK", "Do not sell or share my personal information", "Customize"]),
        "the refusal is a visible control: {d}"
    );
    b.screenshot("banner-notice-opt-out").await;

    // Implied consent, signed as such, and the pixel runs under it.
    let (_, payload) = s.signed_consent().await;
    assert_eq!((payload["m"].as_str(), payload["i"].as_bool()), (Some("opt_out"), Some(true)), "{payload}");
    s.wait_cookie("ktra_vid").await;
    wait_until("events accepted under implied consent", WAIT, || async {
        (s.events_accepted().await > 0.0).then_some(())
    })
    .await;
    let rows = decisions(&s, 1).await;
    assert_eq!(
        (&rows[0]["action"], &rows[0]["source"], &rows[0]["region"], &rows[0]["model"]),
        (&json!("grant"), &json!("notice"), &json!("US-CA"), &json!("opt_out")),
        "{rows:?}"
    );
    assert_eq!(rows[0]["text_hash"].as_str().unwrap().len(), 64, "the notice's texts are hashed as shown");

    // The refusal control.
    b.click(&s.banner_el("[data-a=reject]").await).await;
    wait_until("ktra_vid deleted", WAIT, || async { b.cookie("ktra_vid").await.is_none().then_some(()) }).await;
    let rows = decisions(&s, 2).await;
    assert_eq!((&rows[1]["action"], &rows[1]["model"]), (&json!("withdraw"), &json!("opt_out")), "{rows:?}");
    let (_, payload) = s.signed_consent().await;
    let refused = wait_until("the refusal's token", WAIT, || async {
        let c = b.cookie("ktra_consent").await?;
        let (p, signed) = decode_consent(&c);
        (signed && p["p"] == json!([])).then_some(p)
    })
    .await;
    assert_eq!(refused["p"], json!([]), "{payload}");
    let accepted = s.events_accepted().await;
    // A new page after the refusal: no notice, no pixel, no events.
    b.goto(&s.pages.url("/consent.html")).await;
    s.loader_ready().await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(!s.banner_open().await, "the refusal is remembered");
    assert_eq!(b.cookie("ktra_vid").await, None);
    assert_eq!(b.requested(".wasm").await, Vec::<String>::new(), "no pixel after the refusal");
    assert_eq!(s.events_accepted().await, accepted, "no events after the refusal");
}

#[tokio::test]
async fn gpc_is_a_refusal_in_an_opt_out_region() {
    let s = stack_in_california("br_regions_gpc").await;
    let b = &s.browser;
    b.goto(&s.pages.url("/consent.html?gpc=1")).await;
    s.banner_shown().await;
    let d = dialog(&s).await;
    assert!(d["gpc"].as_str().unwrap_or("").contains("treat it as your request to opt out"), "{d}");
    b.screenshot("banner-notice-gpc").await;
    let rows = decisions(&s, 1).await;
    assert_eq!(
        (&rows[0]["action"], &rows[0]["source"], &rows[0]["granted"], &rows[0]["model"]),
        (&json!("deny"), &json!("gpc"), &json!([]), &json!("opt_out")),
        "{rows:?}"
    );
    assert_eq!(num(&rows[0]["gpc"]), 1.0);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(b.cookie("ktra_vid").await, None, "nothing tracks under GPC");
    assert_eq!(b.requested(".wasm").await, Vec::<String>::new());
    assert_eq!(s.events_received().await, 0.0);
}

/// Implied consent does not travel: when the collector's rule for where the
/// visitor is now requires a grant, the next page stops the pixel and asks
/// with the full banner, and an explicit grant is recorded under `opt_in`.
#[tokio::test]
async fn implied_consent_is_asked_again_where_a_grant_is_required() {
    let mut s = stack_in_california("br_regions_travel").await;
    s.browser.goto(&s.pages.url("/consent.html")).await;
    s.banner_shown().await;
    let (_, payload) = s.signed_consent().await;
    assert_eq!(payload["i"], true, "{payload}");
    s.wait_cookie("ktra_vid").await;
    // California now requires a grant.
    s.restart_collector(|site| {
        site.regions = Regions([("US-CA".to_string(), ConsentModel::OptIn)].into());
    })
    .await;
    s.browser.goto(&s.pages.url("/consent.html")).await;
    s.banner_shown().await;
    let d = dialog(&s).await;
    assert_eq!(d["modal"], "true", "the full banner: {d}");
    assert_eq!(d["buttons"], json!(["Accept all", "Reject all", "Customize"]), "{d}");
    wait_until("the pixel stopped", WAIT, || async { s.browser.cookie("ktra_vid").await.is_none().then_some(()) })
        .await;
    s.browser.click(&s.banner_el("[data-a=accept]").await).await;
    let (_, payload) = wait_until("an explicit grant's token", WAIT, || async {
        let c = s.browser.cookie("ktra_consent").await?;
        let (p, signed) = decode_consent(&c);
        (signed && p.get("i").is_none()).then_some((c, p))
    })
    .await;
    assert_eq!(payload["m"], "opt_in", "{payload}");
    let rows = decisions(&s, 2).await;
    let explicit =
        rows.iter().find(|r| r["source"] == "banner").unwrap_or_else(|| panic!("no banner decision: {rows:?}"));
    assert_eq!((&explicit["action"], &explicit["model"]), (&json!("grant"), &json!("opt_in")), "{rows:?}");
    s.wait_cookie("ktra_vid").await;
}
