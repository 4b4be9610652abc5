//! TLS termination for tracking domains: two domains on one collector, each
//! answered with its own certificate chosen by SNI, an unknown name refused,
//! a certificate rotated on disk picked up without a restart (a broken file
//! keeps the old one), and the plain listener redirecting to https. The test
//! makes its own CAs and certificates with `rcgen`; clients trust only the
//! test CA and verify host names, so a wrong certificate fails the request.
#![allow(clippy::unwrap_used, missing_docs)]

use ktra_collector::tls::CertConfig;
use ktra_tests::browser;
use ktra_tests::*;
use rcgen::{BasicConstraints, Certificate, CertificateParams, IsCa, KeyPair};
use serde_json::json;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

const A: &str = "t.shop-a.test";
const B: &str = "t.shop-b.test";

struct Ca {
    cert: Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        Self { cert: params.self_signed(&key).unwrap(), key }
    }

    /// A leaf for `domain`, written as PEM to `dir/<domain>.crt` and `.key`.
    fn issue(&self, domain: &str, dir: &Path) -> CertConfig {
        let key = KeyPair::generate().unwrap();
        let cert =
            CertificateParams::new(vec![domain.to_string()]).unwrap().signed_by(&key, &self.cert, &self.key).unwrap();
        let c = CertConfig {
            domain: domain.into(),
            cert: dir.join(format!("{domain}.crt")),
            key: dir.join(format!("{domain}.key")),
        };
        write_atomically(&c.cert, &cert.pem());
        write_atomically(&c.key, &key.serialize_pem());
        c
    }

    fn root(&self) -> reqwest::Certificate {
        reqwest::Certificate::from_pem(self.cert.pem().as_bytes()).unwrap()
    }
}

