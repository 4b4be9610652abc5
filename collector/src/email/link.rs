//! The signed tracking-link codec and the destination rule.
//!
//! A link's signed part is `<b64(payload)>.<b64(HMAC-SHA256)>` made by
//! [`TokenKey::sign_bytes`] with the key derived for purpose `"link"`, so a
//! consent token can never pass for a link or the other way round. The
//! payload is compact binary, not JSON, to keep email URLs short:
//!
//! ```text
//! byte 0      version (1)
//! byte 1      flags: bit 0 = an expiry follows
//! [4 bytes]   expiry, Unix seconds, big endian (only with flag bit 0)
//! 1 + n       site id      (length byte, then bytes)
//! 1 + n       lead id
//! 1 + n       message id
//! rest        destination URL (UTF-8, normalized by the `url` crate)
//! ```
//!
//! The payload is authenticated, not encrypted: anyone holding the link can
//! read the site, lead and message ids and the destination. Lead ids are
//! therefore opaque CRM ids, never email addresses (`@` is refused).
//!
//! Destinations must be `http`/`https` URLs on one of the site's configured
//! `hosts`; [`check_destination`] is applied when a link is signed and again
//! whenever it is clicked or its pixel loads, so removing a host (or a site)
//! from the configuration disables its links.
use crate::config::SiteConfig;
use crate::consent::token::{TokenKey, MAX_TOKEN_LEN};
use url::Url;

/// Payload format version.
const VERSION: u8 = 1;
/// Flag: an expiry follows the flags byte.
const FLAG_EXPIRES: u8 = 1;
/// Longest site, lead or message id.
pub const MAX_ID_LEN: usize = 128;

/// What a tracking link carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkClaims {
    /// Site id (a configured site).
    pub site: String,
    /// The site owner's id of the email recipient (opaque CRM id).
    pub lead: String,
    /// The email (campaign) id.
    pub message: String,
    /// Destination URL, normalized.
    pub url: String,
    /// Expiry, Unix seconds; `None` for a link that does not expire.
    pub expires: Option<u32>,
}

/// Why a link could not be made or was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not a link, or its signature does not match (tampered, unsigned, other key).
    #[error("the link is malformed or its signature is wrong")]
    Invalid,
    /// The link's expiry has passed.
    #[error("the link expired")]
    Expired,
    /// The site is not configured.
    #[error("unknown site {0:?}")]
    UnknownSite(String),
    /// A site, lead or message id is empty, too long or has forbidden characters.
    #[error("{field} must be 1 to {MAX_ID_LEN} characters of {allowed}")]
    BadId {
        /// Which field.
        field: &'static str,
        /// The allowed characters.
        allowed: &'static str,
    },
    /// The destination is not an absolute http(s) URL without credentials.
    #[error("destination {0}")]
    BadUrl(String),
    /// The destination's host is not one of the site's `hosts`.
    #[error("destination host {host:?} is not one of site {site:?}'s hosts {allowed:?}")]
    ForeignHost {
        /// The site.
        site: String,
        /// The destination's host.
        host: String,
        /// The configured hosts.
        allowed: Vec<String>,
    },
    /// The expiry asked for is not in the future.
    #[error("expires ({0}) is not in the future")]
    ExpiryInPast(u64),
    /// The expiry asked for is past what a link can carry (2106).
    #[error("expires ({0}) is later than 4294967295 (2106)")]
    ExpiryTooLate(u64),
    /// Everything together does not fit in one link.
    #[error("site, lead, message and destination together are too long for a link ({0} characters, at most {MAX_TOKEN_LEN})")]
    TooLong(usize),
}

/// Site and message ids: `[A-Za-z0-9_.-]`, 1 to 128 characters.
pub fn is_plain_id(s: &str) -> bool {
    ktra_schema::validate::is_token_id(s)
}

/// Lead ids: like [`is_plain_id`] and `:` (for `sha256:<hex>` keys).
pub fn is_lead_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ID_LEN
        && s.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b':'))
}

