//! User agent → browser, OS, device class and bot flag (woothee, plus a list
//! of automation markers woothee does not know).
//!
//! The answer depends on the string alone, and a site's visitors send few
//! distinct ones, so each worker thread keeps the answers it worked out
//! ([`parse_user_agent`]): woothee's regexes cost ~35 000 instructions per
//! request (callgrind, issue 18), a hit a hash and a clone.
use std::cell::RefCell;
use std::collections::HashMap;
use woothee::parser::Parser;

/// What the collector stores about a user agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UaInfo {
    /// Browser family, e.g. `Chrome`.
    pub browser: String,
    /// Operating system family, e.g. `Windows 10`, `iPhone`, `Android`.
    pub os: String,
    /// `desktop`, `mobile`, `tablet`, `bot` or `other`.
    pub device: String,
    /// Known crawler, automation or HTTP library.
    pub is_bot: bool,
}

/// Substrings (lowercase) that mark automated clients woothee may miss.
const BOT_MARKERS: &[&str] = &[
    "bot",
    "crawl",
    "spider",
    "slurp",
    "headlesschrome",
    "phantomjs",
    "lighthouse",
    "pagespeed",
    "curl/",
    "wget/",
    "python-requests",
    "python-urllib",
    "go-http-client",
    "java/",
    "okhttp",
    "axios/",
    "node-fetch",
    "libwww",
    "httpclient",
    "scrapy",
    "facebookexternalhit",
    "preview",
    "monitor",
    "uptime",
    "pingdom",
];

/// Answers kept per thread; the map is emptied when full, so a client
/// sending a new user agent each time costs a parse plus a hash, and at most
/// this many strings of at most [`CACHE_MAX_LEN`] bytes are held.
const CACHE_ENTRIES: usize = 1024;
/// Longer user agents are parsed each time, not kept.
const CACHE_MAX_LEN: usize = 512;

thread_local! {
    static CACHE: RefCell<HashMap<Box<str>, UaInfo>> = RefCell::new(HashMap::new());
}

/// Parses a user agent string ([`parse_user_agent_uncached`]), from this
/// thread's answers when it saw the string before.
pub fn parse_user_agent(ua: &str) -> UaInfo {
    if ua.len() > CACHE_MAX_LEN {
        return parse_user_agent_uncached(ua);
    }
    CACHE.with(|cache| {
        if let Some(hit) = cache.borrow().get(ua) {
            return hit.clone();
        }
        let info = parse_user_agent_uncached(ua);
        let mut cache = cache.borrow_mut();
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(ua.into(), info.clone());
        info
    })
}

/// Parses a user agent string with woothee and the bot markers.
pub fn parse_user_agent_uncached(ua: &str) -> UaInfo {
    let lower = ua.to_ascii_lowercase();
    let marker = ua.trim().is_empty() || BOT_MARKERS.iter().any(|m| lower.contains(m));
    let parsed = Parser::new().parse(ua);
    let (browser, os, category) = match &parsed {
        Some(r) => (clean(r.name), clean(r.os), r.category),
        None => (String::new(), String::new(), "UNKNOWN"),
    };
    let is_bot = marker || category == "crawler";
    let device = if is_bot {
        "bot"
    } else if lower.contains("ipad")
        || (lower.contains("android") && !lower.contains("mobile"))
        || lower.contains("tablet")
    {
        "tablet"
    } else {
        match category {
            "pc" => "desktop",
            "smartphone" | "mobilephone" => "mobile",
            _ => "other",
        }
    };
    UaInfo { browser, os, device: device.to_string(), is_bot }
}

fn clean(s: &str) -> String {
    if s == "UNKNOWN" {
        String::new()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn desktop_chrome() {
        let u = parse_user_agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36");
        assert_eq!(u.browser, "Chrome");
        assert!(u.os.starts_with("Windows"), "{}", u.os);
        assert_eq!(u.device, "desktop");
        assert!(!u.is_bot);
    }

    #[test]
    fn iphone_safari_is_mobile() {
        let u = parse_user_agent("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1");
        assert_eq!(u.browser, "Safari");
        assert_eq!(u.device, "mobile");
    }

    #[test]
    fn ipad_is_tablet() {
        let u = parse_user_agent("Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1");
        assert_eq!(u.device, "tablet");
    }

    #[test]
    fn bots_and_tools_are_flagged() {
        for ua in [
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 Safari/537.36",
            "curl/8.5.0",
            "python-requests/2.31",
            "",
        ] {
            let u = parse_user_agent(ua);
            assert!(u.is_bot, "{ua:?}");
            assert_eq!(u.device, "bot");
        }
    }

    #[test]
    fn kept_answers_are_the_parsed_ones() {
        let long = format!("Mozilla/5.0 (X11; Linux x86_64) {} Firefox/126.0", "x".repeat(CACHE_MAX_LEN));
        let mut uas: Vec<String> = [
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
            "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "",
            "   ",
            long.as_str(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // More distinct strings than the cache holds: it is emptied on the way and filled again.
        uas.extend(
            (0..CACHE_ENTRIES + 10)
                .map(|i| format!("Mozilla/5.0 (Linux; Android 14; P{i}) Chrome/12{}.0 Mobile", i % 10)),
        );
        for round in 0..2 {
            for ua in &uas {
                assert_eq!(parse_user_agent(ua), parse_user_agent_uncached(ua), "round {round}: {ua:?}");
            }
        }
        CACHE.with(|c| assert!(c.borrow().len() <= CACHE_ENTRIES));
    }
}
