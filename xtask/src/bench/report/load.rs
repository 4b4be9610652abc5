//! The report's sections about the collector under load: every phase, the
//! slow windows at 50 %, the ceilings and peers, ClickHouse stopped, the soak.
use super::fig;
use crate::bench::results::Results;
use crate::bench::targets::COMPARISONS;
use std::fmt::Write;

pub(super) fn end_to_end(md: &mut String, r: &Results) {
    let run = &r.run;
    // The 20-event batch's body per event, without the batch header share.
    let per_event = match (r.of("d20s", "body_bytes"), r.of("d1s", "body_bytes")) {
        (Some(b20), Some(b1)) => format!("{:.0}", (b20 - b1) / 19.0),
        _ => "400".into(),
    };
    w!(md, "## End to end\n");
    w!(
        md,
        "`ktra-bench load` sends `POST /v1/events` over {} keep-alive HTTP/1.1 connections (hyper client), `Content-Type: text/plain` as `sendBeacon` does, \
         a desktop Chrome `User-Agent`, an allowed `Origin` and a valid consent token; bodies carry ~{per_event} bytes per event \
         (product URL with path and query, search referrer, title; the session's UTM object at batch level) and a mix of \
         page_view, scroll, engagement, custom (with props) and purchase events, each with a fresh UUID. \
         Each phase: {:.0} s warm-up (sent, not measured) + {:.0} s measured. **Saturation** = closed loop (each connection sends as soon as \
         its previous answer arrived); **N %** = open loop at N % of that saturation rate, latency measured from each request's \
         intended send time. **events/s into ClickHouse** = all events of the phase (warm-up included) ÷ the time from its first request \
         until the last of them was counted in ClickHouse: what the whole write path sustains, shipping included. The collector runs with its defaults (batches of up to 10 000 rows or 1 s, 4096-request queue), \
         consent enforced, no GeoIP database. CPU µs/event for ktra covers the requests *and* moving the rows into ClickHouse \
         (until the phase's events were all counted there). At partial load every server, the ceiling too, spends more CPU per \
         event than at saturation: fewer requests share each wake-up of the runtime and each system call.\n",
        run.connections,
        run.warmup_s,
        run.phase_s
    );
    w!(
        md,
        "| system | ev/req | load | offered req/s | req/s | events/s | events/s into ClickHouse | p50 ms | p99 ms | p99.9 ms | max ms | errors | server CPU µs/event | ClickHouse CPU µs/event | peak RSS MB | arrived in ClickHouse |"
    );
    w!(md, "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    for p in &r.phases {
        let t = p.tag.as_str();
        let load = match p.load_pct {
            None => "saturation".into(),
            Some(x) if p.system == "ceiling" => format!("{x} % of ktra's"),
            Some(x) => format!("{x} %"),
        };
        w!(
            md,
            "| {}{} | {} | {load} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            p.system,
            if t == "soak" { " (soak)" } else { "" },
            p.events,
            fig(r, t, "offered_rps", 0),
            fig(r, t, "rps", 0),
            fig(r, t, "eps", 0),
            fig(r, t, "into_clickhouse_eps", 0),
            fig(r, t, "p50_ms", 2),
            fig(r, t, "p99_ms", 2),
            fig(r, t, "p999_ms", 2),
            fig(r, t, "max_ms", 1),
            fig(r, t, "errors", 0),
            fig(r, t, "cpu_us_per_event", 1),
            fig(r, t, "clickhouse_cpu_us_per_event", 1),
            fig(r, t, "peak_rss_mb", 1),
            arrived(r, t, &p.system)
        );
    }
    w!(md);
}

/// `arrived / accepted`, marked ✓ when equal and bold when not.
fn arrived(r: &Results, tag: &str, system: &str) -> String {
    let ok = r.of(tag, "accepted_events").unwrap_or(0.0);
    match r.of(tag, "arrived_events") {
        Some(n) if n == ok => format!("{n:.0} / {ok:.0} ✓"),
        Some(n) => format!("**{n:.0} / {ok:.0}**"),
        None if system == "ceiling" => "n/a (discards)".into(),
        None => "not checked".into(),
    }
}

