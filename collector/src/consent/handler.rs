//! `POST /v1/consent` (record a decision, return a signed token),
//! `GET /v1/config/{site}` (what the banner needs), and the consent check
//! applied to every event batch.
use super::token::Claims;
use crate::config::SiteConfig;
use crate::enrich::parse_user_agent;
use crate::error::ApiError;
use crate::ingest::body::{check_content_type, read_limited};
use crate::ingest::{cors, ClientMeta};
use crate::regions;
use crate::sink::Rows;
use crate::state::{origin_allowed, AppState};
use crate::telemetry as t;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ktra_schema::consent::{validate_decision, ConsentAction, ConsentDecision, ConsentModel, ConsentSource, Purpose};
use ktra_schema::row::ConsentRow;
use ktra_schema::RejectReason;
use serde::{Deserialize, Serialize};

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn consent_err(reason: RejectReason, message: &str) -> ApiError {
    ApiError::Consent { reason, message: message.to_string() }
}

/// The consent an event batch was accepted under.
#[derive(Debug, Clone, Default)]
pub struct EventConsent {
    /// The token's consent id.
    pub consent_id: String,
    /// Its chain's first consent id.
    pub root: String,
    /// Its expiry, Unix seconds (0: no token, consent not enforced).
    pub expires: u64,
}

/// Checks the consent token of an event batch for `site_id`. Refuses a
/// missing, forged, other-site, expired, old-revision, revoked token, one
/// that does not grant both analytics and marketing, and implied consent
/// (an `opt_out` notice) where the request's region requires a grant or the
/// browser sends GPC.
pub fn check_event_consent(
    state: &AppState,
    site_id: &str,
    site: &SiteConfig,
    token: Option<&str>,
    meta: &ClientMeta,
) -> Result<EventConsent, ApiError> {
    let enforce = state.config.consent.enforce;
    let Some(token) = token else {
        return if enforce {
            Err(consent_err(
                RejectReason::ConsentMissing,
                "no consent token: events are stored only after the visitor grants analytics and marketing",
            ))
        } else {
            Ok(EventConsent::default())
        };
    };
    let claims = match state.consent_key.verify(token) {
        Ok(c) => c,
        Err(_) if !enforce => return Ok(EventConsent::default()),
        Err(_) => {
            return Err(consent_err(
                RejectReason::ConsentInvalid,
                "consent token is malformed or its signature is wrong",
            ))
        }
    };
    let consent = EventConsent {
        root: claims.root_id().to_string(),
        consent_id: claims.consent_id.clone(),
        expires: claims.expires,
    };
    if !enforce {
        return Ok(consent);
    }
    check_claims(&claims, site_id, site, unix_now(), state.revocations.is_revoked(&claims.consent_id))?;
    if claims.implied {
        let here = regions::decide(&site.regions, &state.geo.lookup(meta.ip));
        check_implied(here.model, meta.gpc)?;
    }
    Ok(consent)
}

/// The checks on verified claims, separated for tests.
pub fn check_claims(c: &Claims, site_id: &str, site: &SiteConfig, now: u64, revoked: bool) -> Result<(), ApiError> {
    if c.site != site_id {
        return Err(consent_err(RejectReason::ConsentOtherSite, "consent token was issued for another site"));
    }
    if c.expires <= now {
        return Err(consent_err(RejectReason::ConsentExpired, "consent has expired; the visitor must be asked again"));
    }
    if c.revision < site.revision {
        return Err(consent_err(RejectReason::ConsentOldRevision, "consent was given to an older banner revision"));
    }
    if revoked {
        return Err(consent_err(RejectReason::ConsentWithdrawn, "consent was withdrawn or replaced"));
    }
    if !Purpose::ALL.iter().all(|p| c.grants(p.as_str())) {
        return Err(consent_err(RejectReason::ConsentPurposes, "consent does not grant both analytics and marketing"));
    }
    Ok(())
}

/// Implied consent holds only where the model allows it (an `opt_in` region
/// needs an explicit grant, wherever the token was made) and never with GPC,
/// which is a refusal.
pub fn check_implied(model_here: ConsentModel, gpc: bool) -> Result<(), ApiError> {
    if !model_here.allows_implied() {
        return Err(consent_err(
            RejectReason::ConsentModel,
            "consent was implied by a notice, but the visitor's region requires an explicit grant",
        ));
    }
    if gpc {
        return Err(consent_err(RejectReason::ConsentGpc, "Global Privacy Control is a refusal of implied consent"));
    }
    Ok(())
}

