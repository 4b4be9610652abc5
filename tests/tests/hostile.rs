//! The public surface is hostile: each attack on the collector's public
//! endpoints, performed as an outsider would, against the real collector and
//! ClickHouse, asserting that the harm does not happen and that the refusal
//! is named and counted.
#![allow(clippy::unwrap_used, missing_docs)]

use ktra_tests::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

fn pv(url: &str) -> Vec<Value> {
    vec![event("page_view", url, json!({}))]
}

/// Minimal events: the smallest body that makes a row.
fn tiny_events(n: usize) -> Vec<Value> {
    (0..n)
        .map(|_| json!({"id": uuid::Uuid::new_v4().to_string(), "type": "page_view", "url": "https://a.b/"}))
        .collect()
}

/// Waits until ClickHouse has no unfinished mutation in the test database.
async fn mutations_done(ch: &Ch) {
    let sql = format!("SELECT count() FROM system.mutations WHERE database = '{}' AND is_done = 0", ch.db);
    ch.wait_count(&sql, 0, WAIT).await;
}

#[tokio::test]
async fn write_amplification_is_refused_and_honest_batches_pass() {
    let ch = Ch::fresh("amplify").await;
    let c = TestCollector::start(test_config(&ch)).await;
    let token = c.grant_site().await;

    // The attack as reported: 100 minimal events and a 240 000-character utm.term.
    let mut attack = c.batch(&token, "v1", "s1", tiny_events(100));
    attack["utm"] = json!({"term": "t".repeat(240_000)});
    let body = attack.to_string();
    assert!(body.len() < 256 * 1024);
    let (s, v) = c.post(&attack).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("too_long")), "{v}");

    // Every campaign field at its own limit: the sum is bounded too.
    let mut wide = c.batch(&token, "v1", "s1", tiny_events(100));
    let each = "c".repeat(256);
    wide["utm"] = json!({"source": each, "medium": each, "campaign": each, "term": each, "content": each});
    let (s, v) = c.post(&wide).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("too_long")), "{v}");

    // Within every field limit, but 100 rows of shared bytes from a small body.
    let mut fanout = c.batch(&token, "v1", "s1", tiny_events(100));
    let some = "c".repeat(180);
    fanout["utm"] = json!({"source": some, "medium": some, "campaign": some, "term": some, "content": some});
    let (s, v) = c.post(&fanout).await;
    assert_eq!((s, v["error"].as_str()), (413, Some("amplification")), "{v}");

    // An honest pixel batch with a campaign is stored.
    let mut honest = c.batch(&token, "v1", "s1", pv("https://shop.example/?utm_source=news"));
    honest["utm"] = json!({"source": "newsletter", "medium": "email", "campaign": "spring"});
    assert_eq!(c.post(&honest).await.0, 202);
    assert_eq!(ch.wait_count("SELECT count() FROM events", 1, WAIT).await, 1, "only the honest event");
    let m = c.metrics().await;
    assert!(metric(&m, "ktra_rejected_events_total", &[("site", &c.site), ("reason", "amplification")]) >= 100.0);
    assert!(metric(&m, "ktra_rejected_events_total", &[("site", &c.site), ("reason", "too_long")]) >= 200.0);
    c.stop().await;
}

