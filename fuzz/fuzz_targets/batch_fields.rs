//! Batch-level fields as `POST /v1/events` checks them: whatever the bytes, a
//! batch that `validate_batch` passes has bounded shared fields, and the rows
//! built from it stay within the amplification bound of its body or are
//! refused by `check_amplification`. Must never panic.
#![no_main]
use ktra_schema::limits::{max_stored_bytes, MAX_CAMPAIGN_LEN, MAX_ID_LEN, MAX_SHARED_BYTES};
use ktra_schema::{check_amplification, validate_batch, validate_event, Batch, RawEvent};
use ktra_collector::enrich::event_row::{build_row, RequestContext};
use ktra_schema::row::TableRow;
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;

fuzz_target!(|data: &[u8]| {
    let Ok(batch) = serde_json::from_slice::<Batch<Box<RawValue>>>(data) else { return };
    if validate_batch(&batch).is_err() {
        return;
    }
    let utm = batch.utm.clone().unwrap_or_default();
    let shared: usize = utm.fields().iter().map(|(_, v)| v.as_deref().map_or(0, str::len)).sum();
    assert!(utm.fields().iter().all(|(_, v)| v.as_deref().map_or(0, str::len) <= MAX_CAMPAIGN_LEN));
    assert!(shared + batch.vid.len() + batch.sid.len() <= MAX_SHARED_BYTES);
    assert!(batch.vid.len() <= MAX_ID_LEN && batch.sid.len() <= MAX_ID_LEN);
    let ctx = RequestContext {
        visitor_id: batch.vid.clone(),
        session_id: batch.sid.clone(),
        utm,
        email_click_id: batch.ec.clone().unwrap_or_default(),
        ..RequestContext::default()
    };
    let stored: usize = batch
        .events
        .iter()
        .filter_map(|raw| serde_json::from_str::<RawEvent>(raw.get()).ok())
        .filter_map(|ev| validate_event(ev, 1_750_000_000_000).ok())
        .map(|v| build_row(&ctx, v).approx_size())
        .sum();
    if check_amplification(stored, data.len()).is_ok() {
        assert!(stored <= max_stored_bytes(data.len()));
    }
});
