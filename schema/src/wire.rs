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
#[serde(bound(deserialize = "E: Deserialize<'de>"))]
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
    #[serde(deserialize_with = "events_with_room")]
    pub events: Vec<E>,
}

/// Room for this many events before the first grows the vector (a pixel's
/// batch, 20 events in the benchmark, fits): serde's `Vec` starts empty when
/// JSON gives no length and doubled it four times, moving every decoded event
/// each time (~600 instructions per event, callgrind, issue 18).
const EVENTS_ROOM: usize = 32;

/// `Vec<E>` as serde decodes it (the same values and errors), with room for
/// [`EVENTS_ROOM`] events (at most 64 KiB of them) from the start.
fn events_with_room<'de, D: serde::Deserializer<'de>, E: Deserialize<'de>>(d: D) -> Result<Vec<E>, D::Error> {
    struct Events<E>(std::marker::PhantomData<E>);
    impl<'de, E: Deserialize<'de>> serde::de::Visitor<'de> for Events<E> {
        type Value = Vec<E>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            // serde's own `Vec` visitor's words, so refusals read the same.
            f.write_str("a sequence")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<E>, A::Error> {
            let room = seq.size_hint().unwrap_or(EVENTS_ROOM).min(EVENTS_ROOM);
            let room = room.min((64 << 10) / std::mem::size_of::<E>().max(1));
            let mut events = Vec::with_capacity(room);
            while let Some(e) = seq.next_element()? {
                events.push(e);
            }
            Ok(events)
        }
    }
    d.deserialize_seq(Events(std::marker::PhantomData))
}

#[cfg(test)]
mod events_room_tests {
    use super::{Batch, RawEvent};

    /// The derive's plain `Vec<E>`, as the reference.
    #[derive(Debug, serde::Deserialize)]
    struct Plain<E> {
        #[allow(dead_code)]
        site: String,
        events: Vec<E>,
    }

    #[test]
    fn events_decode_as_a_plain_vec() {
        let ev = r#"{"id":"0b6b3c1e-9a4f-4e1a-8d2b-7f6e5d4c3b2a","type":"page_view","url":"https://a.example/"}"#;
        let many = vec![ev; 40].join(",");
        for events in [
            "[]".to_string(),
            format!("[{ev}]"),
            format!("[{many}]"),
            format!("[{many}, 1]"),
            format!("[{ev},]"),
            "{}".to_string(),
            "\"x\"".to_string(),
            "null".to_string(),
            "[".to_string(),
        ] {
            let json = format!(r#"{{"site":"s","events":{events}}}"#);
            let new = serde_json::from_str::<Batch<RawEvent>>(&json).map(|b| b.events).map_err(|e| e.to_string());
            let old = serde_json::from_str::<Plain<RawEvent>>(&json).map(|b| b.events).map_err(|e| e.to_string());
            assert_eq!(new, old, "{json}");
            let new = serde_json::from_str::<Batch<serde_json::Value>>(&json)
                .map(|b| b.events.len())
                .map_err(|e| e.to_string());
            let old = serde_json::from_str::<Plain<serde_json::Value>>(&json)
                .map(|b| b.events.len())
                .map_err(|e| e.to_string());
            assert_eq!(new, old, "{json}");
        }
    }
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
///
/// Serialized untagged; deserialized as `#[serde(untagged)]` would (first
/// variant that fits, the same error otherwise) but straight from the
/// input: untagged buffered each value and built an error for each variant
/// it tried (a number one, a boolean two), ~1000 instructions per event in
/// the collector (callgrind, issue 18).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
#[allow(missing_docs)]
pub enum PropValue {
    Str(String),
    Num(f64),
    Bool(bool),
}

/// The error `#[serde(untagged)]` gives for a value no variant takes.
const NO_PROP_VARIANT: &str = "data did not match any variant of untagged enum PropValue";

impl<'de> Deserialize<'de> for PropValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A value no variant takes is read whole and refused here, after the
        // input's own deserializer returned, where untagged refused it: the
        // error (and the position serde_json gives it) is the same.
        d.deserialize_any(PropValueVisitor)?.ok_or_else(|| serde::de::Error::custom(NO_PROP_VARIANT))
    }
}

/// `None`: a value of a type no variant takes, read to its end.
struct PropValueVisitor;

