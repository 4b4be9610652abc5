//! The demo shop end to end (issue #6): a visitor in real headless Chromium
//! walks `web-demo/site/` like a person would, and the dashboard then shows
//! what happened, number for number.
//!
//! The walk: Ada opens the demo inbox (a pretend mail client, no ktra on it),
//! reads the autumn-launch email (its open pixel) and clicks its call to
//! action (a signed `/c/…` link: the collector records the click and lands
//! her on the shop with UTMs and `ktra_ec`), where nothing is tracked until
//! she accepts all in the banner; she reads the journal to the bottom,
//! subscribes with the newsletter form
//! (`data-ktra-identify`), watches the studio tour to the end, buys two mugs
//! and reaches the thank-you page (`ktra('purchase', …)`), then withdraws
//! her consent on the privacy page (the site keeps events on withdrawal, so
//! the dashboard still has them) — after which nothing more is stored.
//!
//! The dashboard (`/dashboard` on the collector) is then signed in to, the
//! site and the 24 h range picked, and every panel's table (`table-<panel>`,
//! `data-col`/`data-value` cells) is compared with the same library query
//! (`ktra_schema::queries::render`, same site and range as the dashboard
//! asked for) run directly on ClickHouse, and with what the visitor did.
//!
//! Screenshots go to `target/screenshots/`; those for the README (the banner
//! on the shop, a shop page, the top of the dashboard) also to
//! `docs/screenshots/` when the file there is missing or with
//! `KTRA_UPDATE_DOCS_SCREENSHOTS=1` (at most 1200×800 and 150 KB).
//! Step timings are printed, never asserted.
#![allow(clippy::unwrap_used, missing_docs)]

use ktra_collector::consent::token::TokenKey;
use ktra_collector::email::{self, LinkRequest};
use ktra_tests::browser::{demo_site_dir, wait_until, Stack, WINDOW};
use ktra_tests::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[path = "browser_demo/dashboard.rs"]
mod dashboard;
#[path = "browser_demo/stored.rs"]
mod stored;

const WAIT: Duration = Duration::from_secs(20);
/// A hang guard for the whole walk, not a performance limit.
const BOUND: Duration = Duration::from_secs(90);
/// The email Ada clicks, and its call-to-action link (`inbox.spec.json`).
const MESSAGE: &str = "autumn-launch";
const LEAD: &str = "lead-ada";
/// What Ada types into the newsletter form; none of it may reach ClickHouse.
const TYPED_EMAIL: &str = "ada.walkthrough@example.com";
const TYPED_NAME: &str = "Adelaide";
/// Two Fieldnote Mugs at €29.
const QTY: u32 = 2;
const VALUE: f64 = 58.0;
/// The pages Ada views after accepting, in order.
const PAGES: [&str; 8] = [
    "/landing.html",
    "/journal.html",
    "/signup.html",
    "/video.html",
    "/product.html",
    "/checkout.html",
    "/thanks.html",
    "/privacy.html",
];

/// Prints how long each step took.
struct Steps {
    start: Instant,
    last: Instant,
    done: Vec<(&'static str, Duration)>,
}

impl Steps {
    fn new() -> Self {
        let now = Instant::now();
        Self { start: now, last: now, done: Vec::new() }
    }

    fn step(&mut self, name: &'static str) {
        let now = Instant::now();
        let took = now - self.last;
        self.last = now;
        self.done.push((name, took));
        eprintln!(
            "step {:>2} {name:<48} {:>6.2} s  (at {:>6.2} s)",
            self.done.len(),
            took.as_secs_f64(),
            (now - self.start).as_secs_f64()
        );
    }