/// The answer to a decision.
#[derive(Debug, Serialize, Deserialize)]
pub struct ConsentResponse {
    /// Signed token for the `ktra_consent` cookie.
    pub token: String,
    /// The new consent id.
    pub consent_id: String,
    /// Expiry, Unix seconds.
    pub expires_at: u64,
    /// Cookie lifetime in seconds.
    pub max_age: u64,
    /// Whether an erasure of the visitor's events was scheduled.
    pub erased: bool,
}

impl Clone for ConsentResponse {
    fn clone(&self) -> Self {
        Self {
            token: self.token.clone(),
            consent_id: self.consent_id.clone(),
            expires_at: self.expires_at,
            max_age: self.max_age,
            erased: self.erased,
        }
    }
}

/// `POST /v1/consent`.
pub async fn post_consent(State(state): State<AppState>, meta: ClientMeta, headers: HeaderMap, body: Body) -> Response {
    let origin = meta.origin.clone();
    let (mut resp, cookie) = match record(&state, meta, &headers, body).await {
        Ok((r, cookie)) => (Json(r).into_response(), cookie),
        Err(e) => (e.into_response(), None),
    };
    let allowed = origin.as_deref().is_some_and(|o| state.any_site_allows(o));
    if let Some(o) = origin.as_deref() {
        if allowed && resp.status() != StatusCode::FORBIDDEN {
            cors::allow(resp.headers_mut(), o);
        }
    }
    // `server_cookie`: a decision that grants nothing expires the server-set visitor cookie.
    if let Some(c) = cookie {
        crate::tracking::cookie::attach(resp.headers_mut(), c, allowed);
    }
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Read → site and origin → validate (ktra-schema) → a retry of a known
/// decision gets its answer → prove the previous token → record the proof →
/// revoke the replaced token → queue the erasure → sign the new token.
async fn record(
    state: &AppState,
    meta: ClientMeta,
    headers: &HeaderMap,
    body: Body,
) -> Result<(ConsentResponse, Option<HeaderValue>), ApiError> {
    state.client_limit.check(&meta.rate_key()).map_err(ApiError::RateLimited)?;
    check_content_type(headers)?;
    let bytes = read_limited(headers, body, 16 * 1024).await?;
    let req: ConsentDecision = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad(RejectReason::MalformedJson, format!("body is not a valid consent decision: {e}"))
    })?;
    let site = state.site(&req.site).ok_or_else(|| {
        let site = req.site.chars().take(64).collect::<String>();
        ApiError::bad(RejectReason::UnknownSite, format!("unknown site {site:?}"))
    })?;
    if !origin_allowed(site, meta.origin.as_deref()) {
        return Err(ApiError::Origin(meta.origin.unwrap_or_default()));
    }
    let d = validate_decision(&req, site.revision).map_err(|r| ApiError::bad(r.reason, r.message))?;
    // The model is the server's decision, from where the request comes from;
    // nothing the caller sends changes it.
    let geo = state.geo.lookup(meta.ip);
    let region = regions::decide(&site.regions, &geo);
    let implied = d.source == ConsentSource::Notice && !d.granted.is_empty();
    if implied {
        check_implied(region.model, req.gpc || meta.gpc)?;
    }
    let dedup_key = d.decision_id.as_ref().map(|id| (req.site.clone(), id.clone()));
    if let Some(answer) = dedup_key.as_ref().and_then(|k| state.decisions.get(k)) {
        metrics::counter!(t::CONSENT_DECISIONS, "action" => "repeated").increment(1);
        return Ok((answer, None));
    }

    let now = unix_now();
    // The decision this one replaces: only a genuine, unexpired token of this
    // site counts. It is the proof that the caller is the visitor whose
    // decision is replaced, withdrawn or erased.
    let previous = req
        .previous
        .as_deref()
        .and_then(|t| state.consent_key.verify(t).ok())
        .filter(|c| c.site == req.site && c.expires > now);
    let max_age = u64::from(site.consent_days) * 86_400;
    let expires_at = now + max_age;
    // A decision id names the decision for good: a copy recorded by another
    // collector (or before a restart) has the same consent id.
    let consent_id = d.decision_id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let root = previous.as_ref().map(|p| p.root_id().to_string()).unwrap_or_else(|| consent_id.clone());
    let withdraw = d.action == ConsentAction::Withdraw;
    let names = |ps: &[Purpose]| ps.iter().map(|p| p.as_str().to_string()).collect::<Vec<_>>();
    let ua = parse_user_agent(&meta.user_agent);
    let row = ConsentRow {
        consent_id: consent_id.clone(),
        site_id: req.site.clone(),
        action: d.action.as_str().into(),
        source: d.source.as_str().into(),
        granted: names(&d.granted),
        denied: names(&d.denied),
        revision: d.revision,
        language: req.language.clone(),
        text_hash: req.text_hash.clone(),
        previous_id: previous.as_ref().map(|p| p.consent_id.clone()).unwrap_or_default(),
        // Only a proven withdrawal names its visitor (for the operator's erasure by visitor id).
        visitor_id: if withdraw && previous.is_some() { d.vid.clone().unwrap_or_default() } else { String::new() },
        gpc: u8::from(req.gpc || meta.gpc),
        country: geo.country,
        browser: ua.browser,
        os: ua.os,
        device: ua.device,
        expires_at: u32::try_from(expires_at).unwrap_or(u32::MAX),
        recorded_at: u32::try_from(now).unwrap_or(u32::MAX),
        region: region.region.clone(),
        model: region.model.as_str().into(),
    };
    // Proof of consent is durable before the token is handed out.
    state
        .sink
        .submit(Rows::one(row))
        .await
        .map_err(|e| ApiError::Unavailable { retry_after: 2, message: format!("{e}; retry later") })?;
    metrics::counter!(t::CONSENT_DECISIONS, "action" => d.action.as_str()).increment(1);
    if let Some(p) = &previous {
        state.revocations.revoke(&p.consent_id, p.expires.max(now + 1));
        // Nothing more is sent about a visitor who no longer grants marketing.
        if !d.granted.contains(&Purpose::Marketing) {
            state.automations.queue.drop_chain(p.root_id(), &state.sink);
        }
    }
    // Erasure only with proof: the withdrawn chain is the one the caller's token names.
    let erase = withdraw && site.erase_on_withdraw && previous.is_some();
    if let (true, Some(p)) = (erase, &previous) {
        state.erasures.request(&req.site, p.root_id()).map_err(|e| ApiError::Unavailable {
            retry_after: 2,
            message: format!("cannot record the erasure: {e}"),
        })?;
    }
    let claims = Claims {
        version: 1,
        consent_id: consent_id.clone(),
        site: req.site.clone(),
        purposes: names(&d.granted),
        revision: d.revision,
        expires: expires_at,
        root,
        model: region.model.as_str().into(),
        implied,
    };
    let answer =
        ConsentResponse { token: state.consent_key.sign(&claims), consent_id, expires_at, max_age, erased: erase };
    if let Some(k) = dedup_key {
        state.decisions.insert(k, answer.clone());
    }
    let expire = d.granted.is_empty().then(|| crate::tracking::cookie::expire_vid(site)).flatten();
    Ok((answer, expire))
}

