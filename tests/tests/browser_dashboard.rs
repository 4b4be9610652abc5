//! Exploring the dashboard in headless Chromium: sign in, see the funnel, click
//! the `email` row of the channels panel and see every panel filtered to email
//! sessions (cards, tables, funnel, goals) and the filter in the URL (kept
//! across a reload), break the funnel down by channel, download CSVs, remove
//! the filter. The data is a hand-built fixture written straight to ClickHouse
//! three hours ago, so the numbers are known.
#![allow(clippy::unwrap_used, missing_docs)]

use ktra_collector::stats::defs::{Funnel, Matcher, Order};
use ktra_tests::browser::{exclusive, web_dir, Browser};
use ktra_tests::dashboard::{break_down, download_csv, funnel_steps, sign_in, tid};
use ktra_tests::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn m(path: Option<&str>, event: Option<&str>, f: impl FnOnce(&mut Matcher)) -> Matcher {
    let mut m = Matcher { path: path.map(Into::into), event: event.map(Into::into), ..Default::default() };
    f(&mut m);
    m
}

/// Visitors (strict levels of pricing → lead → course within 1 h):
/// v1 email 3, v2 search 2, v3 direct 1, v4 email 1, v5 search (no funnel).
fn fixture(site: &str, t: u32) -> Vec<Value> {
    let row = |n: u32, vid: &str, at: u32, kind: &str, path: &str, channel: &str, extra: Value| {
        let mut r = json!({
            "site_id": site, "event_id": format!("00000000-0000-4000-8000-{n:012}"), "event_type": kind,
            "ts": at, "ts_ms": at as u64 * 1000, "received_at": at, "visitor_id": vid, "session_id": format!("s-{vid}"),
            "path": path, "url": format!("https://shop.example{path}"), "channel": channel, "device": "desktop",
            "country": "DE", "browser": "Chrome", "os": "Linux",
        });
        r.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        r
    };
    let lead = json!({"form_id": "lead"});
    let course = |o: &str| json!({"product_id": "course", "revenue": 100.0, "order_id": o, "currency": "EUR"});
    vec![
        row(1, "v1", t, "page_view", "/pricing", "email", json!({"utm_campaign": "spring"})),
        row(2, "v1", t + 60, "form_submit", "/pricing", "internal", lead.clone()),
        row(3, "v1", t + 120, "purchase", "/thanks", "internal", course("o1")),
        row(10, "v2", t, "page_view", "/pricing", "search", json!({})),
        row(11, "v2", t + 60, "form_submit", "/pricing", "internal", lead.clone()),
        row(20, "v3", t, "page_view", "/pricing", "direct", json!({})),
        row(30, "v4", t, "page_view", "/pricing", "email", json!({"utm_campaign": "spring"})),
        row(31, "v4", t + 30, "page_view", "/course", "internal", json!({})),
        row(40, "v5", t, "page_view", "/about", "search", json!({})),
        row(41, "v5", t + 30, "page_view", "/blog", "internal", json!({})),
    ]
}

