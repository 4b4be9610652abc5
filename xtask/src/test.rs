//! `cargo xtask test`: every test tier in one run, as CI runs it.
//!
//! Stages: setup → web assets (size table) → fresh private ClickHouse
//! (`target/clickhouse-test`) → `cargo test --workspace` (the pixel's native tests too)
//! (unit, integration against ClickHouse, browser end-to-end) → cluster (ZooKeeper,
//! two ClickHouse servers in both layouts, two collectors behind haproxy:
//! `tests/tests/cluster.rs`, ignored by the plain run) → wasm tests in
//! headless Chromium → `tests/chdb/check.py` (schema and queries on current
//! ClickHouse) → size budgets. Every stage runs even if an earlier one failed;
//! ClickHouse is always stopped. The run ends with a stage table and one line
//! `summary: N passed, M failed`; the exit code is non-zero if any stage failed.
use crate::clickhouse::Server;
use crate::{cargo, install, proc, root, target_dir, web};
use anyhow::{Context, Result};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

struct Stage {
    name: &'static str,
    ok: bool,
    passed: u64,
    failed: u64,
    note: String,
    took: Duration,
}

/// Test counts found in a runner's output.
#[derive(Default, Debug, PartialEq)]
struct Counts {
    passed: u64,
    failed: u64,
    seen: bool,
}

/// Adds up libtest's `test result: … N passed; M failed; …` lines.
fn libtest_counts(lines: &[String]) -> Counts {
    let mut c = Counts::default();
    for line in lines {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            continue;
        };
        c.seen = true;
        for part in rest.split(';') {
            let words: Vec<&str> = part.split_whitespace().collect();
            let n = words.iter().rev().nth(1).and_then(|w| w.parse::<u64>().ok());
            match (words.last(), n) {
                (Some(&"passed"), Some(n)) => c.passed += n,
                (Some(&"failed"), Some(n)) => c.failed += n,
                _ => {}
            }
        }
    }
    c
}

/// Reads the last `N passed, M failed` line (check.py's closing line).
fn plain_counts(lines: &[String]) -> Counts {
    for line in lines.iter().rev() {
        let parts: Vec<&str> = line.split(',').map(str::trim).collect();
        if let [p, f] = parts[..] {
            let num = |s: &str, word: &str| s.strip_suffix(word).and_then(|n| n.trim().parse::<u64>().ok());
            if let (Some(passed), Some(failed)) = (num(p, "passed"), num(f, "failed")) {
                return Counts { passed, failed, seen: true };
            }
        }
    }
    Counts::default()
}

fn banner(name: &str) {
    println!("\n==== {name} {}", "=".repeat(60usize.saturating_sub(name.len())));
}

/// Runs one stage body; an `Err` is a failed stage with the error as note.
fn stage(stages: &mut Vec<Stage>, name: &'static str, f: impl FnOnce() -> Result<(bool, Counts, String)>) {
    banner(name);
    let start = Instant::now();
    let (ok, counts, note) = match f() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("xtask: {name}: {e:#}");
            (false, Counts::default(), format!("{e:#}"))
        }
    };
    stages.push(Stage { name, ok, passed: counts.passed, failed: counts.failed, note, took: start.elapsed() });
}

/// Runs a test command, forwarding output and counting results with `count`.
fn run_tests(what: &str, cmd: &mut Command, count: fn(&[String]) -> Counts) -> Result<(bool, Counts, String)> {
    let (status, lines) = proc::run_lines(what, cmd)?;
    let counts = count(&lines);
    let note = if !counts.seen {
        format!("no test results in the output ({status})")
    } else if status.success() {
        String::new()
    } else {
        status.to_string()
    };
    // A run that reports no test at all is not a pass.
    Ok((status.success() && counts.seen, counts, note))
}

