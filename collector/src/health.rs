//! Liveness, readiness and Prometheus metrics.
use crate::ingest::ClientMeta;
use crate::state::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use std::sync::atomic::Ordering;

/// `GET /healthz`: the process is up.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness details.
#[derive(Debug, Serialize)]
pub struct Ready {
    /// Overall.
    pub ready: bool,
    /// ClickHouse accepted the last insert.
    pub clickhouse_ok: bool,
    /// Unix seconds of the last successful insert (0: none yet).
    pub last_insert: u64,
    /// Requests waiting in the queue.
    pub queue_depth: usize,
    /// Queue capacity.
    pub queue_capacity: usize,
    /// Rows in writer buffers.
    pub buffered_rows: usize,
    /// Bytes waiting in the spool.
    pub spool_bytes: u64,
    /// Records (requests) waiting in the spool.
    pub spool_records: u64,
    /// Spool size bound.
    pub spool_max_bytes: u64,
}

/// `GET /readyz`: 200 while the queue and the spool have room, 503
/// otherwise, so a load balancer sends traffic elsewhere. ClickHouse being
/// down alone does not make the collector unready: the spool takes the rows.
/// Anyone sees `{"ready":…}`; the details (volumes) need the admin key.
pub async fn readyz(State(state): State<AppState>, meta: ClientMeta, headers: HeaderMap) -> Response {
    let h = state.sink.health();
    let queue_depth = h.queued.load(Ordering::Relaxed);
    let cap = state.config.clickhouse.queue_capacity;
    let clickhouse_ok = h.clickhouse_ok();
    let spool = state.spool.stats();
    let spool_max = state.spool.max_bytes();
    let ready = queue_depth < cap * 9 / 10 && spool.pending_bytes < spool_max / 10 * 9;
    let body = Ready {
        ready,
        clickhouse_ok,
        last_insert: h.last_ok.load(Ordering::Relaxed),
        queue_depth,
        queue_capacity: cap,
        buffered_rows: h.buffered_rows.load(Ordering::Relaxed),
        spool_bytes: spool.pending_bytes,
        spool_records: spool.pending_records,
        spool_max_bytes: spool_max,
    };
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let mut resp = if crate::admin::authorize(&state, &headers, meta.rate_key()).is_ok() {
        (status, Json(body)).into_response()
    } else {
        (status, Json(serde_json::json!({ "ready": ready }))).into_response()
    };
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `GET /metrics` on the public listener: the admin key is required (the
/// series name sites and volumes). See [`metrics`] for `metrics_listen`.
pub async fn metrics_admin(state: State<AppState>, _: crate::admin::Admin) -> Response {
    metrics(state).await
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut resp = state.metrics.render().into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
    resp
}