async fn loaded(b: &Browser, prev: &str) -> String {
    let probe = format!(
        "return (d => !d.hidden && d.dataset.loadedAt && d.dataset.loadedAt != {} && d.dataset.state == 'ready' \
         && ['ready', 'empty'].includes(document.querySelector('[data-panel=funnel]').dataset.state) && d.dataset.loadedAt)(document.getElementById('dash'))",
        json!(prev)
    );
    let until = std::time::Instant::now() + WAIT;
    loop {
        if let Some(s) = b.js(&probe, vec![]).await.as_str() {
            return s.to_string();
        }
        if std::time::Instant::now() > until {
            let why = b
                .js(
                    "return [document.getElementById('dash').dataset.state, document.getElementById('status').textContent, \
                     ...[...document.querySelectorAll('[data-panel]')].map(p => p.dataset.panel + '=' + p.dataset.state), \
                     ...[...document.querySelectorAll('.err')].map(e => e.textContent)]",
                    vec![],
                )
                .await;
            panic!("the dashboard did not load: {why}\nconsole: {:?}", b.console().await);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `data-col` → `data-value` of each row of a panel's table.
async fn table(b: &Browser, name: &str) -> Vec<BTreeMap<String, String>> {
    let v = b
        .js(
            "return [...document.querySelectorAll(`[data-testid=table-${arguments[0]}] tbody tr`)].map(tr => \
             Object.fromEntries([...tr.querySelectorAll('td[data-col]')].map(td => [td.dataset.col, td.dataset.value ?? td.textContent])))",
            vec![json!(name)],
        )
        .await;
    serde_json::from_value(v).unwrap()
}

async fn kpi(b: &Browser, id: &str) -> String {
    b.js(&format!("return document.querySelector('{}').dataset.value", tid(&format!("kpi-{id}"))), vec![])
        .await
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[tokio::test]
async fn click_a_channel_and_everything_follows() {
    let _one = exclusive().await;
    let ch = Ch::fresh("browser_dashboard").await;
    let mut cfg = test_config(&ch);
    cfg.assets_dir = Some(web_dir());
    let steps = vec![
        m(Some("/pricing*"), None, |_| {}),
        m(None, Some("form_submit"), |m| m.form_id = Some("lead".into())),
        m(None, Some("purchase"), |m| m.product_id = Some("course".into())),
    ];
    {
        let site = cfg.sites.get_mut("browser_dashboard").unwrap();
        site.funnels.insert("buy".into(), Funnel { steps, window: Some("1h".into()), order: Order::Strict });
        site.goals.insert("course".into(), m(None, Some("purchase"), |m| m.product_id = Some("course".into())));
        site.goals.insert("lead".into(), m(None, Some("form_submit"), |m| m.form_id = Some("lead".into())));
    }
    let c = TestCollector::start(cfg).await;
    let t = (now_ms() / 1000) as u32 - 3 * 3600;
    let rows: Vec<String> = fixture(&c.site, t).iter().map(Value::to_string).collect();
    ch.exec(&format!("INSERT INTO events FORMAT JSONEachRow\n{}\n", rows.join("\n"))).await.unwrap();

    let b = Browser::start().await;
    sign_in(&b, &c.url, ADMIN_KEY).await;
    let first = loaded(&b, "").await;
    assert_eq!(kpi(&b, "visitors").await, "5");
    assert_eq!(funnel_steps(&b, "").await, [4, 2, 1], "v1, v2, v3, v4 saw pricing; v1, v2 the lead form; v1 bought");
    let deltas = b.js("return document.querySelector('[data-testid=delta-visitors]').textContent", vec![]).await;
    assert!(deltas.as_str().unwrap().contains("new vs previous"), "{deltas}");

    // Click the email row of the channels panel.
    let row = b.find("[data-panel=channels] tr[data-filter-key=channel][data-filter-value=email]").await;
    b.click(&row).await;
    loaded(&b, &first).await;
    let url = b.current_url().await;
    assert!(url.contains("filter=channel%3Aemail"), "the filter is in the URL: {url}");
    let chips = b
        .js("return [...document.querySelectorAll('[data-testid=filter-chip]')].map(c => c.dataset.key)", vec![])
        .await;
    assert_eq!(chips, json!(["channel"]));
    // Every panel follows: the cards, the tables, the funnel, the goals.
    assert_eq!(kpi(&b, "visitors").await, "2", "v1 and v4");
    let channels = table(&b, "channels").await;
    assert!(!channels.is_empty() && channels.iter().all(|r| r["channel"] == "email"), "{channels:?}");
    let pages: Vec<String> = table(&b, "pages").await.iter().map(|r| r["path"].clone()).collect();
    assert_eq!(pages, ["/pricing", "/course"], "v5's /about and /blog are gone");
    let countries = table(&b, "countries").await;
    assert_eq!(countries.iter().map(|r| r["visitors"].clone()).collect::<Vec<_>>(), ["2"]);
    assert_eq!(funnel_steps(&b, "").await, [2, 1, 1]);
    let goals = table(&b, "goals").await;
    let course = goals.iter().find(|r| r["goal"] == "course").unwrap();
    assert_eq!((course["visitors"].as_str(), course["revenue"].as_str()), ("1", "100"), "{goals:?}");
    let chart_labels =
        b.js("return Chart.getChart(document.querySelector('[data-panel=channels] canvas')).data.labels", vec![]).await;
    assert_eq!(chart_labels, json!(["email"]), "the chart too");

    // The URL carries it: a reload shows the same filtered dashboard.
    b.refresh().await;
    let third = loaded(&b, "").await;
    assert_eq!(kpi(&b, "visitors").await, "2");
    let shot = b.screenshot("dashboard-filtered").await;

    // Funnel broken down by channel: within the filter, one group.
    assert_eq!(break_down(&b, "channel").await, ["email"]);
    assert_eq!(funnel_steps(&b, "[data-testid=funnel-group]").await, [2, 1, 1]);
    assert!(b.current_url().await.contains("breakdown=channel"));

    // CSV downloads: the funnel (all and the email group, 3 steps each) and the pages.
    let (file, lines, header) = download_csv(&b, "funnel").await;
    assert_eq!(file, "ktra-browser_dashboard-funnel.csv");
    assert_eq!(lines, 1 + 3 + 3, "{header}");
    assert!(header.starts_with("group,"), "{header}");
    let (_, lines, header) = download_csv(&b, "pages").await;
    assert_eq!((lines, header.as_str()), (3, "avg_engaged_ms,page_views,path,visitors"));
    b.js("window.scrollTo(0, document.querySelector('[data-panel=funnel]').offsetTop - 60)", vec![]).await;
    let shot2 = b.screenshot("dashboard-funnel").await;

    // Removing the filter brings everyone back.
    b.js("window.scrollTo(0, 0)", vec![]).await;
    b.click(&b.find(&tid("clear-filters")).await).await;
    loaded(&b, &third).await;
    assert_eq!(kpi(&b, "visitors").await, "5");
    assert!(!b.current_url().await.contains("filter="));
    eprintln!("screenshots: {} {}", shot.display(), shot2.display());
    drop(b);
    c.stop().await;
}

async fn call(c: &TestCollector, method: reqwest::Method, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = c.http.request(method, format!("{}{path}", c.url)).bearer_auth(key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

/// A signed read-only link opens one site's dashboard in a browser that never
/// saw the admin key; revoked, it is refused by this collector at once and by
/// another collector of the same database within seconds, and the page says so.
#[tokio::test]
async fn a_shared_link_opens_one_site_until_revoked() {
    let _one = exclusive().await;
    let ch = Ch::fresh("browser_share").await;
    let mut cfg = test_config(&ch);
    cfg.assets_dir = Some(web_dir());
    cfg.sites.insert("zz_other".into(), site());
    let c = TestCollector::start(cfg.clone()).await;
    let mut cfg2 = cfg.clone();
    cfg2.spool.dir = fresh_dir("spool-browser_share-2");
    let c2 = TestCollector::start(cfg2).await;
    let t = (now_ms() / 1000) as u32 - 3 * 3600;
    let rows: Vec<String> = fixture(&c.site, t).iter().map(Value::to_string).collect();
    ch.exec(&format!("INSERT INTO events FORMAT JSONEachRow\n{}\n", rows.join("\n"))).await.unwrap();

    use reqwest::Method;
    // Only the admin key creates links; bounded input.
    let body = json!({"site": "browser_share", "days": 7, "label": "for the agency"});
    assert_eq!(
        call(&c, Method::POST, "/v1/admin/shares", "wrong-key-0123456789abcdef-0123456789", Some(body.clone())).await.0,
        401
    );
    assert_eq!(call(&c, Method::POST, "/v1/admin/shares", ADMIN_KEY, Some(json!({"site": "nope"}))).await.0, 400);
    assert_eq!(
        call(&c, Method::POST, "/v1/admin/shares", ADMIN_KEY, Some(json!({"site": "browser_share", "days": 9999})))
            .await
            .0,
        400
    );
    let (s, share) = call(&c, Method::POST, "/v1/admin/shares", ADMIN_KEY, Some(body)).await;
    assert_eq!(s, 201, "{share}");
    let token = share["token"].as_str().unwrap().to_string();
    let id = share["id"].as_str().unwrap().to_string();
    let range = format!("from={}&to={}", t - 3600, t + 3600);

    // The token reads its site's stats, on either collector, and nothing else.
    let stats = format!("/v1/stats/top_pages?site=browser_share&{range}");
    assert_eq!(call(&c, Method::GET, &stats, &token, None).await.0, 200);
    assert_eq!(call(&c2, Method::GET, &stats, &token, None).await.0, 200);
    assert_eq!(call(&c, Method::GET, &format!("/v1/stats/top_pages?site=zz_other&{range}"), &token, None).await.0, 404);
    let (_, sites) = call(&c, Method::GET, "/v1/stats/sites", &token, None).await;
    assert_eq!(sites["sites"], json!(["browser_share"]), "a link sees its own site only");
    assert_eq!(
        call(&c, Method::GET, "/v1/admin/shares?site=browser_share", &token, None).await.0,
        401,
        "not an admin key"
    );
    assert_eq!(call(&c, Method::GET, "/v1/stats/webhooks?site=browser_share", &token, None).await.0, 401);
    let mut forged = token.clone();
    forged.pop();
    forged.push(if token.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(call(&c, Method::GET, &stats, &forged, None).await.0, 401, "a changed signature");
    let (_, list) = call(&c, Method::GET, "/v1/admin/shares?site=browser_share", ADMIN_KEY, None).await;
    assert_eq!(list["shares"][0]["label"], "for the agency");
    assert!(!list.to_string().contains(&token), "tokens are never listed");

    // A fresh browser (no admin key anywhere) opens the link.
    let b = Browser::start().await;
    b.goto(&format!("{}{}", c.url, share["path"].as_str().unwrap())).await;
    loaded(&b, "").await;
    assert_eq!(kpi(&b, "visitors").await, "5");
    let shown = b
        .js(
            "return [!document.getElementById('shared-note').hidden, document.getElementById('login').hidden, \
             document.querySelector('[data-panel=automations]').hidden, sessionStorage.getItem('ktra_admin_key')]",
            vec![],
        )
        .await;
    assert_eq!(shown, json!([true, true, true, null]), "read-only view, no key stored");
    assert!(b.current_url().await.contains("share="), "the link stays shareable");
    // Nothing to build or edit: the funnel editor's buttons are not drawn (checked as laid out, not by a class).
    let editable = b
        .js(
            "return ['funnel-new', 'funnel-edit'].map(id => document.getElementById(id).getClientRects().length > 0)              .concat(document.querySelector('[data-panel=funnel] .funnel-body').textContent.includes('New funnel'))",
            vec![],
        )
        .await;
    assert_eq!(editable, json!([false, false, false]), "a shared view offers no funnel editing");
    let shot = b.screenshot("dashboard-shared").await;
    eprintln!("screenshot: {}", shot.display());

    // Revoked: refused here at once, on the other collector within seconds, and the page says so.
    assert_eq!(call(&c, Method::DELETE, &format!("/v1/admin/shares/{id}"), ADMIN_KEY, None).await.0, 204);
    assert_eq!(call(&c, Method::DELETE, "/v1/admin/shares/doesnotexist", ADMIN_KEY, None).await.0, 404);
    assert_eq!(call(&c, Method::GET, &stats, &token, None).await.0, 401);
    let until = std::time::Instant::now() + WAIT;
    while call(&c2, Method::GET, &stats, &token, None).await.0 != 401 {
        assert!(std::time::Instant::now() < until, "the other collector still honours a revoked link");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    b.refresh().await;
    let msg = b
        .wait_js(
            "the refusal",
            "(l => !l.hidden && document.getElementById('login-error').textContent)(document.getElementById('login'))",
            WAIT,
        )
        .await;
    assert!(msg.as_str().unwrap().contains("revoked"), "{msg}");
    drop(b);
    c2.stop().await;
    c.stop().await;
}