fn check_ids(site: &str, lead: &str, message: &str) -> Result<(), LinkError> {
    const PLAIN: &str = "[A-Za-z0-9_.-]";
    if !is_plain_id(site) {
        return Err(LinkError::BadId { field: "site", allowed: PLAIN });
    }
    if !is_lead_id(lead) {
        return Err(LinkError::BadId {
            field: "lead",
            allowed: "[A-Za-z0-9_.:-] (an opaque id, never an email address)",
        });
    }
    if !is_plain_id(message) {
        return Err(LinkError::BadId { field: "message", allowed: PLAIN });
    }
    Ok(())
}

/// Normalizes a configured host entry: lowercase, no scheme, no trailing
/// `/` or `.`. Entries may be `host`, `host:port` or `*.domain`.
fn normalize_host_entry(entry: &str) -> String {
    let e = entry.trim().to_ascii_lowercase();
    let e = e.strip_prefix("https://").or_else(|| e.strip_prefix("http://")).unwrap_or(&e);
    e.trim_end_matches('/').trim_end_matches('.').to_string()
}

/// Whether `url`'s host is one of `hosts`: `shop.example` matches that host
/// on any port, `shop.example:8443` only that port, `*.shop.example` any
/// subdomain (not the bare domain).
pub fn host_allowed(hosts: &[String], url: &Url) -> bool {
    let Some(host) = url.host_str() else { return false };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let with_port = url.port_or_known_default().map(|p| format!("{host}:{p}"));
    hosts.iter().map(|h| normalize_host_entry(h)).any(|h| {
        if let Some(domain) = h.strip_prefix("*.") {
            host.ends_with(&format!(".{domain}"))
        } else {
            h == host || with_port.as_deref() == Some(h.as_str())
        }
    })
}

