//! URLs: the `ktra_ec` email click id, and page identity for SPA
//! navigations. (The landing's campaign is `Host::campaign`; taking
//! `ktra_ec` out of the address bar `Host::strip_param`; which links leave
//! the site the page tells with its `PageEvent::Click`.)
#[cfg(all(test, not(target_arch = "wasm32")))]
use crate::{json::Obj, wire::MAX_CAMPAIGN_LEN};
use alloc::string::String;

/// The email click id parameter added by the collector's link redirect.
pub const EMAIL_CLICK_PARAM: &str = ktra_facts::names::EMAIL_CLICK_PARAM;

/// The batch's `utm` object for a landing URL whose (decoded, trimmed) parameters
/// `param` returns; empty when the URL has none of the campaign parameters
/// (`ktra_facts::campaign`): what `Host::campaign` gives, for the native
/// tests' simulated page.
#[cfg(all(test, not(target_arch = "wasm32")))]
pub fn utm_json(mut param: impl FnMut(&str) -> Option<String>) -> String {
    let mut o = Obj::new();
    let mut any = false;
    for (p, field) in ktra_facts::campaign::PARAMS {
        let v = param(p).unwrap_or_default();
        let v = v.trim(); // as the host trims
        if !v.is_empty() && v.len() <= MAX_CAMPAIGN_LEN {
            o.str(field, v, usize::MAX);
            any = true;
        }
    }
    if any {
        o.finish()
    } else {
        String::new()
    }
}

/// The email click id in `v`, if the collector would accept it.
pub fn email_click_id(v: Option<String>) -> String {
    v.filter(|s| crate::ids::is_token_id(s)).unwrap_or_default()
}

/// Index of the first `b` in `s`.
pub fn find(s: &str, b: u8) -> Option<usize> {
    // A plain loop: `position` unrolls to a few hundred bytes of wasm.
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// `s` split at the first `b` (which goes with neither part).
pub fn split1(s: &str, b: u8) -> Option<(&str, &str)> {
    let i = find(s, b)?;
    Some((s.get(..i)?, s.get(i + 1..)?))
}

/// The part of a URL that names a page: without the fragment, unless the
/// fragment is a hash route (`#/…` or `#!…`). Two URLs with the same key are
/// the same page (no second `page_view`).
pub fn page_key(url: &str) -> &str {
    match split1(url, b'#') {
        Some((page, frag)) if !matches!(frag.as_bytes().first(), Some(b'/' | b'!')) => page,
        _ => url,
    }
}

/// Test helper: a query string parsed like `URLSearchParams` for ASCII
/// input (`+` is a space, `%XX` a byte), first occurrence wins.
#[cfg(all(test, not(target_arch = "wasm32")))]
pub fn test_param(url: &str) -> impl FnMut(&str) -> Option<String> + '_ {
    let q = url.split('#').next().unwrap_or("").split_once('?').map(|(_, q)| q).unwrap_or("");
    move |name| {
        q.split('&').find_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k == name).then(|| {
                let v = v.replace('+', " ");
                let mut out = Vec::new();
                let b = v.as_bytes();
                let mut i = 0;
                while i < b.len() {
                    if b[i] == b'%' && i + 2 < b.len() {
                        if let Ok(x) = u8::from_str_radix(&v[i + 1..i + 3], 16) {
                            out.push(x);
                            i += 3;
                            continue;
                        }
                    }
                    out.push(b[i]);
                    i += 1;
                }
                String::from_utf8_lossy(&out).into_owned()
            })
        })
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn campaign_becomes_the_utm_object() {
        let url = "https://shop.example/p?utm_source=news%20letter&utm_medium=email&x=1&utm_campaign=spring+sale&gclid=G1&fbclid=F.2&msclkid=M3&utm_term=t&utm_content=%C3%A9t%C3%A9#frag";
        assert_eq!(
            utm_json(test_param(url)),
            r#"{"source":"news letter","medium":"email","campaign":"spring sale","term":"t","content":"été","gclid":"G1","fbclid":"F.2","msclkid":"M3"}"#
        );
        assert_eq!(
            utm_json(test_param("https://s.example/?utm_medium=cpc&utm_source=+g+")),
            r#"{"source":"g","medium":"cpc"}"#
        );
    }

    #[test]
    fn no_campaign_no_utm_object() {
        assert_eq!(utm_json(test_param("https://shop.example/?q=shoes")), "");
        assert_eq!(utm_json(test_param("https://shop.example/?utm_source=")), "");
        assert_eq!(utm_json(test_param("https://shop.example/")), "");
        let long = "x".repeat(MAX_CAMPAIGN_LEN + 1);
        let url = format!("https://s.example/?utm_source={long}&utm_medium=m");
        assert_eq!(utm_json(test_param(&url)), r#"{"medium":"m"}"#, "longer than the collector takes: left out");
    }

    #[test]
    fn utm_object_decodes_as_ktra_schema_utm() {
        let j = utm_json(test_param("https://s.example/?utm_source=a%22b%5Cc&gclid=x"));
        let u: ktra_schema::Utm = serde_json::from_str(&j).unwrap();
        assert_eq!(u.source.as_deref(), Some("a\"b\\c"));
        assert_eq!(u.gclid.as_deref(), Some("x"));
        assert_eq!(u.medium, None);
    }

    #[test]
    fn email_click_id_is_checked() {
        assert_eq!(email_click_id(Some("abc_123.x-y".into())), "abc_123.x-y");
        assert_eq!(email_click_id(Some("bad id".into())), "");
        assert_eq!(email_click_id(None), "");
    }

    #[test]
    fn page_identity_ignores_anchors_but_not_hash_routes() {
        assert_eq!(page_key("https://s.example/a?x=1#section"), "https://s.example/a?x=1");
        assert_eq!(page_key("https://s.example/#/cart"), "https://s.example/#/cart");
        assert_eq!(page_key("https://s.example/#!/cart"), "https://s.example/#!/cart");
        assert_eq!(page_key("https://s.example/a"), "https://s.example/a");
    }
}
