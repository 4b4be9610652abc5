//! The event batch decoder as `POST /v1/events` runs it: the batch with raw
//! events, then each event decoded and validated on its own. Must never panic.
#![no_main]
use ktra_schema::{validate_event, Batch, RawEvent};
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;

fuzz_target!(|data: &[u8]| {
    let Ok(batch) = serde_json::from_slice::<Batch<Box<RawValue>>>(data) else { return };
    for raw in &batch.events {
        if let Ok(ev) = serde_json::from_str::<RawEvent>(raw.get()) {
            if let Ok(valid) = validate_event(ev, 1_750_000_000_000) {
                let ctx = ktra_collector::enrich::event_row::RequestContext::default();
                let _ = ktra_collector::enrich::event_row::build_row(&ctx, valid);
            }
        }
    }
});
