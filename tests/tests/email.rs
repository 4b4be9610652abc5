//! Email tracking links against the real collector and ClickHouse: signing,
//! the click redirect, the open pixel, refusal of anything not signed by us,
//! the tie from a click to the session it leads to, and the email and
//! attribution queries of `schema/queries/` on data made through the real
//! endpoints.
#![allow(clippy::unwrap_used, missing_docs)]

use ktra_collector::config::EmailTracking;
use ktra_collector::consent::token::TokenKey;
use ktra_collector::email::link::{self, LinkClaims};
use ktra_collector::email::SignedLinks;
use ktra_schema::queries::{self, Param};
use ktra_tests::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const IPHONE_MAIL: &str =
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148";
const GMAIL_PROXY: &str = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)";
const YAHOO_PROXY: &str = "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html";
const APPLE_PREFETCH: &str = "Mozilla/5.0";
const SAFE_LINKS: &str = "Mozilla/4.0 (compatible; ms-office; MSOffice 16)";
const OUTLOOK: &str = "Microsoft Outlook 16.0.17328; Pro";
const HOME_IP: &str = "81.2.69.10";

/// A collector whose site tracks every email recipient (`email_tracking =
/// "all"`: the owner has a lawful basis for each), unless `policy` says otherwise.
async fn start_with(name: &str, policy: EmailTracking) -> (Ch, TestCollector) {
    let ch = Ch::fresh(name).await;
    let mut cfg = test_config(&ch);
    cfg.trust_proxy = true;
    cfg.geoip.path = Some(geo_db());
    cfg.sites.get_mut(&ch.name).unwrap().email_tracking = policy;
    let c = TestCollector::start(cfg).await;
    (ch, c)
}

async fn start(name: &str) -> (Ch, TestCollector) {
    start_with(name, EmailTracking::All).await
}

/// A client that shows redirects instead of following them.
fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn sign_raw(c: &TestCollector, key: Option<&str>, body: Value) -> (u16, Value) {
    let mut req = c.http.post(format!("{}/v1/admin/links", c.url)).json(&body);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Signs a link through `POST /v1/admin/links`.
async fn sign(c: &TestCollector, lead: &str, message: &str, url: &str) -> SignedLinks {
    let (s, v) =
        sign_raw(c, Some(&c.config.admin_key), json!({"site": c.site, "lead": lead, "message": message, "url": url}))
            .await;
    assert_eq!(s, 200, "{v}");
    serde_json::from_value(v).unwrap()
}

/// The signed part of a click URL.
fn signed_part(links: &SignedLinks) -> String {
    links.click_url.rsplit('/').next().unwrap().to_string()
}

/// Follows nothing: GETs `url` as a browser with `ua` from `ip` would.
async fn get(url: &str, ua: &str, ip: &str) -> reqwest::Response {
    browser().get(url).header("user-agent", ua).header("x-forwarded-for", ip).send().await.unwrap()
}

/// Clicks a link; asserts the redirect and returns the click id.
async fn click(url: &str, ua: &str, ip: &str) -> String {
    let r = get(url, ua, ip).await;
    assert_eq!(r.status(), 302, "{:?}", r.text().await);
    click_id_of(r.headers()["location"].to_str().unwrap())
}

/// The `ktra_ec` value of a redirect location.
fn click_id_of(location: &str) -> String {
    let after = location.split("ktra_ec=").nth(1).unwrap_or_else(|| panic!("no ktra_ec in {location}"));
    after.split(['&', '#']).next().unwrap().to_string()
}

async fn open(url: &str, ua: &str, ip: &str) {
    let r = get(url, ua, ip).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/gif");
}

fn params(c: &TestCollector) -> BTreeMap<&'static str, Param> {
    let now = (now_ms() / 1000) as u32;
    BTreeMap::from([
        ("site", Param::Str(c.site.clone())),
        ("from", Param::Time(now - 4 * 86_400)),
        ("to", Param::Time(now + 86_400)),
    ])
}

