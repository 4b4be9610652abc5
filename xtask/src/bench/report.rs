//! `BENCHMARKS.md` and the plot, from what one run measured: the targets
//! with PASS/MISS and the margin, the machine, every phase, the ceilings and
//! peers as ratios to ktra, the micro-benchmarks, the browser cost, the
//! profiles' top frames and the exact commands.
use super::e2e::{mb, Bench, E2e, Phase};
use super::svg::{self, Panel, Point, Series};
use super::{Micro, Options};
use crate::web::BudgetLine;
use serde_json::Value;
use std::fmt::Write;

/// What the report is made from.
pub struct Inputs<'a> {
    /// Options of the run.
    pub opts: &'a Options,
    /// Criterion results.
    pub micro: Vec<Micro>,
    /// Seconds the micro suite took.
    pub micro_secs: f64,
    /// Callgrind (self, inclusive) top frames.
    pub callgrind: Option<(String, String)>,
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
    /// Settings.
    pub bench: &'a Bench,
}

/// Gzipped size targets of issue #8, by budget label prefix.
const BROWSER_TARGETS: &[(&str, u64)] = &[("loader", 1536), ("banner", 6144), ("pixel", 10240)];

/// A target's outcome.
struct Verdict {
    what: String,
    target: String,
    measured: String,
    pass: Option<bool>,
    margin: String,
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

fn machine(ch_version: &str) -> Vec<(&'static str, String)> {
    let mem_kb: f64 = first_line_with("/proc/meminfo", "MemTotal").trim_end_matches("kB").trim().parse().unwrap_or(0.0);
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| t.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_owned())))
        .unwrap_or_else(|| "unknown".into());
    let disk = sh("df", &["-h", "--output=source,fstype,size", &crate::target_dir().display().to_string()]);
    vec![
        ("CPU", first_line_with("/proc/cpuinfo", "model name")),
        ("cores (nproc)", std::thread::available_parallelism().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())),
        ("memory", format!("{:.1} GiB", mem_kb / 1024.0 / 1024.0)),
        ("OS", os),
        ("kernel", std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_owned()),
        ("target/ filesystem", disk.lines().last().unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" ")),
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
}

fn find<'a>(e: &'a E2e, tag: &str) -> Option<&'a Phase> {
    e.phases.iter().find(|p| p.tag == tag)
}

fn pct_margin(value: f64, target: f64, higher_is_better: bool) -> (bool, String) {
    let pass = if higher_is_better { value >= target } else { value <= target };
    let rel = if higher_is_better { value / target - 1.0 } else { 1.0 - value / target };
    let margin = if pass {
        format!("{:.0} % headroom", rel * 100.0)
    } else if higher_is_better {
        format!("short by {:.0} %", -rel * 100.0)
    } else {
        format!("over by {:.0} % ({:.2}× the target)", -rel * 100.0, value / target)
    };
    (pass, margin)
}

