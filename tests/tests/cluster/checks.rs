//! What the cluster must show once the load is in: counts, replicas, the
//! same answers as one server, erasure on every node, shared REST hooks.
use ktra_tests::server::{CollectorProcess, PrivateClickHouse};
use ktra_tests::topology::{collector_config, count, migrate, sql, Topology, SITE, SITE_KEY};
use ktra_tests::{event, fresh_dir, ADMIN_KEY, CHROME_UA};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The data tables (each `T` over `T_local` on the cluster).
const TABLES: &[&str] = &[
    "events",
    "consent_log",
    "email_clicks",
    "email_opens",
    "lead_consent",
    "webhook_deliveries",
    "webhook_subscriptions",
];

/// A query answering one number, 0 while the server cannot answer.
async fn count_or_zero(url: &str, query: &str) -> u64 {
    sql(url, query).await.ok().and_then(|t| t.trim().parse().ok()).unwrap_or(0)
}

/// Polls until the Distributed `events` holds `want` distinct ids of the site.
pub async fn wait_stored(topo: &Topology, want: u64, timeout: Duration) -> u64 {
    let q = format!("SELECT uniqExact(event_id) FROM events WHERE site_id = '{SITE}'");
    let until = Instant::now() + timeout;
    loop {
        let n = count_or_zero(&topo.node_url(0), &q).await;
        if n >= want || Instant::now() > until {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// What is stored, read through the Distributed table with FINAL.
pub struct Tally {
    pub distinct: u64,
    pub final_rows: u64,
    /// Acknowledged but not stored.
    pub missing: usize,
    /// Stored but never sent.
    pub unknown: usize,
    /// Rows before FINAL folds the copies (replays, retries) away.
    pub physical: u64,
    /// `events_local FINAL` rows of the site on each node.
    pub per_node: Vec<u64>,
}

pub async fn tally(topo: &Topology, acked: &HashSet<String>, sent: &HashSet<String>) -> Tally {
    let text = sql(&topo.node_url(0), &format!("SELECT toString(event_id) FROM events FINAL WHERE site_id = '{SITE}'"))
        .await
        .unwrap();
    let rows: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    let stored: HashSet<String> = rows.iter().map(|s| s.to_string()).collect();
    let local = format!("SELECT count() FROM events_local FINAL WHERE site_id = '{SITE}'");
    let mut per_node = Vec::new();
    for i in 0..topo.cluster.nodes.len() {
        per_node.push(count(&topo.node_url(i), &local).await);
    }
    let physical = count(&topo.node_url(0), &format!("SELECT count() FROM events WHERE site_id = '{SITE}'")).await;
    Tally {
        physical,
        distinct: stored.len() as u64,
        final_rows: rows.len() as u64,
        missing: acked.difference(&stored).count(),
        unknown: stored.difference(sent).count(),
        per_node,
    }
}

/// Both replicas hold the same rows of every data table (waiting for
/// replication to catch up, up to 60 s).
pub async fn replicas_agree(topo: &Topology) {
    for t in TABLES {
        let q = match *t {
            "events" => "SELECT count(), sum(cityHash64(toString(event_id), session_id, url)) FROM events_local".into(),
            t => format!("SELECT count() FROM {t}_local"),
        };
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let a = sql(&topo.node_url(0), &q).await.unwrap();
            let b = sql(&topo.node_url(1), &q).await.unwrap();
            if a == b {
                break;
            }
            assert!(Instant::now() < until, "{t}_local differs between the replicas: {a:?} vs {b:?}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// A JSON answer with the rows of an array in a fixed order (rows tied in
/// an ORDER BY may come back in any order from either server).
fn canonical(v: Value) -> Value {
    match v {
        Value::Array(rows) => {
            let mut rows: Vec<Value> = rows.into_iter().map(canonical).collect();
            rows.sort_by_key(|r| r.to_string());
            Value::Array(rows)
        }
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (k, canonical(v))).collect()),
        v => v,
    }
}

/// What two answers' rows do not share (the rows of `rows` or the array itself), shortened.
fn difference(a: &Value, b: &Value) -> String {
    let rows = |v: &Value| -> Vec<String> {
        let list = v.get("rows").unwrap_or(v).as_array().cloned().unwrap_or_else(|| vec![v.clone()]);
        list.iter().map(Value::to_string).collect()
    };
    let (a, b) = (rows(a), rows(b));
    let only = |x: &[String], y: &[String]| -> String {
        let d: Vec<&str> = x.iter().filter(|r| !y.contains(r)).map(String::as_str).collect();
        format!(
            "{} rows, e.g. {}",
            d.len(),
            d.first().map(|r| r.chars().take(300).collect::<String>()).unwrap_or_default()
        )
    };
    format!("only on the cluster: {}; only on one server: {}", only(&a, &b), only(&b, &a))
}

async fn get_json(http: &reqwest::Client, url: &str) -> (u16, Value) {
    let r = http.get(url).bearer_auth(ADMIN_KEY).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Copies the cluster's rows into one fresh server and compares every
/// analyst query (run on both servers) and every dashboard endpoint (asked
/// of the balancer and of a collector on the lone server). Returns how many
/// answers were compared.
pub async fn same_answers_as_one_server(topo: &Topology) -> usize {
    let earlier = sessions_days_ago(topo).await;
    let single = tokio::task::block_in_place(|| PrivateClickHouse::start("cluster-single"));
    let config = collector_config(&fresh_dir("cluster-single"), &single.url(), "");
    tokio::task::block_in_place(|| migrate(&config));
    let tcp = topo.cluster.nodes[0].tcp_port;
    for t in TABLES {
        sql(&single.url(), &format!("INSERT INTO {t} SELECT * FROM remote('127.0.0.1:{tcp}', ktra, {t})"))
            .await
            .unwrap();
    }
    let copied = count(&single.url(), "SELECT count() FROM events").await;
    let on_cluster = count(&topo.node_url(0), "SELECT count() FROM events").await;
    assert_eq!(copied, on_cluster, "the lone server holds the cluster's rows");

    let (from, to) = (ktra_tests::now_ms() / 1000 - 86_400, ktra_tests::now_ms() / 1000 + 86_400);
    let mut compared = 0;
    // The library, as an analyst runs it.
    let params = std::collections::BTreeMap::from([
        ("site", ktra_schema::queries::Param::Str(SITE.into())),
        ("from", ktra_schema::queries::Param::Time(from as u32)),
        ("to", ktra_schema::queries::Param::Time(to as u32)),
    ]);
    let mut non_empty = 0;
    for q in ktra_schema::queries::QUERIES {
        let rendered = ktra_schema::queries::render(q.sql, &params).unwrap();
        let text = |url: String| {
            let rendered = rendered.clone();
            async move { sql(&url, &format!("{rendered} FORMAT JSONEachRow")).await.unwrap() }
        };
        let rows = |t: String| -> Value {
            canonical(Value::Array(
                t.lines().filter(|l| !l.is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect(),
            ))
        };
        let (cluster, one) = (rows(text(topo.node_url(0)).await), rows(text(single.url()).await));
        assert_eq!(cluster, one, "analyst query {} differs on the cluster", q.name);
        non_empty += usize::from(cluster.as_array().is_some_and(|a| !a.is_empty()));
        compared += 1;
    }
    assert!(non_empty >= 5, "the load reaches most queries ({non_empty} answered rows)");

    // The dashboard's endpoints, through the balancer and from a lone collector.
    let lone = tokio::task::block_in_place(|| CollectorProcess::start(&config, &[]));
    let http = reqwest::Client::new();
    let (_, sites) = get_json(&http, &format!("{}/v1/stats/sites", topo.url())).await;
    let names: Vec<String> =
        sites["queries"].as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_string()).collect();
    let mut paths = vec![
        "/v1/stats/sites".to_string(),
        format!("/v1/stats/live?site={SITE}&since={}", ktra_tests::now_ms() - 3_600_000),
    ];
    let range = format!("site={SITE}&from={from}&to={to}");
    for p in ["funnel?funnel=buy&", "funnel?funnel=buy&breakdown=channel&", "funnel?funnel=buy&breakdown=utm_campaign&"]
    {
        paths.push(format!("/v1/stats/{p}{range}"));
    }
    for p in ["goals", "traffic", "retention", "webhooks"] {
        paths.push(format!("/v1/stats/{p}?{range}"));
        paths.push(format!("/v1/stats/{p}?{range}&filter=utm_campaign:spring&compare=previous"));
    }
    paths.push(format!("/v1/stats/online?site={SITE}"));
    for n in &names {
        // Three days back: the sessions the collectors stored (`session_facts`).
        paths.push(format!("/v1/stats/{n}?site={SITE}&from={}&to={to}", earlier - 3600));
        paths.push(format!("/v1/stats/{n}?site={SITE}&from={from}&to={to}"));
        paths
            .push(format!("/v1/stats/{n}?site={SITE}&from={from}&to={to}&filter=utm_campaign:spring&compare=previous"));
    }
    for p in &paths {
        let (s1, cluster) = get_json(&http, &format!("{}{p}", topo.url())).await;
        let (s2, one) = get_json(&http, &format!("{}{p}", lone.url)).await;
        let (cluster, one) = (canonical(cluster), canonical(one));
        if (s1, &cluster) != (s2, &one) {
            panic!("{p} differs on the cluster: {s1} vs one server {s2}; {}", difference(&cluster, &one));
        }
        // A filter on a query that reads no events is refused, by both alike.
        assert!(s1 == 200 || p.contains("filter=") && s1 == 400, "{p}: {cluster}");
        compared += 1;
    }
    assert!(lone.terminate());
    compared
}

/// Writes 40 sessions of three days ago into the cluster (as an import
/// would), each with a landing and a later page view, and waits until the
/// collectors' background task has stored them (`session_facts`, whose
/// settled start hours only it writes). Returns their first start.
async fn sessions_days_ago(topo: &Topology) -> i64 {
    let t0 = ktra_tests::now_ms() / 1000 / 3600 * 3600 - 3 * 86_400;
    let channels = ["search", "email", "social", "paid"];
    let mut rows = Vec::new();
    for v in 0..40i64 {
        let at = t0 + v * 173;
        for (k, channel) in [(0, channels[(v % 4) as usize]), (1, "internal")] {
            rows.push(
                json!({"site_id": SITE, "event_id": format!("00000000-0000-4000-9000-{:012}", v * 2 + k),
                "event_type": "page_view", "ts": at + k * 600, "ts_ms": (at + k * 600) * 1000, "received_at": at,
                "visitor_id": format!("earlier-{v}"), "session_id": format!("earlier-s{v}"), "channel": channel,
                "utm_campaign": if v % 3 == 0 { "spring" } else { "" }, "path": format!("/e{k}")})
                .to_string(),
            );
        }
    }
    sql(&topo.node_url(0), &format!("INSERT INTO events FORMAT JSONEachRow\n{}\n", rows.join("\n"))).await.unwrap();
    let stored = format!(
        "SELECT count() FROM session_facts WHERE site_id = '{SITE}' AND session_id LIKE 'earlier-s%' \
         AND (hour, version) GLOBAL IN (SELECT hour, max(version) FROM session_facts WHERE site_id = '{SITE}' \
         AND session_id = '' GROUP BY hour)"
    );
    let until = Instant::now() + Duration::from_secs(90);
    while count_or_zero(&topo.node_url(0), &stored).await < 40 {
        assert!(Instant::now() < until, "the collectors stored the sessions of three days ago");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    t0
}

/// Session ids of the site that the events' sharding key puts on shard 1 and on shard 2.
async fn sessions_on_both_shards(topo: &Topology) -> [String; 2] {
    let q = format!(
        "SELECT s, cityHash64('{SITE}', s) % 2 AS slot FROM (SELECT arrayJoin(['e0','e1','e2','e3','e4','e5','e6','e7','e8','e9']) AS s) FORMAT TSV"
    );
    let text = sql(&topo.node_url(0), &q).await.unwrap();
    let pick = |slot: &str| {
        text.lines().find_map(|l| l.split_once('\t').filter(|(_, s)| *s == slot).map(|(sid, _)| sid.to_string()))
    };
    [pick("0").unwrap(), pick("1").unwrap()]
}

/// A visitor with a session on each shard is erased through the balancer;
/// afterwards no node's `_local` tables hold their rows, and nobody else's
/// rows are gone.
pub async fn erasure_reaches_every_node(topo: &Topology) -> String {
    let vid = "erase-me";
    let client = super::load::Client::new(&topo.url()).await;
    let stop = std::sync::atomic::AtomicBool::new(false);
    for sid in sessions_on_both_shards(topo).await {
        let events: Vec<Value> =
            (0..3).map(|i| event("page_view", &format!("https://shop.example/erase/{i}"), json!({}))).collect();
        let body = json!({"site": SITE, "consent": client.token, "vid": vid, "sid": sid, "events": events});
        assert!(client.send(&body, &stop).await);
    }
    let others_q = format!("SELECT count() FROM events FINAL WHERE site_id = '{SITE}' AND visitor_id != '{vid}'");
    let others = count(&topo.node_url(0), &others_q).await;
    let local_q = format!("SELECT count() FROM events_local WHERE visitor_id = '{vid}'");
    let until = Instant::now() + Duration::from_secs(30);
    let mut before = Vec::new();
    loop {
        before.clear();
        for i in 0..2 {
            before.push(count_or_zero(&topo.node_url(i), &local_q).await);
        }
        let placed = match topo.cluster.layout {
            ktra_harness::Layout::TwoShards => before.iter().all(|&n| n > 0) && before.iter().sum::<u64>() == 6,
            ktra_harness::Layout::TwoReplicas => before.iter().all(|&n| n == 6),
        };
        if placed {
            break;
        }
        assert!(Instant::now() < until, "the visitor's 6 events did not reach the nodes: {before:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let r = reqwest::Client::new()
        .delete(format!("{}/v1/admin/visitors/{SITE}/{vid}", topo.url()))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["events"], 6, "{answer}");
    let consent_q = format!("SELECT count() FROM consent_log_local WHERE visitor_id = '{vid}'");
    let until = Instant::now() + Duration::from_secs(60);
    let mut after = vec![u64::MAX; 2];
    while after.iter().any(|&n| n > 0) && Instant::now() < until {
        for (i, a) in after.iter_mut().enumerate() {
            *a = count_or_zero(&topo.node_url(i), &local_q).await + count_or_zero(&topo.node_url(i), &consent_q).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(after, vec![0, 0], "events_local and consent_log_local of every node are erased");
    assert_eq!(count(&topo.node_url(0), &others_q).await, others, "nobody else's rows are erased");
    format!("visitor with rows {before:?} per node (events_local) erased through the balancer: {after:?} left, {others} other events kept")
}

/// A delivery the receiver got.
#[derive(Debug, Clone)]
struct Delivery {
    id: String,
    event_id: String,
}

/// An HTTP endpoint recording webhook deliveries.
async fn receiver() -> (String, Arc<Mutex<Vec<Delivery>>>) {
    let got: Arc<Mutex<Vec<Delivery>>> = Arc::default();
    let g = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let g = g.clone();
            async move {
                let v: Value = serde_json::from_str(&body).unwrap_or_default();
                let id = headers.get("webhook-id").and_then(|h| h.to_str().ok()).unwrap_or("").to_string();
                let event_id = v["data"]["event_id"].as_str().unwrap_or("").to_string();
                g.lock().unwrap().push(Delivery { id, event_id });
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

/// A REST hook made through collector 1 is listed by collector 2 and
/// delivered by both, each event once, and both deliveries are in the one
/// `webhook_deliveries` table every node reads.
pub async fn hooks_are_shared(topo: &Topology) -> String {
    let (target, got) = receiver().await;
    let http = reqwest::Client::new();
    let (c1, c2) = (&topo.collectors[0].url, &topo.collectors[1].url);
    let r = http
        .post(format!("{c1}/v1/hooks"))
        .bearer_auth(SITE_KEY)
        .json(&json!({"site": SITE, "target_url": target, "trigger": "page_visit", "filter": {"path": "/hooked*"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let list: Value = http
            .get(format!("{c2}/v1/hooks?site={SITE}"))
            .bearer_auth(SITE_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if list.as_array().is_some_and(|l| l.iter().any(|h| h["id"] == id.as_str())) {
            break;
        }
        assert!(Instant::now() < until, "collector 2 does not list the hook made through collector 1: {list}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // An identified visitor's page views reach one collector each.
    let token = super::load::Client::new(c1).await.token;
    let mut views = Vec::new();
    for (i, c) in [c1, c2].into_iter().enumerate() {
        let ident = event("identify", "https://shop.example/signup", json!({"lead_id": "lead-hook"}));
        let view = event("page_view", &format!("https://shop.example/hooked/{i}"), json!({}));
        views.push(view["id"].as_str().unwrap().to_string());
        let body = json!({"site": SITE, "consent": token, "vid": "hook-visitor", "sid": "hook-session", "events": [ident, view]});
        let r = http
            .post(format!("{c}/v1/events"))
            .header("user-agent", CHROME_UA)
            .header("content-type", "text/plain;charset=UTF-8")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }
    let until = Instant::now() + Duration::from_secs(30);
    while got.lock().unwrap().len() < 2 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A second delivery of either would come within the batch period; give it time.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = got.lock().unwrap().clone();
    let mut delivered: Vec<String> = got.iter().map(|d| d.event_id.clone()).collect();
    delivered.sort();
    views.sort();
    assert_eq!(delivered, views, "each page view delivered once, by the collector that took it: {got:?}");
    let ids: HashSet<&str> = got.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids.len(), 2, "two deliveries, two webhook-ids");
    let q = format!("SELECT count(DISTINCT event_id) FROM webhook_deliveries WHERE site_id = '{SITE}'");
    let mut seen = Vec::new();
    for i in 0..2 {
        let until = Instant::now() + Duration::from_secs(20);
        let mut n = 0;
        while n < 2 && Instant::now() < until {
            n = count_or_zero(&topo.node_url(i), &q).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        seen.push(n);
    }
    assert_eq!(seen, vec![2, 2], "both collectors' deliveries are read from every node");
    format!("hook {id} made through collector 1, listed by collector 2; 2 page views (one per collector) delivered once each; webhook_deliveries read from each node: {seen:?}")
}

/// A funnel saved through collector 1 answers on collector 2 (its rows are
/// on one shard, or on both replicas), a change made on collector 2 reaches
/// collector 1, and a deletion there is seen by both.
pub async fn saved_funnels_are_shared(topo: &Topology) -> String {
    let http = reqwest::Client::new();
    let (c1, c2) = (&topo.collectors[0].url, &topo.collectors[1].url);
    let path = format!("/v1/admin/funnels/{SITE}/from_dashboard");
    let save = |url: String, order: &'static str| {
        let http = http.clone();
        async move {
            let body = json!({"steps": [{"path": "/landing*"}, {"event": "purchase"}], "window": "1d", "order": order});
            http.put(url).bearer_auth(ADMIN_KEY).json(&body).send().await.unwrap().status().as_u16()
        }
    };
    let order_on = |url: String| {
        let http = http.clone();
        async move {
            let now = ktra_tests::now_ms() / 1000;
            let q = format!("{url}/v1/stats/funnel?site={SITE}&funnel=from_dashboard&from={}&to={now}", now - 86_400);
            let r = http.get(q).bearer_auth(ADMIN_KEY).send().await.unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            (status, body["order"].as_str().unwrap_or("").to_string())
        }
    };
    let wait = |url: String, want: (u16, &'static str), what: &'static str| async move {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let got = order_on(url.clone()).await;
            if (got.0, got.1.as_str()) == want {
                return;
            }
            assert!(Instant::now() < until, "{what}: {got:?}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    };
    assert_eq!(save(format!("{c1}{path}"), "strict").await, 201);
    wait(c2.clone(), (200, "strict"), "collector 2 answers the funnel saved through collector 1").await;
    assert_eq!(save(format!("{c2}{path}"), "any").await, 200);
    wait(c1.clone(), (200, "any"), "collector 1 answers the change made through collector 2").await;
    let r = http.delete(format!("{c2}{path}")).bearer_auth(ADMIN_KEY).send().await.unwrap();
    assert_eq!(r.status(), 204);
    wait(c1.clone(), (404, ""), "collector 1 forgets the funnel deleted through collector 2").await;
    "saved through collector 1, changed through collector 2, deleted: each seen by the other".into()
}
