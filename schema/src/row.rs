//! ClickHouse row types (feature `clickhouse`), one per table, in column order.
//! Inserted as RowBinary; `DateTime` columns are Unix seconds (`u32`).
//!
//! Every row type implements [`TableRow`]: its table, its tag in spool
//! records, its size and, for events, the consent chain it belongs to. The
//! collector's sink is generic over it: adding a table is a row type here, a
//! migration, and one line in the sink's list of tables.
use clickhouse::{Row, RowOwned, RowWrite};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A row of one ClickHouse table.
pub trait TableRow:
    Row + RowOwned + RowWrite + Serialize + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static
{
    /// The table (unqualified; the client selects the database).
    const TABLE: &'static str;
    /// The table's tag in spool records: stable, never reused (1..=127).
    const TAG: u8;

    /// Bytes the row takes in a spool record and, about, in RowBinary
    /// (varint lengths, as both use): what batch and amplification limits count.
    fn approx_size(&self) -> usize {
        postcard::experimental::serialized_size(self).unwrap_or(0)
    }

    /// The consent chain the row was stored under (erased together); empty
    /// for tables whose rows are not stored under a visitor's consent.
    fn consent_root(&self) -> &str {
        ""
    }

    /// Tags of earlier layouts of this table still read from spools.
    const LEGACY_TAGS: &'static [u8] = &[];

    /// Decodes a binary payload written under one of [`Self::LEGACY_TAGS`].
    fn decode_legacy(_tag: u8, _payload: &[u8]) -> Result<Vec<Self>, postcard::Error> {
        Err(postcard::Error::DeserializeBadEncoding)
    }
}

/// Encodes rows as a compact binary spool payload.
pub fn encode_rows<T: TableRow>(rows: &[T]) -> Vec<u8> {
    postcard::to_allocvec(rows).unwrap_or_default()
}

/// Decodes a payload written by [`encode_rows`].
pub fn decode_rows<T: TableRow>(payload: &[u8]) -> Result<Vec<T>, postcard::Error> {
    postcard::from_bytes(payload)
}

