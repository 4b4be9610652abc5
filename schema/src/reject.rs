//! Why something sent to the collector was not stored: a fixed set of
//! reasons (metric labels and JSON error codes) and a message naming the field.

/// Why an event or a request was not stored. The set is fixed so that it can
/// label metrics; [`RejectReason::as_str`] gives the label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum RejectReason {
    // Request level.
    MalformedJson,
    BodyTooLarge,
    TooManyEvents,
    UnknownSite,
    OriginNotAllowed,
    UnsupportedMediaType,
    ConsentMissing,
    ConsentInvalid,
    ConsentOtherSite,
    ConsentExpired,
    ConsentOldRevision,
    ConsentWithdrawn,
    ConsentPurposes,
    /// Implied consent (an `opt_out` notice) where the visitor's region requires a grant.
    ConsentModel,
    /// Implied consent with Global Privacy Control on: GPC is a refusal.
    ConsentGpc,
    RateLimited,
    Overloaded,
    SlowClient,
    Amplification,
    BadSignature,
    // Event level.
    InvalidEvent,
    UnknownType,
    ServerOnly,
    BadEventId,
    MissingField,
    TooLong,
    TooManyProps,
    BadValue,
    DuplicateInBatch,
    Bot,
}

impl RejectReason {
    /// Every reason, for pre-registering metric series.
    pub const ALL: [RejectReason; 30] = [
        Self::MalformedJson,
        Self::BodyTooLarge,
        Self::TooManyEvents,
        Self::UnknownSite,
        Self::OriginNotAllowed,
        Self::UnsupportedMediaType,
        Self::ConsentMissing,
        Self::ConsentInvalid,
        Self::ConsentOtherSite,
        Self::ConsentExpired,
        Self::ConsentOldRevision,
        Self::ConsentWithdrawn,
        Self::ConsentPurposes,
        Self::ConsentModel,
        Self::ConsentGpc,
        Self::RateLimited,
        Self::Overloaded,
        Self::SlowClient,
        Self::Amplification,
        Self::BadSignature,
        Self::InvalidEvent,
        Self::UnknownType,
        Self::ServerOnly,
        Self::BadEventId,
        Self::MissingField,
        Self::TooLong,
        Self::TooManyProps,
        Self::BadValue,
        Self::DuplicateInBatch,
        Self::Bot,
    ];

    /// Metric label and JSON error code.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::MalformedJson => "malformed_json",
            Self::BodyTooLarge => "body_too_large",
            Self::TooManyEvents => "too_many_events",
            Self::UnknownSite => "unknown_site",
            Self::OriginNotAllowed => "origin_not_allowed",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::ConsentMissing => "consent_missing",
            Self::ConsentInvalid => "consent_invalid",
            Self::ConsentOtherSite => "consent_other_site",
            Self::ConsentExpired => "consent_expired",
            Self::ConsentOldRevision => "consent_old_revision",
            Self::ConsentWithdrawn => "consent_withdrawn",
            Self::ConsentPurposes => "consent_purposes",
            Self::ConsentModel => "consent_model",
            Self::ConsentGpc => "consent_gpc",
            Self::RateLimited => "rate_limited",
            Self::Overloaded => "overloaded",
            Self::SlowClient => "slow_client",
            Self::Amplification => "amplification",
            Self::BadSignature => "bad_signature",
            Self::InvalidEvent => "invalid_event",
            Self::UnknownType => "unknown_type",
            Self::ServerOnly => "server_only",
            Self::BadEventId => "bad_event_id",
            Self::MissingField => "missing_field",
            Self::TooLong => "too_long",
            Self::TooManyProps => "too_many_props",
            Self::BadValue => "bad_value",
            Self::DuplicateInBatch => "duplicate_in_batch",
            Self::Bot => "bot",
        }
    }
}

/// A rejected event: the reason and a human message naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// Fixed reason code.
    pub reason: RejectReason,
    /// What was wrong, for the response body.
    pub message: String,
}

impl Reject {
    /// A reject with a message.
    pub fn new(reason: RejectReason, message: impl Into<String>) -> Self {
        Self { reason, message: message.into() }
    }
}
