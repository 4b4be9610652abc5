//! Runs rendered SQL and answers JSON objects, one per row.
//!
//! The rows come as `JSONEachRow` with `output_format_json_quote_64bit_integers=0`,
//! so 64-bit counts are JSON numbers on every server (18.16 quotes them by
//! default) while string columns stay strings, whatever they hold. The SQL is
//! sent raw: it is rendered by `queries::render`, whose literals are escaped,
//! and a `?` in it is not a bind placeholder.
use crate::error::ApiError;
use clickhouse::Client;
use serde_json::Value;

/// Seconds a stats query may run on the server.
pub const MAX_EXECUTION_SECS: u32 = 30;
/// Rows a stats query may return; the library's queries return far fewer.
pub const MAX_RESULT_ROWS: u32 = 10_000;

/// Runs `sql` and parses the answer. ClickHouse unreachable or too slow is a
/// 503 (the dashboard retries); anything else is a 500 whose detail is logged.
pub async fn json_rows(client: &Client, sql: &str) -> Result<Vec<Value>, ApiError> {
    tracing::debug!(sql, "stats query");
    let bytes = client
        .query_raw(sql)
        .with_setting("output_format_json_quote_64bit_integers", "0")
        .with_setting("max_execution_time", MAX_EXECUTION_SECS.to_string())
        .with_setting("max_result_rows", MAX_RESULT_ROWS.to_string())
        .fetch_bytes("JSONEachRow")
        .map_err(map_err)?
        .collect()
        .await
        .map_err(map_err)?;
    parse_lines(&bytes)
}

/// One JSON object per non-empty line.
pub fn parse_lines(bytes: &[u8]) -> Result<Vec<Value>, ApiError> {
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .map(|l| {
            serde_json::from_slice(l)
                .map_err(|e| ApiError::Internal(format!("ClickHouse answered a line that is not JSON: {e}")))
        })
        .collect()
}

fn map_err(e: clickhouse::error::Error) -> ApiError {
    use clickhouse::error::Error as E;
    match e {
        E::Network(_) | E::TimedOut => {
            ApiError::Unavailable { retry_after: 5, message: "ClickHouse is unavailable; retry shortly".into() }
        }
        e => ApiError::Internal(format!("stats query failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_objects_and_blank_lines_are_skipped() {
        let rows = parse_lines(b"{\"a\":1,\"p\":\"007\"}\n\n{\"a\":2,\"p\":\"x\"}\n").unwrap();
        assert_eq!(rows, vec![serde_json::json!({"a": 1, "p": "007"}), serde_json::json!({"a": 2, "p": "x"})]);
        assert!(parse_lines(b"").unwrap().is_empty());
        assert_eq!(parse_lines(b"{oops\n").unwrap_err().status().as_u16(), 500);
    }
}
