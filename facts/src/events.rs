//! Event type names: the wire's `type` and the `events.event_type` column
//! (`ktra_schema::EventType::as_str`).
#![allow(missing_docs)] // each is its name

pub const PAGE_VIEW: &str = "page_view";
pub const SCROLL: &str = "scroll";
pub const ENGAGEMENT: &str = "engagement";
pub const FORM_SUBMIT: &str = "form_submit";
pub const VIDEO_START: &str = "video_start";
pub const VIDEO_PROGRESS: &str = "video_progress";
pub const VIDEO_COMPLETE: &str = "video_complete";
pub const PURCHASE: &str = "purchase";
pub const OUTBOUND_CLICK: &str = "outbound_click";
pub const EMAIL_CLICK: &str = "email_click";
pub const IDENTIFY: &str = "identify";
pub const CUSTOM: &str = "custom";

// Server-side only (`POST /v1/server/events`, Stripe): never accepted from a browser.
pub const REFUND: &str = "refund";
pub const SUBSCRIPTION_CANCEL: &str = "subscription_cancel";
pub const LEAD: &str = "lead";