#[tokio::test]
async fn nothing_is_erased_without_the_visitors_token_and_everything_with_it() {
    let ch = Ch::fresh("erase_proof").await;
    let mut cfg = test_config(&ch);
    cfg.sites.get_mut(&ch.name).unwrap().erase_on_withdraw = true;
    let c = TestCollector::start(cfg).await;

    // The victim grants, browses, later re-grants (a new token in the same chain) and browses on.
    let first = c.grant_site().await;
    assert_eq!(c.post(&c.batch(&first, "victim", "s1", pv("https://shop.example/a"))).await.0, 202);
    let (s, v) = c
        .consent(json!({"site": c.site, "action": "grant", "granted": ["analytics", "marketing"], "previous": first}))
        .await;
    assert_eq!(s, 200, "{v}");
    let second = v["token"].as_str().unwrap().to_string();
    assert_eq!(c.post(&c.batch(&second, "victim", "s2", pv("https://shop.example/b"))).await.0, 202);
    // Someone else on the same site.
    let other = c.grant_site().await;
    assert_eq!(c.post(&c.batch(&other, "bystander", "s3", pv("https://shop.example/c"))).await.0, 202);
    assert_eq!(ch.wait_count("SELECT count() FROM events", 3, WAIT).await, 3);

    // The attack: withdraw "for" the victim knowing only their visitor id.
    let (s, v) = c.consent(json!({"site": c.site, "action": "withdraw", "vid": "victim"})).await;
    assert_eq!((s, v["erased"].as_bool()), (200, Some(false)), "{v}");
    // A token of someone else (the attacker's own) does not reach the victim's chain either.
    let attacker = c.grant_site().await;
    let (s, v) = c.consent(json!({"site": c.site, "action": "withdraw", "vid": "victim", "previous": attacker})).await;
    assert_eq!((s, v["erased"].as_bool()), (200, Some(true)), "{v}");
    tokio::time::sleep(Duration::from_secs(8)).await;
    mutations_done(&ch).await;
    assert_eq!(ch.count("SELECT count() FROM events WHERE visitor_id = 'victim'").await, 2, "nothing erased");
    // The victim's token still works: only the attacker's own was revoked.
    assert_eq!(c.post(&c.batch(&second, "victim", "s2", pv("https://shop.example/d"))).await.0, 202);
    assert_eq!(ch.wait_count("SELECT count() FROM events WHERE visitor_id = 'victim'", 3, WAIT).await, 3);

    // The victim withdraws with their latest token: the whole chain goes, the bystander stays.
    let (s, v) = c.consent(json!({"site": c.site, "action": "withdraw", "previous": second})).await;
    assert_eq!((s, v["erased"].as_bool()), (200, Some(true)), "{v}");
    assert_eq!(ch.wait_count("SELECT count() FROM events WHERE visitor_id = 'victim'", 0, WAIT).await, 0);
    assert_eq!(ch.count("SELECT count() FROM events WHERE visitor_id = 'bystander'").await, 1);
    let (s, v) = c.post(&c.batch(&second, "victim", "s2", pv("https://shop.example/e"))).await;
    assert_eq!((s, v["error"].as_str()), (403, Some("consent_withdrawn")), "{v}");
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_withdrawals_is_one_mutation_per_table_per_interval() {
    const N: usize = 1000;
    let ch = Ch::fresh("erase_burst").await;
    let mut cfg = test_config(&ch);
    cfg.sites.get_mut(&ch.name).unwrap().erase_on_withdraw = true;
    cfg.consent.erasure_interval_secs = 2;
    let c = TestCollector::start(cfg).await;
    let mut tokens = Vec::with_capacity(N);
    for i in 0..N {
        let t = c.grant_site().await;
        let mut b = c.batch(&t, &format!("v{i}"), &format!("s{i}"), pv("https://shop.example/"));
        if i % 10 == 0 {
            b["ec"] = json!(format!("click-{i}"));
        }
        assert_eq!(c.post(&b).await.0, 202);
        tokens.push(t);
    }
    // Two visitors who stay.
    for v in ["stay1", "stay2"] {
        let t = c.grant_site().await;
        assert_eq!(c.post(&c.batch(&t, v, v, pv("https://shop.example/"))).await.0, 202);
    }
    assert_eq!(ch.wait_count("SELECT count() FROM events", N as u64 + 2, WAIT).await, N as u64 + 2);
    let started = Instant::now();
    let mut burst = Vec::new();
    for t in &tokens {
        let http = c.http.clone();
        let url = format!("{}/v1/consent", c.url);
        let body = json!({"site": c.site, "action": "withdraw", "previous": t}).to_string();
        burst.push(tokio::spawn(async move { http.post(url).body(body).send().await.unwrap().status().as_u16() }));
    }
    for b in burst {
        assert_eq!(b.await.unwrap(), 200);
    }
    let burst_secs = started.elapsed().as_secs();
    assert_eq!(ch.wait_count("SELECT count() FROM events", 2, Duration::from_secs(60)).await, 2, "every proven one");
    mutations_done(&ch).await;
    let mutations = ch
        .count(&format!("SELECT count() FROM system.mutations WHERE database = '{}' AND table = 'events'", ch.db))
        .await;
    // One mutation per interval that had due tombstones: the burst spans a
    // few intervals at most; never one per withdrawal.
    let intervals = burst_secs / 2 + 2;
    eprintln!("{N} withdrawals in {burst_secs} s → {mutations} mutations of events");
    assert!(mutations >= 1 && mutations <= intervals, "{mutations} mutations for {N} withdrawals in {burst_secs} s");
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withdrawals_made_while_clickhouse_is_away_hold_across_a_restart() {
    let ch = Ch::fresh("erase_offline").await;
    let mut cfg = test_config(&ch);
    cfg.sites.get_mut(&ch.name).unwrap().erase_on_withdraw = true;
    let c = TestCollector::start(cfg.clone()).await;
    c.stop().await;

    // ClickHouse unreachable: everything waits in the spool.
    let mut away = cfg.clone();
    away.clickhouse.url = "http://127.0.0.1:9".into();
    away.clickhouse.migrate_on_start = false;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(ktra_collector::serve(away.clone(), listener, async move {
        let _ = rx.await;
    }));
    let offline = OfflineCollector { url, site: ch.name.clone(), http: reqwest::Client::new() };
    let gone = offline.grant().await;
    let kept = offline.grant().await;
    assert_eq!(offline.post(&batch_for(&offline.site, &gone, "gone", "s1", pv("https://shop.example/"))).await, 202);
    assert_eq!(offline.post(&batch_for(&offline.site, &kept, "kept", "s2", pv("https://shop.example/"))).await, 202);
    let (s, v) = offline.consent(json!({"site": offline.site, "action": "withdraw", "previous": gone})).await;
    assert_eq!((s, v["erased"].as_bool()), (200, Some(true)), "{v}");
    let _ = tx.send(());
    handle.await.unwrap().unwrap();

    // Restarted, still without ClickHouse: the withdrawn token stays refused.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(ktra_collector::serve(away, listener, async move {
        let _ = rx.await;
    }));
    let offline = OfflineCollector { url, ..offline };
    let code = offline.post(&batch_for(&offline.site, &gone, "gone", "s1", pv("https://shop.example/x"))).await;
    assert_eq!(code, 403, "a restart while ClickHouse is away does not forget a withdrawal");
    let _ = tx.send(());
    handle.await.unwrap().unwrap();

    // ClickHouse back: the spool ships, the withdrawn visitor's rows never land.
    let c = TestCollector::start(cfg).await;
    assert_eq!(ch.wait_count("SELECT count() FROM events WHERE visitor_id = 'kept'", 1, WAIT).await, 1);
    assert_eq!(ch.wait_count("SELECT count() FROM consent_log", 3, WAIT).await, 3, "the proof ships");
    assert_eq!(ch.count("SELECT count() FROM events WHERE visitor_id = 'gone'").await, 0);
    let m = c.metrics().await;
    assert!(metric(&m, "ktra_dropped_rows_total", &[("table", "events"), ("reason", "erased")]) >= 1.0);
    c.stop().await;
}

