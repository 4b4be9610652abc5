//! Funnels saved from the dashboard (`PUT`/`DELETE /v1/admin/funnels/{site}/{name}`):
//! they answer exactly as the same funnel written in the config file, a second
//! collector process on the same ClickHouse sees every save, change and
//! deletion, and every hostile request is refused with a reason that is
//! counted.
#![allow(clippy::unwrap_used, missing_docs)]

use ktra_collector::stats::defs::{Funnel, Matcher};
use ktra_tests::browser::wait_until;
use ktra_tests::server::CollectorProcess;
use ktra_tests::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

const SITE: &str = "saved_funnels";

fn steps() -> Value {
    json!([{"path": "/pricing*"}, {"event": "purchase", "product_id": "course"}])
}

async fn call(url: &str, method: Method, path: &str, key: &str, body: Option<String>) -> (u16, String) {
    let mut r = reqwest::Client::new().request(method, format!("{url}{path}")).bearer_auth(key);
    if let Some(b) = body {
        r = r.header("content-type", "application/json").body(b);
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn put(url: &str, name: &str, body: &Value) -> (u16, String) {
    call(url, Method::PUT, &format!("/v1/admin/funnels/{SITE}/{name}"), ADMIN_KEY, Some(body.to_string())).await
}

/// The funnel's answer without its name.
async fn answer(url: &str, name: &str, range: &str) -> (u16, Value) {
    let (s, body) = call(url, Method::GET, &format!("/v1/stats/funnel?funnel={name}&{range}"), ADMIN_KEY, None).await;
    let mut v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.remove("funnel");
    }
    (s, v)
}

fn fixture(now: u32) -> Vec<Value> {
    // v1, v2: pricing then the course; v3: pricing then another product; v4: pricing only.
    let mut rows = Vec::new();
    let mut n = 0;
    let mut add = |vid: &str, at: u32, kind: &str, path: &str, product: &str| {
        n += 1;
        rows.push(json!({
            "site_id": SITE, "event_id": format!("00000000-0000-4000-8000-{n:012}"), "event_type": kind,
            "ts": at, "ts_ms": u64::from(at) * 1000, "received_at": at, "visitor_id": vid,
            "session_id": format!("s-{vid}"), "path": path, "product_id": product, "channel": "search",
        }));
    };
    for (i, vid) in ["v1", "v2", "v3", "v4"].iter().enumerate() {
        let at = now - 7200 + i as u32 * 60;
        add(vid, at, "page_view", "/pricing", "");
        match *vid {
            "v1" | "v2" => add(vid, at + 300, "purchase", "/thanks", "course"),
            "v3" => add(vid, at + 300, "purchase", "/thanks", "ebook"),
            _ => {}
        }
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_funnels_answer_like_configured_ones_on_every_collector() {
    let ch = Ch::fresh(SITE).await;
    let mut cfg = test_config(&ch);
    let configured: Funnel = serde_json::from_value(json!({"steps": steps(), "window": "1d"})).unwrap();
    cfg.sites.get_mut(SITE).unwrap().funnels.insert("configured".into(), configured);
    let c = TestCollector::start(cfg).await;
    let now = u32::try_from(now_ms() / 1000).unwrap();
    ch.insert_json("events", &fixture(now)).await;
    let range = format!("site={SITE}&from={}&to={}", now - 86_400, now + 60);

    // Saved under another name, the config's funnel answers the same.
    let (s, body) = put(&c.url, "mine", &json!({"steps": steps(), "window": "1d"})).await;
    assert_eq!(s, 201, "{body}");
    let (s, want) = answer(&c.url, "configured", &range).await;
    assert_eq!(s, 200, "{want}");
    let visitors: Vec<u64> =
        want["steps"].as_array().unwrap().iter().map(|s| s["visitors"].as_u64().unwrap()).collect();
    assert_eq!(visitors, [4, 2], "the fixture: four saw pricing, two bought the course");
    assert_eq!(answer(&c.url, "mine", &range).await, (200, want.clone()));
    let defs = c.admin_get("/v1/stats/sites").await["definitions"][SITE].clone();
    assert_eq!(defs["saved_funnels"], json!(["mine"]), "{defs}");
    assert!(defs["funnels"]["mine"].is_object() && defs["funnels"]["configured"].is_object(), "{defs}");

    // A second collector process on the same ClickHouse (its config has no such funnel).
    let dir = fresh_dir("saved-funnels-second");
    let file = dir.join("ktra.toml");
    std::fs::write(
        &file,
        format!(
            "listen = \"127.0.0.1:0\"\nsecret = \"{secret}\"\nadmin_key = \"{ADMIN_KEY}\"\n\
             [clickhouse]\nurl = \"{url}\"\ndatabase = \"{db}\"\nmigrate_on_start = false\n\
             [spool]\ndir = \"{spool}\"\n[sites.{SITE}]\norigins = []\n",
            secret = c.config.secret,
            url = ch.url,
            db = ch.db,
            spool = dir.join("spool").display()
        ),
    )
    .unwrap();
    let other = CollectorProcess::start(&file, &[]);
    assert_eq!(answer(&other.url, "mine", &range).await, (200, want.clone()), "saved on one, read on another");

    // Changed on the first: the second answers the change within seconds.
    let (s, body) = put(&c.url, "mine", &json!({"steps": steps(), "window": "1d", "order": "any"})).await;
    assert_eq!(s, 200, "replaced: {body}");
    wait_until("the change on the other collector", Duration::from_secs(15), || async {
        let (s, a) = answer(&other.url, "mine", &range).await;
        (s == 200 && a["order"] == "any").then_some(())
    })
    .await;

    // Deleted on the second: gone on the first within seconds; deleting again is 404.
    let del = |url: String| async move {
        call(&url, Method::DELETE, &format!("/v1/admin/funnels/{SITE}/mine"), ADMIN_KEY, None).await.0
    };
    assert_eq!(del(other.url.clone()).await, 204);
    wait_until("the deletion on the first collector", Duration::from_secs(15), || async {
        (answer(&c.url, "mine", &range).await.0 == 404).then_some(())
    })
    .await;
    assert_eq!(del(other.url.clone()).await, 404);
    assert!(other.terminate());

    // Values are literals: a quote in a path glob is a path like any other.
    let odd = json!({"steps": [{"path": "/a'b\\\\%_*"}, {"event": "purchase"}]});
    assert_eq!(put(&c.url, "odd", &odd).await.0, 201);
    let (s, a) = answer(&c.url, "odd", &range).await;
    assert_eq!((s, a["steps"][0]["visitors"].as_u64()), (200, Some(0)), "{a}");

    // A stored row that no longer checks (written by hand) is left out, not an error.
    ch.exec(&format!(
        "INSERT INTO saved_funnels (site_id, name, definition, deleted, version, changed_at) VALUES \
         ('{SITE}', 'broken', '{{\"steps\": []}}', 0, 1, now())"
    ))
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let defs = c.admin_get("/v1/stats/sites").await["definitions"][SITE].clone();
    assert_eq!(defs["saved_funnels"], json!(["odd"]), "{defs}");
    c.stop().await;
}

#[tokio::test]
async fn hostile_funnel_saves_are_refused_with_counted_reasons() {
    let ch = Ch::fresh("saved_funnels_hostile").await;
    let site = ch.name.clone();
    let mut cfg = test_config(&ch);
    let f: Funnel =
        Funnel { steps: vec![Matcher { path: Some("/".into()), ..Default::default() }; 2], ..Default::default() };
    cfg.sites.get_mut(&site).unwrap().funnels.insert("configured".into(), f);
    let c = TestCollector::start(cfg).await;
    let path = |name: &str| format!("/v1/admin/funnels/{site}/{name}");
    let ok = json!({"steps": [{"path": "/"}, {"event": "purchase"}]}).to_string();
    let reasons = || async {
        let m = c.metrics().await;
        ["unknown_site", "bad_value", "malformed_json", "body_too_large"]
            .map(|r| metric(&m, "ktra_rejected_requests_total", &[("reason", r)]))
    };
    let before = reasons().await;
    let refused = [
        (Method::PUT, format!("/v1/admin/funnels/nope/x"), ok.clone(), 400, 0),
        (Method::PUT, path("a%20b"), ok.clone(), 400, 1),
        (Method::PUT, path(&"n".repeat(65)), ok.clone(), 400, 1),
        (Method::PUT, path("configured"), ok.clone(), 400, 1),
        (Method::DELETE, path("configured"), String::new(), 400, 1),
        (Method::PUT, path("one"), json!({"steps": [{"path": "/"}]}).to_string(), 400, 1),
        (Method::PUT, path("nine"), json!({"steps": vec![json!({"path": "/"}); 9]}).to_string(), 400, 1),
        (Method::PUT, path("ev"), json!({"steps": [{"event": "nope"}, {"path": "/"}]}).to_string(), 400, 1),
        (
            Method::PUT,
            path("long"),
            json!({"steps": [{"path": "/"}, {"path": "/"}], "window": "91d"}).to_string(),
            400,
            1,
        ),
        (Method::PUT, path("ctl"), json!({"steps": [{"path": "/\u{1}"}, {"path": "/"}]}).to_string(), 400, 1),
        (Method::PUT, path("extra"), json!({"steps": [{"path": "/"}, {"path": "/"}], "sql": "x"}).to_string(), 400, 2),
        (Method::PUT, path("text"), "steps: /".to_string(), 400, 2),
        (Method::PUT, path("big"), format!("{{\"steps\": [{{\"path\": \"/{}\"}}]}}", "x".repeat(20_000)), 413, 3),
    ];
    let mut want = before;
    for (method, p, body, status, reason) in refused {
        let body = (!body.is_empty()).then_some(body);
        let (s, text) = call(&c.url, method.clone(), &p, ADMIN_KEY, body).await;
        assert_eq!(s, status, "{method} {p}: {text}");
        want[reason] += 1.0;
    }
    assert_eq!(reasons().await, want, "each refusal counted under its reason");
    assert_eq!(call(&c.url, Method::DELETE, &path("never"), ADMIN_KEY, None).await.0, 404);

    // At most 100 funnels per site, the configured one included.
    for i in 0..99 {
        let (s, text) = call(&c.url, Method::PUT, &path(&format!("f{i}")), ADMIN_KEY, Some(ok.clone())).await;
        assert_eq!(s, 201, "{text}");
    }
    let (s, text) = call(&c.url, Method::PUT, &path("f99"), ADMIN_KEY, Some(ok.clone())).await;
    assert_eq!(s, 400, "the 101st: {text}");
    assert_eq!(
        call(&c.url, Method::PUT, &path("f0"), ADMIN_KEY, Some(ok.clone())).await.0,
        200,
        "replacing stays allowed"
    );

    // Without the admin key: nothing is read or written.
    for key in ["", "wrong-key-0123456789abcdef-0123456789"] {
        assert_eq!(call(&c.url, Method::PUT, &path("anon"), key, Some(ok.clone())).await.0, 401);
        assert_eq!(call(&c.url, Method::DELETE, &path("f1"), key, None).await.0, 401);
    }
    let defs = c.admin_get("/v1/stats/sites").await["definitions"][&site].clone();
    assert_eq!(defs["saved_funnels"].as_array().unwrap().len(), 99, "{defs}");
    c.stop().await;
}
