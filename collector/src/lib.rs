//! `ktra-collector` — receives consented analytics events over HTTP, enriches
//! them and writes them in batches to ClickHouse.
//!
//! The data path is the folder layout: [`ingest`] (HTTP, body, CORS,
//! validation) → [`enrich`] (geo, user agent, bots, channel, row assembly) →
//! [`sink`] (queue, batching writer, ClickHouse, migrations). [`consent`]
//! issues and checks signed consent tokens; [`admin`] exports and erases a
//! visitor; [`email`] signs tracking links and records their clicks and
//! opens; [`automate`] turns what identified visitors do into signed
//! webhooks; [`assets`] serves the loader, banner and pixel.
//!
//! It does not own the wire format or the schema (crate `ktra-schema`), nor
//! the browser code (`consent-banner/`, `pixel-wasm/`).
//!
//! Use [`app`] to get the router for a state and [`serve`] to run the whole
//! collector on a listener until a shutdown future resolves.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod admin;
pub mod assets;
pub mod automate;
pub mod config;
pub mod consent;
pub mod email;
pub mod enrich;
pub mod error;
pub mod health;
pub mod ingest;
pub mod regions;
pub mod server;
pub mod server_events;
pub mod sink;
pub mod state;
pub mod stats;
pub mod telemetry;
pub mod tls;
pub mod tracking;

/// A new empty directory under the system temp dir for a unit test (`name`
/// tells whose; the process id keeps parallel runs apart).
#[cfg(test)]
pub(crate) fn test_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ktra-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

use axum::routing::{delete, get, post, put};
use axum::Router;
use config::Config;
use state::AppState;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The router for a state.
pub fn app(state: AppState) -> Router {
    let assets = assets::routes(state.config.assets_dir.as_deref());
    Router::new()
        .route("/v1/events", post(ingest::events::post_events).options(ingest::cors::preflight))
        .route("/v1/consent", post(consent::handler::post_consent).options(ingest::cors::preflight))
        .route("/v1/config/{site}", get(consent::handler::get_config))
        .route("/v1/admin/visitors/{site}/{vid}", get(admin::export_visitor))
        .route("/v1/admin/visitors/{site}/{vid}", delete(admin::erase_visitor))
        .route("/v1/admin/links", post(email::handler::post_link))
        .route("/v1/admin/leads/{site}/{lead}/consent", post(admin::record_lead_consent))
        .route("/v1/stats/sites", get(stats::sites))
        .route("/v1/stats/live", get(stats::live))
        .route("/v1/stats/funnel", get(stats::explore::funnel))
        .route("/v1/stats/goals", get(stats::explore::goals))
        .route("/v1/stats/traffic", get(stats::explore::traffic))
        .route("/v1/stats/online", get(stats::explore::online))
        .route("/v1/stats/retention", get(stats::explore::retention))
        .route("/v1/admin/shares", post(stats::shares::create).get(stats::shares::list))
        .route("/v1/admin/shares/{id}", delete(stats::shares::revoke))
        .route(
            "/v1/admin/funnels/{site}/{name}",
            put(stats::saved::save)
                .delete(stats::saved::delete)
                .layer(axum::extract::DefaultBodyLimit::max(stats::saved::MAX_BODY)),
        )
        .route("/v1/openapi.json", get(stats::openapi::serve))
        .route("/v1/stats/webhooks", get(automate::activity::activity))
        .route("/v1/admin/webhooks/enable", post(automate::health::enable))
        .route("/v1/admin/webhooks/{id}/redeliver", post(automate::activity::redeliver))
        .route("/v1/stats/{query}", get(stats::query))
        .route("/v1/server/events", post(server_events::events::post_server_events))
        .route("/v1/server/stripe/{site}", post(server_events::stripe::post_stripe))
        .route("/v1/hooks", post(automate::hooks::subscribe).get(automate::hooks::list))
        .route("/v1/hooks/samples/{trigger}", get(automate::hooks::samples))
        .route("/v1/hooks/{id}", delete(automate::hooks::unsubscribe))
        .route("/c/{signed}", get(email::handler::click))
        .route("/o/{file}", get(email::handler::open))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics_admin))
        .merge(assets)
        .with_state(state)
}

