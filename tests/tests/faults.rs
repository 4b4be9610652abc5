//! Fault tests on loopback with real processes: ClickHouse stopped mid-run,
//! the collector SIGKILLed and SIGTERMed under load, the spool filling up,
//! and a poison row in the spool. Every loop is bounded in count and time.
//! Each test prints its numbers (sent, acknowledged, stored, duplicates).
#![allow(clippy::unwrap_used, missing_docs)]

use ktra_tests::server::{CollectorProcess, PrivateClickHouse};
use ktra_tests::*;
use serde_json::json;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SITE: &str = "faults";

fn write_config(dir: &std::path::Path, ch_url: &str, spool_max: u64) -> std::path::PathBuf {
    let p = dir.join("ktra.toml");
    std::fs::write(
        &p,
        format!(
            r#"listen = "127.0.0.1:0"
secret = "fault-test-secret-0123456789abcdef-0123456789"
admin_key = "{ADMIN_KEY}"
[clickhouse]
url = "{ch_url}"
database = "ktra"
batch_max_ms = 200
insert_timeout_ms = 3000
[spool]
durability = "disk"
dir = "{spool}"
max_bytes = {spool_max}
segment_bytes = 65536
drain_secs = 15
[consent]
revocation_refresh_secs = 1
[limits]
per_client_per_sec = 0
[sites.{SITE}]
origins = []
"#,
            spool = dir.join("spool").display()
        ),
    )
    .unwrap();
    p
}

struct Client {
    http: reqwest::Client,
    token: String,
}

