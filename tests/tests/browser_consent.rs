//! Consent enforced end to end, in real headless Chromium: the loader and
//! banner served by the real collector, decisions recorded in ClickHouse,
//! and nothing of the pixel (no wasm, no `ktra_vid`, no beacon) before both
//! analytics and marketing are granted.
//!
//! Network evidence: the page's resource timing entries, and the
//! collector's own counters (`ktra_asset_requests_total{asset="pixel_wasm"}`
//! for the strongest proof that no wasm was requested, and the per-site
//! accepted/rejected event counters for beacons).
#![allow(clippy::unwrap_used, missing_docs)]

use ktra_tests::browser::{Key, Stack, BANNER_ROOT};
use ktra_tests::*;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);
const BOTH: [&str; 2] = ["analytics", "marketing"];

/// Pixel asset requests counted by the collector when a test began.
struct Baseline {
    wasm: f64,
    js: f64,
}

async fn baseline(s: &Stack) -> Baseline {
    Baseline { wasm: s.asset_requests("pixel_wasm").await, js: s.asset_requests("pixel_js").await }
}

/// Nothing of the pixel happened: no visitor cookie (for WebDriver nor for
/// page scripts), no request for the pixel or to `/v1/events` in the page,
/// none counted by the collector, no event of the site received.
async fn assert_nothing_tracked(s: &Stack, base: &Baseline, when: &str) {
    let b = &s.browser;
    assert_eq!(b.cookie("ktra_vid").await, None, "{when}: ktra_vid is set");
    assert_eq!(b.cookie("ktra_sid").await, None, "{when}: ktra_sid is set");
    assert!(!b.document_cookie().await.contains("ktra_vid"), "{when}: page scripts see ktra_vid");
    for part in ["/v1/events", "/pixel/", ".wasm"] {
        assert_eq!(b.requested(part).await, Vec::<String>::new(), "{when}: the page requested {part}");
    }
    assert_eq!(s.asset_requests("pixel_wasm").await, base.wasm, "{when}: the collector served the wasm");
    assert_eq!(s.asset_requests("pixel_js").await, base.js, "{when}: the collector served the pixel's JS");
    assert_eq!(s.events_received().await, 0.0, "{when}: events reached the collector");
    assert_eq!(s.ch.count("SELECT count() FROM events").await, 0, "{when}: events were stored");
}

/// Waits for `n` rows in `consent_log` and returns them, oldest first.
async fn decisions(s: &Stack, n: u64) -> Vec<Value> {
    assert_eq!(s.ch.wait_count("SELECT count() FROM consent_log", n, WAIT).await, n, "decisions in consent_log");
    s.ch.rows("SELECT consent_id, action, source, granted, denied, revision, language, text_hash, previous_id, visitor_id, gpc, browser, device FROM consent_log ORDER BY recorded_at, action").await
}

/// A decision row as the banner should record it.
fn assert_decision(row: &Value, action: &str, source: &str, granted: &[&str], gpc: bool) {
    assert_eq!(row["action"], action, "{row}");
    assert_eq!(row["source"], source, "{row}");
    assert_eq!(row["granted"], json!(granted), "{row}");
    let denied: Vec<&str> = BOTH.iter().copied().filter(|p| !granted.contains(p)).collect();
    assert_eq!(row["denied"], json!(denied), "{row}");
    assert_eq!(row["language"], "en", "{row}");
    let hash = row["text_hash"].as_str().unwrap();
    assert!(
        hash.len() == 64 && hash.bytes().all(|c| c.is_ascii_hexdigit()),
        "text_hash is a SHA-256 of the texts shown: {row}"
    );
    assert_eq!(num(&row["gpc"]), if gpc { 1.0 } else { 0.0 }, "{row}");
    assert_eq!(
        (row["browser"].as_str(), row["device"].as_str()),
        (Some("Chrome"), Some("desktop")),
        "a real desktop browser: {row}"
    );
}