pub(super) fn timelines(md: &mut String, r: &Results) {
    let rows: Vec<_> = ["d1r50", "m1r50", "c1r50", "d20r50"]
        .iter()
        .filter_map(|t| Some((r.phase(t)?, r.series(&format!("e2e.{t}.timeline_max_ms"))?)))
        .collect();
    if rows.is_empty() {
        return;
    }
    w!(
        md,
        "### When the slow answers come (50 % load)\n\nLargest latency in each 100 ms of the measured window (ms, by intended send time). \
         ktra's collector flushes a batch (memory mode) or ships the spool (disk mode) about once per `batch_max_ms` (1 s).\n"
    );
    w!(md, "| system | ev/req | windows > 5 ms | max per 100 ms window (ms) |\n| --- | ---: | ---: | --- |");
    for (p, s) in rows {
        let slow = s.points.iter().filter(|[_, ms]| *ms > 5.0).count();
        let series = s.points.iter().map(|[_, ms]| format!("{ms:.0}")).collect::<Vec<_>>().join(" ");
        w!(md, "| {} | {} | {slow} of {} | {series} |", p.system, p.events, s.points.len());
    }
    w!(md);
    // Disk mode answers after its group commit's fsync: a request that arrives while one
    // runs waits for it and then for its own, so the fsyncs set the floor under p99.
    for t in ["d1r50", "d20r50"] {
        let (Some(p), Some(n)) = (r.phase(t), r.of(t, "fsync_count")) else { continue };
        let g = |f: &str| r.of(t, f).unwrap_or(f64::NAN);
        w!(
            md,
            "Spool fsyncs during `{t}` ({}, {} ev/req): {n:.0} in the phase, mean {:.2} ms, half done within {} ms and 99 % within {} ms \
             (`ktra_spool_fsync_seconds` buckets); p99 of the answers {:.2} ms.\n",
            p.system,
            p.events,
            g("fsync_mean_ms"),
            g("fsync_p50_le_ms"),
            g("fsync_p99_le_ms"),
            g("p99_ms"),
        );
    }
}

pub(super) fn ceilings(md: &mut String, r: &Results) {
    w!(md, "## Ceilings and peers (same run)\n");
    w!(md, "| comparison | ktra | peer | ktra ÷ peer |\n| --- | ---: | ---: | ---: |");
    for (what, ktra, peer) in COMPARISONS {
        if let (Some(k), Some(p)) = (r.measure(ktra), r.measure(peer)) {
            let ratio = if p.value > 0.0 { k.value / p.value } else { 0.0 };
            w!(md, "| {what} | {:.0} {} | {:.0} {} | {ratio:.2} |", k.value, k.unit, p.value, p.unit);
        }
    }
    for (key, name) in [("bulk", "database ceiling"), ("floor", "floor")] {
        let g = |f: &str| r.get(&format!("db.{key}.{f}"));
        if let Some(rows) = g("rows") {
            w!(
                md,
                "\n{name}: {rows:.0} rows in {:.0} inserts ({:.0} failed) over {:.1} s with {:.0} concurrent inserter(s).",
                g("inserts").unwrap_or(0.0),
                g("errors").unwrap_or(0.0),
                g("seconds").unwrap_or(0.0),
                g("connections").unwrap_or(0.0)
            );
        }
    }
    w!(
        md,
        "\nThe ceiling server is `ktra-bench ceiling`: the same hyper/axum stack and socket settings as the collector, decoding the \
         batch and each event into `ktra_schema` wire types and answering 202 — no consent check, validation, enrichment, queue or disk.\n"
    );
}

pub(super) fn spool(md: &mut String, r: &Results) {
    let down: Vec<_> = r.phases.iter().filter(|p| p.system.contains("stopped")).collect();
    if down.is_empty() {
        return;
    }
    w!(md, "## ClickHouse stopped (the spool path)\n");
    w!(
        md,
        "ClickHouse was stopped, the collector restarted against it, loaded at saturation, then stopped; ClickHouse was started again \
         on the same data and a collector on each spool shipped it. CPU here is only the request window (nothing is shipped meanwhile). \
         *Acknowledged* = events of requests answered 2xx: each of them must arrive."
    );
    match r.get("e2e.drain_s") {
        Some(s) => w!(
            md,
            "Every acknowledged event arrived {s:.1} s after ClickHouse was started again (its start-up included).\n"
        ),
        None => w!(md, "**Not every acknowledged event arrived**; see the notes.\n"),
    }
    w!(
        md,
        "| mode | ev/req | req/s | events/s | p99 ms | errors | server CPU µs/event | peak RSS MB | acknowledged events | arrived after restart |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    );
    for p in down {
        let t = p.tag.as_str();
        w!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            p.system,
            p.events,
            fig(r, t, "rps", 0),
            fig(r, t, "eps", 0),
            fig(r, t, "p99_ms", 2),
            fig(r, t, "errors", 0),
            fig(r, t, "cpu_us_per_event", 1),
            fig(r, t, "peak_rss_mb", 1),
            fig(r, t, "accepted_events", 0),
            arrived(r, t, &p.system)
        );
    }
    w!(md);
}

