//! Behavioural triggers against the real collector and ClickHouse, with a
//! real HTTP receiver of the test's own on loopback: rules fire once per
//! lead with a valid Standard Webhooks signature, only for identified
//! visitors, retries keep one `webhook-id` and every attempt is logged, and a
//! withdrawal drops what is queued.
#![allow(clippy::unwrap_used, missing_docs)]

use ktra_collector::automate::deliver::sign;
use ktra_collector::config::{TriggerFilter, WebhookEndpoint};
use ktra_tests::receiver::Receiver;
use ktra_tests::*;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const SECRET: &str = "whsec_dGVzdC1zZWNyZXQtdGVzdC1zZWNyZXQ=";

fn endpoint(url: &str, trigger: &str, filter: TriggerFilter) -> WebhookEndpoint {
    WebhookEndpoint {
        url: url.into(),
        secret: SECRET.into(),
        triggers: vec![trigger.into()],
        filter,
        ..Default::default()
    }
}

async fn start(name: &str, endpoints: Vec<WebhookEndpoint>, schedule: Vec<u64>) -> (Ch, TestCollector) {
    let ch = Ch::fresh(name).await;
    let mut cfg = test_config(&ch);
    cfg.webhooks.allow_private_targets = true;
    cfg.webhooks.retry_schedule_secs = schedule;
    cfg.sites.get_mut(&ch.name).unwrap().webhooks = endpoints;
    let c = TestCollector::start(cfg).await;
    (ch, c)
}

fn video(kind: &str, id: &str) -> Value {
    event(kind, "https://shop.example/course/intro", json!({"video_id": id}))
}

#[tokio::test]
async fn a_video_complete_rule_fires_once_per_lead_signed_and_only_for_leads() {
    let rx = Receiver::start(vec![]).await;
    let filter = TriggerFilter { video_id: "intro".into(), ..Default::default() };
    let (ch, c) = start("wh_video", vec![endpoint(&rx.url, "video_complete", filter)], vec![1]).await;

    // A visitor who identified as a lead completes the video twice, and another video.
    let token = c.grant_site().await;
    let ident = event("identify", "https://shop.example/signup", json!({"lead_id": "lead-7"}));
    assert_eq!(c.post(&c.batch(&token, "v-lead", "s1", vec![ident])).await.0, 202);
    for v in [video("video_complete", "intro"), video("video_complete", "intro"), video("video_complete", "other")] {
        assert_eq!(c.post(&c.batch(&token, "v-lead", "s1", vec![v])).await.0, 202);
    }
    // A consenting visitor who never identified completes it too: no lead, no trigger.
    let anon = c.grant_site().await;
    assert_eq!(c.post(&c.batch(&anon, "v-anon", "s2", vec![video("video_complete", "intro")])).await.0, 202);

    let got = rx.wait_for(1, WAIT).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got_after = rx.got();
    assert_eq!(got_after.len(), 1, "exactly once per lead: {got_after:?}");
    let g = &got[0];
    assert_eq!(sign(SECRET, &g.id, g.timestamp, &g.body).unwrap(), g.signature, "a valid signature");
    let body: Value = serde_json::from_str(&g.body).unwrap();
    assert_eq!(body["type"], "video_complete");
    assert_eq!((body["data"]["lead_id"].as_str(), body["data"]["video_id"].as_str()), (Some("lead-7"), Some("intro")));
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'), "RFC 3339: {body}");
    let sql = "SELECT count() FROM webhook_deliveries WHERE status = 'delivered' AND lead_id = 'lead-7'";
    assert_eq!(ch.wait_count(sql, 1, WAIT).await, 1);
    c.stop().await;
}