async fn query(ch: &Ch, c: &TestCollector, name: &str) -> Vec<Value> {
    let q = queries::get(name).unwrap();
    ch.rows(&queries::render(q.sql, &params(c)).unwrap()).await
}

fn n(v: &Value) -> f64 {
    num(v)
}

fn row<'a>(rows: &'a [Value], col: &str, val: &str) -> &'a Value {
    rows.iter().find(|r| r[col] == val).unwrap_or_else(|| panic!("no row with {col} = {val}: {rows:?}"))
}

/// Numbers of a row, by column, to compare in one assertion.
fn nums(r: &Value, cols: &[&str]) -> Vec<f64> {
    cols.iter().map(|c| n(&r[*c])).collect()
}

#[tokio::test]
async fn a_click_redirects_keeping_query_and_fragment_and_is_recorded_without_ip_or_cookie() {
    let (ch, c) = start("email_click").await;
    let dest = "https://shop.example/course?a=1&b=x%20y+z&utm_source=newsletter#buy";
    let links = sign(&c, "lead-1", "launch-1", dest).await;
    assert!(links.click_url.starts_with(&format!("{}/c/", c.url)), "{links:?}");
    assert_eq!(links.open_url, format!("{}/o/{}.gif", c.url, signed_part(&links)));

    let r = get(&links.click_url, CHROME_UA, HOME_IP).await;
    assert_eq!(r.status(), 302);
    let h = r.headers();
    let loc = h["location"].to_str().unwrap();
    let (before, click_id) = loc.split_once("&ktra_ec=").unwrap();
    let click_id = click_id.strip_suffix("#buy").unwrap_or_else(|| panic!("fragment lost: {loc}"));
    assert_eq!(
        before, "https://shop.example/course?a=1&b=x%20y+z&utm_source=newsletter",
        "parameters kept as they were"
    );
    assert!(ktra_schema::validate::is_token_id(click_id) && click_id.len() >= 20, "{click_id}");
    assert!(h.get("set-cookie").is_none(), "a click sets no cookie");
    assert!(h["cache-control"].to_str().unwrap().contains("no-store"));
    assert_eq!(h["referrer-policy"], "no-referrer");

    // Every click gets its own id.
    let second = click(&links.click_url, CHROME_UA, HOME_IP).await;
    assert_ne!(second, click_id);

    assert_eq!(ch.wait_count("SELECT count() FROM email_clicks", 2, WAIT).await, 2);
    let rows = ch.rows(&format!("SELECT * FROM email_clicks WHERE click_id = '{click_id}'")).await;
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r["site_id"], c.site.as_str());
    assert_eq!(r["lead_id"], "lead-1");
    assert_eq!(r["message_id"], "launch-1");
    assert_eq!(r["destination"], dest);
    assert_eq!(
        (r["country"].as_str(), r["region"].as_str(), r["city"].as_str()),
        (Some("GB"), Some("ENG"), Some("London"))
    );
    assert_eq!((r["browser"].as_str(), r["device"].as_str()), (Some("Chrome"), Some("desktop")));
    assert!(r["os"].as_str().unwrap().starts_with("Windows"), "{r}");
    assert_eq!(n(&r["is_bot"]), 0.0);
    let all = ch.exec("SELECT * FROM email_clicks FORMAT JSONEachRow").await.unwrap();
    assert!(!all.contains("81.2.69"), "no address is stored: {all}");
    c.stop().await;
}

