//! Reading request bodies with a hard size limit and a content-type check,
//! so that oversized or foreign bodies get our JSON error, counted.
use crate::error::ApiError;
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap};
use http_body_util::{BodyExt, Limited};
use ktra_schema::RejectReason;

/// How long a client may take to send its body (slow-client protection;
/// headers are bounded by the server's header read timeout).
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Compressed bodies are not accepted (`Content-Encoding` other than
/// identity gets 415), so there is no decompression to bound.
pub fn check_encoding(headers: &HeaderMap) -> Result<(), ApiError> {
    match headers.get(header::CONTENT_ENCODING).map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase()) {
        None => Ok(()),
        Some(e) if e.is_empty() || e == "identity" => Ok(()),
        Some(e) => Err(ApiError::bad(
            RejectReason::UnsupportedMediaType,
            format!("content encoding {e:?} is not accepted; send the body uncompressed"),
        )),
    }
}

/// Accepts `application/json`, `text/plain` (what `sendBeacon` and
/// preflight-free `fetch` send) or no content type.
pub fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    check_encoding(headers)?;
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
    if let Some(len) =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok())
    {
        if len > limit {
            return Err(too_large());
        }
    }
    match tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, limit).collect()).await {
        Err(_) => Err(ApiError::bad(
            RejectReason::SlowClient,
            format!("the body did not arrive within {} s", BODY_TIMEOUT.as_secs()),
        )),
        Ok(Ok(c)) => Ok(c.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Ok(Err(e)) => Err(ApiError::bad(RejectReason::MalformedJson, format!("could not read the body: {e}"))),
    }
}
