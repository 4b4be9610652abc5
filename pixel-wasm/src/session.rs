//! Sessions: when a landing continues the current session, and how the
//! session's attributes are stored.
//!
//! A session is the `ktra_sid` cookie (30 minutes of inactivity). Its
//! attributes, the campaign (`utm` object text) and email click id of the
//! landing that started it, live in `localStorage["ktra_sess"]` as
//! `<sid>\n<ec>\n<utm>`, so that a value left by an older session is
//! ignored. (The `utm` text never holds a raw newline: JSON escapes it.)
use alloc::string::String;

/// The `localStorage` key holding the current session's attributes.
pub const STORAGE_KEY: &str = ktra_facts::names::SESSION_STORAGE_KEY;

/// Where a visit came from: the `utm` object text (empty for none) and the
/// email click id (empty for none).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Source {
    /// The batch's `utm` object, or empty.
    pub utm: String,
    /// The email click id, or empty.
    pub ec: String,
}

/// Whether a page view landing from `landing` continues a live session
/// that started from `stored`. A landing without campaign parameters or
/// email click id always continues it; one with them only if they are the
/// session's own (a reload, or the next page of the same campaign).
pub fn continues(stored: &Source, landing: &Source) -> bool {
    (landing.utm.is_empty() || landing.utm == stored.utm) && (landing.ec.is_empty() || landing.ec == stored.ec)
}

/// The stored form of session `sid`'s attributes.
pub fn encode(sid: &str, s: &Source) -> String {
    let mut v = String::from(sid);
    v.push_str("\n");
    v.push_str(&s.ec);
    v.push_str("\n");
    v.push_str(&s.utm);
    v
}

/// The attributes stored for session `sid`, if the stored value is its own.
pub fn decode(stored: &str, sid: &str) -> Option<Source> {
    let (id, rest) = crate::url::split1(stored, b'\n')?;
    let (ec, utm) = crate::url::split1(rest, b'\n')?;
    (id == sid).then(|| Source { utm: String::from(utm), ec: String::from(ec) })
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::url::{email_click_id, test_param, utm_json};

    fn from(url: &str) -> Source {
        Source { utm: utm_json(test_param(url)), ec: email_click_id(test_param(url)("ktra_ec")) }
    }

    #[test]
    fn a_new_campaign_starts_a_new_session() {
        let s = from("https://s.example/?utm_source=news&utm_campaign=spring");
        assert!(continues(&s, &from("https://s.example/next")), "plain navigation");
        assert!(continues(&s, &from("https://s.example/?utm_campaign=spring&utm_source=news")), "reload");
        assert!(!continues(&s, &from("https://s.example/?utm_source=ads")), "other campaign");
        assert!(!continues(&s, &from("https://s.example/?gclid=abc")), "ad click");
        assert!(!continues(&Source::default(), &from("https://s.example/?utm_source=news")), "direct, then campaign");
    }

    #[test]
    fn a_new_email_click_starts_a_new_session() {
        let s = from("https://s.example/?utm_source=mail&ktra_ec=E1");
        assert!(continues(&s, &from("https://s.example/?utm_source=mail")), "same campaign, click id removed");
        assert!(continues(&s, &from("https://s.example/?ktra_ec=E1")), "same click");
        assert!(!continues(&s, &from("https://s.example/?utm_source=mail&ktra_ec=E2")), "another click");
        assert!(!continues(&Source::default(), &from("https://s.example/?ktra_ec=E2")));
    }

    #[test]
    fn stored_attributes_round_trip_for_their_session_only() {
        let s = from("https://s.example/?utm_source=a%0Ab&utm_term=x%20y&gclid=G&ktra_ec=E1");
        assert!(s.utm.contains("a\\nb"), "newline escaped: {}", s.utm);
        let stored = encode("sid-1", &s);
        assert_eq!(decode(&stored, "sid-1"), Some(s));
        assert_eq!(decode(&stored, "sid-2"), None);
        assert_eq!(decode("", "sid-1"), None);
        assert_eq!(decode("junk", "sid-1"), None);
        assert_eq!(decode(&encode("s", &Source::default()), "s"), Some(Source::default()));
    }
}
