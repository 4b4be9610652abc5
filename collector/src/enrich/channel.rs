//! Referrer channel: `paid`, `email`, `search`, `social`, `referral`,
//! `internal` or `direct`, decided from click ids, UTM medium/source, the
//! email click id and the referrer host (in that order).

pub(crate) const SEARCH: &[&str] = &[
    "google.",
    "bing.com",
    "duckduckgo.com",
    "search.yahoo.",
    "yahoo.com",
    "yandex.",
    "baidu.com",
    "ecosia.org",
    "startpage.com",
    "qwant.com",
    "search.brave.com",
    "kagi.com",
    "naver.com",
    "seznam.cz",
];
pub(crate) const SOCIAL: &[&str] = &[
    "facebook.com",
    "fb.com",
    "m.facebook.com",
    "l.facebook.com",
    "instagram.com",
    "t.co",
    "twitter.com",
    "x.com",
    "linkedin.com",
    "lnkd.in",
    "reddit.com",
    "pinterest.",
    "youtube.com",
    "tiktok.com",
    "threads.net",
    "mastodon.social",
    "bsky.app",
    "news.ycombinator.com",
    "quora.com",
    "vk.com",
    "snapchat.com",
];
pub(crate) const WEBMAIL: &[&str] =
    &["mail.google.com", "outlook.live.com", "outlook.office.com", "mail.yahoo.com", "mail.proton.me", "webmail."];
pub(crate) const PAID_MEDIUMS: &[&str] = &[
    "cpc",
    "ppc",
    "paid",
    "paidsearch",
    "paid_search",
    "paid-social",
    "paid_social",
    "paidsocial",
    "cpm",
    "cpv",
    "display",
    "retargeting",
    "affiliate",
];

/// The inputs of the channel decision.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChannelInput<'a> {
    /// Bare referrer host (`bare_host`), empty when none.
    pub referrer_host: &'a str,
    /// Bare page host.
    pub page_host: &'a str,
    /// `utm_source`.
    pub utm_source: &'a str,
    /// `utm_medium`.
    pub utm_medium: &'a str,
    /// An ad click id (gclid, fbclid, msclkid) is present.
    pub has_click_id: bool,
    /// The session started from a ktra email link.
    pub from_email: bool,
}

/// `host` is a pattern of `list` or a subdomain of one; a pattern ending in
/// `.` (`google.`) matches that label under any suffix.
fn matches(host: &str, list: &[&str]) -> bool {
    list.iter().any(|p| {
        if p.ends_with('.') {
            host.starts_with(p) || contains_after_dot(host, p)
        } else {
            host == *p || ends_with_after_dot(host, p)
        }
    })
}

/// `host.contains(".{p}")`, without building the pattern.
fn contains_after_dot(host: &str, p: &str) -> bool {
    let h = host.as_bytes();
    h.iter().enumerate().any(|(i, &b)| b == b'.' && h[i + 1..].starts_with(p.as_bytes()))
}

/// `host.ends_with(".{p}")`, without building the pattern.
fn ends_with_after_dot(host: &str, p: &str) -> bool {
    let (h, p) = (host.as_bytes(), p.as_bytes());
    h.len() > p.len() && h.ends_with(p) && h[h.len() - p.len() - 1] == b'.'
}

/// `haystack.to_ascii_lowercase().contains(needle)` for a lowercase ASCII `needle`.
fn contains_ignore_ascii_case(haystack: &str, needle: &str) -> bool {
    haystack.as_bytes().windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Decides the channel.
pub fn channel(i: ChannelInput<'_>) -> &'static str {
    // Mediums and sources compare case-insensitively (every constant here is lowercase).
    let (medium, source) = (i.utm_medium, i.utm_source);
    let medium_is = |m: &str| medium.eq_ignore_ascii_case(m);
    if i.has_click_id || PAID_MEDIUMS.iter().any(|m| medium_is(m)) {
        return "paid";
    }
    if i.from_email
        || medium_is("email")
        || medium_is("e-mail")
        || contains_ignore_ascii_case(source, "newsletter")
        || source.eq_ignore_ascii_case("email")
    {
        return "email";
    }
    if medium_is("social") || medium_is("social-network") || medium_is("sm") {
        return "social";
    }
    if medium_is("organic") {
        return "search";
    }
    let r = i.referrer_host;
    if r.is_empty() {
        return if source.is_empty() { "direct" } else { "referral" };
    }
    if r == i.page_host {
        return "internal";
    }
    if matches(r, WEBMAIL) {
        return "email";
    }
    if matches(r, SEARCH) {
        return "search";
    }
    if matches(r, SOCIAL) {
        return "social";
    }
    "referral"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(referrer_host: &str, utm_source: &str, utm_medium: &str) -> &'static str {
        channel(ChannelInput { referrer_host, page_host: "shop.example", utm_source, utm_medium, ..Default::default() })
    }

    #[test]
    fn channels() {
        assert_eq!(ch("", "", ""), "direct");
        assert_eq!(ch("google.com", "", ""), "search");
        assert_eq!(ch("google.co.uk", "", ""), "search");
        assert_eq!(ch("duckduckgo.com", "", ""), "search");
        assert_eq!(ch("t.co", "", ""), "social");
        assert_eq!(ch("m.facebook.com", "", ""), "social");
        assert_eq!(ch("mail.google.com", "", ""), "email");
        assert_eq!(ch("blog.other.org", "", ""), "referral");
        assert_eq!(ch("shop.example", "", ""), "internal");
        assert_eq!(ch("google.com", "google", "cpc"), "paid");
        assert_eq!(ch("", "newsletter", "email"), "email");
        assert_eq!(ch("", "partner", ""), "referral");
        assert_eq!(ch("notgoogle.com", "", ""), "referral");
        assert_eq!(channel(ChannelInput { has_click_id: true, ..Default::default() }), "paid");
        assert_eq!(
            channel(ChannelInput { from_email: true, referrer_host: "google.com", ..Default::default() }),
            "email"
        );
    }
}
