//! What one request's events take from their URLs, worked out once per
//! distinct URL: the events of a batch mostly share their page URL and
//! referrer, and parsing a URL (host, path, campaign parameters, the
//! parameters `strip_query_params` removes) costs more than everything else
//! the collector does with an event.
//!
//! Each entry is a pure function of the URL's text and the request's deny
//! list, so a remembered entry is exactly what a fresh one would be. A
//! request holds at most [`ENTRIES`] URLs of each kind (the oldest is
//! replaced): a batch of all-different URLs costs a short scan per event,
//! never more memory than that.
use super::urlparts::{bare_host, bare_host_of, strip_with, DenyList, PageUrl, Stripped};

/// URLs of each kind remembered per request.
pub const ENTRIES: usize = 8;

/// A page URL's parts: the URL as stored, host, path, campaign parameters.
#[derive(Debug, Default)]
pub struct PageParts {
    /// The URL without denied parameters, when that differs from the URL sent.
    pub stripped: Option<String>,
    /// Host, path and campaign parameters of the (stripped) URL.
    pub page: PageUrl,
    /// The host without a leading `www.` (what the channel compares).
    pub bare_host: String,
}

impl PageParts {
    /// Works the parts out (one parse, two when parameters were stripped).
    pub fn of(raw: &str, deny: &DenyList<'_>) -> Self {
        let (stripped, page) = match strip_with(raw, deny) {
            Stripped::Unchanged(Some(u)) => (None, PageUrl::from_url(&u)),
            Stripped::Unchanged(None) if raw.is_empty() => (None, PageUrl::default()),
            Stripped::Unchanged(None) => (None, PageUrl::parse(raw)),
            Stripped::NotUrl => (None, PageUrl::default()),
            Stripped::Changed(s) => {
                let page = PageUrl::parse(&s);
                (Some(s), page)
            }
        };
        let bare_host = page.host.strip_prefix("www.").unwrap_or(&page.host).to_string();
        Self { stripped, page, bare_host }
    }
}

/// A referrer's parts: the referrer as stored and its bare host.
#[derive(Debug, Default)]
pub struct ReferrerParts {
    /// The referrer without denied parameters, when that differs from the one sent.
    pub stripped: Option<String>,
    /// Its host, lowercased, without `www.`; empty when it has none.
    pub host: String,
}

impl ReferrerParts {
    /// Works the parts out (one parse, two when parameters were stripped).
    pub fn of(raw: &str, deny: &DenyList<'_>) -> Self {
        let (stripped, host) = match strip_with(raw, deny) {
            Stripped::Unchanged(Some(u)) => (None, bare_host_of(&u)),
            Stripped::Unchanged(None) if raw.is_empty() => (None, String::new()),
            Stripped::Unchanged(None) => (None, bare_host(raw)),
            Stripped::NotUrl => (None, String::new()),
            Stripped::Changed(s) => {
                let host = if s.is_empty() { String::new() } else { bare_host(&s) };
                (Some(s), host)
            }
        };
        Self { stripped, host }
    }
}

/// Up to [`ENTRIES`] values by URL text.
#[derive(Debug)]
pub struct Memo<V> {
    entries: Vec<(String, V)>,
    next: usize,
}

impl<V> Default for Memo<V> {
    fn default() -> Self {
        Self { entries: Vec::new(), next: 0 }
    }
}

impl<V> Memo<V> {
    /// The value for `key`, made by `make` unless remembered.
    pub fn get(&mut self, key: &str, make: impl FnOnce(&str) -> V) -> &V {
        if let Some(i) = self.entries.iter().position(|(k, _)| k == key) {
            return &self.entries[i].1;
        }
        let entry = (key.to_string(), make(key));
        let i = if self.entries.len() < ENTRIES {
            self.entries.push(entry);
            self.entries.len() - 1
        } else {
            let i = self.next;
            self.next = (i + 1) % ENTRIES;
            self.entries[i] = entry;
            i
        };
        &self.entries[i].1
    }

    /// How many values are remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Nothing remembered yet.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// One request's URL parts, by URL.
#[derive(Debug)]
pub struct RequestUrls<'a> {
    deny: DenyList<'a>,
    pages: Memo<PageParts>,
    referrers: Memo<ReferrerParts>,
}

impl<'a> RequestUrls<'a> {
    /// For a request whose URLs lose the parameters `deny` names (`strip_query_params`).
    pub fn new(deny: &'a [String]) -> Self {
        Self { deny: DenyList::new(deny), pages: Memo::default(), referrers: Memo::default() }
    }

    /// The deny list.
    pub fn deny(&self) -> &DenyList<'a> {
        &self.deny
    }

    /// A page URL's parts and a referrer's, each worked out at most once per request.
    pub fn parts(&mut self, page: &str, referrer: &str) -> (&PageParts, &ReferrerParts) {
        let deny = &self.deny;
        (self.pages.get(page, |u| PageParts::of(u, deny)), self.referrers.get(referrer, |u| ReferrerParts::of(u, deny)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_worked_out_once_and_the_memo_stays_bounded() {
        let mut m: Memo<usize> = Memo::default();
        let mut made = 0;
        for round in 0..3 {
            for i in 0..ENTRIES {
                let v = *m.get(&format!("https://s.example/{i}"), |_| {
                    made += 1;
                    i
                });
                assert_eq!(v, i, "round {round}");
            }
        }
        assert_eq!(made, ENTRIES, "later rounds hit the memo");
        for i in 0..3 * ENTRIES {
            let v = *m.get(&format!("https://other.example/{i}"), |_| i + 100);
            assert_eq!(v, i + 100);
        }
        assert_eq!(m.len(), ENTRIES);
    }

    #[test]
    fn parts_follow_the_stripped_url() {
        let deny = vec!["token".to_string(), "utm_*".to_string()];
        let deny = DenyList::new(&deny);
        let p = PageParts::of("https://WWW.Shop.Example/a?token=1&utm_source=x&gclid=g", &deny);
        assert_eq!(p.stripped.as_deref(), Some("https://www.shop.example/a?gclid=g"));
        assert_eq!(
            (p.page.host.as_str(), p.page.path.as_str(), p.bare_host.as_str()),
            ("www.shop.example", "/a", "shop.example")
        );
        assert_eq!((p.page.param("utm_source"), p.page.param("gclid")), ("", "g"), "a stripped parameter is gone");
        let p = PageParts::of("https://shop.example/a?x=1", &deny);
        assert_eq!((p.stripped, p.page.host.as_str()), (None, "shop.example"));
        let r = ReferrerParts::of("https://www.Google.com/search?q=a&token=t", &deny);
        assert_eq!((r.stripped.as_deref(), r.host.as_str()), (Some("https://www.google.com/search?q=a"), "google.com"));
        let r = ReferrerParts::of("not a url?token=1", &deny);
        assert_eq!((r.stripped, r.host.as_str()), (None, ""));
        assert_eq!(ReferrerParts::of("", &deny).host, "");
    }
}