    fn report(&self) {
        eprintln!("walk-through timings (this machine; measured, not asserted):");
        for (name, took) in &self.done {
            eprintln!("  {name:<48} {:>6.2} s", took.as_secs_f64());
        }
        eprintln!("  {:<48} {:>6.2} s", "total", (self.last - self.start).as_secs_f64());
    }
}

/// `inbox.spec.json` made into the `inbox.json` that `cargo xtask demo`
/// writes (see `write_inbox` in `xtask/src/demo.rs`), for this test's site,
/// page origin, collector and secret.
fn signed_inbox(s: &Stack) -> Value {
    let spec = demo_site_dir().join("inbox.spec.json");
    let mut inbox: Value = serde_json::from_str(&std::fs::read_to_string(&spec).unwrap()).unwrap();
    let cfg = &s.collector.config;
    let key = TokenKey::derive(cfg.secret.as_bytes(), "link");
    inbox["site"] = json!(s.collector.site);
    for m in inbox["messages"].as_array_mut().unwrap() {
        let (lead, message) = (m["lead"].as_str().unwrap().to_string(), m["message"].as_str().unwrap().to_string());
        let mut open_url = None;
        for link in m["links"].as_array_mut().unwrap() {
            let req = LinkRequest {
                site: s.collector.site.clone(),
                lead: lead.clone(),
                message: message.clone(),
                url: s.pages.url(link["path"].as_str().unwrap()),
                expires: None,
            };
            let signed = email::sign_link(&key, cfg, &req, &s.collector.url, email::now_secs())
                .unwrap_or_else(|e| panic!("signing {req:?}: {e}"));
            link["click_url"] = json!(signed.click_url);
            open_url.get_or_insert(signed.open_url);
        }
        m["open_url"] = json!(open_url.unwrap());
    }
    inbox
}

fn query_param(url: &str, name: &str) -> Option<String> {
    url.split(['?', '&', '#']).find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')).map(str::to_string)
}

use ktra_tests::dashboard::tid;

/// Waits until the browser shows `path` and the page has loaded.
async fn at(s: &Stack, path: &str) {
    s.browser
        .wait_js(
            &format!("the page {path}"),
            &format!("location.pathname == {} && document.readyState == 'complete'", json!(path)),
            WAIT,
        )
        .await;
}

/// Clicks `css`, then waits for `path` to load.
async fn click_to(s: &Stack, css: &str, path: &str) {
    let b = &s.browser;
    b.click(&b.find(css).await).await;
    at(s, path).await;
}

/// Waits until the page view of `path` is stored.
async fn page_view_stored(s: &Stack, path: &str) {
    let sql = format!("SELECT count() FROM events WHERE event_type = 'page_view' AND path = '{path}'");
    assert_eq!(s.ch.wait_count(&sql, 1, WAIT).await, 1, "the page view of {path}:\n{}", s.console().await);
}

/// Scrolls the page down in a few steps, as a reader does.
async fn read_to_bottom(s: &Stack) {
    for i in 1..=8 {
        s.browser
            .js(
                "const max = document.documentElement.scrollHeight - innerHeight; window.scrollTo(0, max * arguments[0] / 8)",
                vec![json!(i)],
            )
            .await;
        tokio::time::sleep(Duration::from_millis(120)).await;
    }
}

/// Waits until the collector has received nothing new for a second and
/// everything it accepted is stored; returns the events stored.
async fn settled(s: &Stack) -> u64 {
    let until = Instant::now() + WAIT;
    let mut last = (f64::NAN, u64::MAX);
    let mut quiet = Instant::now();
    loop {
        let now = (s.events_received().await, s.ch.count("SELECT count() FROM events").await);
        if now != last {
            last = now;
            quiet = Instant::now();
        } else if quiet.elapsed() >= Duration::from_secs(1) && s.events_accepted().await == now.1 as f64 {
            return now.1;
        }
        assert!(
            Instant::now() < until,
            "events still arriving or not stored after {WAIT:?}: received {}, stored {}, accepted {}",
            now.0,
            now.1,
            s.events_accepted().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        v => v.to_string(),
    }
}

/// A dashboard `data-value` against a ClickHouse JSON value: numerically
/// when both are numbers (18.16 quotes 64-bit integers), else as text.
fn same(shown: &Value, ch: &Value) -> bool {
    let (a, b) = (text(shown), text(ch));
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
        _ => a == b,
    }
}

/// README screenshots are kept at most this large.
const DOCS_PNG_MAX: usize = 150 * 1024;

/// Saves a screenshot of the viewport under `target/screenshots/` and, for
/// `docs` ones when asked to (or missing), under `docs/screenshots/`;
/// prints its size.
async fn screenshot(s: &Stack, name: &str, docs: bool) {
    let png = s.browser.screenshot_png().await;
    let (w, h) = png_size(&png);
    assert!(w <= WINDOW.0 && h <= WINDOW.1, "{name}: {w}x{h} is larger than the window");
    let target = ktra_tests::browser::screenshot_dir();
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(target.join(format!("{name}.png")), &png).unwrap();
    let docs_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
    let doc = docs_dir.join(format!("{name}.png"));
    let update = std::env::var("KTRA_UPDATE_DOCS_SCREENSHOTS").is_ok_and(|v| v == "1");
    let mut wrote: Option<PathBuf> = None;
    if docs && (update || !doc.exists()) {
        assert!(png.len() <= DOCS_PNG_MAX, "{name}: {} KB is too large for the README", png.len() / 1024);
        std::fs::create_dir_all(&docs_dir).unwrap();
        std::fs::write(&doc, &png).unwrap();
        wrote = Some(doc.canonicalize().unwrap_or(doc));
    }
    eprintln!(
        "screenshot {name}: {w}x{h}, {} KB{}",
        png.len() / 1024,
        wrote.map(|p| format!(" → {}", p.display())).unwrap_or_default()
    );
}

/// Width and height from a PNG's IHDR.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(png.len() > 24 && &png[1..4] == b"PNG", "not a PNG");
    let be = |i: usize| u32::from_be_bytes([png[i], png[i + 1], png[i + 2], png[i + 3]]);
    (be(16), be(20))
}

