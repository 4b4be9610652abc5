//! URL handling without a URL parser: query parameters, the session's
//! campaign (UTMs and ad click ids), the `ktra_ec` email click id, page
//! identity for SPA navigations, and host comparison for outbound links.
use alloc::string::String;
use alloc::vec::Vec;

/// URL parameters kept as the session's campaign, in `Utm` field order.
pub const CAMPAIGN_PARAMS: [&str; 8] =
    ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "gclid", "fbclid", "msclkid"];
/// The JSON names of the same fields in the batch's `utm` object.
pub const UTM_FIELDS: [&str; 8] = ["source", "medium", "campaign", "term", "content", "gclid", "fbclid", "msclkid"];
/// The email click id parameter added by the collector's link redirect.
pub const EMAIL_CLICK_PARAM: &str = "ktra_ec";

/// The query string of `url` (between `?` and `#`), without the `?`.
pub fn query(url: &str) -> &str {
    let no_frag = url.split('#').next().unwrap_or("");
    match no_frag.find('?') {
        Some(i) => no_frag.get(i + 1..).unwrap_or(""),
        None => "",
    }
}

/// Splits a query string into raw (still encoded) `(key, value)` pairs.
pub fn pairs(q: &str) -> impl Iterator<Item = (&str, &str)> {
    q.split('&').filter(|p| !p.is_empty()).map(|p| match p.find('=') {
        Some(i) => (p.get(..i).unwrap_or(""), p.get(i + 1..).unwrap_or("")),
        None => (p, ""),
    })
}

fn unhex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes `application/x-www-form-urlencoded` text (`+` is a space, `%XX`
/// a byte); invalid UTF-8 becomes U+FFFD.
pub fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'+' {
            out.push(b' ');
        } else if c == b'%' && i + 2 < b.len() {
            match (unhex(b[i + 1]), unhex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(c),
            }
        } else {
            out.push(c);
        }
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Percent-encodes everything but `A-Za-z0-9-_.~`.
pub fn encode(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
        }
    }
}

/// What a landing URL says about where the visit came from.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Attrs {
    /// Decoded values of [`CAMPAIGN_PARAMS`]; empty means absent.
    pub campaign: [String; 8],
    /// Email click id (`ktra_ec`); empty means none.
    pub ec: String,
}

impl Attrs {
    /// Reads the campaign and email click id from a query string. The first
    /// non-empty occurrence of each parameter wins. An email click id that
    /// the collector would not accept is ignored.
    pub fn from_query(q: &str) -> Attrs {
        let mut a = Attrs::default();
        for (k, v) in pairs(q) {
            let k = decode(k);
            let slot = if k == EMAIL_CLICK_PARAM {
                &mut a.ec
            } else if let Some(i) = CAMPAIGN_PARAMS.iter().position(|p| *p == k) {
                &mut a.campaign[i]
            } else {
                continue;
            };
            if slot.is_empty() {
                let v = decode(v);
                *slot = String::from(crate::json::cut(v.trim(), crate::wire::MAX_TEXT_LEN));
            }
        }
        if !crate::ids::is_token_id(&a.ec) {
            a.ec.clear();
        }
        a
    }

    /// Whether the URL carried no campaign parameter at all.
    pub fn no_campaign(&self) -> bool {
        self.campaign.iter().all(String::is_empty)
    }

    /// The batch's `utm` object, or `None` when the session has no campaign.
    pub fn utm_json(&self) -> Option<String> {
        if self.no_campaign() {
            return None;
        }
        let mut o = crate::json::Obj::new();
        for (name, v) in UTM_FIELDS.iter().zip(&self.campaign) {
            o.opt(name, v, crate::wire::MAX_TEXT_LEN);
        }
        Some(o.finish())
    }
}

/// `url` without the `name` query parameter (every occurrence), keeping the
/// other parameters in order and the fragment. `None` when it was absent.
pub fn without_param(url: &str, name: &str) -> Option<String> {
    let (head, frag) = match url.find('#') {
        Some(i) => (url.get(..i)?, url.get(i..)?),
        None => (url, ""),
    };
    let qi = head.find('?')?;
    let base = head.get(..qi)?;
    let mut kept = String::new();
    let mut removed = false;
    for p in head.get(qi + 1..)?.split('&') {
        let key = p.split('=').next().unwrap_or("");
        if decode(key) == name {
            removed = true;
            continue;
        }
        if !p.is_empty() {
            if !kept.is_empty() {
                kept.push('&');
            }
            kept.push_str(p);
        }
    }
    if !removed {
        return None;
    }
    let mut out = String::from(base);
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept);
    }
    out.push_str(frag);
    Some(out)
}

/// The part of a URL that names a page: without the fragment, unless the
/// fragment is a hash route (`#/…` or `#!…`). Two URLs with the same key are
/// the same page (no second `page_view`).
pub fn page_key(url: &str) -> &str {
    match url.find('#') {
        Some(i) => {
            let frag = url.get(i..).unwrap_or("");
            if frag.starts_with("#/") || frag.starts_with("#!") {
                url
            } else {
                url.get(..i).unwrap_or(url)
            }
        }
        None => url,
    }
}