/// The signed token's payload names this site, `purposes`, `revision`, and the default lifetime.
fn assert_token(s: &Stack, payload: &Value, purposes: &[&str], revision: u64) {
    assert_eq!(payload["v"], 1, "{payload}");
    assert_eq!(payload["s"], s.collector.site.as_str(), "{payload}");
    assert_eq!(payload["p"], json!(purposes), "{payload}");
    assert_eq!(payload["r"], revision, "{payload}");
    let days = (payload["e"].as_i64().unwrap() - now_ms() / 1000) as f64 / 86_400.0;
    assert!((181.0..=182.1).contains(&days), "expires in 182 days, not {days}: {payload}");
    assert!(!payload["c"].as_str().unwrap_or("").is_empty(), "names its consent id: {payload}");
}

/// The visitor id inside a `ktra_vid` value (`<id>.<created>`).
fn visitor_id(cookie: &str) -> &str {
    cookie.split('.').next().unwrap()
}

async fn wait_vid(s: &Stack) -> String {
    s.wait_cookie("ktra_vid").await
}

#[tokio::test]
async fn before_a_choice_nothing_tracks_and_a_keyboard_refusal_is_recorded_and_kept() {
    let s = Stack::start("br_reject", |_| {}).await;
    let b = &s.browser;
    let base = baseline(&s).await;
    b.goto(&s.pages.url("/consent.html")).await;
    s.banner_shown().await;
    b.screenshot("banner-first-layer").await;

    // An accessible modal dialog with three equal choices.
    let dialog = b
        .js(
            &format!(
                "const r = {BANNER_ROOT}, d = r.querySelector('[role=dialog]');\
                 const btns = [...d.querySelectorAll('button')].filter(x => x.getClientRects().length);\
                 const box = x => {{ const b = x.getBoundingClientRect(); return [Math.round(b.height), getComputedStyle(x).backgroundColor]; }};\
                 return {{modal: d.getAttribute('aria-modal'), title: r.getElementById(d.getAttribute('aria-labelledby'))?.textContent,\
                   described: !!r.getElementById(d.getAttribute('aria-describedby')), buttons: btns.map(x => x.textContent), looks: btns.map(box)}}"
            ),
            vec![],
        )
        .await;
    assert_eq!(dialog["modal"], "true", "{dialog}");
    assert_eq!(dialog["title"], "Your privacy choices", "{dialog}");
    assert_eq!(dialog["described"], true, "{dialog}");
    assert_eq!(dialog["buttons"], json!(["Accept all", "Reject all", "Customize"]), "{dialog}");
    let looks = dialog["looks"].as_array().unwrap();
    assert!(looks.iter().all(|l| *l == looks[0]), "the three choices have equal weight: {dialog}");

    // Give a loader that would misbehave the time to do it, then: nothing.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_nothing_tracked(&s, &base, "before any choice").await;
    assert_eq!(
        b.js("return [window.__analyticsTagRan, window.__marketingTagRan]", vec![]).await,
        json!([null, null]),
        "consent-gated tags ran"
    );

    // Keyboard: focus is in the dialog; Tab walks the three choices and stays inside.
    let mut seen = Vec::new();
    for _ in 0..4 {
        b.press(Key::Tab).await;
        seen.push(b.focused().await);
    }
    assert_eq!(seen, ["accept", "reject", "customize", "accept"], "Tab order (and the focus trap) in the banner");
    b.press(Key::Escape).await;
    assert!(s.banner_open().await, "Escape is not a choice on a first banner");
    b.press(Key::Tab).await;
    let mut tabs = 0;
    while b.focused().await != "reject" {
        b.press(Key::Tab).await;
        tabs += 1;
        assert!(tabs < 5, "Tab never reached Reject all");
    }
    b.press(Key::Enter).await;

    let (token, payload) = s.signed_consent().await;
    assert!(!s.banner_open().await, "the banner closed after the choice");
    assert_token(&s, &payload, &[], 1);
    let log = decisions(&s, 1).await;
    assert_decision(&log[0], "deny", "banner", &[], false);
    assert_eq!(log[0]["consent_id"], payload["c"], "the cookie names the recorded decision");
    assert_eq!(num(&log[0]["revision"]), 1.0);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_nothing_tracked(&s, &base, "after Reject all").await;

    // The refusal is remembered: a reload does not ask again and still tracks nothing.
    b.refresh().await;
    s.loader_ready().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!s.banner_open().await, "the banner asked again after a refusal:\n{}", s.console().await);
    assert_nothing_tracked(&s, &base, "after a reload").await;
    assert_eq!(b.cookie("ktra_consent").await.as_deref(), Some(token.as_str()), "the decision is kept as it was");
    assert_eq!(s.ch.count("SELECT count() FROM consent_log").await, 1, "a reload records nothing");
    assert_eq!(
        b.js("return [window.__analyticsTagRan, window.__marketingTagRan]", vec![]).await,
        json!([null, null]),
        "consent-gated tags ran after a refusal"
    );
}

