//! Revoked consent ids. A consent id is revoked when a later decision names
//! it as `previous_id` (a withdrawal or a change). Decisions made on this
//! instance revoke at once; decisions made on other instances are read back
//! from `consent_log` every `revocation_refresh_secs`, so every instance
//! refuses a withdrawn token within that bound.
//!
//! With a journal ([`Revocations::open`], `revocations.jsonl` beside the
//! spool) every revocation is on disk before the decision is answered and is
//! loaded before the listener opens, so a restart while ClickHouse is away
//! never accepts a withdrawn token.
use crate::sink::journal::Journal;
use std::collections::HashMap;
use std::path::Path;
use std::sync::RwLock;

/// The set of revoked consent ids, with the time each entry may be forgotten
/// (the revoked token's own expiry can be no later).
#[derive(Debug, Default)]
pub struct Revocations {
    inner: RwLock<HashMap<String, u64>>,
    journal: Option<Journal<(String, u64)>>,
}

impl Revocations {
    /// Revocations kept in `dir/revocations.jsonl`, loaded from it.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        let (journal, items) = Journal::open(&dir.join("revocations.jsonl"))?;
        let r = Self { inner: RwLock::new(items.into_iter().collect()), journal: Some(journal) };
        Ok(r)
    }

    /// Marks `consent_id` revoked until `forget_after` (Unix seconds).
    pub fn revoke(&self, consent_id: &str, forget_after: u64) {
        if consent_id.is_empty() {
            return;
        }
        let new = match self.inner.write() {
            Ok(mut m) => m.insert(consent_id.to_string(), forget_after).is_none(),
            Err(_) => false,
        };
        if let (true, Some(j)) = (new, &self.journal) {
            if let Err(e) = j.append(&(consent_id.to_string(), forget_after)) {
                tracing::error!(error = %e, "cannot persist a revocation");
            }
        }
    }

    /// Whether `consent_id` is revoked.
    pub fn is_revoked(&self, consent_id: &str) -> bool {
        self.inner.read().map(|m| m.contains_key(consent_id)).unwrap_or(false)
    }

    /// Drops entries whose tokens have expired anyway.
    pub fn prune(&self, now: u64) {
        let Ok(mut m) = self.inner.write() else { return };
        let before = m.len();
        m.retain(|_, t| *t > now);
        if let (true, Some(j)) = (m.len() < before, &self.journal) {
            let items: Vec<(String, u64)> = m.iter().map(|(k, v)| (k.clone(), *v)).collect();
            if let Err(e) = j.rewrite(&items) {
                tracing::error!(error = %e, "cannot rewrite the revocation journal");
            }
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.inner.read().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct Revoked {
    previous_id: String,
    forget_after: u32,
}

/// Reads revocations recorded since `since` (Unix seconds) from `consent_log`.
pub async fn load(
    client: &clickhouse::Client,
    revs: &Revocations,
    since: u32,
) -> Result<usize, clickhouse::error::Error> {
    let rows = client
        .query(
            "SELECT previous_id, toUInt32(toUInt32(recorded_at) + 34214400) AS forget_after FROM consent_log \
             WHERE previous_id != '' AND recorded_at >= toDateTime(?)",
        )
        .bind(since)
        .fetch_all::<Revoked>()
        .await?;
    for r in &rows {
        revs.revoke(&r.previous_id, u64::from(r.forget_after));
    }
    Ok(rows.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revoke_and_prune() {
        let r = Revocations::default();
        r.revoke("a", 100);
        r.revoke("", 100);
        assert!(r.is_revoked("a"));
        assert!(!r.is_revoked("b"));
        assert_eq!(r.len(), 1);
        r.prune(101);
        assert!(!r.is_revoked("a"));
    }

    #[test]
    fn a_journal_outlives_the_process() {
        let dir = crate::test_dir("revocations");
        let r = Revocations::open(&dir).unwrap();
        r.revoke("gone", 100);
        r.revoke("kept", 200);
        drop(r);
        let r = Revocations::open(&dir).unwrap();
        assert!(r.is_revoked("gone") && r.is_revoked("kept"));
        r.prune(150);
        drop(r);
        let r = Revocations::open(&dir).unwrap();
        assert!(!r.is_revoked("gone") && r.is_revoked("kept"));
    }
}
