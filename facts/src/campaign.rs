//! The campaign of a visit: the UTM parameters and ad click ids of its
//! landing URL. The pixel reads them from the landing URL and sends them as
//! the batch's `utm` object (`ktra_schema::Utm`), each value at most
//! [`crate::limits::MAX_CAMPAIGN_LEN`] bytes.

/// The landing URL's query parameters that make the campaign, each with
/// the `utm` object field it becomes, in `Utm`'s field order.
pub const PARAMS: [(&str, &str); 8] = [
    ("utm_source", "source"),
    ("utm_medium", "medium"),
    ("utm_campaign", "campaign"),
    ("utm_term", "term"),
    ("utm_content", "content"),
    ("gclid", "gclid"),
    ("fbclid", "fbclid"),
    ("msclkid", "msclkid"),
];
