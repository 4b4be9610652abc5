//! `cargo xtask bench [--soak SECONDS] [--phase-secs SECONDS] [--no-web-build] [--report-only]`:
//! ktra's benchmarks on this machine, bounded in time (about 7 minutes with
//! the defaults, builds cached), loopback only. Every figure lands in one
//! JSON document, `target/bench/results.json` ([`results`]), and
//! `BENCHMARKS.md` plus `docs/bench-latency.svg` are rendered from it;
//! `--report-only` renders them again from an existing document.
//!
//! Stages: release builds → browser asset sizes (`target/web`, built first)
//! → criterion micro-benchmarks (`benches/benches/micro.rs`) and a callgrind
//! profile of the per-event path → end to end ([`e2e`]: a fresh private
//! ClickHouse, the release collector in both durability modes, the
//! parse-and-discard ceiling, ClickHouse stopped and the spool drained,
//! the database ceiling and floor, a soak) → the document ([`collect`], with
//! the goals of [`targets`]) → the report ([`report`]) and the plot
//! ([`plot`], drawn with `plotters`).
//!
//! Benchmarks measure; nothing here fails on a missed target: targets are
//! printed PASS/MISS. The exit code is non-zero only when a stage could not
//! run.
mod collect;
mod e2e;
mod fsync;
mod phase;
mod plot;
mod procs;
mod profile;
mod report;
mod results;
mod targets;

use crate::{cargo, install, proc, root, target_dir, web};
use anyhow::{bail, Context, Result};
use std::process::ExitCode;
use std::time::Instant;

/// Command-line options.
pub struct Options {
    /// Soak seconds (RSS start/middle/end); 0 skips it.
    pub soak: u64,
    /// Measured seconds of each load phase (1 s of warm-up comes on top).
    pub phase_secs: f64,
    /// Build the web assets first (else measure `target/web` as it is).
    pub build_web: bool,
    /// Only render the report from an existing `target/bench/results.json`.
    pub report_only: bool,
}

impl Options {
    /// Parses `bench`'s arguments.
    pub fn parse(args: &[String]) -> Result<Options> {
        let mut o = Options { soak: 60, phase_secs: 5.0, build_web: true, report_only: false };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--soak" => o.soak = it.next().and_then(|v| v.parse().ok()).context("--soak needs seconds")?,
                "--phase-secs" => {
                    o.phase_secs = it
                        .next()
                        .and_then(|v| v.parse().ok())
                        .filter(|v: &f64| *v >= 1.0)
                        .context("--phase-secs needs seconds (≥ 1)")?
                }
                "--no-web-build" => o.build_web = false,
                "--report-only" => o.report_only = true,
                _ => bail!(
                    "usage: cargo xtask bench [--soak SECONDS] [--phase-secs SECONDS] [--no-web-build] [--report-only]"
                ),
            }
        }
        if o.soak > 240 {
            bail!("--soak is at most 240 s, to keep the whole run within 10 minutes");
        }
        Ok(o)
    }
}

/// One criterion result.
pub struct Micro {
    /// Benchmark name (`…/N` = N events or rows per iteration).
    pub name: String,
    /// Nanoseconds per iteration.
    pub ns: f64,
    /// Criterion's spread.
    pub spread: f64,
}

impl Micro {
    /// Operations per iteration, from the `/N` suffix.
    pub fn per_iter(&self) -> f64 {
        self.name.rsplit_once('/').and_then(|(_, n)| n.parse().ok()).unwrap_or(1.0)
    }
}

/// Parses `test NAME ... bench: 1,234 ns/iter (+/- 56)` lines.
fn parse_bencher(lines: &[String]) -> Vec<Micro> {
    let num = |s: &str| s.replace(',', "").parse::<f64>().ok();
    lines
        .iter()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix("test ")?;
            let (name, rest) = rest.split_once(" ... bench:")?;
            let mut w = rest.split_whitespace();
            let ns = num(w.next()?)?;
            let spread = w.nth(2).and_then(|s| num(s.trim_end_matches(')'))).unwrap_or(0.0);
            Some(Micro { name: name.trim().to_owned(), ns, spread })
        })
        .collect()
}

