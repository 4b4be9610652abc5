//! Shared application state, cheap to clone (one `Arc`).
use crate::config::{Config, SiteConfig};
use crate::consent::revocations::Revocations;
use crate::consent::token::TokenKey;
use crate::enrich::GeoIp;
use crate::sink::Sink;
use metrics_exporter_prometheus::PrometheusHandle;
use std::collections::HashSet;
use std::sync::Arc;

/// Everything a handler needs.
#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

/// The state behind the `Arc`.
pub struct Inner {
    /// Configuration as loaded.
    pub config: Config,
    /// Union of all sites' origins (for preflights).
    pub all_origins: HashSet<String>,
    /// Queue to the writer.
    pub sink: Sink,
    /// The spool (for readiness).
    pub spool: Arc<crate::sink::spool::Spool>,
    /// GeoIP database.
    pub geo: GeoIp,
    /// Key for consent tokens.
    pub consent_key: TokenKey,
    /// Key for signed email links.
    pub link_key: TokenKey,
    /// Revoked consent ids.
    pub revocations: Arc<Revocations>,
    /// ClickHouse client for reads, erasure and stats.
    pub clickhouse: clickhouse::Client,
    /// Prometheus exposition.
    pub metrics: PrometheusHandle,
    /// Requests per client address.
    pub client_limit: crate::ingest::ratelimit::RateLimiter<std::net::IpAddr>,
    /// Event requests per site.
    pub site_limit: crate::ingest::ratelimit::RateLimiter<String>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Builds the state.
    pub fn new(
        config: Config,
        sink: Sink,
        spool: Arc<crate::sink::spool::Spool>,
        geo: GeoIp,
        clickhouse: clickhouse::Client,
    ) -> Self {
        let all_origins = config.sites.values().flat_map(|s| s.origins.iter().cloned()).collect();
        let secret = config.secret.as_bytes();
        Self(Arc::new(Inner {
            consent_key: TokenKey::derive(secret, "consent"),
            link_key: TokenKey::derive(secret, "link"),
            all_origins,
            sink,
            spool,
            geo,
            revocations: Arc::new(Revocations::default()),
            clickhouse,
            metrics: crate::telemetry::metrics_handle(),
            client_limit: crate::ingest::ratelimit::RateLimiter::new(
                config.limits.per_client_per_sec,
                config.limits.per_client_burst,
            ),
            site_limit: crate::ingest::ratelimit::RateLimiter::new(
                config.limits.per_site_per_sec,
                config.limits.per_site_burst,
            ),
            config,
        }))
    }

    /// A configured site.
    pub fn site(&self, id: &str) -> Option<&SiteConfig> {
        self.config.sites.get(id)
    }

    /// Whether any site allows `origin`.
    pub fn any_site_allows(&self, origin: &str) -> bool {
        self.all_origins.contains(origin)
    }
}

/// Whether `site` allows `origin`. No `Origin` header (server-side senders,
/// curl) is allowed; browsers always send one on cross-origin POSTs.
pub fn origin_allowed(site: &SiteConfig, origin: Option<&str>) -> bool {
    match origin {
        None => true,
        Some(o) => site.origins.iter().any(|a| a == o),
    }
}
