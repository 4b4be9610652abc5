//! Behavioural trigger evaluation on the ingest path: the CPU an accepted
//! event costs when its site has webhook endpoints (issue 14, "Measure").
//! Three cases per event: a site with no endpoints (the common path), an
//! identified visitor whose event matches no rule, and one that fires (the
//! delivery is queued and journaled, two fsynced appends: why the events
//! handler runs it on the blocking pool, after answering).
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ktra_collector::automate::{deliver::Queue, Automations};
use ktra_collector::config::{SiteConfig, TriggerFilter, WebhookEndpoint};
use ktra_schema::row::EventRow;
use std::hint::black_box;
use std::sync::Arc;

fn row(kind: &str, n: u64) -> EventRow {
    EventRow {
        site_id: "bench".into(),
        event_id: uuid::Uuid::from_u128(u128::from(n)),
        event_type: kind.into(),
        visitor_id: "v1".into(),
        session_id: "s1".into(),
        path: "/course/intro".into(),
        video_id: "intro".into(),
        lead_id: String::new(),
        ..Default::default()
    }
}

fn bench(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("ktra-bench-triggers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let queue = Arc::new(Queue::open(&dir).unwrap());
    let automations = Automations::open(&dir, queue).unwrap();
    let endpoint = |trigger: &str, filter: TriggerFilter, once_per: &str| WebhookEndpoint {
        url: "https://hooks.example/x".into(),
        secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=".into(),
        triggers: vec![trigger.into()],
        filter,
        once_per: once_per.into(),
        engaged_secs: 30,
    };
    let site = SiteConfig {
        webhooks: vec![
            endpoint("video_complete", TriggerFilter { video_id: "intro".into(), ..Default::default() }, "event"),
            endpoint("page_visit", TriggerFilter { path: "/pricing*".into(), ..Default::default() }, "lead"),
        ],
        ..Default::default()
    };
    let none = SiteConfig::default();
    // The visitor is identified once.
    let mut ident = row("identify", 0);
    ident.lead_id = "lead-1".into();
    automations.observe("bench", &site, &[ident], 0);

    let mut g = c.benchmark_group("triggers");
    g.throughput(Throughput::Elements(1));
    let mut n = 1u64;
    g.bench_function("no endpoints", |b| {
        b.iter_batched(
            || {
                n += 1;
                [row("page_view", n)]
            },
            |rows| automations.observe("bench", black_box(&none), &rows, 0),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("identified, no rule matches", |b| {
        b.iter_batched(
            || {
                n += 1;
                [row("scroll", n)]
            },
            |rows| automations.observe("bench", black_box(&site), &rows, 0),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("identified, fires (queued + journaled)", |b| {
        b.iter_batched(
            || {
                n += 1;
                [row("video_complete", n)]
            },
            |rows| automations.observe("bench", black_box(&site), &rows, 0),
            BatchSize::SmallInput,
        )
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