/// A failure to start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The GeoIP database could not be opened.
    #[error("cannot open GeoIP database {path}: {source}")]
    GeoIp {
        /// Path.
        path: String,
        /// Why.
        source: maxminddb::MaxMindDbError,
    },
    /// The spool directory could not be opened.
    #[error("cannot open spool {path}: {source}")]
    Spool {
        /// Path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The HTTPS listener could not start (certificates, address).
    #[error(transparent)]
    Tls(#[from] tls::listener::StartError),
    /// The configuration is not usable (e.g. a short secret).
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The server failed.
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs the collector on `listener` until `shutdown` resolves, then stops in
/// order: stop accepting, let handlers finish, close the queue and let the
/// writer take what is left, then ship the spool to ClickHouse for up to
/// `spool.drain_secs`; whatever is still in the spool stays on disk for the
/// next start.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    config.validate()?;
    config.check_keys()?;
    let _ = telemetry::metrics_handle();
    for r in ktra_schema::RejectReason::ALL {
        metrics::counter!(telemetry::REJECTED_REQUESTS, "reason" => r.as_str()).increment(0);
    }
    let geo = match &config.geoip.path {
        Some(p) => {
            enrich::GeoIp::open(p).map_err(|source| ServeError::GeoIp { path: p.display().to_string(), source })?
        }
        None => enrich::GeoIp::none(),
    };
    let client = sink::clickhouse::client(&config.clickhouse);
    let sp = &config.spool;
    let spool_err = |source| ServeError::Spool { path: sp.dir.display().to_string(), source };
    std::fs::create_dir_all(&sp.dir).map_err(spool_err)?;
    // Revocations and erasures are loaded before the listener opens: a
    // restart while ClickHouse is away never forgets a withdrawal.
    let revocations = Arc::new(consent::revocations::Revocations::open(&sp.dir).map_err(spool_err)?);
    let erasures = Arc::new(consent::erasure::Erasures::open(&sp.dir).map_err(spool_err)?);
    let (sink, sink_handle) = sink::start(&config, erasures.clone()).map_err(spool_err)?;
    let spool = sink_handle.spool.clone();
    let ch = &config.clickhouse;
    let (stop_tx, stop_rx) = watch::channel(false);
    // Longer than any insert that began before a tombstone may take.
    let settle = Duration::from_millis(ch.insert_timeout_ms) + config.batch_period() * 2 + Duration::from_secs(1);
    let eraser = tokio::spawn(consent::erasure::run(
        erasures.clone(),
        client.clone(),
        ch.cluster.clone(),
        spool.clone(),
        Duration::from_secs(config.consent.erasure_interval_secs.max(1)),
        settle,
        stop_rx.clone(),
    ));
    let webhooks = Arc::new(automate::deliver::Queue::open(&sp.dir).map_err(spool_err)?);
    let automations = Arc::new(
        automate::Automations::open(&sp.dir, webhooks.clone()).map_err(spool_err)?.with_lookup(client.clone()),
    );
    let deliveries = tokio::spawn(webhooks.clone().run(
        config.webhooks.clone(),
        sink.clone(),
        automations.subscriptions.clone(),
        client.clone(),
        stop_rx.clone(),
    ));
    let parts = state::Parts { sink, spool, geo, clickhouse: client, revocations, erasures, automations };
    let state = AppState::new(config, parts);
    let background = tokio::spawn(background(state.clone(), stop_rx.clone()));
    let refresh = tokio::spawn(refresh(state.clone(), stop_rx.clone()));
    let reload = tokio::spawn(stats::defs::reload_on_sighup(state.clone(), stop_rx.clone()));
    let rollups = tokio::spawn(stats::rollup::keep_fresh(state.clone(), stop_rx.clone()));
    let metrics_server = match state.config.metrics_listen {
        Some(addr) => {
            let l = TcpListener::bind(addr).await?;
            let router = Router::new().route("/metrics", get(health::metrics)).with_state(state.clone());
            let mut stop = stop_rx.clone();
            let limits = server::ServerLimits::from_config(&state.config.limits);
            Some(tokio::spawn(server::run(l, router, limits, async move { sink::wait_true(&mut stop).await })))
        }
        None => None,
    };

    tracing::info!(addr = ?listener.local_addr().ok(), "collector listening");
    let router = tracking::with_rewrites(app(state.clone()), &state.config);
    let tls_tasks = tls::listener::start(&state, router.clone(), stop_rx.clone()).await?;
    let router = if tls::listener::redirects(&state) {
        let probes = Router::new()
            .route("/healthz", get(health::healthz))
            .route("/readyz", get(health::readyz))
            .with_state(state.clone());
        tls::listener::redirect_router(&state, probes)
    } else {
        router
    };
    server::run(listener, router, server::ServerLimits::from_config(&state.config.limits), shutdown).await?;
    tracing::info!("stopped accepting; flushing");
    let _ = stop_tx.send(true);
    for t in tls_tasks {
        let _ = t.await;
    }
    let _ = background.await;
    let _ = refresh.await;
    let _ = reload.await;
    let _ = rollups.await;
    let _ = eraser.await;
    let _ = deliveries.await;
    if let Some(m) = metrics_server {
        let _ = m.await;
    }
    drop(state);
    sink_handle.stop().await;
    tracing::info!("collector stopped");
    Ok(())
}

/// Migrations, retried until they succeed when ClickHouse is down at start.
async fn background(state: AppState, mut stop: watch::Receiver<bool>) {
    let cfg = &state.config;
    if cfg.clickhouse.migrate_on_start {
        let mut attempt = 0;
        loop {
            match sink::migrate::run(&cfg.clickhouse).await {
                Ok(applied) => {
                    tracing::info!(?applied, "migrations up to date");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "migrations failed; retrying");
                    attempt += 1;
                    let wait = sink::clickhouse::backoff(attempt.min(6));
                    tokio::select! {
                        _ = sink::wait_true(&mut stop) => return,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }
}

/// Reads back, every `revocation_refresh_secs`, what other collectors
/// recorded: revocations and consented leads. Independent of migrations, so a
/// collector that starts while ClickHouse is down picks them up as soon as it is back.
async fn refresh(state: AppState, mut stop: watch::Receiver<bool>) {
    let cfg = &state.config;
    let revs: Arc<_> = state.revocations.clone();
    let period = Duration::from_secs(cfg.consent.revocation_refresh_secs.max(1));
    let mut since: u32 = 0;
    loop {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let loaded = consent::revocations::load(&state.clickhouse, &revs, since).await;
        let leads = email::leads::load(&state.clickhouse, &state.leads, since).await;
        if let Err(e) = state.automations.subscriptions.load(&state.clickhouse).await {
            tracing::debug!(error = %e, "refresh of webhook subscriptions failed");
        }
        if let Err(e) = state.automations.queue.health.load(&state.clickhouse).await {
            tracing::debug!(error = %e, "refresh of webhook endpoint health failed");
        }
        match (loaded, leads) {
            (Ok(_), Ok(_)) => {
                // Overlap by two periods so that late-inserted rows are not missed.
                since = u32::try_from(now.saturating_sub(2 * period.as_secs() + 2)).unwrap_or(0);
                revs.prune(now);
            }
            (Err(e), _) | (_, Err(e)) => tracing::debug!(error = %e, "refresh of revocations and leads failed"),
        }
        tokio::select! {
            _ = sink::wait_true(&mut stop) => return,
            _ = tokio::time::sleep(period) => {}
        }
    }
}