fn verdicts(r: &Inputs) -> Vec<Verdict> {
    let e = &r.e2e;
    let mut v = Vec::new();
    let missing = |what: &str, target: &str| Verdict {
        what: what.into(),
        target: target.into(),
        measured: "not measured".into(),
        pass: None,
        margin: "see notes".into(),
    };
    // 1. single-event saturation vs the ceiling.
    match (find(e, "d1s"), find(e, "c1s")) {
        (Some(k), Some(c)) if c.rps() > 0.0 => {
            let ratio = k.rps() / c.rps();
            let (pass, margin) = pct_margin(ratio, 0.6, true);
            v.push(Verdict {
                what: "single-event POSTs at saturation vs the parse-and-discard ceiling".into(),
                target: "≥ 0.6×".into(),
                measured: format!("{:.2}× ({:.0} vs {:.0} req/s)", ratio, k.rps(), c.rps()),
                pass: Some(pass),
                margin,
            });
        }
        _ => v.push(missing("single-event POSTs at saturation vs the ceiling", "≥ 0.6×")),
    }
    // 2. p99 at 50 %.
    for (tag, what) in [("d1r50", "single-event POSTs"), ("d20r50", "batched POSTs (20 events)")] {
        match find(e, tag) {
            Some(p) => {
                let (pass, margin) = pct_margin(p.ms("p99_us"), 5.0, false);
                v.push(Verdict {
                    what: format!("p99 at 50 % of saturation, {what}, disk mode, flushes included"),
                    target: "≤ 5 ms".into(),
                    measured: format!("{:.2} ms (at {:.0} req/s)", p.ms("p99_us"), p.offered_rps.unwrap_or(0.0)),
                    pass: Some(pass),
                    margin,
                });
            }
            None => v.push(missing(&format!("p99 at 50 %, {what}"), "≤ 5 ms")),
        }
    }
    // 3. CPU per event, batched.
    match find(e, "d20s") {
        Some(p) => {
            let (pass, margin) = pct_margin(p.cpu_us_per_event(), 10.0, false);
            v.push(Verdict {
                what: "batched POSTs: collector CPU per event (request + spool + shipping to ClickHouse)".into(),
                target: "≤ 10 µs".into(),
                measured: format!("{:.1} µs", p.cpu_us_per_event()),
                pass: Some(pass),
                margin,
            });
        }
        None => v.push(missing("batched POSTs: collector CPU per event", "≤ 10 µs")),
    }
    // 4. vs the one-insert-per-event floor.
    let floor = e.db_floor.as_ref().and_then(|f| f.get("rows_per_s")).and_then(Value::as_f64);
    match (find(e, "d20s"), floor) {
        (Some(p), Some(f)) if f > 0.0 => {
            let ratio = p.eps() / f;
            let (pass, margin) = pct_margin(ratio, 50.0, true);
            v.push(Verdict {
                what: "batched POSTs vs one ClickHouse insert per event (the floor)".into(),
                target: "≥ 50×".into(),
                measured: format!("{:.0}× ({:.0} vs {:.0} events/s)", ratio, p.eps(), f),
                pass: Some(pass),
                margin,
            });
        }
        _ => v.push(missing("batched POSTs vs one insert per event", "≥ 50×")),
    }
    // 5. RSS at saturation.
    let sat = e.phases.iter().filter(|p| p.system.starts_with("ktra") && p.pct.is_none());
    match sat.max_by_key(|p| p.hwm) {
        Some(worst) => {
            let (pass, margin) = pct_margin(mb(worst.hwm), 150.0, false);
            let disk = e.phases.iter().filter(|p| p.system == "ktra disk").map(|p| p.hwm).max().unwrap_or(0);
            v.push(Verdict {
                what: "collector peak RSS (VmHWM) at saturation, any mode".into(),
                target: "≤ 150 MB".into(),
                measured: format!(
                    "{:.1} MB ({}, {} events/request; disk mode with ClickHouse up: {:.1} MB)",
                    mb(worst.hwm),
                    worst.system,
                    worst.events,
                    mb(disk)
                ),
                pass: Some(pass),
                margin,
            });
        }
        None => v.push(missing("collector peak RSS at saturation", "≤ 150 MB")),
    }
    // 6. RSS flat over the soak.
    match &e.soak {
        Some(s) if s.samples.len() > 4 => {
            let (t_end, end) = *s.samples.last().unwrap_or(&(0.0, 0));
            let early = s.samples.iter().find(|(t, _)| *t >= t_end * 0.1).map_or(0, |x| x.1);
            let mid = s.samples.iter().find(|(t, _)| *t >= t_end * 0.5).map_or(0, |x| x.1);
            let growth = if early > 0 { end as f64 / early as f64 - 1.0 } else { 0.0 };
            let pass = growth <= 0.10;
            v.push(Verdict {
                what: format!(
                    "RSS flat over a {:.0} s soak at 50 % load (growth from the 10 % mark to the end)",
                    s.phase.f64_secs()
                ),
                target: "≤ +10 %".into(),
                measured: format!("{:.1} → {:.1} → {:.1} MB ({:+.1} %)", mb(early), mb(mid), mb(end), growth * 100.0),
                pass: Some(pass),
                margin: if pass { "flat".into() } else { format!("grew {:.0} %", growth * 100.0) },
            });
        }
        _ => v.push(missing("RSS flat over a soak", "≤ +10 %")),
    }
    // 7. Browser budgets (the issue's targets, not the test run's budgets).
    for b in &r.web {
        let goal = BROWSER_TARGETS.iter().find(|(k, _)| b.label.starts_with(k)).map_or(b.budget, |(_, t)| *t);
        match &b.sizes {
            Ok((_, gz)) => {
                let (pass, margin) = pct_margin(*gz as f64, goal as f64, false);
                v.push(Verdict {
                    what: format!("gzipped {}", b.label),
                    target: format!("≤ {goal} B"),
                    measured: format!("{gz} B"),
                    pass: Some(pass),
                    margin,
                });
            }
            Err(e) => v.push(Verdict {
                what: format!("gzipped {}", b.label),
                target: format!("≤ {goal} B"),
                measured: format!("missing ({e})"),
                pass: None,
                margin: "not built".into(),
            }),
        }
    }
    v
}

