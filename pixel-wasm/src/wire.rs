//! The slice of the `ktra-schema` wire contract the pixel writes: event type
//! names and size limits.
//!
//! The pixel is `no_std` on wasm (so a panic is a bare trap instead of the
//! std formatting machinery, which alone would blow the size budget), and
//! `ktra-schema` needs std and serde. So the few constants used here are
//! mirrored, and a native test (`tests::mirrors_ktra_schema`) fails the build
//! of the test suite the moment they drift from `ktra-schema`.

/// Event type wire names, as in `ktra_schema::EventType::as_str`.
pub mod kind {
    #![allow(missing_docs)]
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
}

/// Longest URL, referrer or link target, in bytes.
pub const MAX_URL_LEN: usize = 2048;
/// Longest page title or product name, in bytes.
pub const MAX_TEXT_LEN: usize = 512;
/// Longest identifier, in bytes.
pub const MAX_ID_LEN: usize = 128;
/// Most custom properties on one event.
pub const MAX_PROPS: usize = 32;
/// Longest property key (and form field name), in bytes.
pub const MAX_PROP_KEY_LEN: usize = 64;
/// Longest property value, in bytes.
pub const MAX_PROP_VALUE_LEN: usize = 512;
/// Most form field names reported for one form.
pub const MAX_FORM_FIELDS: usize = 50;
/// Largest engagement time for one page view, ms.
pub const MAX_ENGAGED_MS: u64 = 24 * 3600 * 1000;
/// Scroll depths reported, percent.
pub const SCROLL_DEPTHS: [u8; 5] = [25, 50, 75, 90, 100];
/// Video progress marks reported, percent.
pub const VIDEO_MARKS: [u8; 3] = [25, 50, 75];
/// Most events in one batch (collector limit).
pub const MAX_EVENTS_PER_BATCH: usize = 100;

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use ktra_schema::{limits as l, EventType};

    #[test]
    fn mirrors_ktra_schema() {
        assert_eq!(MAX_URL_LEN, l::MAX_URL_LEN);
        assert_eq!(MAX_TEXT_LEN, l::MAX_TEXT_LEN);
        assert_eq!(MAX_ID_LEN, l::MAX_ID_LEN);
        assert_eq!(MAX_PROPS, l::MAX_PROPS);
        assert_eq!(MAX_PROP_KEY_LEN, l::MAX_PROP_KEY_LEN);
        assert_eq!(MAX_PROP_VALUE_LEN, l::MAX_PROP_VALUE_LEN);
        assert_eq!(MAX_FORM_FIELDS, l::MAX_FORM_FIELDS);
        assert_eq!(MAX_ENGAGED_MS, l::MAX_ENGAGED_MS);
        assert_eq!(SCROLL_DEPTHS, l::SCROLL_DEPTHS);
        assert_eq!(VIDEO_MARKS, l::VIDEO_MARKS);
        assert_eq!(MAX_EVENTS_PER_BATCH, l::MAX_EVENTS_PER_BATCH);
        let ours = [
            kind::PAGE_VIEW,
            kind::SCROLL,
            kind::ENGAGEMENT,
            kind::FORM_SUBMIT,
            kind::VIDEO_START,
            kind::VIDEO_PROGRESS,
            kind::VIDEO_COMPLETE,
            kind::PURCHASE,
            kind::OUTBOUND_CLICK,
            kind::EMAIL_CLICK,
            kind::IDENTIFY,
            kind::CUSTOM,
        ];
        let theirs: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(ours.to_vec(), theirs);
    }
}
