//! The benchmark's targets and the report's comparisons, as data. A target
//! names a measure of [`super::results`]; collecting a run writes its goal
//! and direction into that measure, and the report prints PASS/MISS from
//! the document. The browser size targets are not repeated here: they are
//! `crate::web::BUDGETS`' product targets, attached to `web.<asset>.gzip_bytes`.
use super::results::{Direction, Results};

/// A target of issues #13 and #18 (and #8 for sizes, via `web::BUDGETS`).
pub struct Target {
    /// The measure it applies to.
    pub measure: &'static str,
    /// What is held to it, in words.
    pub what: &'static str,
    /// The goal, in the measure's unit.
    pub goal: f64,
    /// Which way is better.
    pub direction: Direction,
    /// Measures printed beside the value: (label, measure).
    pub context: &'static [(&'static str, &'static str)],
}

use Direction::{HigherIsBetter as Higher, LowerIsBetter as Lower};

/// Every end-to-end target, in report order.
pub const TARGETS: &[Target] = &[
    Target {
        measure: "ratio.single_saturation_vs_ceiling",
        what: "single-event POSTs at saturation vs the parse-and-discard ceiling",
        goal: 0.6,
        direction: Higher,
        context: &[("ktra", "e2e.d1s.rps"), ("ceiling", "e2e.c1s.rps")],
    },
    Target {
        measure: "e2e.d1r50.p99_ms",
        what: "p99 at 50 % of saturation, single-event POSTs, disk mode, flushes included",
        goal: 5.0,
        direction: Lower,
        context: &[("at", "e2e.d1r50.offered_rps")],
    },
    Target {
        measure: "e2e.d20r50.p99_ms",
        what: "p99 at 50 % of saturation, batched POSTs (20 events), disk mode, flushes included",
        goal: 5.0,
        direction: Lower,
        context: &[("at", "e2e.d20r50.offered_rps")],
    },
    Target {
        measure: "e2e.d20s.cpu_us_per_event",
        what: "batched POSTs: collector CPU per event (request + spool + shipping to ClickHouse)",
        // Issue #18's target (issue #13 had asked for 10).
        goal: 8.0,
        direction: Lower,
        context: &[],
    },
    Target {
        measure: "ratio.batched_vs_floor",
        what: "batched POSTs vs one ClickHouse insert per event (the floor)",
        goal: 50.0,
        direction: Higher,
        context: &[("ktra", "e2e.d20s.eps"), ("floor", "db.floor.rows_per_s")],
    },
    Target {
        measure: "ratio.shipped_vs_bulk_ceiling",
        what: "batched POSTs at saturation: events/s shipped into ClickHouse vs bulk RowBinary inserts (the database ceiling)",
        goal: 0.8,
        direction: Higher,
        context: &[("shipped", "e2e.d20s.into_clickhouse_eps"), ("ceiling", "db.bulk.rows_per_s")],
    },
    Target {
        measure: "ratio.shipped_vs_intake",
        what: "batched POSTs at saturation: events/s shipped into ClickHouse (until the last row is counted, so the last batch window is in it) vs events/s taken in",
        goal: 1.0,
        direction: Higher,
        context: &[("shipped", "e2e.d20s.into_clickhouse_eps"), ("taken in", "e2e.d20s.eps")],
    },
    Target {
        measure: "rss.disk.peak_mb",
        what: "collector peak RSS (VmHWM) at saturation, disk mode",
        goal: 150.0,
        direction: Lower,
        context: &[],
    },
    Target {
        measure: "rss.memory.peak_mb",
        what: "collector peak RSS (VmHWM) at saturation, memory mode",
        goal: 150.0,
        direction: Lower,
        context: &[],
    },
    Target {
        measure: "rss.disk_down.peak_mb",
        what: "collector peak RSS (VmHWM) at saturation, disk mode, ClickHouse stopped",
        goal: 150.0,
        direction: Lower,
        context: &[],
    },
    Target {
        measure: "rss.memory_down.peak_mb",
        what: "collector peak RSS (VmHWM) at saturation, memory mode, ClickHouse stopped",
        goal: 150.0,
        direction: Lower,
        context: &[],
    },
    Target {
        measure: "soak.rss_growth_pct",
        what: "RSS flat over the soak at 50 % load (growth from the 10 % mark to the end)",
        goal: 10.0,
        direction: Lower,
        context: &[("10 % mark", "soak.rss_early_mb"), ("middle", "soak.rss_mid_mb"), ("end", "soak.rss_end_mb")],
    },
];

/// The collector's modes at saturation: (`rss.<mode>`, system of its phases).
pub const RSS_MODES: &[(&str, &str)] = &[
    ("disk", "ktra disk"),
    ("memory", "ktra memory"),
    ("disk_down", "ktra disk, ClickHouse stopped"),
    ("memory_down", "ktra memory, ClickHouse stopped"),
];

