//! Reading request bodies with a hard size limit and a content-type check,
//! so that oversized or foreign bodies get our JSON error, counted.
use crate::error::ApiError;
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap};
use http_body_util::{BodyExt, Limited};
use ktra_schema::RejectReason;

/// Accepts `application/json`, `text/plain` (what `sendBeacon` and
/// preflight-free `fetch` send) or no content type.
pub fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else { return Ok(()) };
    let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
    let essence = ct.split(';').next().unwrap_or("").trim();
    if matches!(essence, "application/json" | "text/plain" | "") {
        Ok(())
    } else {
        Err(ApiError::bad(
            RejectReason::UnsupportedMediaType,
            format!("content type {essence:?} is not accepted; send application/json or text/plain"),
        ))
    }
}

/// Reads the whole body, refusing more than `limit` bytes.
pub async fn read_limited(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || ApiError::bad(RejectReason::BodyTooLarge, format!("request body exceeds {limit} bytes"));
    if let Some(len) = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok()) {
        if len > limit {
            return Err(too_large());
        }
    }
    match Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(e) => Err(ApiError::bad(RejectReason::MalformedJson, format!("could not read the body: {e}"))),
    }
}