#[tokio::test]
async fn a_visitor_walks_the_demo_shop_and_the_dashboard_shows_exactly_what_clickhouse_holds() {
    tokio::time::timeout(BOUND, walk())
        .await
        .unwrap_or_else(|_| panic!("the walk-through did not finish within {BOUND:?}"));
}

async fn walk() {
    let mut steps = Steps::new();
    let s = Stack::start_in("br_demo", demo_site_dir(), |site| {
        site.erase_on_withdraw = false;
        // As collector/ktra.demo.toml: the demo list subscribed with a double opt-in.
        site.email_tracking = ktra_collector::config::EmailTracking::All;
    })
    .await;
    let b = &s.browser;
    let inbox = signed_inbox(&s);
    s.pages.put("/inbox.json", inbox.to_string());
    let cta =
        inbox["messages"].as_array().unwrap().iter().find(|m| m["message"] == MESSAGE).unwrap()["links"][0].clone();
    let landing = s.pages.url(cta["path"].as_str().unwrap());
    steps.step("stack: database, collector, shop, Chromium");

    // ---- the inbox: a mail client, no banner, no ktra.
    b.goto(&s.pages.url("/inbox.html")).await;
    b.wait_js(
        "the inbox to list tracked messages",
        &format!(
            "(l => l && l.dataset.ready == 'true' && l.dataset.tracked == 'true')(document.querySelector('{}'))",
            tid("inbox-list")
        ),
        WAIT,
    )
    .await;
    b.click(&b.find(&format!("{}[data-message-id=\"{MESSAGE}\"]", tid("inbox-message"))).await).await;
    let opens = format!("SELECT count() FROM email_opens WHERE message_id = '{MESSAGE}' AND lead_id = '{LEAD}'");
    assert_eq!(s.ch.wait_count(&opens, 1, WAIT).await, 1, "the open pixel of the message read");
    let link = b.find(&format!("{}[data-message-id=\"{MESSAGE}\"][data-link-id=\"cta\"]", tid("email-link"))).await;
    let href = b.property(&link, "href").await;
    assert_eq!(href, cta["click_url"], "the email's button is the signed click link");
    assert!(text(&href).starts_with(&format!("{}/c/", s.collector.url)), "{href}");
    b.click(&link).await;
    at(&s, "/landing.html").await;
    let arrived = b.current_url().await;
    let ec = query_param(&arrived, "ktra_ec").unwrap_or_else(|| panic!("no ktra_ec in {arrived}"));
    assert!(
        arrived.starts_with(&format!("{landing}&ktra_ec=")),
        "the click lands on the signed destination with ktra_ec added: {arrived}"
    );
    steps.step("inbox: open the email, click its button");

    // ---- on the shop: the banner asks; nothing of the pixel before the
    // choice; Accept all.
    s.loader_ready().await;
    s.banner_shown().await;
    b.js("window.scrollTo(0, 0)", vec![]).await;
    screenshot(&s, "demo-banner", true).await;
    assert_eq!(b.requested(".wasm").await, Vec::<String>::new(), "wasm before the choice");
    assert_eq!(b.cookie("ktra_vid").await, None, "ktra_vid before the choice");
    assert_eq!(s.events_received().await, 0.0, "events before the choice");
    b.click(&s.banner_el("[data-a=accept]").await).await;
    let (granted, grant) = wait_until("the grant's token", WAIT, || async {
        let (t, p) = s.signed_consent().await;
        (p["p"] == json!(["analytics", "marketing"])).then_some((t, p))
    })
    .await;
    let vid_cookie = s.wait_cookie("ktra_vid").await;
    let vid = vid_cookie.split('.').next().unwrap().to_string();
    let sid = s.wait_cookie("ktra_sid").await;
    b.wait_js("ktra_ec to leave the address bar", "!location.search.includes('ktra_ec')", WAIT).await;
    assert_eq!(b.current_url().await, landing, "only ktra_ec leaves the address bar");
    page_view_stored(&s, "/landing.html").await;
    let badge = b.js(&format!("return document.querySelector('{}').textContent", tid("utm-badge")), vec![]).await;
    assert!(text(&badge).contains(MESSAGE), "the landing page shows its campaign: {badge}");
    steps.step("banner: accept all; landing page view stored");
    b.js("window.scrollTo(0, 0)", vec![]).await;
    screenshot(&s, "demo-landing", true).await;

    // ---- the journal, read to the bottom.
    click_to(&s, &tid("nav-journal"), "/journal.html").await;
    read_to_bottom(&s).await;
    let end_visible = b
        .js(&format!("const r = document.querySelector('{}').getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight", tid("article-end")), vec![])
        .await;
    assert_eq!(end_visible, json!(true), "the end of the article is on screen");
    let depths = "SELECT count() FROM events WHERE event_type = 'scroll' AND path = '/journal.html'";
    assert_eq!(s.ch.wait_count(depths, 5, WAIT).await, 5, "25/50/75/90/100 % of the journal");
    steps.step("journal: read to the bottom (5 scroll depths)");

    // ---- the newsletter form.
    click_to(&s, &tid("nav-signup"), "/signup.html").await;
    b.type_into(&b.find(&tid("lead-email")).await, TYPED_EMAIL).await;
    b.type_into(&b.find(&tid("lead-name")).await, TYPED_NAME).await;
    b.click(&b.find(&tid("lead-agree")).await).await;
    b.click(&b.find(&tid("lead-submit")).await).await;
    b.wait_js("the form's thank-you", &format!("!document.querySelector('{}').hidden", tid("signup-success")), WAIT)
        .await;
    for (what, sql) in [
        ("the form submit", "SELECT count() FROM events WHERE event_type = 'form_submit' AND form_id = 'lead-form'"),
        ("the identify", "SELECT count() FROM events WHERE event_type = 'identify'"),
    ] {
        assert_eq!(s.ch.wait_count(sql, 1, WAIT).await, 1, "{what}:\n{}", s.console().await);
    }
    steps.step("signup: newsletter form (submit + identify)");

    // ---- the studio tour, to the end.
    click_to(&s, &tid("nav-video"), "/video.html").await;
    b.click(&b.find(&tid("play-tour")).await).await;
    let watched = b
        .wait_js(
            "the studio tour to end",
            &format!(
                "(v => v.dataset.ended == 'true' && [v.duration, v.currentTime])(document.querySelector('{}'))",
                tid("tour-video")
            ),
            WAIT,
        )
        .await;
    eprintln!("studio tour watched: duration, position = {watched}");
    let done = "SELECT count() FROM events WHERE event_type = 'video_complete' AND video_id = 'studio-tour'";
    assert_eq!(s.ch.wait_count(done, 1, WAIT).await, 1, "the video's completion");
    steps.step("video: the studio tour to the end");

    // ---- the product, the cart, the checkout, the thank-you page.
    click_to(&s, ".chapters a[href^='product.html']", "/product.html").await;
    let product = b.js(&format!("return document.querySelector('{}').dataset.productId", tid("product")), vec![]).await;
    assert_eq!(product, "mug-fieldnote");
    let qty = b.find(&tid("qty")).await;
    b.clear(&qty).await;
    b.type_into(&qty, &QTY.to_string()).await;
    b.click(&b.find(&tid("add-to-cart")).await).await;
    b.wait_js("the added-to-cart note", &format!("!document.querySelector('{}').hidden", tid("added-note")), WAIT)
        .await;
    click_to(&s, &tid("go-checkout"), "/checkout.html").await;
    let total = b
        .wait_js("the cart total", &format!("document.querySelector('{}').dataset.value", tid("cart-total")), WAIT)
        .await;
    assert_eq!(num(&total), VALUE, "the cart holds {QTY} mugs");
    click_to(&s, &tid("place-order"), "/thanks.html").await;
    let thanks = b
        .wait_js(
            "the thank-you page to report the purchase",
            &format!("(t => t.dataset.reported && {{reported: t.dataset.reported, order: t.dataset.orderId, value: t.dataset.value, currency: t.dataset.currency}})(document.querySelector('{}'))", tid("thanks")),
            WAIT,
        )
        .await;
    assert_eq!(thanks["reported"], "now", "{thanks}");
    let order_id = text(&thanks["order"]);
    assert_eq!((num(&thanks["value"]), thanks["currency"].as_str()), (VALUE, Some("EUR")));
    let bought = format!("SELECT count() FROM events WHERE event_type = 'purchase' AND order_id = '{order_id}'");
    assert_eq!(s.ch.wait_count(&bought, 1, WAIT).await, 1, "the purchase:\n{}", s.console().await);
    steps.step("shop: product, cart, checkout, thank-you");

    // ---- the privacy page: withdraw. Nothing is stored afterwards.
    click_to(&s, ".actions a[href='privacy.html']", "/privacy.html").await;
    page_view_stored(&s, "/privacy.html").await;
    let stored = settled(&s).await;
    let received = s.events_received().await;
    let withdrawn_at = now_ms();
    b.click(&b.find(&tid("withdraw-consent")).await).await;
    wait_until("the withdrawal's token", WAIT, || async {
        let (t, _) = s.signed_consent().await;
        (t != granted).then_some(())
    })
    .await;
    wait_until("ktra_vid to go", WAIT, || async { b.cookie("ktra_vid").await.is_none().then_some(()) }).await;
    assert_eq!(b.cookie("ktra_sid").await, None, "ktra_sid survived the withdrawal");
    // What would make the pixel send: reading, an API call, another page.
    read_to_bottom(&s).await;
    b.js("ktra('track', 'after_withdrawal')", vec![]).await;
    click_to(&s, &tid("nav-journal"), "/journal.html").await;
    read_to_bottom(&s).await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(b.requested("/v1/events").await, Vec::<String>::new(), "the page after the withdrawal sent events");
    assert_eq!(b.cookie("ktra_vid").await, None, "ktra_vid came back");
    assert_eq!(s.events_received().await, received, "events reached the collector after the withdrawal");
    assert_eq!(s.ch.count("SELECT count() FROM events").await, stored, "events stored after the withdrawal");
    assert_eq!(
        s.ch.count(&format!("SELECT count() FROM events WHERE ts_ms >= {withdrawn_at}")).await,
        0,
        "events with a time after the withdrawal"
    );
    let log = s
        .ch
        .rows("SELECT action, granted, consent_id, previous_id FROM consent_log FINAL ORDER BY recorded_at, action")
        .await;
    let by =
        |f: &dyn Fn(&str) -> bool| log.iter().filter(|r| f(r["action"].as_str().unwrap_or(""))).collect::<Vec<_>>();
    let (accept, withdraw) = (by(&|a| a == "grant" || a == "change"), by(&|a| a == "withdraw"));
    assert_eq!((log.len(), accept.len(), withdraw.len()), (2, 1, 1), "the grant and the withdrawal: {log:?}");
    assert_eq!(
        (&accept[0]["granted"], &accept[0]["consent_id"]),
        (&json!(["analytics", "marketing"]), &grant["c"]),
        "{log:?}"
    );
    assert_eq!(withdraw[0]["previous_id"], grant["c"], "the withdrawal names the consent withdrawn: {log:?}");
    steps.step("privacy: withdraw; nothing stored afterwards");

    // ---- the visit as stored.
    stored::check(&s, &vid, &sid, &ec, &order_id, &grant).await;
    steps.step("ClickHouse: the visit as stored");

    // ---- the dashboard.
    ktra_tests::dashboard::sign_in(b, &s.collector.url, &s.collector.config.admin_key).await;
    let first = dashboard::loaded(&s, "").await;
    b.click(&b.find(&format!("{} option[value=\"{}\"]", tid("site-select"), s.collector.site)).await).await;
    b.click(&b.find(&tid("range-24h")).await).await;
    dashboard::loaded(&s, &first).await;
    let pressed = b
        .js(&format!("return document.querySelector('{}').getAttribute('aria-pressed')", tid("range-24h")), vec![])
        .await;
    assert_eq!(pressed, "true", "the 24 h range is picked");
    steps.step("dashboard: sign in, site, 24 h, all panels ready");
    b.js("window.scrollTo(0, 0)", vec![]).await;
    screenshot(&s, "dashboard", true).await;

    dashboard::check(&s, &order_id).await;
    steps.step("dashboard: every panel against ClickHouse");
    drop(s);
    steps.step("teardown: Chromium, collector, page server");
    steps.report();
}