impl Phase {
    fn f64_secs(&self) -> f64 {
        self.report.get("seconds").and_then(Value::as_f64).unwrap_or(0.0)
    }
}

fn mark(pass: Option<bool>) -> &'static str {
    match pass {
        Some(true) => "PASS",
        Some(false) => "MISS",
        None => "n/a",
    }
}

fn load_label(p: &Phase) -> String {
    match p.pct {
        None => "saturation".into(),
        Some(x) if p.system == "ceiling" => format!("{x} % of ktra's"),
        Some(x) => format!("{x} %"),
    }
}

fn plot(e: &E2e) -> String {
    let pts = |tags: &[&str]| -> Vec<Point> {
        tags.iter()
            .filter_map(|t| find(e, t))
            .map(|p| Point {
                x: p.offered_rps.map_or(p.eps(), |r| r * p.events as f64),
                p50: p.ms("p50_us"),
                p99: p.ms("p99_us"),
                p999: p.ms("p999_us"),
                saturation: p.pct.is_none(),
            })
            .collect()
    };
    let panels = [
        Panel {
            title: "single-event POSTs".into(),
            series: vec![
                Series {
                    name: "ktra, disk durability (default)".into(),
                    color: "#1f77b4",
                    points: pts(&["d1r25", "d1r50", "d1r75", "d1s"]),
                },
                Series { name: "ktra, memory durability".into(), color: "#2ca02c", points: pts(&["m1r50", "m1s"]) },
                Series {
                    name: "parse-and-discard ceiling".into(),
                    color: "#ff7f0e",
                    points: pts(&["c1r25", "c1r50", "c1r75", "c1s"]),
                },
            ],
        },
        Panel {
            title: "batched POSTs (20 events each)".into(),
            series: vec![
                Series {
                    name: "ktra, disk durability (default)".into(),
                    color: "#1f77b4",
                    points: pts(&["d20r25", "d20r50", "d20r75", "d20s"]),
                },
                Series { name: "ktra, memory durability".into(), color: "#2ca02c", points: pts(&["m20s"]) },
                Series { name: "parse-and-discard ceiling".into(), color: "#ff7f0e", points: pts(&["c20s"]) },
            ],
        },
    ];
    svg::render(
        "ktra collector: latency vs offered load",
        "open loop, latency from the intended send time (coordinated omission corrected); 64 keep-alive connections; loopback, 2 shared cores",
        &panels,
    )
}