#[tokio::test]
async fn a_failing_receiver_gets_retries_with_one_webhook_id_and_every_attempt_is_logged() {
    let rx = Receiver::start(vec![500, 500, 500]).await;
    let (ch, c) =
        start("wh_retry", vec![endpoint(&rx.url, "lead_identified", TriggerFilter::default())], vec![1, 1, 1, 1]).await;
    let token = c.grant_site().await;
    let ident = event("identify", "https://shop.example/signup", json!({"lead_id": "lead-r"}));
    assert_eq!(c.post(&c.batch(&token, "v", "s", vec![ident])).await.0, 202);
    let got = rx.wait_for(4, WAIT).await;
    assert_eq!(got.len(), 4, "three failures, then delivered: {got:?}");
    assert!(got.iter().all(|g| g.id == got[0].id), "one webhook-id across retries");
    assert!(got.iter().all(|g| g.body == got[0].body), "the same body every time");
    let sql = format!("SELECT count() FROM webhook_deliveries WHERE delivery_id = '{}'", got[0].id);
    assert_eq!(ch.wait_count(&sql, 4, WAIT).await, 4, "every attempt is a row");
    let rows = ch.rows("SELECT attempt, status, http_status FROM webhook_deliveries ORDER BY attempt").await;
    assert_eq!(
        rows.iter().map(|r| r["status"].as_str().unwrap()).collect::<Vec<_>>(),
        ["failed", "failed", "failed", "delivered"]
    );

    // The activity log shows the endpoint healthy and every attempt; a redelivery sends it again.
    let url = format!("{}/v1/stats/webhooks?site={}", c.url, c.site);
    assert_eq!(c.http.get(&url).send().await.unwrap().status(), 401, "the admin key is required");
    let log: Value = c.http.get(&url).bearer_auth(ADMIN_KEY).send().await.unwrap().json().await.unwrap();
    assert_eq!(log["endpoints"][0]["health"], "healthy", "{log}");
    assert_eq!(log["deliveries"].as_array().unwrap().len(), 4, "{log}");
    let failed: Value =
        c.http.get(format!("{url}&status=failed")).bearer_auth(ADMIN_KEY).send().await.unwrap().json().await.unwrap();
    assert_eq!(failed["deliveries"].as_array().unwrap().len(), 3, "filtered by status");
    let again = format!("{}/v1/admin/webhooks/{}/redeliver", c.url, got[0].id);
    assert_eq!(c.http.post(&again).bearer_auth(ADMIN_KEY).send().await.unwrap().status(), 200);
    let got = rx.wait_for(5, WAIT).await;
    assert_eq!((got.len(), got[4].id.as_str(), got[4].body.as_str()), (5, got[0].id.as_str(), got[0].body.as_str()));
    c.stop().await;
}

