//! Rows of any table on their way to ClickHouse, and the list of tables.
//!
//! Handlers hand over [`Rows`]: a vector of one [`TableRow`] type, erased so
//! that one queue, one spool and one writer carry every table. Where the
//! type is needed again (memory buffers, decoding spool records for an
//! insert), [`TABLES`] maps a spool tag back to code generic over the row
//! type. Adding a table: a row type with its `TableRow` impl in
//! `ktra-schema`, its migration, and one line in [`TABLES`].
use super::insert::{insert_isolating, insert_raw_isolating, InsertCtx};
use super::raw::{self, raw_tag};
use super::spool::Record;
use crate::telemetry as t;
use ktra_schema::row::{
    decode_rows, encode_rows, ConsentRow, EmailClickRow, EmailOpenRow, EventRow, LeadConsentRow, ShareRow, TableRow,
    WebhookDeliveryRow, WebhookSubscriptionRow,
};
use std::any::Any;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

/// A boxed future (the object-safe form of the generic code behind `dyn`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Every table the sink writes, by spool tag.
pub static TABLES: &[&dyn Table] = &[
    &TableOf::<EventRow>(PhantomData),
    &TableOf::<ConsentRow>(PhantomData),
    &TableOf::<EmailClickRow>(PhantomData),
    &TableOf::<EmailOpenRow>(PhantomData),
    &TableOf::<LeadConsentRow>(PhantomData),
    &TableOf::<WebhookDeliveryRow>(PhantomData),
    &TableOf::<WebhookSubscriptionRow>(PhantomData),
    &TableOf::<ShareRow>(PhantomData),
];

/// The table with spool tag `tag` (its current one, or an earlier layout's).
pub fn table(tag: u8) -> Option<&'static dyn Table> {
    TABLES.iter().copied().find(|t| t.tag() == tag || raw_tag(t.tag()) == tag || t.legacy_tags().contains(&tag))
}

/// What the sink does with the records of one table, whatever its row type.
pub trait Table: Send + Sync {
    /// Table name.
    fn name(&self) -> &'static str;
    /// Spool tag.
    fn tag(&self) -> u8;
    /// Spool tags of earlier row layouts, still decoded.
    fn legacy_tags(&self) -> &'static [u8];
    /// Decodes spool records (off the runtime) and inserts their rows.
    /// `Ok(rows)` once stored or dead-lettered; `Err` to retry the same records.
    fn ship<'a>(
        &'a self,
        ctx: &'a InsertCtx,
        records: Vec<Record>,
    ) -> BoxFuture<'a, Result<usize, clickhouse::error::Error>>;
}

/// [`Table`] for row type `T`.
pub struct TableOf<T>(PhantomData<fn() -> T>);

/// Decodes a record's payload: RowBinary (what disk mode writes), postcard
/// (memory mode's spills, earlier versions) or JSON (spools written by
/// earlier versions stay readable after an upgrade).
pub fn decode_record<T: TableRow>(r: &Record) -> Result<Vec<T>, String> {
    if r.binary && r.tag == raw_tag(T::TAG) {
        raw::decode(&r.payload).map_err(|e| e.to_string())
    } else if r.binary && r.tag != T::TAG {
        T::decode_legacy(r.tag, &r.payload).map_err(|e| e.to_string())
    } else if r.binary {
        decode_rows(&r.payload).map_err(|e| e.to_string())
    } else {
        serde_json::from_slice(&r.payload).map_err(|e| e.to_string())
    }
}

