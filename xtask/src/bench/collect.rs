//! One run's stage outputs → the [`Results`] document: every end-to-end
//! phase, the soak, the database ceiling and floor, the micro-benchmarks,
//! the per-stage costs, the browser sizes and the profiles become measures,
//! series and listings; the ratios and maxima the targets are about are
//! derived here, once, and [`targets::apply`] attaches the goals. The
//! machine description is read now, so a re-render from the JSON (`--report-only`)
//! shows the machine that measured.
use super::phase::{mb, E2e, Phase};
use super::profile::Callgrind;
use super::results::{Direction, PhaseInfo, Profile, Results, Run, Series, WebAsset};
use super::{targets, Micro, Options};
use crate::web::BudgetLine;
use serde_json::Value;

use Direction::{HigherIsBetter as Higher, LowerIsBetter as Lower, None as Neutral};

/// What the stages produced.
pub struct Inputs {
    /// Criterion results.
    pub micro: Vec<Micro>,
    /// Seconds the micro suite took.
    pub micro_secs: f64,
    /// Callgrind's listings and stage shares.
    pub callgrind: Option<Callgrind>,
    /// `perf stat -e instructions` works.
    pub hw_counters: bool,
    /// `perf record -e cpu-clock` works.
    pub perf_sampling: bool,
    /// End-to-end results.
    pub e2e: E2e,
    /// Browser asset sizes.
    pub web: Vec<BudgetLine>,
    /// Why sizes may be stale.
    pub web_note: String,
    /// Commands, in order.
    pub commands: Vec<String>,
    /// Wall time of the whole run.
    pub total_secs: f64,
    /// Measured and warm-up seconds per phase, load connections.
    pub phase_secs: f64,
    /// Warm-up seconds per phase.
    pub warmup_secs: f64,
    /// Load generator connections.
    pub connections: usize,
    /// `/proc/loadavg` when the run started.
    pub load_at_start: String,
}

/// Builds the document.
pub fn collect(opts: &Options, i: Inputs) -> Results {
    let mut r = Results::new(run(opts, &i));
    for p in &i.e2e.phases {
        phase(&mut r, p);
    }
    if let Some(s) = &i.e2e.soak {
        phase(&mut r, &s.phase);
        let pts = s.samples.iter().map(|&(t, b)| [t, mb(b)]).collect();
        r.series.push(Series { name: "soak.rss_mb".into(), x_unit: "s".into(), unit: "MB".into(), points: pts });
    }
    if let Some(d) = i.e2e.drain_s {
        r.put("e2e.drain_s", d, "s", Lower);
    }
    if let Some(v) = &i.e2e.webhooks {
        let lat = v["latency_ms"].as_array().cloned().unwrap_or_default();
        for (fig, x) in ["p50", "p90", "p99", "max"].iter().zip(lat) {
            if let Some(x) = x.as_f64() {
                r.put(format!("webhooks.latency_{fig}_ms"), x, "ms", Lower);
            }
        }
        for (fig, unit, dir) in
            [("leads", "leads", Neutral), ("delivered", "webhooks", Higher), ("duplicates", "webhooks", Lower)]
        {
            if let Some(x) = v.get(fig).and_then(Value::as_f64) {
                r.put(format!("webhooks.{fig}"), x, unit, dir);
            }
        }
    }
    for (key, v) in [("bulk", &i.e2e.db_bulk), ("floor", &i.e2e.db_floor)] {
        let Some(v) = v else { continue };
        for (fig, unit, dir) in [
            ("rows_per_s", "rows/s", Higher),
            ("rows", "rows", Neutral),
            ("inserts", "inserts", Neutral),
            ("errors", "inserts", Lower),
            ("seconds", "s", Neutral),
            ("connections", "inserters", Neutral),
        ] {
            if let Some(x) = v.get(fig).and_then(Value::as_f64) {
                r.put(format!("db.{key}.{fig}"), x, unit, dir);
            }
        }
    }
    micro(&mut r, &i.micro, i.micro_secs);
    stages(&mut r, i.callgrind.as_ref());
    web(&mut r, &i.web);
    derived(&mut r);
    if let Some(c) = &i.callgrind {
        let title = "callgrind: `decode_validate_enrich/20`, collection limited to `ktra_benches::pipeline::rows`";
        for (name, text) in [("callgrind.inclusive", &c.inclusive_top), ("callgrind.self", &c.self_top)] {
            r.profiles.push(Profile { name: name.into(), title: title.into(), text: text.clone() });
        }
    }
    for p in &i.e2e.perf {
        for (kind, text) in [("components", &p.components), ("symbols", &p.symbols)] {
            r.profiles.push(Profile {
                name: format!("perf.{}.{kind}", p.tag),
                title: p.title.clone(),
                text: text.clone(),
            });
        }
    }
    r.notes = i.e2e.notes;
    targets::apply(&mut r);
    r
}