/// What the banner needs to know about a site.
#[derive(Debug, Serialize)]
pub struct SitePublicConfig<'a> {
    /// Site id.
    pub site: &'a str,
    /// Current banner revision.
    pub revision: u32,
    /// Consent lifetime in days.
    pub lifetime_days: u32,
    /// Show the floating button.
    pub floating_button: bool,
    /// Whether withdrawal erases the visitor's events.
    pub erase_on_withdraw: bool,
    /// Privacy policy link.
    pub privacy_url: &'a str,
    /// Fallback language.
    pub default_language: &'a str,
    /// Text overrides, with the notice form's texts for `opt_out` and `none`.
    pub texts: regions::texts::Texts,
    /// The `[sites.ID.regions]` rule that decided the model (`eu`, `US-CA`, `default`, `unknown`).
    pub region: String,
    /// The consent model where the visitor is: `opt_in`, `opt_out` or `none`.
    pub model: ConsentModel,
    /// Whether not refusing counts as consent here (`opt_out`, `none`): the
    /// banner records implied consent and shows the notice form (`opt_out`).
    pub implied: bool,
    /// The site language chosen by `Accept-Language` (else `default_language`).
    pub language: String,
}

/// `GET /v1/config/{site}`.
pub async fn get_config(
    State(state): State<AppState>,
    meta: ClientMeta,
    headers: HeaderMap,
    Path(site_id): Path<String>,
) -> Response {
    let Some(site) = state.site(&site_id) else {
        return ApiError::NotFound(format!("unknown site {:?}", site_id.chars().take(64).collect::<String>()))
            .into_response();
    };
    let decision = regions::decide(&site.regions, &state.geo.lookup(meta.ip));
    let implied = decision.model.allows_implied();
    let mut languages: Vec<&str> = site.languages.iter().map(String::as_str).collect();
    languages.extend(site.texts.keys().map(String::as_str));
    let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let language = regions::texts::choose_language(accept, &languages).unwrap_or(&site.default_language).to_string();
    let region_texts = site.region_texts.get(&decision.region).or_else(|| site.region_texts.get(&decision.location));
    let body = SitePublicConfig {
        site: &site_id,
        revision: site.revision,
        lifetime_days: site.consent_days,
        floating_button: site.floating_button,
        erase_on_withdraw: site.erase_on_withdraw,
        privacy_url: &site.privacy_url,
        default_language: &site.default_language,
        texts: regions::texts::for_region(&site.texts, implied, region_texts),
        region: decision.region,
        model: decision.model,
        implied,
        language,
    };
    let mut resp = Json(body).into_response();
    match meta.origin.as_deref() {
        Some(o) if site.origins.iter().any(|a| a == o) => cors::allow(resp.headers_mut(), o),
        // A shared cache must not hand one origin's answer to another.
        _ => {
            resp.headers_mut().append(header::VARY, HeaderValue::from_static("Origin"));
        }
    }
    // The answer depends on where the visitor is: no shared cache may keep it.
    resp.headers_mut().append(header::VARY, HeaderValue::from_static("Accept-Language"));
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=60"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> SiteConfig {
        SiteConfig { revision: 3, ..Default::default() }
    }

    fn claims() -> Claims {
        Claims {
            version: 1,
            consent_id: "c".into(),
            site: "demo".into(),
            purposes: vec!["analytics".into(), "marketing".into()],
            revision: 3,
            expires: 1000,
            root: String::new(),
            model: String::new(),
            implied: false,
        }
    }

    fn reason(r: Result<(), ApiError>) -> Option<RejectReason> {
        match r {
            Ok(()) => None,
            Err(ApiError::Consent { reason, .. }) => Some(reason),
            Err(e) => panic!("unexpected {e:?}"),
        }
    }

    #[test]
    fn claims_checks() {
        assert_eq!(reason(check_claims(&claims(), "demo", &site(), 999, false)), None);
        assert_eq!(reason(check_claims(&claims(), "other", &site(), 999, false)), Some(RejectReason::ConsentOtherSite));
        assert_eq!(reason(check_claims(&claims(), "demo", &site(), 1000, false)), Some(RejectReason::ConsentExpired));
        assert_eq!(
            reason(check_claims(&claims(), "demo", &SiteConfig { revision: 4, ..site() }, 999, false)),
            Some(RejectReason::ConsentOldRevision)
        );
        assert_eq!(reason(check_claims(&claims(), "demo", &site(), 999, true)), Some(RejectReason::ConsentWithdrawn));
        let only_analytics = Claims { purposes: vec!["analytics".into()], ..claims() };
        assert_eq!(
            reason(check_claims(&only_analytics, "demo", &site(), 999, false)),
            Some(RejectReason::ConsentPurposes)
        );
    }

    #[test]
    fn implied_consent_only_where_the_model_allows_and_never_with_gpc() {
        let r = |m, gpc| match check_implied(m, gpc) {
            Ok(()) => None,
            Err(ApiError::Consent { reason, .. }) => Some(reason),
            Err(e) => panic!("unexpected {e:?}"),
        };
        assert_eq!(r(ConsentModel::OptOut, false), None);
        assert_eq!(r(ConsentModel::None, false), None);
        assert_eq!(r(ConsentModel::OptIn, false), Some(RejectReason::ConsentModel));
        assert_eq!(r(ConsentModel::OptOut, true), Some(RejectReason::ConsentGpc));
    }
}