/// "Ceilings and peers": (what, ktra's measure, the peer's measure).
pub const COMPARISONS: &[(&str, &str, &str)] = &[
    (
        "single-event POSTs at saturation, disk mode vs parse-and-discard (HTTP + JSON) ceiling",
        "e2e.d1s.rps",
        "e2e.c1s.rps",
    ),
    ("single-event POSTs at saturation, memory mode vs the ceiling", "e2e.m1s.rps", "e2e.c1s.rps"),
    (
        "single-event POSTs, disk mode, events/s into ClickHouse vs the ceiling",
        "e2e.d1s.into_clickhouse_eps",
        "e2e.c1s.eps",
    ),
    ("batched POSTs at saturation, disk mode vs the ceiling", "e2e.d20s.eps", "e2e.c20s.eps"),
    ("batched POSTs at saturation, memory mode vs the ceiling", "e2e.m20s.eps", "e2e.c20s.eps"),
    (
        "batched POSTs (disk) vs bulk RowBinary inserts of the same rows, batches of 10 000 (database ceiling)",
        "e2e.d20s.eps",
        "db.bulk.rows_per_s",
    ),
    (
        "batched POSTs (disk) vs one insert per event over HTTP, 4 concurrent (floor)",
        "e2e.d20s.eps",
        "db.floor.rows_per_s",
    ),
    ("single-event POSTs (disk) vs one insert per event (floor)", "e2e.d1s.eps", "db.floor.rows_per_s"),
];

/// What each micro-benchmark runs, by the name before `/N`.
pub const MICRO: &[(&str, &str)] = &[
    ("decode_validate_enrich", "batch JSON decode → each event decoded → `validate_event` → `build_row`"),
    ("user_agent_parse", "woothee + bot markers, once per request"),
    ("consent_token_verify", "`TokenKey::verify` (HMAC-SHA256 + base64 + JSON), once per request"),
    ("link_verify", "`email::link::verify` of a signed tracking link"),
    ("rowbinary_insert_mock", "`clickhouse` insert: RowBinary + LZ4 + HTTP to `clickhouse::test::Mock`"),
    ("spool_json_encode", "a spool record of rows as JSON, as earlier versions wrote it (`serde_json::to_vec`)"),
    ("spool_json_decode", "reading such a JSON spool record back"),
    ("spool_binary_encode", "a postcard spool record (`encode_rows`): memory mode's spills, disk mode before issue 18"),
    ("spool_binary_decode", "reading a postcard spool record back (`decode_rows`), as the shipper did before issue 18"),
    ("spool_rowbinary_encode", "a spool record as disk mode writes it: RowBinary rows with their consent roots (`sink::raw::encode`)"),
    (
        "ship_rowbinary_mock",
        "the shipper's insert of RowBinary records: rows indexed, bytes streamed as they are + LZ4 + HTTP to `clickhouse::test::Mock`",
    ),
];

/// Per-stage cost of one event: (stage, measure, where the figure comes from).
pub const STAGES: &[(&str, &str, &str)] = &[
    (
        "decode",
        "stage.decode.ns_per_event",
        "`decode_validate_enrich/20` per event × callgrind's instruction share outside `validate_event` and `build_row`",
    ),
    ("validate", "stage.validate.ns_per_event", "`decode_validate_enrich/20` per event × callgrind's share of `validate_event`"),
    ("enrich", "stage.enrich.ns_per_event", "`decode_validate_enrich/20` per event × callgrind's share of `build_row`"),
    ("spool", "stage.spool.ns_per_event", "`spool_rowbinary_encode/20` per row"),
    ("ship", "stage.ship.ns_per_event", "`ship_rowbinary_mock/1000` per row"),
];

/// Writes each target's goal and direction into its measure.
pub fn apply(r: &mut Results) {
    for t in TARGETS {
        if let Some(m) = r.measures.iter_mut().find(|m| m.name == t.measure) {
            m.target = Some(t.goal);
            m.direction = t.direction;
        }
    }
}

/// The description of micro-benchmark `name`.
pub fn micro_what(name: &str) -> &'static str {
    let base = name.split('/').next().unwrap_or("");
    MICRO.iter().find(|(k, _)| *k == base).map_or("", |(_, w)| w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_names_a_distinct_measure() {
        for (i, t) in TARGETS.iter().enumerate() {
            assert!(TARGETS[..i].iter().all(|u| u.measure != t.measure), "{} twice", t.measure);
            assert!(t.direction != Direction::None, "{} has no direction", t.measure);
        }
    }

    #[test]
    fn apply_sets_goal_and_direction() {
        let mut r = Results::default();
        r.put("e2e.d20s.cpu_us_per_event", 13.7, "µs", Direction::None);
        r.put("e2e.d20s.eps", 95888.0, "events/s", Direction::HigherIsBetter);
        apply(&mut r);
        let m = r.measure("e2e.d20s.cpu_us_per_event");
        assert_eq!(m.and_then(|m| m.target), Some(8.0));
        assert_eq!(m.and_then(|m| m.pass()), Some(false));
        assert_eq!(r.measure("e2e.d20s.eps").and_then(|m| m.target), None);
    }
}
