//! Test harness for workspace-level tests: a database per test on the real
//! ClickHouse server that `cargo xtask test` starts (`KTRA_TEST_CLICKHOUSE_URL`),
//! the real collector served on `127.0.0.1:0`, and helpers to post events and
//! read rows back.
#![allow(missing_docs, clippy::unwrap_used, clippy::field_reassign_with_default)]

pub mod browser;
pub mod dashboard;
pub mod mmdb;
pub mod pages;
pub mod receiver;
pub mod server;
pub mod stack;
pub mod topology;

use ktra_collector::config::{Config, SiteConfig};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A realistic desktop browser user agent (not a bot).
pub const CHROME_UA: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
/// The admin key of test collectors.
pub const ADMIN_KEY: &str = "test-admin-key-0123456789abcdef-0123";
/// The origin test sites allow.
pub const SHOP_ORIGIN: &str = "http://shop.test";

/// The ClickHouse server the tests use.
pub fn clickhouse_url() -> String {
    std::env::var("KTRA_TEST_CLICKHOUSE_URL").unwrap_or_else(|_| {
        panic!("KTRA_TEST_CLICKHOUSE_URL is not set: run integration tests with `cargo xtask test`, which starts a private ClickHouse server")
    })
}

/// One test database on the shared server.
#[derive(Clone)]
pub struct Ch {
    pub url: String,
    pub db: String,
    /// The test's name, also its site id (metrics are per process, labelled by site).
    pub name: String,
    http: reqwest::Client,
}

impl Ch {
    /// Drops and creates database `ktra_t_<name>`.
    pub async fn fresh(name: &str) -> Self {
        let ch = Self {
            url: clickhouse_url(),
            db: format!("ktra_t_{name}"),
            name: name.to_string(),
            http: reqwest::Client::new(),
        };
        ch.exec_in("default", &format!("DROP DATABASE IF EXISTS {}", ch.db)).await.unwrap();
        ch
    }

    async fn exec_in(&self, db: &str, sql: &str) -> anyhow::Result<String> {
        let resp = self.http.post(format!("{}/?database={db}", self.url)).body(sql.to_string()).send().await?;
        let status = resp.status();
        let text = resp.text().await?;
        anyhow::ensure!(status.is_success(), "ClickHouse {status}: {text}\nSQL: {sql}");
        Ok(text)
    }

    /// Runs SQL in the test database and returns the raw answer.
    pub async fn exec(&self, sql: &str) -> anyhow::Result<String> {
        self.exec_in(&self.db, sql).await
    }

