//! Email tracking links: a click URL `/c/{signed}` that records the click
//! and redirects to the site with `ktra_ec=<click id>`, and an open pixel
//! `/o/{signed}.gif`.
//!
//! - [`link`]: the signed-link codec (site, lead, message, destination,
//!   optional expiry, HMAC with the `"link"` key) and the destination rule;
//! - [`proxy`]: mail proxies, prefetchers and link scanners;
//! - [`handler`]: `GET /c/…`, `GET /o/…` and `POST /v1/admin/links`;
//! - [`leads`]: which leads consented, for `email_tracking`.
//!
//! [`sign_link`] is shared by the admin endpoint and `ktra-collector sign-link`.
//!
//! Nothing here sets a cookie or stores an address: a click is tied to a web
//! session only if the visitor then consents and the pixel reports
//! `ktra_ec` (events' `email_click_id`); the analyst's queries join the two.
pub mod handler;
pub mod leads;
pub mod link;
pub mod proxy;

use crate::config::Config;
use crate::consent::token::TokenKey;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use link::{LinkClaims, LinkError};
use serde::{Deserialize, Serialize};

/// Query parameter added to the destination of a click.
pub const CLICK_PARAM: &str = ktra_schema::facts::names::EMAIL_CLICK_PARAM;

/// Tracking-link requests, by `kind` (`click`, `open`) and `outcome`
/// (`recorded`, `anonymous`, `head`, `bot_dropped`, `rate_limited`, `queue_full`, `invalid`, `expired`,
/// `unknown_site`, `foreign_destination`).
pub const LINK_REQUESTS: &str = "ktra_email_link_requests_total";

/// What to sign (the admin endpoint's JSON body, the CLI's flags).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// Site id.
    pub site: String,
    /// Lead id: the site owner's opaque id of the recipient.
    pub lead: String,
    /// Message (campaign) id.
    pub message: String,
    /// Destination URL on one of the site's hosts.
    pub url: String,
    /// Optional expiry, Unix seconds.
    #[serde(default)]
    pub expires: Option<u64>,
}

/// The two URLs of a signed link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedLinks {
    /// `{base}/c/{signed}`: put this in the email instead of the destination.
    pub click_url: String,
    /// `{base}/o/{signed}.gif`: the open pixel (`<img width=1 height=1>`).
    pub open_url: String,
}

/// Checks a request against the configuration (site, ids, destination on the
/// site's hosts, expiry in the future) and signs it. `base` is the collector's
/// public URL (scheme, host and any path prefix, no trailing `/`).
pub fn sign_link(
    key: &TokenKey,
    config: &Config,
    req: &LinkRequest,
    base: &str,
    now: u64,
) -> Result<SignedLinks, LinkError> {
    let site =
        config.sites.get(&req.site).ok_or_else(|| LinkError::UnknownSite(req.site.chars().take(64).collect()))?;
    let url = link::check_destination(&req.site, site, &req.url)?;
    let expires = match req.expires {
        None => None,
        Some(e) if e <= now => return Err(LinkError::ExpiryInPast(e)),
        Some(e) => Some(u32::try_from(e).map_err(|_| LinkError::ExpiryTooLate(e))?),
    };
    let claims = LinkClaims {
        site: req.site.clone(),
        lead: req.lead.clone(),
        message: req.message.clone(),
        url: url.to_string(),
        expires,
    };
    let signed = link::sign(key, &claims)?;
    // A site with a tracking domain gets its links there (first party to its emails' readers).
    let tracking = crate::tracking::base_url(site);
    let base = tracking.as_deref().unwrap_or(base).trim_end_matches('/');
    Ok(SignedLinks { click_url: format!("{base}/c/{signed}"), open_url: format!("{base}/o/{signed}.gif") })
}

/// A new random URL-safe id (128 bits, 22 characters of `[A-Za-z0-9_-]`).
pub fn new_id() -> String {
    B64.encode(rand::random::<[u8; 16]>())
}

/// Current Unix time in seconds.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SiteConfig;

    fn config() -> Config {
        let mut c = Config::default();
        c.sites.insert("demo".into(), SiteConfig { hosts: vec!["shop.example".into()], ..Default::default() });
        c
    }

    fn req() -> LinkRequest {
        LinkRequest {
            site: "demo".into(),
            lead: "L1".into(),
            message: "m1".into(),
            url: "https://shop.example/a?b=1#c".into(),
            expires: None,
        }
    }

    #[test]
    fn signs_click_and_open_urls_that_verify() {
        let key = TokenKey::derive(b"s", "link");
        let out = sign_link(&key, &config(), &req(), "https://t.example/", 1000).unwrap();
        let signed = out.click_url.strip_prefix("https://t.example/c/").unwrap();
        assert_eq!(out.open_url, format!("https://t.example/o/{signed}.gif"));
        let c = link::verify(&key, signed, 1000).unwrap();
        assert_eq!(
            (c.site.as_str(), c.lead.as_str(), c.message.as_str(), c.url.as_str()),
            ("demo", "L1", "m1", "https://shop.example/a?b=1#c")
        );
    }

    #[test]
    fn refuses_unknown_sites_foreign_hosts_and_past_expiry() {
        let key = TokenKey::derive(b"s", "link");
        let cfg = config();
        let r = |f: fn(&mut LinkRequest)| {
            let mut r = req();
            f(&mut r);
            sign_link(&key, &cfg, &r, "http://x", 1000)
        };
        assert!(matches!(r(|r| r.site = "nope".into()), Err(LinkError::UnknownSite(_))));
        assert!(matches!(r(|r| r.url = "https://evil.example/".into()), Err(LinkError::ForeignHost { .. })));
        assert!(matches!(r(|r| r.url = "javascript:alert(1)".into()), Err(LinkError::BadUrl(_))));
        assert!(matches!(r(|r| r.expires = Some(1000)), Err(LinkError::ExpiryInPast(1000))));
        assert!(r(|r| r.expires = Some(1001)).is_ok());
    }

    #[test]
    fn ids_are_url_safe_and_distinct() {
        let (a, b) = (new_id(), new_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 22);
        assert!(ktra_schema::validate::is_token_id(&a));
    }
}
