//! The HTTP + parse ceiling: a minimal axum server on the same hyper HTTP/1.1
//! stack and settings as the collector (keep-alive, `TCP_NODELAY`) that
//! decodes `POST /v1/events` into the same wire types — the batch with raw
//! events, then each `RawEvent` — and discards them. No consent check, no
//! validation, no enrichment, no queue, no disk: whatever ktra does beyond
//! this costs throughput, and the ratio says how much.
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use ktra_schema::{Batch, RawEvent};
use serde_json::value::RawValue;
use std::time::Duration;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// The router: `POST /v1/events` only.
pub fn router() -> Router {
    Router::new().route("/v1/events", post(discard))
}

async fn discard(body: Bytes) -> Response {
    let Ok(batch) = serde_json::from_slice::<Batch<Box<RawValue>>>(&body) else {
        return (StatusCode::BAD_REQUEST, Json(serde_json::json!({"error": "malformed"}))).into_response();
    };
    let accepted = batch.events.iter().filter(|raw| serde_json::from_str::<RawEvent>(raw.get()).is_ok()).count();
    (StatusCode::ACCEPTED, Json(serde_json::json!({"accepted": accepted, "rejected": []}))).into_response()
}

/// Serves the router on `listener` forever.
pub async fn serve(listener: TcpListener) -> std::io::Result<()> {
    let router = router();
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let svc = router.clone().map_request(|req: hyper::Request<Incoming>| req.map(axum::body::Body::new));
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(10)).keep_alive(true);
            let _ = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc)).await;
        });
    }
}
