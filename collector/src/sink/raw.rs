//! The spool record disk mode writes (issue 18): rows already in
//! ClickHouse's `RowBinary`, which the shipper streams into
//! `INSERT … FORMAT RowBinary` as they are, without decoding a row or
//! building one again.
//!
//! Payload, per row: `LEB128 n | consent root (n bytes) | u32 LE m |
//! RowBinary row (m bytes)`. The consent root rides along so that rows of
//! an erased chain are dropped without parsing the row; the row length so
//! that a batch with a bad row can be split row by row. Its spool tag is
//! the table's tag with [`RAW_BIT`] set ([`raw_tag`]), so spools of earlier
//! versions (postcard or JSON records under the plain tag) still ship.
use super::rowbinary::{self, get_leb128, put_leb128};
use ktra_schema::row::TableRow;
use std::ops::Range;

/// Set in a table's spool tag for RowBinary records (tags are below 64).
pub const RAW_BIT: u8 = 0x40;

/// The spool tag of table tag `tag`'s RowBinary records.
pub const fn raw_tag(tag: u8) -> u8 {
    tag | RAW_BIT
}

/// The buffer's first size: about one event row.
const FIRST_ROW: usize = 1024;

/// Encodes `rows` as a RowBinary spool payload.
pub fn encode<T: TableRow>(rows: &[T]) -> Result<Vec<u8>, rowbinary::Error> {
    let mut buf = Vec::with_capacity(FIRST_ROW);
    for (i, row) in rows.iter().enumerate() {
        if i == 1 {
            // A request's rows are alike: room for the rest at the first one's size and a
            // quarter, instead of doubling the buffer (and copying it) as it fills.
            let first = buf.len();
            buf.reserve((rows.len() - 1) * (first + first / 4));
        }
        let root = row.consent_root().as_bytes();
        put_leb128(&mut buf, root.len() as u64);
        buf.extend_from_slice(root);
        let at = buf.len();
        buf.extend_from_slice(&[0; 4]);
        rowbinary::serialize_into(&mut buf, row)?;
        let len = u32::try_from(buf.len() - at - 4)
            .map_err(|_| <rowbinary::Error as serde::ser::Error>::custom("row over 4 GiB"))?;
        buf[at..at + 4].copy_from_slice(&len.to_le_bytes());
    }
    Ok(buf)
}

/// One row of a RowBinary record: which record, and where its consent root
/// and its RowBinary bytes are in that record's payload.
#[derive(Debug, Clone)]
pub struct RawRow {
    /// Index of the record (payload) in the run.
    pub rec: usize,
    /// The consent root's bytes.
    pub root: Range<usize>,
    /// The RowBinary row's bytes.
    pub row: Range<usize>,
}

/// Appends the rows of `payload` (record `rec`) to `out`; the number of rows.
/// Nothing is appended if the payload is malformed.
pub fn index(payload: &[u8], rec: usize, out: &mut Vec<RawRow>) -> Result<usize, rowbinary::Error> {
    let start = out.len();
    let mut pos = 0;
    let bad = |out: &mut Vec<RawRow>| {
        out.truncate(start);
        Err(<rowbinary::Error as serde::de::Error>::custom("malformed RowBinary record"))
    };
    while pos < payload.len() {
        let Ok(n) = get_leb128(payload, &mut pos) else { return bad(out) };
        let Some(root_end) = usize::try_from(n).ok().and_then(|n| pos.checked_add(n)).filter(|e| *e <= payload.len())
        else {
            return bad(out);
        };
        let Some(len) = payload.get(root_end..).and_then(|rest| rest.get(..4)) else { return bad(out) };
        let m = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let row_start = root_end + 4;
        let Some(row_end) = row_start.checked_add(m).filter(|e| *e <= payload.len()) else { return bad(out) };
        out.push(RawRow { rec, root: pos..root_end, row: row_start..row_end });
        pos = row_end;
    }
    Ok(out.len() - start)
}

