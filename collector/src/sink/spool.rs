//! The on-disk spool: append-only segment files of checksummed records under
//! one directory, bounded in size, read back in order by the shipper.
//!
//! Record layout (little endian): `len: u32 | crc32: u32 | tag: u8 |
//! rows: u32 | payload`, where `len` counts everything after the crc and the
//! crc covers the same bytes. `tag` is the table's spool tag
//! (`TableRow::TAG`), with the high bit set when the payload is binary rows
//! (a JSON array of rows otherwise, as earlier versions wrote).
//! Segments are `seg-<20-digit seq>.log`; the read position survives restarts
//! in `cursor` (written after each shipped batch; losing it only replays rows
//! that the queries count once anyway). On open, a torn record at the end of
//! a segment (a crash mid-write) is cut off and counted.
use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const HEADER: usize = 8;
/// The reader's buffer (records are read one after another).
const READ_BUFFER: usize = 256 * 1024;
const META: usize = 5;
/// Spool bytes a record takes besides its rows: header, tag, row count, and
/// the payload's varint row count.
pub const RECORD_OVERHEAD: usize = HEADER + META + 5;

/// How a record's payload is encoded: its tag byte's high bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Compact binary rows (`ktra_schema::row::encode_rows`): what the writer writes.
    Binary,
    /// A JSON array of rows: what earlier versions wrote (still read).
    Json,
}

const BINARY_BIT: u8 = 0x80;

/// A spool failure.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The spool reached its size bound.
    #[error("spool is full ({0} bytes)")]
    Full(u64),
    /// Disk I/O failed.
    #[error("spool I/O: {0}")]
    Io(#[from] io::Error),
}

/// A position in the spool: segment and byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    /// Segment sequence number.
    pub seq: u64,
    /// Byte offset in it.
    pub offset: u64,
}

/// One record read back.
#[derive(Debug)]
pub struct Record {
    /// Position just after this record (commit it once the record is shipped).
    pub end: Pos,
    /// The table's spool tag.
    pub tag: u8,
    /// Binary rows (else a JSON array, from an earlier version).
    pub binary: bool,
    /// Number of rows in the payload.
    pub rows: u32,
    /// The encoded rows.
    pub payload: Vec<u8>,
}

struct Segment {
    seq: u64,
    /// Bytes known to be complete (synced, or found valid on open).
    len: u64,
}

struct State {
    segments: VecDeque<Segment>,
    /// The segment being appended to: its file and bytes written (maybe not synced).
    writer: Option<(u64, File, u64)>,
    read: Pos,
    /// Bytes in all segments from the read position on.
    pending_bytes: u64,
    pending_records: u64,
    next_seq: u64,
}

/// Counters read by `/readyz` and `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpoolStats {
    /// Bytes waiting to be shipped.
    pub pending_bytes: u64,
    /// Records waiting to be shipped.
    pub pending_records: u64,
    /// Segment files on disk.
    pub segments: usize,
}

/// The spool.
pub struct Spool {
    dir: PathBuf,
    /// Held for the spool's life: two collectors must never share a spool.
    _lock: File,
    max_bytes: u64,
    segment_bytes: u64,
    state: Mutex<State>,
    /// Serialises appends to and rewrites of `dead-letter.jsonl`.
    dead_letters: Mutex<()>,
    /// Records cut off as torn or corrupt when the spool was opened.
    pub corrupt_on_open: u64,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool").field("dir", &self.dir).field("stats", &self.stats()).finish()
    }
}

/// Writes `head` then `body` with as few system calls as the kernel allows
/// (one `writev` unless it writes short).
fn write_all_vectored(file: &mut File, head: &[u8], body: &[u8]) -> io::Result<()> {
    let mut bufs = [io::IoSlice::new(head), io::IoSlice::new(body)];
    let mut bufs = &mut bufs[..];
    while !bufs.is_empty() {
        match file.write_vectored(bufs) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "failed to write whole record")),
            Ok(n) => io::IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn seg_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("seg-{seq:020}.log"))
}