pub(super) fn soak(md: &mut String, r: &Results) {
    let Some(s) = r.series("soak.rss_mb").filter(|s| !s.points.is_empty()) else { return };
    w!(md, "## Soak\n");
    w!(
        md,
        "Single-event POSTs at {} req/s (50 % of saturation) for {} s against the disk-mode collector that had just run every other \
         phase; RSS sampled every second.\n",
        fig(r, "soak", "offered_rps", 0),
        fig(r, "soak", "seconds", 0)
    );
    w!(md, "| when | t (s) | RSS MB |\n| --- | ---: | ---: |");
    let n = s.points.len();
    for (label, f) in [("start", 0.0), ("quarter", 0.25), ("middle", 0.5), ("three quarters", 0.75), ("end", 1.0)] {
        let [t, rss] = s.points.get(((n as f64 - 1.0) * f).round() as usize).copied().unwrap_or_default();
        w!(md, "| {label} | {t:.0} | {rss:.1} |");
    }
    let tl = r.series("e2e.soak.timeline_max_ms").map(|s| s.points.as_slice()).unwrap_or_default();
    if r.of("soak", "p50_ms").unwrap_or(0.0) > 100.0 && tl.len() > 20 {
        let worst = |w: &[[f64; 2]]| w.iter().map(|p| p[1]).fold(0.0, f64::max);
        w!(
            md,
            "\n**The collector did not sustain this rate.** Latency from the intended send times grew from {:.0} ms (first second) to {:.0} ms \
             (last second): answers fell behind the offered load, and requests waited in the load generator's queue. The closed-loop saturation \
             above is a burst of a few seconds; the rows it accepts are still shipped from the spool into ClickHouse afterwards, so the sustainable \
             rate is nearer the *events/s into ClickHouse* column than the burst rate.",
            worst(&tl[..10]),
            worst(&tl[tl.len() - 10..])
        );
    }
    w!(
        md,
        "\nPeak (VmHWM) {} MB; p50 {} ms, p99 {} ms, p99.9 {} ms over the soak.\n",
        fig(r, "soak", "peak_rss_mb", 1),
        fig(r, "soak", "p50_ms", 2),
        fig(r, "soak", "p99_ms", 2),
        fig(r, "soak", "p999_ms", 2)
    );
}

/// Behavioural webhooks: from an event accepted to its webhook received.
pub(super) fn webhooks(md: &mut String, r: &Results) {
    let Some(p50) = r.get("webhooks.latency_p50_ms") else { return };
    let g = |k: &str| r.get(k).map_or("–".to_string(), |v| format!("{v:.1}"));
    let n = |k: &str| r.get(k).map_or("–".to_string(), |v| format!("{v:.0}"));
    w!(
        md,
        "## Behavioural webhooks
"
    );
    w!(
        md,
        "The collector (disk mode) with one `page_visit` rule (`once_per = \"lead\"`) pointing at a receiver on loopback \
         (`ktra-bench webhooks`): {} new visitors, 50 per second, each sending an `identify` and a page view. Latency is from the \
         batch's 202 (accepted) to the signed webhook's arrival; the delivery loop, the HMAC signature, the journal's fsync and the \
         attempt's row in `webhook_deliveries` are all on that path. Trigger evaluation itself is in the micro-benchmarks \
         (`triggers/…`).\n",
        n("webhooks.leads")
    );
    w!(md, "| webhooks delivered | duplicates | p50 ms | p90 ms | p99 ms | max ms |\n| ---: | ---: | ---: | ---: | ---: | ---: |");
    w!(
        md,
        "| {} | {} | {p50:.1} | {} | {} | {} |\n",
        n("webhooks.delivered"),
        n("webhooks.duplicates"),
        g("webhooks.latency_p90_ms"),
        g("webhooks.latency_p99_ms"),
        g("webhooks.latency_max_ms")
    );
}
