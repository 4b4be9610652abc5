//! Erasure after a proven withdrawal: durable, complete and batched.
//!
//! A withdrawal that carries the visitor's latest consent token names the
//! token's chain root ([`super::token::Claims::root`]); everything stored
//! under that chain is the visitor's. The request becomes a tombstone in
//! `erasures.jsonl` beside the spool (fsynced before the withdrawal is
//! answered), and from then on:
//! - the sink drops the chain's rows wherever they still wait (spool,
//!   memory buffers) before they are inserted ([`Erasures::is_erased`]);
//! - every `interval` one task takes all tombstones old enough that no
//!   insert begun before them can still land (`settle`), and issues at most
//!   one mutation per table for all of them together: the email clicks the
//!   chain's events came from, then the events; then it drops the chain's
//!   rows from `dead-letter.jsonl`. A failure leaves them pending for the next
//!   interval, however often it takes; a flood of withdrawals is still one
//!   mutation per table per interval.
//!
//! Done tombstones are kept (for the spool filter) for [`KEEP_DONE_SECS`].
use crate::sink::journal::Journal;
use crate::sink::spool::Spool;
use crate::telemetry as t;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// How long an applied tombstone keeps filtering rows that may still be in a spool.
pub const KEEP_DONE_SECS: u64 = 30 * 86_400;
/// Most chains erased by one mutation (keeps the statement far below ClickHouse's `max_query_size`).
pub const MAX_ROOTS_PER_MUTATION: usize = 2_000;

/// One requested erasure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    /// Site id.
    pub site: String,
    /// The consent chain's root id.
    pub root: String,
    /// Requested at, Unix seconds.
    pub requested_at: u64,
    /// Applied in ClickHouse at, Unix seconds (0: pending).
    #[serde(default)]
    pub done_at: u64,
}

/// The tombstone list.
#[derive(Debug)]
pub struct Erasures {
    journal: Journal<Tombstone>,
    list: Mutex<Vec<Tombstone>>,
    roots: RwLock<HashSet<String>>,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl Erasures {
    /// Opens `dir/erasures.jsonl`.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        let (journal, items) = Journal::open(&dir.join("erasures.jsonl"))?;
        let roots = items.iter().map(|t: &Tombstone| t.root.clone()).collect();
        Ok(Self { journal, list: Mutex::new(items), roots: RwLock::new(roots) })
    }

    fn list(&self) -> std::sync::MutexGuard<'_, Vec<Tombstone>> {
        self.list.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records an erasure of the chain `root` of `site`; a repeated request is
    /// one tombstone. Returns once it is on disk.
    pub fn request(&self, site: &str, root: &str) -> std::io::Result<()> {
        if self.is_erased(root) {
            return Ok(());
        }
        let t = Tombstone { site: site.to_string(), root: root.to_string(), requested_at: unix_now(), done_at: 0 };
        self.journal.append(&t)?;
        if let Ok(mut r) = self.roots.write() {
            r.insert(t.root.clone());
        }
        self.list().push(t);
        metrics::counter!(t::ERASURES, "state" => "requested").increment(1);
        Ok(())
    }

    /// Whether rows of consent chain `root` are to be erased.
    pub fn is_erased(&self, root: &str) -> bool {
        !root.is_empty() && self.roots.read().map(|r| r.contains(root)).unwrap_or(false)
    }

    /// Tombstones not yet applied.
    pub fn pending(&self) -> usize {
        self.list().iter().filter(|t| t.done_at == 0).count()
    }

    /// Pending tombstones requested at or before `cutoff`, at most [`MAX_ROOTS_PER_MUTATION`].
    fn due(&self, cutoff: u64) -> Vec<Tombstone> {
        self.list()
            .iter()
            .filter(|t| t.done_at == 0 && t.requested_at <= cutoff)
            .take(MAX_ROOTS_PER_MUTATION)
            .cloned()
            .collect()
    }

    fn mark_done(&self, roots: &HashSet<String>, now: u64) -> std::io::Result<()> {
        let mut list = self.list();
        for t in list.iter_mut().filter(|t| roots.contains(&t.root)) {
            t.done_at = now;
        }
        list.retain(|t| t.done_at == 0 || t.done_at + KEEP_DONE_SECS > now);
        if let Ok(mut r) = self.roots.write() {
            *r = list.iter().map(|t| t.root.clone()).collect();
        }
        self.journal.rewrite(list.iter())
    }
}

/// Where a mutation of `table` must go: the table itself, or on a cluster its
/// `_local` tables on every node (mutations do not pass through `Distributed`).
pub fn mutation_target(table: &str, cluster: &str) -> String {
    if cluster.is_empty() {
        table.to_string()
    } else {
        format!("{table}_local ON CLUSTER {cluster}")
    }
}