/// Declares [`EventRow`] and [`EventRowV1`] from one field list: the
/// current row is the list plus `source`; the legacy layout (spool tag 1,
/// written before `source` existed) is the list alone, so that records
/// spooled by the previous version decode after an upgrade.
macro_rules! event_rows {
    ($($(#[$meta:meta])* pub $field:ident: $ty:ty,)*) => {
        /// A row of `events`.
        #[derive(Debug, Clone, Default, PartialEq, Row, Serialize, Deserialize)]
        #[allow(missing_docs)]
        pub struct EventRow {
            $($(#[$meta])* pub $field: $ty,)*
            /// Who reported the event: `browser` (the pixel) or `server`
            /// (`POST /v1/server/events`, Stripe). Absent in older JSON spool records.
            #[serde(default = "browser")]
            pub source: String,
        }

        /// A row of `events` as spooled before the `source` column (spool tag 1).
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[allow(missing_docs)]
        pub struct EventRowV1 {
            $($(#[$meta])* pub $field: $ty,)*
        }

        impl From<EventRowV1> for EventRow {
            fn from(r: EventRowV1) -> Self {
                Self { $($field: r.$field,)* source: browser() }
            }
        }
    };
}

fn browser() -> String {
    "browser".into()
}

event_rows! {
    pub site_id: String,
    #[serde(with = "clickhouse::serde::uuid")]
    pub event_id: Uuid,
    pub event_type: String,
    pub ts: u32,
    /// Client time in milliseconds (DateTime64 does not exist on 18.16).
    pub ts_ms: u64,
    pub received_at: u32,
    pub visitor_id: String,
    pub session_id: String,
    pub consent_id: String,
    /// The first decision of the consent chain (what a withdrawal erases).
    pub consent_root: String,
    pub url: String,
    pub host: String,
    pub path: String,
    pub title: String,
    pub referrer: String,
    pub referrer_host: String,
    pub channel: String,
    pub utm_source: String,
    pub utm_medium: String,
    pub utm_campaign: String,
    pub utm_term: String,
    pub utm_content: String,
    pub click_id_type: String,
    pub click_id: String,
    pub country: String,
    pub region: String,
    pub city: String,
    pub browser: String,
    pub os: String,
    pub device: String,
    pub is_bot: u8,
    pub scroll_depth: u8,
    pub engaged_ms: u32,
    pub form_id: String,
    pub form_action: String,
    pub form_fields: Vec<String>,
    pub video_id: String,
    pub video_percent: u8,
    pub order_id: String,
    pub revenue: f64,
    pub currency: String,
    pub product_id: String,
    pub product_name: String,
    pub link_url: String,
    pub email_click_id: String,
    pub lead_id: String,
    pub event_name: String,
    #[serde(rename = "props.key")]
    pub props_key: Vec<String>,
    #[serde(rename = "props.value")]
    pub props_value: Vec<String>,
}

impl TableRow for EventRow {
    const TABLE: &'static str = "events";
    /// 1 was the layout without `source` ([`EventRowV1`]).
    const TAG: u8 = 8;
    const LEGACY_TAGS: &'static [u8] = &[1];
    fn consent_root(&self) -> &str {
        &self.consent_root
    }
    fn decode_legacy(tag: u8, payload: &[u8]) -> Result<Vec<Self>, postcard::Error> {
        match tag {
            1 => Ok(postcard::from_bytes::<Vec<EventRowV1>>(payload)?.into_iter().map(Self::from).collect()),
            _ => Err(postcard::Error::DeserializeBadEncoding),
        }
    }
}

/// Declares [`ConsentRow`] and [`ConsentRowV1`] from one field list: the
/// current row is the list plus `region` and `model` (migration 0010); the
/// legacy layout (spool tag 2, written before regions) is the list alone, so
/// that proof of consent spooled by the previous version is stored after an
/// upgrade (as an `opt_in` decision, which it was).
macro_rules! consent_rows {
    ($(pub $field:ident: $ty:ty,)*) => {
        /// A row of `consent_log`.
        #[derive(Debug, Clone, Default, PartialEq, Row, Serialize, Deserialize)]
        #[allow(missing_docs)]
        pub struct ConsentRow {
            $(pub $field: $ty,)*
            /// The `[sites.ID.regions]` rule that decided the model (`eu`, `US-CA`, `default`, `unknown`).
            #[serde(default)]
            pub region: String,
            /// The consent model in force for the visitor: `opt_in`, `opt_out` or `none`.
            #[serde(default = "opt_in")]
            pub model: String,
        }

        /// A row of `consent_log` as spooled before `region` and `model` (spool tag 2).
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[allow(missing_docs)]
        pub struct ConsentRowV1 {
            $(pub $field: $ty,)*
        }

        impl From<ConsentRowV1> for ConsentRow {
            fn from(r: ConsentRowV1) -> Self {
                Self { $($field: r.$field,)* region: String::new(), model: opt_in() }
            }
        }
    };
}

fn opt_in() -> String {
    "opt_in".into()
}

consent_rows! {
    pub consent_id: String,
    pub site_id: String,
    pub action: String,
    pub source: String,
    pub granted: Vec<String>,
    pub denied: Vec<String>,
    pub revision: u32,
    pub language: String,
    pub text_hash: String,
    pub previous_id: String,
    pub visitor_id: String,
    pub gpc: u8,
    pub country: String,
    pub browser: String,
    pub os: String,
    pub device: String,
    pub expires_at: u32,
    pub recorded_at: u32,
}

impl TableRow for ConsentRow {
    const TABLE: &'static str = "consent_log";
    /// 2 was the layout without `region` and `model` ([`ConsentRowV1`]).
    const TAG: u8 = 16;
    const LEGACY_TAGS: &'static [u8] = &[2];
    fn decode_legacy(tag: u8, payload: &[u8]) -> Result<Vec<Self>, postcard::Error> {
        match tag {
            2 => Ok(postcard::from_bytes::<Vec<ConsentRowV1>>(payload)?.into_iter().map(Self::from).collect()),
            _ => Err(postcard::Error::DeserializeBadEncoding),
        }
    }
}

/// A row of `email_clicks`.
#[derive(Debug, Clone, Default, PartialEq, Row, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct EmailClickRow {
    pub click_id: String,
    pub site_id: String,
    pub lead_id: String,
    pub message_id: String,
    pub destination: String,
    pub clicked_at: u32,
    pub country: String,
    pub region: String,
    pub city: String,
    pub browser: String,
    pub os: String,
    pub device: String,
    pub is_bot: u8,
}

impl TableRow for EmailClickRow {
    const TABLE: &'static str = "email_clicks";
    const TAG: u8 = 3;
}

/// A row of `email_opens`.
#[derive(Debug, Clone, Default, PartialEq, Row, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct EmailOpenRow {
    pub open_id: String,
    pub site_id: String,
    pub lead_id: String,
    pub message_id: String,
    pub opened_at: u32,
    pub is_proxy: u8,
    pub country: String,
    pub browser: String,
    pub os: String,
    pub device: String,
}

impl TableRow for EmailOpenRow {
    const TABLE: &'static str = "email_opens";
    const TAG: u8 = 4;
}

/// A row of `lead_consent`.
#[derive(Debug, Clone, Default, PartialEq, Row, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct LeadConsentRow {
    pub site_id: String,
    pub lead_id: String,
    pub source: String,
    pub recorded_at: u32,
}

impl TableRow for LeadConsentRow {
    const TABLE: &'static str = "lead_consent";
    const TAG: u8 = 5;
}

/// A row of `webhook_deliveries`: one delivery attempt.
#[derive(Debug, Clone, Default, PartialEq, Row, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct WebhookDeliveryRow {
    pub delivery_id: String,
    pub site_id: String,
    pub endpoint: String,
    pub trigger_name: String,
    pub event_id: String,
    pub lead_id: String,
    pub attempt: u16,
    /// `delivered`, `failed` (will retry), `gave_up`, `dropped` (withdrawal).
    pub status: String,
    pub http_status: u16,
    pub error: String,
    pub latency_ms: u32,
    /// The JSON body sent (the same on every attempt).
    pub body: String,
    pub attempted_at: u32,
}

impl TableRow for WebhookDeliveryRow {
    const TABLE: &'static str = "webhook_deliveries";
    const TAG: u8 = 6;
}

/// A row of `webhook_subscriptions`: one version of a REST hook.
#[derive(Debug, Clone, Default, PartialEq, Row, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct WebhookSubscriptionRow {
    pub id: String,
    pub site_id: String,
    pub target_url: String,
    pub trigger_name: String,
    /// The filter as JSON (`{"path": "/pricing*"}`).
    pub filter: String,
    pub secret: String,
    pub deleted: u8,
    pub updated_at: u32,
}

impl TableRow for WebhookSubscriptionRow {
    const TABLE: &'static str = "webhook_subscriptions";
    const TAG: u8 = 7;
}

/// A row of `shares`: one version of a read-only dashboard link (the signed
/// token itself is never stored).
#[derive(Debug, Clone, Default, PartialEq, Row, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct ShareRow {
    pub id: String,
    pub site_id: String,
    pub label: String,
    pub created_at: u32,
    pub expires_at: u32,
    pub revoked: u8,
    pub changed_at: u32,
}

