//! Tracking domains: each site served from its owner's own subdomain, under
//! names the owner chooses.
//!
//! ```toml
//! [sites.shop]
//! tracking_domain = "t.shop.example"   # a CNAME to the collector; TLS in [[tls.certs]]
//! path_prefix = "/m"                   # everything under /m/… (default: none)
//! script_name = "site.js"              # the loader as /m/site.js (default ktra.js)
//! server_cookie = true                 # see `cookie`
//! ```
//!
//! [`rewrite`] maps a request for a site's names onto the collector's own
//! before routing: `{prefix}/{script_name}` → `/ktra.js`, `{prefix}/…` →
//! `/…`. The loader finds everything else (config, banner, pixel, `/v1/*`)
//! next to its own URL, so one tag `<script src="https://t.shop.example/m/site.js">`
//! moves the whole site under those names. A rule applies on the site's
//! tracking domain only, or on every host when the site has none. The
//! default names keep working. Signed email links of a site with a
//! tracking domain point to it ([`base_url`]).
use crate::config::{Config, SiteConfig};
use axum::extract::Request;
use axum::http::{header, Uri};
use axum::Router;
use tower::ServiceExt;

pub mod cookie;

/// One site's names.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    /// Lower-case host, or empty for any.
    host: String,
    /// `/m`, or empty.
    prefix: String,
    /// `site.js`.
    script: String,
}

/// The rewrite rules of a configuration.
#[derive(Debug, Clone, Default)]
pub struct Rewrites(Vec<Rule>);

impl Rewrites {
    /// The rules of every site that has a prefix or a script name.
    pub fn new(config: &Config) -> Self {
        let rules = config
            .sites
            .values()
            .filter(|s| !s.path_prefix.is_empty() || !s.script_name.is_empty())
            .map(|s| Rule {
                host: s.tracking_domain.to_ascii_lowercase(),
                prefix: s.path_prefix.trim_end_matches('/').to_string(),
                script: if s.script_name.is_empty() { "ktra.js".into() } else { s.script_name.clone() },
            })
            .collect();
        Self(rules)
    }

    /// The collector's own path for `path` asked of `host`, if a rule maps it.
    pub fn rewrite(&self, host: &str, path: &str) -> Option<String> {
        let host = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host).to_ascii_lowercase();
        for r in self.0.iter().filter(|r| r.host.is_empty() || r.host == host) {
            let Some(rest) = path.strip_prefix(r.prefix.as_str()) else { continue };
            if rest.strip_prefix('/') == Some(r.script.as_str()) {
                return Some("/ktra.js".into());
            }
            if !r.prefix.is_empty() && rest.starts_with('/') {
                return Some(rest.to_string());
            }
        }
        None
    }
}

/// `router` behind the site's rewrites (none configured: `router` itself).
pub fn with_rewrites(router: Router, config: &Config) -> Router {
    let rewrites = Rewrites::new(config);
    if rewrites.0.is_empty() {
        return router;
    }
    let svc = router.map_request(move |mut req: Request| {
        let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("").to_string();
        if let Some(path) = rewrites.rewrite(&host, req.uri().path()) {
            let pq = match req.uri().query() {
                Some(q) => format!("{path}?{q}"),
                None => path,
            };
            let mut parts = req.uri().clone().into_parts();
            if let Ok(pq) = pq.parse() {
                parts.path_and_query = Some(pq);
                if let Ok(uri) = Uri::from_parts(parts) {
                    *req.uri_mut() = uri;
                }
            }
        }
        req
    });
    Router::new().fallback_service(svc)
}

/// Where a site's public endpoints are: `https://{tracking_domain}{path_prefix}`,
/// or `None` without a tracking domain.
pub fn base_url(site: &SiteConfig) -> Option<String> {
    (!site.tracking_domain.is_empty())
        .then(|| format!("https://{}{}", site.tracking_domain, site.path_prefix.trim_end_matches('/')))
}