/// Renders (markdown, svg, verdict lines for the console).
pub fn render(r: &Inputs) -> (String, String, Vec<String>) {
    let e = &r.e2e;
    let b = r.bench;
    let vs = verdicts(r);
    let mut md = String::new();
    let date = sh("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    let commit = sh("git", &["-C", &crate::root().display().to_string(), "rev-parse", "--short", "HEAD"]);
    let dirty = crate::proc::output(
        "git",
        &["-C", &crate::root().display().to_string(), "status", "--porcelain", "--untracked-files=no"],
    )
    .is_some_and(|s| !s.trim().is_empty());
    let _ = writeln!(md, "# ktra benchmarks\n");
    let _ = writeln!(
        md,
        "Generated by `cargo xtask bench --soak {} --phase-secs {}` on {date}, commit `{commit}`{}. \
         The whole run took {:.0} s. Every number below comes from that one run on the machine described; \
         the machine is shared and noisy, so compare ratios within the run rather than absolute numbers across runs. \
         Benchmarks measure; tests assert nothing about speed.\n",
        r.opts.soak,
        r.opts.phase_secs,
        if dirty { " (with uncommitted changes in the work tree)" } else { "" },
        r.total_secs
    );
    let _ = writeln!(md, "![latency vs offered load](docs/bench-latency.svg)\n");

    let _ = writeln!(md, "## Targets\n");
    let _ = writeln!(md, "| target | goal | measured | result | margin |\n| --- | --- | --- | --- | --- |");
    for v in &vs {
        let _ = writeln!(md, "| {} | {} | {} | **{}** | {} |", v.what, v.target, v.measured, mark(v.pass), v.margin);
    }
    let _ = writeln!(md);

    let _ = writeln!(md, "## Machine\n\n| | |\n| --- | --- |");
    for (k, v) in machine(&e.ch_version) {
        let _ = writeln!(md, "| {k} | {v} |");
    }
    let _ = writeln!(
        md,
        "\nEverything runs on these cores at once: the load generator (2 tokio workers + a pacing thread), the server under test \
         (tokio, one worker per core) and, for ktra, ClickHouse. CPU columns are per process from `/proc/<pid>/stat` (10 ms ticks).\n"
    );

    // ---- end to end ----
    let _ = writeln!(md, "## End to end\n");
    let _ = writeln!(
        md,
        "`ktra-bench load` sends `POST /v1/events` over {} keep-alive HTTP/1.1 connections (hyper client), `Content-Type: text/plain` as `sendBeacon` does, \
         a desktop Chrome `User-Agent`, an allowed `Origin` and a valid consent token; bodies carry ~{} bytes per event \
         (product URL with path and query, search referrer, title; the session's UTM object at batch level) and a mix of \
         page_view, scroll, engagement, custom (with props) and purchase events, each with a fresh UUID. \
         Each phase: {:.0} s warm-up (sent, not measured) + {:.0} s measured. **Saturation** = closed loop (each connection sends as soon as \
         its previous answer arrived); **N %** = open loop at N % of that saturation rate, latency measured from each request's \
         intended send time. **events/s into ClickHouse** = all events of the phase (warm-up included) ÷ the time from its first request \
         until the last of them was counted in ClickHouse: what the whole write path sustains, shipping included. The collector runs with its defaults (batches of up to 10 000 rows or 1 s, 4096-request queue), \
         consent enforced, no GeoIP database. CPU µs/event for ktra covers the requests *and* moving the rows into ClickHouse \
         (until the phase's events were all counted there). At partial load every server, the ceiling too, spends more CPU per \
         event than at saturation: fewer requests share each wake-up of the runtime and each system call.\n",
        b.connections,
        avg_event_bytes(e),
        b.warmup_secs,
        b.phase_secs
    );
    let _ = writeln!(
        md,
        "| system | ev/req | load | offered req/s | req/s | events/s | events/s into ClickHouse | p50 ms | p99 ms | p99.9 ms | max ms | errors | server CPU µs/event | ClickHouse CPU µs/event | peak RSS MB | arrived in ClickHouse |"
    );
    let _ = writeln!(md, "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    let mut all: Vec<&Phase> = e.phases.iter().collect();
    if let Some(s) = &e.soak {
        all.push(&s.phase);
    }
    for p in all {
        let arrived = match p.arrived {
            Some(n) if n == p.ok_events() => format!("{n} / {} ✓", p.ok_events()),
            Some(n) => format!("**{n} / {}**", p.ok_events()),
            None if p.system == "ceiling" => "n/a (discards)".into(),
            None => "not checked".into(),
        };
        let _ = writeln!(
            md,
            "| {}{} | {} | {} | {} | {:.0} | {:.0} | {} | {:.2} | {:.2} | {:.2} | {:.1} | {} | {:.1} | {} | {:.1} | {} |",
            p.system,
            if p.tag == "soak" { " (soak)" } else { "" },
            p.events,
            load_label(p),
            p.offered_rps.map_or("—".into(), |r| format!("{r:.0}")),
            p.rps(),
            p.eps(),
            p.sustained_eps().map_or("—".into(), |x| format!("{x:.0}")),
            p.ms("p50_us"),
            p.ms("p99_us"),
            p.ms("p999_us"),
            p.ms("max_us"),
            p.errors(),
            p.cpu_us_per_event(),
            p.ch_cpu_s.map_or("—".into(), |c| format!("{:.1}", c * 1e6 / p.ok_events().max(1) as f64)),
            mb(p.hwm),
            arrived
        );
    }
    let _ = writeln!(md);
    timelines(&mut md, e);
    ceilings(&mut md, e);
    spool_section(&mut md, e);
    soak_section(&mut md, e);

    // ---- micro ----
    let _ = writeln!(md, "## Micro-benchmarks\n");
    let _ = writeln!(
        md,
        "criterion, 0.5 s warm-up + 2 s measurement each (the suite took {:.0} s). `…/N` runs N events or rows per iteration.\n",
        r.micro_secs
    );
    let _ =
        writeln!(md, "| benchmark | what | ns/iter | ± | ns per event/row/op |\n| --- | --- | ---: | ---: | ---: |");
    for m in &r.micro {
        let _ = writeln!(
            md,
            "| `{}` | {} | {:.0} | {:.0} | **{:.0}** |",
            m.name,
            micro_what(&m.name),
            m.ns,
            m.spread,
            m.ns / m.per_iter()
        );
    }
    let _ = writeln!(md);

    // ---- browser ----
    let _ = writeln!(md, "## Browser cost\n");
    let _ =
        writeln!(md, "gzip -9 sizes of the built assets in `target/web/` (`cargo xtask build-web`). {}\n", r.web_note);
    let _ = writeln!(md, "| asset | raw B | gzipped B | target B (#8) | result | `cargo xtask test` budget B |\n| --- | ---: | ---: | ---: | --- | ---: |");
    for w in &r.web {
        let goal = BROWSER_TARGETS.iter().find(|(k, _)| w.label.starts_with(k)).map_or(w.budget, |(_, t)| *t);
        match &w.sizes {
            Ok((raw, gz)) => {
                let _ = writeln!(
                    md,
                    "| {} | {raw} | {gz} | {goal} | {} | {} |",
                    w.label,
                    if *gz <= goal { "PASS" } else { "MISS" },
                    w.budget
                );
            }
            Err(err) => {
                let _ = writeln!(md, "| {} | — | — | {goal} | missing: {err} | {} |", w.label, w.budget);
            }
        }
    }
    let startup = std::env::var("KTRA_BENCH_PIXEL_STARTUP_MS")
        .ok()
        .or_else(|| std::fs::read_to_string(crate::target_dir().join("bench/pixel-startup-ms.txt")).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    let _ = writeln!(
        md,
        "| pixel start-up, main-thread time in headless Chromium | | {} | | | |\n",
        startup.map_or("see the browser test output (`cargo xtask test`)".into(), |s| format!("{s} ms"))
    );

    profiles(&mut md, r, &vs);

    let _ = writeln!(md, "## Notes\n");
    if e.notes.is_empty() {
        let _ =
            writeln!(md, "- Nothing went wrong: every phase ran and every accepted event was counted in ClickHouse.");
    }
    for n in &e.notes {
        let _ = writeln!(md, "- {n}");
    }
    let _ = writeln!(
        md,
        "- Raw reports of every phase are in `target/bench/<tag>.json` (tags: `d…` disk, `m…` memory, `c…` ceiling, `x…`/`y…` ClickHouse stopped; `…s` saturation, `…rNN` NN %)."
    );
    let _ = writeln!(
        md,
        "\n## Exact commands\n\n<details><summary>{} commands, in order</summary>\n\n```sh",
        r.commands.len()
    );
    for c in &r.commands {
        let _ = writeln!(md, "{c}");
    }
    let _ = writeln!(md, "```\n</details>");

    let console = vs
        .iter()
        .map(|v| format!("{:<4} {} — {} (goal {}; {})", mark(v.pass), v.what, v.measured, v.target, v.margin))
        .collect();
    (md, plot(e), console)
}

fn avg_event_bytes(e: &E2e) -> String {
    // The 20-event batch's body per event, without the batch header share.
    match (find(e, "d20s"), find(e, "d1s")) {
        (Some(b20), Some(b1)) => {
            let (x20, x1) = (
                b20.report.get("body_bytes").and_then(Value::as_f64).unwrap_or(0.0),
                b1.report.get("body_bytes").and_then(Value::as_f64).unwrap_or(0.0),
            );
            format!("{:.0}", (x20 - x1) / 19.0)
        }
        _ => "400".into(),
    }
}

fn micro_what(name: &str) -> &'static str {
    match name.split('/').next().unwrap_or("") {
        "decode_validate_enrich" => "batch JSON decode → each event decoded → `validate_event` → `build_row`",
        "user_agent_parse" => "woothee + bot markers, once per request",
        "consent_token_verify" => "`TokenKey::verify` (HMAC-SHA256 + base64 + JSON), once per request",
        "link_verify" => "`email::link::verify` of a signed tracking link",
        "rowbinary_insert_mock" => "`clickhouse` insert: RowBinary + LZ4 + HTTP to `clickhouse::test::Mock`",
        "spool_json_encode" => "disk mode: the writer's spool record (`serde_json::to_vec` of rows)",
        "spool_json_decode" => "disk mode: the shipper reading a spool record back",
        _ => "",
    }
}

fn ceilings(md: &mut String, e: &E2e) {
    let _ = writeln!(md, "## Ceilings and peers (same run)\n");
    let _ = writeln!(md, "| comparison | ktra | peer | ktra ÷ peer |\n| --- | ---: | ---: | ---: |");
    let row = |md: &mut String, what: &str, k: Option<f64>, p: Option<f64>, unit: &str| {
        if let (Some(k), Some(p)) = (k, p) {
            let _ =
                writeln!(md, "| {what} | {k:.0} {unit} | {p:.0} {unit} | {:.2} |", if p > 0.0 { k / p } else { 0.0 });
        }
    };
    let rps = |t: &str| find(e, t).map(Phase::rps);
    let eps = |t: &str| find(e, t).map(Phase::eps);
    row(
        md,
        "single-event POSTs at saturation, disk mode vs parse-and-discard (HTTP + JSON) ceiling",
        rps("d1s"),
        rps("c1s"),
        "req/s",
    );
    row(md, "single-event POSTs at saturation, memory mode vs the ceiling", rps("m1s"), rps("c1s"), "req/s");
    let into = |t: &str| find(e, t).and_then(Phase::sustained_eps);
    row(
        md,
        "single-event POSTs, disk mode, events/s into ClickHouse vs the ceiling",
        into("d1s"),
        eps("c1s"),
        "events/s",
    );
    row(md, "batched POSTs at saturation, disk mode vs the ceiling", eps("d20s"), eps("c20s"), "events/s");
    row(md, "batched POSTs at saturation, memory mode vs the ceiling", eps("m20s"), eps("c20s"), "events/s");
    let bulk = e.db_bulk.as_ref().and_then(|v| v.get("rows_per_s")).and_then(Value::as_f64);
    let floor = e.db_floor.as_ref().and_then(|v| v.get("rows_per_s")).and_then(Value::as_f64);
    row(
        md,
        "batched POSTs (disk) vs bulk RowBinary inserts of the same rows, batches of 10 000 (database ceiling)",
        eps("d20s"),
        bulk,
        "events/s",
    );
    row(
        md,
        "batched POSTs (disk) vs one insert per event over HTTP, 4 concurrent (floor)",
        eps("d20s"),
        floor,
        "events/s",
    );
    row(md, "single-event POSTs (disk) vs one insert per event (floor)", eps("d1s"), floor, "events/s");
    for (name, v) in [("database ceiling", &e.db_bulk), ("floor", &e.db_floor)] {
        if let Some(v) = v {
            let g = |k: &str| v.get(k).and_then(Value::as_f64).unwrap_or(0.0);
            let _ = writeln!(
                md,
                "\n{name}: {:.0} rows in {} inserts ({} failed) over {:.1} s with {:.0} concurrent inserter(s).",
                g("rows"),
                g("inserts"),
                g("errors"),
                g("seconds"),
                g("connections")
            );
        }
    }
    let _ = writeln!(
        md,
        "\nThe ceiling server is `ktra-bench ceiling`: the same hyper/axum stack and socket settings as the collector, decoding the \
         batch and each event into `ktra_schema` wire types and answering 202 — no consent check, validation, enrichment, queue or disk.\n"
    );
}

fn timelines(md: &mut String, e: &E2e) {
    let rows: Vec<&Phase> = ["d1r50", "m1r50", "c1r50", "d20r50"].iter().filter_map(|t| find(e, t)).collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "### When the slow answers come (50 % load)\n\nLargest latency in each 100 ms of the measured window (ms, by intended send time). \
         ktra's collector flushes a batch (memory mode) or ships the spool (disk mode) about once per `batch_max_ms` (1 s).\n"
    );
    let _ =
        writeln!(md, "| system | ev/req | windows > 5 ms | max per 100 ms window (ms) |\n| --- | ---: | ---: | --- |");
    for p in rows {
        let tl: Vec<u64> = p
            .report
            .get("timeline")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|w| w.get(2).and_then(Value::as_u64)).collect())
            .unwrap_or_default();
        let slow = tl.iter().filter(|&&us| us > 5_000).count();
        let series = tl.iter().map(|us| format!("{}", (us + 500) / 1000)).collect::<Vec<_>>().join(" ");
        let _ = writeln!(md, "| {} | {} | {slow} of {} | {series} |", p.system, p.events, tl.len());
    }
    let _ = writeln!(md);
}

