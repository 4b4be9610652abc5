//! A small durable list: JSON lines appended and fsynced one by one, read
//! back whole at start, rewritten (temp file + rename) to drop what is no
//! longer needed. Used for the state a collector must not forget across a
//! restart even while ClickHouse is away: revoked consent ids and pending
//! erasures. A torn last line (a crash mid-append) is skipped on reading.
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One journal file of `T` records.
#[derive(Debug)]
pub struct Journal<T> {
    path: PathBuf,
    file: Mutex<File>,
    _rows: PhantomData<fn(T)>,
}

impl<T: Serialize + DeserializeOwned> Journal<T> {
    /// Opens (or creates) `path` and returns it with the records it holds.
    pub fn open(path: &Path) -> io::Result<(Self, Vec<T>)> {
        let mut items = Vec::new();
        match File::open(path) {
            Ok(f) => {
                for line in io::BufReader::new(f).lines() {
                    let line = line?;
                    match serde_json::from_str(&line) {
                        Ok(item) => items.push(item),
                        Err(e) if !line.trim().is_empty() => {
                            tracing::warn!(path = %path.display(), error = %e, "journal: skipped an unreadable line")
                        }
                        Err(_) => {}
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut file = OpenOptions::new().create(true).append(true).open(path)?;
        // After a torn append, start the next record on a line of its own.
        let bytes = std::fs::read(path)?;
        if bytes.last().is_some_and(|b| *b != b'\n') {
            file.write_all(b"\n")?;
        }
        Ok((Self { path: path.to_path_buf(), file: Mutex::new(file), _rows: PhantomData }, items))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, File> {
        self.file.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends one record and fsyncs it.
    pub fn append(&self, item: &T) -> io::Result<()> {
        let mut line = serde_json::to_vec(item).map_err(io::Error::other)?;
        line.push(b'\n');
        let mut f = self.lock();
        f.write_all(&line)?;
        f.sync_data()
    }

    /// Replaces the whole file with `items`, atomically.
    pub fn rewrite<'a>(&self, items: impl IntoIterator<Item = &'a T>) -> io::Result<()>
    where
        T: 'a,
    {
        let mut f = self.lock();
        let tmp = self.path.with_extension("tmp");
        {
            let mut out = io::BufWriter::new(File::create(&tmp)?);
            for item in items {
                serde_json::to_writer(&mut out, item).map_err(io::Error::other)?;
                out.write_all(b"\n")?;
            }
            out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        *f = OpenOptions::new().append(true).open(&self.path)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_survive_reopen_rewrite_replaces_and_torn_lines_are_skipped() {
        let dir = crate::test_dir("journal");
        let path = dir.join("j.jsonl");
        let (j, items) = Journal::<(String, u64)>::open(&path).unwrap();
        assert!(items.is_empty());
        j.append(&("a".into(), 1)).unwrap();
        j.append(&("b".into(), 2)).unwrap();
        drop(j);
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"[\"c\",").unwrap();
        let (j, items) = Journal::<(String, u64)>::open(&path).unwrap();
        assert_eq!(items, vec![("a".to_string(), 1), ("b".to_string(), 2)]);
        j.append(&("after-torn".into(), 3)).unwrap();
        assert_eq!(
            Journal::<(String, u64)>::open(&path).unwrap().1.len(),
            3,
            "the torn line does not swallow the next"
        );
        j.rewrite(&[("b".to_string(), 2)]).unwrap();
        j.append(&("d".into(), 4)).unwrap();
        let (_, items) = Journal::<(String, u64)>::open(&path).unwrap();
        assert_eq!(items, vec![("b".to_string(), 2), ("d".to_string(), 4)]);
    }
}
