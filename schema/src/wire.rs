//! The event batch the pixel sends to `POST /v1/events`.
//!
//! One JSON object per request. Batch-level fields hold what is the same for
//! every event of a page (site, consent token, visitor and session ids, the
//! session's campaign); each event carries its own id, type and time.
//!
//! ```json
//! {"site":"demo","consent":"v1.…","vid":"…","sid":"…",
//!  "utm":{"source":"newsletter","medium":"email"},"ec":"…",
//!  "events":[{"id":"0b6b…","type":"page_view","ts":1732240000000,
//!             "url":"https://shop.example/","referrer":"","title":"Home"}]}
//! ```
use ktra_facts::{campaign, events};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A batch of events. `E` is the event representation: [`RawEvent`] for
/// senders, a raw JSON slice for the collector, which decodes each event on
/// its own so that one bad event does not sink the batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Batch<E = RawEvent> {
    /// Site id, as configured in the collector.
    pub site: String,
    /// Signed consent token (`ktra_consent` cookie).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<String>,
    /// Visitor id (`ktra_vid`).
    #[serde(default)]
    pub vid: String,
    /// Session id (`ktra_sid`).
    #[serde(default)]
    pub sid: String,
    /// Campaign parameters of the session's landing URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm: Option<Utm>,
    /// Email click id (`ktra_ec`) that started the session, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ec: Option<String>,
    /// The events, oldest first.
    pub events: Vec<E>,
}

/// UTM parameters and ad click ids of a session's landing URL.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct Utm {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medium: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gclid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fbclid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msclkid: Option<String>,
}

impl Utm {
    /// Each field with its wire name (`ktra_facts::campaign::PARAMS`), in
    /// declaration order.
    pub fn fields(&self) -> [(&'static str, &Option<String>); 8] {
        let values = [
            &self.source,
            &self.medium,
            &self.campaign,
            &self.term,
            &self.content,
            &self.gclid,
            &self.fbclid,
            &self.msclkid,
        ];
        std::array::from_fn(|i| (campaign::PARAMS[i].1, values[i]))
    }
}

#[cfg(test)]
mod utm_tests {
    use super::Utm;

    /// serde's field names are written out (derive takes literals): each
    /// must be the `ktra_facts` campaign field `fields()` pairs its value with.
    #[test]
    fn utm_fields_are_the_campaign_fields() {
        let v = |i: u8| Some(format!("v{i}"));
        let all = Utm {
            source: v(0),
            medium: v(1),
            campaign: v(2),
            term: v(3),
            content: v(4),
            gclid: v(5),
            fbclid: v(6),
            msclkid: v(7),
        };
        let json = serde_json::to_value(&all).unwrap();
        assert_eq!(json.as_object().unwrap().len(), 8);
        for (name, value) in all.fields() {
            assert_eq!(json[name].as_str(), value.as_deref(), "{name}");
        }
    }
}

/// Every event type ktra stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum EventType {
    PageView,
    Scroll,
    Engagement,
    FormSubmit,
    VideoStart,
    VideoProgress,
    VideoComplete,
    Purchase,
    OutboundClick,
    EmailClick,
    Identify,
    Custom,
    /// Server-side only: money returned on an order (negative revenue).
    Refund,
    /// Server-side only: a subscription ended.
    SubscriptionCancel,
    /// Server-side only: a lead created in the owner's CRM or checkout.
    Lead,
}

impl EventType {
    /// All event types, in documentation order (browser types, then server-only ones).
    pub const ALL: [EventType; 15] = [
        Self::PageView,
        Self::Scroll,
        Self::Engagement,
        Self::FormSubmit,
        Self::VideoStart,
        Self::VideoProgress,
        Self::VideoComplete,
        Self::Purchase,
        Self::OutboundClick,
        Self::EmailClick,
        Self::Identify,
        Self::Custom,
        Self::Refund,
        Self::SubscriptionCancel,
        Self::Lead,
    ];

    /// The wire and column name (`page_view`, ...): `ktra_facts::events`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PageView => events::PAGE_VIEW,
            Self::Scroll => events::SCROLL,
            Self::Engagement => events::ENGAGEMENT,
            Self::FormSubmit => events::FORM_SUBMIT,
            Self::VideoStart => events::VIDEO_START,
            Self::VideoProgress => events::VIDEO_PROGRESS,
            Self::VideoComplete => events::VIDEO_COMPLETE,
            Self::Purchase => events::PURCHASE,
            Self::OutboundClick => events::OUTBOUND_CLICK,
            Self::EmailClick => events::EMAIL_CLICK,
            Self::Identify => events::IDENTIFY,
            Self::Custom => events::CUSTOM,
            Self::Refund => events::REFUND,
            Self::SubscriptionCancel => events::SUBSCRIPTION_CANCEL,
            Self::Lead => events::LEAD,
        }
    }

    /// Types only a site's server may report (with its site key): a browser
    /// could otherwise erase revenue with a forged refund.
    pub const fn server_only(self) -> bool {
        matches!(self, Self::Refund | Self::SubscriptionCancel | Self::Lead)
    }

    /// Parses a wire name; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// A property value: strings, numbers and booleans are kept (as text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
#[allow(missing_docs)]
pub enum PropValue {
    Str(String),
    Num(f64),
    Bool(bool),
}

/// One event as sent. Which fields are required depends on `type`; see
/// [`crate::validate`]. Unknown fields are ignored (newer pixels, older
/// collectors).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RawEvent {
    /// Client-made UUID; retries and replays carry the same id.
    pub id: String,
    /// Event type name (`page_view`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// Client time, milliseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<i64>,
    /// Page URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Document referrer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
    /// Page title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `scroll`: depth reached, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<u8>,
    /// `engagement`: visible, active time, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engaged_ms: Option<u64>,
    /// `form_submit`: form id or name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form_id: Option<String>,
    /// `form_submit`: form action URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form_action: Option<String>,
    /// `form_submit`: field names (never values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
    /// `video_*`: the video's id or source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_id: Option<String>,
    /// `video_progress`: 25, 50 or 75.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<u8>,
    /// `purchase`: order id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// `purchase`: order value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// `purchase`: ISO 4217 currency code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// `purchase`: product id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    /// `purchase`: product name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_name: Option<String>,
    /// `outbound_click`: the link's target URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `email_click`: the click id from the `ktra_ec` URL parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub click_id: Option<String>,
    /// `identify`: an email address (stored only as a hash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `identify`: the site owner's lead id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_id: Option<String>,
    /// `custom`: event name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Free-form properties (`custom`, `purchase`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub props: Option<BTreeMap<String, PropValue>>,
}
