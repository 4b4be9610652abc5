//! The one JSON document a benchmark run writes (`target/bench/results.json`)
//! and `BENCHMARKS.md` is rendered from. Schema `ktra-bench-results/1`:
//!
//! ```text
//! { "schema": "ktra-bench-results/1",
//!   "run":      { date, commit, dirty, command, total_s, phase_s, warmup_s, soak_s,
//!                 connections, machine: [[key, value]], clickhouse, hw_counters,
//!                 perf_sampling, web: [{key, label, limit_bytes, missing}], web_note, commands },
//!   "phases":   [{ tag, system, events, load_pct }],           // what each e2e tag was
//!   "measures": [{ name, value, unit, target, direction }],    // every figure
//!   "series":   [{ name, x_unit, unit, points: [[x, y]] }],    // timelines, RSS samples
//!   "profiles": [{ name, title, text }],                       // callgrind and perf listings
//!   "notes":    ["…"] }
//! ```
//!
//! `direction` is `higher_is_better`, `lower_is_better` or `none`; `target`
//! is null unless a target of [`super::targets`] names the measure. Measure
//! names (`e2e.<tag>.<figure>`, `micro.<bench>.<figure>`, `web.<asset>.<figure>`,
//! `db.<bulk|floor>.<figure>`, `soak.<figure>`, `rss.<mode>.peak_mb`,
//! `ratio.<what>`, `stage.<stage>.ns_per_event`, `callgrind.<stage>_pct`) are
//! the stable part: a new figure adds a name, an old name keeps its meaning.
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The schema identifier written into every document.
pub const SCHEMA: &str = "ktra-bench-results/1";

/// Which way is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// More is better (throughput, headroom ratios).
    HigherIsBetter,
    /// Less is better (latency, CPU, memory, bytes).
    LowerIsBetter,
    /// Context, not a quality (offered rates, counts).
    #[default]
    None,
}

/// One measured (or derived-from-measured) figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measure {
    /// Stable dotted name.
    pub name: String,
    /// The figure.
    pub value: f64,
    /// Its unit (`req/s`, `ms`, `MB`, `B`, `×`, …).
    pub unit: String,
    /// The target it is held to, in `unit`, if any.
    pub target: Option<f64>,
    /// Which way is better.
    pub direction: Direction,
}

impl Measure {
    /// Whether it meets its target (`None` without one).
    pub fn pass(&self) -> Option<bool> {
        let t = self.target?;
        Some(match self.direction {
            Direction::LowerIsBetter => self.value <= t,
            _ => self.value >= t,
        })
    }

    /// Headroom or shortfall against the target, in words.
    pub fn margin(&self) -> String {
        let Some(t) = self.target.filter(|t| *t != 0.0) else { return String::new() };
        let higher = self.direction != Direction::LowerIsBetter;
        let rel = if higher { self.value / t - 1.0 } else { 1.0 - self.value / t };
        match (self.pass(), higher) {
            (Some(true), _) => format!("{:.0} % headroom", rel * 100.0),
            (_, true) => format!("short by {:.0} %", -rel * 100.0),
            (_, false) => format!("over by {:.0} % ({:.2}× the target)", -rel * 100.0, self.value / t),
        }
    }
}

/// A figure over time or load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Stable dotted name (`e2e.<tag>.timeline_max_ms`, `soak.rss_mb`).
    pub name: String,
    /// Unit of x.
    pub x_unit: String,
    /// Unit of y.
    pub unit: String,
    /// `[x, y]` points in order.
    pub points: Vec<[f64; 2]>,
}

/// A profiler listing, kept as text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// `callgrind.inclusive`, `callgrind.self`, `perf.<tag>.components`, `perf.<tag>.symbols`.
    pub name: String,
    /// What was profiled.
    pub title: String,
    /// The listing.
    pub text: String,
}

/// What one end-to-end tag was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseInfo {
    /// The tag (`d1s`, `m20s`, `soak`, …): the `<tag>` of its measure names.
    pub tag: String,
    /// What served it (`ktra disk`, `ceiling`, `ktra memory, ClickHouse stopped`).
    pub system: String,
    /// Events per request.
    pub events: usize,
    /// Offered share of saturation (%), null for closed-loop saturation.
    pub load_pct: Option<u32>,
}

/// A browser asset group and its hard limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebAsset {
    /// `loader`, `banner`, `pixel`: the `<asset>` of its measure names.
    pub key: String,
    /// What it is.
    pub label: String,
    /// `cargo xtask test` fails above this many gzipped bytes.
    pub limit_bytes: u64,
    /// Why it was not measured.
    pub missing: Option<String>,
}

