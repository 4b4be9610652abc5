//! Host, path and query parameters of page and referrer URLs.
use std::borrow::Cow;
use url::Url;

/// What the collector takes from a page URL, from one parse.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageUrl {
    /// Host, lowercased.
    pub host: String,
    /// Path.
    pub path: String,
    /// Campaign and click-id parameters present with a value, by name.
    pub params: Vec<(&'static str, String)>,
}

/// Query parameters the collector reads from landing URLs (one list, in `ktra-facts`).
pub use ktra_schema::facts::campaign::PARAMS as CAMPAIGN_PARAMS;

/// What [`strip`] did to a URL.
#[derive(Debug)]
pub enum Stripped {
    /// Nothing to strip: the URL is returned as it was. `Some` holds its
    /// parse when one was made on the way (so that it need not be parsed
    /// again), `None` when none was needed (nothing denied, or no `?`).
    Unchanged(Option<Url>),
    /// Not an absolute URL: returned as it was.
    NotUrl,
    /// The URL without the denied parameters.
    Changed(String),
}

/// The pairs of a query as `Url::query_pairs` gives them (empty pieces
/// skipped, `+` and `%XX` decoded, invalid UTF-8 replaced), borrowing the
/// pairs that need no decoding instead of copying them.
pub fn query_pairs(q: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    q.split('&').filter(|piece| !piece.is_empty()).map(|piece| {
        if piece.bytes().any(|b| b == b'+' || b == b'%') {
            // The piece holds no `&`: `parse` yields exactly its one pair.
            url::form_urlencoded::parse(piece.as_bytes()).next().unwrap_or_default()
        } else {
            let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
            (Cow::Borrowed(k), Cow::Borrowed(v))
        }
    })
}

/// `strip_query_params` ready for matching: a key is compared with the
/// patterns only when one of them starts with its first letter (ASCII case
/// ignored), which most keys' first letters do not. Built per request
/// without allocating.
#[derive(Debug, Clone, Copy, Default)]
pub struct DenyList<'a> {
    deny: &'a [String],
    /// Lowercased first bytes of the patterns, as a 256-bit set.
    first: [u64; 4],
    /// `*`: every key.
    every: bool,
    /// ``: the empty key.
    empty: bool,
}

impl<'a> DenyList<'a> {
    /// Names case-insensitively; a name ending in `*` is a prefix.
    pub fn new(deny: &'a [String]) -> Self {
        let mut list = Self { deny, ..Self::default() };
        for d in deny {
            match d.strip_suffix('*').unwrap_or(d).as_bytes().first() {
                Some(&b) => {
                    let b = b.to_ascii_lowercase();
                    list.first[usize::from(b >> 6)] |= 1 << (b & 63);
                }
                None if d.is_empty() => list.empty = true,
                None => list.every = true,
            }
        }
        list
    }

    /// No pattern at all.
    pub fn is_empty(&self) -> bool {
        self.deny.is_empty()
    }

    /// `key` is denied. Compared as bytes: a key's prefix may end inside a
    /// character (`auxä` against `auth*`), where slicing the `str` would panic.
    pub fn denies(&self, key: &str) -> bool {
        let k = key.as_bytes();
        let Some(&b) = k.first() else { return self.every || self.empty };
        let b = b.to_ascii_lowercase();
        self.every
            || (self.first[usize::from(b >> 6)] & (1 << (b & 63)) != 0
                && self.deny.iter().any(|d| match d.strip_suffix('*') {
                    Some(prefix) => k.get(..prefix.len()).is_some_and(|h| h.eq_ignore_ascii_case(prefix.as_bytes())),
                    None => k.eq_ignore_ascii_case(d.as_bytes()),
                }))
    }
}

/// [`strip_params`], saying whether anything was stripped and keeping the
/// parse of an unchanged URL.
pub fn strip(raw: &str, deny: &[String]) -> Stripped {
    strip_with(raw, &DenyList::new(deny))
}

