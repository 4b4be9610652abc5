//! What a site's own server sends to `POST /v1/server/events` (with its site
//! key): orders, refunds, cancellations and leads from a checkout or a CRM.
//!
//! ```json
//! {"site":"demo","events":[{"id":"0b6b…","type":"refund","order_id":"A-1001",
//!   "value":20.0,"currency":"EUR","vid":"…the ktra_vid the checkout passed on…"}]}
//! ```
//! Each event has the fields of a browser event ([`RawEvent`]) plus the
//! visitor's `vid`, when the checkout knows it. Which types a server may send
//! and what each needs: [`crate::validate::Sender::Server`].
use crate::wire::RawEvent;
use serde::{Deserialize, Serialize};

/// A batch from a site's server. `E` as in [`crate::Batch`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerBatch<E = ServerEvent> {
    /// Site id; the site key must act for it.
    pub site: String,
    /// The events.
    pub events: Vec<E>,
}

/// One server event: a browser event's fields and the visitor it is about.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerEvent {
    /// The event.
    #[serde(flatten)]
    pub event: RawEvent,
    /// The visitor's `ktra_vid`, as the checkout received it (ties the order
    /// to the visitor's sessions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vid: Option<String>,
}
