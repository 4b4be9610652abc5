//! Mail proxies and prefetchers: requests for an open pixel or a click URL
//! that a machine made, not the recipient. They are stored flagged
//! (`email_opens.is_proxy`, `email_clicks.is_bot`) and left out of the
//! analyst's human counts.
//!
//! Signals, by the client they come from:
//! - Gmail fetches images through `GoogleImageProxy` (`via ggpht.com`);
//! - Yahoo through `YahooMailProxy` / `YMailProxy`;
//! - Apple Mail Privacy Protection prefetches every image at delivery from
//!   Apple's own network (17.0.0.0/8) with a bare `Mozilla/5.0` or empty user
//!   agent;
//! - Microsoft: Outlook / Defender Safe Links scanners, Office link discovery
//!   (`ms-office`, `Existence Discovery`), Bing and Skype link previews;
//! - link scanners of mail security gateways, and generic bots and HTTP
//!   libraries ([`crate::enrich::ua`]'s list).
use crate::enrich::parse_user_agent;
use std::net::IpAddr;

/// Lowercase user-agent substrings of mail proxies, prefetchers and link scanners.
const MARKERS: &[&str] = &[
    "googleimageproxy",
    "ggpht.com",
    "yahoomailproxy",
    "ymailproxy",
    "yahoo-mail-proxy",
    "ms-office",
    "msoffice",
    "existence discovery",
    "safelinks",
    "safe links",
    "bingpreview",
    "skypeuripreview",
    "microsoftpreview",
    "microsoft-webdav",
    "mimecast",
    "proofpoint",
    "barracuda",
    "symantec",
    "trendmicro",
    "appengine-google",
];

/// Whether a request comes from a mail proxy, a prefetcher or a scanner.
pub fn is_machine(user_agent: &str) -> bool {
    let ua = user_agent.trim();
    let lower = ua.to_ascii_lowercase();
    // Apple Mail Privacy Protection: a bare or empty user agent, Apple's network.
    if lower.is_empty() || lower == "mozilla/5.0" {
        return true;
    }
    if MARKERS.iter().any(|m| lower.contains(m)) {
        return true;
    }
    parse_user_agent(ua).is_bot
}

/// Whether the address is Apple's (17.0.0.0/8), from which Mail Privacy
/// Protection prefetches images. Used for opens only: a click from there is
/// a person on Apple's network.
pub fn is_apple_network(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.octets()[0] == 17,
        IpAddr::V6(v6) => v6.to_ipv4_mapped().is_some_and(|v4| v4.octets()[0] == 17),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_proxies_and_scanners_are_machines() {
        for ua in [
            "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
            "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html",
            "Mozilla/5.0",
            "",
            "Mozilla/4.0 (compatible; ms-office; MSOffice 16)",
            "Microsoft Office Existence Discovery",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) BingPreview/1.0b",
            "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5",
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "python-requests/2.31",
        ] {
            assert!(is_machine(ua), "{ua:?}");
        }
    }

    #[test]
    fn people_reading_mail_are_not() {
        for ua in [
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)",
            "Microsoft Outlook 16.0.17328; Pro",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Thunderbird/125.0",
        ] {
            assert!(!is_machine(ua), "{ua:?}");
        }
    }

    #[test]
    fn apple_network() {
        assert!(is_apple_network("17.58.1.2".parse().unwrap()));
        assert!(is_apple_network("::ffff:17.1.2.3".parse().unwrap()));
        assert!(!is_apple_network("81.2.69.10".parse().unwrap()));
        assert!(!is_apple_network("2001:db8::1".parse().unwrap()));
    }
}
