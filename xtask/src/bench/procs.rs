//! The processes a benchmark drives: the release collector, the ceiling
//! server and `ktra-bench` runs, each under xtask's process supervision
//! (stopped on drop and on Ctrl-C), with its CPU time and memory read from
//! `/proc/<pid>`.
use crate::proc;
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// `USER_HZ`: clock ticks per second of `/proc/<pid>/stat` times.
const TICKS_PER_SECOND: f64 = 100.0;

/// User + system CPU seconds of `pid`, 0 when unreadable.
pub fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3; utime and stime are fields 14 and 15.
    let ticks = |i: usize| f.get(i - 3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (ticks(14) + ticks(15)) as f64 / TICKS_PER_SECOND
}

/// A `kB` field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`), in bytes.
pub fn status_bytes(pid: u32, field: &str) -> u64 {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return 0;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Children of this process whose command name is `comm`.
pub fn children_named(comm: &str) -> Vec<u32> {
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            let name = stat.split_once('(').and_then(|(_, r)| r.rsplit_once(')')).map(|(n, _)| n);
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            name == Some(comm) && ppid == Some(me)
        })
        .collect()
}

/// A server process printing `listening on http://ADDR` on stdout.
pub struct Served {
    guard: proc::Guard,
    /// Its pid (for `/proc`).
    pub pid: u32,
    /// `IP:PORT`.
    pub addr: String,
}

impl Served {
    /// Starts `cmd` (named `name`, process name `comm`), logging to `log`,
    /// and waits for its `listening on` line.
    pub fn start(name: &str, comm: &str, cmd: &mut std::process::Command, log: &Path) -> Result<Served> {
        let before = children_named(comm);
        let out = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        cmd.stdout(Stdio::from(out.try_clone()?)).stderr(Stdio::from(out));
        let guard = proc::spawn(name, cmd, false)?;
        let pid = children_named(comm)
            .into_iter()
            .find(|p| !before.contains(p))
            .with_context(|| format!("cannot find the pid of {name}"))?;
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            if let Some(addr) = text.lines().find_map(|l| l.strip_prefix("listening on http://")) {
                return Ok(Served { guard, pid, addr: addr.trim().to_owned() });
            }
            if let Some(status) = guard.try_wait()? {
                bail!("{name} exited during start ({status}):\n{}", tail(&text, 20));
            }
            if Instant::now() > until {
                bail!("{name} did not start within 30 s:\n{}", tail(&text, 20));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// CPU seconds so far.
    pub fn cpu(&self) -> f64 {
        cpu_seconds(self.pid)
    }

    /// Peak resident memory so far (`VmHWM`), bytes.
    pub fn hwm(&self) -> u64 {
        status_bytes(self.pid, "VmHWM")
    }

    /// Resident memory now (`VmRSS`), bytes.
    pub fn rss(&self) -> u64 {
        status_bytes(self.pid, "VmRSS")
    }

    /// Stops it (SIGTERM, SIGKILL after 10 s) and waits.
    pub fn stop(self) {
        self.guard.stop();
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Runs a `ktra-bench` command to completion with stdout to `out`, calling
/// `tick` about every 200 ms meanwhile; returns the last stdout line as JSON.
pub fn run_json(name: &str, cmd: &mut std::process::Command, out: &Path, mut tick: impl FnMut()) -> Result<Value> {
    let file = std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let err = out.with_extension("err");
    let errf = std::fs::File::create(&err)?;
    cmd.stdout(Stdio::from(file)).stderr(Stdio::from(errf));
    let guard = proc::spawn(name, cmd, false)?;
    let status = loop {
        if let Some(s) = guard.try_wait()? {
            break s;
        }
        tick();
        std::thread::sleep(Duration::from_millis(200));
    };
    drop(guard);
    let text = std::fs::read_to_string(out).unwrap_or_default();
    if !status.success() {
        let e = std::fs::read_to_string(&err).unwrap_or_default();
        bail!("{name} failed ({status}):\n{}", tail(&e, 20));
    }
    let line =
        text.lines().rev().find(|l| l.starts_with('{')).with_context(|| format!("{name} printed no JSON report"))?;
    serde_json::from_str(line).with_context(|| format!("{name}: cannot parse {line}"))
}
