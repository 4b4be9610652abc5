//! `ktra-schema` — the contracts shared by every ktra part.
//!
//! Owns: the event batch wire format sent by the pixel ([`wire`]) and by a
//! site's server ([`server`]), the consent
//! decision the banner sends ([`consent`]), the limits
//! and validation every event passes before it is stored ([`limits`],
//! [`validate`]), the ClickHouse row types (behind the `clickhouse` feature, so
//! the pixel does not pull them), and the ClickHouse migrations and analyst
//! queries ([`migrations`], [`queries`]).
//!
//! Does not own: HTTP, enrichment, consent tokens or anything that talks to a
//! database — those live in `ktra-collector`. This crate builds for
//! `wasm32-unknown-unknown`.
#![cfg_attr(test, allow(clippy::unwrap_used))]

/// The facts shared with the pixel and the JS (`ktra-facts`).
pub use ktra_facts as facts;

pub mod consent;
pub mod limits;
pub mod migrations;
pub mod queries;
pub mod reject;
pub mod server;
pub mod sessions;
pub mod validate;
pub mod wire;

#[cfg(feature = "clickhouse")]
pub mod row;

pub use validate::{
    check_amplification, validate_batch, validate_event, validate_from, Reject, RejectReason, Sender, ValidEvent,
};
pub use wire::{Batch, EventType, RawEvent, Utm};
