//! Typed configuration: a TOML file plus `KTRA_*` environment overrides.
//! Every field has a documented default; `collector/ktra.demo.toml` is the
//! committed example.
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use crate::automate::config::{TriggerFilter, WebhookEndpoint, WebhooksConfig};

/// The whole collector configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on (`KTRA_LISTEN`). Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// Secret for consent tokens and signed links (`KTRA_SECRET`), at least 32 bytes.
    pub secret: String,
    /// Bearer key for `/v1/admin/…`, `/v1/stats/…` and the dashboard (`KTRA_ADMIN_KEY`).
    pub admin_key: String,
    /// Directory with the built web assets: `ktra.js`, `banner.*`, `pixel/`, `dashboard/` (`KTRA_ASSETS_DIR`).
    pub assets_dir: Option<PathBuf>,
    /// Take the client address from `X-Forwarded-For` (behind a load balancer only):
    /// the rightmost entry not added by one of our `trusted_proxies`.
    pub trust_proxy: bool,
    /// How many proxies in front of the collector append to `X-Forwarded-For`
    /// (default 1: the load balancer). The client address is the entry that
    /// many places from the right; entries further left are the client's own
    /// claims and are never used.
    pub trusted_proxies: usize,
    /// Where `/metrics` is served without a key (`KTRA_METRICS_LISTEN`), e.g.
    /// `127.0.0.1:9100`. On the public listener `/metrics` needs the admin key.
    pub metrics_listen: Option<SocketAddr>,
    /// Query parameters removed from `url`, `referrer` and link targets before
    /// anything is stored (case-insensitive; a trailing `*` matches a prefix).
    /// Default: tokens, passwords, emails, reset and session keys.
    pub strip_query_params: Vec<String>,
    /// What to do with known bots: `flag` (store with is_bot = 1) or `drop` (count, do not store).
    pub bots: BotPolicy,
    /// ClickHouse connection and batching.
    pub clickhouse: ClickHouseConfig,
    /// The on-disk spool and acknowledgement policy.
    pub spool: SpoolConfig,
    /// Request rate limits.
    pub limits: LimitsConfig,
    /// Enrichment sources.
    pub geoip: GeoIpConfig,
    /// Consent enforcement.
    pub consent: ConsentConfig,
    /// Webhook delivery (behavioural triggers).
    pub webhooks: WebhooksConfig,
    /// Sites, by site id.
    pub sites: BTreeMap<String, SiteConfig>,
    /// TLS termination for tracking domains (`[tls]`, see [`crate::tls`]).
    pub tls: crate::tls::TlsConfig,
    /// The file this configuration was read from (set by [`Config::load`]; SIGHUP re-reads it).
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

/// Known-bot policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BotPolicy {
    /// Store bot traffic with `is_bot = 1`.
    Flag,
    /// Count bot traffic and drop it.
    Drop,
}

/// ClickHouse connection and batch limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickHouseConfig {
    /// HTTP URL (`KTRA_CLICKHOUSE_URL`). Default `http://127.0.0.1:8123`.
    pub url: String,
    /// Database (`KTRA_CLICKHOUSE_DATABASE`). Default `ktra`.
    pub database: String,
    /// User (`KTRA_CLICKHOUSE_USER`). Default `default`.
    pub user: String,
    /// Password (`KTRA_CLICKHOUSE_PASSWORD`). Default empty.
    pub password: String,
    /// Cluster name for `ON CLUSTER` DDL and replicated engines; empty for one server.
    pub cluster: String,
    /// Apply migrations when `serve` starts. Default true.
    pub migrate_on_start: bool,
    /// Flush a batch at this many rows. Default 10 000.
    pub batch_max_rows: usize,
    /// Flush a batch at about this many bytes. Default 8 MiB.
    pub batch_max_bytes: usize,
    /// Flush a non-empty batch after this many milliseconds. Default 1000.
    pub batch_max_ms: u64,
    /// Capacity of the queue between handlers and the writer, in requests. Default 4096.
    pub queue_capacity: usize,
    /// Timeout of one insert, in milliseconds. Default 10 000.
    pub insert_timeout_ms: u64,
}

