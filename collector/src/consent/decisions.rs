//! Recent answers to `POST /v1/consent` by the banner's decision id, so a
//! decision re-sent after a lost answer is recorded once and gets the same
//! token. Bounded in entries and time; a copy arriving at another collector
//! keeps the same consent id (the decision id), so it is recognisable in
//! `consent_log`.
use super::handler::ConsentResponse;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long an answer is kept for a retry.
pub const KEEP: Duration = Duration::from_secs(3600);
/// Most answers kept.
pub const MAX_ENTRIES: usize = 100_000;

type Key = (String, String);

/// The cache.
#[derive(Debug, Default)]
pub struct Decisions {
    map: Mutex<HashMap<Key, (Instant, ConsentResponse)>>,
}

impl Decisions {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<Key, (Instant, ConsentResponse)>> {
        self.map.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The answer given to `(site, decision id)` within [`KEEP`].
    pub fn get(&self, key: &Key) -> Option<ConsentResponse> {
        self.map().get(key).filter(|(at, _)| at.elapsed() < KEEP).map(|(_, r)| r.clone())
    }

    /// Remembers an answer; when full, forgets expired ones, then the oldest.
    pub fn insert(&self, key: Key, answer: ConsentResponse) {
        let mut m = self.map();
        if m.len() >= MAX_ENTRIES {
            m.retain(|_, (at, _)| at.elapsed() < KEEP);
            if m.len() >= MAX_ENTRIES {
                if let Some(oldest) = m.iter().min_by_key(|(_, (at, _))| *at).map(|(k, _)| k.clone()) {
                    m.remove(&oldest);
                }
            }
        }
        m.insert(key, (Instant::now(), answer));
    }
}