/// Runs the benchmark and writes the report.
pub fn run(opts: &Options) -> Result<ExitCode> {
    let started = Instant::now();
    let load_at_start = collect::load_average();
    let dir = target_dir().join("bench");
    let results_path = dir.join("results.json");
    if opts.report_only {
        let results = results::Results::load(&results_path)?;
        write_report(&results, &results_path)?;
        return Ok(ExitCode::SUCCESS);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    install::ensure(install::Needs::CLICKHOUSE)?;
    let hw = profile::hardware_counters();
    let perf = profile::perf_sampling(&dir);
    let mut b = e2e::Bench::new(dir.clone(), opts.phase_secs, opts.soak, perf);
    let root = root();

    b.say("building the release collector, ktra-bench and the micro-benchmarks");
    let mut build = proc::command(cargo(), &root);
    // The collector and the load generator / ceiling server alike with LTO and one codegen
    // unit (`[profile.collector-release]`): issue 18's cheap lever, and a fair ceiling.
    build.args(["build", "--profile", e2e::PROFILE, "-p", "ktra-collector", "-p", "ktra-benches", "--bins"]);
    b.log(&build);
    proc::run("cargo build --profile collector-release", &mut build)?;
    let mut build_micro = proc::command(cargo(), &root);
    build_micro.args(["bench", "-p", "ktra-benches", "--bench", "micro", "--bench", "triggers", "--no-run"]);
    b.log(&build_micro);
    proc::run("cargo bench --no-run", &mut build_micro)?;

    // ---- browser cost ----
    let mut web_note = String::new();
    if opts.build_web {
        b.say("building the web assets (cargo xtask build-web)");
        b.commands.push("cargo xtask build-web".into());
        if let Err(e) = install::ensure(install::Needs::WEB).and_then(|_| web::build()) {
            web_note = format!("`cargo xtask build-web` failed ({e:#}); sizes are of whatever `target/web` holds.");
            eprintln!("[bench] {web_note}");
        }
    } else {
        web_note = "`--no-web-build`: sizes of `target/web` as it was.".into();
    }
    let web_sizes = web::measure(&web::web_dir());

    // ---- micro ----
    b.say("micro-benchmarks (criterion)");
    let micro_start = Instant::now();
    let mut bench = proc::command(cargo(), &root);
    bench.args(["bench", "-p", "ktra-benches", "--bench", "micro", "--bench", "triggers"]);
    bench.args(["--", "--output-format", "bencher"]);
    b.log(&bench);
    let (status, lines) = proc::run_lines("cargo bench (micro)", &mut bench)?;
    if !status.success() {
        bail!("the micro-benchmarks failed ({status})");
    }
    let micro = parse_bencher(&lines);
    let micro_secs = micro_start.elapsed().as_secs_f64();
    let callgrind = if install::find_in_path("valgrind").is_some() {
        b.say("callgrind profile of decode → validate → enrich (20-event batch)");
        let exe = profile::micro_executable()?;
        match profile::callgrind(
            &dir,
            &exe,
            "decode_validate_enrich/20",
            "ktra_benches::pipeline::rows*",
            &[("validate", "validate_event"), ("enrich", "build_row"), ("url_parse", "url::ParseOptions::parse")],
            &mut b.commands,
        ) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("[bench] callgrind failed: {e:#}");
                None
            }
        }
    } else {
        None
    };

    // ---- end to end ----
    let e2e = b.run();
    let e2e = match e2e {
        Ok(e) => e,
        Err(e) => {
            // Still write what was measured: the report says what failed.
            eprintln!("[bench] end-to-end part failed: {e:#}");
            phase::E2e { notes: vec![format!("the end-to-end part failed: {e:#}")], ..Default::default() }
        }
    };
    let failed = e2e.phases.is_empty();

    let inputs = collect::Inputs {
        micro,
        micro_secs,
        callgrind,
        hw_counters: hw,
        perf_sampling: perf,
        e2e,
        web: web_sizes,
        web_note,
        commands: std::mem::take(&mut b.commands),
        total_secs: started.elapsed().as_secs_f64(),
        phase_secs: b.phase_secs,
        warmup_secs: b.warmup_secs,
        connections: b.connections,
        load_at_start,
    };
    let results = collect::collect(opts, inputs);
    results.save(&results_path)?;
    write_report(&results, &results_path)?;
    println!("in {:.0} s", started.elapsed().as_secs_f64());
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Renders `BENCHMARKS.md` and the plot from `results` and prints the verdicts.
fn write_report(results: &results::Results, source: &std::path::Path) -> Result<()> {
    let root = root();
    let shown = source.strip_prefix(&root).unwrap_or(source).display().to_string();
    let md = report::render(results, &shown);
    let svg = plot::render(
        results,
        &format!(
            "open loop, latency from the intended send time (coordinated omission corrected); {} keep-alive connections; loopback, {} shared cores",
            results.run.connections,
            results.run.machine.iter().find(|[k, _]| k.starts_with("cores")).map_or("?", |[_, v]| v.as_str())
        ),
    )?;
    let md_path = root.join("BENCHMARKS.md");
    let svg_path = root.join("docs/bench-latency.svg");
    std::fs::create_dir_all(root.join("docs"))?;
    std::fs::write(&md_path, md).with_context(|| format!("writing {}", md_path.display()))?;
    std::fs::write(&svg_path, svg).with_context(|| format!("writing {}", svg_path.display()))?;
    println!();
    for v in report::verdicts(results) {
        println!("{}", v.line());
    }
    println!("wrote {} and {} from {shown}", md_path.display(), svg_path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bencher_lines_are_parsed() {
        let lines = vec![
            "test decode_validate_enrich/20 ... bench:     154,940 ns/iter (+/- 26,931)".to_owned(),
            "noise".to_owned(),
        ];
        let m = parse_bencher(&lines);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].name, "decode_validate_enrich/20");
        assert!((m[0].ns - 154_940.0).abs() < 0.5);
        assert!((m[0].spread - 26_931.0).abs() < 0.5);
        assert!((m[0].per_iter() - 20.0).abs() < f64::EPSILON);
    }
}
