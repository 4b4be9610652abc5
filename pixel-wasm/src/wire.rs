//! The slice of the wire contract the pixel writes: event type names and
//! size limits, from `ktra-facts` (the one definition `ktra-schema`
//! re-exports; the pixel, `no_std` on wasm, cannot depend on `ktra-schema`
//! itself).

/// Event type wire names, as `ktra_schema::EventType::as_str` answers them.
pub use ktra_facts::events as kind;
pub use ktra_facts::limits::{
    MAX_CAMPAIGN_LEN, MAX_ENGAGED_MS, MAX_EVENTS_PER_BATCH, MAX_FORM_FIELDS, MAX_ID_LEN, MAX_PROPS, MAX_PROP_KEY_LEN,
    MAX_PROP_VALUE_LEN, MAX_SHARED_BYTES, MAX_TEXT_LEN, MAX_URL_LEN, SCROLL_DEPTHS, VIDEO_MARKS,
};
