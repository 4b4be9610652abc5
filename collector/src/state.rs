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
    /// Email clicks and opens per client address.
    pub email_limit: crate::ingest::ratelimit::RateLimiter<std::net::IpAddr>,
    /// Failed admin key attempts per client address.
    pub admin_failures: crate::ingest::ratelimit::RateLimiter<std::net::IpAddr>,
    /// Pending and applied erasures.
    pub erasures: Arc<crate::consent::erasure::Erasures>,
    /// Recent consent answers by decision id.
    pub decisions: crate::consent::decisions::Decisions,
    /// Leads with recorded consent (email tracking).
    pub leads: Arc<crate::email::leads::ConsentedLeads>,
    /// Behavioural triggers and their webhook queue.
    pub automations: Arc<crate::automate::Automations>,
    /// Goals and funnels per site (replaced on SIGHUP).
    pub definitions: crate::stats::defs::Definitions,
}

/// What [`AppState::new`] needs besides the configuration.
pub struct Parts {
    /// Queue to the writer.
    pub sink: Sink,
    /// The spool.
    pub spool: Arc<crate::sink::spool::Spool>,
    /// GeoIP database.
    pub geo: GeoIp,
    /// ClickHouse client.
    pub clickhouse: clickhouse::Client,
    /// Revoked consent ids (loaded from their journal).
    pub revocations: Arc<Revocations>,
    /// Erasures (loaded from their journal).
    pub erasures: Arc<crate::consent::erasure::Erasures>,
    /// Behavioural triggers (loaded from their journals).
    pub automations: Arc<crate::automate::Automations>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Builds the state.
    pub fn new(config: Config, parts: Parts) -> Self {
        let Parts { sink, spool, geo, clickhouse, revocations, erasures, automations } = parts;
        let limits = &config.limits;
        let all_origins = config.sites.values().flat_map(|s| s.origins.iter().cloned()).collect();
        let secret = config.secret.as_bytes();
        Self(Arc::new(Inner {
            consent_key: TokenKey::derive(secret, "consent"),
            link_key: TokenKey::derive(secret, "link"),
            all_origins,
            sink,
            spool,
            geo,
            revocations,
            erasures,
            automations,
            decisions: Default::default(),
            definitions: crate::stats::defs::Definitions::from_config(&config),
            leads: Default::default(),
            email_limit: crate::ingest::ratelimit::RateLimiter::new(
                limits.email_per_client_per_sec,
                limits.email_per_client_burst,
            ),
            admin_failures: crate::ingest::ratelimit::RateLimiter::new(
                limits.admin_failures_per_min / 60.0,
                limits.admin_failures_per_min,
            ),
            clickhouse,
            metrics: crate::telemetry::metrics_handle(),
            client_limit: crate::ingest::ratelimit::RateLimiter::new(
                limits.per_client_per_sec,
                limits.per_client_burst,
            ),
            site_limit: crate::ingest::ratelimit::RateLimiter::new(limits.per_site_per_sec, limits.per_site_burst),
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
