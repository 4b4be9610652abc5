//! ClickHouse row types (feature `clickhouse`), one per table, in column order.
//! Inserted as RowBinary; `DateTime` columns are Unix seconds (`u32`).
use clickhouse::Row;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A row of `events`.
#[derive(Debug, Clone, Default, PartialEq, Row, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct EventRow {
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

/// A row of `consent_log`.
#[derive(Debug, Clone, Default, PartialEq, Row, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct ConsentRow {
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

/// A row of `lead_consent`.
#[derive(Debug, Clone, Default, PartialEq, Row, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct LeadConsentRow {
    pub site_id: String,
    pub lead_id: String,
    pub source: String,
    pub recorded_at: u32,
}
