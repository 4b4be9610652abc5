//! The HTTP error boundary: one enum, one JSON shape, one status per kind.
//! Every error counts itself under `ktra_rejected_requests_total{reason}`.
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ktra_schema::RejectReason;
use serde::Serialize;

/// An error answered to a client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is wrong (400, 413 or 415 by reason).
    #[error("{message}")]
    BadInput {
        /// Fixed reason.
        reason: RejectReason,
        /// What was wrong.
        message: String,
    },
    /// Consent missing or invalid (403).
    #[error("{message}")]
    Consent {
        /// Fixed reason.
        reason: RejectReason,
        /// What was wrong.
        message: String,
    },
    /// Origin not allowed for the site (403).
    #[error("origin {0:?} is not allowed for this site")]
    Origin(String),
    /// Missing or wrong admin key (401).
    #[error("a valid admin key is required")]
    Unauthorized,
    /// Not found (404).
    #[error("{0}")]
    NotFound(String),
    /// Too many requests (429), retry after seconds.
    #[error("rate limit exceeded")]
    RateLimited(u32),
    /// Temporarily unable to accept (503), retry after seconds.
    #[error("{message}")]
    Unavailable {
        /// Retry after this many seconds.
        retry_after: u32,
        /// Why.
        message: String,
    },
    /// A failure on our side (500); details are logged, not returned.
    #[error("internal error")]
    Internal(String),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: String,
}

impl ApiError {
    /// A 400-class input error.
    pub fn bad(reason: RejectReason, message: impl Into<String>) -> Self {
        Self::BadInput { reason, message: message.into() }
    }

    /// The reason, for refusals that count against the events they held.
    pub fn reason(&self) -> Option<RejectReason> {
        match self {
            Self::BadInput { reason, .. } | Self::Consent { reason, .. } => Some(*reason),
            Self::Origin(_) => Some(RejectReason::OriginNotAllowed),
            Self::RateLimited(_) => Some(RejectReason::RateLimited),
            Self::Unavailable { .. } => Some(RejectReason::Overloaded),
            Self::Unauthorized | Self::NotFound(_) | Self::Internal(_) => None,
        }
    }

    /// The fixed code used in the body and as metric label.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadInput { reason, .. } | Self::Consent { reason, .. } => reason.as_str(),
            Self::Origin(_) => RejectReason::OriginNotAllowed.as_str(),
            Self::Unauthorized => "unauthorized",
            Self::NotFound(_) => "not_found",
            Self::RateLimited(_) => RejectReason::RateLimited.as_str(),
            Self::Unavailable { .. } => RejectReason::Overloaded.as_str(),
            Self::Internal(_) => "internal",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadInput { reason, .. } => match reason {
                RejectReason::BodyTooLarge | RejectReason::TooManyEvents | RejectReason::Amplification => {
                    StatusCode::PAYLOAD_TOO_LARGE
                }
                RejectReason::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                RejectReason::SlowClient => StatusCode::REQUEST_TIMEOUT,
                _ => StatusCode::BAD_REQUEST,
            },
            Self::Consent { .. } | Self::Origin(_) => StatusCode::FORBIDDEN,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.code();
        metrics::counter!(crate::telemetry::REJECTED_REQUESTS, "reason" => code).increment(1);
        if let Self::Internal(detail) = &self {
            tracing::error!(%detail, "internal error");
        }
        let status = self.status();
        let retry = match &self {
            Self::RateLimited(s) => Some(*s),
            Self::Unavailable { retry_after, .. } => Some(*retry_after),
            _ => None,
        };
        let body = ErrorBody { error: code, message: self.to_string() };
        let mut resp = (status, axum::Json(body)).into_response();
        if let Some(secs) = retry {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if matches!(self, Self::Unauthorized) {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}