impl Client {
    async fn new(url: &str) -> Self {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
        let r = http
            .post(format!("{url}/v1/consent"))
            .body(json!({"site": SITE, "action": "grant", "granted": ["analytics", "marketing"]}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let token = r.json::<serde_json::Value>().await.unwrap()["token"].as_str().unwrap().to_string();
        Self { http, token }
    }

    /// Posts one batch of `n` page views; retries (same ids, like the pixel)
    /// until 202 or `deadline`. Returns the ids if acknowledged.
    async fn send(&self, url: &Mutex<String>, n: usize, deadline: Instant) -> Option<Vec<String>> {
        let events: Vec<_> =
            (0..n).map(|i| event("page_view", &format!("https://shop.example/p{i}"), json!({}))).collect();
        let ids: Vec<String> = events.iter().map(|e| e["id"].as_str().unwrap().to_string()).collect();
        let body = json!({"site": SITE, "consent": self.token, "vid": "v1", "sid": "s1", "events": events}).to_string();
        while Instant::now() < deadline {
            let u = url.lock().unwrap().clone();
            match self
                .http
                .post(format!("{u}/v1/events"))
                .header("user-agent", CHROME_UA)
                .body(body.clone())
                .send()
                .await
            {
                Ok(r) if r.status() == 202 => return Some(ids),
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
        None
    }
}

/// Runs `sql` on the private server's `ktra` database; its text answer.
async fn ch_text(ch: &str, sql: &str) -> String {
    let r = reqwest::Client::new().post(format!("{ch}/?database=ktra")).body(sql.to_string()).send().await.unwrap();
    r.text().await.unwrap()
}

async fn ch_count(ch: &str, sql: &str) -> u64 {
    ch_text(ch, sql).await.trim().parse().unwrap_or(0)
}

async fn wait_stored(ch: &str, want: u64, timeout: Duration) -> u64 {
    let until = Instant::now() + timeout;
    loop {
        let n = ch_count(ch, "SELECT uniqExact(event_id) FROM events").await;
        if n >= want || Instant::now() > until {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Stored, distinct, and rows left after merging duplicates away.
async fn tally(ch: &str) -> (u64, u64, u64) {
    let distinct = ch_count(ch, "SELECT uniqExact(event_id) FROM events").await;
    let final_rows = ch_count(ch, "SELECT count() FROM events FINAL").await;
    let _ = ch_count(ch, "OPTIMIZE TABLE events FINAL").await;
    let physical = ch_count(ch, "SELECT count() FROM events").await;
    (distinct, final_rows, physical)
}

async fn traffic_page_views(ch: &str) -> u64 {
    let sql = ktra_schema::queries::render(
        ktra_schema::queries::get("traffic_daily").unwrap().sql,
        &std::collections::BTreeMap::from([
            ("site", ktra_schema::queries::Param::Str(SITE.into())),
            ("from", ktra_schema::queries::Param::Time(0)),
            ("to", ktra_schema::queries::Param::Time(u32::MAX)),
        ]),
    )
    .unwrap();
    let text = ch_text(ch, &format!("{sql} FORMAT JSONEachRow")).await;
    text.lines().map(|l| num(&serde_json::from_str::<serde_json::Value>(l).unwrap()["page_views"]) as u64).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_down_for_30_seconds_loses_nothing_and_counts_nothing_twice() {
    let mut ch = PrivateClickHouse::start("outage");
    let dir = fresh_dir("fault-outage");
    let cfg = write_config(&dir, &ch.url(), 1 << 30);
    let col = CollectorProcess::start(&cfg, &[]);
    let url = Arc::new(Mutex::new(col.url.clone()));
    let client = Arc::new(Client::new(&col.url).await);
    let acked = Arc::new(Mutex::new(HashSet::new()));
    let deadline = Instant::now() + Duration::from_secs(120);

    // Steady load: 10 events every 200 ms for 40 s (2000 events).
    let steady = {
        let (client, url, acked) = (client.clone(), url.clone(), acked.clone());
        tokio::spawn(async move {
            let mut sent = 0;
            let start = Instant::now();
            for i in 0..200u32 {
                let at = start + Duration::from_millis(200 * u64::from(i));
                tokio::time::sleep_until(at.into()).await;
                if let Some(ids) = client.send(&url, 10, deadline).await {
                    acked.lock().unwrap().extend(ids);
                }
                sent += 10;
            }
            sent
        })
    };
    tokio::time::sleep(Duration::from_secs(5)).await;
    ch.stop();
    let down_at = Instant::now();
    // While ClickHouse is down: 5 s of as-fast-as-possible load, 4 clients × 20 events.
    let burst_start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (client, url, acked) = (client.clone(), url.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while burst_start.elapsed() < Duration::from_secs(5) {
                if let Some(ids) = client.send(&url, 20, deadline).await {
                    n += ids.len();
                    acked.lock().unwrap().extend(ids);
                }
            }
            n
        }));
    }
    let mut burst = 0;
    for t in tasks {
        burst += t.await.unwrap();
    }
    let burst_secs = burst_start.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(30).saturating_sub(down_at.elapsed())).await;
    ch.resume();
    let steady_sent = steady.await.unwrap();
    let sent = steady_sent + burst;
    let n_acked = acked.lock().unwrap().len() as u64;
    let stored = wait_stored(&ch.url(), n_acked, Duration::from_secs(90)).await;
    let (distinct, final_rows, physical) = tally(&ch.url()).await;
    let pv = traffic_page_views(&ch.url()).await;
    eprintln!(
        "fault 1 (ClickHouse down 30 s): sent {sent}, acknowledged {n_acked}, stored {stored} distinct, {final_rows} after FINAL, {physical} rows after merge, duplicates {}, traffic_daily page_views {pv}; spool intake while down: {burst} events in {burst_secs:.1} s = {:.0} events/s",
        final_rows.saturating_sub(distinct),
        burst as f64 / burst_secs
    );
    assert_eq!(n_acked as usize, sent, "every event was eventually acknowledged");
    assert_eq!(distinct, n_acked);
    assert_eq!(final_rows, n_acked, "queries count each event once");
    assert_eq!(physical, n_acked, "no duplicate rows once merged");
    assert_eq!(pv, n_acked);
    assert!(col.terminate(), "clean exit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_killed_with_sigkill_loses_no_acknowledged_event() {
    let ch = PrivateClickHouse::start("sigkill");
    let dir = fresh_dir("fault-kill");
    let cfg = write_config(&dir, &ch.url(), 1 << 30);
    let col = CollectorProcess::start(&cfg, &[]);
    let url = Arc::new(Mutex::new(col.url.clone()));
    let client = Arc::new(Client::new(&col.url).await);
    let acked = Arc::new(Mutex::new(HashSet::new()));
    let deadline = Instant::now() + Duration::from_secs(90);
    let sender = {
        let (client, url, acked) = (client.clone(), url.clone(), acked.clone());
        tokio::spawn(async move {
            let start = Instant::now();
            for i in 0..150u32 {
                tokio::time::sleep_until((start + Duration::from_millis(100 * u64::from(i))).into()).await;
                if let Some(ids) = client.send(&url, 10, deadline).await {
                    acked.lock().unwrap().extend(ids);
                }
            }
            1500usize
        })
    };
    tokio::time::sleep(Duration::from_secs(5)).await;
    col.kill();
    let acked_at_kill = acked.lock().unwrap().len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Restart on the same spool (and so the same port is not needed: the sender follows the new URL).
    let col = CollectorProcess::start(&cfg, &[]);
    *url.lock().unwrap() = col.url.clone();
    let sent = sender.await.unwrap();
    let n_acked = acked.lock().unwrap().len() as u64;
    let stored = wait_stored(&ch.url(), n_acked, Duration::from_secs(60)).await;
    let (distinct, final_rows, physical) = tally(&ch.url()).await;
    eprintln!(
        "fault 2 (collector SIGKILL): sent {sent}, acknowledged {n_acked} ({acked_at_kill} before the kill), stored {stored} distinct, {final_rows} after FINAL, {physical} rows after merge, duplicates {}",
        final_rows.saturating_sub(distinct)
    );
    assert_eq!(n_acked as usize, sent);
    assert_eq!(distinct, n_acked, "every acknowledged event is stored");
    assert_eq!(final_rows, n_acked);
    assert_eq!(physical, n_acked, "exactly once after merge");
    assert!(col.terminate());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_stores_every_acknowledged_event() {
    let ch = PrivateClickHouse::start("sigterm");
    let dir = fresh_dir("fault-term");
    let cfg = write_config(&dir, &ch.url(), 1 << 30);
    let col = CollectorProcess::start(&cfg, &[]);
    let url = Arc::new(Mutex::new(col.url.clone()));
    let client = Arc::new(Client::new(&col.url).await);
    let acked = Arc::new(Mutex::new(HashSet::new()));
    let stop = Instant::now() + Duration::from_secs(6);
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (client, url, acked) = (client.clone(), url.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            // No retries here: only what got a 202 before the collector went away counts.
            while Instant::now() < stop {
                match client.send(&url, 20, Instant::now() + Duration::from_millis(1)).await {
                    Some(ids) => acked.lock().unwrap().extend(ids),
                    None => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let clean = tokio::task::spawn_blocking(move || col.terminate()).await.unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    assert!(clean, "SIGTERM leads to a clean exit");
    let acked = acked.lock().unwrap().clone();
    // The collector has exited: whatever it acknowledged must already be in ClickHouse. A
    // request stored while its client gave up waiting (5 s timeout on a loaded machine) is
    // stored but not acknowledged: more may be stored, nothing acknowledged may be missing.
    let stored = ch_count(&ch.url(), "SELECT uniqExact(event_id) FROM events").await;
    let text = ch_text(&ch.url(), "SELECT DISTINCT toString(event_id) FROM events").await;
    let stored_ids: HashSet<&str> = text.lines().collect();
    let acked_stored = acked.iter().filter(|id| stored_ids.contains(id.as_str())).count() as u64;
    eprintln!(
        "fault 3 (SIGTERM under load): acknowledged {}, of them stored {acked_stored}, stored {stored} after exit",
        acked.len()
    );
    assert!(!acked.is_empty());
    assert_eq!(acked_stored, acked.len() as u64, "every acknowledged event is stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spool_answers_503_and_recovers_when_clickhouse_returns() {
    let mut ch = PrivateClickHouse::start("spoolfull");
    let dir = fresh_dir("fault-full");
    let cfg = write_config(&dir, &ch.url(), 256 * 1024);
    let col = CollectorProcess::start(&cfg, &[]);
    let client = Client::new(&col.url).await;
    ch.stop();
    let http = reqwest::Client::new();
    let mut acked = HashSet::new();
    let mut refused = None;
    for _ in 0..2000 {
        let events: Vec<_> =
            (0..20).map(|i| event("page_view", &format!("https://shop.example/{i}"), json!({}))).collect();
        let ids: Vec<String> = events.iter().map(|e| e["id"].as_str().unwrap().to_string()).collect();
        let r = http
            .post(format!("{}/v1/events", col.url))
            .header("user-agent", CHROME_UA)
            .body(json!({"site": SITE, "consent": client.token, "vid": "v", "sid": "s", "events": events}).to_string())
            .send()
            .await
            .unwrap();
        if r.status() == 202 {
            acked.extend(ids);
        } else {
            refused = Some((
                r.status().as_u16(),
                r.headers().get("retry-after").is_some(),
                r.json::<serde_json::Value>().await.unwrap(),
            ));
            break;
        }
    }
    let (status, retry_after, body) = refused.expect("the spool never filled");
    assert_eq!((status, retry_after, body["error"].as_str()), (503, true, Some("overloaded")), "{body}");
    let ready = http.get(format!("{}/readyz", col.url)).send().await.unwrap();
    assert_eq!(ready.status(), 503, "not ready while the spool is full");
    assert_eq!(http.get(format!("{}/healthz", col.url)).send().await.unwrap().status(), 200, "still alive");
    ch.resume();
    let n_acked = acked.len() as u64;
    let stored = wait_stored(&ch.url(), n_acked, Duration::from_secs(60)).await;
    let mut ready_again = false;
    for _ in 0..100 {
        if http.get(format!("{}/readyz", col.url)).send().await.unwrap().status() == 200 {
            ready_again = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let after = client.send(&Mutex::new(col.url.clone()), 5, deadline).await;
    eprintln!("fault 4 (spool full): acknowledged {n_acked} before 503, stored {stored} after recovery");
    assert_eq!(stored, n_acked);
    assert!(ready_again, "ready again once the spool drained");
    assert!(after.is_some(), "accepting again");
    assert!(col.terminate());
}

#[tokio::test]
async fn a_poison_row_in_the_spool_is_dead_lettered_and_the_rest_is_stored() {
    use ktra_collector::sink::spool::{Encoding, Spool};
    use ktra_schema::row::{EventRow, TableRow};
    let ch = Ch::fresh("poison").await;
    let mut cfg = test_config(&ch);
    let row = |path: &str| EventRow {
        site_id: ch.name.clone(),
        event_id: uuid::Uuid::new_v4(),
        event_type: "page_view".into(),
        ts: (now_ms() / 1000) as u32,
        received_at: (now_ms() / 1000) as u32,
        path: path.into(),
        ..Default::default()
    };
    let mut poison = row("/poison");
    poison.props_key = vec!["a".into()]; // props.value left empty: ClickHouse refuses the row (code 190)
    {
        let spool = Spool::open(&cfg.spool.dir, 1 << 20, 1 << 20).unwrap();
        let first = vec![row("/a"), row("/b"), poison, row("/c")];
        // JSON records, as earlier versions wrote them: still shipped after an upgrade.
        let tag = EventRow::TAG;
        spool.append(tag, Encoding::Json, 4, &serde_json::to_vec(&first).unwrap()).unwrap();
        spool.append(tag, Encoding::Json, 1, b"not json: a record no version of ktra can read").unwrap();
        spool.append(tag, Encoding::Json, 2, &serde_json::to_vec(&vec![row("/d"), row("/e")]).unwrap()).unwrap();
        spool.sync().unwrap();
    }
    cfg.clickhouse.batch_max_ms = 100;
    let c = TestCollector::start(cfg.clone()).await;
    assert_eq!(ch.wait_count("SELECT count() FROM events", 5, Duration::from_secs(20)).await, 5);
    let paths: Vec<String> = ch
        .rows("SELECT path FROM events ORDER BY path")
        .await
        .iter()
        .map(|r| r["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(paths, ["/a", "/b", "/c", "/d", "/e"]);
    let dead = std::fs::read_to_string(cfg.spool.dir.join("dead-letter.jsonl")).unwrap();
    assert_eq!(dead.lines().count(), 2, "{dead}");
    let lines: Vec<serde_json::Value> = dead.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let poison = lines.iter().find(|d| d["row"]["path"] == "/poison").expect("the refused row");
    assert!(poison["error"].as_str().unwrap().contains("190"), "{poison}");
    let garbage = lines.iter().find(|d| d["row"].is_string()).expect("the undecodable record");
    assert!(garbage["row"].as_str().unwrap().starts_with("not json"), "{garbage}");
    let m = c.metrics().await;
    assert!(metric(&m, "ktra_dropped_rows_total", &[("reason", "refused_by_clickhouse")]) >= 1.0);
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_mode_counts_what_a_crash_lost() {
    let ch = PrivateClickHouse::start("memcrash");
    let dir = fresh_dir("fault-mem");
    let cfg = write_config(&dir, &ch.url(), 1 << 30);
    // Memory durability with a long batch window: acknowledged rows sit in memory.
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("durability = \"disk\"", "durability = \"memory\"")
        .replace("batch_max_ms = 200", "batch_max_ms = 60000");
    std::fs::write(&cfg, text).unwrap();
    let col = CollectorProcess::start(&cfg, &[]);
    let client = Client::new(&col.url).await;
    let url = Mutex::new(col.url.clone());
    let mut acked = 0;
    for _ in 0..10 {
        acked += client.send(&url, 10, Instant::now() + Duration::from_secs(5)).await.unwrap().len();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    col.kill();
    let col = CollectorProcess::start(&cfg, &[]);
    let m = reqwest::Client::new()
        .get(format!("{}/metrics", col.url))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lost = metric(&m, "ktra_dropped_rows_total", &[("reason", "crash_memory_mode")]);
    let stored = ch_count(&ch.url(), "SELECT count() FROM events").await;
    eprintln!("memory mode crash: acknowledged {acked}, stored {stored}, counted lost {lost}");
    assert_eq!(stored, 0);
    // The consent decision (1 row) was in memory too.
    assert_eq!(lost as usize, acked + 1, "every row the crash took is counted");
    assert!(col.terminate());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_mode_with_clickhouse_down_acknowledges_only_what_it_can_spool() {
    let ch = PrivateClickHouse::start("memdown");
    let dir = fresh_dir("fault-memdown");
    // ClickHouse unreachable and a small spool: it fills within seconds.
    let cfg = write_config(&dir, "http://127.0.0.1:9", 300_000);
    let text = std::fs::read_to_string(&cfg).unwrap().replace("durability = \"disk\"", "durability = \"memory\"");
    std::fs::write(&cfg, text).unwrap();
    let col = CollectorProcess::start(&cfg, &[]);
    let client = Arc::new(Client::new(&col.url).await);
    let url = Arc::new(Mutex::new(col.url.clone()));
    let until = Instant::now() + Duration::from_secs(4);
    let mut senders = Vec::new();
    for _ in 0..4 {
        let (client, url) = (client.clone(), url.clone());
        senders.push(tokio::spawn(async move {
            let (mut acked, mut refused) = (Vec::new(), 0);
            while Instant::now() < until {
                // One attempt each: a refusal is the client's to retry, not ours to count.
                match client.send(&url, 20, Instant::now() + Duration::from_millis(1)).await {
                    Some(ids) => acked.extend(ids),
                    None => refused += 1,
                }
            }
            (acked, refused)
        }));
    }
    let (mut acked, mut refused) = (HashSet::new(), 0);
    for s in senders {
        let (ids, r) = s.await.unwrap();
        acked.extend(ids);
        refused += r;
    }
    assert!(refused > 0, "the spool filled: later requests were refused (503), not acknowledged");
    assert!(col.terminate(), "a clean stop spills what memory holds");
    let mut cfg_back = std::fs::read_to_string(&cfg).unwrap();
    cfg_back = cfg_back.replace("http://127.0.0.1:9", &ch.url());
    std::fs::write(&cfg, cfg_back).unwrap();
    let col = CollectorProcess::start(&cfg, &[]);
    let stored = wait_stored(&ch.url(), acked.len() as u64, Duration::from_secs(60)).await;
    eprintln!(
        "memory mode, ClickHouse down: acknowledged {} events, refused {refused} requests, stored {stored}",
        acked.len()
    );
    assert_eq!(stored, acked.len() as u64, "every acknowledged event arrives");
    assert!(col.terminate());
}