fn is_hostname(h: &str) -> bool {
    h.len() <= 253
        && h.contains('.')
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Checks a site's `tracking_domain`, `path_prefix` and `script_name`.
pub fn validate_site(site: &SiteConfig) -> Result<(), String> {
    if !site.tracking_domain.is_empty() && !is_hostname(&site.tracking_domain) {
        return Err(format!("tracking_domain {:?} is not a host name", site.tracking_domain));
    }
    let p = &site.path_prefix;
    let segment_ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !p.is_empty() && (!p.starts_with('/') || !p[1..].trim_end_matches('/').split('/').all(segment_ok)) {
        return Err(format!("path_prefix {p:?} must be like \"/m\" (letters, digits, - and _)"));
    }
    let s = &site.script_name;
    if !s.is_empty()
        && (!s.ends_with(".js")
            || s.len() > 64
            || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'))
    {
        return Err(format!("script_name {s:?} must be a file name ending in .js"));
    }
    if site.server_cookie && site.tracking_domain.is_empty() {
        return Err("server_cookie needs a tracking_domain (the cookie is set for its parent domain)".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(sites: &[(&str, &str, &str, &str)]) -> Config {
        let mut c = Config::default();
        for (id, domain, prefix, script) in sites {
            let s = SiteConfig {
                tracking_domain: domain.to_string(),
                path_prefix: prefix.to_string(),
                script_name: script.to_string(),
                ..Default::default()
            };
            validate_site(&s).unwrap();
            c.sites.insert(id.to_string(), s);
        }
        c
    }

    #[test]
    fn names_map_onto_the_collectors_own_on_their_domain_only() {
        let r = Rewrites::new(&config(&[("a", "t.a.example", "/m", "site.js"), ("b", "", "/px", "")]));
        assert_eq!(r.rewrite("t.a.example", "/m/site.js").as_deref(), Some("/ktra.js"));
        assert_eq!(r.rewrite("T.A.example:443", "/m/v1/events").as_deref(), Some("/v1/events"));
        assert_eq!(
            r.rewrite("t.a.example", "/m/pixel/ktra_pixel_bg.wasm").as_deref(),
            Some("/pixel/ktra_pixel_bg.wasm")
        );
        assert_eq!(r.rewrite("other.example", "/m/site.js"), None, "another host");
        assert_eq!(r.rewrite("t.a.example", "/mx/site.js"), None, "a prefix is a whole segment");
        assert_eq!(r.rewrite("t.a.example", "/ktra.js"), None, "the default names stay");
        assert_eq!(r.rewrite("anything", "/px/ktra.js").as_deref(), Some("/ktra.js"), "no domain: any host");
        assert_eq!(r.rewrite("anything", "/px/v1/config/b").as_deref(), Some("/v1/config/b"));
        let root = Rewrites::new(&config(&[("c", "t.c.example", "", "c.js")]));
        assert_eq!(root.rewrite("t.c.example", "/c.js").as_deref(), Some("/ktra.js"));
        assert_eq!(root.rewrite("t.c.example", "/v1/events"), None);
    }

    #[test]
    fn bad_names_are_refused() {
        let bad = |f: &dyn Fn(&mut SiteConfig)| {
            let mut s = SiteConfig::default();
            f(&mut s);
            validate_site(&s).is_err()
        };
        assert!(bad(&|s| s.tracking_domain = "t.shop.example/x".into()));
        assert!(bad(&|s| s.tracking_domain = "localhost".into()));
        assert!(bad(&|s| s.path_prefix = "m".into()));
        assert!(bad(&|s| s.path_prefix = "/m/../x".into()));
        assert!(bad(&|s| s.script_name = "a/b.js".into()));
        assert!(bad(&|s| s.script_name = "x.php".into()));
        assert!(bad(&|s| s.server_cookie = true));
        assert_eq!(
            base_url(&SiteConfig {
                tracking_domain: "t.a.example".into(),
                path_prefix: "/m/".into(),
                ..Default::default()
            })
            .as_deref(),
            Some("https://t.a.example/m")
        );
    }
}