/// The run's circumstances.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// UTC date and time.
    pub date: String,
    /// Short commit hash.
    pub commit: String,
    /// Uncommitted changes in the work tree.
    pub dirty: bool,
    /// The command line.
    pub command: String,
    /// Wall time of the whole run.
    pub total_s: f64,
    /// Measured seconds per phase.
    pub phase_s: f64,
    /// Warm-up seconds per phase.
    pub warmup_s: f64,
    /// Soak seconds.
    pub soak_s: u64,
    /// Load generator connections.
    pub connections: usize,
    /// `[key, value]` lines describing the machine.
    pub machine: Vec<[String; 2]>,
    /// `SELECT version()`, empty when not reached.
    pub clickhouse: String,
    /// `perf stat -e instructions` works.
    pub hw_counters: bool,
    /// `perf record -e cpu-clock` works.
    pub perf_sampling: bool,
    /// Browser asset groups.
    pub web: Vec<WebAsset>,
    /// Why sizes may be stale.
    pub web_note: String,
    /// Every command, in order.
    pub commands: Vec<String>,
}

/// The whole document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// [`SCHEMA`].
    pub schema: String,
    /// Circumstances.
    pub run: Run,
    /// End-to-end tags, in the order they ran.
    pub phases: Vec<PhaseInfo>,
    /// Every figure.
    pub measures: Vec<Measure>,
    /// Figures over time.
    pub series: Vec<Series>,
    /// Profiler listings.
    pub profiles: Vec<Profile>,
    /// Problems met (a phase that failed, events that did not arrive).
    pub notes: Vec<String>,
}

impl Results {
    /// An empty document of the current schema.
    pub fn new(run: Run) -> Self {
        Results { schema: SCHEMA.into(), run, ..Default::default() }
    }

    /// Adds a figure without a target; non-finite values are dropped.
    pub fn put(&mut self, name: impl Into<String>, value: f64, unit: &str, direction: Direction) {
        if value.is_finite() {
            self.measures.push(Measure { name: name.into(), value, unit: unit.into(), target: None, direction });
        }
    }

    /// The measure called `name`.
    pub fn measure(&self, name: &str) -> Option<&Measure> {
        self.measures.iter().find(|m| m.name == name)
    }

    /// The value of the measure called `name`.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.measure(name).map(|m| m.value)
    }

    /// The series called `name`.
    pub fn series(&self, name: &str) -> Option<&Series> {
        self.series.iter().find(|s| s.name == name)
    }

    /// The profile listing called `name`.
    pub fn profile(&self, name: &str) -> Option<&str> {
        self.profiles.iter().find(|p| p.name == name).map(|p| p.text.as_str())
    }

    /// The phase tagged `tag`.
    pub fn phase(&self, tag: &str) -> Option<&PhaseInfo> {
        self.phases.iter().find(|p| p.tag == tag)
    }

    /// `e2e.<tag>.<figure>` of a phase.
    pub fn of(&self, tag: &str, figure: &str) -> Option<f64> {
        self.get(&format!("e2e.{tag}.{figure}"))
    }

    /// Writes the document, pretty-printed.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
    }

    /// Reads a document written by [`Results::save`].
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let r: Results = serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        anyhow::ensure!(
            r.schema == SCHEMA,
            "{} has schema {:?}, this xtask reads {SCHEMA:?}",
            path.display(),
            r.schema
        );
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(value: f64, target: f64, direction: Direction) -> Measure {
        Measure { name: "x".into(), value, unit: "ms".into(), target: Some(target), direction }
    }

    #[test]
    fn verdicts_follow_the_direction() {
        assert_eq!(m(4.0, 5.0, Direction::LowerIsBetter).pass(), Some(true));
        assert_eq!(m(6.0, 5.0, Direction::LowerIsBetter).pass(), Some(false));
        assert_eq!(m(0.5, 0.6, Direction::HigherIsBetter).pass(), Some(false));
        assert_eq!(m(10.0, 5.0, Direction::LowerIsBetter).margin(), "over by 100 % (2.00× the target)");
        assert_eq!(m(0.3, 0.6, Direction::HigherIsBetter).margin(), "short by 50 %");
        assert_eq!(m(75.0, 50.0, Direction::HigherIsBetter).margin(), "50 % headroom");
    }

    #[test]
    fn a_document_survives_a_round_trip_through_json() {
        let mut r = Results::new(Run { commit: "abc".into(), ..Default::default() });
        r.put("e2e.d1s.rps", 24695.0, "req/s", Direction::HigherIsBetter);
        r.put("e2e.d1s.nan", f64::NAN, "req/s", Direction::HigherIsBetter);
        r.series.push(Series {
            name: "soak.rss_mb".into(),
            x_unit: "s".into(),
            unit: "MB".into(),
            points: vec![[0.0, 1.0]],
        });
        let dir = std::env::temp_dir().join(format!("ktra-results-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_default();
        let path = dir.join("results.json");
        r.save(&path).unwrap_or_default();
        let back = Results::load(&path);
        let _ = std::fs::remove_dir_all(&dir);
        let back = back.unwrap_or_default();
        assert_eq!(back, r);
        assert_eq!(back.measures.len(), 1, "non-finite values are not written");
        assert_eq!(back.of("d1s", "rps"), Some(24695.0));
    }
}
