//! Memory mode's account of rows taken from the queue but not yet settled
//! (inserted, spooled, dead-lettered), kept in `memory-ledger` in the spool
//! directory. After a crash the difference is what was lost; the next start
//! reports and counts it (`ktra_dropped_rows_total{reason="crash_memory_mode"}`).
use crate::telemetry as t;
use std::path::{Path, PathBuf};

/// Rows taken and settled.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Ledger {
    /// Rows taken from the queue.
    pub taken: u64,
    /// Rows no longer only in memory.
    pub settled: u64,
}

impl Ledger {
    fn path(dir: &Path) -> PathBuf {
        dir.join("memory-ledger")
    }

    /// Reads the ledger a previous run left, if any.
    pub fn read(dir: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(Self::path(dir)).ok()?;
        let (a, b) = text.trim().split_once(' ')?;
        Some(Self { taken: a.parse().ok()?, settled: b.parse().ok()? })
    }

    /// Writes it (atomically).
    pub fn write(&self, dir: &Path) {
        let tmp = dir.join("memory-ledger.tmp");
        if std::fs::write(&tmp, format!("{} {}\n", self.taken, self.settled)).is_ok() {
            let _ = std::fs::rename(tmp, Self::path(dir));
        }
    }

    /// Rows a crashed run held only in memory: reported, counted, and the
    /// ledger reset. Called once at start, before requests are served.
    pub fn recover(dir: &Path) -> u64 {
        let lost = Self::read(dir).map(|l| l.taken.saturating_sub(l.settled)).unwrap_or(0);
        Self::default().write(dir);
        if lost > 0 {
            tracing::error!(
                rows = lost,
                "the previous run crashed in memory durability mode and lost rows it held in memory"
            );
            metrics::counter!(t::DROPPED_ROWS, "table" => "all", "reason" => "crash_memory_mode").increment(lost);
        }
        lost
    }
}