/// Decodes a RowBinary payload into typed rows (the dead-letter file, tests).
pub fn decode<T: TableRow>(payload: &[u8]) -> Result<Vec<T>, rowbinary::Error> {
    let mut idx = Vec::new();
    index(payload, 0, &mut idx)?;
    idx.iter().map(|r| rowbinary::deserialize(&payload[r.row.clone()])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::erasure::Erasures;
    use crate::sink::insert::{insert_raw_isolating, InsertCtx};
    use crate::sink::spool::Spool;
    use clickhouse::test::{handlers, Mock};
    use clickhouse::{Client, Compression};
    use ktra_schema::row::{ConsentRow, EventRow, WebhookDeliveryRow};
    use std::sync::Arc;
    use std::time::Duration;
    use uuid::Uuid;

    fn events() -> Vec<EventRow> {
        vec![
            EventRow {
                site_id: "demo".into(),
                event_id: Uuid::from_u128(0x0b6b3c1e_9a4f_4e1a_8d2b_7f6e5d4c3b2a),
                event_type: "page_view".into(),
                ts: 1_760_000_000,
                ts_ms: 1_760_000_000_123,
                consent_root: "root-1".into(),
                url: "https://shop.example/p?q=ü".into(),
                scroll_depth: 75,
                engaged_ms: 70_000,
                form_fields: vec!["name".into(), "email".into()],
                revenue: 49.5,
                props_key: vec!["plan".into(), "seats".into()],
                props_value: vec!["pro".into(), "3".into()],
                source: "browser".into(),
                ..Default::default()
            },
            EventRow { consent_root: "root-2".into(), title: "x".repeat(300), ..Default::default() },
        ]
    }

    fn client(mock: &Mock) -> Client {
        Client::default().with_mock(mock).with_validation(false).with_compression(Compression::None)
    }

    /// The bytes the spool holds are what the `clickhouse` crate's own
    /// RowBinary decoder reads as the same rows (UUID halves, `Nested` as two
    /// arrays, widths of every integer).
    async fn read_back_by_the_crate<T: TableRow + PartialEq>(rows: Vec<T>) {
        let mock = Mock::new();
        let ctl = mock.add(handlers::record::<T>());
        let payload = encode(&rows).unwrap();
        let mut idx = Vec::new();
        assert_eq!(index(&payload, 0, &mut idx).unwrap(), rows.len());
        let mut ins = client(&mock).insert_formatted_with("INSERT INTO t FORMAT RowBinary").buffered();
        for r in &idx {
            ins.write_buffered(&payload[r.row.clone()]);
        }
        ins.end().await.unwrap();
        let got: Vec<T> = ctl.collect().await;
        assert_eq!(got, rows);
        assert_eq!(decode::<T>(&payload).unwrap(), rows, "and our decoder reads them back too");
    }

    #[tokio::test]
    async fn rowbinary_rows_are_what_the_clickhouse_crate_reads() {
        read_back_by_the_crate(events()).await;
        read_back_by_the_crate(vec![ConsentRow {
            consent_id: "c".into(),
            granted: vec!["analytics".into()],
            revision: 7,
            gpc: 1,
            expires_at: 4_000_000_000,
            ..Default::default()
        }])
        .await;
        read_back_by_the_crate(vec![WebhookDeliveryRow {
            attempt: 3,
            http_status: 503,
            latency_ms: 12,
            ..Default::default()
        }])
        .await;
    }

    #[test]
    fn consent_roots_ride_along_and_cut_records_are_refused() {
        let payload = encode(&events()).unwrap();
        let mut idx = Vec::new();
        index(&payload, 3, &mut idx).unwrap();
        let roots: Vec<&[u8]> = idx.iter().map(|r| &payload[r.root.clone()]).collect();
        assert_eq!(roots, [&b"root-1"[..], b"root-2"]);
        assert!(idx.iter().all(|r| r.rec == 3));
        // Every cut that is not a row boundary is refused, and leaves nothing indexed.
        let boundary = idx[0].row.end;
        for cut in 1..payload.len() {
            let mut out = Vec::new();
            match index(&payload[..cut], 0, &mut out) {
                Ok(n) => assert!(cut == boundary && n == 1, "cut at {cut} accepted"),
                Err(_) => assert!(out.is_empty()),
            }
        }
        // A length that points past the end allocates nothing and is refused.
        let mut out = Vec::new();
        assert!(index(&[0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2], 0, &mut out).is_err());
        assert!(crate::sink::rowbinary::deserialize::<EventRow>(&[0xff, 0xff, 0xff, 0x7f]).is_err());
    }

    #[tokio::test]
    async fn erased_chains_are_dropped_from_rowbinary_records_before_the_insert() {
        let dir = std::env::temp_dir().join(format!("ktra-raw-erase-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let spool = Arc::new(Spool::open(&dir.join("spool"), 1 << 20, 1 << 16).unwrap());
        let erasures = Arc::new(Erasures::open(&dir).unwrap());
        erasures.request("demo", "root-1").unwrap();
        let mock = Mock::new();
        let ctl = mock.add(handlers::record::<EventRow>());
        let ctx = InsertCtx { client: client(&mock), timeout: Duration::from_secs(5), erasures, spool };
        let payloads = vec![encode(&events()).unwrap()];
        let mut idx = Vec::new();
        index(&payloads[0], 0, &mut idx).unwrap();
        insert_raw_isolating::<EventRow>(&ctx, &payloads, idx).await.unwrap();
        let got: Vec<EventRow> = ctl.collect().await;
        assert_eq!(got.iter().map(|r| r.consent_root.as_str()).collect::<Vec<_>>(), ["root-2"]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
