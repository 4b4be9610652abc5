//! Profiles. Hardware counters (`perf stat -e instructions`) are usually not
//! available in the VMs this runs on; then the micro-benchmark of the
//! per-event CPU path runs under valgrind's callgrind (exact instruction
//! counts, top frames by self and inclusive cost). Independently, the
//! collector is sampled with `perf record -e cpu-clock` (a software clock,
//! which works without counters) while saturated, in [`super::e2e`].
use crate::{cargo, proc, root};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// Whether `perf stat -e instructions true` counts instructions here.
pub fn hardware_counters() -> bool {
    let out = std::process::Command::new("perf")
        .args(["stat", "-x,", "-e", "instructions", "true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let err = String::from_utf8_lossy(&o.stderr);
            !err.contains("not supported") && !err.contains("not counted")
        }
        _ => false,
    }
}

/// Whether `perf record -e cpu-clock` works here.
pub fn perf_sampling(dir: &Path) -> bool {
    let data = dir.join("probe.perf.data");
    let ok = std::process::Command::new("perf")
        .args(["record", "-q", "-e", "cpu-clock", "-o"])
        .arg(&data)
        .args(["--", "true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let _ = std::fs::remove_file(&data);
    ok
}

/// The micro-benchmark executable `cargo bench --no-run` built.
pub fn micro_executable() -> Result<PathBuf> {
    let out = proc::command(cargo(), &root())
        .args(["bench", "-p", "ktra-benches", "--bench", "micro", "--no-run", "--message-format=json"])
        .stderr(Stdio::null())
        .output()
        .context("cargo bench --no-run")?;
    let text = String::from_utf8_lossy(&out.stdout);
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        let is_micro = v.pointer("/target/name").and_then(|n| n.as_str()) == Some("micro");
        if let (true, Some(exe)) = (is_micro, v.get("executable").and_then(|e| e.as_str())) {
            return Ok(exe.into());
        }
    }
    bail!("cargo did not report the micro-benchmark executable")
}

/// Callgrind over `bench` (a criterion filter) with collection limited to
/// `function` and what it calls. Returns (self-cost top frames, inclusive top frames).
pub fn callgrind(dir: &Path, exe: &Path, bench: &str, function: &str, commands: &mut Vec<String>) -> Result<(String, String)> {
    let out = dir.join("callgrind.out");
    let mut cmd = proc::command("valgrind", dir);
    cmd.args(["--tool=callgrind", &format!("--toggle-collect={function}")])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(exe)
        .args(["--bench", "--profile-time", "3", bench])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    commands.push(format!(
        "valgrind --tool=callgrind '--toggle-collect={function}' --callgrind-out-file=target/bench/callgrind.out {} --bench --profile-time 3 {bench}",
        exe.strip_prefix(root()).unwrap_or(exe).display()
    ));
    proc::run("valgrind callgrind", &mut cmd)?;
    let annotate = |inclusive: bool| -> Result<String> {
        let o = std::process::Command::new("callgrind_annotate")
            .args([if inclusive { "--inclusive=yes" } else { "--inclusive=no" }, "--threshold=99"])
            .arg(&out)
            .output()
            .context("callgrind_annotate")?;
        Ok(top_functions(&String::from_utf8_lossy(&o.stdout), inclusive, 16))
    };
    commands.push("callgrind_annotate --inclusive=no|yes --threshold=99 target/bench/callgrind.out".into());
    Ok((annotate(false)?, annotate(true)?))
}

/// Frames of the harness, not of the code measured.
const HARNESS: &[&str] = &[
    "criterion::", "std::rt::", "lang_start", "libc_start", "(below main)", "micro::main", "alloca", "__rust_begin_short_backtrace",
    "PROGRAM TOTALS", "???:0x",
];

/// Sums `callgrind_annotate` lines per function (inlined code is reported
/// per source file), drops harness frames, and renders the top `n` as
/// `  Ir  share  function`. Inclusive costs take the largest line instead of the sum.
pub fn top_functions(text: &str, inclusive: bool, n: usize) -> String {
    let mut costs: Vec<(String, u64)> = Vec::new();
    let mut total = 0u64;
    for line in text.lines() {
        let line = line.trim();
        let Some((count, rest)) = line.split_once(' ') else { continue };
        let Ok(ir) = count.replace(',', "").parse::<u64>() else { continue };
        if line.contains("PROGRAM TOTALS") {
            total = ir;
            continue;
        }
        let Some((_, loc)) = rest.split_once(")  ") else { continue };
        let func = loc.split_once(':').map_or(loc, |(_, f)| f);
        let func = func.split(" [").next().unwrap_or(func).trim();
        if HARNESS.iter().any(|h| func.contains(h) || loc.contains(h)) {
            continue;
        }
        match costs.iter_mut().find(|(f, _)| f == func) {
            Some((_, c)) if inclusive => *c = (*c).max(ir),
            Some((_, c)) => *c += ir,
            None => costs.push((func.to_owned(), ir)),
        }
    }
    costs.sort_by_key(|c| std::cmp::Reverse(c.1));
    let total = total.max(1);
    costs
        .iter()
        .take(n)
        .map(|(f, c)| format!("{:>13} {:>6.2} %  {}", c, *c as f64 * 100.0 / total as f64, shorten(f)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Shortens long generic paths in a symbol for the report.
fn shorten(f: &str) -> String {
    let s = f.replace("core::iter::traits::iterator::Iterator", "Iterator").replace("alloc::borrow::", "");
    if s.len() > 150 {
        format!("{}…", &s[..s.char_indices().nth(148).map_or(s.len(), |(i, _)| i)])
    } else {
        s
    }
}
