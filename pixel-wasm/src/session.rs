//! Sessions: when a landing continues the current session and how the
//! session's attributes are stored.
//!
//! A session is the `ktra_sid` cookie (30 minutes of inactivity). Its
//! attributes (campaign and email click id of the landing that started it)
//! live in `localStorage["ktra_sess"]` as a query string that starts with
//! `sid=<session id>`, so a value left by an older session is ignored.
use crate::url::{encode as enc, pairs, Attrs, CAMPAIGN_PARAMS, EMAIL_CLICK_PARAM};
use alloc::string::String;

/// The `localStorage` key holding the current session's attributes.
pub const STORAGE_KEY: &str = "ktra_sess";

/// Whether a page view landing with `landing` continues a live session that
/// started with `stored`. A landing without campaign parameters or email
/// click id always continues it; one with them continues it only if they are
/// the session's own (a reload, or the next page of the same campaign).
pub fn continues(stored: &Attrs, landing: &Attrs) -> bool {
    if landing.no_campaign() && landing.ec.is_empty() {
        return true;
    }
    (landing.no_campaign() || landing.campaign == stored.campaign) && (landing.ec.is_empty() || landing.ec == stored.ec)
}

/// The stored form of a session's attributes.
pub fn encode(sid: &str, a: &Attrs) -> String {
    let mut s = String::from("sid=");
    enc(sid, &mut s);
    let mut put = |k: &str, v: &str| {
        if !v.is_empty() {
            s.push('&');
            s.push_str(k);
            s.push('=');
            enc(v, &mut s);
        }
    };
    put(EMAIL_CLICK_PARAM, &a.ec);
    for (k, v) in CAMPAIGN_PARAMS.iter().zip(&a.campaign) {
        put(k, v);
    }
    s
}

/// The attributes stored for session `sid`, if the stored value is its own.
pub fn decode(stored: &str, sid: &str) -> Option<Attrs> {
    let (k, v) = pairs(stored).next()?;
    (k == "sid" && crate::url::decode(v) == sid).then(|| Attrs::from_query(stored))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::url::query;

    fn attrs(url: &str) -> Attrs {
        Attrs::from_query(query(url))
    }

    #[test]
    fn a_new_campaign_starts_a_new_session() {
        let s = attrs("https://s.example/?utm_source=news&utm_campaign=spring");
        assert!(continues(&s, &attrs("https://s.example/next")), "plain navigation");
        assert!(continues(&s, &attrs("https://s.example/?utm_source=news&utm_campaign=spring")), "reload");
        assert!(!continues(&s, &attrs("https://s.example/?utm_source=ads")), "other campaign");
        assert!(!continues(&s, &attrs("https://s.example/?gclid=abc")), "ad click");
        assert!(!continues(&Attrs::default(), &attrs("https://s.example/?utm_source=news")), "direct, then campaign");
    }

    #[test]
    fn a_new_email_click_starts_a_new_session() {
        let s = attrs("https://s.example/?utm_source=mail&ktra_ec=E1");
        assert!(continues(&s, &attrs("https://s.example/?utm_source=mail")), "same campaign, click id already removed");
        assert!(continues(&s, &attrs("https://s.example/?ktra_ec=E1")), "same click");
        assert!(!continues(&s, &attrs("https://s.example/?utm_source=mail&ktra_ec=E2")), "another click");
        assert!(!continues(&Attrs::default(), &attrs("https://s.example/?ktra_ec=E2")));
    }

    #[test]
    fn stored_attributes_round_trip_for_their_session_only() {
        let a = attrs("https://s.example/?utm_source=a%26b%3Dc&utm_term=x%20y&gclid=G&ktra_ec=E1");
        let stored = encode("sid-1", &a);
        assert_eq!(decode(&stored, "sid-1"), Some(a));
        assert_eq!(decode(&stored, "sid-2"), None);
        assert_eq!(decode("", "sid-1"), None);
        assert_eq!(decode("junk", "sid-1"), None);
        assert_eq!(decode(&encode("s", &Attrs::default()), "s"), Some(Attrs::default()));
    }
}
