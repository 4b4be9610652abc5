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

/// What callgrind counted.
pub struct Callgrind {
    /// Top frames by self cost.
    pub self_top: String,
    /// Top frames by inclusive cost.
    pub inclusive_top: String,
    /// (name, % of the collected instructions spent inside the function
    /// whose symbol contains the pattern), for each of `inside`.
    pub shares: Vec<(&'static str, f64)>,
}

/// Callgrind over `bench` (a criterion filter) with collection limited to
/// `function` and what it calls; `inside` = (name, symbol pattern) of the
/// functions whose inclusive share is wanted.
pub fn callgrind(
    dir: &Path,
    exe: &Path,
    bench: &str,
    function: &str,
    inside: &[(&'static str, &str)],
    commands: &mut Vec<String>,
) -> Result<Callgrind> {
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
            .args([if inclusive { "--inclusive=yes" } else { "--inclusive=no" }, "--threshold=99", "--auto=no"])
            .arg(&out)
            .output()
            .context("callgrind_annotate")?;
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    };
    commands.push("callgrind_annotate --inclusive=no|yes --threshold=99 --auto=no target/bench/callgrind.out".into());
    let inclusive = annotate(true)?;
    let (costs, total) = costs(&inclusive, true);
    let shares = inside
        .iter()
        .map(|&(name, pattern)| {
            let ir = costs.iter().filter(|(f, _)| f.contains(pattern)).map(|c| c.1).max().unwrap_or(0);
            (name, ir as f64 * 100.0 / total.max(1) as f64)
        })
        .collect();
    Ok(Callgrind {
        self_top: top_functions(&annotate(false)?, false, 16),
        inclusive_top: top_functions(&inclusive, true, 16),
        shares,
    })
}

/// Frames of the harness, not of the code measured.
const HARNESS: &[&str] = &[
    "criterion::",
    "std::rt::",
    "lang_start",
    "libc_start",
    "(below main)",
    "micro::main",
    "alloca",
    "__rust_begin_short_backtrace",
    "PROGRAM TOTALS",
    "???:0x",
];

/// Sums `callgrind_annotate` lines per function (inlined code is reported
/// per source file), drops harness frames, and renders the top `n` as
/// `  Ir  share  function`. Inclusive costs take the largest line instead of the sum.
pub fn top_functions(text: &str, inclusive: bool, n: usize) -> String {
    let (costs, total) = costs(text, inclusive);
    costs
        .iter()
        .take(n)
        .map(|(f, c)| format!("{:>13} {:>6.2} %  {}", c, *c as f64 * 100.0 / total.max(1) as f64, shorten(f)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Per-function costs of `callgrind_annotate` output, largest first, and the total.
fn costs(text: &str, inclusive: bool) -> (Vec<(String, u64)>, u64) {
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
        // Call lines carry a call count: `f (9,700x)`.
        let func = match func.rsplit_once(" (") {
            Some((f, n)) if n.ends_with("x)") => f,
            _ => func,
        };
        if func == "main"
            || loc.contains("events annotated")
            || loc.contains("=>")
            || HARNESS.iter().any(|h| func.contains(h) || loc.contains(h))
        {
            continue;
        }
        match costs.iter_mut().find(|(f, _)| f == func) {
            Some((_, c)) if inclusive => *c = (*c).max(ir),
            Some((_, c)) => *c += ir,
            None => costs.push((func.to_owned(), ir)),
        }
    }
    costs.sort_by_key(|c| std::cmp::Reverse(c.1));
    (costs, total)
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

/// Where CPU samples go, by component: (name, symbol substrings). First match wins.
const USER_CATEGORIES: &[(&str, &[&str])] = &[
    (
        "JSON: request decode, spool encode and decode (serde_json)",
        &["serde_json", "serde_core", "serde::", "Deserialize", "Serialize", "visit_", "deserialize", "serialize"],
    ),
    (
        "URL parsing (url, percent_encoding, form_urlencoded, idna)",
        &["url::", "percent_encoding", "form_urlencoded", "idna"],
    ),
    ("user agent (woothee)", &["woothee", "regex", "aho_corasick"]),
    ("consent token (HMAC-SHA256, base64)", &["sha2", "hmac", "base64", "digest::"]),
    ("ClickHouse client (RowBinary, LZ4)", &["clickhouse", "lz4"]),
    ("spool (CRC32, files)", &["crc32fast", "sink::spool"]),
    ("metrics", &["metrics", "prometheus", "quanta", "sketches"]),
    (
        "HTTP and runtime (hyper, axum, tokio)",
        &["hyper", "axum", "tokio", "tower", "http::", "httparse", "mio::", "futures", "parking_lot", "want::"],
    ),
    (
        "allocator (malloc, free)",
        &[
            "malloc",
            "free",
            "_int_",
            "unlink_chunk",
            "realloc",
            "calloc",
            "tcache",
            "__rust_alloc",
            "__rust_dealloc",
            "alloc::raw_vec",
        ],
    ),
    ("memcpy, memmove, memset, memcmp", &["memmove", "memcpy", "memset", "memcmp", "strlen"]),
    ("other collector code (ktra_*)", &["ktra_"]),
];
const KERNEL_CATEGORIES: &[(&str, &[&str])] = &[
    (
        "kernel: scheduling, futex, wake-ups",
        &[
            "finish_task_switch",
            "schedule",
            "futex",
            "spin_unlock",
            "wake_up",
            "switch_",
            "pick_next",
            "enqueue",
            "dequeue",
            "select_task",
            "ttwu",
            "psi_",
        ],
    ),
    (
        "kernel: TCP over loopback",
        &[
            "tcp",
            "ip_",
            "skb",
            "sock",
            "net_",
            "loopback",
            "dev_queue",
            "inet",
            "sk_",
            "napi",
            "__dev",
            "netif",
            "do_softirq",
        ],
    ),
    (
        "kernel: disk writes and fsync",
        &[
            "ext4",
            "jbd2",
            "blk",
            "bio",
            "virtio",
            "iowrite",
            "folio",
            "filemap",
            "writeback",
            "submit",
            "fsync",
            "sync_",
            "vring",
        ],
    ),
];

/// Summarizes `perf report --stdio --no-children --sort dso,symbol` output:
/// (share per component, top `n` symbols).
pub fn perf_summary(text: &str, n: usize) -> (String, String) {
    let mut cats: Vec<(String, f64)> = Vec::new();
    let mut top = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with('#') {
            continue;
        }
        let mut w = l.split_whitespace();
        let Some(pct) = w.next().and_then(|p| p.strip_suffix('%')).and_then(|p| p.parse::<f64>().ok()) else {
            continue;
        };
        let dso = w.next().unwrap_or("");
        let _kind = w.next();
        let sym = w.collect::<Vec<_>>().join(" ");
        let sym = sym.trim_end_matches(|c: char| c == '-' || c.is_whitespace()).to_owned();
        let (table, fallback) = if dso.contains("kernel") {
            (KERNEL_CATEGORIES, "kernel: syscalls, epoll, other")
        } else {
            (USER_CATEGORIES, if dso.starts_with("libc") { "libc: syscall wrappers, other" } else { "other" })
        };
        let cat = table.iter().find(|(_, keys)| keys.iter().any(|k| sym.contains(k))).map_or(fallback, |(c, _)| c);
        match cats.iter_mut().find(|(c, _)| c == cat) {
            Some((_, p)) => *p += pct,
            None => cats.push((cat.to_owned(), pct)),
        }
        if top.len() < n {
            top.push(format!("{pct:>6.2} %  {:<16} {}", dso, shorten(&sym)));
        }
    }
    cats.sort_by(|a, b| b.1.total_cmp(&a.1));
    let cats = cats.iter().map(|(c, p)| format!("{p:>6.1} %  {c}")).collect::<Vec<_>>().join("\n");
    (cats, top.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perf_lines_are_grouped_by_component() {
        let text = "# comment\n     8.41%  [kernel.kallsyms]  [k] finish_task_switch.isra.0      -      -\n     3.76%  libc.so.6          [.] malloc   -  -\n     2.19%  ktra-collector     [.] <serde_json::read::SliceRead as serde_json::read::Read>::parse_str\n     1.00%  [kernel.kallsyms]  [k] tcp_sendmsg\n     1.00%  ktra-collector     [.] url::parser::Parser::parse_path\n";
        let (cats, top) = perf_summary(text, 2);
        assert!(cats.starts_with("   8.4 %  kernel: scheduling"), "{cats}");
        assert!(cats.contains("allocator"), "{cats}");
        assert!(cats.contains("URL parsing"), "{cats}");
        assert_eq!(top.lines().count(), 2);
        assert!(!top.contains(" -"), "{top}");
    }

    #[test]
    fn callgrind_lines_are_summed_per_function_without_the_harness() {
        let text = "100 (100.0%)  PROGRAM TOTALS\n60 (60.00%)  a.rs:url::parse [bin]\n20 (20.00%)  b.rs:url::parse\n15 (15.00%)  c.rs:criterion::bencher::iter [bin]\n";
        let t = top_functions(text, false, 5);
        assert!(t.contains("80  80.00 %  url::parse"), "{t}");
        assert!(!t.contains("criterion"), "{t}");
    }
}
