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

    /// The record: both counts at a fixed width, so that every write
    /// replaces the whole of the last one in place.
    fn record(&self) -> String {
        format!("{:020} {:020}\n", self.taken, self.settled)
    }

    /// Writes it (atomically: a new file renamed over the old one).
    pub fn write(&self, dir: &Path) {
        let tmp = dir.join("memory-ledger.tmp");
        if std::fs::write(&tmp, self.record()).is_ok() {
            let _ = std::fs::rename(tmp, Self::path(dir));
        }
    }
}

/// The ledger file kept open by the writer, rewritten in place by one
/// positioned write of the fixed-width record (a process that dies cannot
/// leave half of one system call's bytes in the page cache), and only when
/// the counts changed. The writer notes the ledger at every wake-up: a new
/// file and a rename each time were four system calls and ~0.2 ms, most of
/// memory mode's CPU at a few thousand requests per second.
pub struct LedgerFile {
    file: Option<std::fs::File>,
    dir: PathBuf,
    last: Option<Ledger>,
}

impl LedgerFile {
    /// The ledger of the spool directory `dir`, opened at the first write.
    pub fn new(dir: &Path) -> Self {
        Self { file: None, dir: dir.to_path_buf(), last: None }
    }

    /// Writes `ledger` unless it is what the file already holds.
    pub fn write(&mut self, ledger: Ledger) {
        use std::os::unix::fs::FileExt;
        if self.last == Some(ledger) {
            return;
        }
        let record = ledger.record();
        if self.file.is_none() {
            // Sized to one record: a shorter one left by an older release leaves no tail.
            let opened = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(Ledger::path(&self.dir))
                .and_then(|f| f.set_len(record.len() as u64).map(|()| f));
            match opened {
                Ok(f) => self.file = Some(f),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot open the memory ledger; a crash's losses may go uncounted");
                    return;
                }
            }
        }
        if let Some(f) = &self.file {
            if f.write_all_at(record.as_bytes(), 0).is_ok() {
                self.last = Some(ledger);
            }
        }
    }
}

impl Ledger {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_written_in_place_reads_back_and_a_crash_counts_the_difference() {
        let dir = crate::test_dir("ledger");
        // An older release's shorter record, then the writer's records in place.
        Ledger { taken: 123_456_789, settled: 9 }.write(&dir);
        let mut f = LedgerFile::new(&dir);
        f.write(Ledger { taken: 7, settled: 3 });
        assert_eq!(Ledger::read(&dir), Some(Ledger { taken: 7, settled: 3 }), "no tail of the longer record");
        f.write(Ledger { taken: u64::MAX, settled: 5 });
        f.write(Ledger { taken: 40, settled: 38 });
        assert_eq!(Ledger::read(&dir), Some(Ledger { taken: 40, settled: 38 }));
        assert_eq!(std::fs::metadata(dir.join("memory-ledger")).unwrap().len(), 42, "one fixed-width record");
        // What a crash left: 2 rows only in memory, counted once; the ledger starts again at zero.
        assert_eq!(Ledger::recover(&dir), 2);
        assert_eq!(Ledger::recover(&dir), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
