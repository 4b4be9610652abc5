//! Identifiers the collector accepts. (New UUIDs come from the host's
//! `Host::uuid`.)

/// Whether `s` is an opaque id the collector accepts (visitor, session,
/// click): 1 to 128 characters of `[A-Za-z0-9_.-]`.
pub fn is_token_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= crate::wire::MAX_ID_LEN
        && s.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_ids() {
        assert!(is_token_id("abc-DEF_1.2"));
        assert!(!is_token_id(""));
        assert!(!is_token_id("a b"));
        assert!(!is_token_id(&"x".repeat(129)));
    }
}
