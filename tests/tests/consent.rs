//! Consent enforced on the server: every kind of bad token is refused and
//! counted, decisions are recorded as proof, withdrawal revokes across
//! instances, and erasure leaves nothing behind.
#![allow(clippy::unwrap_used, missing_docs)]

use ktra_collector::consent::token::{Claims, TokenKey};
use ktra_tests::*;
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn pv() -> Vec<serde_json::Value> {
    vec![event("page_view", "https://shop.example/", json!({}))]
}

fn unix() -> u64 {
    (now_ms() / 1000) as u64
}

#[tokio::test]
async fn forged_expired_other_site_old_revision_partial_and_missing_tokens_are_refused_and_counted() {
    let ch = Ch::fresh("bad_tokens").await;
    let mut cfg = test_config(&ch);
    cfg.sites.get_mut(&ch.name).unwrap().revision = 2;
    cfg.sites.insert("other".into(), site());
    let c = TestCollector::start(cfg.clone()).await;
    let key = TokenKey::derive(cfg.secret.as_bytes(), "consent");
    let claims = |f: &dyn Fn(&mut Claims)| {
        let mut cl = Claims {
            version: 1,
            consent_id: uuid::Uuid::new_v4().to_string(),
            site: c.site.clone(),
            purposes: vec!["analytics".into(), "marketing".into()],
            revision: 2,
            expires: unix() + 3600,
            root: String::new(),
            model: String::new(),
            implied: false,
        };
        f(&mut cl);
        cl
    };
    let good = key.sign(&claims(&|_| {}));
    let forged = TokenKey::derive(b"not-the-secret-at-all-0123456789abcdef", "consent").sign(&claims(&|_| {}));
    let tampered = {
        let (body, sig) = good.split_once('.').unwrap();
        let other_body = key.sign(&claims(&|c| c.site = "other".into()));
        format!("{}.{sig}", other_body.split_once('.').unwrap().0).replace(body, "x")
    };
    let cases = [
        (Some(forged), "consent_invalid"),
        (Some(tampered), "consent_invalid"),
        (Some("garbage".to_string()), "consent_invalid"),
        (Some(key.sign(&claims(&|c| c.expires = unix() - 1))), "consent_expired"),
        (Some(key.sign(&claims(&|c| c.site = "other".into()))), "consent_other_site"),
        (Some(key.sign(&claims(&|c| c.revision = 1))), "consent_old_revision"),
        (Some(key.sign(&claims(&|c| c.purposes = vec!["analytics".into()]))), "consent_purposes"),
        (None, "consent_missing"),
    ];
    for (token, reason) in &cases {
        let mut b = c.batch(token.as_deref().unwrap_or(""), "v", "s", pv());
        if token.is_none() {
            b.as_object_mut().unwrap().remove("consent");
        }
        let (s, body) = c.post(&b).await;
        assert_eq!((s, body["error"].as_str()), (403, Some(*reason)), "{body}");
    }
    let (s, _) = c.post(&c.batch(&good, "v", "s", pv())).await;
    assert_eq!(s, 202, "the valid token passes");
    assert_eq!(ch.wait_count("SELECT count() FROM events", 1, WAIT).await, 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(ch.count("SELECT count() FROM events").await, 1, "nothing of the refused batches is stored");
    let m = c.metrics().await;
    for (reason, n) in [
        ("consent_invalid", 3.0),
        ("consent_expired", 1.0),
        ("consent_other_site", 1.0),
        ("consent_old_revision", 1.0),
        ("consent_purposes", 1.0),
        ("consent_missing", 1.0),
    ] {
        assert_eq!(
            metric(&m, "ktra_rejected_events_total", &[("site", c.site.as_str()), ("reason", reason)]),
            n,
            "{reason}"
        );
    }
    c.stop().await;
}

#[tokio::test]
async fn the_cookie_is_read_when_the_body_has_no_token() {
    let ch = Ch::fresh("cookie_token").await;
    let c = TestCollector::start(test_config(&ch)).await;
    let token = c.grant_site().await;
    let mut b = c.batch("", "v", "s", pv());
    b.as_object_mut().unwrap().remove("consent");
    let (s, _, body) = c.post_raw(b.to_string(), &[("cookie", &format!("other=1; ktra_consent={token}"))]).await;
    assert_eq!(s, 202, "{body}");
    c.stop().await;
}

#[tokio::test]
async fn decisions_are_recorded_as_proof_and_a_withdrawal_is_refused_on_every_instance() {
    let ch = Ch::fresh("withdraw").await;
    let cfg = test_config(&ch);
    let a = TestCollector::start(cfg.clone()).await;
    let mut cfg_b = cfg;
    cfg_b.spool.dir = fresh_dir("spool-b");
    let b = TestCollector::start(cfg_b).await;
    let (s, granted) = a
        .consent(json!({"site": a.site, "action": "grant", "source": "banner", "granted": ["analytics", "marketing"], "language": "de", "text_hash": "abc123", "gpc": false}))
        .await;
    assert_eq!(s, 200, "{granted}");
    let token = granted["token"].as_str().unwrap().to_string();
    assert!(granted["max_age"].as_u64().unwrap() >= 182 * 86_400);
    assert_eq!(b.post(&b.batch(&token, "vis_w", "s", pv())).await.0, 202, "instance B accepts A's token");

    let (s, w) = a.consent(json!({"site": a.site, "action": "withdraw", "previous": token, "vid": "vis_w"})).await;
    assert_eq!(s, 200, "{w}");
    // At once on the instance that recorded it…
    let (s, body) = a.post(&a.batch(&token, "vis_w", "s", pv())).await;
    assert_eq!((s, body["error"].as_str()), (403, Some("consent_withdrawn")));
    // …and on the other within the refresh bound (1 s here).
    let mut refused = false;
    for _ in 0..50 {
        let (s, body) = b.post(&b.batch(&token, "vis_w", "s", pv())).await;
        if s == 403 {
            assert_eq!(body["error"], "consent_withdrawn");
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused, "instance B never learned of the withdrawal");
    // The withdrawal token itself grants nothing.
    let (s, body) = a.post(&a.batch(w["token"].as_str().unwrap(), "vis_w", "s", pv())).await;
    assert_eq!((s, body["error"].as_str()), (403, Some("consent_purposes")));

    assert_eq!(ch.wait_count("SELECT count() FROM consent_log", 2, WAIT).await, 2);
    let log = ch.rows("SELECT action, source, granted, denied, language, text_hash, previous_id, visitor_id, revision FROM consent_log ORDER BY recorded_at, action").await;
    let grant = log.iter().find(|r| r["action"] == "grant").unwrap();
    assert_eq!(grant["granted"], json!(["analytics", "marketing"]));
    assert_eq!((grant["language"].as_str(), grant["text_hash"].as_str()), (Some("de"), Some("abc123")));
    let wd = log.iter().find(|r| r["action"] == "withdraw").unwrap();
    assert_eq!(wd["previous_id"], granted["consent_id"]);
    assert_eq!(wd["granted"], json!([]));
    assert_eq!(wd["denied"], json!(["analytics", "marketing"]));
    assert_eq!(wd["visitor_id"], "vis_w");
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn bad_decisions_get_clear_errors() {
    let ch = Ch::fresh("bad_decisions").await;
    let c = TestCollector::start(test_config(&ch)).await;
    for (body, code) in [
        (json!({"site": c.site, "action": "maybe"}), "bad_value"),
        (json!({"site": c.site, "action": "grant", "granted": ["everything"]}), "bad_value"),
        (json!({"site": c.site, "action": "grant", "granted": ["analytics"], "denied": ["analytics"]}), "bad_value"),
        (json!({"site": c.site, "action": "grant", "revision": 99}), "bad_value"),
        (json!({"site": "nope", "action": "grant"}), "unknown_site"),
        (json!({"site": c.site}), "malformed_json"),
    ] {
        let (s, v) = c.consent(body.clone()).await;
        assert_eq!((s, v["error"].as_str()), (400, Some(code)), "{body} → {v}");
    }
    c.stop().await;
}

#[tokio::test]
async fn admin_export_and_erasure_leave_zero_rows_for_the_visitor() {
    let ch = Ch::fresh("erase").await;
    let c = TestCollector::start(test_config(&ch)).await;
    let token = c.grant_site().await;
    assert_eq!(
        c.post(&c.batch(
            &token,
            "vis_gone",
            "s1",
            vec![
                event("page_view", "https://shop.example/", json!({})),
                event("scroll", "https://shop.example/", json!({"depth": 50}))
            ]
        ))
        .await
        .0,
        202
    );
    assert_eq!(c.post(&c.batch(&token, "vis_stays", "s2", pv())).await.0, 202);
    let (s, _) = c.consent(json!({"site": c.site, "action": "withdraw", "previous": token, "vid": "vis_gone"})).await;
    assert_eq!(s, 200);
    assert_eq!(ch.wait_count("SELECT count() FROM events", 3, WAIT).await, 3);
    assert_eq!(ch.wait_count("SELECT count() FROM consent_log WHERE visitor_id = 'vis_gone'", 1, WAIT).await, 1);

    let url = format!("{}/v1/admin/visitors/{}/vis_gone", c.url, c.site);
    assert_eq!(c.http.get(&url).send().await.unwrap().status(), 401, "no key");
    assert_eq!(c.http.get(&url).bearer_auth("wrong-key-wrong-ke").send().await.unwrap().status(), 401, "wrong key");
    let export: serde_json::Value = c.http.get(&url).bearer_auth(ADMIN_KEY).send().await.unwrap().json().await.unwrap();
    assert_eq!(export["events"].as_array().unwrap().len(), 2);
    assert_eq!(export["consent_log"].as_array().unwrap().len(), 1);

    let erased: serde_json::Value =
        c.http.delete(&url).bearer_auth(ADMIN_KEY).send().await.unwrap().json().await.unwrap();
    assert_eq!(erased, json!({"events": 2, "consent_log": 1, "email_clicks": 0, "email_opens": 0}));
    for table in ["events", "consent_log"] {
        assert_eq!(ch.count(&format!("SELECT count() FROM {table} WHERE visitor_id = 'vis_gone'")).await, 0, "{table}");
    }
    assert_eq!(
        ch.count("SELECT count() FROM events WHERE visitor_id = 'vis_stays'").await,
        1,
        "other visitors are untouched"
    );
    c.stop().await;
}

#[tokio::test]
async fn withdrawal_erases_the_visitors_events_when_the_site_says_so() {
    let ch = Ch::fresh("erase_on_withdraw").await;
    let mut cfg = test_config(&ch);
    cfg.sites.get_mut(&ch.name).unwrap().erase_on_withdraw = true;
    let c = TestCollector::start(cfg).await;
    let token = c.grant_site().await;
    assert_eq!(c.post(&c.batch(&token, "vis_x", "s", pv())).await.0, 202);
    assert_eq!(ch.wait_count("SELECT count() FROM events", 1, WAIT).await, 1);
    let (s, v) = c.consent(json!({"site": c.site, "action": "withdraw", "previous": token, "vid": "vis_x"})).await;
    assert_eq!((s, v["erased"].as_bool()), (200, Some(true)), "{v}");
    assert_eq!(ch.wait_count("SELECT count() FROM events WHERE visitor_id = 'vis_x'", 0, WAIT).await, 0);
    assert_eq!(
        ch.count("SELECT count() FROM consent_log WHERE action = 'withdraw'").await,
        1,
        "the withdrawal's own proof stays"
    );
    c.stop().await;
}
