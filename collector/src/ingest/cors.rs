//! CORS for the configured origins only. Browsers send simple `text/plain`
//! POSTs without a preflight; when they do preflight (e.g. `application/json`),
//! the site is not known yet, so an origin allowed for any site passes the
//! preflight and the POST is then checked against its own site.
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Adds the CORS response headers for an allowed `origin`.
pub fn allow(headers: &mut HeaderMap, origin: &str) {
    if let Ok(v) = HeaderValue::from_str(origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
        // The pixel honours Retry-After on 429/503; it must be readable cross-origin.
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("retry-after"));
    }
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
}

/// `OPTIONS` on the browser-facing POST endpoints.
pub async fn preflight(State(state): State<AppState>, req_headers: HeaderMap) -> Response {
    let origin = req_headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut resp = StatusCode::NO_CONTENT.into_response();
    if !origin.is_empty() && state.any_site_allows(origin) {
        let h = resp.headers_mut();
        allow(h, origin);
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("POST, OPTIONS"));
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("content-type"));
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    } else {
        resp.headers_mut().append(header::VARY, HeaderValue::from_static("Origin"));
    }
    resp
}
