//! The demo shop end to end (issue #6): a visitor in real headless Chromium
//! walks `web-demo/site/` like a person would, and the dashboard then shows
//! what happened, number for number.
//!
//! The walk: Ada opens the demo inbox, where the shop's banner asks first
//! (its backdrop keeps the page from being clicked) and she rejects all;
//! she reads the autumn-launch email (its open pixel) and clicks its call to
//! action (a signed `/c/…` link: the collector records the click and lands
//! her on the shop with UTMs and `ktra_ec`), opens Cookie settings and
//! accepts all, reads the journal to the bottom, subscribes with the newsletter form
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
use ktra_schema::queries::{self, Param};
use ktra_tests::browser::{demo_site_dir, wait_until, Stack, WINDOW};
use ktra_tests::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
        Self {
            start: now,
            last: now,
            done: Vec::new(),
        }
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
        eprintln!(
            "  {:<48} {:>6.2} s",
            "total",
            (self.last - self.start).as_secs_f64()
        );
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
        let (lead, message) = (
            m["lead"].as_str().unwrap().to_string(),
            m["message"].as_str().unwrap().to_string(),
        );
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
    url.split(['?', '&', '#'])
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
        .map(str::to_string)
}

/// A `[data-testid=…]` selector.
fn tid(id: &str) -> String {
    format!("[data-testid=\"{id}\"]")
}

