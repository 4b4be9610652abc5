//! The campaign of a visit: the UTM parameters and ad click ids of its
//! landing URL. The pixel reads them from the landing URL and sends them as
//! the batch's `utm` object (`ktra_schema::Utm`), each value at most
//! [`crate::limits::MAX_CAMPAIGN_LEN`] bytes.

/// The landing URL's query parameters that make the campaign, each with
/// the `utm` object field it becomes (its name without [`UTM_PREFIX`]), in
/// `Utm`'s field order.
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

/// What a parameter's name has before its field's (`utm_source` is `source`).
pub const UTM_PREFIX: &str = "utm_";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_the_params_without_the_prefix() {
        for (param, field) in PARAMS {
            assert_eq!(param.strip_prefix(UTM_PREFIX).unwrap_or(param), field);
        }
    }
}