#[tokio::test]
async fn tampered_unsigned_foreign_and_expired_links_never_redirect() {
    let (ch, c) = start("email_refused").await;
    let links = sign(&c, "lead-1", "m1", "https://shop.example/x").await;
    let signed = signed_part(&links);
    let key = TokenKey::derive(c.config.secret.as_bytes(), "link");
    let claims = |url: &str, expires: Option<u32>| LinkClaims {
        site: c.site.clone(),
        lead: "lead-1".into(),
        message: "m1".into(),
        url: url.into(),
        expires,
    };
    let flip = |s: &str, i: usize| {
        let mut b = s.as_bytes().to_vec();
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(b).unwrap()
    };
    let payload = signed.split('.').next().unwrap().to_string();
    let now = (now_ms() / 1000) as u32;
    let m0 = c.metrics().await;
    let refused = [
        (flip(&signed, 3), 400, "link_invalid"),
        (flip(&signed, signed.len() - 2), 400, "link_invalid"),
        (payload.clone(), 400, "link_invalid"),
        (format!("{payload}."), 400, "link_invalid"),
        (
            link::sign(
                &TokenKey::derive(b"another-secret-0123456789abcdef-0123", "link"),
                &claims("https://shop.example/x", None),
            )
            .unwrap(),
            400,
            "link_invalid",
        ),
        (
            link::sign(
                &TokenKey::derive(c.config.secret.as_bytes(), "consent"),
                &claims("https://shop.example/x", None),
            )
            .unwrap(),
            400,
            "link_invalid",
        ),
        // Signed with the right key but pointing elsewhere (a leaked key, or a host removed from the config).
        (link::sign(&key, &claims("https://evil.example/phish", None)).unwrap(), 400, "link_destination"),
        (
            link::sign(&key, &LinkClaims { site: "other-site".into(), ..claims("https://shop.example/x", None) })
                .unwrap(),
            400,
            "link_unknown_site",
        ),
        (link::sign(&key, &claims("https://shop.example/x", Some(now - 10))).unwrap(), 410, "link_expired"),
        ("not-a-link".to_string(), 400, "link_invalid"),
    ];
    for (s, status, code) in &refused {
        let r = get(&format!("{}/c/{s}", c.url), CHROME_UA, HOME_IP).await;
        assert_eq!(r.status(), *status, "{s}");
        assert!(r.headers().get("location").is_none(), "never a redirect: {s}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], *code, "{s}: {body}");
        assert!(!body.to_string().contains("evil.example/phish"), "the refused destination is not echoed");
        let r = get(&format!("{}/o/{s}.gif", c.url), CHROME_UA, HOME_IP).await;
        assert_eq!(r.status(), *status, "open {s}");
    }
    let m1 = c.metrics().await;
    let delta = |outcome: &str| {
        metric(&m1, "ktra_email_link_requests_total", &[("kind", "click"), ("outcome", outcome)])
            - metric(&m0, "ktra_email_link_requests_total", &[("kind", "click"), ("outcome", outcome)])
    };
    assert_eq!(
        (delta("invalid"), delta("foreign_destination"), delta("unknown_site"), delta("expired")),
        (7.0, 1.0, 1.0, 1.0)
    );
    let rejected = |code: &str| {
        metric(&m1, "ktra_rejected_requests_total", &[("reason", code)])
            - metric(&m0, "ktra_rejected_requests_total", &[("reason", code)])
    };
    assert_eq!(rejected("link_invalid"), 14.0, "clicks and opens are counted by reason");

    // An unexpired link still works.
    let fine = link::sign(&key, &claims("https://shop.example/x", Some(now + 3600))).unwrap();
    click(&format!("{}/c/{fine}", c.url), CHROME_UA, HOME_IP).await;

    // Signing refuses what could not be clicked, and wants the admin key.
    let body = |url: &str| json!({"site": c.site, "lead": "lead-1", "message": "m1", "url": url});
    let key_ = Some(c.config.admin_key.as_str());
    for url in [
        "https://evil.example/",
        "javascript:alert(1)",
        "https://shop.example@evil.example/",
        "/relative",
        "ftp://shop.example/",
    ] {
        let (s, v) = sign_raw(&c, key_, body(url)).await;
        assert_eq!((s, v["error"].as_str()), (400, Some("bad_value")), "{url}: {v}");
    }
    let (s, v) =
        sign_raw(&c, key_, json!({"site": "nope", "lead": "l", "message": "m", "url": "https://shop.example/"})).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("unknown_site")), "{v}");
    let (s, v) = sign_raw(
        &c,
        key_,
        json!({"site": c.site, "lead": "ada@example.com", "message": "m", "url": "https://shop.example/"}),
    )
    .await;
    assert_eq!(s, 400, "an email address is never put in a link: {v}");
    let (s, v) = sign_raw(
        &c,
        key_,
        json!({"site": c.site, "lead": "l", "message": "m", "url": "https://shop.example/", "expires": now - 1}),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(sign_raw(&c, None, body("https://shop.example/")).await.0, 401);
    assert_eq!(sign_raw(&c, Some("wrong"), body("https://shop.example/")).await.0, 401);

    // Only the valid click was stored.
    assert_eq!(ch.wait_count("SELECT count() FROM email_clicks", 1, WAIT).await, 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(ch.count("SELECT count() FROM email_clicks").await, 1);
    assert_eq!(ch.count("SELECT count() FROM email_opens").await, 0);
    c.stop().await;
}

#[tokio::test]
async fn the_open_pixel_is_a_gif_and_mail_proxies_are_not_human_opens() {
    let (ch, c) = start("email_open").await;
    let agents = [
        ("human-chrome", CHROME_UA, HOME_IP, 0),
        ("human-iphone", IPHONE_MAIL, HOME_IP, 0),
        ("human-outlook", OUTLOOK, HOME_IP, 0),
        ("gmail", GMAIL_PROXY, "66.249.84.1", 1),
        ("yahoo", YAHOO_PROXY, "98.136.1.1", 1),
        ("apple-bare", APPLE_PREFETCH, "17.58.1.2", 1),
        ("apple-network", IPHONE_MAIL, "17.58.1.3", 1),
        ("safe-links", SAFE_LINKS, "40.94.1.1", 1),
        ("googlebot", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "66.249.66.1", 1),
    ];
    for (lead, ua, ip, _) in agents {
        let links = sign(&c, lead, "news-7", "https://shop.example/").await;
        let r = get(&links.open_url, ua, ip).await;
        assert_eq!(r.status(), 200);
        let h = r.headers().clone();
        assert_eq!(h["content-type"], "image/gif");
        assert!(h["cache-control"].to_str().unwrap().contains("no-store"), "{h:?}");
        assert!(h.get("set-cookie").is_none());
        let gif = r.bytes().await.unwrap();
        assert!(gif.starts_with(b"GIF89a") && gif.len() == 43, "{gif:?}");
        assert_eq!((gif[6], gif[8]), (1, 1), "1×1");
    }
    let want = agents.len() as u64;
    assert_eq!(ch.wait_count("SELECT count() FROM email_opens", want, WAIT).await, want);
    for (lead, _, _, proxy) in agents {
        let r = &ch.rows(&format!("SELECT * FROM email_opens WHERE lead_id = '{lead}'")).await[0];
        assert_eq!(n(&r["is_proxy"]), f64::from(proxy), "{lead}: {r}");
        assert_eq!(r["message_id"], "news-7");
    }
    let chrome = &ch.rows("SELECT * FROM email_opens WHERE lead_id = 'human-chrome'").await[0];
    assert_eq!((chrome["country"].as_str(), chrome["browser"].as_str()), (Some("GB"), Some("Chrome")));

    let rows = query(&ch, &c, "email_opens_clicks").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = row(&rows, "message_id", "news-7");
    assert_eq!(
        nums(r, &["opens", "leads_opened", "proxy_opens", "clicks", "leads_clicked", "click_to_open"]),
        [3.0, 3.0, 6.0, 0.0, 0.0, 0.0]
    );
    c.stop().await;
}

#[tokio::test]
async fn a_visitor_who_never_consents_leaves_only_the_click_row() {
    // The default policy: a lead without recorded consent is counted, not named.
    let (ch, c) = start_with("email_no_consent", EmailTracking::default()).await;
    let links = sign(&c, "lead-nora", "promo-2", "https://shop.example/promo").await;
    let r = get(&links.click_url, CHROME_UA, HOME_IP).await;
    assert_eq!(r.status(), 302);
    assert!(r.headers().get("set-cookie").is_none());
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let click_id = click_id_of(&loc);

    // Without consent the pixel never starts; a stray beacon carrying the click id is refused.
    let b = json!({"site": c.site, "vid": "v-nora", "sid": "s-nora", "ec": click_id,
                   "events": [event("email_click", &loc, json!({"click_id": click_id})), event("page_view", &loc, json!({}))]});
    let (s, v) = c.post(&b).await;
    assert_eq!(s, 403, "{v}");

    assert_eq!(ch.wait_count("SELECT count() FROM email_clicks", 1, WAIT).await, 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(ch.count("SELECT count() FROM events").await, 0, "nothing about the visitor is tracked");
    assert_eq!(ch.count("SELECT count() FROM consent_log").await, 0);
    assert_eq!(ch.count("SELECT count() FROM email_opens").await, 0);
    let r = &ch.rows("SELECT click_id, lead_id, message_id FROM email_clicks").await[0];
    assert_eq!((r["click_id"].as_str(), r["lead_id"].as_str()), (Some(click_id.as_str()), Some("")));

    let funnel = query(&ch, &c, "email_funnel").await;
    assert_eq!(funnel.len(), 1);
    assert_eq!(
        nums(&funnel[0], &["clicks", "leads", "bot_clicks", "sessions", "form_submits", "purchases", "revenue"]),
        [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    );
    for q in ["email_click_to_purchase", "attribution_purchases", "attribution_touches"] {
        assert_eq!(query(&ch, &c, q).await, Vec::<Value>::new(), "{q}");
    }
    c.stop().await;
}

/// Posts a batch from `ip` with `ua`; asserts it was accepted.
async fn send(c: &TestCollector, b: &Value, ua: &str, ip: &str) {
    let (s, _, v) =
        c.post_raw(b.to_string(), &[("user-agent", ua), ("x-forwarded-for", ip), ("content-type", "text/plain")]).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["rejected"], json!([]), "{v}");
}

#[tokio::test]
async fn click_consent_page_views_and_purchase_form_one_attributed_path() {
    let (ch, c) = start("email_path").await;
    let token = c.grant_site().await;
    let now = now_ms();

    // Paula came two days ago from a paid social campaign, and left.
    let ads = "https://shop.example/course?utm_source=facebook&utm_medium=paid_social&utm_campaign=spring-ads";
    let mut b =
        c.batch(&token, "v-paula", "s-paula-1", vec![event("page_view", ads, json!({"ts": now - 2 * 86_400_000}))]);
    b["utm"] = json!({"source": "facebook", "medium": "paid_social", "campaign": "spring-ads"});
    send(&c, &b, CHROME_UA, HOME_IP).await;

    // The launch email goes to Paula and Ravi, the promo to Nora.
    let dest = "https://shop.example/course?utm_source=newsletter&utm_medium=email&utm_campaign=launch#buy";
    let paula = sign(&c, "lead-paula", "launch-1", dest).await;
    let ravi = sign(&c, "lead-ravi", "launch-1", dest).await;
    let nora = sign(&c, "lead-nora", "promo-2", "https://shop.example/promo").await;
    open(&paula.open_url, IPHONE_MAIL, HOME_IP).await;
    open(&paula.open_url, GMAIL_PROXY, "66.249.84.1").await;
    open(&ravi.open_url, APPLE_PREFETCH, "17.58.1.2").await;
    open(&nora.open_url, OUTLOOK, HOME_IP).await;
    // Ravi's company scans links before he sees them.
    click(&ravi.click_url, SAFE_LINKS, "40.94.1.1").await;

    // Paula clicks; the site's pixel (she consented before) reports the click
    // and keeps it as the session's `ec`; she reads, signs up and buys.
    let ec = click(&paula.click_url, CHROME_UA, HOME_IP).await;
    assert_eq!(ch.wait_count(&format!("SELECT count() FROM email_clicks WHERE click_id = '{ec}'"), 1, WAIT).await, 1);
    let clicked_at = n(&ch
        .rows(&format!("SELECT toUInt32(clicked_at) AS t FROM email_clicks WHERE click_id = '{ec}'"))
        .await[0]["t"]) as i64;
    let landing = format!(
        "https://shop.example/course?utm_source=newsletter&utm_medium=email&utm_campaign=launch&ktra_ec={ec}#buy"
    );
    let utm = json!({"source": "newsletter", "medium": "email", "campaign": "launch"});
    let mut b = c.batch(
        &token,
        "v-paula",
        "s-paula-2",
        vec![
            event("email_click", &landing, json!({"click_id": ec})),
            event("page_view", &landing, json!({"title": "Course"})),
        ],
    );
    b["utm"] = utm.clone();
    b["ec"] = json!(ec);
    send(&c, &b, CHROME_UA, HOME_IP).await;
    let mut b = c.batch(
        &token,
        "v-paula",
        "s-paula-2",
        vec![
            event("page_view", "https://shop.example/checkout", json!({"referrer": landing})),
            event("form_submit", "https://shop.example/checkout", json!({"form_id": "signup", "fields": ["email"]})),
            event(
                "purchase",
                "https://shop.example/thanks",
                json!({"order_id": "ord-1", "value": 99.0, "currency": "EUR", "ts": clicked_at * 1000 + 240_000}),
            ),
        ],
    );
    b["utm"] = utm.clone();
    b["ec"] = json!(ec);
    send(&c, &b, CHROME_UA, HOME_IP).await;

    // Ravi clicks too, consents, looks, does not buy.
    let ec_ravi = click(&ravi.click_url, IPHONE_MAIL, HOME_IP).await;
    let ravi_token = c.grant_site().await;
    let mut b = c.batch(
        &ravi_token,
        "v-ravi",
        "s-ravi",
        vec![
            event("email_click", "https://shop.example/course", json!({"click_id": ec_ravi})),
            event("page_view", "https://shop.example/course", json!({})),
        ],
    );
    b["ec"] = json!(ec_ravi);
    send(&c, &b, IPHONE_MAIL, HOME_IP).await;

    // Nora clicks and never consents: her click stays a click.
    click(&nora.click_url, CHROME_UA, HOME_IP).await;

    assert_eq!(ch.wait_count("SELECT count() FROM events", 8, WAIT).await, 8);
    assert_eq!(ch.wait_count("SELECT count() FROM email_clicks", 4, WAIT).await, 4);
    assert_eq!(ch.wait_count("SELECT count() FROM email_opens", 4, WAIT).await, 4);

    // The click id is on every event of the session it started, and on no other.
    let tie = ch.rows("SELECT session_id, countIf(email_click_id != '') AS tied, count() AS all FROM events GROUP BY session_id ORDER BY session_id").await;
    let tied: Vec<(String, f64, f64)> =
        tie.iter().map(|r| (r["session_id"].as_str().unwrap().to_string(), n(&r["tied"]), n(&r["all"]))).collect();
    assert_eq!(
        tied,
        [("s-paula-1".to_string(), 0.0, 1.0), ("s-paula-2".into(), 5.0, 5.0), ("s-ravi".into(), 2.0, 2.0)]
    );
    assert_eq!(
        ch.count(&format!(
            "SELECT uniqExact(email_click_id) FROM events WHERE session_id = 's-paula-2' AND email_click_id = '{ec}'"
        ))
        .await,
        1
    );
    // The lead is known for the visitor from the click on, by joining.
    let lead = ch.rows("SELECT visitor_id, lead_id FROM (SELECT DISTINCT visitor_id, email_click_id AS click_id FROM events WHERE email_click_id != '') ALL INNER JOIN (SELECT click_id, lead_id FROM email_clicks) USING (click_id) ORDER BY visitor_id").await;
    assert_eq!(
        lead,
        [
            json!({"visitor_id": "v-paula", "lead_id": "lead-paula"}),
            json!({"visitor_id": "v-ravi", "lead_id": "lead-ravi"})
        ]
    );

    let funnel = query(&ch, &c, "email_funnel").await;
    let cols = ["clicks", "leads", "bot_clicks", "sessions", "form_submits", "purchases", "revenue"];
    assert_eq!(funnel.iter().map(|r| r["message_id"].as_str().unwrap()).collect::<Vec<_>>(), ["launch-1", "promo-2"]);
    assert_eq!(nums(&funnel[0], &cols), [2.0, 2.0, 1.0, 2.0, 1.0, 1.0, 99.0], "{funnel:?}");
    assert_eq!(nums(&funnel[1], &cols), [1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0], "{funnel:?}");

    let ttp = query(&ch, &c, "email_click_to_purchase").await;
    assert_eq!(ttp.len(), 1, "{ttp:?}");
    assert_eq!(ttp[0]["message_id"], "launch-1");
    assert_eq!(
        nums(&ttp[0], &["purchases", "revenue", "median_seconds", "avg_seconds", "min_seconds", "max_seconds"]),
        [1.0, 99.0, 240.0, 240.0, 240.0, 240.0]
    );

    let oc = query(&ch, &c, "email_opens_clicks").await;
    let cols = ["opens", "leads_opened", "proxy_opens", "clicks", "leads_clicked", "click_to_open"];
    assert_eq!(nums(row(&oc, "message_id", "launch-1"), &cols), [1.0, 1.0, 2.0, 2.0, 2.0, 2.0], "{oc:?}");
    assert_eq!(nums(row(&oc, "message_id", "promo-2"), &cols), [1.0, 1.0, 0.0, 1.0, 1.0, 1.0], "{oc:?}");

    let paths = query(&ch, &c, "attribution_purchases").await;
    assert_eq!(paths.len(), 1, "{paths:?}");
    let p = &paths[0];
    assert_eq!(
        (p["visitor_id"].as_str(), p["order_id"].as_str(), p["currency"].as_str()),
        (Some("v-paula"), Some("ord-1"), Some("EUR"))
    );
    assert_eq!(nums(p, &["revenue", "touches"]), [99.0, 2.0]);
    assert_eq!((p["first_touch_type"].as_str(), p["first_touch"].as_str()), (Some("utm"), Some("spring-ads")));
    assert_eq!((p["last_touch_type"].as_str(), p["last_touch"].as_str()), (Some("email"), Some("launch-1")));
    assert_eq!(p["lead_id"], "lead-paula");

    let touches = query(&ch, &c, "attribution_touches").await;
    let cols = ["first_touch_purchases", "first_touch_revenue", "last_touch_purchases", "last_touch_revenue"];
    assert_eq!(touches.len(), 2, "{touches:?}");
    assert_eq!((touches[0]["touch_type"].as_str(), touches[0]["touch"].as_str()), (Some("email"), Some("launch-1")));
    assert_eq!(nums(&touches[0], &cols), [0.0, 0.0, 1.0, 99.0]);
    assert_eq!((touches[1]["touch_type"].as_str(), touches[1]["touch"].as_str()), (Some("utm"), Some("spring-ads")));
    assert_eq!(nums(&touches[1], &cols), [1.0, 99.0, 0.0, 0.0]);

    for (name, rows) in [
        ("email_funnel", &funnel),
        ("email_click_to_purchase", &ttp),
        ("email_opens_clicks", &oc),
        ("attribution_purchases", &paths),
        ("attribution_touches", &touches),
    ] {
        println!("{name}:");
        for r in rows.iter() {
            println!("  {r}");
        }
    }
    c.stop().await;
}
