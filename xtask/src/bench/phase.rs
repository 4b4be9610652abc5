//! What one end-to-end run measured: each load phase's report from
//! `ktra-bench load` with the server's CPU, memory and ClickHouse arrival
//! figures read around it, the soak, the database ceiling and floor, and
//! the perf profiles. [`super::e2e`] fills these in; [`super::collect`]
//! turns them into measures.
use serde_json::Value;

/// One load phase against one server.
#[derive(Debug, Clone, Default)]
pub struct Phase {
    /// Visitor-id tag, also the file name of its raw report.
    pub tag: String,
    /// What served it.
    pub system: &'static str,
    /// Events per request.
    pub events: usize,
    /// `None` for closed-loop saturation, else the offered share of saturation (%).
    pub pct: Option<u32>,
    /// Offered requests/s (open loop).
    pub offered_rps: Option<f64>,
    /// The load generator's report.
    pub report: Value,
    /// Server CPU seconds over the phase (for ktra: until every event arrived).
    pub server_cpu_s: f64,
    /// ClickHouse CPU seconds over the same window.
    pub ch_cpu_s: Option<f64>,
    /// Server peak RSS (`VmHWM`) after the phase, bytes.
    pub hwm: u64,
    /// Events counted in ClickHouse for this phase, when checked.
    pub arrived: Option<u64>,
    /// Seconds from the end of the load until every event was in ClickHouse.
    pub arrival_s: Option<f64>,
    /// Disk mode: the spool's group-commit fsyncs during the load.
    pub fsync: Option<super::fsync::Window>,
}

impl Phase {
    fn f(&self, k: &str) -> f64 {
        self.report.get(k).and_then(Value::as_f64).unwrap_or(0.0)
    }
    /// Completed requests/s in the measured window.
    pub fn rps(&self) -> f64 {
        self.f("rps")
    }
    /// Accepted events/s in the measured window.
    pub fn eps(&self) -> f64 {
        self.f("eps")
    }
    /// A latency percentile field (`p50_us`, ...), in ms.
    pub fn ms(&self, k: &str) -> f64 {
        self.f(k) / 1000.0
    }
    /// Events answered 2xx over the whole run (what must arrive).
    pub fn ok_events(&self) -> u64 {
        self.f("ok_events") as u64
    }
    /// Non-2xx answers, connection errors and unsent tickets.
    pub fn errors(&self) -> u64 {
        let statuses: u64 = self
            .report
            .get("statuses")
            .and_then(Value::as_object)
            .map(|m| m.values().filter_map(Value::as_u64).sum())
            .unwrap_or(0);
        statuses + self.f("io_errors") as u64 + self.f("unsent") as u64
    }
    /// Events per second from the first request until the last event was in
    /// ClickHouse (warm-up included): what the whole write path sustains.
    pub fn sustained_eps(&self) -> Option<f64> {
        let load = self.f("warmup_s") + self.f("seconds");
        self.arrival_s.map(|a| self.ok_events() as f64 / (load + a))
    }
    /// Measured seconds of the phase.
    pub fn seconds(&self) -> f64 {
        self.f("seconds")
    }
    /// Request body bytes (mean per request).
    pub fn body_bytes(&self) -> f64 {
        self.f("body_bytes")
    }
    /// `[start ms, requests, max latency µs]` per 100 ms of the measured window.
    pub fn timeline(&self) -> Vec<[u64; 3]> {
        self.report.get("timeline").and_then(|t| serde_json::from_value(t.clone()).ok()).unwrap_or_default()
    }
    /// Server CPU microseconds per accepted event.
    pub fn cpu_us_per_event(&self) -> f64 {
        let n = self.ok_events();
        if n == 0 {
            return 0.0;
        }
        self.server_cpu_s * 1e6 / n as f64
    }
}

/// RSS over the soak run.
#[derive(Debug, Clone, Default)]
pub struct Soak {
    /// The phase itself.
    pub phase: Phase,
    /// (seconds since start, RSS bytes).
    pub samples: Vec<(f64, u64)>,
}

/// Everything the end-to-end part measured.
#[derive(Debug, Default)]
pub struct E2e {
    /// ClickHouse `SELECT version()`.
    pub ch_version: String,
    /// Every load phase, in order.
    pub phases: Vec<Phase>,
    /// The soak run.
    pub soak: Option<Soak>,
    /// `ktra-bench db-bulk` report.
    pub db_bulk: Option<Value>,
    /// `ktra-bench db-per-event` report.
    pub db_floor: Option<Value>,
    /// Seconds the restarted collectors took to ship the spool filled while ClickHouse was down.
    pub drain_s: Option<f64>,
    /// perf profiles of the collector at saturation.
    pub perf: Vec<PerfProfile>,
    /// `ktra-bench webhooks` report (event accepted → webhook received).
    pub webhooks: Option<Value>,
    /// Problems met (a phase that failed, events that did not arrive).
    pub notes: Vec<String>,
}

/// A perf profile of the collector at saturation.
#[derive(Debug, Clone, Default)]
pub struct PerfProfile {
    /// Load tag of the profiled run.
    pub tag: String,
    /// What was profiled.
    pub title: String,
    /// Share of samples by component.
    pub components: String,
    /// Top symbols by self samples.
    pub symbols: String,
}

/// Bytes as MB (10^6).
pub fn mb(b: u64) -> f64 {
    b as f64 / 1e6
}
