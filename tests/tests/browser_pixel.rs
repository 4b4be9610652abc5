//! The WASM pixel end to end: a visitor clicks a signed email link, lands on
//! the shop with UTMs and `ktra_ec`, accepts all, and does what visitors do
//! (reads to the bottom, fills in a form, opens an SPA view, watches a
//! video, buys, follows a partner link away). Every event must then be in
//! ClickHouse, once, under one visitor, one session, the landing campaign
//! and the email click. Real headless Chromium, the loader and pixel served
//! by the real collector, the real ClickHouse server.
//!
//! The pixel's start-up cost on the main thread is measured and printed,
//! never asserted.
#![allow(clippy::unwrap_used, missing_docs)]

use ktra_collector::config::WebhookEndpoint;
use ktra_tests::browser::{wait_until, Stack};
use ktra_tests::receiver::Receiver;
use ktra_tests::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);
const HOOK_SECRET: &str = "whsec_dGVzdC1zZWNyZXQtdGVzdC1zZWNyZXQ=";

/// Signs a tracking link through the admin API; returns its click URL.
async fn email_link(s: &Stack, url: &str) -> String {
    let c = &s.collector;
    let r = c
        .http
        .post(format!("{}/v1/admin/links", c.url))
        .bearer_auth(&c.config.admin_key)
        .json(&json!({"site": c.site, "lead": "lead-42", "message": "launch-1", "url": url}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "signing the email link: {status} {v}");
    v["click_url"].as_str().unwrap().to_string()
}

fn query_param<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    url.split(['?', '&', '#']).find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

/// Prints the pixel's start-up cost from what `shop.html` recorded.
fn report_startup(perf: &Value, wasm: Option<&Value>) {
    let calls = perf["calls"].as_array().cloned().unwrap_or_default();
    let call = |c: &Value| {
        (c[0].as_str().unwrap_or("").to_string(), c[1].as_f64().unwrap_or(0.0), c[2].as_f64().unwrap_or(0.0))
    };
    let Some((_, t_start, d_start)) = calls.iter().map(call).find(|(n, _, _)| n == "start") else {
        eprintln!("pixel start-up: start() was never called through the wrapped exports: {perf}");
        return;
    };
    let first = calls.iter().map(call).next().map(|c| c.1).unwrap_or(t_start);
    // Everything the pixel ran on the main thread from instantiation until a
    // second after start(): init, start, its deferred start task, the first
    // page view and send; no visitor input happens in that window.
    let window: Vec<_> = calls.iter().map(call).filter(|(_, t, _)| *t >= first && *t <= t_start + 1000.0).collect();
    let total: f64 = window.iter().map(|c| c.2).sum();
    let longest = window.iter().map(|c| c.2).fold(0.0, f64::max);
    let mut by_name: BTreeMap<String, (usize, f64)> = BTreeMap::new();
    for (n, _, d) in &window {
        let e = by_name.entry(n.clone()).or_default();
        e.0 += 1;
        e.1 += d;
    }
    let long: Vec<_> = perf["longtasks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|t| {
            t[0].as_f64().unwrap_or(0.0) + t[1].as_f64().unwrap_or(0.0) >= first - 50.0
                && t[0].as_f64().unwrap_or(0.0) <= t_start + 1000.0
        })
        .collect();
    eprintln!("pixel start-up (headless Chromium, this machine; measured, not asserted):");
    if let Some(w) = wasm {
        eprintln!(
            "  wasm fetch: {:.1} ms, {} bytes over the wire ({} decoded)",
            w["duration"].as_f64().unwrap_or(0.0),
            w["transfer"],
            w["decoded"]
        );
    }
    if let Some(i) = perf["instantiate"].as_array() {
        eprintln!(
            "  instantiateStreaming (compile + instantiate, mostly off the main thread): {:.1} ms",
            i[1].as_f64().unwrap_or(0.0)
        );
    }
    eprintln!("  start() call itself: {d_start:.2} ms");
    eprintln!(
        "  main-thread time inside the pixel from init to start()+1 s: {total:.2} ms in {} calls (longest {longest:.2} ms); by export: {by_name:?}",
        window.len()
    );
    eprintln!("  long tasks (> 50 ms) in that window: {} {:?}", long.len(), long);
}

