//! The HTTPS listener beside the plain one, and the plain listener's
//! redirect to https when `redirect_http` is on.
use super::{acceptor, https_location, watch, Certificates, TlsError};
use crate::server::{run_with, ServerLimits};
use crate::state::AppState;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::Router;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch as signal;
use tokio::task::JoinHandle;

/// Why the HTTPS listener did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Certificates.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// Binding the address.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Starts serving `router` over TLS on `[tls] listen` (if set) until `stop`,
/// with the certificate watcher; returns the tasks to await at shutdown.
pub async fn start(
    state: &AppState,
    router: Router,
    stop: signal::Receiver<bool>,
) -> Result<Vec<JoinHandle<()>>, StartError> {
    let cfg = &state.config.tls;
    let Some(addr) = cfg.listen else { return Ok(Vec::new()) };
    let certs = Certificates::load(cfg)?;
    let tls = acceptor(certs.clone())?;
    let listener =
        TcpListener::bind(addr).await.map_err(|source| StartError::Bind { addr: addr.to_string(), source })?;
    tracing::info!(addr = ?listener.local_addr().ok(), domains = cfg.certs.len(), "TLS listening");
    let limits = ServerLimits::from_config(&state.config.limits);
    let mut s = stop.clone();
    let server = tokio::spawn(async move {
        let shutdown = async move { crate::sink::wait_true(&mut s).await };
        if let Err(e) = run_with(listener, router, limits, Some(tls), shutdown).await {
            tracing::error!(error = %e, "TLS listener failed");
        }
    });
    let watcher = tokio::spawn(watch(certs, Duration::from_secs(cfg.reload_secs.max(1)), stop));
    Ok(vec![server, watcher])
}

/// The plain listener's router when `redirect_http` is on: probes answered,
/// everything else a 308 to the same host and path on the TLS port.
pub fn redirect_router(state: &AppState, probes: Router) -> Router {
    let port = state.config.tls.listen.map(|a| a.port()).unwrap_or(443);
    probes.fallback(move |req: Request| async move {
        let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
        let path = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
        match https_location(host, path, port).and_then(|l| HeaderValue::try_from(l).ok()) {
            Some(location) => (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, location)]).into_response(),
            None => (StatusCode::BAD_REQUEST, "a Host header naming this server is required").into_response(),
        }
    })
}

/// Whether the plain listener only redirects.
pub fn redirects(state: &AppState) -> bool {
    state.config.tls.redirect_http && state.config.tls.listen.is_some()
}