/// Scans a segment: the length of its valid prefix, the number of records
/// starting at or after `from`, and whether a torn or corrupt tail follows.
fn scan(path: &Path, from: u64) -> io::Result<(u64, u64, bool)> {
    let data = fs::read(path)?;
    let mut off = 0usize;
    let mut records = 0;
    while off + HEADER <= data.len() {
        let len = u32::from_le_bytes([data[off], data[off + 1], data[off + 2], data[off + 3]]) as usize;
        let crc = u32::from_le_bytes([data[off + 4], data[off + 5], data[off + 6], data[off + 7]]);
        let end = off + HEADER + len;
        if len < META || end > data.len() || crc32fast::hash(&data[off + HEADER..end]) != crc {
            return Ok((off as u64, records, true));
        }
        if off as u64 >= from {
            records += 1;
        }
        off = end;
    }
    Ok((off as u64, records, off != data.len()))
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Spool {
    /// Opens (creating) the spool in `dir`, bounded to `max_bytes`, with
    /// segments of about `segment_bytes`.
    pub fn open(dir: &Path, max_bytes: u64, segment_bytes: u64) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let lock = OpenOptions::new().create(true).truncate(false).write(true).open(dir.join("lock"))?;
        lock.try_lock().map_err(|_| {
            io::Error::new(
                io::ErrorKind::WouldBlock,
                "another collector is using this spool directory; give each its own",
            )
        })?;
        let mut seqs: Vec<u64> = fs::read_dir(dir)?
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_prefix("seg-")?.strip_suffix(".log")?.parse().ok()
            })
            .collect();
        seqs.sort_unstable();
        let cursor = fs::read_to_string(dir.join("cursor")).ok().and_then(|s| {
            let (a, b) = s.trim().split_once(' ')?;
            Some(Pos { seq: a.parse().ok()?, offset: b.parse().ok()? })
        });
        let mut segments = VecDeque::new();
        let mut corrupt = 0;
        let mut pending_bytes = 0;
        let mut pending_records = 0;
        let read = match cursor {
            Some(c) if seqs.contains(&c.seq) => c,
            _ => Pos { seq: seqs.first().copied().unwrap_or(0), offset: 0 },
        };
        for seq in seqs {
            let path = seg_path(dir, seq);
            if seq < read.seq {
                fs::remove_file(&path)?;
                continue;
            }
            let cursor = if seq == read.seq { read.offset } else { 0 };
            let (valid, records, torn) = scan(&path, cursor)?;
            if torn {
                corrupt += 1;
                OpenOptions::new().write(true).open(&path)?.set_len(valid)?;
            }
            pending_bytes += valid - cursor.min(valid);
            pending_records += records;
            segments.push_back(Segment { seq, len: valid });
        }
        let next_seq = segments.back().map(|s| s.seq + 1).unwrap_or(read.seq.max(1));
        let read = if segments.is_empty() { Pos { seq: next_seq, offset: 0 } } else { read };
        Ok(Self {
            _lock: lock,
            dir: dir.to_path_buf(),
            max_bytes,
            segment_bytes: segment_bytes.max(1024),
            state: Mutex::new(State { segments, writer: None, read, pending_bytes, pending_records, next_seq }),
            dead_letters: Mutex::new(()),
            corrupt_on_open: corrupt,
        })
    }

    /// Appends one record (not yet durable: call [`Spool::sync`]).
    pub fn append(&self, tag: u8, encoding: Encoding, rows: u32, payload: &[u8]) -> Result<(), SpoolError> {
        let mut st = lock(&self.state);
        let size = (HEADER + META + payload.len()) as u64;
        if st.pending_bytes + size > self.max_bytes {
            return Err(SpoolError::Full(st.pending_bytes));
        }
        let rotate = match &st.writer {
            None => true,
            Some((_, _, written)) => *written >= self.segment_bytes,
        };
        if rotate {
            self.sync_locked(&mut st)?;
            let seq = st.next_seq;
            st.next_seq += 1;
            let file = OpenOptions::new().create(true).append(true).open(seg_path(&self.dir, seq))?;
            st.segments.push_back(Segment { seq, len: 0 });
            st.writer = Some((seq, file, 0));
        }
        // Header and meta, then the payload as it is (one write, no copy of the payload).
        let mut head = [0u8; HEADER + META];
        head[..4].copy_from_slice(&((META + payload.len()) as u32).to_le_bytes());
        head[HEADER] = match encoding {
            Encoding::Binary => tag | BINARY_BIT,
            Encoding::Json => tag & !BINARY_BIT,
        };
        head[HEADER + 1..].copy_from_slice(&rows.to_le_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(&head[HEADER..]);
        crc.update(payload);
        head[4..8].copy_from_slice(&crc.finalize().to_le_bytes());
        if let Some((_, file, written)) = st.writer.as_mut() {
            write_all_vectored(file, &head, payload)?;
            *written += size;
        }
        st.pending_bytes += size;
        st.pending_records += 1;
        Ok(())
    }

    fn sync_locked(&self, st: &mut State) -> io::Result<()> {
        if let Some((seq, file, written)) = st.writer.as_mut() {
            file.sync_data()?;
            let (seq, written) = (*seq, *written);
            if let Some(seg) = st.segments.iter_mut().find(|s| s.seq == seq) {
                seg.len = written;
            }
        }
        Ok(())
    }

    /// Makes every appended record durable (one fsync for all of them) and
    /// visible to the reader.
    pub fn sync(&self) -> io::Result<()> {
        let mut st = lock(&self.state);
        self.sync_locked(&mut st)
    }

    /// Reads records from the read position on, across segments, up to
    /// `max_records` or about `max_bytes`. Only synced records are read.
    /// Returns the records (each knows the position after it) and the
    /// position after the last one (pass to [`Spool::commit`] once shipped).
    pub fn read(&self, max_records: usize, max_bytes: usize) -> io::Result<(Vec<Record>, Pos)> {
        // Snapshot which (segment, from, to) ranges are readable.
        let ranges: Vec<(u64, u64, u64)> = {
            let st = lock(&self.state);
            let read = st.read;
            st.segments
                .iter()
                .filter(|seg| seg.seq >= read.seq)
                .map(|seg| (seg.seq, if seg.seq == read.seq { read.offset } else { 0 }, seg.len))
                .filter(|(_, from, to)| from < to)
                .collect()
        };
        let mut out = Vec::new();
        let mut bytes = 0;
        let mut last = lock(&self.state).read;
        for (seq, from, to) in ranges {
            if out.len() >= max_records || bytes >= max_bytes {
                break;
            }
            let mut f = File::open(seg_path(&self.dir, seq))?;
            f.seek(SeekFrom::Start(from))?;
            // Buffered: two reads per record were two system calls per record.
            let mut f = io::BufReader::with_capacity(READ_BUFFER, f);
            let mut off = from;
            while off < to && out.len() < max_records && bytes < max_bytes {
                let mut h = [0u8; HEADER];
                f.read_exact(&mut h)?;
                let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
                let crc = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
                // The meta apart, so that the payload is read into its own buffer, not moved down;
                // and into spare capacity, not a zeroed buffer (~600 instructions per row, issue 18).
                let mut meta = [0u8; META];
                let mut body = Vec::new();
                let whole = if len < META {
                    f.read_exact(&mut meta[..len])?;
                    false
                } else {
                    f.read_exact(&mut meta)?;
                    let n = len - META;
                    body.reserve_exact(n);
                    if (&mut f).take(n as u64).read_to_end(&mut body)? < n {
                        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "spool record cut short"));
                    }
                    true
                };
                off += (HEADER + len) as u64;
                bytes += len;
                last = Pos { seq, offset: off };
                let sum = || {
                    let mut c = crc32fast::Hasher::new();
                    c.update(&meta);
                    c.update(&body);
                    c.finalize()
                };
                if !whole || sum() != crc {
                    // Cannot happen for synced data unless the disk lies; skipped, counted.
                    metrics::counter!(crate::telemetry::DROPPED_ROWS, "table" => "spool", "reason" => "corrupt")
                        .increment(1);
                    continue;
                }
                let (tag, binary) = (meta[0] & !BINARY_BIT, meta[0] & BINARY_BIT != 0);
                let rows = u32::from_le_bytes([meta[1], meta[2], meta[3], meta[4]]);
                out.push(Record { end: last, tag, binary, rows, payload: body });
            }
        }
        Ok((out, last))
    }

    /// Marks everything before `end` shipped: deletes finished segments and
    /// persists the read position.
    pub fn commit(&self, end: Pos, records: u64) -> io::Result<()> {
        let mut st = lock(&self.state);
        let before = st.read;
        let freed = {
            let mut freed = 0;
            for seg in &st.segments {
                if seg.seq < before.seq || seg.seq > end.seq {
                    continue;
                }
                let from = if seg.seq == before.seq { before.offset } else { 0 };
                let to = if seg.seq == end.seq { end.offset } else { seg.len };
                freed += to.saturating_sub(from);
            }
            freed
        };
        st.read = end;
        st.pending_bytes = st.pending_bytes.saturating_sub(freed);
        st.pending_records = st.pending_records.saturating_sub(records);
        // Delete segments wholly before the read position, never the one being written.
        let writing = st.writer.as_ref().map(|(s, _, _)| *s);
        while let Some(front) = st.segments.front() {
            let done =
                front.seq < end.seq || (front.seq == end.seq && end.offset >= front.len && writing != Some(front.seq));
            if !done {
                break;
            }
            let seq = front.seq;
            st.segments.pop_front();
            let _ = fs::remove_file(seg_path(&self.dir, seq));
            if st.read.seq == seq {
                st.read = Pos { seq: seq + 1, offset: 0 };
            }
        }
        if st.segments.is_empty() {
            st.pending_bytes = 0;
            st.pending_records = 0;
        }
        let tmp = self.dir.join("cursor.tmp");
        fs::write(&tmp, format!("{} {}\n", st.read.seq, st.read.offset))?;
        fs::rename(tmp, self.dir.join("cursor"))
    }

    /// Current counters.
    pub fn stats(&self) -> SpoolStats {
        let st = lock(&self.state);
        SpoolStats { pending_bytes: st.pending_bytes, pending_records: st.pending_records, segments: st.segments.len() }
    }

    /// Whether nothing waits to be shipped.
    pub fn is_empty(&self) -> bool {
        self.stats().pending_bytes == 0
    }

    /// The spool directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The size bound.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    fn dead_letter_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.dead_letters.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends a rejected record to `dead-letter.jsonl` with the error, for an operator to inspect.
    pub fn dead_letter(&self, table: &str, row_json: &[u8], error: &str) -> io::Result<()> {
        let _guard = self.dead_letter_lock();
        let mut f = OpenOptions::new().create(true).append(true).open(self.dir.join("dead-letter.jsonl"))?;
        let line = serde_json::json!({
            "table": table,
            "error": error,
            "row": serde_json::from_slice::<serde_json::Value>(row_json)
                .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(row_json).into_owned())),
        });
        writeln!(f, "{line}")?;
        f.sync_data()
    }

    /// Removes from `dead-letter.jsonl` every row for which `erase(table, row)`
    /// holds (a line may hold one row or an undecodable record's array of
    /// rows); returns the rows removed.
    pub fn rewrite_dead_letters(&self, erase: impl Fn(&str, &serde_json::Value) -> bool) -> io::Result<usize> {
        let _guard = self.dead_letter_lock();
        let path = self.dir.join("dead-letter.jsonl");
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut removed = 0;
        let mut out = String::with_capacity(text.len());
        for line in text.lines() {
            let Ok(mut v) = serde_json::from_str::<serde_json::Value>(line) else {
                out.push_str(line);
                out.push('\n');
                continue;
            };
            let table = v.get("table").and_then(|t| t.as_str()).unwrap_or("").to_string();
            let keep = match v.get_mut("row") {
                Some(serde_json::Value::Array(rows)) => {
                    let before = rows.len();
                    rows.retain(|r| !erase(&table, r));
                    removed += before - rows.len();
                    !rows.is_empty()
                }
                Some(row) if erase(&table, row) => {
                    removed += 1;
                    false
                }
                _ => true,
            };
            if keep {
                out.push_str(&v.to_string());
                out.push('\n');
            }
        }
        if removed > 0 {
            let tmp = path.with_extension("tmp");
            fs::write(&tmp, out)?;
            File::open(&tmp)?.sync_all()?;
            fs::rename(&tmp, &path)?;
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ktra-spool-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn drain(s: &Spool) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let (recs, end) = s.read(1000, 1 << 20).unwrap();
            if recs.is_empty() {
                return out;
            }
            let n = recs.len() as u64;
            out.extend(recs.into_iter().map(|r| r.payload));
            s.commit(end, n).unwrap();
        }
    }

    #[test]
    fn records_come_back_in_order_across_segments_and_restarts() {
        let dir = tmp("order");
        let s = Spool::open(&dir, 1 << 20, 1024).unwrap();
        for i in 0..100u32 {
            s.append(1, Encoding::Json, 1, format!("[{i}]").as_bytes()).unwrap();
        }
        s.sync().unwrap();
        assert!(s.stats().segments > 1);
        let (first, end) = s.read(10, 1 << 20).unwrap();
        assert_eq!(first[0].payload, b"[0]");
        s.commit(end, 10).unwrap();
        drop(s);
        // Restart: the cursor resumes after the ten shipped records.
        let s = Spool::open(&dir, 1 << 20, 1024).unwrap();
        assert_eq!(s.stats().pending_records, 90, "counted exactly from the cursor, mid-segment too");
        let rest = drain(&s);
        assert_eq!(rest.len(), 90);
        assert_eq!(rest[0], b"[10]");
        assert_eq!(rest[89], b"[99]");
        assert!(s.is_empty());
        assert_eq!(s.stats().segments, 0, "shipped segments are deleted");
    }

    #[test]
    fn unsynced_records_are_not_read_and_a_torn_tail_is_cut() {
        let dir = tmp("torn");
        let s = Spool::open(&dir, 1 << 20, 1 << 20).unwrap();
        s.append(2, Encoding::Json, 1, b"[1]").unwrap();
        s.sync().unwrap();
        s.append(2, Encoding::Json, 1, b"[2]").unwrap();
        let (recs, _) = s.read(10, 1 << 20).unwrap();
        assert_eq!(recs.len(), 1, "only synced records are visible");
        s.sync().unwrap();
        drop(s);
        // Simulate a crash mid-write: half a record at the end.
        let seg = fs::read_dir(&dir)
            .unwrap()
            .filter_map(Result::ok)
            .find(|e| e.file_name().to_string_lossy().starts_with("seg-"))
            .unwrap()
            .path();
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&[200, 0, 0, 0, 1, 2]).unwrap();
        let s = Spool::open(&dir, 1 << 20, 1 << 20).unwrap();
        assert_eq!(s.corrupt_on_open, 1);
        assert_eq!(drain(&s), vec![b"[1]".to_vec(), b"[2]".to_vec()]);
    }

    #[test]
    fn a_full_spool_refuses_appends_until_shipped() {
        let dir = tmp("full");
        let s = Spool::open(&dir, 200, 1 << 20).unwrap();
        let payload = [b'x'; 60];
        let mut ok = 0;
        while s.append(1, Encoding::Json, 1, &payload).is_ok() {
            ok += 1;
        }
        assert!(matches!(s.append(1, Encoding::Json, 1, &payload), Err(SpoolError::Full(_))));
        s.sync().unwrap();
        assert_eq!(drain(&s).len(), ok);
        assert!(s.append(1, Encoding::Json, 1, &payload).is_ok(), "room again after shipping");
    }

    #[test]
    fn two_collectors_cannot_share_a_spool() {
        let dir = tmp("lock");
        let a = Spool::open(&dir, 1 << 20, 1 << 20).unwrap();
        let err = Spool::open(&dir, 1 << 20, 1 << 20).unwrap_err();
        assert!(err.to_string().contains("another collector"), "{err}");
        drop(a);
        assert!(Spool::open(&dir, 1 << 20, 1 << 20).is_ok(), "free again once the first is gone");
    }

    #[test]
    fn a_flipped_bit_is_detected() {
        let dir = tmp("flip");
        let s = Spool::open(&dir, 1 << 20, 1 << 20).unwrap();
        s.append(1, Encoding::Json, 1, b"[\"abc\"]").unwrap();
        s.sync().unwrap();
        drop(s);
        let seg = fs::read_dir(&dir)
            .unwrap()
            .filter_map(Result::ok)
            .find(|e| e.file_name().to_string_lossy().starts_with("seg-"))
            .unwrap()
            .path();
        let mut bytes = fs::read(&seg).unwrap();
        let last = bytes.len() - 2;
        bytes[last] ^= 1;
        fs::write(&seg, bytes).unwrap();
        let s = Spool::open(&dir, 1 << 20, 1 << 20).unwrap();
        assert_eq!(s.corrupt_on_open, 1);
        assert!(drain(&s).is_empty());
    }
}