/// [`strip`] with the deny list ready.
pub fn strip_with(raw: &str, deny: &DenyList<'_>) -> Stripped {
    let denied = |k: &str| deny.denies(k);
    // Without a `?` a URL has no query (and without a deny list nothing is
    // denied): unchanged, whether or not it would parse.
    if deny.is_empty() || !raw.contains('?') {
        return Stripped::Unchanged(None);
    }
    let Ok(mut u) = Url::parse(raw) else { return Stripped::NotUrl };
    let Some(q) = u.query() else { return Stripped::Unchanged(Some(u)) };
    if !query_pairs(q).any(|(k, _)| denied(&k)) {
        return Stripped::Unchanged(Some(u));
    }
    // Keep the other parameters exactly as they were encoded.
    let kept: Vec<&str> = q
        .split('&')
        .filter(|p| {
            let key = p.split('=').next().unwrap_or("");
            let key =
                url::form_urlencoded::parse(key.as_bytes()).next().map(|(k, _)| k.into_owned()).unwrap_or_default();
            !p.is_empty() && !denied(&key)
        })
        .collect();
    let kept = kept.join("&");
    u.set_query(if kept.is_empty() { None } else { Some(&kept) });
    Stripped::Changed(u.to_string())
}

/// `raw` without the query parameters `deny` names (case-insensitive; a
/// pattern ending in `*` matches a prefix). Anything that is not an absolute
/// URL, or has no such parameter, comes back unchanged.
pub fn strip_params(raw: &str, deny: &[String]) -> String {
    match strip(raw, deny) {
        Stripped::Changed(s) => s,
        Stripped::Unchanged(_) | Stripped::NotUrl => raw.to_string(),
    }
}

impl PageUrl {
    /// Parses once: host, path, and the campaign parameters.
    pub fn parse(raw: &str) -> Self {
        match Url::parse(raw) {
            Ok(u) => Self::from_url(&u),
            Err(_) => Self::default(),
        }
    }

    /// Host, path and campaign parameters of a parsed URL.
    pub fn from_url(u: &Url) -> Self {
        let mut params = Vec::new();
        if let Some(q) = u.query() {
            for (k, v) in query_pairs(q) {
                if let Some((name, _)) = CAMPAIGN_PARAMS.iter().find(|(n, _)| *n == k) {
                    if !v.is_empty() && !params.iter().any(|(p, _)| p == name) {
                        params.push((*name, v.into_owned()));
                    }
                }
            }
        }
        Self { host: u.host_str().unwrap_or("").to_ascii_lowercase(), path: u.path().to_string(), params }
    }

    /// A campaign parameter's value, or "".
    pub fn param(&self, name: &str) -> &str {
        self.params.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str()).unwrap_or("")
    }
}

/// Host and path of a URL; empty strings when it does not parse.
pub fn host_and_path(raw: &str) -> (String, String) {
    match Url::parse(raw) {
        Ok(u) => (u.host_str().unwrap_or("").to_ascii_lowercase(), u.path().to_string()),
        Err(_) => (String::new(), String::new()),
    }
}

/// Host of a URL, lowercased, without a leading `www.`.
pub fn bare_host(raw: &str) -> String {
    let (h, _) = host_and_path(raw);
    h.strip_prefix("www.").map(str::to_string).unwrap_or(h)
}