/// Waits until the browser shows `path` and the page has loaded.
async fn at(s: &Stack, path: &str) {
    s.browser
        .wait_js(
            &format!("the page {path}"),
            &format!(
                "location.pathname == {} && document.readyState == 'complete'",
                json!(path)
            ),
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
    let sql =
        format!("SELECT count() FROM events WHERE event_type = 'page_view' AND path = '{path}'");
    assert_eq!(
        s.ch.wait_count(&sql, 1, WAIT).await,
        1,
        "the page view of {path}:\n{}",
        s.console().await
    );
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
        let now = (
            s.events_received().await,
            s.ch.count("SELECT count() FROM events").await,
        );
        if now != last {
            last = now;
            quiet = Instant::now();
        } else if quiet.elapsed() >= Duration::from_secs(1)
            && s.events_accepted().await == now.1 as f64
        {
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

fn n(v: &Value) -> f64 {
    num(v)
}

/// README screenshots are kept at most this large.
const DOCS_PNG_MAX: usize = 150 * 1024;

/// Saves a screenshot of the viewport under `target/screenshots/` and, for
/// `docs` ones when asked to (or missing), under `docs/screenshots/`;
/// prints its size.
async fn screenshot(s: &Stack, name: &str, docs: bool) {
    let png = s.browser.screenshot_png().await;
    let (w, h) = png_size(&png);
    assert!(
        w <= WINDOW.0 && h <= WINDOW.1,
        "{name}: {w}x{h} is larger than the window"
    );
    let target = ktra_tests::browser::screenshot_dir();
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(target.join(format!("{name}.png")), &png).unwrap();
    let docs_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
    let doc = docs_dir.join(format!("{name}.png"));
    let update = std::env::var("KTRA_UPDATE_DOCS_SCREENSHOTS").is_ok_and(|v| v == "1");
    let mut wrote: Option<PathBuf> = None;
    if docs && (update || !doc.exists()) {
        assert!(
            png.len() <= DOCS_PNG_MAX,
            "{name}: {} KB is too large for the README",
            png.len() / 1024
        );
        std::fs::create_dir_all(&docs_dir).unwrap();
        std::fs::write(&doc, &png).unwrap();
        wrote = Some(doc.canonicalize().unwrap_or(doc));
    }
    eprintln!(
        "screenshot {name}: {w}x{h}, {} KB{}",
        png.len() / 1024,
        wrote
            .map(|p| format!(" → {}", p.display()))
            .unwrap_or_default()
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
    })
    .await;
    let b = &s.browser;
    let inbox = signed_inbox(&s);
    s.pages.put("/inbox.json", inbox.to_string());
    let cta = inbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["message"] == MESSAGE)
        .unwrap()["links"][0]
        .clone();
    let landing = s.pages.url(cta["path"].as_str().unwrap());
    steps.step("stack: database, collector, shop, Chromium");

    // ---- the inbox. The shop's banner covers it (a backdrop keeps the page
    // from being clicked until a choice is made): not now, Reject all.
    b.goto(&s.pages.url("/inbox.html")).await;
    s.banner_shown().await;
    screenshot(&s, "demo-banner", true).await;
    b.click(&s.banner_el("[data-a=reject]").await).await;
    let (_, denial) = s.signed_consent().await;
    assert_eq!(
        denial["p"],
        json!([]),
        "a rejection grants nothing: {denial}"
    );
    b.wait_js(
        "the inbox to list tracked messages",
        &format!("(l => l && l.dataset.ready == 'true' && l.dataset.tracked == 'true')(document.querySelector('{}'))", tid("inbox-list")),
        WAIT,
    )
    .await;
    b.click(
        &b.find(&format!(
            "{}[data-message-id=\"{MESSAGE}\"]",
            tid("inbox-message")
        ))
        .await,
    )
    .await;
    let opens = format!(
        "SELECT count() FROM email_opens WHERE message_id = '{MESSAGE}' AND lead_id = '{LEAD}'"
    );
    assert_eq!(
        s.ch.wait_count(&opens, 1, WAIT).await,
        1,
        "the open pixel of the message read"
    );
    let link = b
        .find(&format!(
            "{}[data-message-id=\"{MESSAGE}\"][data-link-id=\"cta\"]",
            tid("email-link")
        ))
        .await;
    let href = b.property(&link, "href").await;
    assert_eq!(
        href, cta["click_url"],
        "the email's button is the signed click link"
    );
    assert!(
        text(&href).starts_with(&format!("{}/c/", s.collector.url)),
        "{href}"
    );
    b.click(&link).await;
    at(&s, "/landing.html").await;
    let arrived = b.current_url().await;
    let ec = query_param(&arrived, "ktra_ec").unwrap_or_else(|| panic!("no ktra_ec in {arrived}"));
    assert!(
        arrived.starts_with(&format!("{landing}&ktra_ec=")),
        "the click lands on the signed destination with ktra_ec added: {arrived}"
    );
    steps.step("inbox: open the email, click its button");

    // ---- on the shop: nothing of the pixel after the rejection; Cookie
    // settings, Accept all.
    s.loader_ready().await;
    assert!(
        !s.banner_open().await,
        "the banner asks again after a rejection"
    );
    assert_eq!(
        b.requested(".wasm").await,
        Vec::<String>::new(),
        "wasm after the rejection"
    );
    assert_eq!(
        b.cookie("ktra_vid").await,
        None,
        "ktra_vid after the rejection"
    );
    assert_eq!(s.events_received().await, 0.0, "events after the rejection");
    b.click(&b.find(&tid("cookie-settings")).await).await;
    s.banner_shown().await;
    b.js("window.scrollTo(0, 0)", vec![]).await;
    screenshot(&s, "demo-banner-reopened", false).await;
    b.click(&s.banner_el("[data-a=accept]").await).await;
    let (granted, grant) = wait_until("the grant's token", WAIT, || async {
        let (t, p) = s.signed_consent().await;
        (p["c"] != denial["c"]).then_some((t, p))
    })
    .await;
    let vid_cookie = s.wait_cookie("ktra_vid").await;
    let vid = vid_cookie.split('.').next().unwrap().to_string();
    let sid = s.wait_cookie("ktra_sid").await;
    b.wait_js(
        "ktra_ec to leave the address bar",
        "!location.search.includes('ktra_ec')",
        WAIT,
    )
    .await;
    assert_eq!(
        b.current_url().await,
        landing,
        "only ktra_ec leaves the address bar"
    );
    page_view_stored(&s, "/landing.html").await;
    let badge = b
        .js(
            &format!(
                "return document.querySelector('{}').textContent",
                tid("utm-badge")
            ),
            vec![],
        )
        .await;
    assert!(
        text(&badge).contains(MESSAGE),
        "the landing page shows its campaign: {badge}"
    );
    steps.step("banner: accept all; landing page view stored");
    b.js("window.scrollTo(0, 0)", vec![]).await;
    screenshot(&s, "demo-landing", true).await;

    // ---- the journal, read to the bottom.
    click_to(&s, &tid("nav-journal"), "/journal.html").await;
    read_to_bottom(&s).await;
    let end_visible = b
        .js(&format!("const r = document.querySelector('{}').getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight", tid("article-end")), vec![])
        .await;
    assert_eq!(
        end_visible,
        json!(true),
        "the end of the article is on screen"
    );
    let depths =
        "SELECT count() FROM events WHERE event_type = 'scroll' AND path = '/journal.html'";
    assert_eq!(
        s.ch.wait_count(depths, 5, WAIT).await,
        5,
        "25/50/75/90/100 % of the journal"
    );
    steps.step("journal: read to the bottom (5 scroll depths)");

    // ---- the newsletter form.
    click_to(&s, &tid("nav-signup"), "/signup.html").await;
    b.type_into(&b.find(&tid("lead-email")).await, TYPED_EMAIL)
        .await;
    b.type_into(&b.find(&tid("lead-name")).await, TYPED_NAME)
        .await;
    b.click(&b.find(&tid("lead-agree")).await).await;
    b.click(&b.find(&tid("lead-submit")).await).await;
    b.wait_js(
        "the form's thank-you",
        &format!(
            "!document.querySelector('{}').hidden",
            tid("signup-success")
        ),
        WAIT,
    )
    .await;
    for (what, sql) in [
        (
            "the form submit",
            "SELECT count() FROM events WHERE event_type = 'form_submit' AND form_id = 'lead-form'",
        ),
        (
            "the identify",
            "SELECT count() FROM events WHERE event_type = 'identify'",
        ),
    ] {
        assert_eq!(
            s.ch.wait_count(sql, 1, WAIT).await,
            1,
            "{what}:\n{}",
            s.console().await
        );
    }
    steps.step("signup: newsletter form (submit + identify)");

    // ---- the studio tour, to the end.
    click_to(&s, &tid("nav-video"), "/video.html").await;
    b.click(&b.find(&tid("play-tour")).await).await;
    let watched = b
        .wait_js(
            "the studio tour to end",
            &format!("(v => v.dataset.ended == 'true' && [v.duration, v.currentTime])(document.querySelector('{}'))", tid("tour-video")),
            WAIT,
        )
        .await;
    eprintln!("studio tour watched: duration, position = {watched}");
    let done = "SELECT count() FROM events WHERE event_type = 'video_complete' AND video_id = 'studio-tour'";
    assert_eq!(
        s.ch.wait_count(done, 1, WAIT).await,
        1,
        "the video's completion"
    );
    steps.step("video: the studio tour to the end");

    // ---- the product, the cart, the checkout, the thank-you page.
    click_to(&s, ".chapters a[href^='product.html']", "/product.html").await;
    let product = b
        .js(
            &format!(
                "return document.querySelector('{}').dataset.productId",
                tid("product")
            ),
            vec![],
        )
        .await;
    assert_eq!(product, "mug-fieldnote");
    let qty = b.find(&tid("qty")).await;
    b.clear(&qty).await;
    b.type_into(&qty, &QTY.to_string()).await;
    b.click(&b.find(&tid("add-to-cart")).await).await;
    b.wait_js(
        "the added-to-cart note",
        &format!("!document.querySelector('{}').hidden", tid("added-note")),
        WAIT,
    )
    .await;
    click_to(&s, &tid("go-checkout"), "/checkout.html").await;
    let total = b
        .wait_js(
            "the cart total",
            &format!(
                "document.querySelector('{}').dataset.value",
                tid("cart-total")
            ),
            WAIT,
        )
        .await;
    assert_eq!(n(&total), VALUE, "the cart holds {QTY} mugs");
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
    assert_eq!(
        (n(&thanks["value"]), thanks["currency"].as_str()),
        (VALUE, Some("EUR"))
    );
    let bought = format!(
        "SELECT count() FROM events WHERE event_type = 'purchase' AND order_id = '{order_id}'"
    );
    assert_eq!(
        s.ch.wait_count(&bought, 1, WAIT).await,
        1,
        "the purchase:\n{}",
        s.console().await
    );
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
    wait_until("ktra_vid to go", WAIT, || async {
        b.cookie("ktra_vid").await.is_none().then_some(())
    })
    .await;
    assert_eq!(
        b.cookie("ktra_sid").await,
        None,
        "ktra_sid survived the withdrawal"
    );
    // What would make the pixel send: reading, an API call, another page.
    read_to_bottom(&s).await;
    b.js("ktra('track', 'after_withdrawal')", vec![]).await;
    click_to(&s, &tid("nav-journal"), "/journal.html").await;
    read_to_bottom(&s).await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(
        b.requested("/v1/events").await,
        Vec::<String>::new(),
        "the page after the withdrawal sent events"
    );
    assert_eq!(b.cookie("ktra_vid").await, None, "ktra_vid came back");
    assert_eq!(
        s.events_received().await,
        received,
        "events reached the collector after the withdrawal"
    );
    assert_eq!(
        s.ch.count("SELECT count() FROM events").await,
        stored,
        "events stored after the withdrawal"
    );
    assert_eq!(
        s.ch.count(&format!(
            "SELECT count() FROM events WHERE ts_ms >= {withdrawn_at}"
        ))
        .await,
        0,
        "events with a time after the withdrawal"
    );
    let log = s
        .ch
        .rows("SELECT action, granted, consent_id, previous_id FROM consent_log FINAL ORDER BY recorded_at, action")
        .await;
    let by = |f: &dyn Fn(&str) -> bool| {
        log.iter()
            .filter(|r| f(r["action"].as_str().unwrap_or("")))
            .collect::<Vec<_>>()
    };
    let (deny, accept, withdraw) = (
        by(&|a| a == "deny"),
        by(&|a| a == "grant" || a == "change"),
        by(&|a| a == "withdraw"),
    );
    assert_eq!(
        (log.len(), deny.len(), accept.len(), withdraw.len()),
        (3, 1, 1, 1),
        "the rejection, the grant and the withdrawal: {log:?}"
    );
    assert_eq!(
        (&deny[0]["granted"], &deny[0]["consent_id"]),
        (&json!([]), &denial["c"]),
        "{log:?}"
    );
    assert_eq!(
        (&accept[0]["granted"], &accept[0]["consent_id"]),
        (&json!(["analytics", "marketing"]), &grant["c"]),
        "{log:?}"
    );
    assert_eq!(
        withdraw[0]["previous_id"], grant["c"],
        "the withdrawal names the consent withdrawn: {log:?}"
    );
    steps.step("privacy: withdraw; nothing stored afterwards");

    // ---- the visit as stored.
    check_visit(&s, &vid, &sid, &ec, &order_id, &grant).await;
    steps.step("ClickHouse: the visit as stored");

    // ---- the dashboard.
    b.goto(&format!("{}/dashboard", s.collector.url)).await;
    b.wait_js(
        "the sign-in form",
        "!document.getElementById('login').hidden",
        WAIT,
    )
    .await;
    b.type_into(
        &b.find(&tid("admin-key")).await,
        &s.collector.config.admin_key,
    )
    .await;
    b.click(&b.find(&tid("login")).await).await;
    let first = dash_loaded(&s, "").await;
    b.click(
        &b.find(&format!(
            "{} option[value=\"{}\"]",
            tid("site-select"),
            s.collector.site
        ))
        .await,
    )
    .await;
    b.click(&b.find(&tid("range-24h")).await).await;
    dash_loaded(&s, &first).await;
    let pressed = b
        .js(
            &format!(
                "return document.querySelector('{}').getAttribute('aria-pressed')",
                tid("range-24h")
            ),
            vec![],
        )
        .await;
    assert_eq!(pressed, "true", "the 24 h range is picked");
    steps.step("dashboard: sign in, site, 24 h, all panels ready");
    b.js("window.scrollTo(0, 0)", vec![]).await;
    screenshot(&s, "dashboard", true).await;

    check_dashboard(&s, &order_id).await;
    steps.step("dashboard: every panel against ClickHouse");
    steps.report();
}

/// Waits until `#dash` finished a load after `prev` (its `data-loaded-at`);
/// fails with the panels' errors when it is only `partial`.
async fn dash_loaded(s: &Stack, prev: &str) -> String {
    let b = &s.browser;
    let got = b
        .wait_js(
            "the dashboard to load",
            &format!(
                "(d => !d.hidden && d.dataset.loadedAt && d.dataset.loadedAt != {} && ['ready', 'partial'].includes(d.dataset.state) && [d.dataset.state, d.dataset.loadedAt])(document.getElementById('dash'))",
                json!(prev)
            ),
            WAIT,
        )
        .await;
    if got[0] != "ready" {
        let errors = b
            .js("return [...document.querySelectorAll('.err')].map(e => e.dataset.testid + ': ' + e.textContent)", vec![])
            .await;
        panic!("the dashboard loaded only partly: {errors}");
    }
    text(&got[1])
}

/// The events of the walk, as stored.
async fn check_visit(s: &Stack, vid: &str, sid: &str, ec: &str, order_id: &str, grant: &Value) {
    let rows = s
        .ch
        .rows(
            "SELECT toString(event_id) AS id, event_type, visitor_id, session_id, consent_id, path, utm_source, utm_medium, \
             utm_campaign, email_click_id, form_id, video_id, video_percent, order_id, revenue, currency, product_id, lead_id, \
             is_bot, browser, device FROM events ORDER BY ts_ms",
        )
        .await;
    let listing = rows
        .iter()
        .map(|r| format!("{} {} {}", r["event_type"], r["path"], r["id"]))
        .collect::<Vec<_>>()
        .join("\n");
    let of = |t: &str| {
        rows.iter()
            .filter(|r| r["event_type"] == t)
            .collect::<Vec<_>>()
    };
    let ids: BTreeSet<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), rows.len(), "an event stored twice:\n{listing}");

    let views: Vec<&str> = of("page_view")
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(views, PAGES, "page views, in order:\n{listing}");
    for r in &rows {
        let what = format!("{} {}", r["event_type"], r["path"]);
        assert_eq!(
            r["visitor_id"], vid,
            "{what}: one visitor across the walk (ktra_vid)"
        );
        assert_eq!(r["session_id"], sid, "{what}: one session (ktra_sid)");
        assert_eq!(r["consent_id"], grant["c"], "{what}: the consent given");
        assert_eq!(
            (
                r["utm_source"].as_str(),
                r["utm_medium"].as_str(),
                r["utm_campaign"].as_str()
            ),
            (Some("newsletter"), Some("email"), Some(MESSAGE)),
            "{what}: the landing campaign, kept for the session"
        );
        assert_eq!(r["email_click_id"], ec, "{what}: the email click");
        assert_eq!(
            (
                num(&r["is_bot"]),
                r["browser"].as_str(),
                r["device"].as_str()
            ),
            (0.0, Some("Chrome"), Some("desktop")),
            "{what}"
        );
    }
    assert_eq!(
        of("email_click").len(),
        1,
        "the email click event:\n{listing}"
    );
    let click =
        s.ch.rows(&format!(
            "SELECT lead_id, message_id, is_bot FROM email_clicks FINAL WHERE click_id = '{ec}'"
        ))
        .await;
    assert_eq!(
        click.len(),
        1,
        "the click the redirect recorded (ktra_ec {ec})"
    );
    assert_eq!(
        (
            click[0]["lead_id"].as_str(),
            click[0]["message_id"].as_str(),
            num(&click[0]["is_bot"])
        ),
        (Some(LEAD), Some(MESSAGE), 0.0)
    );

    let who = of("identify");
    assert_eq!(who.len(), 1, "identify:\n{listing}");
    let lead = who[0]["lead_id"].as_str().unwrap();
    assert!(
        !lead.is_empty() && !lead.contains('@') && !lead.to_lowercase().contains("walkthrough"),
        "identify stores a hash of the address, not the address: {lead:?}"
    );
    assert!(
        of("form_submit")
            .iter()
            .any(|r| r["form_id"] == "lead-form"),
        "the newsletter form's submit:\n{listing}"
    );
    let dump =
        s.ch.exec("SELECT * FROM events FORMAT JSONEachRow")
            .await
            .unwrap()
            .to_lowercase();
    for typed in [
        TYPED_EMAIL,
        TYPED_NAME,
        "ada@example.com",
        "4242 4242",
        "riverside lane",
    ] {
        assert!(
            !dump.contains(&typed.to_lowercase()),
            "something typed into a form reached ClickHouse: {typed}"
        );
    }

    let video: Vec<(String, f64)> = rows
        .iter()
        .filter(|r| r["event_type"].as_str().unwrap().starts_with("video_"))
        .map(|r| {
            assert_eq!(r["video_id"], "studio-tour", "{r}");
            assert_eq!(r["path"], "/video.html", "{r}");
            (text(&r["event_type"]), num(&r["video_percent"]))
        })
        .collect();
    let kinds: Vec<&str> = video.iter().map(|v| v.0.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "video_start",
            "video_progress",
            "video_progress",
            "video_progress",
            "video_complete"
        ],
        "{video:?}"
    );
    let marks: Vec<f64> = video
        .iter()
        .filter(|v| v.0 == "video_progress")
        .map(|v| v.1)
        .collect();
    assert_eq!(marks, [25.0, 50.0, 75.0], "{video:?}");

    let buy = of("purchase");
    assert_eq!(buy.len(), 1, "purchases:\n{listing}");
    assert_eq!(
        (
            buy[0]["order_id"].as_str(),
            num(&buy[0]["revenue"]),
            buy[0]["currency"].as_str(),
            buy[0]["product_id"].as_str(),
            buy[0]["path"].as_str()
        ),
        (
            Some(order_id),
            VALUE,
            Some("EUR"),
            Some("mug-fieldnote"),
            Some("/thanks.html")
        ),
        "{}",
        buy[0]
    );
}