fn spool_section(md: &mut String, e: &E2e) {
    let down: Vec<&Phase> = e.phases.iter().filter(|p| p.system.contains("stopped")).collect();
    if down.is_empty() {
        return;
    }
    let _ = writeln!(md, "## ClickHouse stopped (the spool path)\n");
    let _ = writeln!(
        md,
        "ClickHouse was stopped, the collector restarted against it, loaded at saturation, then stopped; ClickHouse was started again \
         on the same data and a collector on each spool shipped it. CPU here is only the request window (nothing is shipped meanwhile)."
    );
    match e.drain_s {
        Some(s) => {
            let _ = writeln!(
                md,
                "Every accepted event arrived {s:.1} s after ClickHouse was started again (its start-up included).\n"
            );
        }
        None => {
            let _ = writeln!(md, "**Not every accepted event arrived**; see the notes.\n");
        }
    }
    let _ = writeln!(md, "| mode | ev/req | req/s | events/s | p99 ms | server CPU µs/event | arrived after restart |\n| --- | ---: | ---: | ---: | ---: | ---: | --- |");
    for p in down {
        let _ = writeln!(
            md,
            "| {} | {} | {:.0} | {:.0} | {:.2} | {:.1} | {} / {} |",
            p.system,
            p.events,
            p.rps(),
            p.eps(),
            p.ms("p99_us"),
            p.cpu_us_per_event(),
            p.arrived.unwrap_or(0),
            p.ok_events()
        );
    }
    let _ = writeln!(md);
}