fn run(opts: &Options, i: &Inputs) -> Run {
    let root = crate::root().display().to_string();
    let dirty = crate::proc::output("git", &["-C", &root, "status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|s| !s.trim().is_empty());
    Run {
        date: sh("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        commit: sh("git", &["-C", &root, "rev-parse", "--short", "HEAD"]),
        dirty,
        command: format!(
            "cargo xtask bench --soak {} --phase-secs {}{}",
            opts.soak,
            opts.phase_secs,
            if opts.build_web { "" } else { " --no-web-build" }
        ),
        total_s: i.total_secs,
        phase_s: i.phase_secs,
        warmup_s: i.warmup_secs,
        soak_s: opts.soak,
        connections: i.connections,
        machine: machine(&i.e2e.ch_version, &i.load_at_start),
        clickhouse: i.e2e.ch_version.clone(),
        hw_counters: i.hw_counters,
        perf_sampling: i.perf_sampling,
        web: Vec::new(),
        web_note: i.web_note.clone(),
        commands: i.commands.clone(),
    }
}

fn phase(r: &mut Results, p: &Phase) {
    r.phases.push(PhaseInfo { tag: p.tag.clone(), system: p.system.into(), events: p.events, load_pct: p.pct });
    let ok = p.ok_events();
    let mut figures = vec![
        ("rps", p.rps(), "req/s", Higher),
        ("eps", p.eps(), "events/s", Higher),
        ("p50_ms", p.ms("p50_us"), "ms", Lower),
        ("p99_ms", p.ms("p99_us"), "ms", Lower),
        ("p999_ms", p.ms("p999_us"), "ms", Lower),
        ("max_ms", p.ms("max_us"), "ms", Lower),
        ("errors", p.errors() as f64, "requests", Lower),
        ("cpu_us_per_event", p.cpu_us_per_event(), "µs", Lower),
        ("peak_rss_mb", mb(p.hwm), "MB", Lower),
        ("accepted_events", ok as f64, "events", Neutral),
        ("body_bytes", p.body_bytes(), "B", Neutral),
        ("seconds", p.seconds(), "s", Neutral),
    ];
    if let Some(rate) = p.offered_rps {
        figures.push(("offered_rps", rate, "req/s", Neutral));
    }
    if let Some(x) = p.sustained_eps() {
        figures.push(("into_clickhouse_eps", x, "events/s", Higher));
    }
    if let Some(c) = p.ch_cpu_s {
        figures.push(("clickhouse_cpu_us_per_event", c * 1e6 / ok.max(1) as f64, "µs", Lower));
    }
    if let Some(n) = p.arrived {
        figures.push(("arrived_events", n as f64, "events", Neutral));
    }
    if let Some(f) = p.fsync {
        figures.push(("fsync_count", f.count, "fsyncs", Neutral));
        figures.push(("fsync_mean_ms", f.mean_ms, "ms", Lower));
        figures.push(("fsync_p50_le_ms", f.p50_le_ms, "ms", Lower));
        figures.push(("fsync_p99_le_ms", f.p99_le_ms, "ms", Lower));
    }
    for (fig, v, unit, dir) in figures {
        r.put(format!("e2e.{}.{fig}", p.tag), v, unit, dir);
    }
    let timeline = p.timeline();
    if !timeline.is_empty() {
        r.series.push(Series {
            name: format!("e2e.{}.timeline_max_ms", p.tag),
            x_unit: "s".into(),
            unit: "ms".into(),
            points: timeline.iter().map(|w| [w[0] as f64 / 1000.0, w[2] as f64 / 1000.0]).collect(),
        });
    }
}

fn micro(r: &mut Results, micro: &[Micro], secs: f64) {
    if micro.is_empty() {
        return;
    }
    r.put("micro.suite_s", secs, "s", Neutral);
    for m in micro {
        r.put(format!("micro.{}.ns_per_iter", m.name), m.ns, "ns", Lower);
        r.put(format!("micro.{}.spread_ns", m.name), m.spread, "ns", Neutral);
        r.put(format!("micro.{}.ns_per_op", m.name), m.ns / m.per_iter(), "ns", Lower);
    }
}

/// The per-stage cost of one event: callgrind's instruction shares split the
/// measured decode → validate → enrich time; spool and ship come from their
/// micro-benchmarks.
fn stages(r: &mut Results, callgrind: Option<&Callgrind>) {
    let per_op = |r: &Results, bench: &str| r.get(&format!("micro.{bench}.ns_per_op"));
    if let (Some(c), Some(ns)) = (callgrind, per_op(r, "decode_validate_enrich/20")) {
        let share = |name: &str| c.shares.iter().find(|(n, _)| *n == name).map_or(0.0, |s| s.1);
        let (validate, enrich) = (share("validate"), share("enrich"));
        let decode = (100.0 - validate - enrich).max(0.0);
        for (stage, pct) in [("decode", decode), ("validate", validate), ("enrich", enrich)] {
            r.put(format!("callgrind.{stage}_pct"), pct, "%", Neutral);
            r.put(format!("stage.{stage}.ns_per_event"), ns * pct / 100.0, "ns", Lower);
        }
        r.put("callgrind.url_parse_pct", share("url_parse"), "%", Neutral);
    }
    // Disk mode's record since issue 18 (RowBinary, streamed into the insert as it is).
    if let Some(ns) = per_op(r, "spool_rowbinary_encode/20") {
        r.put("stage.spool.ns_per_event", ns, "ns", Lower);
    }
    if let Some(ns) = per_op(r, "ship_rowbinary_mock/1000") {
        r.put("stage.ship.ns_per_event", ns, "ns", Lower);
    }
}

fn web(r: &mut Results, lines: &[BudgetLine]) {
    for l in lines {
        let key = l.label.split_whitespace().next().unwrap_or(l.label).to_owned();
        let missing = match &l.sizes {
            Ok((raw, gz)) => {
                r.put(format!("web.{key}.raw_bytes"), *raw as f64, "B", Lower);
                r.put(format!("web.{key}.gzip_bytes"), *gz as f64, "B", Lower);
                if let Some(m) = r.measures.last_mut() {
                    m.target = Some(l.target as f64);
                }
                None
            }
            Err(e) => Some(e.clone()),
        };
        r.run.web.push(WebAsset { key, label: l.label.into(), limit_bytes: l.budget, missing });
    }
    let startup = std::env::var("KTRA_BENCH_PIXEL_STARTUP_MS")
        .ok()
        .or_else(|| std::fs::read_to_string(crate::target_dir().join("bench/pixel-startup-ms.txt")).ok())
        .and_then(|s| s.trim().parse::<f64>().ok());
    if let Some(ms) = startup {
        r.put("web.pixel_startup_ms", ms, "ms", Lower);
    }
}

/// The figures the targets are about that no single phase gives.
fn derived(r: &mut Results) {
    let ratio = |a: Option<f64>, b: Option<f64>| a.zip(b.filter(|b| *b > 0.0)).map(|(a, b)| a / b);
    if let Some(x) = ratio(r.of("d1s", "rps"), r.of("c1s", "rps")) {
        r.put("ratio.single_saturation_vs_ceiling", x, "×", Higher);
    }
    if let Some(x) = ratio(r.of("d20s", "eps"), r.get("db.floor.rows_per_s")) {
        r.put("ratio.batched_vs_floor", x, "×", Higher);
    }
    // Issue 18: what the write path ships into ClickHouse at batched saturation, against
    // the database's own bulk-insert rate and against the intake of the same phase.
    if let Some(x) = ratio(r.of("d20s", "into_clickhouse_eps"), r.get("db.bulk.rows_per_s")) {
        r.put("ratio.shipped_vs_bulk_ceiling", x, "×", Higher);
    }
    if let Some(x) = ratio(r.of("d20s", "into_clickhouse_eps"), r.of("d20s", "eps")) {
        r.put("ratio.shipped_vs_intake", x, "×", Higher);
    }
    for (mode, system) in targets::RSS_MODES {
        let peak = r
            .phases
            .iter()
            .filter(|p| p.system == *system && p.load_pct.is_none())
            .filter_map(|p| r.of(&p.tag, "peak_rss_mb"))
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
        if let Some(peak) = peak {
            r.put(format!("rss.{mode}.peak_mb"), peak, "MB", Lower);
        }
    }
    let samples = r.series("soak.rss_mb").map(|s| s.points.clone()).unwrap_or_default();
    if samples.len() > 4 {
        let t_end = samples.last().map_or(0.0, |p| p[0]);
        let at = |f: f64| samples.iter().find(|p| p[0] >= t_end * f).map_or(0.0, |p| p[1]);
        let (early, mid, end) = (at(0.1), at(0.5), samples.last().map_or(0.0, |p| p[1]));
        r.put("soak.rss_early_mb", early, "MB", Lower);
        r.put("soak.rss_mid_mb", mid, "MB", Lower);
        r.put("soak.rss_end_mb", end, "MB", Lower);
        let growth = if early > 0.0 { (end / early - 1.0) * 100.0 } else { 0.0 };
        r.put("soak.rss_growth_pct", growth, "%", Lower);
    }
}

fn sh(program: &str, args: &[&str]) -> String {
    crate::proc::output(program, args).map(|s| s.trim().to_owned()).unwrap_or_else(|| "unknown".into())
}

fn first_line_with(path: &str, key: &str) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| {
            t.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_once(':').map(|(_, v)| v.trim().to_owned()))
        })
        .unwrap_or_else(|| "unknown".into())
}