/// The panel's table as the dashboard rendered it: one map of
/// `data-col` → `data-value` per row.
type Table = Vec<BTreeMap<String, Value>>;

/// Compares a panel's rows with the query's rows, cell by cell, in order;
/// `computed` columns are the dashboard's own (checked by the caller).
fn compare(
    problems: &mut Vec<String>,
    panel: &str,
    shown: &Table,
    rows: &[Value],
    computed: &[&str],
) {
    if shown.len() != rows.len() {
        problems.push(format!(
            "{panel}: {} rows shown, the query has {}: shown {shown:?}, query {rows:?}",
            shown.len(),
            rows.len()
        ));
        return;
    }
    for (i, (row, want)) in shown.iter().zip(rows).enumerate() {
        for (col, v) in row {
            if computed.contains(&col.as_str()) {
                continue;
            }
            match want.get(col) {
                Some(w) if same(v, w) => {}
                Some(w) => {
                    problems.push(format!("{panel} row {i} {col}: shown {v}, ClickHouse {w}"))
                }
                None => problems.push(format!(
                    "{panel} row {i}: column {col} is not in the query's answer {want}"
                )),
            }
        }
    }
}

fn col<'a>(t: &'a Table, i: usize, c: &str) -> &'a Value {
    t.get(i).and_then(|r| r.get(c)).unwrap_or(&Value::Null)
}