impl TableRow for ShareRow {
    const TABLE: &'static str = "shares";
    const TAG: u8 = 9;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_through_the_binary_payload_and_size_is_exact() {
        let rows = vec![
            EventRow {
                site_id: "demo".into(),
                event_id: Uuid::from_u128(0x0b6b3c1e_9a4f_4e1a_8d2b_7f6e5d4c3b2a),
                event_type: "page_view".into(),
                url: "https://shop.example/".into(),
                form_fields: vec!["name".into(), "email".into()],
                props_key: vec!["k".into()],
                props_value: vec!["v".into()],
                revenue: 49.5,
                consent_root: "root-1".into(),
                ..Default::default()
            },
            EventRow::default(),
        ];
        let payload = encode_rows(&rows);
        assert_eq!(decode_rows::<EventRow>(&payload).unwrap(), rows);
        let sizes: usize = rows.iter().map(TableRow::approx_size).sum();
        assert_eq!(payload.len(), sizes + 1, "the payload is the rows and a one-byte count");
        assert_eq!(rows[0].consent_root(), "root-1");
        assert!(decode_rows::<EventRow>(b"not a payload").is_err());
    }

    #[test]
    fn consent_rows_spooled_before_regions_decode_as_opt_in() {
        let old = vec![ConsentRowV1 { consent_id: "c1".into(), action: "grant".into(), ..Default::default() }];
        let payload = postcard::to_allocvec(&old).unwrap();
        assert!(decode_rows::<ConsentRow>(&payload).is_err(), "the current layout cannot read it");
        let rows = ConsentRow::decode_legacy(2, &payload).unwrap();
        assert_eq!(
            (rows[0].consent_id.as_str(), rows[0].model.as_str(), rows[0].region.as_str()),
            ("c1", "opt_in", "")
        );
        assert!(ConsentRow::decode_legacy(9, &payload).is_err());
    }
}
