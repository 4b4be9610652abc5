//! Delivery decisions: which responses are retried and how long to wait.
//!
//! Retried: network errors (reported as status 0), 408, 429 and 5xx other
//! than 501/505; a `Retry-After` in seconds is honoured. Given up: any other
//! 4xx (the collector said the batch is bad; resending cannot help). Done:
//! 2xx. Retries resend the same body, so the same event ids: the collector
//! drops duplicates.

/// What to do with a batch after a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Delivered.
    Done,
    /// Send again later.
    Retry,
    /// Drop it.
    GiveUp,
}

/// Attempts before a batch is dropped.
pub const MAX_ATTEMPTS: u8 = 8;
/// First backoff, ms.
pub const BASE_MS: f64 = 1_000.0;
/// Longest backoff, ms.
pub const CAP_MS: f64 = 60_000.0;
/// Longest `Retry-After` honoured, ms.
pub const RETRY_AFTER_CAP_MS: f64 = 600_000.0;

/// Classifies an HTTP status; 0 stands for a network error.
pub fn classify(status: u16) -> Outcome {
    match status {
        200..=299 => Outcome::Done,
        0 | 408 | 429 => Outcome::Retry,
        501 | 505 => Outcome::GiveUp,
        500..=599 => Outcome::Retry,
        _ => Outcome::GiveUp,
    }
}

/// Delay before attempt `attempt` (1 for the first retry): exponential from
/// [`BASE_MS`], capped at [`CAP_MS`], with "equal jitter" (half fixed, half
/// random by `rand01` in 0..1), and at least `retry_after_s` when given.
pub fn backoff_ms(attempt: u8, retry_after_s: Option<u64>, rand01: f64) -> f64 {
    let exp = (BASE_MS * f64::from(1u32 << attempt.saturating_sub(1).min(16))).min(CAP_MS);
    // Not `clamp`: its panic message formats floats, kilobytes of wasm.
    #[allow(clippy::manual_clamp)]
    let jittered = exp / 2.0 + exp / 2.0 * rand01.max(0.0).min(1.0);
    match retry_after_s {
        Some(s) => jittered.max((s as f64 * 1000.0).min(RETRY_AFTER_CAP_MS)),
        None => jittered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_statuses_retry() {
        assert_eq!(classify(202), Outcome::Done);
        assert_eq!(classify(200), Outcome::Done);
        for s in [0, 408, 429, 500, 502, 503, 504] {
            assert_eq!(classify(s), Outcome::Retry, "{s}");
        }
        for s in [400, 401, 403, 404, 413, 415, 422, 501, 505, 301] {
            assert_eq!(classify(s), Outcome::GiveUp, "{s}");
        }
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        assert_eq!(backoff_ms(1, None, 0.0), 500.0);
        assert_eq!(backoff_ms(1, None, 1.0), 1_000.0);
        assert_eq!(backoff_ms(2, None, 1.0), 2_000.0);
        assert_eq!(backoff_ms(3, None, 0.5), 3_000.0);
        assert_eq!(backoff_ms(MAX_ATTEMPTS, None, 1.0), CAP_MS);
        assert_eq!(backoff_ms(200, None, 1.0), CAP_MS);
        for a in 1..=MAX_ATTEMPTS {
            let lo = backoff_ms(a, None, 0.0);
            let hi = backoff_ms(a, None, 1.0);
            assert_eq!(lo * 2.0, hi, "half fixed, half random");
        }
    }

    #[test]
    fn retry_after_is_honoured_within_a_cap() {
        assert_eq!(backoff_ms(1, Some(30), 0.3), 30_000.0);
        assert_eq!(backoff_ms(7, Some(1), 1.0), CAP_MS, "never shorter than the backoff");
        assert_eq!(backoff_ms(1, Some(86_400), 0.0), RETRY_AFTER_CAP_MS);
    }
}