fn soak_section(md: &mut String, e: &E2e) {
    let Some(s) = &e.soak else { return };
    let _ = writeln!(md, "## Soak\n");
    let _ = writeln!(
        md,
        "Single-event POSTs at {:.0} req/s (50 % of saturation) for {:.0} s against the disk-mode collector that had just run every other \
         phase; RSS sampled every second.\n",
        s.phase.offered_rps.unwrap_or(0.0),
        s.phase.f64_secs()
    );
    let n = s.samples.len();
    let pick = |f: f64| s.samples.get(((n as f64 - 1.0) * f).round() as usize).copied().unwrap_or((0.0, 0));
    let _ = writeln!(md, "| when | t (s) | RSS MB |\n| --- | ---: | ---: |");
    for (label, f) in [("start", 0.0), ("quarter", 0.25), ("middle", 0.5), ("three quarters", 0.75), ("end", 1.0)] {
        let (t, rss) = pick(f);
        let _ = writeln!(md, "| {label} | {t:.0} | {:.1} |", mb(rss));
    }
    let tl: Vec<u64> = s
        .phase
        .report
        .get("timeline")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|w| w.get(2).and_then(Value::as_u64)).collect())
        .unwrap_or_default();
    if s.phase.ms("p50_us") > 100.0 && tl.len() > 20 {
        let first = tl[..10].iter().max().copied().unwrap_or(0);
        let last = tl[tl.len() - 10..].iter().max().copied().unwrap_or(0);
        let _ = writeln!(
            md,
            "\n**The collector did not sustain this rate.** Latency from the intended send times grew from {:.0} ms (first second) to {:.0} ms \
             (last second): answers fell behind the offered load, and requests waited in the load generator's queue. The closed-loop saturation \
             above is a burst of a few seconds; the rows it accepts are still shipped from the spool into ClickHouse afterwards, so the sustainable \
             rate is nearer the *events/s into ClickHouse* column than the burst rate.",
            first as f64 / 1000.0,
            last as f64 / 1000.0
        );
    }
    let _ = writeln!(
        md,
        "\nPeak (VmHWM) {:.1} MB; p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms over the soak.\n",
        mb(s.phase.hwm),
        s.phase.ms("p50_us"),
        s.phase.ms("p99_us"),
        s.phase.ms("p999_us")
    );
}