impl<T: TableRow> Table for TableOf<T> {
    fn name(&self) -> &'static str {
        T::TABLE
    }

    fn tag(&self) -> u8 {
        T::TAG
    }

    fn legacy_tags(&self) -> &'static [u8] {
        T::LEGACY_TAGS
    }

    fn ship<'a>(
        &'a self,
        ctx: &'a InsertCtx,
        records: Vec<Record>,
    ) -> BoxFuture<'a, Result<usize, clickhouse::error::Error>> {
        Box::pin(async move {
            if records.iter().all(|r| r.binary && r.tag == raw_tag(T::TAG)) {
                return ship_raw::<T>(ctx, records).await;
            }
            let spool = ctx.spool.clone();
            // A 10 000-row round is tens of milliseconds of CPU: off the request workers.
            let rows = tokio::task::spawn_blocking(move || {
                let mut out = Vec::new();
                for r in &records {
                    match decode_record::<T>(r) {
                        Ok(mut rows) => out.append(&mut rows),
                        Err(e) => {
                            tracing::error!(error = %e, table = T::TABLE, "undecodable spool record; dead-lettered");
                            if let Err(io) = spool.dead_letter(T::TABLE, &r.payload, &e) {
                                tracing::error!(error = %io, "cannot write dead letter");
                            }
                            metrics::counter!(t::DROPPED_ROWS, "table" => T::TABLE, "reason" => "undecodable")
                                .increment(u64::from(r.rows));
                        }
                    }
                }
                out
            })
            .await
            .unwrap_or_default();
            let n = rows.len();
            insert_isolating(ctx, rows).await.map(|()| n).map_err(|(_, e)| e)
        })
    }
}

/// Streams RowBinary records into the table as they are: no row decoded.
async fn ship_raw<T: TableRow>(ctx: &InsertCtx, records: Vec<Record>) -> Result<usize, clickhouse::error::Error> {
    let mut rows = Vec::with_capacity(records.iter().map(|r| r.rows as usize).sum());
    let mut payloads = Vec::with_capacity(records.len());
    for r in records {
        if let Err(e) = raw::index(&r.payload, payloads.len(), &mut rows) {
            tracing::error!(error = %e, table = T::TABLE, "undecodable spool record; dead-lettered");
            if let Err(io) = ctx.spool.dead_letter(T::TABLE, &hex_json(&r.payload), &e.to_string()) {
                tracing::error!(error = %io, "cannot write dead letter");
            }
            metrics::counter!(t::DROPPED_ROWS, "table" => T::TABLE, "reason" => "undecodable")
                .increment(u64::from(r.rows));
        }
        payloads.push(r.payload);
    }
    let n = rows.len();
    insert_raw_isolating::<T>(ctx, &payloads, rows).await.map(|()| n)
}

/// Bytes that are no row, as a JSON string for the dead-letter file.
pub(crate) fn hex_json(bytes: &[u8]) -> Vec<u8> {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    serde_json::to_vec(&serde_json::json!({ "rowbinary_hex": hex })).unwrap_or_default()
}

/// Rows of one table, type-erased for the queue.
#[derive(Debug)]
pub struct Rows(Box<dyn AnyRows>);

/// The object-safe face of `Vec<T: TableRow>`.
pub(crate) trait AnyRows: Send + std::fmt::Debug {
    fn tag(&self) -> u8;
    fn table(&self) -> &'static str;
    fn len(&self) -> usize;
    fn bytes(&self) -> usize;
    fn encode(&self) -> Vec<u8>;
    fn spool_record(&self) -> (u8, Vec<u8>);
    fn into_spool_record(self: Box<Self>) -> (u8, Vec<u8>);
    fn into_encoded(self: Box<Self>) -> Box<dyn AnyRows>;
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send>;
    fn new_buffer(&self) -> Box<dyn super::writer::memory::TableBuffer>;
}

impl<T: TableRow> AnyRows for Vec<T> {
    fn tag(&self) -> u8 {
        T::TAG
    }
    fn table(&self) -> &'static str {
        T::TABLE
    }
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn bytes(&self) -> usize {
        self.iter().map(TableRow::approx_size).sum()
    }
    fn encode(&self) -> Vec<u8> {
        encode_rows(self)
    }
    fn spool_record(&self) -> (u8, Vec<u8>) {
        match raw::encode(self) {
            Ok(payload) => (raw_tag(T::TAG), payload),
            Err(e) => {
                tracing::error!(error = %e, table = T::TABLE, "rows do not encode as RowBinary; spooled as postcard");
                (T::TAG, encode_rows(self))
            }
        }
    }
    fn into_spool_record(self: Box<Self>) -> (u8, Vec<u8>) {
        self.spool_record()
    }
    fn into_encoded(self: Box<Self>) -> Box<dyn AnyRows> {
        let record = self.spool_record();
        Box::new(Encoded { tag: T::TAG, table: T::TABLE, len: self.len(), record, new_buffer: new_buffer::<T> })
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
    fn new_buffer(&self) -> Box<dyn super::writer::memory::TableBuffer> {
        new_buffer::<T>()
    }
}

