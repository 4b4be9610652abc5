//! The collector's per-event CPU path without HTTP, built from its library
//! exactly as `POST /v1/events` runs it: decode the batch
//! (`ingest::batch::decode`: in one pass, or each event on its own),
//! `ktra_schema::validate_event`, then
//! `ktra_collector::enrich::event_row::RowBuilder::build_row` (one builder
//! per request, the default `strip_query_params`).
use ktra_collector::config::DEFAULT_STRIP_PARAMS;
use ktra_collector::enrich::event_row::{RequestContext, RowBuilder};
use ktra_collector::enrich::parse_user_agent;
use ktra_collector::ingest::batch::{self, Events};
use ktra_schema::row::EventRow;
use ktra_schema::{validate_event, Batch, RawEvent};
use serde_json::value::RawValue;

/// The request context the handler would build for a body (no GeoIP database).
pub fn context(body: &[u8], user_agent: &str) -> anyhow::Result<RequestContext> {
    let batch: Batch<Box<RawValue>> = serde_json::from_slice(body)?;
    Ok(RequestContext {
        site_id: batch.site.clone(),
        visitor_id: batch.vid.clone(),
        session_id: batch.sid.clone(),
        consent_id: "bench-consent".into(),
        consent_root: "bench-consent".into(),
        utm: batch.utm.clone().unwrap_or_default(),
        email_click_id: batch.ec.clone().unwrap_or_default(),
        geo: Default::default(),
        ua: parse_user_agent(user_agent),
        received_at: (now_ms() / 1000) as u32,
        source: ktra_schema::Sender::Browser,
    })
}

/// The collector's default `strip_query_params` (its config holds them once; so does this).
pub fn default_strip() -> &'static [String] {
    static STRIP: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    STRIP.get_or_init(|| DEFAULT_STRIP_PARAMS.iter().map(|s| s.to_string()).collect())
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Decodes, validates and enriches every event of `body`, appending rows to
/// `out`; returns how many events were refused. (No closures here: callgrind
/// toggles collection on `ktra_benches::pipeline::rows*`, and a closure's
/// symbol would match and toggle it off again.)
pub fn rows(body: &[u8], ctx: &RequestContext, now_ms: i64, out: &mut Vec<EventRow>) -> anyhow::Result<usize> {
    // As the handler does: the batch in one pass when every event decodes, else each event on its own.
    let (_batch, events) = batch::decode(body)?;
    // One builder per request, so that its events share URL work.
    let mut builder = RowBuilder::new(ctx, default_strip());
    let mut refused = 0;
    match events {
        Events::Decoded(events) => {
            for ev in events {
                refused += usize::from(!enrich_event(&mut builder, ev, now_ms, out));
            }
        }
        Events::Raw(events) => {
            for raw in events {
                refused += usize::from(match serde_json::from_str::<RawEvent>(raw.get()) {
                    Ok(ev) => !enrich_event(&mut builder, ev, now_ms, out),
                    Err(_) => true,
                });
            }
        }
    }
    Ok(refused)
}

/// Validates and enriches one event; false when it is refused.
fn enrich_event(builder: &mut RowBuilder<'_>, ev: RawEvent, now_ms: i64, out: &mut Vec<EventRow>) -> bool {
    match validate_event(ev, now_ms) {
        Ok(valid) => {
            out.push(builder.build_row(valid));
            true
        }
        Err(_) => false,
    }
}