/// Rate limits (token buckets); a rate of 0 turns a limit off. Exceeding one
/// gets 429 with `Retry-After`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Requests per second per client address (`KTRA_RATE_PER_CLIENT`). Default 50.
    pub per_client_per_sec: f64,
    /// Burst per client address. Default 200.
    pub per_client_burst: f64,
    /// Event requests per second per site; 0 (default) = unlimited.
    pub per_site_per_sec: f64,
    /// Burst per site. Default 10 000.
    pub per_site_burst: f64,
    /// Email link clicks and opens (`/c/`, `/o/`) per second per client address. Default 10.
    pub email_per_client_per_sec: f64,
    /// Burst of email requests per client address. Default 50.
    pub email_per_client_burst: f64,
    /// Most open connections; further ones wait in the kernel's backlog. Default 10 000.
    pub max_connections: usize,
    /// Longest a response may take to be written to a slow reader, in seconds
    /// (the connection is closed after that). Default 30.
    pub write_timeout_secs: u64,
    /// Failed admin key attempts per client address per minute before 429. Default 10.
    pub admin_failures_per_min: f64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            per_client_per_sec: 50.0,
            per_client_burst: 200.0,
            per_site_per_sec: 0.0,
            per_site_burst: 10_000.0,
            email_per_client_per_sec: 10.0,
            email_per_client_burst: 50.0,
            max_connections: 10_000,
            write_timeout_secs: 30,
            admin_failures_per_min: 10.0,
        }
    }
}

/// The spool: where accepted rows wait while ClickHouse is away.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolConfig {
    /// `disk` (default): answer 202 once rows are fsynced to the spool.
    /// `memory`: answer once queued; a crash may lose up to one batch window (`KTRA_DURABILITY`).
    pub durability: crate::sink::Durability,
    /// Directory (`KTRA_SPOOL_DIR`). Default `spool`, relative to the working directory.
    pub dir: PathBuf,
    /// Largest spool size in bytes; when full, requests get 503. Default 1 GiB.
    pub max_bytes: u64,
    /// Segment file size in bytes. Default 16 MiB.
    pub segment_bytes: u64,
    /// Memory mode: most bytes of acknowledged rows held only in memory
    /// (queued or batched); beyond it, or beyond what the spool could still
    /// take, requests get 503. Default 32 MiB.
    pub memory_max_bytes: usize,
    /// On shutdown, keep shipping the spool to ClickHouse for up to this many
    /// seconds; the rest stays on disk for the next start. Default 10.
    pub drain_secs: u64,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        Self {
            durability: crate::sink::Durability::Disk,
            dir: "spool".into(),
            max_bytes: 1 << 30,
            segment_bytes: 16 << 20,
            memory_max_bytes: 32 << 20,
            drain_secs: 10,
        }
    }
}

/// GeoIP database.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeoIpConfig {
    /// Path to a MaxMind-format City or Country `.mmdb` (`KTRA_GEOIP_PATH`); none → empty geo columns.
    pub path: Option<PathBuf>,
}

/// Consent enforcement settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsentConfig {
    /// Refuse events without a valid token. Default true; only tests of the
    /// raw pipeline turn it off.
    pub enforce: bool,
    /// How often revocations recorded by other collectors are read back, in seconds. Default 5.
    pub revocation_refresh_secs: u64,
    /// How often pending erasures are applied (one mutation per table for all
    /// of them), in seconds. Default 10.
    pub erasure_interval_secs: u64,
}