    /// Runs a SELECT and returns rows as JSON objects.
    pub async fn rows(&self, sql: &str) -> Vec<Value> {
        let text = self.exec(&format!("{sql} FORMAT JSONEachRow")).await.unwrap();
        text.lines().filter(|l| !l.is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    /// Inserts JSON objects into `table` (as an import would, not through the collector).
    pub async fn insert_json(&self, table: &str, rows: &[Value]) {
        if rows.is_empty() {
            return;
        }
        let body: Vec<String> = rows.iter().map(Value::to_string).collect();
        self.exec(&format!("INSERT INTO {table} FORMAT JSONEachRow\n{}\n", body.join("\n"))).await.unwrap();
    }

    /// Runs a `SELECT count()`-like query returning one number.
    pub async fn count(&self, sql: &str) -> u64 {
        self.exec(sql).await.unwrap().trim().parse().unwrap()
    }

    /// Polls `sql` until it returns `want` (or `timeout` passes); returns the last value.
    pub async fn wait_count(&self, sql: &str, want: u64, timeout: Duration) -> u64 {
        let until = Instant::now() + timeout;
        loop {
            let n = self.count(sql).await;
            if n == want || Instant::now() >= until {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A test site allowing [`SHOP_ORIGIN`].
pub fn site() -> SiteConfig {
    SiteConfig { origins: vec![SHOP_ORIGIN.into()], hosts: vec!["shop.example".into()], ..Default::default() }
}

/// A collector configuration for a test database: one site named after the
/// test (so per-site metrics are the test's own), short batches.
pub fn test_config(ch: &Ch) -> Config {
    let mut c = Config::default();
    c.listen = "127.0.0.1:0".parse().unwrap();
    c.secret = "test-secret-0123456789abcdef-0123456789abcdef".into();
    c.admin_key = ADMIN_KEY.into();
    c.clickhouse.url = ch.url.clone();
    c.clickhouse.database = ch.db.clone();
    c.clickhouse.batch_max_ms = 100;
    c.consent.revocation_refresh_secs = 1;
    // Erasures within seconds: applied every second, once no insert begun
    // before them can still land (insert timeout + two batch periods + 1 s).
    c.consent.erasure_interval_secs = 1;
    c.clickhouse.insert_timeout_ms = 5000;
    c.sites.insert(ch.name.clone(), site());
    c.spool.dir = fresh_dir(&format!("spool-{}", ch.name));
    c.spool.drain_secs = 5;
    // Every test client is 127.0.0.1; the rate-limit test turns this back on.
    c.limits.per_client_per_sec = 0.0;
    c
}

/// A GeoIP database of its own (tests run in parallel and must not rewrite
/// each other's file): 81.2.69.0/24 → GB/ENG/London, 203.0.113.0/24 →
/// DE/BE/Berlin; everything else unknown.
pub fn geo_db() -> std::path::PathBuf {
    let path = fresh_dir("geo").join("city.mmdb");
    std::fs::write(
        &path,
        mmdb::build(&[
            mmdb::Entry { net: "81.2.69.0".parse().unwrap(), prefix: 24, country: "GB", region: "ENG", city: "London" },
            mmdb::Entry {
                net: "203.0.113.0".parse().unwrap(),
                prefix: 24,
                country: "DE",
                region: "BE",
                city: "Berlin",
            },
        ]),
    )
    .unwrap();
    path
}

static DIRS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A new empty directory under the system temp dir.
pub fn fresh_dir(name: &str) -> std::path::PathBuf {
    let n = DIRS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let d = std::env::temp_dir().join(format!("ktra-test-{}-{n}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The collector running in this process on a loopback port.
pub struct TestCollector {
    pub url: String,
    /// The first configured site.
    pub site: String,
    pub config: Config,
    pub http: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<Result<(), ktra_collector::ServeError>>>,
}

impl TestCollector {
    /// Applies migrations, then serves `config` on 127.0.0.1:0.
    pub async fn start(config: Config) -> Self {
        ktra_collector::sink::migrate::run(&config.clickhouse).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let cfg = config.clone();
        let handle = tokio::spawn(ktra_collector::serve(cfg, listener, async move {
            let _ = rx.await;
        }));
        let site = config.sites.keys().next().cloned().unwrap_or_default();
        Self { url, site, config, http: reqwest::Client::new(), shutdown: Some(tx), handle: Some(handle) }
    }

    /// Stops it gracefully (flushes the writer).
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.unwrap().unwrap();
        }
    }

    /// Records a decision and returns the response JSON.
    pub async fn consent(&self, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/v1/consent", self.url))
            .header("content-type", "text/plain")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Grants analytics and marketing for `site`; returns the token.
    pub async fn grant(&self, site: &str) -> String {
        let (s, v) = self
            .consent(json!({"site": site, "action": "grant", "granted": ["analytics", "marketing"], "language": "en"}))
            .await;
        assert_eq!(s, 200, "{v}");
        v["token"].as_str().unwrap().to_string()
    }

    /// Posts a raw body to `/v1/events` with extra headers.
    pub async fn post_raw(
        &self,
        body: impl Into<reqwest::Body>,
        headers: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut req = self.http.post(format!("{}/v1/events", self.url));
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("user-agent")) {
            req = req.header("user-agent", CHROME_UA);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.body(body).send().await.unwrap();
        let status = r.status().as_u16();
        let h = r.headers().clone();
        (status, h, r.json().await.unwrap_or(Value::Null))
    }

    /// Posts a batch as `text/plain`, the way `sendBeacon` does.
    pub async fn post(&self, batch: &Value) -> (u16, Value) {
        let (s, _, v) = self.post_raw(batch.to_string(), &[("content-type", "text/plain;charset=UTF-8")]).await;
        (s, v)
    }

    /// A batch for this collector's site.
    pub fn batch(&self, token: &str, vid: &str, sid: &str, events: Vec<Value>) -> Value {
        batch_for(&self.site, token, vid, sid, events)
    }

    /// Grants both purposes for this collector's site.
    pub async fn grant_site(&self) -> String {
        self.grant(&self.site.clone()).await
    }

    /// `GET path` with the admin key; the answer must be 200 JSON.
    pub async fn admin_get(&self, path: &str) -> Value {
        let r = self.http.get(format!("{}{path}", self.url)).bearer_auth(&self.config.admin_key).send().await.unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// The Prometheus text.
    pub async fn metrics(&self) -> String {
        let r = self.http.get(format!("{}/metrics", self.url)).bearer_auth(&self.config.admin_key).send().await;
        r.unwrap().text().await.unwrap()
    }
}

/// Rows with numbers and strings alike as text, for comparing answers across
/// servers and paths (18.16 quotes 64-bit integers, the collector does not).
pub fn canon(rows: &[Value]) -> Vec<Vec<(String, String)>> {
    rows.iter()
        .map(|r| {
            r.as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
                .collect()
        })
        .collect()
}

/// The value of a metric series whose name and labels all appear in its line (0 if absent).
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter(|l| labels.iter().all(|(k, v)| l.contains(&format!("{k}=\"{v}\""))))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Current time in ms.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

static LAST_TS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// Event time: now, but strictly after the previous event's, as events a
/// visitor makes one after another are.
pub fn next_ts() -> i64 {
    let now = now_ms();
    let prev = LAST_TS.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
    if prev >= now {
        LAST_TS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1
    } else {
        now
    }
}

/// A new event of `kind` on `url` with the fields in `extra`.
pub fn event(kind: &str, url: &str, extra: Value) -> Value {
    let mut e = json!({"id": uuid::Uuid::new_v4().to_string(), "type": kind, "ts": next_ts(), "url": url});
    if let (Some(m), Value::Object(x)) = (e.as_object_mut(), extra) {
        m.extend(x);
    }
    e
}

/// A batch for `site`.
pub fn batch_for(site: &str, token: &str, vid: &str, sid: &str, events: Vec<Value>) -> Value {
    json!({"site": site, "consent": token, "vid": vid, "sid": sid, "events": events})
}

/// A number from JSONEachRow, where 18.16 quotes 64-bit integers.
pub fn num(v: &Value) -> f64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(f64::NAN),
        v => v.as_f64().unwrap_or(f64::NAN),
    }
}
