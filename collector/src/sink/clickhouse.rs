//! The ClickHouse client and the error policy: which failures are worth a
//! retry (network, timeouts, overload) and which are the data's fault and
//! must never be retried forever.
use crate::config::ClickHouseConfig;
use clickhouse::{Client, Compression};
use std::time::Duration;

/// Builds a client for the configured server and database. RowBinary without
/// schema validation: it works on 18.16 and is the fast path.
pub fn client(cfg: &ClickHouseConfig) -> Client {
    client_for_database(cfg, &cfg.database)
}

/// Like [`client`] for another database (`default` to create ours).
pub fn client_for_database(cfg: &ClickHouseConfig, database: &str) -> Client {
    let mut c = Client::default()
        .with_url(cfg.url.clone())
        .with_database(database.to_string())
        .with_user(cfg.user.clone())
        .with_validation(false)
        .with_compression(Compression::Lz4);
    if !cfg.password.is_empty() {
        c = c.with_password(cfg.password.clone());
    }
    if !cfg.cluster.is_empty() {
        // An insert into a Distributed table returns once every shard stored
        // its rows (not once queued on this node): an acknowledged batch is
        // on its shards, a shard that is down sends the batch to the spool,
        // and the Distributed table never holds rows a migration could drop.
        c = c.with_setting("insert_distributed_sync", "1");
        // `x IN (SELECT … FROM events)` inside a query of a Distributed table
        // (the dashboard's filters) runs the subquery once, over every shard,
        // and sends its result along (GLOBAL IN); 18.16 refuses it otherwise.
        c = c.with_setting("distributed_product_mode", "global");
    }
    c
}

/// How a failed insert should be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Transient: network, timeout, overload, server restarting. Retry with backoff.
    Retryable,
    /// The rows themselves were refused (parse or type errors). Retrying the
    /// same rows cannot succeed.
    Data,
}

/// ClickHouse exception codes that mean "these rows are bad".
const DATA_ERROR_CODES: &[u32] = &[6, 26, 27, 32, 33, 38, 41, 53, 69, 70, 72, 117, 130, 131, 173, 190, 395];

/// Extracts `N` from a `Code: N.` server message.
pub fn exception_code(msg: &str) -> Option<u32> {
    let i = msg.find("Code: ")?;
    let rest = &msg[i + 6..];
    let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Classifies an insert error.
pub fn classify(err: &clickhouse::error::Error) -> ErrorKind {
    use clickhouse::error::Error as E;
    match err {
        E::BadResponse(msg) => match exception_code(msg) {
            Some(code) if DATA_ERROR_CODES.contains(&code) => ErrorKind::Data,
            _ => ErrorKind::Retryable,
        },
        E::Custom(_) | E::SequenceMustHaveLength | E::InvalidUtf8Encoding(_) => ErrorKind::Data,
        _ => ErrorKind::Retryable,
    }
}

/// Backoff before retry `attempt` (0-based): 100 ms doubling to 10 s, with ±25 % jitter.
pub fn backoff(attempt: u32) -> Duration {
    let base = 100u64.saturating_mul(1u64 << attempt.min(7)).min(10_000);
    let jitter = rand::random::<u64>() % (base / 2 + 1);
    Duration::from_millis(base - base / 4 + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_extracted_and_classified() {
        let parse = clickhouse::error::Error::BadResponse("Code: 27. DB::Exception: Cannot parse input".into());
        assert_eq!(classify(&parse), ErrorKind::Data);
        let mem = clickhouse::error::Error::BadResponse("Code: 241. DB::Exception: Memory limit exceeded".into());
        assert_eq!(classify(&mem), ErrorKind::Retryable);
        assert_eq!(classify(&clickhouse::error::Error::TimedOut), ErrorKind::Retryable);
        assert_eq!(exception_code("x Code: 60, e.displayText()"), Some(60));
        assert_eq!(exception_code("no code"), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(0) <= Duration::from_millis(125));
        assert!(backoff(20) <= Duration::from_millis(12_500));
        assert!(backoff(20) >= Duration::from_millis(7_500));
    }
}
