//! The load of known event ids sent through the balancer, and the faults
//! made while it runs.
use ktra_tests::topology::{sql, SITE};
use ktra_tests::{event, ADMIN_KEY, CHROME_UA};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// Scroll depths the pixel reports.
const DEPTHS: [u8; 5] = [25, 50, 75, 90, 100];
/// How long a client keeps retrying one batch after the load stopped.
const RETRY_FOR: Duration = Duration::from_secs(60);

/// Clients sending batches of known ids until stopped.
pub struct Load {
    sent: Arc<Mutex<HashSet<String>>>,
    acked: Arc<Mutex<HashSet<String>>>,
    replays: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Load {
    /// Starts `clients` visitors, each granting consent and then sending a
    /// batch of five events every 100 ms through `url`.
    pub async fn start(url: &str, clients: usize) -> Self {
        let load = Load {
            sent: Arc::default(),
            acked: Arc::default(),
            replays: Arc::default(),
            stop: Arc::default(),
            tasks: Mutex::default(),
        };
        for k in 0..clients {
            let client = Client::new(url).await;
            let (sent, acked, replays, stop) =
                (load.sent.clone(), load.acked.clone(), load.replays.clone(), load.stop.clone());
            let task = tokio::spawn(async move {
                let mut n = 0usize;
                while !stop.load(Ordering::SeqCst) {
                    // A new session every 8 batches: sessions spread over the shards.
                    let (vid, sid) = (format!("v{k}"), format!("s{k}-{}", n / 8));
                    let events = batch_events(k, n);
                    let ids: Vec<String> = events.iter().map(|e| e["id"].as_str().unwrap().to_string()).collect();
                    let body = json!({"site": SITE, "consent": client.token, "vid": vid, "sid": sid, "events": events});
                    sent.lock().unwrap().extend(ids.iter().cloned());
                    if client.send(&body, &stop).await {
                        acked.lock().unwrap().extend(ids);
                        // Every fifth batch is replayed, as a page that lost the answer would.
                        if n % 5 == 4 && client.send(&body, &stop).await {
                            replays.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    n += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            });
            load.tasks.lock().unwrap().push(task);
        }
        load
    }

    /// Events acknowledged so far.
    pub fn acked_count(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    /// The acknowledged event ids.
    pub fn acked(&self) -> HashSet<String> {
        self.acked.lock().unwrap().clone()
    }

    /// Batches sent twice.
    pub fn replays(&self) -> usize {
        self.replays.load(Ordering::SeqCst)
    }

    /// Stops the clients (each finishes its batch) and returns every id sent.
    pub async fn finish(&self) -> HashSet<String> {
        self.stop.store(true, Ordering::SeqCst);
        let tasks: Vec<_> = self.tasks.lock().unwrap().drain(..).collect();
        for t in tasks {
            t.await.unwrap();
        }
        self.sent.lock().unwrap().clone()
    }
}

/// Batch `n` of client `k`: a landing page view with campaign parameters
/// opening each session, then pages, scrolls, engagement, a form and a
/// purchase (revenue in binary-exact amounts, so sums agree in any order).
fn batch_events(k: usize, n: usize) -> Vec<Value> {
    let base = "https://shop.example";
    let mut events = Vec::with_capacity(5);
    if n.is_multiple_of(8) {
        let campaign = ["spring", "summer", "autumn"][k % 3];
        let land = format!("{base}/landing?utm_source=news&utm_medium=email&utm_campaign={campaign}");
        events.push(event("page_view", &land, json!({"referrer": "https://www.google.com/"})));
    } else {
        events.push(event("page_view", &format!("{base}/p{}", n % 7), json!({"referrer": format!("{base}/")})));
    }
    events.push(event("scroll", &format!("{base}/p{}", n % 7), json!({"depth": DEPTHS[n % 5]})));
    events.push(event("engagement", &format!("{base}/p{}", n % 7), json!({"engaged_ms": 1000 + 250 * (n % 9)})));
    if n % 4 == 1 {
        events.push(event("form_submit", &format!("{base}/signup"), json!({"form_id": "lead-form"})));
    }
    if n % 8 == 5 {
        let order = json!({"order_id": format!("o-{k}-{n}"), "value": 12.5 + (n % 3) as f64, "currency": "EUR"});
        events.push(event("purchase", &format!("{base}/thanks"), order));
    }
    events
}

/// One visitor with its consent token.
pub struct Client {
    http: reqwest::Client,
    url: String,
    pub token: String,
}

impl Client {
    /// Grants analytics and marketing through `url` (retrying while the balancer warms up).
    pub async fn new(url: &str) -> Self {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
        let body = json!({"site": SITE, "action": "grant", "granted": ["analytics", "marketing"], "language": "en"});
        for _ in 0..50 {
            if let Ok(r) = http.post(format!("{url}/v1/consent")).body(body.to_string()).send().await {
                if r.status() == 200 {
                    let v: Value = r.json().await.unwrap();
                    let token = v["token"].as_str().unwrap().to_string();
                    return Self { http, url: url.to_string(), token };
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("no consent token from {url}");
    }

    /// Posts `body` until a 202 (retries carry the same ids, as the pixel's do);
    /// gives up `RETRY_FOR` after the load was stopped.
    pub async fn send(&self, body: &Value, stop: &AtomicBool) -> bool {
        let mut until: Option<Instant> = None;
        loop {
            let r = self
                .http
                .post(format!("{}/v1/events", self.url))
                .header("user-agent", CHROME_UA)
                .header("content-type", "text/plain;charset=UTF-8")
                .body(body.to_string())
                .send()
                .await;
            if matches!(&r, Ok(r) if r.status() == 202) {
                return true;
            }
            if stop.load(Ordering::SeqCst) {
                let deadline = *until.get_or_insert_with(|| Instant::now() + RETRY_FOR);
                if Instant::now() > deadline {
                    return false;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// What the faults showed.
#[derive(Debug, Default)]
pub struct Faults {
    /// Events acknowledged while server 2 was down.
    pub node_down_acked: usize,
    /// How long it was down.
    pub node_down_secs: f64,
    /// Events acknowledged while ZooKeeper was down.
    pub zookeeper_down_acked: usize,
    /// How long it was down.
    pub zookeeper_down_secs: f64,
    /// Whether node 1 reported its replicated tables read-only meanwhile.
    pub readonly_seen: bool,
    /// The most rows each collector's spool held, as `/readyz` reported.
    pub max_spool_records: [u64; 2],
}

impl std::fmt::Display for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "server 2 SIGKILLed for {:.1} s: {} events acknowledged meanwhile; ZooKeeper stopped for {:.1} s: \
             {} events acknowledged meanwhile, replicated tables read-only: {}; spool peaks (records) {:?}",
            self.node_down_secs,
            self.node_down_acked,
            self.zookeeper_down_secs,
            self.zookeeper_down_acked,
            self.readonly_seen,
            self.max_spool_records
        )
    }
}

/// Spool records of each collector (`/readyz` with the admin key).
async fn spool_records(topo: &ktra_tests::topology::Topology) -> [u64; 2] {
    let http = reqwest::Client::new();
    let mut out = [0; 2];
    for (i, c) in topo.collectors.iter().enumerate() {
        let r = http.get(format!("{}/readyz", c.url)).bearer_auth(ADMIN_KEY).send().await;
        if let Ok(r) = r {
            let v: Value = r.json().await.unwrap_or_default();
            out[i] = v["spool_records"].as_u64().unwrap_or(0);
        }
    }
    out
}

/// Watches the spools for `secs`, keeping each collector's peak.
async fn watch(topo: &ktra_tests::topology::Topology, secs: u64, peak: &mut [u64; 2]) {
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        let now = spool_records(topo).await;
        for i in 0..2 {
            peak[i] = peak[i].max(now[i]);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Under the running load: server 2 SIGKILLed for 8 s, then ZooKeeper
/// stopped for 10 s, each brought back; returns what was seen.
pub async fn faults(topo: &mut ktra_tests::topology::Topology, load: &Load) -> Faults {
    let mut f = Faults::default();
    let mut peak = [0u64; 2];
    tokio::time::sleep(Duration::from_secs(4)).await;

    let before = load.acked_count();
    let down = Instant::now();
    tokio::task::block_in_place(|| topo.cluster.nodes[1].kill());
    watch(topo, 8, &mut peak).await;
    f.node_down_acked = load.acked_count() - before;
    tokio::task::block_in_place(|| topo.cluster.nodes[1].restart()).unwrap();
    f.node_down_secs = down.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(3)).await;

    let before = load.acked_count();
    let down = Instant::now();
    tokio::task::block_in_place(|| topo.cluster.zookeeper.stop());
    let node1 = topo.node_url(0);
    let readonly_sql = "SELECT max(is_readonly) FROM system.replicas WHERE database = 'ktra'";
    let until = Instant::now() + Duration::from_secs(20);
    while !f.readonly_seen && Instant::now() < until {
        f.readonly_seen = sql(&node1, readonly_sql).await.is_ok_and(|t| t.trim() == "1");
        watch(topo, 1, &mut peak).await;
    }
    let rest = Duration::from_secs(10).saturating_sub(down.elapsed()).as_secs();
    watch(topo, rest, &mut peak).await;
    f.zookeeper_down_acked = load.acked_count() - before;
    tokio::task::block_in_place(|| topo.cluster.zookeeper.restart()).unwrap();
    f.zookeeper_down_secs = down.elapsed().as_secs_f64();
    watch(topo, 3, &mut peak).await;
    f.max_spool_records = peak;
    f
}
