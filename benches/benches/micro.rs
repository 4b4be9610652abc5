//! Micro-benchmarks of the collector's CPU path, with short measurement
//! times so that the whole suite stays well under 90 s. Run with
//! `cargo bench -p ktra-benches --bench micro` (add `-- --output-format
//! bencher` for one `ns/iter` line per benchmark, as `cargo xtask bench` does).
//!
//! Names ending in `/N` measure N events or rows per iteration; divide by N
//! for the cost of one.
#![allow(missing_docs, clippy::unwrap_used)]
use clickhouse::test::{handlers, Mock};
use clickhouse::{Client, Compression};
use criterion::{criterion_group, criterion_main, Criterion};
use ktra_benches::pipeline;
use ktra_benches::workload::{consent_token, BodyMaker, SECRET, SITE, USER_AGENT};
use ktra_collector::consent::token::TokenKey;
use ktra_collector::email::link::{self, LinkClaims};
use ktra_collector::enrich::parse_user_agent_uncached;
use ktra_collector::sink::raw;
use ktra_schema::row::EventRow;
use std::hint::black_box;

/// The collector's allocator (`collector/src/main.rs`), so that these numbers are its own.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::time::Duration;

fn body(events: usize) -> Vec<u8> {
    let token = consent_token(SECRET, SITE);
    let mut m = BodyMaker::new(&token, SITE, "micro", 0, events);
    let mut out = Vec::new();
    m.next_body(&mut out);
    out
}

fn rows(n: usize) -> Vec<EventRow> {
    let b = body(20);
    let ctx = pipeline::context(&b, USER_AGENT).unwrap();
    let mut out = Vec::new();
    let mut m = BodyMaker::new("t", SITE, "micro", 1, 20);
    let mut buf = Vec::new();
    while out.len() < n {
        m.next_body(&mut buf);
        pipeline::rows(&buf, &ctx, pipeline::now_ms(), &mut out).unwrap();
    }
    out.truncate(n);
    out
}

fn pipeline_benches(c: &mut Criterion) {
    let now = pipeline::now_ms();
    for n in [1usize, 20] {
        let b = body(n);
        let ctx = pipeline::context(&b, USER_AGENT).unwrap();
        let mut out = Vec::with_capacity(n);
        c.bench_function(&format!("decode_validate_enrich/{n}"), |bench| {
            bench.iter(|| {
                out.clear();
                let refused = pipeline::rows(black_box(&b), &ctx, now, &mut out).unwrap();
                assert_eq!(refused, 0);
                black_box(&out);
            })
        });
    }
    c.bench_function("user_agent_parse/1", |bench| {
        bench.iter(|| black_box(parse_user_agent_uncached(black_box(USER_AGENT))))
    });
}

fn token_benches(c: &mut Criterion) {
    let key = TokenKey::derive(SECRET.as_bytes(), "consent");
    let token = consent_token(SECRET, SITE);
    c.bench_function("consent_token_verify/1", |bench| {
        bench.iter(|| black_box(key.verify_uncached(black_box(&token)).unwrap()))
    });

    let link_key = TokenKey::derive(SECRET.as_bytes(), "link");
    let claims = LinkClaims {
        site: SITE.into(),
        lead: "crm-00042917".into(),
        message: "spring-sale-2025-week-2".into(),
        url: "https://shop.example/sale/spring?utm_source=newsletter&utm_medium=email&utm_campaign=spring_sale".into(),
        expires: Some(4_000_000_000),
    };
    let signed = link::sign(&link_key, &claims).unwrap();
    c.bench_function("link_verify/1", |bench| {
        bench.iter(|| black_box(link::verify(&link_key, black_box(&signed), 1_900_000_000).unwrap()))
    });
}

fn sink_benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    const N: usize = 1000;
    let batch = rows(N);
    // RowBinary encoding + LZ4 + the HTTP request, per row, against the crate's mock server.
    let (mut mock, client) = rt.block_on(async {
        let mock = Mock::new();
        let client = Client::default().with_mock(&mock).with_validation(false).with_compression(Compression::Lz4);
        (mock, client)
    });
    mock.non_exhaustive();
    c.bench_function(&format!("rowbinary_insert_mock/{N}"), |bench| {
        bench.iter(|| {
            rt.block_on(async {
                let _ctl = mock.add(handlers::record::<EventRow>());
                let mut ins = client.insert::<EventRow>("events").await.unwrap();
                for r in &batch {
                    ins.write(r).await.unwrap();
                }
                ins.end().await.unwrap();
            })
        })
    });
    // Spool records of earlier versions: JSON rows (still read after an upgrade).
    let twenty = rows(20);
    c.bench_function("spool_json_encode/20", |bench| {
        bench.iter(|| black_box(serde_json::to_vec(black_box(&twenty)).unwrap()))
    });
    let json = serde_json::to_vec(&twenty).unwrap();
    c.bench_function("spool_json_decode/20", |bench| {
        bench.iter(|| black_box(serde_json::from_slice::<Vec<EventRow>>(black_box(&json)).unwrap()))
    });
    // What the sink writes now: postcard rows (the JSON pair above is what earlier versions wrote).
    c.bench_function("spool_binary_encode/20", |bench| {
        bench.iter(|| black_box(ktra_schema::row::encode_rows(black_box(&twenty))))
    });
    let binary = ktra_schema::row::encode_rows(&twenty);
    c.bench_function("spool_binary_decode/20", |bench| {
        bench.iter(|| black_box(ktra_schema::row::decode_rows::<EventRow>(black_box(&binary)).unwrap()))
    });
    // What disk mode writes since issue 18: RowBinary rows with their consent roots,
    // streamed by the shipper into the insert as they are.
    c.bench_function("spool_rowbinary_encode/20", |bench| {
        bench.iter(|| black_box(raw::encode(black_box(&twenty)).unwrap()))
    });
    let payload = raw::encode(&batch).unwrap();
    c.bench_function(&format!("ship_rowbinary_mock/{N}"), |bench| {
        bench.iter(|| {
            rt.block_on(async {
                let _ctl = mock.add(handlers::record::<EventRow>());
                let mut idx = Vec::with_capacity(N);
                raw::index(black_box(&payload), 0, &mut idx).unwrap();
                let mut ins = client
                    .insert_formatted_with("INSERT INTO events FORMAT RowBinary")
                    .buffered_with_capacity(256 * 1024);
                for r in &idx {
                    ins.write_buffered(&payload[r.row.clone()]);
                    if ins.buf_len() >= 256 * 1024 {
                        ins.flush().await.unwrap();
                    }
                }
                ins.end().await.unwrap();
            })
        })
    });
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}

criterion_group! {
    name = micro;
    config = config();
    targets = pipeline_benches, token_benches, sink_benches
}
criterion_main!(micro);