/// [`bare_host`] of a parsed URL.
pub fn bare_host_of(u: &Url) -> String {
    let h = u.host_str().unwrap_or("").to_ascii_lowercase();
    h.strip_prefix("www.").map(str::to_string).unwrap_or(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denied_parameters_are_stripped_and_the_rest_kept_as_encoded() {
        let deny: Vec<String> = ["token", "email", "reset*"].iter().map(|s| s.to_string()).collect();
        assert_eq!(
            strip_params("https://s.example/a?utm_source=x&TOKEN=abc&q=a%20b&reset_key=1#f", &deny),
            "https://s.example/a?utm_source=x&q=a%20b#f"
        );
        assert_eq!(strip_params("https://s.example/?email=a%40b.c", &deny), "https://s.example/");
        assert_eq!(strip_params("https://s.example/?q=1", &deny), "https://s.example/?q=1");
        assert_eq!(strip_params("not a url?token=1", &deny), "not a url?token=1");
        assert_eq!(strip_params("https://s.example/?q=1", &[]), "https://s.example/?q=1");
    }

    #[test]
    fn a_key_whose_prefix_ends_inside_a_character_is_compared_not_sliced() {
        // Before, `k[..prefix.len()]` panicked the request: `k[..4]` of `auxä`
        // (`ä` is bytes 3..5) against `auth*`, `k[..5]` of `reseä` against `reset*`.
        let deny: Vec<String> = ["auth*", "reset*"].iter().map(|s| s.to_string()).collect();
        assert_eq!(strip_params("https://s.example/?aux\u{e4}=1&x=2", &deny), "https://s.example/?aux\u{e4}=1&x=2");
        assert_eq!(strip_params("https://s.example/?rese\u{e4}=1", &deny), "https://s.example/?rese\u{e4}=1");
        assert_eq!(strip_params("https://s.example/?au\u{1f600}=1", &deny), "https://s.example/?au\u{1f600}=1");
        assert_eq!(strip_params("https://s.example/?AUTH\u{e4}=1&x=2", &deny), "https://s.example/?x=2");
    }

    #[test]
    fn query_pairs_are_the_url_crates() {
        for q in [
            "",
            "&&a=1&&b&=c&d==e&",
            "q=a+b%20c&x=%zz&y=%C3%A4&%FF=%fe+&k+%2B=v",
            "utm_source=news&utm_source=&gclid=g",
            "\u{e4}=\u{1f600}&=&==&+=+",
        ] {
            let u = Url::parse(&format!("https://s.example/?{q}")).unwrap();
            let ours: Vec<_> = query_pairs(u.query().unwrap()).collect();
            let theirs: Vec<_> = u.query_pairs().collect();
            assert_eq!(ours, theirs, "{q:?}");
        }
    }

    #[test]
    fn page_url_parses_once() {
        let p = PageUrl::parse("https://Shop.Example/a?utm_source=news&x=1&gclid=g&utm_source=second&utm_medium=");
        assert_eq!((p.host.as_str(), p.path.as_str()), ("shop.example", "/a"));
        assert_eq!(p.param("utm_source"), "news", "first value wins");
        assert_eq!(p.param("gclid"), "g");
        assert_eq!(p.param("utm_medium"), "", "empty values are absent");
        assert_eq!(PageUrl::parse("nope"), PageUrl::default());
    }

    #[test]
    fn parts() {
        assert_eq!(host_and_path("https://Shop.Example/a/b?x=1#f"), ("shop.example".into(), "/a/b".into()));
        assert_eq!(host_and_path("not a url"), (String::new(), String::new()));
        assert_eq!(bare_host("https://www.google.com/search?q=x"), "google.com");
    }

    use proptest::prelude::*;

    proptest! {
    /// The query pairs stripping and campaign parameters read are the url crate's.
    #[test]
    fn query_pairs_are_the_url_crates_on_generated_queries(q in ".{0,40}|[a-zA-Z=&+%0-9 #]{0,40}") {
        if let Ok(u) = url::Url::parse(&format!("https://s.example/?{q}")) {
            let ours: Vec<_> = super::query_pairs(u.query().unwrap_or("")).collect();
            let theirs: Vec<_> = u.query_pairs().collect();
            prop_assert_eq!(ours, theirs);
        }
    }

    /// The deny list compiled once per request answers what each pattern tried in turn answered.
    #[test]
    fn the_compiled_deny_list_is_the_pattern_by_pattern_one(
        deny in proptest::collection::vec("[a-cA-C_*\u{e4}\u{c4}]{0,4}", 0..6),
        key in "[a-cA-C_*\u{e4}\u{c4}]{0,5}|.{0,6}",
    ) {
        let one_by_one = deny.iter().any(|d| match d.strip_suffix('*') {
            Some(prefix) => key.as_bytes().get(..prefix.len()).is_some_and(|h| h.eq_ignore_ascii_case(prefix.as_bytes())),
            None => key.eq_ignore_ascii_case(d),
        });
        prop_assert_eq!(super::DenyList::new(&deny).denies(&key), one_by_one);
    }
    }
}