/// One site.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SiteConfig {
    /// Origins allowed to send events and consent (`KTRA_SITE_<ID>_ORIGINS`, comma separated).
    pub origins: Vec<String>,
    /// Hosts that tracking-link destinations may point to.
    pub hosts: Vec<String>,
    /// Banner revision; raising it asks every visitor again.
    pub revision: u32,
    /// Consent lifetime in days (default 182, at most 396 ≈ 13 months).
    pub consent_days: u32,
    /// Delete a visitor's events when they withdraw consent.
    pub erase_on_withdraw: bool,
    /// Show the small floating consent button after a decision.
    pub floating_button: bool,
    /// Link to the site's privacy policy, shown in the banner.
    pub privacy_url: String,
    /// Language used when the page's is not available.
    pub default_language: String,
    /// Banner text overrides per language, then per key.
    pub texts: BTreeMap<String, BTreeMap<String, String>>,
    /// What an email click or open stores about the lead (see [`EmailTracking`]).
    pub email_tracking: EmailTracking,
    /// Endpoints that receive behavioural triggers (`[[sites.ID.webhooks]]`).
    pub webhooks: Vec<WebhookEndpoint>,
    /// Keys for server-to-server calls acting for this site only (`Authorization: Bearer`),
    /// each at least 32 characters (`KTRA_SITE_<ID>_API_KEY` adds one).
    pub api_keys: Vec<String>,
    /// Goals (`[sites.ID.goals.NAME]`, see [`crate::stats::defs`]); reloaded on SIGHUP.
    pub goals: BTreeMap<String, crate::stats::defs::Goal>,
    /// Funnels (`[sites.ID.funnels.NAME]`, see [`crate::stats::defs`]); reloaded on SIGHUP.
    pub funnels: BTreeMap<String, crate::stats::defs::Funnel>,
    /// Stripe's webhook signing secret (`whsec_…`) for `POST /v1/server/stripe/{site}`
    /// (`KTRA_SITE_<ID>_STRIPE_SIGNING_SECRET`); empty refuses every Stripe call.
    pub stripe_signing_secret: String,
    /// External product or price ids (Stripe `price_…`/`prod_…`, a CRM's ids) → the
    /// site's own product ids, applied to server-side events (`[sites.ID.products]`).
    pub products: BTreeMap<String, String>,
    /// Consent model per region (`[sites.ID.regions]`, see [`crate::regions`]). Default: `opt_in` everywhere.
    pub regions: crate::regions::Regions,
    /// Banner text overrides per region, then language, then key (`[sites.ID.region_texts.US-CA.en]`).
    pub region_texts: BTreeMap<String, crate::regions::texts::Texts>,
    /// Languages the banner may speak, chosen by `Accept-Language`. Default en, de, fr, es.
    pub languages: Vec<String>,
    /// The site owner's subdomain serving this site (a CNAME to the collector), e.g. `t.shop.example`
    /// (see [`crate::tracking`]). Signed email links point to it.
    pub tracking_domain: String,
    /// A path prefix for everything served for this site, e.g. `/m` (default: none).
    pub path_prefix: String,
    /// The loader's file name under the prefix, e.g. `site.js` (default `ktra.js`).
    pub script_name: String,
    /// Set `ktra_vid` from the tracking domain after a valid grant (see [`crate::tracking::cookie`]).
    pub server_cookie: bool,
}

