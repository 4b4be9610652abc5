//! The event batch decoder as `POST /v1/events` runs it: the batch in one
//! pass or with raw events each decoded on its own (`ingest::batch`), each
//! event validated and turned into a row by one `RowBuilder` per batch with
//! the default `strip_query_params`. Must never panic.
#![no_main]
use ktra_collector::config::DEFAULT_STRIP_PARAMS;
use ktra_collector::enrich::event_row::{RequestContext, RowBuilder};
use ktra_collector::ingest::batch::{decode, Events};
use ktra_schema::{validate_event, RawEvent};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok((_, events)) = decode(data) else { return };
    let strip: Vec<String> = DEFAULT_STRIP_PARAMS.iter().map(|s| s.to_string()).collect();
    let ctx = RequestContext::default();
    let mut builder = RowBuilder::new(&ctx, &strip);
    let events: Vec<RawEvent> = match events {
        Events::Decoded(events) => events,
        Events::Raw(raw) => raw.iter().filter_map(|r| serde_json::from_str(r.get()).ok()).collect(),
    };
    for ev in events {
        if let Ok(valid) = validate_event(ev, 1_750_000_000_000) {
            let _ = builder.build_row(valid);
        }
    }
});
