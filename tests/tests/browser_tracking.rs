//! The whole walk in real headless Chromium through a tracking domain: the
//! shop's page (`http://shop-a.test`) loads the loader as
//! `https://t.shop-a.test/m/site.js` from the collector's own TLS listener
//! (a certificate made by the test, pinned for Chromium by its key), the
//! visitor accepts, and the pixel's events reach ClickHouse through `/m/…`;
//! nothing is requested under the default names. The test domains resolve to
//! loopback with Chromium's `--host-resolver-rules`.
#![allow(clippy::unwrap_used, missing_docs)]

use base64::Engine;
use ktra_collector::tls::CertConfig;
use ktra_tests::browser::{wait_until, Browser, Stack};
use ktra_tests::*;
use rcgen::{CertificateParams, KeyPair};
use sha2::{Digest, Sha256};
use std::time::Duration;

const DOMAIN: &str = "t.shop-a.test";
const SHOP: &str = "shop-a.test";

#[tokio::test]
async fn accept_then_events_through_a_tracking_domain_with_its_own_script_name_and_prefix() {
    let mut s = Stack::start("br_tracking", |_| {}).await;
    // The tracking domain's certificate (self-signed; Chromium pins its key).
    let dir = fresh_dir("br-tracking-tls");
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec![DOMAIN.to_string()]).unwrap().self_signed(&key).unwrap();
    let tls_cert = CertConfig { domain: DOMAIN.into(), cert: dir.join("t.crt"), key: dir.join("t.key") };
    std::fs::write(&tls_cert.cert, cert.pem()).unwrap();
    std::fs::write(&tls_cert.key, key.serialize_pem()).unwrap();
    let spki = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(key.public_key_der()));

    // The collector with TLS and the site's names.
    let tls = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let shop_origin = format!("http://{SHOP}:{}", s.pages.port);
    let mut cfg = s.collector.config.clone();
    cfg.spool.dir = fresh_dir("spool-br-tracking-tls");
    cfg.tls.listen = Some(tls);
    cfg.tls.certs = vec![tls_cert];
    let site = cfg.sites.get_mut(&s.ch.name).unwrap();
    site.tracking_domain = DOMAIN.into();
    site.path_prefix = "/m".into();
    site.script_name = "site.js".into();
    site.origins.push(shop_origin.clone());
    let located = TestCollector::start(cfg).await;
    std::mem::replace(&mut s.collector, located).stop().await;
    let until = std::time::Instant::now() + Duration::from_secs(15);
    while tokio::net::TcpStream::connect(tls).await.is_err() {
        assert!(std::time::Instant::now() < until, "the TLS listener never opened");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let base = format!("https://{DOMAIN}:{}/m", tls.port());
    let page = std::fs::read_to_string(format!("{}/../tests/pages/consent.html", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .replace("{{COLLECTOR}}/ktra.js", &format!("{base}/site.js"));
    s.pages.put("/tracking.html", page);
    s.pages.set("SITE", &s.collector.site);

    s.browser = Browser::start_with(&[
        format!("--host-resolver-rules=MAP {DOMAIN} 127.0.0.1, MAP {SHOP} 127.0.0.1"),
        format!("--ignore-certificate-errors-spki-list={spki}"),
    ])
    .await;
    let b = &s.browser;
    b.goto(&format!("{shop_origin}/tracking.html")).await;
    s.banner_shown().await;
    b.screenshot("tracking-domain-banner").await;
    b.click(&s.banner_el("[data-a=accept]").await).await;
    s.signed_consent().await;
    s.wait_cookie("ktra_vid").await;
    wait_until("page views stored through the tracking domain", Duration::from_secs(20), || async {
        (s.ch.count("SELECT count() FROM events WHERE event_type = 'page_view'").await > 0).then_some(())
    })
    .await;

    // Every request went to the site's names on its domain, none to the defaults.
    let requested = b.requested(DOMAIN).await;
    for part in ["/m/site.js", "/m/v1/config/", "/m/banner.js", "/m/v1/consent", "/m/pixel/", "/m/v1/events"] {
        assert!(requested.iter().any(|u| u.contains(part)), "{part} not requested: {requested:#?}");
    }
    assert!(requested.iter().all(|u| u.starts_with(&base)), "all under {base}: {requested:#?}");
    assert_eq!(b.requested(&s.collector.url).await, Vec::<String>::new(), "nothing from the collector's plain address");
    let rows = s.ch.rows("SELECT host, consent_id FROM events WHERE event_type = 'page_view'").await;
    assert_eq!(rows[0]["host"], SHOP, "{rows:?}");
    assert!(!rows[0]["consent_id"].as_str().unwrap().is_empty(), "stored under the visitor's grant");
}
