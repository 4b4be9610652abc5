//! First-party cookies: `ktra_vid` (visitor) and `ktra_sid` (session).
//!
//! Both are host-only (no `Domain`), `Path=/`, `SameSite=Lax`, and `Secure`
//! on https pages (attributes `Host::set_cookie` adds). `ktra_vid` holds `<uuid>.<created unix seconds>` so that
//! every start can re-set its `Max-Age` to end at the earlier of creation +
//! 13 months and the consent expiry, without ever extending it.
use crate::json::push_u64;
use alloc::string::String;

/// Visitor cookie name.
pub const VID: &str = ktra_facts::names::VISITOR_COOKIE;
/// Session cookie name.
pub const SID: &str = ktra_facts::names::SESSION_COOKIE;
/// Longest visitor cookie life: 13 × 30 days (under 13 calendar months).
pub const VID_LIFE_S: u64 = 13 * 30 * 86_400;
/// Session inactivity timeout.
pub const SESSION_S: u64 = 30 * 60;

/// The `name=value` part of a cookie assignment (`Host::set_cookie` adds the
/// attributes).
pub fn pair(name: &str, value: &str) -> String {
    let mut s = String::from(name);
    s.push_str("=");
    s.push_str(value);
    s
}

/// Splits a `ktra_vid` value into the visitor id and its creation time.
/// A value without a valid creation time counts as created `now_s`.
pub fn parse_vid(v: &str, now_s: u64) -> Option<(&str, u64)> {
    let (id, created) = match crate::url::split1(v, b'.') {
        Some((id, t)) => (id, parse_u64(t).filter(|&t| t <= now_s).unwrap_or(now_s)),
        None => (v, now_s),
    };
    crate::ids::is_token_id(id).then_some((id, created))
}

/// The `ktra_vid` cookie value for a visitor id created at `created_s`.
pub fn vid_value(id: &str, created_s: u64) -> String {
    let mut s = String::from(id);
    s.push_str(".");
    push_u64(&mut s, created_s);
    s
}

/// Seconds the visitor cookie may still live: to the earlier of creation
/// + [`VID_LIFE_S`] and the consent expiry; 0 when that is past.
pub fn vid_max_age(created_s: u64, now_s: u64, consent_exp_s: u64) -> u64 {
    (created_s + VID_LIFE_S).min(consent_exp_s).saturating_sub(now_s)
}

/// Seconds the session cookie lives from now: 30 minutes, never past the
/// consent expiry.
pub fn sid_max_age(now_s: u64, consent_exp_s: u64) -> u64 {
    SESSION_S.min(consent_exp_s.saturating_sub(now_s))
}

/// Parses a run of ASCII digits (no sign, no spaces).
pub fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    s.bytes().try_fold(0u64, |n, c| c.is_ascii_digit().then(|| n * 10 + u64::from(c - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;
    const NOW: u64 = 1_750_000_000;

    #[test]
    fn cookie_strings() {
        assert_eq!(pair(SID, "s1"), "ktra_sid=s1");
        assert_eq!(pair(VID, ""), "ktra_vid=");
    }

    #[test]
    fn visitor_cookie_never_outlives_consent_or_13_months() {
        // Consent ends first.
        assert_eq!(vid_max_age(NOW, NOW, NOW + 182 * 86_400), 182 * 86_400);
        // 13 months end first.
        assert_eq!(vid_max_age(NOW, NOW, NOW + 1000 * 86_400), VID_LIFE_S);
        // A returning visitor: life counts from creation, it is not extended.
        assert_eq!(vid_max_age(NOW - 100 * 86_400, NOW, NOW + 1000 * 86_400), VID_LIFE_S - 100 * 86_400);
        // Expired consent or an old cookie: delete.
        assert_eq!(vid_max_age(NOW, NOW, NOW - 1), 0);
        assert_eq!(vid_max_age(NOW - VID_LIFE_S - 1, NOW, NOW + 86_400), 0);
        const { assert!(VID_LIFE_S <= 393 * 86_400, "shorter than the shortest 13 calendar months") };
    }

    #[test]
    fn session_cookie_is_30_minutes_within_consent() {
        assert_eq!(sid_max_age(NOW, NOW + 86_400), 1800);
        assert_eq!(sid_max_age(NOW, NOW + 60), 60);
        assert_eq!(sid_max_age(NOW, NOW - 5), 0);
    }

    #[test]
    fn visitor_value_round_trips() {
        let v = vid_value("0b6b3c1e-9a4f-4e1a-8d2b-7f6e5d4c3b2a", NOW - 5);
        assert_eq!(parse_vid(&v, NOW), Some(("0b6b3c1e-9a4f-4e1a-8d2b-7f6e5d4c3b2a", NOW - 5)));
        assert_eq!(parse_vid("legacy-id", NOW), Some(("legacy-id", NOW)));
        assert_eq!(parse_vid("id.999999999999", NOW), Some(("id", NOW)), "future creation is clamped");
        assert_eq!(parse_vid("bad id.1", NOW), None);
        assert_eq!(parse_vid("", NOW), None);
    }

    #[test]
    fn parses_digits_only() {
        assert_eq!(parse_u64("0"), Some(0));
        assert_eq!(parse_u64("120"), Some(120));
        assert_eq!(parse_u64(""), None);
        assert_eq!(parse_u64("1a"), None);
        assert_eq!(parse_u64("-1"), None);
        assert_eq!(parse_u64("99999999999999999999"), None);
    }
}