/// Parses a destination and checks it against the site: an absolute
/// `http`/`https` URL without user name or password, on one of the site's
/// hosts. Returns the normalized URL.
pub fn check_destination(site_id: &str, site: &SiteConfig, raw: &str) -> Result<Url, LinkError> {
    let url = Url::parse(raw.trim()).map_err(|e| LinkError::BadUrl(format!("is not an absolute URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(LinkError::BadUrl(format!("must be http or https, not {:?}", url.scheme())));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(LinkError::BadUrl("must not contain a user name or password".into()));
    }
    if !host_allowed(&site.hosts, &url) {
        return Err(LinkError::ForeignHost {
            site: site_id.to_string(),
            host: url.host_str().unwrap_or("").to_string(),
            allowed: site.hosts.clone(),
        });
    }
    Ok(url)
}

/// Encodes claims as the binary payload. Ids are checked, so every encoded
/// payload decodes.
pub fn encode(c: &LinkClaims) -> Result<Vec<u8>, LinkError> {
    check_ids(&c.site, &c.lead, &c.message)?;
    let mut out = Vec::with_capacity(2 + 4 + 3 + c.site.len() + c.lead.len() + c.message.len() + c.url.len());
    out.push(VERSION);
    match c.expires {
        Some(e) => {
            out.push(FLAG_EXPIRES);
            out.extend_from_slice(&e.to_be_bytes());
        }
        None => out.push(0),
    }
    for s in [&c.site, &c.lead, &c.message] {
        // check_ids bounds each id to 128 bytes.
        out.push(u8::try_from(s.len()).map_err(|_| LinkError::Invalid)?);
        out.extend_from_slice(s.as_bytes());
    }
    out.extend_from_slice(c.url.as_bytes());
    Ok(out)
}

/// Decodes a payload. Anything but a well-formed v1 payload is [`LinkError::Invalid`].
pub fn decode(p: &[u8]) -> Result<LinkClaims, LinkError> {
    let (&version, rest) = p.split_first().ok_or(LinkError::Invalid)?;
    let (&flags, mut rest) = rest.split_first().ok_or(LinkError::Invalid)?;
    if version != VERSION || flags & !FLAG_EXPIRES != 0 {
        return Err(LinkError::Invalid);
    }
    let expires = if flags & FLAG_EXPIRES != 0 {
        let (e, r) = rest.split_first_chunk::<4>().ok_or(LinkError::Invalid)?;
        rest = r;
        Some(u32::from_be_bytes(*e))
    } else {
        None
    };
    let mut field = || -> Result<String, LinkError> {
        let (&len, r) = rest.split_first().ok_or(LinkError::Invalid)?;
        let len = usize::from(len);
        if r.len() < len {
            return Err(LinkError::Invalid);
        }
        let (s, r) = r.split_at(len);
        rest = r;
        String::from_utf8(s.to_vec()).map_err(|_| LinkError::Invalid)
    };
    let site = field()?;
    let lead = field()?;
    let message = field()?;
    let url = String::from_utf8(rest.to_vec()).map_err(|_| LinkError::Invalid)?;
    check_ids(&site, &lead, &message).map_err(|_| LinkError::Invalid)?;
    if url.is_empty() {
        return Err(LinkError::Invalid);
    }
    Ok(LinkClaims { site, lead, message, url, expires })
}

/// Signs claims into the URL-safe string that follows `/c/` and `/o/`.
pub fn sign(key: &TokenKey, c: &LinkClaims) -> Result<String, LinkError> {
    let signed = key.sign_bytes(&encode(c)?);
    if signed.len() > MAX_TOKEN_LEN {
        return Err(LinkError::TooLong(signed.len()));
    }
    Ok(signed)
}

/// Verifies the signature and decodes the claims; then checks the expiry
/// against `now` (Unix seconds). Site and destination are the caller's checks.
pub fn verify(key: &TokenKey, signed: &str, now: u64) -> Result<LinkClaims, LinkError> {
    let payload = key.verify_bytes(signed).map_err(|_| LinkError::Invalid)?;
    let claims = decode(&payload)?;
    if claims.expires.is_some_and(|e| u64::from(e) <= now) {
        return Err(LinkError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine;
    use proptest::prelude::*;

    fn key() -> TokenKey {
        TokenKey::derive(b"secret-0123456789abcdef-0123456789", "link")
    }

    fn claims() -> LinkClaims {
        LinkClaims {
            site: "demo".into(),
            lead: "crm-42".into(),
            message: "spring-2025".into(),
            url: "https://shop.example/sale?a=1&b=x%20y#buy".into(),
            expires: Some(2_000_000_000),
        }
    }

    fn site(hosts: &[&str]) -> SiteConfig {
        SiteConfig { hosts: hosts.iter().map(|h| h.to_string()).collect(), ..Default::default() }
    }

    #[test]
    fn round_trip_is_compact_and_url_safe() {
        let s = sign(&key(), &claims()).unwrap();
        assert_eq!(verify(&key(), &s, 1_900_000_000).unwrap(), claims());
        assert!(s.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.')), "{s}");
        // 6 + (1 + 4) + (1 + 6) + (1 + 11) + 41 = 71 payload bytes → 95 characters, '.', a 43-character MAC.
        assert_eq!(s.len(), 95 + 1 + 43, "{s}");
    }

    #[test]
    fn expired_links_are_refused_after_but_not_before() {
        let s = sign(&key(), &claims()).unwrap();
        assert!(verify(&key(), &s, 1_999_999_999).is_ok());
        assert_eq!(verify(&key(), &s, 2_000_000_000), Err(LinkError::Expired));
        let forever = sign(&key(), &LinkClaims { expires: None, ..claims() }).unwrap();
        assert!(verify(&key(), &forever, u64::MAX).is_ok());
    }

    #[test]
    fn other_secret_consent_key_and_unsigned_payload_are_refused() {
        let s = sign(&key(), &claims()).unwrap();
        assert_eq!(
            verify(&TokenKey::derive(b"other-secret-0123456789abcdef-0123", "link"), &s, 0),
            Err(LinkError::Invalid)
        );
        assert_eq!(
            verify(&TokenKey::derive(b"secret-0123456789abcdef-0123456789", "consent"), &s, 0),
            Err(LinkError::Invalid)
        );
        let unsigned = B64.encode(encode(&claims()).unwrap());
        assert_eq!(verify(&key(), &unsigned, 0), Err(LinkError::Invalid));
        assert_eq!(verify(&key(), &format!("{unsigned}."), 0), Err(LinkError::Invalid));
    }

    #[test]
    fn ids_with_forbidden_characters_and_email_leads_are_refused() {
        for (field, c) in [
            ("lead", LinkClaims { lead: "ada@example.com".into(), ..claims() }),
            ("lead", LinkClaims { lead: String::new(), ..claims() }),
            ("site", LinkClaims { site: "a/b".into(), ..claims() }),
            ("message", LinkClaims { message: "x".repeat(129), ..claims() }),
        ] {
            assert!(matches!(encode(&c), Err(LinkError::BadId { field: f, .. }) if f == field), "{c:?}");
        }
        assert!(encode(&LinkClaims { lead: "sha256:00ff".into(), ..claims() }).is_ok());
    }

    #[test]
    fn too_long_links_are_refused_at_signing() {
        let c = LinkClaims { url: format!("https://shop.example/{}", "a".repeat(800)), ..claims() };
        assert!(matches!(sign(&key(), &c), Err(LinkError::TooLong(_))));
    }

    #[test]
    fn destinations_must_be_http_on_the_sites_hosts() {
        let s = site(&["shop.example", "*.cdn.example", "127.0.0.1:8081"]);
        for ok in [
            "https://shop.example/x?y=1#z",
            "http://SHOP.example./",
            "https://shop.example:8443/",
            "https://a.cdn.example/",
            "http://127.0.0.1:8081/p",
        ] {
            assert!(check_destination("demo", &s, ok).is_ok(), "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "data:text/html,x",
            "ftp://shop.example/",
            "//shop.example/",
            "/relative",
            "https://evil.example/",
            "https://shop.example.evil.example/",
            "https://evilshop.example/",
            "https://shop.example@evil.example/",
            "https://user:pw@shop.example/",
            "https://cdn.example/",
            "http://127.0.0.1:9999/",
            "https://shop.example%2eevil.example/",
        ] {
            assert!(check_destination("demo", &s, bad).is_err(), "{bad}");
        }
        assert!(check_destination("demo", &site(&[]), "https://shop.example/").is_err(), "no hosts, no links");
    }

    fn id() -> impl Strategy<Value = String> {
        "[A-Za-z0-9_.-]{1,40}"
    }

    proptest! {
        #[test]
        fn any_claims_round_trip(
            site in id(), lead in "[A-Za-z0-9_.:-]{1,128}", message in id(),
            path in "[a-z0-9/._~-]{0,60}", query in "[a-z0-9=&%+]{0,40}",
            expires in any::<Option<u32>>(),
        ) {
            let url = Url::parse(&format!("https://shop.example/{path}?{query}#f")).unwrap().to_string();
            let c = LinkClaims { site, lead, message, url, expires };
            let s = sign(&key(), &c).unwrap();
            prop_assert_eq!(verify(&key(), &s, 0).unwrap(), c);
        }

        #[test]
        fn any_tampering_is_refused(pos in 0usize..400, byte in any::<u8>()) {
            let s = sign(&key(), &claims()).unwrap();
            let mut b = s.clone().into_bytes();
            let i = pos % b.len();
            prop_assume!(b[i] != byte);
            b[i] = byte;
            if let Ok(t) = String::from_utf8(b) {
                prop_assert_eq!(verify(&key(), &t, 0), Err(LinkError::Invalid), "accepted tampered link {}", t);
            }
        }

        #[test]
        fn truncated_or_extended_links_are_refused(cut in 0usize..200, extra in "[A-Za-z0-9_.-]{1,8}") {
            let s = sign(&key(), &claims()).unwrap();
            let cut = cut % s.len();
            prop_assert!(verify(&key(), &s[..cut], 0).is_err());
            let longer = format!("{s}{extra}");
            prop_assert!(verify(&key(), &longer, 0).is_err());
        }

        #[test]
        fn garbage_never_panics(s in ".{0,1200}") {
            let _ = verify(&key(), &s, 0);
        }

        #[test]
        fn any_signed_payload_decodes_or_is_refused_without_panic(p in proptest::collection::vec(any::<u8>(), 0..300)) {
            // Even bytes carrying a valid signature (a leaked key) must not panic the decoder.
            let s = key().sign_bytes(&p);
            let _ = verify(&key(), &s, 0);
            let _ = decode(&p);
        }
    }
}