/// `/proc/loadavg`'s three averages.
pub fn load_average() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    load.split_whitespace().take(3).collect::<Vec<_>>().join(", ")
}

fn machine(ch_version: &str, load_at_start: &str) -> Vec<[String; 2]> {
    let mem_kb: f64 = first_line_with("/proc/meminfo", "MemTotal").trim_end_matches("kB").trim().parse().unwrap_or(0.0);
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| t.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_owned())))
        .unwrap_or_else(|| "unknown".into());
    let disk = sh("df", &["-h", "--output=source,fstype,size", &crate::target_dir().display().to_string()]);
    [
        ("CPU", first_line_with("/proc/cpuinfo", "model name")),
        ("cores (nproc)", std::thread::available_parallelism().map_or_else(|_| "?".into(), |n| n.to_string())),
        ("memory", format!("{:.1} GiB", mem_kb / 1024.0 / 1024.0)),
        ("OS", os),
        ("kernel", std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_owned()),
        ("target/ filesystem", disk.lines().last().unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" ")),
        ("load average at the start (1, 5, 15 min)", load_at_start.to_owned()),
        ("load average at the end (1, 5, 15 min)", load_average()),
        ("rustc", sh("rustc", &["-V"])),
        (
            "ClickHouse",
            if ch_version.is_empty() {
                "not reached".into()
            } else {
                format!("{ch_version} (Debian package, private server under target/)")
            },
        ),
    ]
    .into_iter()
    .map(|(k, v)| [k.to_owned(), v])
    .collect()
}