#[tokio::test]
async fn accept_all_loads_the_pixel_with_a_signed_token_recorded_as_proof() {
    let s = Stack::start("br_accept", |_| {}).await;
    let b = &s.browser;
    let base = baseline(&s).await;
    let page = s.pages.url("/consent.html");
    b.goto(&page).await;
    s.banner_shown().await;
    assert_nothing_tracked(&s, &base, "before any choice").await;

    b.click(&s.banner_el("[data-a=accept]").await).await;
    let (_, payload) = s.signed_consent().await;
    assert_token(&s, &payload, &BOTH, 1);
    let vid = wait_vid(&s).await;
    assert!(
        b.document_cookie().await.contains(&format!("ktra_vid={vid}")),
        "ktra_vid is a first-party cookie of the page"
    );
    assert!(b.cookie("ktra_sid").await.is_some(), "no ktra_sid");

    let wasm = format!("{}/pixel/ktra_pixel_bg.wasm", s.collector.url);
    assert_eq!(b.requested(".wasm").await, vec![wasm.clone()], "the page loaded the pixel's wasm from the collector");
    assert_eq!(s.asset_requests("pixel_wasm").await, base.wasm + 1.0, "the collector served the wasm once");
    assert_eq!(b.js("return [window.__analyticsTagRan, window.__marketingTagRan]", vec![]).await, json!([true, true]));

    let log = decisions(&s, 1).await;
    assert_decision(&log[0], "grant", "banner", &BOTH, false);
    assert_eq!(log[0]["consent_id"], payload["c"]);

    // The page view, under this decision and this visitor.
    assert_eq!(
        s.ch.wait_count("SELECT count() FROM events WHERE event_type = 'page_view'", 1, WAIT).await,
        1,
        "{}",
        s.console().await
    );
    let pv =
        &s.ch.rows("SELECT visitor_id, consent_id, url, is_bot FROM events WHERE event_type = 'page_view'").await[0];
    assert_eq!(pv["visitor_id"], visitor_id(&vid), "{pv}");
    assert_eq!(pv["consent_id"], payload["c"], "{pv}");
    assert_eq!(pv["url"], page.as_str(), "{pv}");
    assert_eq!(num(&pv["is_bot"]), 0.0, "{pv}");

    // The decision holds on the next page: no banner, the pixel starts at once, same visitor.
    b.refresh().await;
    browser::wait_until("the wasm after a reload", WAIT, || async {
        (!b.requested(".wasm").await.is_empty()).then_some(())
    })
    .await;
    s.loader_ready().await;
    assert!(!s.banner_open().await, "asked again after Accept all");
    assert_eq!(s.ch.wait_count("SELECT count() FROM events WHERE event_type = 'page_view'", 2, WAIT).await, 2);
    assert_eq!(
        s.ch.count(&format!("SELECT uniqExact(visitor_id) FROM events WHERE visitor_id = '{}'", visitor_id(&vid)))
            .await,
        1
    );
    assert_eq!(s.ch.count("SELECT count() FROM consent_log").await, 1, "a reload records nothing");
}

