//! The end-to-end phases: the release collector against the private
//! ClickHouse 18.16 server, driven by `ktra-bench load`; the same load
//! against the parse-and-discard ceiling; the collector with ClickHouse
//! stopped (the spool path) and the drain once it is back; the database
//! ceiling and floor. Every phase's events are counted in ClickHouse.
use super::phase::{mb, E2e, PerfProfile, Phase, Soak};
use super::procs::{self, Served};
use crate::clickhouse::Server;
use crate::proc;
use anyhow::{Context, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Database the benchmark collectors write to.
pub const DATABASE: &str = "ktra_bench";
/// Database of the ClickHouse ceiling and floor runs.
pub const DB_DIRECT: &str = "ktra_bench_direct";
/// The collector's secret in the benchmark (loopback only).
const SECRET: &str = "bench-secret-not-for-production-0123456789abcdef";
/// The cargo profile the measured binaries are built with (root `Cargo.toml`).
pub const PROFILE: &str = "collector-release";
/// The collector's admin key in the benchmark (opens `/metrics`).
const ADMIN_KEY: &str = "bench-admin-key-0123456789abcdef-0123";

/// Settings and the log of commands run.
pub struct Bench {
    /// `target/bench`.
    pub dir: PathBuf,
    /// The release collector.
    pub collector_bin: PathBuf,
    /// The release `ktra-bench`.
    pub bench_bin: PathBuf,
    /// Measured seconds per phase.
    pub phase_secs: f64,
    /// Warm-up seconds per phase.
    pub warmup_secs: f64,
    /// Load generator connections.
    pub connections: usize,
    /// Soak seconds.
    pub soak_secs: u64,
    /// Whether `perf record -e cpu-clock` works here.
    pub perf: bool,
    /// Every command, as run (for the report).
    pub commands: Vec<String>,
    /// Progress lines go to stdout.
    started: Instant,
}

fn shell_words(cmd: &std::process::Command) -> String {
    let root = crate::root();
    let show = |s: &std::ffi::OsStr| {
        let s = s.to_string_lossy();
        let s = s.strip_prefix(&format!("{}/", root.display())).map(str::to_owned).unwrap_or_else(|| s.into_owned());
        if s.contains(' ') {
            format!("'{s}'")
        } else {
            s
        }
    };
    let mut out = String::new();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            out.push_str(&format!("{}={} ", k.to_string_lossy(), show(v)));
        }
    }
    out.push_str(&show(cmd.get_program()));
    for a in cmd.get_args() {
        out.push(' ');
        out.push_str(&show(a));
    }
    out
}

impl Bench {
    /// A new run writing under `dir`.
    pub fn new(dir: PathBuf, phase_secs: f64, soak_secs: u64, perf: bool) -> Self {
        let release = crate::target_dir().join(PROFILE);
        Self {
            dir,
            collector_bin: release.join("ktra-collector"),
            bench_bin: release.join("ktra-bench"),
            phase_secs,
            warmup_secs: 1.0,
            connections: 64,
            soak_secs,
            perf,
            commands: Vec::new(),
            started: Instant::now(),
        }
    }

    /// Prints a progress line with the elapsed time.
    pub fn say(&self, msg: impl std::fmt::Display) {
        println!("[bench {:>5.1}s] {msg}", self.started.elapsed().as_secs_f64());
    }

    /// Records a command for the report.
    pub fn log(&mut self, cmd: &std::process::Command) {
        self.commands.push(shell_words(cmd));
    }

    fn collector(&mut self, name: &str, ch_url: &str, durability: &str, spool: &Path) -> Result<Served> {
        self.collector_with(name, ch_url, durability, spool, "")
    }

    /// [`Self::collector`] with `extra` TOML appended to its config.
    fn collector_with(
        &mut self,
        name: &str,
        ch_url: &str,
        durability: &str,
        spool: &Path,
        extra: &str,
    ) -> Result<Served> {
        let config = self.dir.join(format!("{name}.toml"));
        std::fs::write(
            &config,
            format!(
                "# Written by cargo xtask bench.\nlisten = \"127.0.0.1:0\"\nsecret = \"{SECRET}\"\nadmin_key = \"{ADMIN_KEY}\"\nbots = \"flag\"\n\n\
                 [clickhouse]\nurl = \"{ch_url}\"\ndatabase = \"{DATABASE}\"\n\n\
                 [spool]\ndir = \"{}\"\ndurability = \"{durability}\"\ndrain_secs = 2\n\n\
                 [consent]\nenforce = true\n\n\
                 [sites.shop]\norigins = [\"https://shop.example\"]\nhosts = [\"shop.example\"]\n{extra}",
                spool.display()
            ),
        )?;
        let mut cmd = proc::command(&self.collector_bin, &self.dir);
        // Rate limits off: one load generator address stands for thousands of visitors.
        cmd.arg("serve").arg("--config").arg(&config).env("RUST_LOG", "warn").env("KTRA_RATE_PER_CLIENT", "0");
        self.log(&cmd);
        let log = self.dir.join(format!("{name}.log"));
        Served::start(&format!("collector ({name})"), "ktra-collector", &mut cmd, &log)
    }