#[tokio::test]
async fn an_email_visitor_who_accepts_all_lands_every_event_under_one_visitor_session_and_campaign() {
    // The site acts on the video: a rule on video_complete, a receiver of the test's own.
    let rx = Receiver::start(vec![]).await;
    let hook_url = rx.url.clone();
    let s = Stack::start("br_pixel", move |site| {
        site.webhooks = vec![WebhookEndpoint {
            url: hook_url,
            secret: HOOK_SECRET.into(),
            triggers: vec!["video_complete".into()],
            ..Default::default()
        }]
    })
    .await;
    let b = &s.browser;
    let partner = s.pages.other_site_url("/bye.html?from=shop");
    s.pages.set("PARTNER", &partner);
    let landing = s.pages.url("/shop.html?utm_source=newsletter&utm_medium=email&utm_campaign=spring_launch");

    // The email click: the collector records it and redirects with ktra_ec.
    b.goto(&email_link(&s, &landing).await).await;
    let arrived = b.current_url().await;
    let ec = query_param(&arrived, "ktra_ec").unwrap_or_else(|| panic!("no ktra_ec in {arrived}")).to_string();
    assert!(arrived.starts_with(&format!("{landing}&ktra_ec=")), "{arrived}");

    s.banner_shown().await;
    assert_eq!(b.requested(".wasm").await, Vec::<String>::new(), "wasm before the decision");
    b.click(&s.banner_el("[data-a=accept]").await).await;
    let (_, consent) = s.signed_consent().await;
    let vid_cookie = s.wait_cookie("ktra_vid").await;
    let vid = vid_cookie.split('.').next().unwrap().to_string();
    let sid = b.cookie("ktra_sid").await.expect("ktra_sid");
    b.wait_js("ktra_ec to leave the address bar", "!location.search.includes('ktra_ec')", WAIT).await;
    assert_eq!(b.current_url().await, landing, "only ktra_ec is taken out of the address bar");
    let pv = "SELECT count() FROM events WHERE event_type = 'page_view'";
    assert_eq!(s.ch.wait_count(pv, 1, WAIT).await, 1, "the landing page view:\n{}", s.console().await);

    // Read to the bottom.
    b.js("window.scrollTo(0, document.documentElement.scrollHeight)", vec![]).await;
    let scrolls = "SELECT count() FROM events WHERE event_type = 'scroll' AND path = '/shop.html'";
    assert_eq!(s.ch.wait_count(scrolls, 5, WAIT).await, 5, "scroll depths of the landing page");

    // The lead form (values typed by the "visitor", never to be sent).
    b.type_into(&b.find("#lead input[name=name]").await, "Ada Lovelace").await;
    b.type_into(&b.find("#lead input[name=email]").await, "Ada.Lovelace@Example.com").await;
    b.click(&b.find("#subscribe").await).await;
    b.wait_js("the form's thank-you", "!document.getElementById('thanks').hidden", WAIT).await;

    // The SPA view with the intro video (muted autoplay), played to the end.
    b.click(&b.find("#to-intro").await).await;
    b.wait_js("the SPA URL", "location.pathname == '/course/intro'", WAIT).await;
    let video = b
        .wait_js(
            "the intro video to end",
            "(v => v && v.ended && [v.duration, v.currentTime])(document.getElementById('intro-video'))",
            WAIT,
        )
        .await;
    let video_ended = std::time::Instant::now();
    eprintln!("video played to the end: duration, position = {video}");

    // The webhook: the lead who identified in the form, the message of the email click.
    let hooks = rx.wait_for(1, WAIT).await;
    let latency = hooks.first().map(|g| g.at.duration_since(video_ended));
    let hook = hooks.first().map(|g| g.json()).unwrap_or_default();
    assert_eq!(hook["type"], "video_complete", "{hooks:?}");
    assert_eq!(
        (hook["data"]["message_id"].as_str(), hook["data"]["video_id"].as_str()),
        (Some("launch-1"), Some("intro-video")),
        "{hook}"
    );
    let email = &hook["data"]["email"];
    assert_eq!((email["message_id"].as_str(), email["click_id"].as_str()), (Some("launch-1"), Some(ec.as_str())));
    let g = &hooks[0];
    assert_eq!(ktra_collector::automate::deliver::sign(HOOK_SECRET, &g.id, g.timestamp, &g.body).unwrap(), g.signature);
    eprintln!("video end in the browser → webhook received: {latency:?} (measured, not asserted)");

    b.click(&b.find("#buy").await).await;
    assert_eq!(
        s.ch.wait_count("SELECT count() FROM events WHERE event_type = 'purchase'", 1, WAIT).await,
        1,
        "the purchase"
    );

    let perf = b.js("return window.__perf", vec![]).await;
    let wasm = b
        .js(
            "const e = performance.getEntriesByType('resource').find(e => e.name.endsWith('.wasm'));\
             return e && {duration: e.duration, transfer: e.transferSize, decoded: e.decodedBodySize}",
            vec![],
        )
        .await;

    // Follow the partner link away: the outbound click and the engagement
    // go out as the page is left.
    b.click(&b.find("#partner").await).await;
    wait_until("the partner site", WAIT, || async { b.current_url().await.starts_with(&partner).then_some(()) }).await;
    assert_eq!(
        s.ch.wait_count("SELECT count() FROM events WHERE event_type IN ('outbound_click', 'engagement') AND path = '/course/intro'", 2, WAIT).await,
        2,
        "the outbound click and the engagement of the page left"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await; // anything sent twice would land by now

    let rows = s
        .ch
        .rows(
            "SELECT toString(event_id) AS id, event_type, visitor_id, session_id, consent_id, url, path, referrer, utm_source, utm_medium, utm_campaign, \
             email_click_id, scroll_depth, engaged_ms, form_id, form_fields, video_id, video_percent, order_id, revenue, currency, product_id, \
             link_url, lead_id, is_bot, browser, device FROM events ORDER BY ts_ms",
        )
        .await;
    let by_type = |t: &str| rows.iter().filter(|r| r["event_type"] == t).collect::<Vec<_>>();
    let listing =
        rows.iter().map(|r| format!("{} {} {}", r["event_type"], r["path"], r["id"])).collect::<Vec<_>>().join("\n");

    // Every expected event, each once.
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &rows {
        *counts.entry(r["event_type"].as_str().unwrap()).or_default() += 1;
    }
    for (t, n) in [
        ("page_view", 2),
        ("email_click", 1),
        ("form_submit", 1),
        ("identify", 1),
        ("video_start", 1),
        ("video_progress", 3),
        ("video_complete", 1),
        ("purchase", 1),
        ("outbound_click", 1),
    ] {
        assert_eq!(counts.get(t).copied().unwrap_or(0), n, "{t} events:\n{listing}");
    }
    assert!(counts.get("engagement").copied().unwrap_or(0) >= 1, "no engagement:\n{listing}");
    let landing_depths: Vec<f64> =
        by_type("scroll").iter().filter(|r| r["path"] == "/shop.html").map(|r| num(&r["scroll_depth"])).collect();
    let mut sorted = landing_depths.clone();
    sorted.sort_by(f64::total_cmp);
    assert_eq!(sorted, [25.0, 50.0, 75.0, 90.0, 100.0], "scroll depths of the landing page, each once:\n{listing}");
    let mut marks: Vec<f64> = by_type("video_progress").iter().map(|r| num(&r["video_percent"])).collect();
    marks.sort_by(f64::total_cmp);
    assert_eq!(marks, [25.0, 50.0, 75.0], "video progress marks:\n{listing}");

    // No event twice: distinct ids, and the collector accepted exactly these.
    let ids: HashSet<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), rows.len(), "duplicate event ids:\n{listing}");
    assert_eq!(s.events_accepted().await, rows.len() as f64, "events the collector accepted vs rows:\n{listing}");

    // One visitor, one session, one consent, the landing campaign and the email click on every event.
    for r in &rows {
        let what = format!("{} {}", r["event_type"], r["path"]);
        assert_eq!(r["visitor_id"], vid.as_str(), "{what}: visitor (ktra_vid {vid_cookie})");
        assert_eq!(r["session_id"], sid.as_str(), "{what}: session (ktra_sid)");
        assert_eq!(r["consent_id"], consent["c"], "{what}: consent");
        assert_eq!(
            (r["utm_source"].as_str(), r["utm_medium"].as_str(), r["utm_campaign"].as_str()),
            (Some("newsletter"), Some("email"), Some("spring_launch")),
            "{what}: campaign"
        );
        assert_eq!(r["email_click_id"], ec.as_str(), "{what}: email click");
        assert_eq!(
            (num(&r["is_bot"]), r["browser"].as_str(), r["device"].as_str()),
            (0.0, Some("Chrome"), Some("desktop")),
            "{what}"
        );
    }

    // What each event says.
    let pvs = by_type("page_view");
    assert_eq!(
        (pvs[0]["url"].as_str(), pvs[0]["path"].as_str()),
        (Some(landing.as_str()), Some("/shop.html")),
        "landing page view"
    );
    assert_eq!(pvs[1]["path"], "/course/intro", "SPA page view");
    assert_eq!(pvs[1]["referrer"], landing.as_str(), "the SPA page view's referrer is the landing page");
    let form = by_type("form_submit")[0];
    assert_eq!((form["form_id"].as_str(), &form["form_fields"]), (Some("lead"), &json!(["name", "email"])), "{form}");
    let who = by_type("identify")[0];
    let lead = who["lead_id"].as_str().unwrap();
    assert_eq!(hook["data"]["lead_id"], lead, "the webhook names the lead the visitor identified as");
    assert_eq!(rx.got().len(), 1, "video_complete fired once");
    assert!(
        !lead.is_empty() && !lead.to_lowercase().contains("lovelace"),
        "identify stores a hash of the email, not the address: {who}"
    );
    let dump = s.ch.exec("SELECT * FROM events FORMAT JSONEachRow").await.unwrap().to_lowercase();
    for typed in ["ada lovelace", "ada.lovelace@example.com", "lovelace"] {
        assert!(!dump.contains(typed), "a field value reached ClickHouse: {typed}");
    }
    for t in ["video_start", "video_progress", "video_complete"] {
        assert!(by_type(t).iter().all(|r| r["video_id"] == "intro-video"), "{t}:\n{listing}");
    }
    let buy = by_type("purchase")[0];
    assert_eq!(
        (buy["order_id"].as_str(), num(&buy["revenue"]), buy["currency"].as_str(), buy["product_id"].as_str()),
        (Some("ORD-1001"), 49.5, Some("EUR"), Some("course-1")),
        "{buy}"
    );
    assert_eq!(by_type("outbound_click")[0]["link_url"], partner.as_str());
    let engaged: Vec<_> = by_type("engagement");
    assert!(engaged.iter().all(|r| num(&r["engaged_ms"]) > 0.0), "engagement without time:\n{listing}");
    assert!(engaged.iter().any(|r| r["path"] == "/course/intro"), "no engagement for the page left:\n{listing}");
    let click = &s.ch.rows(&format!("SELECT lead_id, message_id FROM email_clicks WHERE click_id = '{ec}'")).await;
    assert_eq!(click.len(), 1, "the email click is recorded by the collector's redirect");
    // The click came before the visitor consented: counted per message, the lead not named
    // (email_tracking = "consented_leads", the default).
    assert_eq!((click[0]["lead_id"].as_str(), click[0]["message_id"].as_str()), (Some(""), Some("launch-1")));

    report_startup(&perf, wasm.as_object().map(|_| &wasm));
    for enc in ["br", "gzip", "identity"] {
        let r = s
            .collector
            .http
            .get(format!("{}/pixel/ktra_pixel_bg.wasm", s.collector.url))
            .header("accept-encoding", enc)
            .send()
            .await
            .unwrap();
        eprintln!("  wasm as served ({enc}): {} bytes", r.bytes().await.map(|b| b.len()).unwrap_or(0));
    }

    // The video is on the SPA view: all its events belong to that page view
    // (an autoplaying video starts right as the view renders and pushes its URL).
    for t in ["video_start", "video_progress", "video_complete"] {
        assert!(
            by_type(t).iter().all(|r| r["path"] == "/course/intro"),
            "{t} is not attributed to the page the video is on (/course/intro):\n{listing}"
        );
    }
}