#[tokio::test]
async fn customize_with_only_analytics_never_starts_the_pixel() {
    let s = Stack::start("br_customize", |_| {}).await;
    let b = &s.browser;
    let base = baseline(&s).await;
    b.goto(&s.pages.url("/consent.html")).await;
    s.banner_shown().await;

    b.click(&s.banner_el("[data-a=customize]").await).await;
    let switches = format!("[...{BANNER_ROOT}.querySelectorAll('input[type=checkbox]')].map(x => [x.id, x.checked, x.disabled, x.getClientRects().length > 0])");
    let state = b.wait_js("the categories", &format!("(s => s[0][3] && s)({switches})"), WAIT).await;
    assert_eq!(
        state,
        json!([
            ["ktra-necessary", true, true, true],
            ["ktra-analytics", false, false, true],
            ["ktra-marketing", false, false, true]
        ]),
        "necessary is locked on, nothing else is pre-ticked"
    );
    assert_eq!(b.focused().await, "#ktra-analytics", "focus moves to the first choice");
    b.screenshot("banner-customize").await;
    // Escape goes back to the first layer, never decides.
    b.press(Key::Escape).await;
    assert_eq!(
        b.js(&format!("return {BANNER_ROOT}.querySelector('.ktra-cats').hidden"), vec![]).await,
        true,
        "Escape closes Customize"
    );
    assert!(s.banner_open().await);
    b.click(&s.banner_el("[data-a=customize]").await).await;

    b.click(&s.banner_el("#ktra-analytics").await).await;
    b.click(&s.banner_el("[data-a=save]").await).await;
    let (_, payload) = s.signed_consent().await;
    assert_token(&s, &payload, &["analytics"], 1);
    let log = decisions(&s, 1).await;
    assert_decision(&log[0], "change", "banner", &["analytics"], false);

    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_nothing_tracked(&s, &base, "with analytics only").await;
    assert_eq!(
        b.js("return [window.__analyticsTagRan, window.__marketingTagRan]", vec![]).await,
        json!([true, null]),
        "only the analytics tag runs"
    );
    b.refresh().await;
    s.loader_ready().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!s.banner_open().await, "asked again after a saved choice");
    assert_nothing_tracked(&s, &base, "with analytics only, after a reload").await;
}