    fn ceiling(&mut self) -> Result<Served> {
        let mut cmd = proc::command(&self.bench_bin, &self.dir);
        cmd.args(["ceiling", "--listen", "127.0.0.1:0"]);
        self.log(&cmd);
        Served::start("ceiling server", "ktra-bench", &mut cmd, &self.dir.join("ceiling.log"))
    }

    /// Runs `ktra-bench load` against `target`; `rate` None = closed loop.
    fn load(
        &mut self,
        target: &Served,
        tag: &str,
        events: usize,
        rate: Option<f64>,
        secs: f64,
        tick: impl FnMut(),
    ) -> Result<Value> {
        let mut cmd = proc::command(&self.bench_bin, &self.dir);
        cmd.args(["load", "--addr", &target.addr, "--connections", &self.connections.to_string()]);
        match rate {
            None => cmd.arg("--closed"),
            Some(r) => cmd.args(["--rate", &format!("{r:.0}")]),
        };
        cmd.args([
            "--events",
            &events.to_string(),
            "--warmup",
            &self.warmup_secs.to_string(),
            "--duration",
            &secs.to_string(),
            "--tag",
            tag,
            "--secret",
            SECRET,
        ]);
        self.log(&cmd);
        procs::run_json(&format!("load {tag}"), &mut cmd, &self.dir.join(format!("{tag}.json")), tick)
    }

    /// One measured phase. `ch` given: wait until the phase's events are in ClickHouse.
    #[allow(clippy::too_many_arguments)]
    fn phase(
        &mut self,
        e2e: &mut E2e,
        system: &'static str,
        target: &Served,
        ch: Option<&Server>,
        tag: &str,
        events: usize,
        pct: Option<u32>,
        rate: Option<f64>,
    ) -> Result<Phase> {
        let ch_pid = ch.and_then(|_| procs::children_named("clickhouse-serv").first().copied());
        let (cpu0, ch0) = (target.cpu(), ch_pid.map(procs::cpu_seconds));
        // Disk mode's group-commit fsyncs over the phase (the collector's own histogram).
        let fsync0 = system.starts_with("ktra disk").then(|| super::fsync::scrape(&target.addr, ADMIN_KEY)).flatten();
        let secs = self.phase_secs;
        let report = self.load(target, tag, events, rate, secs, || {})?;
        let mut p = Phase { tag: tag.into(), system, events, pct, offered_rps: rate, report, ..Default::default() };
        if let Some(before) = &fsync0 {
            p.fsync =
                super::fsync::scrape(&target.addr, ADMIN_KEY).and_then(|after| super::fsync::window(before, &after));
        }
        if let Some(ch) = ch {
            let t = Instant::now();
            let n = wait_arrival(ch, tag, p.ok_events(), Duration::from_secs(60))?;
            p.arrived = Some(n);
            p.arrival_s = Some(t.elapsed().as_secs_f64());
            if n != p.ok_events() {
                e2e.notes
                    .push(format!("{tag}: {n} of {} accepted events arrived in ClickHouse within 60 s", p.ok_events()));
            }
        }
        p.server_cpu_s = target.cpu() - cpu0;
        p.ch_cpu_s = ch_pid.zip(ch0).map(|(pid, c0)| procs::cpu_seconds(pid) - c0);
        p.hwm = target.hwm();
        if p.errors() > 0 {
            e2e.notes.push(format!(
                "{tag} ({system}): {} requests failed (non-2xx by status: {}; connection errors {}; unsent {})",
                p.errors(),
                p.report.get("statuses").map_or("{}".into(), Value::to_string),
                p.report.get("io_errors").map_or("0".into(), Value::to_string),
                p.report.get("unsent").map_or("0".into(), Value::to_string),
            ));
        }
        self.say(format!(
            "{tag} {system}, {events} ev/req, {}: {:.0} req/s, {:.0} ev/s, p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, errors {}, CPU {:.1} µs/ev, arrived {}",
            pct.map_or("saturation".into(), |p| format!("{p} %")),
            p.rps(),
            p.eps(),
            p.ms("p50_us"),
            p.ms("p99_us"),
            p.ms("p999_us"),
            p.errors(),
            p.cpu_us_per_event(),
            p.arrived.map_or("n/a".into(), |n| format!("{n}/{}", p.ok_events())),
        ));
        Ok(p)
    }