/// What an email click or open stores about its lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailTracking {
    /// Lead id, geo and device for every click: the site owner has a lawful
    /// basis for every recipient.
    All,
    /// Lead id, geo and device only for leads with recorded consent (the
    /// lead's visitor granted marketing and identified, or the owner recorded
    /// it through the admin API); other clicks are counted per message only.
    #[default]
    ConsentedLeads,
    /// Never a lead id, geo or device: clicks and opens are counted per message.
    Anonymous,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            secret: String::new(),
            admin_key: String::new(),
            assets_dir: None,
            trust_proxy: false,
            trusted_proxies: 1,
            metrics_listen: None,
            strip_query_params: DEFAULT_STRIP_PARAMS.iter().map(|s| s.to_string()).collect(),
            bots: BotPolicy::Flag,
            clickhouse: ClickHouseConfig::default(),
            spool: SpoolConfig::default(),
            limits: LimitsConfig::default(),
            geoip: GeoIpConfig::default(),
            consent: ConsentConfig::default(),
            webhooks: WebhooksConfig::default(),
            sites: BTreeMap::new(),
            tls: Default::default(),
            path: None,
        }
    }
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8123".into(),
            database: "ktra".into(),
            user: "default".into(),
            password: String::new(),
            cluster: String::new(),
            migrate_on_start: true,
            batch_max_rows: 10_000,
            batch_max_bytes: 8 << 20,
            batch_max_ms: 1000,
            queue_capacity: 4096,
            insert_timeout_ms: 10_000,
        }
    }
}

impl Default for ConsentConfig {
    fn default() -> Self {
        Self { enforce: true, revocation_refresh_secs: 5, erasure_interval_secs: 10 }
    }
}

impl Default for SiteConfig {
    fn default() -> Self {
        Self {
            origins: Vec::new(),
            hosts: Vec::new(),
            revision: 1,
            consent_days: 182,
            erase_on_withdraw: false,
            floating_button: true,
            privacy_url: String::new(),
            default_language: "en".into(),
            texts: BTreeMap::new(),
            email_tracking: EmailTracking::default(),
            webhooks: Vec::new(),
            api_keys: Vec::new(),
            goals: BTreeMap::new(),
            funnels: BTreeMap::new(),
            stripe_signing_secret: String::new(),
            products: BTreeMap::new(),
            regions: Default::default(),
            region_texts: BTreeMap::new(),
            languages: crate::regions::texts::SHIPPED_LANGUAGES.iter().map(|l| l.to_string()).collect(),
            tracking_domain: String::new(),
            path_prefix: String::new(),
            script_name: String::new(),
            server_cookie: false,
        }
    }
}

/// Query parameters stripped by default: credentials, personal data and
/// one-time links that must never reach an analytics store.
pub const DEFAULT_STRIP_PARAMS: &[&str] = &[
    "token",
    "access_token",
    "id_token",
    "refresh_token",
    "auth*",
    "password",
    "pass",
    "pwd",
    "secret",
    "key",
    "api_key",
    "apikey",
    "email",
    "mail",
    "e-mail",
    "reset*",
    "session*",
    "sid",
    "code",
    "otp",
    "signature",
    "sig",
];

/// Least length of the secret and of the admin key, in bytes.
pub const MIN_KEY_BYTES: usize = 32;

/// Configuration error.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// File could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// TOML is invalid.
    #[error("invalid config {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: Box<toml::de::Error>,
    },
    /// A value is out of range or inconsistent.
    #[error("invalid config: {0}")]
    Invalid(String),
}