/// A collector served by the test itself (when `TestCollector` would migrate).
struct OfflineCollector {
    url: String,
    site: String,
    http: reqwest::Client,
}

impl OfflineCollector {
    async fn consent(&self, body: Value) -> (u16, Value) {
        let r = self.http.post(format!("{}/v1/consent", self.url)).body(body.to_string()).send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn grant(&self) -> String {
        let (s, v) =
            self.consent(json!({"site": self.site, "action": "grant", "granted": ["analytics", "marketing"]})).await;
        assert_eq!(s, 200, "{v}");
        v["token"].as_str().unwrap().to_string()
    }

    async fn post(&self, batch: &Value) -> u16 {
        let r = self.http.post(format!("{}/v1/events", self.url)).header("user-agent", CHROME_UA);
        r.body(batch.to_string()).send().await.unwrap().status().as_u16()
    }
}

#[tokio::test]
async fn origin_null_is_refused_unless_listed() {
    let ch = Ch::fresh("origin_null").await;
    let mut cfg = test_config(&ch);
    cfg.sites.insert("sandboxed".into(), ktra_collector::config::SiteConfig { origins: vec!["null".into()], ..site() });
    let c = TestCollector::start(cfg).await;
    let token = c.grant_site().await;
    let body = c.batch(&token, "v", "s", pv("https://shop.example/")).to_string();
    let (s, _, v) = c.post_raw(body.clone(), &[("origin", "null")]).await;
    assert_eq!((s, v["error"].as_str()), (403, Some("origin_not_allowed")), "{v}");
    let r = c
        .http
        .post(format!("{}/v1/consent", c.url))
        .header("origin", "null")
        .body(json!({"site": c.site, "action": "grant", "granted": ["analytics", "marketing"]}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // A site that lists "null" accepts it.
    let r = c
        .http
        .post(format!("{}/v1/consent", c.url))
        .header("origin", "null")
        .body(json!({"site": "sandboxed", "action": "deny"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    c.stop().await;
}

#[tokio::test]
async fn a_spoofed_forwarded_for_does_not_move_the_rate_key() {
    let ch = Ch::fresh("xff").await;
    let mut cfg = test_config(&ch);
    cfg.trust_proxy = true;
    cfg.trusted_proxies = 1;
    cfg.limits.per_client_per_sec = 0.01;
    cfg.limits.per_client_burst = 3.0;
    let c = TestCollector::start(cfg).await;
    let mut codes = Vec::new();
    for i in 0..6 {
        // The client writes a fresh address each time; our proxy appends the real one.
        let xff = format!("198.51.100.{i}, 81.2.69.7");
        let (s, _, _) = c.post_raw("{}", &[("x-forwarded-for", xff.as_str())]).await;
        codes.push(s);
    }
    assert_eq!(codes.iter().filter(|s| **s == 429).count(), 3, "{codes:?}");
    // Another real client (another rightmost address) is not affected.
    let (s, _, _) = c.post_raw("{}", &[("x-forwarded-for", "198.51.100.1, 81.2.69.8")]).await;
    assert_ne!(s, 429);
    // IPv6: rotating through one /64 does not escape the limit.
    let mut v6 = Vec::new();
    for i in 0..5 {
        let xff = format!("2001:db8:7:7::{i:x}");
        v6.push(c.post_raw("{}", &[("x-forwarded-for", xff.as_str())]).await.0);
    }
    assert_eq!(v6.iter().filter(|s| **s == 429).count(), 2, "{v6:?}");
    c.stop().await;
}

#[tokio::test]
async fn junk_does_not_spend_the_sites_budget() {
    let ch = Ch::fresh("site_bucket").await;
    let mut cfg = test_config(&ch);
    cfg.limits.per_site_per_sec = 0.01;
    cfg.limits.per_site_burst = 2.0;
    let c = TestCollector::start(cfg).await;
    for _ in 0..10 {
        let (s, _) = c.post(&c.batch("forged", "v", "s", pv("https://shop.example/"))).await;
        assert_eq!(s, 403);
        let body = c.batch("", "v", "s", pv("https://shop.example/")).to_string();
        assert_eq!(c.post_raw(body, &[("origin", "https://evil.example")]).await.0, 403);
    }
    let token = c.grant_site().await;
    let (s, v) = c.post(&c.batch(&token, "v", "s", pv("https://shop.example/"))).await;
    assert_eq!(s, 202, "a real visitor still gets through: {v}");
    c.stop().await;
}

#[tokio::test]
async fn an_email_click_of_a_lead_without_consent_stores_no_lead_geo_or_device() {
    let ch = Ch::fresh("email_consent").await;
    let mut cfg = test_config(&ch);
    cfg.geoip.path = Some(geo_db());
    cfg.trust_proxy = true;
    let c = TestCollector::start(cfg).await;
    let sign = |lead: &str| {
        let body = json!({"site": c.site, "lead": lead, "message": "m1", "url": "https://shop.example/"});
        c.http.post(format!("{}/v1/admin/links", c.url)).bearer_auth(ADMIN_KEY).json(&body).send()
    };
    let links: Value = sign("lead-a").await.unwrap().json().await.unwrap();
    let nofollow = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let click =
        |url: String| nofollow.get(url).header("user-agent", CHROME_UA).header("x-forwarded-for", "81.2.69.10").send();
    assert_eq!(click(links["click_url"].as_str().unwrap().to_string()).await.unwrap().status(), 302);
    assert_eq!(ch.wait_count("SELECT count() FROM email_clicks", 1, WAIT).await, 1);
    let row = &ch.rows("SELECT lead_id, message_id, country, browser, device FROM email_clicks").await[0];
    assert_eq!(row, &json!({"lead_id": "", "message_id": "m1", "country": "", "browser": "", "device": ""}));

    // The lead's visitor grants marketing and identifies: later clicks are the lead's.
    let token = c.grant_site().await;
    let ident = event("identify", "https://shop.example/", json!({"lead_id": "lead-a"}));
    assert_eq!(c.post(&c.batch(&token, "va", "sa", vec![ident])).await.0, 202);
    assert_eq!(click(links["click_url"].as_str().unwrap().to_string()).await.unwrap().status(), 302);
    let sql = "SELECT count() FROM email_clicks WHERE lead_id = 'lead-a' AND country = 'GB' AND browser != ''";
    assert_eq!(ch.wait_count(sql, 1, WAIT).await, 1);

    // The owner records another lead's consent (a double opt-in): its clicks are named too.
    let url = format!("{}/v1/admin/leads/{}/lead-b/consent", c.url, c.site);
    assert_eq!(c.http.post(&url).send().await.unwrap().status(), 401);
    assert_eq!(c.http.post(&url).bearer_auth(ADMIN_KEY).send().await.unwrap().status(), 200);
    let links_b: Value = sign("lead-b").await.unwrap().json().await.unwrap();
    assert_eq!(click(links_b["click_url"].as_str().unwrap().to_string()).await.unwrap().status(), 302);
    assert_eq!(ch.wait_count("SELECT count() FROM email_clicks WHERE lead_id = 'lead-b'", 1, WAIT).await, 1);

    // The operator's erasure of the visitor reaches the clicks of the lead it identified as.
    let erase = format!("{}/v1/admin/visitors/{}/va", c.url, c.site);
    let erased: Value = c.http.delete(&erase).bearer_auth(ADMIN_KEY).send().await.unwrap().json().await.unwrap();
    assert_eq!((erased["events"].as_u64(), erased["email_clicks"].as_u64()), (Some(1), Some(1)), "{erased}");
    assert_eq!(ch.count("SELECT count() FROM email_clicks WHERE lead_id = 'lead-a'").await, 0);
    assert_eq!(ch.count("SELECT count() FROM email_clicks").await, 2, "the anonymous click and lead-b's stay");
    c.stop().await;
}

#[tokio::test]
async fn tracking_links_are_rate_limited_but_still_redirect() {
    let ch = Ch::fresh("email_flood").await;
    let mut cfg = test_config(&ch);
    cfg.limits.email_per_client_per_sec = 0.01;
    cfg.limits.email_per_client_burst = 3.0;
    let c = TestCollector::start(cfg).await;
    let body = json!({"site": c.site, "lead": "l", "message": "m", "url": "https://shop.example/"});
    let links: Value = c
        .http
        .post(format!("{}/v1/admin/links", c.url))
        .bearer_auth(ADMIN_KEY)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let nofollow = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for _ in 0..20 {
        let r = nofollow.get(links["click_url"].as_str().unwrap()).header("user-agent", CHROME_UA).send().await;
        assert_eq!(r.unwrap().status(), 302, "the person always reaches the page");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(ch.count("SELECT count() FROM email_clicks").await, 3, "the flood records nothing");
    let m = c.metrics().await;
    assert_eq!(metric(&m, "ktra_email_link_requests_total", &[("kind", "click"), ("outcome", "rate_limited")]), 17.0);
    c.stop().await;
}

#[tokio::test]
async fn a_decision_resent_after_a_lost_answer_is_one_row() {
    let ch = Ch::fresh("decision_id").await;
    let c = TestCollector::start(test_config(&ch)).await;
    let d = uuid::Uuid::new_v4().to_string();
    let body = json!({"site": c.site, "action": "grant", "granted": ["analytics", "marketing"], "decision_id": d});
    let (s1, a) = c.consent(body.clone()).await;
    let (s2, b) = c.consent(body).await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(a["token"], b["token"], "the same answer");
    assert_eq!(a["consent_id"], json!(d));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(ch.wait_count("SELECT count() FROM consent_log", 1, WAIT).await, 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(ch.count("SELECT count() FROM consent_log").await, 1);
    let (s, v) = c.consent(json!({"site": c.site, "action": "grant", "decision_id": "nope"})).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("bad_value")));
    c.stop().await;
}

#[tokio::test]
async fn secrets_in_query_strings_are_not_stored() {
    let ch = Ch::fresh("strip_params").await;
    let c = TestCollector::start(test_config(&ch)).await;
    let token = c.grant_site().await;
    let ev = event(
        "outbound_click",
        "https://shop.example/reset?token=s3cret&email=ada%40example.com&utm_source=news",
        json!({"referrer": "https://mail.example/?session_id=abc&x=1", "target": "https://pay.example/?api_key=k&y=2"}),
    );
    assert_eq!(c.post(&c.batch(&token, "v", "s", vec![ev])).await.0, 202);
    assert_eq!(ch.wait_count("SELECT count() FROM events", 1, WAIT).await, 1);
    let row = &ch.rows("SELECT url, referrer, link_url, utm_source FROM events").await[0];
    assert_eq!(
        row,
        &json!({"url": "https://shop.example/reset?utm_source=news", "referrer": "https://mail.example/?x=1",
                "link_url": "https://pay.example/?y=2", "utm_source": "news"})
    );
    c.stop().await;
}

#[tokio::test]
async fn a_query_key_that_a_denied_prefix_cuts_inside_a_character_is_stored() {
    // `auth*` and `reset*` (default `strip_query_params`) were compared by
    // slicing the key at the prefix's length: inside `ä` or `😀` the request panicked.
    let ch = Ch::fresh("strip_multibyte").await;
    let c = TestCollector::start(test_config(&ch)).await;
    let token = c.grant_site().await;
    let ev = event(
        "page_view",
        "https://shop.example/p?aux\u{e4}=1&rese\u{e4}=2&auth_code=s3cret&utm_source=news",
        json!({"referrer": "https://r.example/?au\u{1f600}=1"}),
    );
    assert_eq!(c.post(&c.batch(&token, "v", "s", vec![ev])).await.0, 202);
    assert_eq!(ch.wait_count("SELECT count() FROM events", 1, WAIT).await, 1);
    let row = &ch.rows("SELECT url, referrer, utm_source FROM events").await[0];
    assert_eq!(
        row,
        &json!({"url": "https://shop.example/p?aux%C3%A4=1&rese%C3%A4=2&utm_source=news",
                "referrer": "https://r.example/?au\u{1f600}=1", "utm_source": "news"})
    );
    c.stop().await;
}

#[tokio::test]
async fn operator_surfaces_need_the_key_and_guessing_it_is_throttled() {
    let ch = Ch::fresh("admin_surface").await;
    let mut cfg = test_config(&ch);
    cfg.limits.admin_failures_per_min = 5.0;
    let c = TestCollector::start(cfg).await;
    let get = |path: &str, key: Option<&str>| {
        let mut r = c.http.get(format!("{}{path}", c.url));
        if let Some(k) = key {
            r = r.bearer_auth(k);
        }
        r.send()
    };
    assert_eq!(get("/metrics", None).await.unwrap().status(), 401);
    assert!(get("/metrics", Some(ADMIN_KEY)).await.unwrap().text().await.unwrap().contains("ktra_"));
    let ready: Value = get("/readyz", None).await.unwrap().json().await.unwrap();
    assert_eq!(ready.as_object().unwrap().len(), 1, "only readiness in public: {ready}");
    let ready: Value = get("/readyz", Some(ADMIN_KEY)).await.unwrap().json().await.unwrap();
    assert!(ready.get("spool_bytes").is_some(), "{ready}");
    let mut codes = Vec::new();
    for i in 0..7 {
        codes.push(get("/v1/stats/sites", Some(&format!("guess-{i:0>40}"))).await.unwrap().status().as_u16());
    }
    assert_eq!(codes, vec![401, 401, 401, 401, 401, 429, 429]);
    assert_eq!(get("/v1/stats/sites", Some(ADMIN_KEY)).await.unwrap().status(), 429, "even the right key, for a while");
    let r = c.http.get(format!("{}/v1/config/{}", c.url, c.site)).header("origin", "https://other.example").send();
    let r = r.await.unwrap();
    assert!(r.headers().get_all("vary").iter().any(|v| v.to_str().unwrap().contains("Origin")), "cached per origin");
    c.stop().await;
}

#[tokio::test]
async fn the_library_refuses_a_short_secret() {
    let ch = Ch::fresh("short_secret").await;
    let mut cfg = test_config(&ch);
    cfg.secret = "short".into();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let r = ktra_collector::serve(cfg, listener, async {}).await;
    assert!(matches!(r, Err(ktra_collector::ServeError::Config(_))), "{r:?}");
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let ch = Ch::fresh("conn_cap").await;
    let mut cfg = test_config(&ch);
    cfg.limits.max_connections = 2;
    let c = TestCollector::start(cfg).await;
    let addr = c.url.trim_start_matches("http://").to_string();
    // Two idle connections hold both slots (as a slowloris would).
    let hold1 = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let hold2 = tokio::net::TcpStream::connect(&addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let fresh = || reqwest::Client::builder().timeout(Duration::from_secs(1)).build().unwrap();
    let r = fresh().get(format!("{}/healthz", c.url)).send().await;
    assert!(r.is_err(), "a third connection is not served while two are open: {r:?}");
    drop(hold1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = fresh().get(format!("{}/healthz", c.url)).send().await.unwrap();
    assert_eq!(r.status(), 200, "served once a slot frees");
    drop(hold2);
    c.stop().await;
}