    /// Saturation, then 25/50/75 % of it.
    fn sweep(
        &mut self,
        e2e: &mut E2e,
        system: &'static str,
        target: &Served,
        ch: Option<&Server>,
        tag: &str,
        events: usize,
    ) -> Result<f64> {
        let sat = self.phase(e2e, system, target, ch, &format!("{tag}s"), events, None, None)?;
        let rps = sat.rps();
        e2e.phases.push(sat);
        for pct in [25u32, 50, 75] {
            let rate = rps * f64::from(pct) / 100.0;
            let p = self.phase(e2e, system, target, ch, &format!("{tag}r{pct}"), events, Some(pct), Some(rate))?;
            e2e.phases.push(p);
        }
        Ok(rps)
    }

    /// A perf profile of `target` while it is saturated; returns (share by component, top symbols).
    fn profile(&mut self, target: &Served, tag: &str, events: usize) -> Result<(String, String)> {
        let data = self.dir.join(format!("{tag}.perf.data"));
        let secs = self.warmup_secs + self.phase_secs;
        let mut rec = proc::command("perf", &self.dir);
        rec.args(["record", "-e", "cpu-clock", "-F", "999", "-p", &target.pid.to_string(), "-o"])
            .arg(&data)
            .args(["--", "sleep", &format!("{secs}")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        self.log(&rec);
        let guard = proc::spawn("perf record", &mut rec, false)?;
        let _ = self.load(target, tag, events, None, self.phase_secs, || {})?;
        guard.wait()?;
        drop(guard);
        let mut rep = proc::command("perf", &self.dir);
        rep.args(["report", "--stdio", "--no-children", "--sort", "dso,symbol", "--percent-limit", "0", "-i"])
            .arg(&data);
        self.log(&rep);
        let out = rep.stderr(std::process::Stdio::null()).output().context("perf report")?;
        Ok(super::profile::perf_summary(&String::from_utf8_lossy(&out.stdout), 20))
    }

    /// The collector (disk mode) with a `page_visit` rule (once per lead) pointing at a
    /// receiver of `ktra-bench webhooks`, which sends 300 new leads at 50 batches/s.
    fn webhooks(&mut self, ch_url: &str) -> Result<Value> {
        let port = ktra_harness::free_ports(1)?[0];
        let extra = format!(
            "\n[webhooks]\nallow_private_targets = true\n\n[[sites.shop.webhooks]]\n\
             url = \"http://127.0.0.1:{port}/hook\"\nsecret = \"whsec_YmVuY2gtc2VjcmV0LWJlbmNoLXNlY3JldA==\"\n\
             triggers = [\"page_visit\"]\nonce_per = \"lead\"\n"
        );
        let spool = self.dir.join("spool/hooks");
        let _ = std::fs::remove_dir_all(&spool);
        let target = self.collector_with("hooks", ch_url, "disk", &spool, &extra)?;
        self.say(format!("webhook latency: collector on {}, receiver on 127.0.0.1:{port}", target.addr));
        let mut cmd = proc::command(&self.bench_bin, &self.dir);
        let listen = format!("127.0.0.1:{port}");
        cmd.args(["webhooks", "--addr", &target.addr, "--listen", &listen, "--leads", "300", "--rate", "50"]);
        cmd.args(["--secret", SECRET]);
        self.log(&cmd);
        let out = procs::run_json("webhooks", &mut cmd, &self.dir.join("webhooks.json"), || {});
        target.stop();
        out
    }

    /// The whole end-to-end part.
    pub fn run(&mut self) -> Result<E2e> {
        let mut e2e = E2e::default();
        let _ = std::fs::remove_dir_all(self.dir.join("spool"));
        self.say("starting a fresh private ClickHouse (target/clickhouse-bench)");
        let ch = Server::start("bench", true)?;
        e2e.ch_version = ch.query("SELECT version()")?.trim().to_owned();
        let ch_url = ch.url();

        // ---- ClickHouse up: the collector in disk mode (the default) ----
        let a = self.collector("disk", &ch_url, "disk", &self.dir.join("spool/disk"))?;
        wait_tables(&ch)?;
        self.say(format!("collector (disk) on {} pid {}", a.addr, a.pid));
        let single_rps = self.sweep(&mut e2e, "ktra disk", &a, Some(&ch), "d1", 1)?;
        self.sweep(&mut e2e, "ktra disk", &a, Some(&ch), "d20", 20)?;
        if self.perf {
            for (tag, events, title) in
                [("pf1", 1usize, "single-event POSTs"), ("pf20", 20, "batched POSTs (20 events)")]
            {
                match self.profile(&a, tag, events) {
                    Ok((components, symbols)) => e2e.perf.push(PerfProfile {
                        tag: tag.into(),
                        title: format!("collector (disk) at saturation, {title}"),
                        components,
                        symbols,
                    }),
                    Err(e) => e2e.notes.push(format!("perf profile {tag} failed: {e:#}")),
                }
            }
        }
        if self.soak_secs > 0 {
            e2e.soak = Some(self.soak(&mut e2e, &a, &ch, single_rps * 0.5)?);
        }
        a.stop();

        // ---- memory mode ----
        let b = self.collector("memory", &ch_url, "memory", &self.dir.join("spool/memory"))?;
        for (tag, events) in [("m1s", 1usize), ("m20s", 20)] {
            let p = self.phase(&mut e2e, "ktra memory", &b, Some(&ch), tag, events, None, None)?;
            e2e.phases.push(p);
        }
        let p = self.phase(&mut e2e, "ktra memory", &b, Some(&ch), "m1r50", 1, Some(50), Some(single_rps * 0.5))?;
        e2e.phases.push(p);
        b.stop();

        // ---- behavioural webhooks: an event accepted → its webhook received ----
        match self.webhooks(&ch_url) {
            Ok(v) => e2e.webhooks = Some(v),
            Err(e) => e2e.notes.push(format!("webhook latency run failed: {e:#}")),
        }

        // ---- the parse-and-discard ceiling, at the same offered rates as ktra ----
        let c = self.ceiling()?;
        let p = self.phase(&mut e2e, "ceiling", &c, None, "c1s", 1, None, None)?;
        e2e.phases.push(p);
        for pct in [25u32, 50, 75] {
            let rate = single_rps * f64::from(pct) / 100.0;
            let p = self.phase(&mut e2e, "ceiling", &c, None, &format!("c1r{pct}"), 1, Some(pct), Some(rate))?;
            e2e.phases.push(p);
        }
        let p = self.phase(&mut e2e, "ceiling", &c, None, "c20s", 20, None, None)?;
        e2e.phases.push(p);
        c.stop();

        // ---- ClickHouse stopped: the spool path ----
        self.say("stopping ClickHouse");
        let ch_dir = ch.dir().to_owned();
        ch.stop();
        let mut down = Vec::new();
        for (name, mode, system, tags) in [
            ("disk-down", "disk", "ktra disk, ClickHouse stopped", ["x1s", "x20s"]),
            ("memory-down", "memory", "ktra memory, ClickHouse stopped", ["y1s", "y20s"]),
        ] {
            let spool = self.dir.join(format!("spool/{name}"));
            let s = self.collector(name, &ch_url, mode, &spool)?;
            for (tag, events) in tags.into_iter().zip([1usize, 20]) {
                let p = self.phase(&mut e2e, system, &s, None, tag, events, None, None)?;
                e2e.phases.push(p);
            }
            s.stop();
            down.push((name, mode, spool));
        }

        // ---- ClickHouse back: the spool drains ----
        self.say(format!("starting ClickHouse again on the same data ({})", ch_dir.display()));
        let ch = Server::start("bench", false)?;
        let t = Instant::now();
        let mut drainers = Vec::new();
        for (name, mode, spool) in &down {
            drainers.push(self.collector(&format!("{name}-drain"), &ch.url(), mode, spool)?);
        }
        let mut all_in = true;
        for p in e2e.phases.iter_mut().filter(|p| p.system.contains("stopped")) {
            let n = wait_arrival(&ch, &p.tag, p.ok_events(), Duration::from_secs(120))?;
            p.arrived = Some(n);
            if n != p.ok_events() {
                all_in = false;
                e2e.notes.push(format!(
                    "{}: {n} of {} accepted events arrived after ClickHouse came back",
                    p.tag,
                    p.ok_events()
                ));
            }
        }
        let drained = t.elapsed().as_secs_f64();
        e2e.drain_s = all_in.then_some(drained);
        self.say(format!("spool drained into ClickHouse in {drained:.1} s (ClickHouse start included)"));
        for d in drainers {
            d.stop();
        }

        // ---- the database ceiling and floor ----
        for (kind, extra) in [
            ("db-bulk", vec!["--rows", "200000", "--batch", "10000", "--connections", "1"]),
            ("db-per-event", vec!["--seconds", "5", "--connections", "4"]),
        ] {
            let mut cmd = proc::command(&self.bench_bin, &self.dir);
            cmd.args([kind, "--url", &ch.url(), "--database", DB_DIRECT]).args(&extra);
            self.log(&cmd);
            match procs::run_json(kind, &mut cmd, &self.dir.join(format!("{kind}.json")), || {}) {
                Ok(v) => {
                    self.say(format!(
                        "{kind}: {:.0} rows/s",
                        v.get("rows_per_s").and_then(Value::as_f64).unwrap_or(0.0)
                    ));
                    if kind == "db-bulk" {
                        e2e.db_bulk = Some(v);
                    } else {
                        e2e.db_floor = Some(v);
                    }
                }
                Err(e) => e2e.notes.push(format!("{kind} failed: {e:#}")),
            }
        }
        ch.stop();
        Ok(e2e)
    }

    fn soak(&mut self, e2e: &mut E2e, a: &Served, ch: &Server, rate: f64) -> Result<Soak> {
        let secs = self.soak_secs as f64;
        self.say(format!(
            "soak: {secs:.0} s at {rate:.0} req/s (50 % of single-event saturation), RSS sampled every second"
        ));
        let (cpu0, pid) = (a.cpu(), a.pid);
        let start = Instant::now();
        let mut samples = vec![(0.0, a.rss())];
        let mut next = 1.0;
        let report = self.load(a, "soak", 1, Some(rate), secs, || {
            let t = start.elapsed().as_secs_f64();
            if t >= next {
                samples.push((t, procs::status_bytes(pid, "VmRSS")));
                next += 1.0;
            }
        })?;
        let mut p = Phase {
            tag: "soak".into(),
            system: "ktra disk",
            events: 1,
            pct: Some(50),
            offered_rps: Some(rate),
            report,
            ..Default::default()
        };
        let t = Instant::now();
        let n = wait_arrival(ch, "soak", p.ok_events(), Duration::from_secs(60))?;
        p.arrived = Some(n);
        p.arrival_s = Some(t.elapsed().as_secs_f64());
        if n != p.ok_events() {
            e2e.notes.push(format!("soak: {n} of {} accepted events arrived", p.ok_events()));
        }
        p.server_cpu_s = a.cpu() - cpu0;
        p.hwm = a.hwm();
        samples.push((start.elapsed().as_secs_f64(), a.rss()));
        self.say(format!(
            "soak: p99 {:.2} ms, RSS {:.1} → {:.1} MB, peak {:.1} MB",
            p.ms("p99_us"),
            mb(samples.first().map_or(0, |s| s.1)),
            mb(samples.last().map_or(0, |s| s.1)),
            mb(p.hwm)
        ));
        Ok(Soak { phase: p, samples })
    }
}

fn wait_tables(ch: &Server) -> Result<()> {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let q = format!("SELECT count() FROM system.tables WHERE database = '{DATABASE}' AND name = 'events'");
        if ch.query(&q).map(|s| s.trim() == "1").unwrap_or(false) {
            return Ok(());
        }
        if Instant::now() > until {
            anyhow::bail!("the collector did not create {DATABASE}.events within 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Polls the phase's event count until it reaches `want`, stops growing for
/// 15 s, or `timeout` passes; returns the last count.
fn wait_arrival(ch: &Server, tag: &str, want: u64, timeout: Duration) -> Result<u64> {
    let sql = format!("SELECT count() FROM {DATABASE}.events WHERE visitor_id LIKE '{tag}.%'");
    let start = Instant::now();
    let (mut last, mut last_change) = (u64::MAX, Instant::now());
    loop {
        let n: u64 = ch.query(&sql)?.trim().parse().context("count")?;
        if n >= want || start.elapsed() > timeout || last_change.elapsed() > Duration::from_secs(15) {
            return Ok(n);
        }
        if n != last {
            last = n;
            last_change = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