fn profiles(md: &mut String, r: &Inputs, vs: &[Verdict]) {
    let _ = writeln!(md, "## Profiles\n");
    let missed: Vec<&Verdict> = vs.iter().filter(|v| v.pass == Some(false)).collect();
    if !missed.is_empty() {
        let _ = writeln!(
            md,
            "Missed: {}.\n",
            missed.iter().map(|v| format!("{} ({})", v.what, v.margin)).collect::<Vec<_>>().join("; ")
        );
    }
    let _ = writeln!(
        md,
        "Hardware counters: `perf stat -e instructions true` {}. {}\n",
        if r.hw_counters { "works" } else { "reports `<not supported>` (a VM without a PMU)" },
        if r.hw_counters {
            "Callgrind still gives exact instruction counts for the per-event path."
        } else {
            "So the per-event CPU path is profiled with valgrind's callgrind on the micro-benchmark (exact instruction counts)."
        }
    );
    if let Some((selfc, incl)) = &r.callgrind {
        let _ = writeln!(
            md,
            "### callgrind: `decode_validate_enrich/20` (collection limited to `ktra_benches::pipeline::rows`, i.e. the collector's code path)\n"
        );
        let _ = writeln!(md, "Inclusive (the function and everything it calls):\n\n```\n{incl}\n```\n");
        let _ = writeln!(md, "Self cost, summed over inlined pieces:\n\n```\n{selfc}\n```\n");
        if let Some(line) = incl.lines().find(|l| l.contains("query_param")) {
            let share = line.split_whitespace().nth(1).unwrap_or("?");
            let parse = incl
                .lines()
                .find(|l| l.contains("url::ParseOptions::parse") || l.contains("url::parser::Parser::parse_url"));
            let _ = writeln!(
                md,
                "Reading: `enrich::urlparts::query_param` alone is {share} % of the per-event instructions{}. `build_row` calls it for \
                 every UTM field and click id the batch does not carry (`utm_term`, `utm_content`, `gclid`, `msclkid`, `fbclid` here), and each \
                 call parses the whole page URL again with `Url::parse`; `host_and_path` and `bare_host` parse the URL and the referrer once more.\n",
                parse.map_or(String::new(), |p| format!(
                    "; URL parsing (`url::ParseOptions::parse`) is {} %",
                    p.split_whitespace().nth(1).unwrap_or("?")
                ))
            );
        }
    }
    if r.perf_sampling {
        for (title, cats, top) in &r.e2e.perf {
            let _ = writeln!(
                md,
                "### perf (cpu-clock sampling, 999 Hz, whole collector process): {title}\n\nBy component:\n\n```\n{cats}\n```\n\nTop symbols (self):\n\n```\n{top}\n```\n"
            );
        }
    } else {
        let _ = writeln!(
            md,
            "`perf record -e cpu-clock` does not work here; no sampling profile of the running collector.\n"
        );
    }
}
