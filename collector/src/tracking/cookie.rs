//! `server_cookie = true`: the collector on the site's tracking domain sets
//! `ktra_vid` for the parent domain (`t.shop.example` → `shop.example`) in
//! its answer to an event batch that carried a valid grant, so the visitor
//! id outlives browsers' caps on cookies set by script. `Secure`,
//! `SameSite=Lax`, readable by the pixel (not `HttpOnly`), and never longer
//! than the consent (nor 13 months). A withdrawal or refusal answered by
//! `POST /v1/consent` expires it.
//!
//! Browsers store a cookie from a cross-origin answer only for a credentialed
//! request: `sendBeacon`, or `fetch` with `credentials: "include"` (then the
//! answer names the origin and allows credentials, as done here).
use crate::config::SiteConfig;
use axum::http::{header, HeaderMap, HeaderValue};

/// Longest life of `ktra_vid`: 13 months (396 days).
pub const MAX_AGE_SECS: u64 = 396 * 86_400;

/// The domain the cookie is set for: the tracking domain's parent.
pub fn cookie_domain(site: &SiteConfig) -> Option<&str> {
    let (_, parent) = site.tracking_domain.split_once('.')?;
    parent.contains('.').then_some(parent)
}

/// The `Set-Cookie` value for visitor `vid` under a grant expiring at `expires` (Unix s).
pub fn set_vid(site: &SiteConfig, vid: &str, expires: u64, now: u64) -> Option<HeaderValue> {
    if !site.server_cookie || expires <= now || !ktra_schema::validate::is_token_id(vid) {
        return None;
    }
    let domain = cookie_domain(site)?;
    let max_age = (expires - now).min(MAX_AGE_SECS);
    HeaderValue::try_from(format!(
        "ktra_vid={vid}.{now}; Domain={domain}; Path=/; Max-Age={max_age}; Secure; SameSite=Lax"
    ))
    .ok()
}

/// The `Set-Cookie` value that expires `ktra_vid` (a withdrawal or refusal).
pub fn expire_vid(site: &SiteConfig) -> Option<HeaderValue> {
    if !site.server_cookie {
        return None;
    }
    let domain = cookie_domain(site)?;
    HeaderValue::try_from(format!("ktra_vid=; Domain={domain}; Path=/; Max-Age=0; Secure; SameSite=Lax")).ok()
}

/// Adds `cookie` to an answer for `origin`, allowing a credentialed request to store it.
pub fn attach(headers: &mut HeaderMap, cookie: HeaderValue, origin_allowed: bool) {
    headers.append(header::SET_COOKIE, cookie);
    if origin_allowed {
        headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> SiteConfig {
        SiteConfig { tracking_domain: "t.shop.example".into(), server_cookie: true, ..Default::default() }
    }

    #[test]
    fn the_cookie_is_for_the_parent_domain_and_never_outlives_consent() {
        let c = set_vid(&site(), "v1", 1_000 + 3_600, 1_000).unwrap();
        assert_eq!(c, "ktra_vid=v1.1000; Domain=shop.example; Path=/; Max-Age=3600; Secure; SameSite=Lax");
        let long = set_vid(&site(), "v1", 1_000 + 10 * MAX_AGE_SECS, 1_000).unwrap();
        assert!(long.to_str().unwrap().contains(&format!("Max-Age={MAX_AGE_SECS};")));
        assert_eq!(set_vid(&site(), "v1", 999, 1_000), None, "expired consent");
        assert_eq!(set_vid(&site(), "v1;Domain=evil", 5_000, 1_000), None, "no header injection");
        assert_eq!(set_vid(&SiteConfig { server_cookie: false, ..site() }, "v1", 5_000, 1_000), None);
        assert_eq!(set_vid(&SiteConfig { tracking_domain: "example".into(), ..site() }, "v1", 5_000, 1_000), None);
        assert_eq!(
            expire_vid(&site()).unwrap(),
            "ktra_vid=; Domain=shop.example; Path=/; Max-Age=0; Secure; SameSite=Lax"
        );
    }
}