fn new_buffer<T: TableRow>() -> Box<dyn super::writer::memory::TableBuffer> {
    Box::new(super::writer::memory::Buffer::<T>::new())
}

/// Rows already encoded as their spool record ([`Rows::into_encoded`]).
struct Encoded {
    tag: u8,
    table: &'static str,
    len: usize,
    record: (u8, Vec<u8>),
    new_buffer: fn() -> Box<dyn super::writer::memory::TableBuffer>,
}

impl std::fmt::Debug for Encoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoded").field("table", &self.table).field("len", &self.len).finish()
    }
}

impl AnyRows for Encoded {
    fn tag(&self) -> u8 {
        self.tag
    }
    fn table(&self) -> &'static str {
        self.table
    }
    fn len(&self) -> usize {
        self.len
    }
    fn bytes(&self) -> usize {
        self.record.1.len()
    }
    fn encode(&self) -> Vec<u8> {
        Vec::new()
    }
    fn spool_record(&self) -> (u8, Vec<u8>) {
        self.record.clone()
    }
    fn into_spool_record(self: Box<Self>) -> (u8, Vec<u8>) {
        self.record
    }
    fn into_encoded(self: Box<Self>) -> Box<dyn AnyRows> {
        self
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
    fn new_buffer(&self) -> Box<dyn super::writer::memory::TableBuffer> {
        (self.new_buffer)()
    }
}

impl Rows {
    /// Rows of table `T`.
    pub fn new<T: TableRow>(rows: Vec<T>) -> Self {
        Self(Box::new(rows))
    }

    /// One row.
    pub fn one<T: TableRow>(row: T) -> Self {
        Self::new(vec![row])
    }

    /// The table's spool tag.
    pub fn tag(&self) -> u8 {
        self.0.tag()
    }

    /// The table's name.
    pub fn table(&self) -> &'static str {
        self.0.table()
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Their size as the spool stores them.
    pub fn bytes(&self) -> usize {
        self.0.bytes()
    }

    /// The postcard spool payload (memory mode's spills; [`Self::bytes`] is its size).
    pub fn encode(&self) -> Vec<u8> {
        self.0.encode()
    }

    /// The spool tag and payload disk mode writes: RowBinary rows the
    /// shipper streams into the insert as they are ([`raw`]).
    pub fn spool_record(&self) -> (u8, Vec<u8>) {
        self.0.spool_record()
    }

    /// The spool record, consuming the rows (no copy if already encoded).
    pub fn into_spool_record(self) -> (u8, Vec<u8>) {
        self.0.into_spool_record()
    }

    /// The rows encoded as their spool record now, the typed rows dropped:
    /// disk mode does this in the request's task, so that encoding and
    /// freeing run on every worker rather than on the one writer task.
    /// Only for the spool: an encoded batch no longer downcasts.
    pub fn into_encoded(self) -> Self {
        Self(self.0.into_encoded())
    }

    /// The rows, if they are of table `T`.
    pub fn downcast<T: TableRow>(self) -> Result<Vec<T>, Self> {
        if self.tag() != T::TAG {
            return Err(self);
        }
        match self.0.into_any().downcast::<Vec<T>>() {
            Ok(v) => Ok(*v),
            Err(_) => Ok(Vec::new()),
        }
    }