#[tokio::test]
async fn a_new_revision_asks_everyone_again() {
    let mut s = Stack::start("br_revision", |_| {}).await;
    let page = s.pages.url("/consent.html");
    s.browser.goto(&page).await;
    s.banner_shown().await;
    s.browser.click(&s.banner_el("[data-a=accept]").await).await;
    let (_, first) = s.signed_consent().await;
    wait_vid(&s).await;

    // The site owner changes the policy: revision 2.
    s.restart_collector(|site| site.revision = 2).await;
    let base = baseline(&s).await;
    s.browser.goto(&page).await;
    s.banner_shown().await;
    assert!(
        s.browser.js(&format!("return !{BANNER_ROOT}.querySelector('[data-a=x]')"), vec![]).await == json!(true),
        "a first banner (no close button): a choice is needed"
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(s.browser.requested(".wasm").await, Vec::<String>::new(), "the pixel started on an old revision");
    assert_eq!(s.asset_requests("pixel_wasm").await, base.wasm, "the collector served the wasm on an old revision");

    s.browser.click(&s.banner_el("[data-a=accept]").await).await;
    let (_, second) = browser::wait_until("a token of revision 2", WAIT, || async {
        let (t, p) = s.signed_consent().await;
        (p["r"] == 2).then_some((t, p))
    })
    .await;
    assert_token(&s, &second, &BOTH, 2);
    let log = decisions(&s, 2).await;
    let renewed =
        log.iter().find(|r| num(&r["revision"]) == 2.0).unwrap_or_else(|| panic!("no revision 2 decision: {log:?}"));
    assert_decision(renewed, "grant", "banner", &BOTH, false);
    assert_eq!(renewed["previous_id"], first["c"], "the new decision names the one it replaces");
    browser::wait_until("the wasm after the new decision", WAIT, || async {
        (!s.browser.requested(".wasm").await.is_empty()).then_some(())
    })
    .await;
}

#[tokio::test]
async fn withdrawal_deletes_the_cookies_stops_every_beacon_and_erases_the_visitor() {
    let s = Stack::start("br_withdraw", |site| site.erase_on_withdraw = true).await;
    let b = &s.browser;
    b.goto(&s.pages.url("/consent.html")).await;
    s.banner_shown().await;
    b.click(&s.banner_el("[data-a=accept]").await).await;
    let (granted, grant) = s.signed_consent().await;
    let vid = wait_vid(&s).await;
    b.js("ktra('track', 'before_withdrawal', {step: 1})", vec![]).await;
    let stored = "SELECT count() FROM events WHERE event_type IN ('page_view', 'custom')";
    assert_eq!(s.ch.wait_count(stored, 2, WAIT).await, 2, "page view and custom event:\n{}", s.console().await);

    let received = s.events_received().await;
    let t0 = b.now().await;
    let withdrawn_at = now_ms();
    b.js("ktra('consent', 'withdraw')", vec![]).await;
    let (_, denial) = browser::wait_until("the withdrawal's token", WAIT, || async {
        let (t, p) = s.signed_consent().await;
        (t != granted).then_some((t, p))
    })
    .await;
    assert_token(&s, &denial, &[], 1);
    assert_eq!(b.cookie("ktra_vid").await, None, "ktra_vid survived the withdrawal");
    assert_eq!(b.cookie("ktra_sid").await, None, "ktra_sid survived the withdrawal");
    assert!(!b.document_cookie().await.contains("ktra_vid"), "page scripts still see ktra_vid");

    let log = decisions(&s, 2).await;
    let w = log.iter().find(|r| r["action"] == "withdraw").unwrap_or_else(|| panic!("no withdrawal in {log:?}"));
    assert_decision(w, "withdraw", "api", &[], false);
    assert_eq!(w["previous_id"], grant["c"], "names the consent withdrawn");

    // Everything that would make the pixel send: input, a scroll, API calls,
    // an SPA navigation, and finally leaving the page.
    b.js("window.scrollTo(0, document.body.scrollHeight)", vec![]).await;
    b.click(&b.find("#buy").await).await;
    b.js("ktra('track', 'after_withdrawal'); ktra('purchase', {order_id: 'late-1', value: 9}); history.pushState({}, '', '/after-withdrawal')", vec![]).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let late: Vec<_> = b
        .resources()
        .await
        .into_iter()
        .filter(|r| r.url.contains("/v1/events") && r.start > t0)
        .map(|r| r.url)
        .collect();
    assert_eq!(late, Vec::<String>::new(), "the page sent events after the withdrawal");
    assert_eq!(b.cookie("ktra_vid").await, None, "ktra_vid came back");
    b.goto(&s.pages.other_site_url("/bye.html")).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(s.events_received().await, received, "events reached the collector after the withdrawal");

    assert_eq!(
        s.ch.count(&format!("SELECT count() FROM events WHERE ts_ms >= {withdrawn_at}")).await,
        0,
        "events stored after the withdrawal"
    );

    // erase_on_withdraw: the visitor's events are gone; the proof stays.
    assert_eq!(s.ch.count("SELECT count() FROM consent_log WHERE action = 'withdraw'").await, 1);
    let left =
        s.ch.wait_count(&format!("SELECT count() FROM events WHERE visitor_id = '{}'", visitor_id(&vid)), 0, WAIT)
            .await;
    assert_eq!(
        (w["visitor_id"].as_str().unwrap(), left),
        (visitor_id(&vid), 0),
        "the withdrawal must name the visitor as its events do (events.visitor_id) so that erase_on_withdraw erases them; \
         the banner sent the raw ktra_vid cookie {vid:?}, and {left} events of the visitor are left"
    );
}

#[tokio::test]
async fn global_privacy_control_keeps_marketing_off_and_the_banner_says_so() {
    let s = Stack::start("br_gpc", |_| {}).await;
    let b = &s.browser;
    let base = baseline(&s).await;
    b.goto(&s.pages.url("/consent.html?gpc=1")).await;
    s.banner_shown().await;
    let line = b.js(&format!("const p = {BANNER_ROOT}.querySelector('.ktra-gpc'); return p && p.getClientRects().length ? p.textContent : null"), vec![]).await;
    assert_eq!(
        line.as_str(),
        Some("Your browser sent a Global Privacy Control signal, so marketing is off unless you turn it on."),
        "the GPC line is shown"
    );
    b.screenshot("banner-gpc").await;

    b.click(&s.banner_el("[data-a=customize]").await).await;
    let checked = b
        .js(
            &format!("return ['analytics', 'marketing'].map(k => {BANNER_ROOT}.getElementById('ktra-' + k).checked)"),
            vec![],
        )
        .await;
    assert_eq!(checked, json!([false, false]), "marketing (and analytics) start unchecked under GPC");
    b.click(&s.banner_el("#ktra-analytics").await).await;
    b.click(&s.banner_el("[data-a=save]").await).await;
    let (_, payload) = s.signed_consent().await;
    assert_token(&s, &payload, &["analytics"], 1);
    let log = decisions(&s, 1).await;
    assert_decision(&log[0], "change", "banner", &["analytics"], true);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_nothing_tracked(&s, &base, "under GPC with analytics only").await;
}