#[tokio::test]
async fn a_withdrawal_drops_queued_deliveries_and_stops_triggers() {
    // Always failing, retried only after a minute: the delivery waits in the queue.
    let rx = Receiver::start(vec![503; 10]).await;
    let (ch, c) = start("wh_withdraw", vec![endpoint(&rx.url, "page_visit", TriggerFilter::default())], vec![60]).await;
    let token = c.grant_site().await;
    let ident = event("identify", "https://shop.example/", json!({"lead_id": "lead-w"}));
    let pv = event("page_view", "https://shop.example/pricing", json!({}));
    assert_eq!(c.post(&c.batch(&token, "vw", "sw", vec![ident, pv])).await.0, 202);
    assert_eq!(rx.wait_for(1, WAIT).await.len(), 1, "the first attempt");
    let (s, _) = c.consent(json!({"site": c.site, "action": "withdraw", "previous": token})).await;
    assert_eq!(s, 200);
    let sql = "SELECT count() FROM webhook_deliveries WHERE status = 'dropped' AND lead_id = 'lead-w'";
    assert_eq!(ch.wait_count(sql, 1, WAIT).await, 1, "the queued delivery is dropped and logged");
    let (s, _) =
        c.post(&c.batch(&token, "vw", "sw", vec![event("page_view", "https://shop.example/x", json!({}))])).await;
    assert_eq!(s, 403, "the withdrawn token fires nothing more");
    assert_eq!(rx.got().len(), 1);
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_killed_between_attempts_delivers_after_restart_and_never_twice() {
    use ktra_tests::server::CollectorProcess;
    // Fails once; the retry comes 3 s later, after the SIGKILL and the restart.
    let rx = Receiver::start(vec![500]).await;
    let ch = Ch::fresh("wh_kill").await;
    let dir = fresh_dir("wh-kill");
    let cfg_path = dir.join("ktra.toml");
    std::fs::write(
        &cfg_path,
        format!(
            r#"listen = "127.0.0.1:0"
secret = "webhook-kill-secret-0123456789abcdef-0123"
admin_key = "{ADMIN_KEY}"
[clickhouse]
url = "{url}"
database = "{db}"
batch_max_ms = 100
[spool]
dir = "{spool}"
[limits]
per_client_per_sec = 0
[webhooks]
allow_private_targets = true
retry_schedule_secs = [3, 3]
[sites.{site}]
[[sites.{site}.webhooks]]
url = "{hook}"
secret = "{SECRET}"
triggers = ["lead_identified"]
"#,
            url = ch.url,
            db = ch.db,
            spool = dir.join("spool").display(),
            site = ch.name,
            hook = rx.url,
        ),
    )
    .unwrap();
    let col = CollectorProcess::start(&cfg_path, &[]);
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/v1/consent", col.url))
        .body(json!({"site": ch.name, "action": "grant", "granted": ["analytics", "marketing"]}).to_string())
        .send()
        .await
        .unwrap();
    let token = r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    let ident = event("identify", "https://shop.example/", json!({"lead_id": "lead-k"}));
    let r = http
        .post(format!("{}/v1/events", col.url))
        .header("user-agent", CHROME_UA)
        .body(batch_for(&ch.name, &token, "vk", "sk", vec![ident]).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(rx.wait_for(1, WAIT).await.len(), 1, "the first attempt failed (500)");
    col.kill();
    let col = CollectorProcess::start(&cfg_path, &[]);
    let got = rx.wait_for(2, WAIT).await;
    tokio::time::sleep(Duration::from_secs(7)).await;
    let got_after = rx.got();
    assert_eq!(got.len(), 2, "delivered after the restart: {got:?}");
    assert_eq!(got_after.len(), 2, "and never again");
    assert_eq!(got[0].id, got[1].id, "the same webhook-id");
    assert!(col.terminate());
}

const SITE_KEY: &str = "site-key-0123456789abcdef-0123456789abcdef";

#[tokio::test]
async fn rest_hooks_subscribe_deliver_signed_list_and_unsubscribe_on_410() {
    let rx = Receiver::start(vec![200, 410]).await;
    let ch = Ch::fresh("wh_rest").await;
    let mut cfg = test_config(&ch);
    cfg.webhooks.allow_private_targets = true;
    cfg.webhooks.retry_schedule_secs = vec![1];
    cfg.sites.get_mut(&ch.name).unwrap().api_keys = vec![SITE_KEY.into()];
    let mut other = site();
    other.api_keys = vec!["other-site-key-0123456789abcdef-0123456789".into()];
    cfg.sites.insert("zz_other".into(), other); // sorts after the test site (TestCollector takes the first)
    let c = TestCollector::start(cfg).await;
    let hooks = format!("{}/v1/hooks", c.url);
    let body = json!({"site": c.site, "target_url": rx.url, "trigger": "page_visit", "filter": {"path": "/pricing*"}});
    let post = |key: Option<&str>, body: &Value| {
        let mut r = c.http.post(&hooks).json(body);
        if let Some(k) = key {
            r = r.bearer_auth(k);
        }
        r.send()
    };
    assert_eq!(post(None, &body).await.unwrap().status(), 401);
    let other_key = "other-site-key-0123456789abcdef-0123456789";
    assert_eq!(post(Some(other_key), &body).await.unwrap().status(), 403, "a key acts for its own site only");
    let bad = json!({"site": c.site, "target_url": rx.url, "trigger": "nope"});
    assert_eq!(post(Some(SITE_KEY), &bad).await.unwrap().status(), 400);
    let r = post(Some(SITE_KEY), &body).await.unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let (id, secret) = (created["id"].as_str().unwrap().to_string(), created["secret"].as_str().unwrap().to_string());
    assert!(secret.starts_with("whsec_"), "{created}");
    let list: Value = c
        .http
        .get(format!("{hooks}?site={}", c.site))
        .bearer_auth(SITE_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert!(list[0].get("secret").is_none(), "secrets are not listed");
    let samples: Value = c
        .http
        .get(format!("{hooks}/samples/page_visit"))
        .bearer_auth(SITE_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(samples[0]["type"], "page_visit");

    // An identified visitor views the pricing page twice (once per event for REST hooks).
    let token = c.grant_site().await;
    let ident = event("identify", "https://shop.example/", json!({"lead_id": "lead-z"}));
    let views: Vec<Value> = (0..2).map(|_| event("page_view", "https://shop.example/pricing/pro", json!({}))).collect();
    assert_eq!(c.post(&c.batch(&token, "vz", "sz", vec![ident])).await.0, 202);
    assert_eq!(c.post(&c.batch(&token, "vz", "sz", views)).await.0, 202);
    let got = rx.wait_for(2, WAIT).await;
    assert_eq!(got.len(), 2, "{got:?}");
    for g in &got {
        assert_eq!(sign(&secret, &g.id, g.timestamp, &g.body).unwrap(), g.signature, "signed with the hook's secret");
    }
    // The second answered 410: the hook is gone, here and in ClickHouse.
    let sql = format!("SELECT count() FROM webhook_subscriptions FINAL WHERE id = '{id}' AND deleted = 1");
    assert_eq!(ch.wait_count(&sql, 1, WAIT).await, 1);
    let list: Value = c
        .http
        .get(format!("{hooks}?site={}", c.site))
        .bearer_auth(SITE_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list, json!([]));
    let r = c.http.delete(format!("{hooks}/{id}")).bearer_auth(SITE_KEY).send().await.unwrap();
    assert_eq!(r.status(), 404, "already unsubscribed");
    c.stop().await;
}

#[tokio::test]
async fn an_endpoint_failing_too_long_is_disabled_shown_so_and_enabled_again() {
    // Always 500 for the first ten attempts; retried every second; disabled after 3 s of failures.
    let rx = Receiver::start(vec![500; 10]).await;
    let ch = Ch::fresh("wh_disable").await;
    let mut cfg = test_config(&ch);
    cfg.webhooks.allow_private_targets = true;
    cfg.webhooks.retry_schedule_secs = vec![1; 20];
    cfg.webhooks.disable_after_secs = 3;
    cfg.sites.get_mut(&ch.name).unwrap().webhooks =
        vec![endpoint(&rx.url, "lead_identified", TriggerFilter::default())];
    let c = TestCollector::start(cfg).await;
    let token = c.grant_site().await;
    let identify = |lead: &str| event("identify", "https://shop.example/", json!({"lead_id": lead}));
    assert_eq!(c.post(&c.batch(&token, "v1", "s1", vec![identify("lead-1")])).await.0, 202);

    // The delivery ends as disabled, logged, after the streak passed 3 s.
    let sql = "SELECT count() FROM webhook_deliveries WHERE status = 'disabled' AND lead_id = 'lead-1'";
    assert_eq!(ch.wait_count(sql, 1, WAIT).await, 1, "the pending delivery ends as disabled");
    let attempts = rx.got().len();
    assert!((3..=6).contains(&attempts), "attempts until disabled: {attempts}");
    let url = format!("{}/v1/stats/webhooks?site={}", c.url, c.site);
    let log: Value = c.http.get(&url).bearer_auth(ADMIN_KEY).send().await.unwrap().json().await.unwrap();
    assert_eq!(log["endpoints"][0]["health"], "disabled", "{log}");
    assert!(log["endpoints"][0]["failing_since"].as_u64().is_some(), "{log}");

    // A new trigger skips the disabled endpoint.
    assert_eq!(c.post(&c.batch(&token, "v2", "s2", vec![identify("lead-2")])).await.0, 202);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(rx.got().len(), attempts, "nothing sent to a disabled endpoint");

    // Enabled again by the operator (admin key): the next trigger is delivered (the receiver answers 200 by now).
    let enable = format!("{}/v1/admin/webhooks/enable", c.url);
    let body = json!({"site": c.site, "url": rx.url});
    assert_eq!(c.http.post(&enable).json(&body).send().await.unwrap().status(), 401);
    let r = c.http.post(&enable).bearer_auth(ADMIN_KEY).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    for _ in attempts..10 {
        // Spend the receiver's remaining scripted failures directly.
        let _ = c.http.post(&rx.url).body("{}").send().await;
    }
    assert_eq!(c.post(&c.batch(&token, "v3", "s3", vec![identify("lead-3")])).await.0, 202);
    let sql = "SELECT count() FROM webhook_deliveries WHERE status = 'delivered' AND lead_id = 'lead-3'";
    assert_eq!(ch.wait_count(sql, 1, WAIT).await, 1, "delivered once enabled");
    let log: Value = c.http.get(&url).bearer_auth(ADMIN_KEY).send().await.unwrap().json().await.unwrap();
    assert_eq!(log["endpoints"][0]["health"], "healthy", "{log}");
    c.stop().await;
}

#[tokio::test]
async fn behind_a_load_balancer_a_lead_identified_on_one_collector_triggers_on_another() {
    let rx = Receiver::start(vec![]).await;
    let ch = Ch::fresh("wh_two").await;
    let mut cfg = test_config(&ch);
    cfg.webhooks.allow_private_targets = true;
    let filter = TriggerFilter { video_id: "intro".into(), ..Default::default() };
    cfg.sites.get_mut(&ch.name).unwrap().webhooks = vec![endpoint(&rx.url, "video_complete", filter)];
    let a = TestCollector::start(cfg.clone()).await;
    cfg.spool.dir = fresh_dir("wh-two-b");
    let b = TestCollector::start(cfg).await;

    // The visitor identifies through collector A; its next batch reaches collector B.
    let token = a.grant_site().await;
    let ident = event("identify", "https://shop.example/signup", json!({"lead_id": "lead-lb"}));
    assert_eq!(a.post(&a.batch(&token, "v-lb", "s-lb", vec![ident])).await.0, 202);
    assert_eq!(ch.wait_count("SELECT count() FROM events WHERE lead_id = 'lead-lb'", 1, WAIT).await, 1);
    // Another visitor of the same consent chain but never identified: nothing to find.
    assert_eq!(b.post(&b.batch(&token, "v-anon", "s-x", vec![video("video_complete", "intro")])).await.0, 202);
    assert_eq!(b.post(&b.batch(&token, "v-lb", "s-lb", vec![video("video_complete", "intro")])).await.0, 202);
    let got = rx.wait_for(1, WAIT).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(rx.got().len(), 1, "{got:?}");
    assert_eq!(got[0].json()["data"]["lead_id"], "lead-lb", "collector B found the lead A saw");
    a.stop().await;
    b.stop().await;
}