fn total(rows: &[Value], c: &str) -> f64 {
    rows.iter().map(|r| num(&r[c])).sum()
}

/// Every panel of the dashboard against the same query on ClickHouse, then
/// against what the visitor did.
async fn check_dashboard(s: &Stack, order_id: &str) {
    let got = s
        .browser
        .js(
            r#"const tables = {};
            document.querySelectorAll('table[data-testid^="table-"]').forEach(t => {
              tables[t.dataset.testid.slice(6)] = [...t.querySelectorAll('tbody tr')].map(tr =>
                Object.fromEntries([...tr.querySelectorAll('td')].map(td => [td.dataset.col, td.dataset.value])));
            });
            const panels = {};
            document.querySelectorAll('[data-panel]').forEach(p => panels[p.dataset.panel] = {state: p.dataset.state, rows: p.dataset.rows});
            const kpis = {};
            document.querySelectorAll('[data-testid^="kpi-"]').forEach(k => kpis[k.dataset.testid.slice(4)] = k.dataset.value);
            const asked = performance.getEntriesByType('resource').map(e => e.name).filter(u => u.includes('/v1/stats/traffic_daily?'));
            return {tables, panels, kpis, asked: asked[asked.length - 1] || ''};"#,
            vec![],
        )
        .await;
    let tables: BTreeMap<String, Table> = serde_json::from_value(got["tables"].clone()).unwrap();
    let kpis = &got["kpis"];
    let asked = text(&got["asked"]);
    let param = |k: &str| {
        query_param(&asked, k)
            .unwrap_or_else(|| panic!("no {k} in the dashboard's request {asked:?}"))
    };
    let (site, from, to) = (
        param("site"),
        param("from").parse::<u32>().unwrap(),
        param("to").parse::<u32>().unwrap(),
    );
    assert_eq!(
        site, s.collector.site,
        "the dashboard asked for the site picked"
    );
    assert_eq!(to - from, 86_400, "the dashboard asked for 24 hours");

    // The same queries, rendered for the same site and range, straight from ClickHouse.
    let params = BTreeMap::from([
        ("site", Param::Str(site)),
        ("from", Param::Time(from)),
        ("to", Param::Time(to)),
    ]);
    let mut ch: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for q in queries::QUERIES {
        ch.insert(
            q.name,
            s.ch.rows(&queries::render(q.sql, &params).unwrap()).await,
        );
    }
    eprintln!(
        "dashboard tables: {}",
        serde_json::to_string(&tables).unwrap()
    );

    let mut problems = Vec::new();
    let panels: [(&str, &str, &[&str]); 12] = [
        ("traffic", "traffic_daily", &[]),
        ("pages", "top_pages", &[]),
        ("channels", "channels", &[]),
        ("campaigns", "utm_campaigns", &[]),
        ("revenue", "attribution_touches", &[]),
        ("countries", "countries", &[]),
        ("devices", "devices", &[]),
        ("scroll", "scroll_depth", &[]),
        ("video", "video_engagement", &["completion"]),
        ("forms", "form_conversion", &[]),
        ("consent", "consent_rates", &[]),
        ("purchases", "attribution_purchases", &[]),
    ];
    let empty = Table::new();
    for (panel, query, computed) in panels {
        let state = &got["panels"][panel];
        if state["state"] != "ready" {
            problems.push(format!(
                "{panel}: panel state {state} (every panel has data after the walk)"
            ));
        }
        let mut rows = ch[query].clone();
        if panel == "purchases" {
            rows.reverse(); // newest first
        }
        if num(&state["rows"]) != rows.len() as f64 {
            problems.push(format!(
                "{panel}: data-rows {} vs {} rows of {query}",
                state["rows"],
                rows.len()
            ));
        }
        compare(
            &mut problems,
            panel,
            tables.get(panel).unwrap_or(&empty),
            &rows,
            computed,
        );
    }
    let video = tables.get("video").unwrap_or(&empty);
    for (i, r) in ch["video_engagement"].iter().enumerate() {
        let want = if num(&r["starts"]) > 0.0 {
            num(&r["completes"]) / num(&r["starts"])
        } else {
            0.0
        };
        if !same(col(video, i, "completion"), &json!(want)) {
            problems.push(format!(
                "video row {i} completion: shown {}, completes/starts {want}",
                col(video, i, "completion")
            ));
        }
    }

    // The email panel joins three queries by message.
    let email = tables.get("email").unwrap_or(&empty);
    let find = |q: &str, m: &Value| ch[q].iter().find(|r| r["message_id"] == *m).cloned();
    let mut messages: Vec<Value> = Vec::new();
    for r in ch["email_opens_clicks"].iter().chain(&ch["email_funnel"]) {
        if !messages.contains(&r["message_id"]) {
            messages.push(r["message_id"].clone());
        }
    }
    let shown: Vec<&Value> = email
        .iter()
        .map(|r| r.get("message_id").unwrap_or(&Value::Null))
        .collect();
    if shown != messages.iter().collect::<Vec<_>>() {
        problems.push(format!(
            "email: messages shown {shown:?}, in the queries {messages:?}"
        ));
    }
    for (i, m) in messages.iter().enumerate() {
        let (oc, fu, tp) = (
            find("email_opens_clicks", m),
            find("email_funnel", m),
            find("email_click_to_purchase", m),
        );
        let zero = json!(0);
        let get =
            |r: &Option<Value>, c: &str| r.as_ref().map(|r| r[c].clone()).unwrap_or(zero.clone());
        let want = [
            ("opens", get(&oc, "opens")),
            ("proxy_opens", get(&oc, "proxy_opens")),
            ("click_to_open", get(&oc, "click_to_open")),
            (
                "clicks",
                if fu.is_some() {
                    get(&fu, "clicks")
                } else {
                    get(&oc, "clicks")
                },
            ),
            ("bot_clicks", get(&fu, "bot_clicks")),
            ("sessions", get(&fu, "sessions")),
            ("form_submits", get(&fu, "form_submits")),
            ("purchases", get(&fu, "purchases")),
            ("revenue", get(&fu, "revenue")),
            (
                "median_seconds",
                tp.as_ref()
                    .map(|r| r["median_seconds"].clone())
                    .unwrap_or(Value::Null),
            ),
        ];
        for (c, w) in want {
            if !same(col(email, i, c), &w) {
                problems.push(format!(
                    "email {m} {c}: shown {}, ClickHouse {w}",
                    col(email, i, c)
                ));
            }
        }
    }

    // The summary tiles, from the same queries.
    let consent = &ch["consent_rates"];
    let share = total(consent, "accepted") / total(consent, "decisions").max(1.0);
    for (k, w) in [
        ("visitors", total(&ch["countries"], "visitors")),
        ("page-views", total(&ch["traffic_daily"], "page_views")),
        ("sessions", total(&ch["channels"], "sessions")),
        (
            "purchases",
            total(&ch["attribution_touches"], "first_touch_purchases"),
        ),
        (
            "revenue",
            (total(&ch["attribution_touches"], "first_touch_revenue") * 100.0).round() / 100.0,
        ),
        ("consent", share),
    ] {
        if !same(&kpis[k], &json!(w)) {
            problems.push(format!("kpi {k}: shown {}, ClickHouse {w}", kpis[k]));
        }
    }
    assert!(
        problems.is_empty(),
        "the dashboard differs from ClickHouse:\n{}",
        problems.join("\n")
    );

    // What the visitor did, as the dashboard shows it.
    let t = |p: &str| tables.get(p).unwrap_or(&empty);
    let v = |p: &str, i: usize, c: &str| num(col(t(p), i, c));
    let s_ = |p: &str, i: usize, c: &str| text(col(t(p), i, c));
    let mut want: Vec<String> = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            want.push(what);
        }
    };
    for (k, w) in [
        ("visitors", 1.0),
        ("page-views", PAGES.len() as f64),
        ("sessions", 1.0),
        ("purchases", 1.0),
        ("revenue", VALUE),
        ("consent", 1.0 / 3.0),
    ] {
        check(
            same(&kpis[k], &json!(w)),
            format!("kpi {k} = {w}, shown {}", kpis[k]),
        );
    }
    let traffic = t("traffic");
    check(
        traffic.iter().map(|r| num(&r["page_views"])).sum::<f64>() == PAGES.len() as f64
            && traffic.iter().all(|r| num(&r["visitors"]) == 1.0),
        format!(
            "traffic: {} page views by one visitor: {traffic:?}",
            PAGES.len()
        ),
    );
    let pages: BTreeSet<String> = t("pages").iter().map(|r| text(&r["path"])).collect();
    check(
        pages == PAGES.iter().map(|p| p.to_string()).collect(),
        format!("pages: every page viewed, shown {pages:?}"),
    );
    check(
        t("pages")
            .iter()
            .all(|r| num(&r["page_views"]) == 1.0 && num(&r["visitors"]) == 1.0),
        format!("pages: each viewed once by one visitor: {:?}", t("pages")),
    );
    check(
        t("channels").len() == 1
            && s_("channels", 0, "channel") == "email"
            && v("channels", 0, "sessions") == 1.0
            && v("channels", 0, "purchases") == 1.0
            && v("channels", 0, "revenue") == VALUE,
        format!(
            "channels: one email session with the purchase: {:?}",
            t("channels")
        ),
    );
    let forms_total = total(
        &s.ch
            .rows("SELECT count() AS n FROM events WHERE event_type = 'form_submit'")
            .await,
        "n",
    );
    check(
        t("campaigns").len() == 1
            && (s_("campaigns", 0, "utm_source"), s_("campaigns", 0, "utm_medium"), s_("campaigns", 0, "utm_campaign"))
                == ("newsletter".into(), "email".into(), MESSAGE.into())
            && v("campaigns", 0, "sessions") == 1.0
            && v("campaigns", 0, "form_submits") == forms_total
            && v("campaigns", 0, "purchases") == 1.0
            && v("campaigns", 0, "revenue") == VALUE,
        format!("campaigns: newsletter / email / {MESSAGE} with {forms_total} form submits and the purchase: {:?}", t("campaigns")),
    );
    check(
        t("revenue").len() == 1
            && s_("revenue", 0, "touch_type") == "email"
            && s_("revenue", 0, "touch") == MESSAGE
            && [
                v("revenue", 0, "first_touch_purchases"),
                v("revenue", 0, "first_touch_revenue"),
                v("revenue", 0, "last_touch_purchases"),
                v("revenue", 0, "last_touch_revenue"),
            ] == [1.0, VALUE, 1.0, VALUE],
        format!(
            "revenue: first and last touch the email {MESSAGE}: {:?}",
            t("revenue")
        ),
    );
    check(
        t("devices").len() == 1
            && s_("devices", 0, "browser") == "Chrome"
            && s_("devices", 0, "device") == "desktop"
            && v("devices", 0, "visitors") == 1.0,
        format!("devices: one Chrome desktop visitor: {:?}", t("devices")),
    );
    check(
        t("countries").len() == 1 && v("countries", 0, "visitors") == 1.0,
        format!("countries: one visitor: {:?}", t("countries")),
    );
    let depths: Vec<f64> = t("scroll").iter().map(|r| num(&r["depth"])).collect();
    check(
        [25.0, 50.0, 75.0, 90.0, 100.0]
            .iter()
            .all(|d| depths.contains(d))
            && t("scroll")
                .iter()
                .all(|r| num(&r["page_views_reaching"]) >= 1.0),
        format!("scroll: the journal read to 100 %: {:?}", t("scroll")),
    );
    check(
        t("video").len() == 1
            && s_("video", 0, "video_id") == "studio-tour"
            && ["starts", "p25", "p50", "p75", "completes", "completion"]
                .iter()
                .all(|c| v("video", 0, c) == 1.0),
        format!(
            "video: the studio tour started, 25/50/75 % and completed once: {:?}",
            t("video")
        ),
    );
    let lead_form = t("forms")
        .iter()
        .find(|r| r.get("form_id") == Some(&json!("lead-form")));
    check(
        lead_form.is_some_and(|r| {
            [
                "submits",
                "sessions_submitting",
                "sessions_total",
                "conversion",
            ]
            .iter()
            .all(|c| num(&r[*c]) == 1.0)
        }),
        format!(
            "forms: lead-form submitted once in the one session (100 %): {:?}",
            t("forms")
        ),
    );
    let consent_sum = |c: &str| t("consent").iter().map(|r| num(&r[c])).sum::<f64>();
    check(
        [
            consent_sum("decisions"),
            consent_sum("accepted"),
            consent_sum("rejected"),
            consent_sum("customized"),
            consent_sum("withdrawn"),
        ] == [3.0, 1.0, 1.0, 0.0, 1.0],
        format!(
            "consent: one reject all, one accept all, one withdrawal: {:?}",
            t("consent")
        ),
    );
    let mail = t("email")
        .iter()
        .find(|r| r.get("message_id") == Some(&json!(MESSAGE)));
    check(
        t("email").len() == 1
            && mail.is_some_and(|r| {
                [
                    num(&r["opens"]),
                    num(&r["clicks"]),
                    num(&r["bot_clicks"]),
                    num(&r["sessions"]),
                    num(&r["purchases"]),
                    num(&r["revenue"]),
                ] == [1.0, 1.0, 0.0, 1.0, 1.0, VALUE]
            }),
        format!(
            "email: {MESSAGE} opened, clicked, one session, the purchase: {:?}",
            t("email")
        ),
    );
    check(
        t("purchases").len() == 1
            && s_("purchases", 0, "order_id") == order_id
            && v("purchases", 0, "revenue") == VALUE
            && s_("purchases", 0, "first_touch") == MESSAGE
            && s_("purchases", 0, "last_touch") == MESSAGE
            && v("purchases", 0, "touches") == 1.0
            && s_("purchases", 0, "lead_id") == LEAD,
        format!("purchases: order {order_id}, {VALUE}, email {MESSAGE} first and last, lead {LEAD}: {:?}", t("purchases")),
    );
    assert!(
        want.is_empty(),
        "the dashboard does not show the visit:\n{}",
        want.join("\n")
    );
}
