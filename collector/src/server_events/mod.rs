//! Server-side reports (a site's checkout, CRM or payment provider, with the
//! site's API key or the provider's signature): purchases, refunds,
//! subscription cancellations and leads that a browser beacon never sees or
//! cannot be trusted with.
//!
//! - [`events`]: `POST /v1/server/events`, ktra's own format;
//! - [`stripe`]: `POST /v1/server/stripe/{site}`, Stripe's webhooks.
//!
//! Both end in [`ingest`]: validated as a server may send them
//! (`ktra_schema::Sender::Server`), product ids mapped through
//! `[sites.ID.products]`, stored with `source = 'server'` through the same
//! path as browser events (and their triggers). Counting an order once,
//! whoever reported it, and netting refunds is the `orders` view's job
//! (migration 0009), not the ingest's: the reports may arrive in any order.
pub mod events;
pub mod stripe;

use crate::config::SiteConfig;
use crate::enrich::event_row::RequestContext;
use crate::error::ApiError;
use crate::ingest::events::{build_rows, now_ms, refuse, store, EventsResponse, Outcome, Refusal};
use crate::state::AppState;
use ktra_schema::row::TableRow;
use ktra_schema::server::ServerEvent;
use ktra_schema::{check_amplification, Sender};
use serde_json::value::RawValue;

/// Validates, maps and stores one site's server events (each a JSON object).
pub(crate) async fn ingest(
    state: &AppState,
    site_id: &str,
    site: &SiteConfig,
    events: &[Box<RawValue>],
    body_len: usize,
) -> Result<Outcome, Refusal> {
    let now = now_ms();
    let ctx = RequestContext {
        site_id: site_id.to_string(),
        received_at: u32::try_from(now / 1000).unwrap_or(u32::MAX),
        source: Sender::Server,
        ..Default::default()
    };
    let (mut rows, rejected) = build_rows::<ServerEvent>(&ctx, events, now, &state.config.strip_query_params);
    for row in &mut rows {
        if let Some(own) = site.products.get(&row.product_id) {
            row.product_id.clone_from(own);
        }
    }
    let stored: usize = rows.iter().map(TableRow::approx_size).sum();
    check_amplification(stored, body_len)
        .map_err(|r| refused(site_id, events.len(), ApiError::bad(r.reason, r.message)))?;
    let accepted = store(state, site_id, site, rows, now).await?;
    Ok(Outcome { site: site_id.to_string(), answer: EventsResponse { accepted, rejected }, bots: 0 })
}

/// A refusal of `n` events of `site`.
pub(crate) fn refused(site: &str, n: usize, error: crate::error::ApiError) -> Refusal {
    refuse(site, n)(error)
}
