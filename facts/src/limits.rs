//! Hard limits on what one request may carry. The collector enforces them
//! (`ktra_schema::validate`); the pixel stays well below them.

/// Largest accepted request body, in bytes (after decompression).
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Most events in one batch.
pub const MAX_EVENTS_PER_BATCH: usize = 100;
/// Longest URL, referrer or link target, in bytes.
pub const MAX_URL_LEN: usize = 2048;
/// Longest page title or product name, in bytes.
pub const MAX_TEXT_LEN: usize = 512;
/// Longest identifier (site, visitor, session, form, video, order, ...), in bytes.
pub const MAX_ID_LEN: usize = 128;
/// Most custom properties on one event.
pub const MAX_PROPS: usize = 32;
/// Longest property key, in bytes.
pub const MAX_PROP_KEY_LEN: usize = 64;
/// Longest property value, in bytes.
pub const MAX_PROP_VALUE_LEN: usize = 512;
/// Most form field names reported for one form.
pub const MAX_FORM_FIELDS: usize = 50;
/// How far in the past an event timestamp may lie before it is clamped (72 h).
pub const MAX_PAST_MS: i64 = 72 * 3600 * 1000;
/// How far in the future an event timestamp may lie before it is clamped (10 min).
pub const MAX_FUTURE_MS: i64 = 10 * 60 * 1000;
/// Largest engagement time for one page view (24 h).
pub const MAX_ENGAGED_MS: u64 = 24 * 3600 * 1000;
/// Scroll depths the pixel reports, in percent.
pub const SCROLL_DEPTHS: [u8; 5] = [25, 50, 75, 90, 100];
/// Video progress marks the pixel reports, in percent.
pub const VIDEO_MARKS: [u8; 3] = [25, 50, 75];
/// Longest campaign value (`utm.*`) or ad click id (`gclid`, ...) in a batch, in bytes.
pub const MAX_CAMPAIGN_LEN: usize = 256;
/// Most bytes of batch-level fields (visitor, session, email click id and
/// campaign) together: they are copied into every row of the batch.
pub const MAX_SHARED_BYTES: usize = 1024;
/// Longest consent token, in bytes (checked before any decoding).
pub const MAX_TOKEN_LEN: usize = 1024;
/// A request may store at most this many times its body's bytes ...
pub const MAX_STORED_PER_BODY_BYTE: usize = 8;
/// ... plus this allowance (enrichment that is not in the body: geo, user agent, ids).
pub const STORED_BYTES_ALLOWANCE: usize = 4096;

/// The most row bytes (as the sink estimates them) a request with a body of
/// `body_len` bytes may produce.
pub const fn max_stored_bytes(body_len: usize) -> usize {
    body_len.saturating_mul(MAX_STORED_PER_BODY_BYTE).saturating_add(STORED_BYTES_ALLOWANCE)
}