/// The lower-case host name of an `http(s)` URL, without port, credentials
/// or a leading `www.`; `None` for other schemes.
pub fn http_host(url: &str) -> Option<String> {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        url.get(8..)?
    } else if lower.starts_with("http://") {
        url.get(7..)?
    } else {
        return None;
    };
    let auth = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = auth.rsplit('@').next().unwrap_or("");
    let host = if host_port.starts_with('[') {
        host_port.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    let host = host.to_ascii_lowercase();
    let host = host.strip_prefix("www.").map(String::from).unwrap_or(host);
    if host.is_empty() {
        None
    } else {
        Some(host)
    }
}

/// Whether a link to `href` leaves the site whose page is `page_url`: an
/// `http(s)` link to another host (`www.` aside).
pub fn is_outbound(href: &str, page_url: &str) -> bool {
    match (http_host(href), http_host(page_url)) {
        (Some(a), Some(b)) => a != b,
        (Some(_), None) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utms_and_click_ids() {
        let a = Attrs::from_query(query(
            "https://shop.example/p?utm_source=news%20letter&utm_medium=email&x=1&utm_campaign=spring+sale&gclid=G1&fbclid=F.2&msclkid=M3&utm_term=t&utm_content=c#frag?utm_source=no",
        ));
        assert_eq!(a.campaign[0], "news letter");
        assert_eq!(a.campaign[1], "email");
        assert_eq!(a.campaign[2], "spring sale");
        assert_eq!(a.campaign[3], "t");
        assert_eq!(a.campaign[4], "c");
        assert_eq!(a.campaign[5], "G1");
        assert_eq!(a.campaign[6], "F.2");
        assert_eq!(a.campaign[7], "M3");
        assert!(a.ec.is_empty());
        assert_eq!(
            a.utm_json().unwrap(),
            r#"{"source":"news letter","medium":"email","campaign":"spring sale","term":"t","content":"c","gclid":"G1","fbclid":"F.2","msclkid":"M3"}"#
        );
    }

    #[test]
    fn no_campaign_no_utm_object() {
        let a = Attrs::from_query(query("https://shop.example/?q=shoes"));
        assert!(a.no_campaign());
        assert_eq!(a.utm_json(), None);
        assert_eq!(Attrs::from_query(""), Attrs::default());
    }

    #[test]
    fn first_non_empty_value_wins_and_utf8_decodes() {
        let a = Attrs::from_query("utm_source=&utm_source=%C3%A9t%C3%A9&utm_source=later&utm_medium=%ZZ%");
        assert_eq!(a.campaign[0], "été");
        assert_eq!(a.campaign[1], "%ZZ%");
        let bad = Attrs::from_query("utm_source=%FF");
        assert_eq!(bad.campaign[0], "\u{fffd}");
    }

    #[test]
    fn email_click_id_is_read_and_checked() {
        assert_eq!(Attrs::from_query("ktra_ec=abc_123.x-y").ec, "abc_123.x-y");
        assert_eq!(Attrs::from_query("ktra_ec=bad%20id").ec, "");
    }

    #[test]
    fn removing_ktra_ec_keeps_the_rest() {
        assert_eq!(
            without_param("https://s.example/a?x=1&ktra_ec=E1&utm_source=n#top", "ktra_ec").as_deref(),
            Some("https://s.example/a?x=1&utm_source=n#top")
        );
        assert_eq!(without_param("https://s.example/a?ktra_ec=E1", "ktra_ec").as_deref(), Some("https://s.example/a"));
        assert_eq!(without_param("https://s.example/a?ktra_ec=E1#f?g=1", "ktra_ec").as_deref(), Some("https://s.example/a#f?g=1"));
        assert_eq!(without_param("https://s.example/a?ktra_ec=1&ktra_ec=2&b=", "ktra_ec").as_deref(), Some("https://s.example/a?b="));
        assert_eq!(without_param("https://s.example/a?x=1#ktra_ec=E1", "ktra_ec"), None);
        assert_eq!(without_param("https://s.example/a?xktra_ec=1", "ktra_ec"), None);
    }

    #[test]
    fn page_identity_ignores_anchors_but_not_hash_routes() {
        assert_eq!(page_key("https://s.example/a?x=1#section"), "https://s.example/a?x=1");
        assert_eq!(page_key("https://s.example/#/cart"), "https://s.example/#/cart");
        assert_eq!(page_key("https://s.example/#!/cart"), "https://s.example/#!/cart");
        assert_eq!(page_key("https://s.example/a"), "https://s.example/a");
    }

    #[test]
    fn outbound_links() {
        let page = "https://shop.example/cart";
        assert!(is_outbound("https://other.example/x", page));
        assert!(is_outbound("http://user:pw@OTHER.example:8080/x", page));
        assert!(!is_outbound("https://www.shop.example/x", page));
        assert!(!is_outbound("HTTPS://Shop.Example:443/x?y#z", page));
        assert!(!is_outbound("mailto:a@b.example", page));
        assert!(!is_outbound("javascript:void(0)", page));
        assert!(!is_outbound("/relative", page));
        assert!(is_outbound("https://[::1]:8080/", page));
        assert_eq!(http_host("https://[::1]:8080/").as_deref(), Some("[::1"));
    }

    #[test]
    fn encode_decode_round_trip() {
        for s in ["a b&c=d", "été/?#%+", "", "plain-_.~"] {
            let mut e = String::new();
            encode(s, &mut e);
            assert!(!e.contains(['&', '=', ' ', '#']));
            assert_eq!(decode(&e), s);
        }
    }
}