/// As certbot and friends do: a new file renamed over the old one.
fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// Waits until the TLS listener (started by `serve` after the plain one) accepts.
async fn wait_listening(tls: SocketAddr) {
    let until = Instant::now() + Duration::from_secs(15);
    while tokio::net::TcpStream::connect(tls).await.is_err() {
        assert!(Instant::now() < until, "the TLS listener never opened");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A client trusting only `ca`, resolving the test domains to `tls`, one connection per request.
fn client(ca: &Ca, tls: SocketAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca.root())
        .resolve(A, tls)
        .resolve(B, tls)
        .resolve("t.unknown.test", tls)
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// `GET /healthz` on `domain` by a new client trusting only `ca` (no TLS
/// session to resume: every call verifies the certificate served now).
async fn healthz(ca: &Ca, domain: &str, tls: SocketAddr) -> Result<u16, String> {
    let r = client(ca, tls).get(format!("https://{domain}:{}/healthz", tls.port())).send().await;
    r.map(|r| r.status().as_u16()).map_err(|e| format!("{e:?}"))
}

#[tokio::test]
async fn two_domains_sni_picks_each_certificate_and_a_rotation_needs_no_restart() {
    let ch = Ch::fresh("tls_sni").await;
    let dir = fresh_dir("tls-certs");
    let ca = Ca::new("ktra test CA");
    let mut cfg = test_config(&ch);
    let tls = free_addr();
    cfg.tls.listen = Some(tls);
    cfg.tls.reload_secs = 1;
    cfg.tls.certs = vec![ca.issue(A, &dir), ca.issue(B, &dir)];
    let c = TestCollector::start(cfg).await;
    wait_listening(tls).await;

    // Each name gets its own certificate (host names are verified), an unknown one none.
    let ready = Instant::now() + Duration::from_secs(10);
    while healthz(&ca, A, tls).await.is_err() && Instant::now() < ready {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(healthz(&ca, A, tls).await, Ok(200));
    assert_eq!(healthz(&ca, B, tls).await, Ok(200));
    assert!(healthz(&ca, "t.unknown.test", tls).await.is_err(), "no certificate for a name not configured");

    // The collector's API over TLS on a tracking domain.
    let r = client(&ca, tls)
        .post(format!("https://{A}:{}/v1/consent", tls.port()))
        .header("content-type", "text/plain")
        .body(json!({"site": c.site, "action": "grant", "granted": ["analytics", "marketing"]}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Rotation: A's files replaced by a certificate of another CA.
    let ca2 = Ca::new("ktra test CA 2");
    assert!(healthz(&ca2, A, tls).await.is_err(), "before the rotation");
    ca2.issue(A, &dir);
    let until = Instant::now() + Duration::from_secs(15);
    while healthz(&ca2, A, tls).await != Ok(200) {
        assert!(Instant::now() < until, "the rotated certificate was never served");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(healthz(&ca, A, tls).await.is_err(), "the old certificate is gone");
    assert_eq!(healthz(&ca, B, tls).await, Ok(200), "B is untouched");

    // A broken key file keeps the certificate in force.
    write_atomically(
        &dir.join(format!("{B}.key")),
        "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n",
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(healthz(&ca, B, tls).await, Ok(200), "a broken file does not take B down");
    c.stop().await;
}

#[tokio::test]
async fn the_plain_listener_redirects_to_https_and_answers_probes() {
    let ch = Ch::fresh("tls_redirect").await;
    let dir = fresh_dir("tls-redirect");
    let ca = Ca::new("ktra test CA");
    let mut cfg = test_config(&ch);
    let tls = free_addr();
    cfg.tls.listen = Some(tls);
    cfg.tls.redirect_http = true;
    cfg.tls.certs = vec![ca.issue(A, &dir)];
    let c = TestCollector::start(cfg).await;
    wait_listening(tls).await;
    let plain = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = plain.get(format!("{}/ktra.js?v=1", c.url)).header("host", A).send().await.unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(r.headers()["location"], format!("https://{A}:{}/ktra.js?v=1", tls.port()).as_str());
    let r =
        plain.post(format!("{}/v1/events", c.url)).header("host", "evil.example/x").body("{}").send().await.unwrap();
    assert_eq!(r.status(), 400, "no redirect to a host that is not one");
    assert_eq!(plain.get(format!("{}/healthz", c.url)).send().await.unwrap().status(), 200, "probes stay on http");
    c.stop().await;
}

/// A site on its tracking domain under its own names: the loader as
/// `/m/site.js`, every endpoint under `/m`, signed email links there, and the
/// server-set `ktra_vid` for the parent domain after a grant, expired by a withdrawal.
#[tokio::test]
async fn a_tracking_domain_serves_the_site_under_its_names_and_sets_the_visitor_cookie() {
    let ch = Ch::fresh("tls_tracking").await;
    let dir = fresh_dir("tls-tracking");
    let ca = Ca::new("ktra test CA");
    let mut cfg = test_config(&ch);
    let tls = free_addr();
    cfg.tls.listen = Some(tls);
    cfg.tls.certs = vec![ca.issue(A, &dir)];
    cfg.assets_dir = Some(browser::web_dir());
    let site = cfg.sites.get_mut(&ch.name).unwrap();
    site.tracking_domain = A.into();
    site.path_prefix = "/m".into();
    site.script_name = "site.js".into();
    site.server_cookie = true;
    site.hosts = vec!["shop-a.test".into()];
    let c = TestCollector::start(cfg).await;
    wait_listening(tls).await;
    let https = client(&ca, tls);
    let base = format!("https://{A}:{}/m", tls.port());

    let r = https.get(format!("{base}/site.js")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().contains("javascript"));
    assert!(r.text().await.unwrap().contains("/v1/config/"), "the loader, under the site's name");
    let r = https.get(format!("{base}/v1/config/{}", c.site)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(https.get(format!("{base}/other.js")).send().await.unwrap().status(), 404);

    let consent = |body: serde_json::Value| {
        https.post(format!("{base}/v1/consent")).header("content-type", "text/plain").body(body.to_string()).send()
    };
    let r = consent(json!({"site": c.site, "action": "grant", "granted": ["analytics", "marketing"]})).await.unwrap();
    assert_eq!(r.status(), 200);
    let granted: serde_json::Value = r.json().await.unwrap();
    let token = granted["token"].as_str().unwrap().to_string();
    let batch = c.batch(&token, "vis_cookie", "ses_c", vec![event("page_view", "https://shop-a.test/", json!({}))]);
    let r = https
        .post(format!("{base}/v1/events"))
        .header("content-type", "text/plain")
        .header("user-agent", CHROME_UA)
        .body(batch.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(set.starts_with("ktra_vid=vis_cookie."), "{set}");
    for part in ["Domain=shop-a.test", "Path=/", "Secure", "SameSite=Lax"] {
        assert!(set.contains(part), "{part} in {set}");
    }
    let max_age: u64 = set.split("Max-Age=").nth(1).unwrap().split(';').next().unwrap().parse().unwrap();
    assert!(max_age <= granted["max_age"].as_u64().unwrap() && max_age > 0, "never past the consent: {set}");
    // Without a valid grant: no cookie.
    let r = https
        .post(format!("{base}/v1/events"))
        .header("content-type", "text/plain")
        .body(c.batch("forged", "vis_x", "s", vec![event("page_view", "https://shop-a.test/", json!({}))]).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("set-cookie").is_none());

    let r = consent(json!({"site": c.site, "action": "withdraw", "previous": token})).await.unwrap();
    assert_eq!(r.status(), 200);
    let set = r.headers()["set-cookie"].to_str().unwrap();
    assert!(set.starts_with("ktra_vid=;") && set.contains("Max-Age=0") && set.contains("Domain=shop-a.test"), "{set}");

    // Signed email links point to the tracking domain, and work there.
    let r = c
        .http
        .post(format!("{}/v1/admin/links", c.url))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"site": c.site, "lead": "lead-1", "message": "m1", "url": "https://shop-a.test/offer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let links: serde_json::Value = r.json().await.unwrap();
    let click = links["click_url"].as_str().unwrap();
    assert!(click.starts_with(&format!("https://{A}/m/c/")), "{links}");
    let r = https
        .get(click.replace(&format!("https://{A}/"), &format!("https://{A}:{}/", tls.port())))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert!(r.headers()["location"].to_str().unwrap().starts_with("https://shop-a.test/offer?ktra_ec="));
    c.stop().await;
}

/// nginx (Debian's) started by a test and stopped when it ends.
struct Nginx(std::process::Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The reverse-proxy recipe (`docs/nginx/ktra-tracking-domain.conf`) run as
/// written, only its addresses, names and certificate paths replaced, in
/// front of a collector trusting one proxy.
#[tokio::test]
async fn the_nginx_recipe_in_front_of_the_collector() {
    let nginx_bin = ["/usr/sbin/nginx", "/usr/bin/nginx"].into_iter().find(|p| Path::new(p).exists());
    let nginx_bin = nginx_bin.expect("nginx is not installed: `cargo xtask setup` installs Debian's");
    let ch = Ch::fresh("tls_nginx").await;
    let dir = fresh_dir("nginx");
    let ca = Ca::new("ktra test CA");
    let cert = ca.issue(A, &dir);
    // The made-up GeoIP database: loopback is California, 203.0.113.0/24 Germany.
    let geo = dir.join("geo.mmdb");
    let e = |net: &str, prefix, country, region| mmdb::Entry {
        net: net.parse().unwrap(),
        prefix,
        country,
        region,
        city: "",
    };
    std::fs::write(&geo, mmdb::build(&[e("127.0.0.0", 8, "US", "CA"), e("203.0.113.0", 24, "DE", "BE")])).unwrap();
    let mut cfg = test_config(&ch);
    cfg.trust_proxy = true;
    cfg.trusted_proxies = 1;
    cfg.geoip.path = Some(geo);
    cfg.assets_dir = Some(browser::web_dir());
    let site = cfg.sites.get_mut(&ch.name).unwrap();
    site.tracking_domain = A.into();
    site.path_prefix = "/m".into();
    site.script_name = "site.js".into();
    site.server_cookie = true;
    site.regions = ktra_collector::regions::Regions(
        [("US-CA".to_string(), ktra_schema::consent::ConsentModel::OptOut)].into_iter().collect(),
    );
    let c = TestCollector::start(cfg).await;
    let upstream = c.url.trim_start_matches("http://").to_string();

    let (https, http) = (free_addr(), free_addr());
    let recipe =
        std::fs::read_to_string(format!("{}/../docs/nginx/ktra-tracking-domain.conf", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
            .replace("server 127.0.0.1:8080;", &format!("server {upstream};"))
            .replace("listen 443 ssl;", &format!("listen {https} ssl;"))
            .replace("listen 80;", &format!("listen {http};"))
            .replace("t.shop.example;", &format!("{A};"))
            .replace("/etc/letsencrypt/live/t.shop.example/fullchain.pem", cert.cert.to_str().unwrap())
            .replace("/etc/letsencrypt/live/t.shop.example/privkey.pem", cert.key.to_str().unwrap());
    let directives: Vec<&str> = recipe.lines().filter(|l| !l.trim_start().starts_with('#')).collect();
    assert!(
        directives.iter().all(|l| !l.contains("t.shop.example") && !l.contains(":8080")),
        "every placeholder replaced"
    );
    std::fs::write(dir.join("ktra.conf"), recipe).unwrap();
    let d = dir.display();
    std::fs::write(
        dir.join("nginx.conf"),
        format!(
            "user root; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{ access_log off; client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
               include {d}/ktra.conf; }}\n"
        ),
    )
    .unwrap();
    let _nginx = Nginx(
        std::process::Command::new(nginx_bin)
            .args(["-p", &d.to_string(), "-c", &format!("{d}/nginx.conf"), "-g", "daemon off; master_process off;"])
            .spawn()
            .unwrap(),
    );
    wait_listening(https).await;

    let proxied = client(&ca, https);
    let base = format!("https://{A}:{}/m", https.port());
    let r = proxied.get(format!("{base}/site.js")).send().await.unwrap();
    assert_eq!(r.status(), 200, "the loader under the site's name, through nginx");
    // The visitor's address is nginx's view of it, not what the client claims.
    let v: serde_json::Value = proxied
        .get(format!("{base}/v1/config/{}", c.site))
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((v["region"].as_str(), v["model"].as_str()), (Some("US-CA"), Some("opt_out")), "{v}");
    let r = proxied
        .post(format!("{base}/v1/consent"))
        .header("content-type", "text/plain")
        .body(json!({"site": c.site, "action": "grant", "granted": ["analytics", "marketing"]}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let token = r.json::<serde_json::Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    let batch = c.batch(&token, "vis_nginx", "ses_n", vec![event("page_view", "https://shop-a.test/", json!({}))]);
    let r = proxied
        .post(format!("{base}/v1/events"))
        .header("content-type", "text/plain")
        .header("user-agent", CHROME_UA)
        .body(batch.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert!(r.headers()["set-cookie"].to_str().unwrap().starts_with("ktra_vid=vis_nginx."));
    assert_eq!(ch.wait_count("SELECT count() FROM events", 1, Duration::from_secs(20)).await, 1);
    // Plain http on the tracking domain goes to https.
    let plain = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = plain.get(format!("http://{http}/m/site.js")).header("host", A).send().await.unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(r.headers()["location"], format!("https://{A}/m/site.js").as_str());
    c.stop().await;
}
