//! Referrer channel: `paid`, `email`, `search`, `social`, `referral`,
//! `internal` or `direct`, decided from click ids, UTM medium/source, the
//! email click id and the referrer host (in that order).

const SEARCH: &[&str] = &[
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
const SOCIAL: &[&str] = &[
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
const WEBMAIL: &[&str] =
    &["mail.google.com", "outlook.live.com", "outlook.office.com", "mail.yahoo.com", "mail.proton.me", "webmail."];
const PAID_MEDIUMS: &[&str] = &[
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

fn matches(host: &str, list: &[&str]) -> bool {
    list.iter().any(|p| {
        if p.ends_with('.') {
            host.starts_with(p) || host.contains(&format!(".{p}"))
        } else {
            host == *p || host.ends_with(&format!(".{p}"))
        }
    })
}

/// Decides the channel.
pub fn channel(i: ChannelInput<'_>) -> &'static str {
    let medium = i.utm_medium.to_ascii_lowercase();
    let source = i.utm_source.to_ascii_lowercase();
    if i.has_click_id || PAID_MEDIUMS.contains(&medium.as_str()) {
        return "paid";
    }
    if i.from_email || medium == "email" || medium == "e-mail" || source.contains("newsletter") || source == "email" {
        return "email";
    }
    if medium == "social" || medium == "social-network" || medium == "sm" {
        return "social";
    }
    if medium == "organic" {
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