    pub(crate) fn new_buffer(&self) -> Box<dyn super::writer::memory::TableBuffer> {
        self.0.new_buffer()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_has_its_own_tag_and_every_migrated_table_is_listed() {
        assert!(TABLES.iter().all(|t| t.tag() < raw::RAW_BIT), "a tag's RowBinary twin sets the 0x40 bit");
        let mut tags: Vec<u8> =
            TABLES.iter().flat_map(|t| [&[t.tag(), raw_tag(t.tag())][..], t.legacy_tags()].concat()).collect();
        let n = tags.len();
        tags.sort_unstable();
        tags.dedup();
        assert_eq!(tags.len(), n, "tags, current and legacy, are unique");
        assert!(tags.iter().all(|t| (1..=127).contains(t)), "the high bit marks the encoding");
        // Every table a migration creates (views and the bookkeeping table aside) is written by the sink,
        // but for tables derived inside ClickHouse: the dashboard's hourly rollups (`INSERT … SELECT`
        // from events, stats/rollup.rs), their marks (a materialized view's target) and the stored
        // sessions (`INSERT … SELECT` from events, stats/sessions.rs); and the funnels saved from the
        // dashboard, written by their admin endpoint (stats/saved.rs).
        const DERIVED: &[&str] = &["rollups", "rollup_marks", "session_facts", "saved_funnels"];
        for m in ktra_schema::migrations::MIGRATIONS {
            for stmt in ktra_schema::migrations::split_statements(m.sql) {
                if let Some(rest) = stmt.strip_prefix("CREATE TABLE IF NOT EXISTS ") {
                    let name = rest.split_whitespace().next().unwrap_or("");
                    if DERIVED.contains(&name) {
                        continue;
                    }
                    assert!(TABLES.iter().any(|t| t.name() == name), "{name} ({}) is not in TABLES", m.name);
                }
            }
        }
    }

    #[test]
    fn every_table_has_a_sharding_key_for_clusters() {
        for t in TABLES {
            assert!(ktra_schema::migrations::shard_key(t.name()).is_some(), "{}", t.name());
        }
    }

    #[test]
    fn events_spooled_before_the_source_column_still_ship() {
        use ktra_schema::row::EventRowV1;
        let old = vec![EventRowV1 { site_id: "s".into(), event_type: "page_view".into(), ..Default::default() }];
        let payload = postcard::to_allocvec(&old).unwrap();
        let record = Record { end: Default::default(), tag: 1, binary: true, rows: 1, payload };
        assert_eq!(table(1).map(|t| t.name()), Some("events"));
        let rows = decode_record::<EventRow>(&record).unwrap();
        assert_eq!((rows[0].site_id.as_str(), rows[0].source.as_str()), ("s", "browser"));
        // JSON records of even older versions have no source either.
        let payload = serde_json::to_vec(&old).unwrap();
        let record = Record { end: Default::default(), tag: 1, binary: false, rows: 1, payload };
        assert_eq!(decode_record::<EventRow>(&record).unwrap()[0].source, "browser");
    }

    #[test]
    fn rowbinary_records_find_their_table_and_decode() {
        let rows = Rows::new(vec![EventRow { site_id: "s".into(), consent_root: "r".into(), ..Default::default() }]);
        let (tag, payload) = rows.spool_record();
        assert_eq!(tag, raw_tag(EventRow::TAG));
        assert_eq!(table(tag).map(|t| t.name()), Some("events"));
        let record = Record { end: Default::default(), tag, binary: true, rows: 1, payload };
        let back = decode_record::<EventRow>(&record).unwrap();
        assert_eq!((back[0].site_id.as_str(), back[0].consent_root.as_str()), ("s", "r"));
        // A postcard record (memory mode's spill) of the same table still decodes.
        let record =
            Record { end: Default::default(), tag: EventRow::TAG, binary: true, rows: 1, payload: rows.encode() };
        assert_eq!(decode_record::<EventRow>(&record).unwrap(), back);
    }

    #[test]
    fn rows_keep_their_type_through_the_erasure() {
        let rows = Rows::new(vec![ConsentRow { consent_id: "c".into(), ..Default::default() }]);
        assert_eq!((rows.tag(), rows.table(), rows.len()), (ConsentRow::TAG, "consent_log", 1));
        assert_eq!(rows.bytes() + 1, rows.encode().len());
        let rows = rows.downcast::<EventRow>().unwrap_err();
        assert_eq!(rows.downcast::<ConsentRow>().unwrap()[0].consent_id, "c");
    }
}
