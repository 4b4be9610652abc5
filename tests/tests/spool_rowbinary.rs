//! The spool's RowBinary records (issue 18) against a real ClickHouse: the
//! shipper streams their bytes into the insert, a row ClickHouse refuses is
//! isolated and dead-lettered as JSON, a cut record is dead-lettered and the
//! rest is stored, records of earlier encodings in the same spool still
//! ship, and rows of an erased consent chain never reach ClickHouse.
#![allow(clippy::unwrap_used, missing_docs)]

use ktra_collector::sink::raw::{self, raw_tag};
use ktra_collector::sink::spool::{Encoding, Spool};
use ktra_schema::row::{encode_rows, EventRow, TableRow};
use ktra_tests::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rowbinary_records_ship_isolate_a_poison_row_and_sit_beside_older_records() {
    let ch = Ch::fresh("spool_rowbinary").await;
    let mut cfg = test_config(&ch);
    let row = |path: &str, root: &str| EventRow {
        site_id: ch.name.clone(),
        event_id: uuid::Uuid::new_v4(),
        event_type: "custom".into(),
        ts: (now_ms() / 1000) as u32,
        ts_ms: now_ms() as u64,
        received_at: (now_ms() / 1000) as u32,
        consent_root: root.into(),
        path: path.into(),
        title: "Ünïcode ✓".into(),
        revenue: 12.25,
        scroll_depth: 50,
        form_fields: vec!["email".into()],
        props_key: vec!["plan".into(), "seats".into()],
        props_value: vec!["pro".into(), "3".into()],
        source: "server".into(),
        ..Default::default()
    };
    let mut poison = row("/poison", "r");
    poison.props_value = vec![]; // props.key and props.value of unequal length: ClickHouse refuses the row (code 190)
    let first = vec![row("/a", "r"), row("/b", "r"), poison, row("/c", "erased-root")];
    let expected_uuid = first[0].event_id;
    {
        let spool = Spool::open(&cfg.spool.dir, 1 << 20, 1 << 20).unwrap();
        let tag = raw_tag(EventRow::TAG);
        spool.append(tag, Encoding::Binary, 4, &raw::encode(&first).unwrap()).unwrap();
        let cut = raw::encode(&[row("/cut", "r")]).unwrap();
        spool.append(tag, Encoding::Binary, 1, &cut[..cut.len() - 3]).unwrap();
        // A postcard record (memory mode's spill, earlier versions) between RowBinary ones.
        spool.append(EventRow::TAG, Encoding::Binary, 1, &encode_rows(&[row("/d", "r")])).unwrap();
        spool.append(tag, Encoding::Binary, 1, &raw::encode(&[row("/e", "r")]).unwrap()).unwrap();
        spool.sync().unwrap();
    }
    // The chain of /c was withdrawn with erasure before the spool shipped.
    let erasures = ktra_collector::consent::erasure::Erasures::open(&cfg.spool.dir).unwrap();
    erasures.request(&ch.name, "erased-root").unwrap();
    drop(erasures);
    cfg.clickhouse.batch_max_ms = 100;
    let c = TestCollector::start(cfg.clone()).await;
    assert_eq!(ch.wait_count("SELECT count() FROM events", 4, Duration::from_secs(20)).await, 4);
    let rows = ch
        .rows("SELECT path, title, revenue, scroll_depth, props.key, props.value, source, toString(event_id) AS id FROM events ORDER BY path")
        .await;
    let paths: Vec<&str> = rows.iter().map(|r| r["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["/a", "/b", "/d", "/e"]);
    let a = &rows[0];
    assert_eq!(a["title"], "Ünïcode ✓");
    assert_eq!(a["revenue"].as_f64(), Some(12.25));
    assert_eq!(a["props.key"], serde_json::json!(["plan", "seats"]));
    assert_eq!(a["props.value"], serde_json::json!(["pro", "3"]));
    assert_eq!(a["source"], "server");
    assert_eq!(a["id"].as_str().unwrap(), expected_uuid.to_string(), "UUID halves in 18.16's byte order");
    let dead = std::fs::read_to_string(cfg.spool.dir.join("dead-letter.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = dead.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{dead}");
    let poison = lines.iter().find(|d| d["row"]["path"] == "/poison").expect("the refused row, as JSON");
    assert!(poison["error"].as_str().unwrap().contains("190"), "{poison}");
    assert!(lines.iter().any(|d| d["row"]["rowbinary_hex"].is_string()), "the cut record: {dead}");
    let m = c.metrics().await;
    assert!(metric(&m, "ktra_dropped_rows_total", &[("reason", "refused_by_clickhouse")]) >= 1.0);
    assert!(metric(&m, "ktra_dropped_rows_total", &[("reason", "erased")]) >= 1.0);
    c.stop().await;
}
