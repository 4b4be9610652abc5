//! The collector's per-event CPU path without HTTP, built from its library
//! exactly as `POST /v1/events` runs it: decode the batch (events kept as
//! raw JSON), decode each event, `ktra_schema::validate_event`, then
//! `ktra_collector::enrich::event_row::RowBuilder::build_row` (one builder
//! per request, the default `strip_query_params`).
use ktra_collector::config::DEFAULT_STRIP_PARAMS;
use ktra_collector::enrich::event_row::{RequestContext, RowBuilder};
use ktra_collector::enrich::parse_user_agent;
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
/// `out`; returns how many events were refused.
pub fn rows(body: &[u8], ctx: &RequestContext, now_ms: i64, out: &mut Vec<EventRow>) -> anyhow::Result<usize> {
    // As the handler does: the events stay slices of the body until each is decoded.
    let batch: Batch<&RawValue> = serde_json::from_slice(body)?;
    // As the handler does: one builder per request, so that its events share URL work.
    let mut builder = RowBuilder::new(ctx, default_strip());
    let mut refused = 0;
    for raw in &batch.events {
        let Ok(ev) = serde_json::from_str::<RawEvent>(raw.get()) else {
            refused += 1;
            continue;
        };
        match validate_event(ev, now_ms) {
            Ok(valid) => out.push(builder.build_row(valid)),
            Err(_) => refused += 1,
        }
    }
    Ok(refused)
}