impl Config {
    /// Reads a TOML file, then applies `KTRA_*` overrides from the process environment.
    pub fn load(path: Option<&std::path::Path>) -> Result<Self, ConfigError> {
        let mut cfg = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read { path: p.into(), source })?;
                toml::from_str(&text).map_err(|e| ConfigError::Parse { path: p.into(), source: Box::new(e) })?
            }
            None => Config::default(),
        };
        cfg.apply_env(std::env::vars())?;
        cfg.validate()?;
        cfg.path = path.map(Into::into);
        Ok(cfg)
    }

    /// Applies `KTRA_*` overrides from `vars`.
    pub fn apply_env(&mut self, vars: impl IntoIterator<Item = (String, String)>) -> Result<(), ConfigError> {
        for (k, v) in vars {
            let Some(key) = k.strip_prefix("KTRA_") else { continue };
            match key {
                "LISTEN" => {
                    self.listen =
                        v.parse().map_err(|_| ConfigError::Invalid(format!("KTRA_LISTEN {v:?} is not an address")))?
                }
                "SECRET" => self.secret = v,
                "METRICS_LISTEN" => {
                    self.metrics_listen =
                        Some(v.parse().map_err(|_| {
                            ConfigError::Invalid(format!("KTRA_METRICS_LISTEN {v:?} is not an address"))
                        })?)
                }
                "ADMIN_KEY" => self.admin_key = v,
                "ASSETS_DIR" => self.assets_dir = Some(v.into()),
                "GEOIP_PATH" => self.geoip.path = Some(v.into()),
                "SPOOL_DIR" => self.spool.dir = v.into(),
                "RATE_PER_CLIENT" => self.limits.per_client_per_sec = parse_num(&k, &v)?,
                "DURABILITY" => {
                    self.spool.durability = match v.as_str() {
                        "disk" => crate::sink::Durability::Disk,
                        "memory" => crate::sink::Durability::Memory,
                        _ => return Err(ConfigError::Invalid(format!("KTRA_DURABILITY {v:?} must be disk or memory"))),
                    }
                }
                "CLICKHOUSE_URL" => self.clickhouse.url = v,
                "CLICKHOUSE_DATABASE" => self.clickhouse.database = v,
                "CLICKHOUSE_USER" => self.clickhouse.user = v,
                "CLICKHOUSE_PASSWORD" => self.clickhouse.password = v,
                "BATCH_MAX_ROWS" => self.clickhouse.batch_max_rows = parse_num(&k, &v)?,
                "BATCH_MAX_MS" => self.clickhouse.batch_max_ms = parse_num(&k, &v)?,
                _ => {
                    if let Some(rest) = key.strip_prefix("SITE_") {
                        if let Some(id) = rest.strip_suffix("_ORIGINS") {
                            let site = self.sites.entry(id.to_ascii_lowercase()).or_default();
                            site.origins = split_list(&v);
                        } else if let Some(id) = rest.strip_suffix("_HOSTS") {
                            let site = self.sites.entry(id.to_ascii_lowercase()).or_default();
                            site.hosts = split_list(&v);
                        } else if let Some(id) = rest.strip_suffix("_API_KEY") {
                            let site = self.sites.entry(id.to_ascii_lowercase()).or_default();
                            site.api_keys.push(v);
                        } else if let Some(id) = rest.strip_suffix("_STRIPE_SIGNING_SECRET") {
                            let site = self.sites.entry(id.to_ascii_lowercase()).or_default();
                            site.stripe_signing_secret = v;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Checks ranges and consistency.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.trust_proxy && self.trusted_proxies == 0 {
            return Err(ConfigError::Invalid("trusted_proxies must be at least 1 when trust_proxy is on".into()));
        }

        if !ktra_schema::migrations::is_identifier(&self.clickhouse.database) {
            return Err(ConfigError::Invalid(format!(
                "clickhouse.database {:?} is not an identifier",
                self.clickhouse.database
            )));
        }
        if !self.clickhouse.cluster.is_empty() && !ktra_schema::migrations::is_identifier(&self.clickhouse.cluster) {
            return Err(ConfigError::Invalid("clickhouse.cluster is not an identifier".into()));
        }
        if self.clickhouse.batch_max_rows == 0 || self.clickhouse.queue_capacity == 0 {
            return Err(ConfigError::Invalid("batch_max_rows and queue_capacity must be positive".into()));
        }
        for (id, site) in &self.sites {
            if !ktra_schema::validate::is_token_id(id) {
                return Err(ConfigError::Invalid(format!("site id {id:?} must be [A-Za-z0-9_.-]")));
            }
            if site.consent_days == 0 || site.consent_days > 396 {
                return Err(ConfigError::Invalid(format!("site {id}: consent_days must be 1..=396 (13 months)")));
            }
            if site.api_keys.iter().any(|k| k.len() < MIN_KEY_BYTES) {
                return Err(ConfigError::Invalid(format!(
                    "site {id}: api_keys must be at least {MIN_KEY_BYTES} characters"
                )));
            }
            crate::regions::validate_site(site).map_err(|e| ConfigError::Invalid(format!("site {id}: {e}")))?;
            crate::tracking::validate_site(site).map_err(|e| ConfigError::Invalid(format!("site {id}: {e}")))?;
            crate::stats::defs::check_site(&site.goals, &site.funnels)
                .map_err(|e| ConfigError::Invalid(format!("site {id}: {e}")))?;
            for w in &site.webhooks {
                crate::automate::check_endpoint(w, self.webhooks.allow_private_targets)
                    .map_err(|e| ConfigError::Invalid(format!("site {id}: webhook {:?}: {e}", w.url)))?;
            }
        }
        Ok(())
    }

    /// Checks the keys a serving collector (or a link signer) needs: the
    /// secret and, if set, the admin key are at least [`MIN_KEY_BYTES`].
    /// `migrate` needs neither.
    pub fn check_keys(&self) -> Result<(), ConfigError> {
        if self.secret.len() < MIN_KEY_BYTES {
            return Err(ConfigError::Invalid(format!(
                "secret must be at least {MIN_KEY_BYTES} bytes (set KTRA_SECRET): consent tokens and links are signed with it"
            )));
        }
        if !self.admin_key.is_empty() && self.admin_key.len() < MIN_KEY_BYTES {
            return Err(ConfigError::Invalid(format!(
                "admin_key must be at least {MIN_KEY_BYTES} bytes (or empty to turn the admin API off)"
            )));
        }
        Ok(())
    }

    /// Batch flush period.
    pub fn batch_period(&self) -> Duration {
        Duration::from_millis(self.clickhouse.batch_max_ms.max(1))
    }
}

fn parse_num<T: std::str::FromStr>(k: &str, v: &str) -> Result<T, ConfigError> {
    v.parse().map_err(|_| ConfigError::Invalid(format!("{k} {v:?} is not a number")))
}

fn split_list(v: &str) -> Vec<String> {
    v.split(',').map(|s| s.trim().trim_end_matches('/').to_string()).filter(|s| !s.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_file_values() {
        let mut cfg: Config = toml::from_str(
            "listen = '127.0.0.1:9000'\n[clickhouse]\nurl = 'http://a:1'\n[sites.demo]\norigins = ['http://x']\n",
        )
        .unwrap();
        cfg.apply_env([
            ("KTRA_CLICKHOUSE_URL".to_string(), "http://b:2".to_string()),
            ("KTRA_SITE_DEMO_ORIGINS".to_string(), "http://127.0.0.1:5000/, http://y".to_string()),
            ("OTHER".to_string(), "x".to_string()),
        ])
        .unwrap();
        assert_eq!(cfg.clickhouse.url, "http://b:2");
        assert_eq!(cfg.sites["demo"].origins, vec!["http://127.0.0.1:5000", "http://y"]);
        assert_eq!(cfg.listen.port(), 9000);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        assert!(toml::from_str::<Config>("lisen = 'x'").is_err());
        let mut cfg = Config { secret: "s".repeat(MIN_KEY_BYTES), ..Config::default() };
        assert!(cfg.check_keys().is_ok());
        assert!(Config { secret: "short".into(), ..cfg.clone() }.check_keys().is_err(), "short secret");
        assert!(Config { admin_key: "short".into(), ..cfg.clone() }.check_keys().is_err(), "short admin key");
        assert!(Config::default().validate().is_ok(), "migrate needs no secret");
        assert!(cfg.apply_env([("KTRA_LISTEN".into(), "nope".into())]).is_err());
        cfg.clickhouse.database = "a;b".into();
        assert!(cfg.validate().is_err());
    }

    #[test]
    fn demo_config_parses() {
        let text = include_str!("../ktra.demo.toml");
        let cfg: Config = toml::from_str(text).unwrap();
        cfg.validate().unwrap();
        assert!(cfg.sites.contains_key("demo"));
    }
}