#[cfg(test)]
mod tests {
    use super::super::phase::Soak;
    use super::*;
    use serde_json::json;

    fn phase(tag: &str, system: &'static str, pct: Option<u32>, rps: f64, hwm_mb: u64) -> Phase {
        Phase {
            tag: tag.into(),
            system,
            events: 1,
            pct,
            report: json!({ "rps": rps, "eps": rps, "p99_us": 4000, "ok_events": 1000, "seconds": 5.0,
                            "timeline": [[0, 10, 900], [100, 10, 1200]] }),
            hwm: hwm_mb * 1_000_000,
            ..Default::default()
        }
    }

    #[test]
    fn ratios_peaks_and_targets_are_derived_from_the_phases() {
        let mut r = Results::default();
        for p in [
            phase("d1s", "ktra disk", None, 24_000.0, 90),
            phase("d1r50", "ktra disk", Some(50), 12_000.0, 99),
            phase("c1s", "ceiling", None, 80_000.0, 7),
            phase("y1s", "ktra memory, ClickHouse stopped", None, 30_000.0, 120),
            phase("y20s", "ktra memory, ClickHouse stopped", None, 6_000.0, 140),
        ] {
            super::phase(&mut r, &p);
        }
        let soak = Soak {
            phase: phase("soak", "ktra disk", Some(50), 12_000.0, 99),
            samples: (0..10).map(|t| (t as f64, 80_000_000)).collect(),
        };
        r.series.push(Series {
            name: "soak.rss_mb".into(),
            x_unit: "s".into(),
            unit: "MB".into(),
            points: soak.samples.iter().map(|&(t, b)| [t, mb(b)]).collect(),
        });
        derived(&mut r);
        targets::apply(&mut r);
        let ratio = r.measure("ratio.single_saturation_vs_ceiling");
        assert_eq!(ratio.map(|m| m.value), Some(0.3));
        assert_eq!(ratio.and_then(|m| m.pass()), Some(false), "0.3× misses the 0.6× target");
        assert_eq!(r.get("rss.disk.peak_mb"), Some(90.0), "open-loop phases are not saturation");
        let down = r.measure("rss.memory_down.peak_mb");
        assert_eq!(down.map(|m| (m.value, m.pass())), Some((140.0, Some(true))));
        assert_eq!(r.get("soak.rss_growth_pct"), Some(0.0));
        assert_eq!(r.of("d1r50", "p99_ms"), Some(4.0));
        assert_eq!(r.series("e2e.d1s.timeline_max_ms").map(|s| s.points.clone()), Some(vec![[0.0, 0.9], [0.1, 1.2]]));
    }
}
