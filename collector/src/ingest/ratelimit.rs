//! Token-bucket rate limits per client address and per site. Buckets live in
//! sharded maps; idle full buckets are forgotten so memory stays bounded.
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::Mutex;
use std::time::Instant;

const SHARDS: usize = 16;
const MAX_KEYS_PER_SHARD: usize = 8192;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// A keyed token-bucket limiter.
pub struct RateLimiter<K> {
    rate: f64,
    burst: f64,
    hasher: std::collections::hash_map::RandomState,
    shards: Vec<Mutex<HashMap<K, Bucket>>>,
}

impl<K> std::fmt::Debug for RateLimiter<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter").field("rate", &self.rate).field("burst", &self.burst).finish()
    }
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// `rate` tokens per second, at most `burst` saved; `rate <= 0` disables it.
    pub fn new(rate: f64, burst: f64) -> Self {
        Self {
            rate,
            burst: burst.max(1.0),
            hasher: Default::default(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// Takes one token for `key` at `now`; `Err(seconds)` to wait when empty.
    pub fn check_at(&self, key: &K, now: Instant) -> Result<(), u32> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let shard = (self.hasher.hash_one(key) as usize) % SHARDS;
        let mut map = self.shards[shard].lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= MAX_KEYS_PER_SHARD && !map.contains_key(key) {
            // Forget buckets that have refilled: they carry no state.
            let (rate, burst) = (self.rate, self.burst);
            map.retain(|_, b| b.tokens + now.duration_since(b.last).as_secs_f64() * rate < burst);
        }
        let b = map.entry(key.clone()).or_insert(Bucket { tokens: self.burst, last: now });
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.rate).min(self.burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - b.tokens) / self.rate).ceil().max(1.0) as u32)
        }
    }

    /// Whether a token is available for `key` now, without taking it.
    pub fn peek(&self, key: &K) -> Result<(), u32> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let shard = (self.hasher.hash_one(key) as usize) % SHARDS;
        let map = self.shards[shard].lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match map.get(key) {
            None => Ok(()),
            Some(b) => {
                let tokens =
                    (b.tokens + now.saturating_duration_since(b.last).as_secs_f64() * self.rate).min(self.burst);
                if tokens >= 1.0 {
                    Ok(())
                } else {
                    Err(((1.0 - tokens) / self.rate).ceil().max(1.0) as u32)
                }
            }
        }
    }

    /// [`RateLimiter::check_at`] now.
    pub fn check(&self, key: &K) -> Result<(), u32> {
        self.check_at(key, Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_refill() {
        let l = RateLimiter::new(10.0, 3.0);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.check_at(&1, t0).is_ok());
        }
        assert_eq!(l.check_at(&1, t0), Err(1));
        assert!(l.check_at(&2, t0).is_ok(), "keys are independent");
        assert!(l.check_at(&1, t0 + Duration::from_millis(150)).is_ok(), "refilled");
    }

    #[test]
    fn peek_does_not_spend() {
        let l = RateLimiter::new(0.01, 1.0);
        for _ in 0..5 {
            assert!(l.peek(&1).is_ok());
        }
        assert!(l.check(&1).is_ok());
        assert!(l.peek(&1).is_err());
        assert!(l.check(&1).is_err());
    }

    #[test]
    fn zero_rate_is_off() {
        let l = RateLimiter::new(0.0, 0.0);
        for _ in 0..1000 {
            assert!(l.check(&1).is_ok());
        }
    }

    #[test]
    fn memory_stays_bounded() {
        let l = RateLimiter::new(1000.0, 1.0);
        let t0 = Instant::now();
        for k in 0..(SHARDS * MAX_KEYS_PER_SHARD * 2) as u64 {
            let _ = l.check_at(&k, t0 + Duration::from_millis(k / 1000));
        }
        let total: usize = l.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(total <= SHARDS * MAX_KEYS_PER_SHARD + SHARDS, "{total}");
    }
}