/// Runs the whole test suite; see the module docs.
pub fn run() -> Result<ExitCode> {
    let start = Instant::now();
    let root = root();
    let target = target_dir();
    let web_dir = web::web_dir();
    let dump_dir = target.join("engine-dump");
    let mut stages = Vec::new();

    stage(&mut stages, "setup", || {
        install::ensure(install::Needs::TEST)?;
        Ok((true, Counts::default(), String::new()))
    });

    stage(&mut stages, "web assets", || {
        let built = web::build();
        web::print_sizes(&web_dir);
        built?;
        Ok((true, Counts::default(), String::new()))
    });

    let mut clickhouse = None;
    stage(&mut stages, "clickhouse", || {
        let server = Server::start("test", true)?;
        let version = server.query("SELECT version()")?;
        let note = format!("{} version {}", server.url(), version.trim());
        println!("{note}");
        clickhouse = Some(server);
        Ok((true, Counts::default(), note))
    });
    let ch_url = clickhouse.as_ref().map(|server| server.url());

    stage(&mut stages, "cargo test", || {
        if dump_dir.exists() {
            std::fs::remove_dir_all(&dump_dir).with_context(|| format!("wiping {}", dump_dir.display()))?;
        }
        // The fault tests run the collector binary itself; `cargo test` does
        // not build another package's binaries before running the tests crate.
        proc::run(
            "cargo build -p ktra-collector",
            proc::command(cargo(), &root).args(["build", "-p", "ktra-collector", "--bin", "ktra-collector"]),
        )?;
        let mut cmd = proc::command(cargo(), &root);
        cmd.args(["test", "--workspace", "--no-fail-fast"])
            .env("KTRA_WEB_DIR", &web_dir)
            .env("CHROMEDRIVER", "/usr/bin/chromedriver")
            .env("CHROME_BIN", "/usr/bin/chromium")
            .env("KTRA_ENGINE_DUMP_DIR", &dump_dir);
        if let Some(url) = &ch_url {
            cmd.env("KTRA_TEST_CLICKHOUSE_URL", url);
        }
        run_tests("cargo test", &mut cmd, libtest_counts)
    });

    stage(&mut stages, "cluster", || {
        // Starts its own ZooKeeper, servers, collectors and haproxy; needs none of the above
        // but the collector binary (built by the cargo test stage; a no-op here then).
        proc::run(
            "cargo build -p ktra-collector",
            proc::command(cargo(), &root).args(["build", "-p", "ktra-collector", "--bin", "ktra-collector"]),
        )?;
        let mut cmd = proc::command(cargo(), &root);
        cmd.args(["test", "-p", "ktra-tests", "--test", "cluster", "--", "--ignored", "--nocapture"]);
        run_tests("cluster tests", &mut cmd, libtest_counts)
    });

    stage(&mut stages, "wasm tests", || {
        let runner = install::wasm_bindgen_test_runner()?;
        let mut cmd = proc::command(cargo(), &root);
        cmd.args(["test", "-p", "ktra-pixel", "--target", "wasm32-unknown-unknown", "--no-fail-fast"])
            .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER", runner)
            .env("CHROMEDRIVER", "/usr/bin/chromedriver");
        if std::env::var_os("WASM_BINDGEN_TEST_TIMEOUT").is_none() {
            cmd.env("WASM_BINDGEN_TEST_TIMEOUT", "120");
        }
        run_tests("wasm tests", &mut cmd, libtest_counts)
    });

    stage(&mut stages, "engine comparison (chdb)", || {
        // check.py asks the debug collector for SQL rendered for chdb's version.
        proc::run(
            "cargo build -p ktra-collector",
            proc::command(cargo(), &root).args(["build", "-p", "ktra-collector"]),
        )?;
        let mut cmd = proc::command("python3", &root);
        cmd.arg(root.join("tests/chdb/check.py"))
            .env("KTRA_ENGINE_DUMP_DIR", &dump_dir)
            .env("KTRA_COLLECTOR_BIN", target.join("debug/ktra-collector"))
            .env("PYTHONUNBUFFERED", "1");
        run_tests("check.py", &mut cmd, plain_counts)
    });

    stage(&mut stages, "size budgets", || {
        let lines = web::measure(&web_dir);
        web::print_budgets(&lines);
        let passed = lines.iter().filter(|l| l.ok()).count() as u64;
        let failed = lines.len() as u64 - passed;
        Ok((failed == 0, Counts { passed, failed, seen: true }, String::new()))
    });

    if let Some(server) = clickhouse.take() {
        banner("stop clickhouse");
        server.stop();
    }
    Ok(summary(&stages, start.elapsed()))
}

fn summary(stages: &[Stage], took: Duration) -> ExitCode {
    banner("summary");
    let (mut passed, mut failed) = (0, 0);
    for s in stages {
        // A failed stage that counted no failing test (a build error, a
        // server that did not start) still counts as one failure.
        let stage_failed = if !s.ok && s.failed == 0 { 1 } else { s.failed };
        passed += s.passed;
        failed += stage_failed;
        let note = s.note.lines().next().unwrap_or("");
        println!(
            "{:<4} {:<26} {:>5} passed {:>4} failed {:>7.1}s  {note}",
            if s.ok { "ok" } else { "FAIL" },
            s.name,
            s.passed,
            s.failed,
            s.took.as_secs_f64()
        );
    }
    println!("total time {:.1}s", took.as_secs_f64());
    println!("summary: {passed} passed, {failed} failed");
    if stages.iter().all(|s| s.ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<String> {
        s.lines().map(str::to_owned).collect()
    }

    #[test]
    fn counts_libtest_results_across_binaries() {
        let out = lines(
            "running 3 tests\n\
             test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s\n\
             test result: FAILED. 5 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.2s\n",
        );
        assert_eq!(libtest_counts(&out), Counts { passed: 8, failed: 2, seen: true });
        assert!(!libtest_counts(&lines("error: could not compile")).seen);
    }

    #[test]
    fn reads_the_plain_closing_line() {
        let out = lines("ok top_pages (3 rows)\nDIFF channels\n12 passed, 1 failed\n");
        assert_eq!(plain_counts(&out), Counts { passed: 12, failed: 1, seen: true });
        assert!(!plain_counts(&lines("no dump")).seen);
    }
}
