//! `cargo xtask …` — the project's own build and run tooling.
//!
//! Commands:
//! - `demo [--cluster]` — install what is missing, build the web assets, start a private
//!   ClickHouse and the collector, serve the demo site; Ctrl-C stops it all.
//!   `--cluster`: ZooKeeper, two ClickHouse shards, two collectors behind haproxy.
//! - `test` — install everything, then every test tier; see [`test`].
//! - `setup [--demo]` — installs only (everything, or only what `demo` needs).
//! - `build-web` — builds the pixel, banner and dashboard into `target/web/`.
//! - `clickhouse [--name NAME] [--fresh]` — a private ClickHouse server in the
//!   foreground, for development.
//! - `seed --url URL [--days D] [--events N]` — a realistic month of traffic as rows; see [`seed`].
//! - `bench [--soak SECONDS]` — benchmarks on this machine; writes
//!   `BENCHMARKS.md` and `docs/bench-latency.svg`; see [`bench`].
//!
//! What xtask owns: installs, process supervision, asset builds, the test
//! run's order and summary. What it does not: any product behaviour (that is
//! the collector's, the pixel's and the banner's).
mod bench;
mod clickhouse;
mod demo;
mod install;
mod panels;
mod proc;
mod scrub;
mod seed;
mod test;
mod web;

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  demo [--cluster]                   install, build, run ClickHouse + collector + demo site
                                     (--cluster: ZooKeeper, two shards, two collectors, haproxy)
  test                               install, build, run every test stage and the budgets
  setup [--demo]                     only install what is missing (--demo: no Chromium, no chdb)
  build-web                          build pixel, banner and dashboard into target/web/
  clickhouse [--name N] [--fresh]    run a private ClickHouse server (target/clickhouse-N, default dev)
  seed --url URL [--days 30] [--events N] [--site demo]
                                     write a realistic month of traffic straight into ClickHouse
  panel-timings --collector URL --admin-key KEY [--site demo] [--days 30] [--runs 3]
                                     time every dashboard request against a running collector
  bench [--soak S] [--phase-secs S] [--no-web-build]
                                     benchmarks (about 7 minutes); writes BENCHMARKS.md
";

/// The repository root (the workspace directory).
pub fn root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Cargo's target directory (`CARGO_TARGET_DIR` or `<root>/target`), absolute.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root().join(dir),
        _ => root().join("target"),
    }
}

/// The `cargo` that runs xtask (`$CARGO`), so nested builds use the same toolchain.
pub fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

fn main() -> ExitCode {
    if let Err(e) = proc::install_signal_handler() {
        eprintln!("xtask: {e:#}");
        return ExitCode::FAILURE;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    match dispatch(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(args: &[String]) -> Result<ExitCode> {
    let Some(cmd) = args.first() else {
        eprint!("{USAGE}");
        return Ok(ExitCode::from(2));
    };
    let rest = &args[1..];
    match cmd.as_str() {
        "demo" => match rest {
            [] => demo::run(false)?,
            [flag] if flag == "--cluster" => demo::run(true)?,
            _ => bail!("usage: cargo xtask demo [--cluster]"),
        },
        "test" => {
            no_args(cmd, rest)?;
            return test::run();
        }
        "setup" => {
            let needs = match rest {
                [] => install::Needs::TEST,
                [flag] if flag == "--demo" => install::Needs::DEMO,
                _ => bail!("usage: cargo xtask setup [--demo]"),
            };
            install::ensure(needs)?;
        }
        "build-web" => {
            no_args(cmd, rest)?;
            install::ensure(install::Needs::WEB)?;
            let dir = web::build()?;
            web::print_sizes(&dir);
        }
        "clickhouse" => {
            let mut name = "dev".to_owned();
            let mut fresh = false;
            let mut it = rest.iter();
            while let Some(arg) = it.next() {
                match arg.as_str() {
                    "--fresh" => fresh = true,
                    "--name" => match it.next() {
                        Some(n) if clickhouse::valid_name(n) => name = n.clone(),
                        _ => bail!("--name needs a name of letters, digits, '-' or '_'"),
                    },
                    _ => bail!("usage: cargo xtask clickhouse [--name NAME] [--fresh]"),
                }
            }
            install::ensure(install::Needs::CLICKHOUSE)?;
            clickhouse::foreground(&name, fresh)?;
        }
        "bench" => return bench::run(&bench::Options::parse(rest)?),
        "seed" => seed::run(rest)?,
        "panel-timings" => panels::run(rest)?,
        "help" | "-h" | "--help" => print!("{USAGE}"),
        other => {
            eprint!("unknown command `{other}`\n\n{USAGE}");
            return Ok(ExitCode::from(2));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn no_args(cmd: &str, rest: &[String]) -> Result<()> {
    if !rest.is_empty() {
        bail!("`{cmd}` takes no arguments (got {rest:?})");
    }
    Ok(())
}
