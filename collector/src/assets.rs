//! Static browser assets built by `cargo xtask build-web`: the loader
//! (`/ktra.js`), the banner (`/banner.js`, `/banner.css`, its text packs
//! `/banner/<lang>.json`), the pixel
//! (`/pixel/ktra_pixel.js`, `/pixel/ktra_pixel_bg.wasm`) and the dashboard.
//! Served with their content types (`application/wasm`), gzip/brotli, and
//! cache lifetimes suited to files without hashed names.
use crate::state::AppState;
use crate::telemetry as t;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get_service;
use axum::Router;
use std::path::Path;
use tower_http::services::ServeDir;

/// The dashboard's Content Security Policy: scripts, styles, data and
/// images from the collector itself only, no plugins, never framed.
pub const DASHBOARD_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn kind(path: &str) -> &'static str {
    match path {
        "/ktra.js" => "loader",
        "/banner.js" | "/banner.css" => "banner",
        p if p.starts_with("/banner/") => "banner",
        p if p.starts_with("/pixel/") && p.ends_with(".wasm") => "pixel_wasm",
        p if p.starts_with("/pixel/") => "pixel_js",
        p if p.starts_with("/dashboard") => "dashboard",
        _ => "other",
    }
}

/// Counts asset requests by kind and sets `Cache-Control`: the loader is
/// short-lived so that fixes reach every site within minutes.
async fn annotate(req: Request, next: Next) -> Response {
    let k = kind(req.uri().path());
    let mut resp = next.run(req).await;
    metrics::counter!(t::ASSET_REQUESTS, "asset" => k).increment(1);
    // A 304 carries the same headers: a revalidated script must pass the CORS check too.
    if resp.status().is_success() || resp.status() == StatusCode::NOT_MODIFIED {
        let cc = match k {
            "loader" => "public, max-age=300",
            "dashboard" => "no-cache",
            _ => "public, max-age=3600",
        };
        resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(cc));
        resp.headers_mut().insert("x-content-type-options", HeaderValue::from_static("nosniff"));
        if k == "dashboard" {
            // Only its own files, no framing: the page holds the admin key.
            let h = resp.headers_mut();
            h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(DASHBOARD_CSP));
            h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
            h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        } else {
            // Loaded by third-party pages.
            resp.headers_mut().insert("cross-origin-resource-policy", HeaderValue::from_static("cross-origin"));
            resp.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
            // Let site owners see transfer sizes in Resource Timing.
            resp.headers_mut().insert("timing-allow-origin", HeaderValue::from_static("*"));
        }
    }
    resp
}

async fn missing() -> impl IntoResponse {
    (StatusCode::NOT_FOUND, "asset not built; run `cargo xtask build-web`")
}

/// Routes for the assets in `dir` (or 404s when there is none).
pub fn routes(dir: Option<&Path>) -> Router<AppState> {
    let router = match dir {
        Some(dir) => {
            // `cargo xtask build-web` writes .br and .gz beside each asset.
            let file = |name: &str| {
                get_service(
                    tower_http::services::ServeFile::new(dir.join(name)).precompressed_br().precompressed_gzip(),
                )
            };
            let tree = |sub: &str| ServeDir::new(dir.join(sub)).precompressed_br().precompressed_gzip();
            Router::new()
                .route("/ktra.js", file("ktra.js"))
                .route("/banner.js", file("banner.js"))
                .route("/banner.css", file("banner.css"))
                .nest_service("/banner", tree("banner"))
                .nest_service("/pixel", tree("pixel"))
                .route("/dashboard", file("dashboard/index.html"))
                .nest_service("/dashboard/", tree("dashboard"))
        }
        None => Router::new()
            .route("/ktra.js", axum::routing::get(missing))
            .route("/banner.js", axum::routing::get(missing))
            .route("/banner.css", axum::routing::get(missing)),
    };
    router
        .layer(axum::middleware::from_fn(annotate))
        .layer(tower_http::compression::CompressionLayer::new().gzip(true).br(true))
}