/// Applies one batch of tombstones; `Ok(n)` chains erased.
async fn apply(
    client: &clickhouse::Client,
    cluster: &str,
    spool: &Spool,
    erasures: &Erasures,
    cutoff: u64,
) -> Result<usize, clickhouse::error::Error> {
    let due = erasures.due(cutoff);
    if due.is_empty() {
        return Ok(0);
    }
    let roots: Vec<String> = due.iter().map(|t| t.root.clone()).collect();
    let clicks: Vec<String> = client
        .query("SELECT DISTINCT email_click_id FROM events WHERE has(CAST(? AS Array(String)), consent_root) AND email_click_id != ''")
        .bind(&roots)
        .fetch_all()
        .await?;
    if !clicks.is_empty() {
        client
            .query(&format!(
                "ALTER TABLE {} DELETE WHERE has(CAST(? AS Array(String)), click_id)",
                mutation_target("email_clicks", cluster)
            ))
            .bind(&clicks)
            .execute()
            .await?;
        metrics::counter!(t::ERASURE_MUTATIONS, "table" => "email_clicks").increment(1);
    }
    let hours: crate::stats::rollup::Hours = client
        .query(&crate::stats::rollup::hours_sql("has(CAST(? AS Array(String)), consent_root)"))
        .bind(&roots)
        .fetch_all()
        .await?;
    let sessions: Vec<String> = client
        .query(&crate::stats::sessions::session_ids_sql("has(CAST(? AS Array(String)), consent_root)"))
        .bind(&roots)
        .fetch_all()
        .await?;
    client
        .query(&format!(
            "ALTER TABLE {} DELETE WHERE has(CAST(? AS Array(String)), consent_root)",
            mutation_target("events", cluster)
        ))
        .bind(&roots)
        .execute()
        .await?;
    metrics::counter!(t::ERASURE_MUTATIONS, "table" => "events").increment(1);
    if !sessions.is_empty() {
        client
            .query(&format!(
                "ALTER TABLE {} DELETE WHERE has(CAST(? AS Array(String)), session_id)",
                mutation_target("session_facts", cluster)
            ))
            .bind(&sessions)
            .execute()
            .await?;
        metrics::counter!(t::ERASURE_MUTATIONS, "table" => "session_facts").increment(1);
    }
    crate::stats::rollup::mark_when_applied(client.clone(), hours);
    let set: HashSet<String> = roots.into_iter().collect();
    let dropped = spool.rewrite_dead_letters(|table, row| {
        table == "events" && row.get("consent_root").and_then(|v| v.as_str()).is_some_and(|r| set.contains(r))
    });
    match dropped {
        Ok(n) if n > 0 => tracing::info!(rows = n, "erased rows from the dead-letter file"),
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "cannot rewrite the dead-letter file"),
    }
    if let Err(e) = erasures.mark_done(&set, unix_now()) {
        tracing::error!(error = %e, "cannot persist applied erasures; they will be applied again");
    }
    metrics::counter!(t::ERASURES, "state" => "applied").increment(set.len() as u64);
    tracing::info!(chains = set.len(), "erasure applied");
    Ok(set.len())
}

/// Applies due tombstones every `interval` until `stop`; a tombstone is due
/// `settle` after it was requested (longer than any insert may take).
pub async fn run(
    erasures: Arc<Erasures>,
    client: clickhouse::Client,
    cluster: String,
    spool: Arc<Spool>,
    interval: Duration,
    settle: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = crate::sink::wait_true(&mut stop) => return,
            _ = tokio::time::sleep(interval) => {}
        }
        let cutoff = unix_now().saturating_sub(settle.as_secs());
        if let Err(e) = apply(&client, &cluster, &spool, &erasures, cutoff).await {
            metrics::counter!(t::ERASURES, "state" => "failed").increment(1);
            tracing::warn!(error = %e, pending = erasures.pending(), "erasure failed; retrying next interval");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_durable_deduplicated_and_filter_until_pruned() {
        let dir = crate::test_dir("erasures");
        let e = Erasures::open(&dir).unwrap();
        e.request("demo", "r1").unwrap();
        e.request("demo", "r1").unwrap();
        e.request("demo", "r2").unwrap();
        assert!(e.is_erased("r1") && !e.is_erased("r3") && !e.is_erased(""));
        drop(e);
        let e = Erasures::open(&dir).unwrap();
        assert_eq!(e.pending(), 2, "one tombstone per chain, kept across a restart");
        let due = e.due(u64::MAX);
        e.mark_done(&due.iter().map(|t| t.root.clone()).collect(), 1_000).unwrap();
        assert_eq!(e.pending(), 0);
        assert!(e.is_erased("r1"), "applied tombstones still filter the spool");
        e.mark_done(&HashSet::new(), 1_000 + KEEP_DONE_SECS).unwrap();
        assert!(!e.is_erased("r1"), "and are forgotten after KEEP_DONE_SECS");
    }
}
