//! Host, path and query parameters of page and referrer URLs.
use url::Url;

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

/// The value of query parameter `name` in `raw`, if present and non-empty.
pub fn query_param(raw: &str, name: &str) -> Option<String> {
    let u = Url::parse(raw).ok()?;
    let v = u.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    v.filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts() {
        assert_eq!(host_and_path("https://Shop.Example/a/b?x=1#f"), ("shop.example".into(), "/a/b".into()));
        assert_eq!(host_and_path("not a url"), (String::new(), String::new()));
        assert_eq!(bare_host("https://www.google.com/search?q=x"), "google.com");
        assert_eq!(query_param("https://x/?utm_source=news&a=", "utm_source").as_deref(), Some("news"));
        assert_eq!(query_param("https://x/?a=", "a"), None);
    }
}