impl<'de> serde::de::Visitor<'de> for PropValueVisitor {
    type Value = Option<PropValue>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string, number or boolean")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Option<PropValue>, E> {
        Ok(Some(PropValue::Str(v.to_owned())))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Option<PropValue>, E> {
        Ok(Some(PropValue::Str(v)))
    }
    fn visit_char<E: serde::de::Error>(self, v: char) -> Result<Option<PropValue>, E> {
        Ok(Some(PropValue::Str(v.to_string())))
    }
    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Option<PropValue>, E> {
        Ok(std::str::from_utf8(v).ok().map(|s| PropValue::Str(s.to_owned())))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Option<PropValue>, E> {
        Ok(Some(PropValue::Num(v)))
    }
    fn visit_f32<E: serde::de::Error>(self, v: f32) -> Result<Option<PropValue>, E> {
        Ok(Some(PropValue::Num(f64::from(v))))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Option<PropValue>, E> {
        Ok(Some(PropValue::Num(v as f64)))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Option<PropValue>, E> {
        Ok(Some(PropValue::Num(v as f64)))
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Option<PropValue>, E> {
        Ok(Some(PropValue::Bool(v)))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Option<PropValue>, E> {
        Ok(None)
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Option<PropValue>, E> {
        Ok(None)
    }
    // Arrays and objects are read to their end first, as untagged did.
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Option<PropValue>, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(None)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Option<PropValue>, A::Error> {
        while map.next_entry::<Skip, Skip>()?.is_some() {}
        Ok(None)
    }
}

/// Any value, read and dropped the way untagged's buffering read it
/// (`deserialize_any` at every level, so serde_json's recursion limit
/// applies as it did; `IgnoredAny` skips without that limit).
struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Skip)
    }
}

impl<'de> serde::de::Visitor<'de> for Skip {
    type Value = Skip;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any value")
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_bytes<E: serde::de::Error>(self, _: &[u8]) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Skip, D::Error> {
        Skip::deserialize(d)
    }
    fn visit_newtype_struct<D: serde::Deserializer<'de>>(self, d: D) -> Result<Skip, D::Error> {
        Skip::deserialize(d)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        while map.next_entry::<Skip, Skip>()?.is_some() {}
        Ok(Skip)
    }
}

#[cfg(test)]
mod prop_value_tests {
    use super::PropValue;
    use reference::PropValue as Untagged;
    use std::collections::BTreeMap;

    mod reference {
        /// The derive this replaces, kept as the reference (same name: it is in the error).
        #[derive(Debug, PartialEq, serde::Deserialize)]
        #[serde(untagged)]
        pub enum PropValue {
            Str(String),
            Num(f64),
            Bool(bool),
        }
    }

    fn same(p: &PropValue, u: &Untagged) -> bool {
        match (p, u) {
            (PropValue::Str(a), Untagged::Str(b)) => a == b,
            (PropValue::Num(a), Untagged::Num(b)) => a.to_bits() == b.to_bits(),
            (PropValue::Bool(a), Untagged::Bool(b)) => a == b,
            _ => false,
        }
    }

    fn check(json: &str) {
        #[derive(serde::Deserialize)]
        struct New {
            #[allow(dead_code)]
            a: Option<u8>,
            props: Option<BTreeMap<String, PropValue>>,
        }
        #[derive(serde::Deserialize)]
        struct Old {
            #[allow(dead_code)]
            a: Option<u8>,
            props: Option<BTreeMap<String, Untagged>>,
        }
        let new = serde_json::from_str::<New>(json).map(|n| n.props).map_err(|e| e.to_string());
        let old = serde_json::from_str::<Old>(json).map(|o| o.props).map_err(|e| e.to_string());
        match (&new, &old) {
            (Ok(n), Ok(o)) => {
                let n = n.clone().unwrap_or_default();
                let o: Vec<_> = o.as_ref().map(|m| m.iter().collect()).unwrap_or_default();
                assert_eq!(n.len(), o.len(), "{json}");
                for ((nk, nv), (ok, ov)) in n.iter().zip(o) {
                    assert!(nk == ok && same(nv, ov), "{json}: {nv:?} vs {ov:?}");
                }
            }
            (Err(n), Err(o)) => assert_eq!(n, o, "{json}"),
            _ => panic!("{json}: {new:?} vs {old:?}"),
        }
    }

    #[test]
    fn decodes_as_untagged_did() {
        let values = [
            r#""text""#,
            r#""esc\"aped \u00e9 \ud83d\ude00""#,
            r#""""#,
            "0",
            "-0",
            "42",
            "-7",
            "18446744073709551615",
            "-9223372036854775808",
            "1.5e300",
            "1e400",
            "3.25",
            "true",
            "false",
            "null",
            "[]",
            "[1, \"a\", {\"x\": [null]}]",
            "{}",
            "{\"k\": {\"n\": 1}}",
            "\"unterminated",
            "tru",
            "[1,",
            "{\"k\": }",
            "01",
        ];
        // Nested past serde_json's recursion limit, and just inside it.
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let (deeper, shallow) = (deep(140), deep(120));
        for v in values.iter().copied().chain([deeper.as_str(), shallow.as_str()]) {
            for json in [
                format!(r#"{{"props": {{"p": {v}}}}}"#),
                format!(r#"{{"props": {{"p": {v}, "q": 1}}, "a": 1}}"#),
                format!(r#"{{"props": {{"q": true, "p": {v} }} , "a": 2}}"#),
                format!("{{\"props\":\n {{\"q\": \"x\",\n \"p\":  {v}\n }}\n}}"),
            ] {
                check(&json);
            }
        }
    }
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
