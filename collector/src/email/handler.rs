//! The tracking-link endpoints.
//!
//! - `GET /c/{signed}`: verify, re-check the destination, record the click,
//!   302 to the destination with `ktra_ec=<click id>` added.
//! - `GET /o/{signed}.gif`: verify and re-check the same way, record the
//!   open (flagging mail proxies), answer a 1×1 transparent GIF.
//! - `POST /v1/admin/links`: sign a link (admin bearer key).
//!
//! A link that is malformed, tampered with or signed by another key gets a
//! 400 JSON error and never a redirect; an expired one gets 410. Neither
//! endpoint waits on ClickHouse or sets a cookie. When the write queue is
//! full the row is dropped and counted, and the visitor is still redirected:
//! losing a click row beats breaking the link in their email. `HEAD`
//! requests (link scanners) are answered the same way but record nothing.
use super::link::{self, LinkClaims, LinkError};
use super::{new_id, now_secs, proxy, sign_link, LinkRequest, SignedLinks, CLICK_PARAM, LINK_REQUESTS};
use crate::admin::Admin;
use crate::config::BotPolicy;
use crate::enrich::parse_user_agent;
use crate::error::ApiError;
use crate::ingest::ClientMeta;
use crate::sink::Rows;
use crate::state::AppState;
use crate::telemetry as t;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ktra_schema::row::{EmailClickRow, EmailOpenRow, TableRow};
use ktra_schema::RejectReason;
use std::net::SocketAddr;
use url::Url;

/// A transparent 1×1 GIF (GIF89a, two-colour table, transparency extension).
pub const PIXEL_GIF: [u8; 43] = [
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
    0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02,
    0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// Which endpoint, for metric labels.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Click,
    Open,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Click => "click",
            Kind::Open => "open",
        }
    }
}

fn count(kind: Kind, outcome: &'static str) {
    metrics::counter!(LINK_REQUESTS, "kind" => kind.as_str(), "outcome" => outcome).increment(1);
}

/// A refused tracking link: a JSON error, counted, never a redirect.
#[derive(Debug)]
struct Refused {
    kind: Kind,
    error: LinkError,
}

impl Refused {
    /// Fixed code: JSON `error`, metric label.
    fn code(&self) -> &'static str {
        match self.error {
            LinkError::Expired => "link_expired",
            LinkError::UnknownSite(_) => "link_unknown_site",
            LinkError::ForeignHost { .. } | LinkError::BadUrl(_) => "link_destination",
            _ => "link_invalid",
        }
    }

    fn outcome(&self) -> &'static str {
        match self.error {
            LinkError::Expired => "expired",
            LinkError::UnknownSite(_) => "unknown_site",
            LinkError::ForeignHost { .. } | LinkError::BadUrl(_) => "foreign_destination",
            _ => "invalid",
        }
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let code = self.code();
        count(self.kind, self.outcome());
        metrics::counter!(t::REJECTED_REQUESTS, "reason" => code).increment(1);
        let status = match self.error {
            LinkError::Expired => StatusCode::GONE,
            _ => StatusCode::BAD_REQUEST,
        };
        // The destination of a refused link is not echoed: it may be an attacker's.
        let message = match &self.error {
            LinkError::ForeignHost { host, .. } => {
                format!("this link's destination host {host:?} is no longer allowed for its site")
            }
            e => e.to_string(),
        };
        let mut resp = (status, Json(serde_json::json!({"error": code, "message": message}))).into_response();
        no_store(resp.headers_mut());
        resp
    }
}

fn no_store(h: &mut HeaderMap) {
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache, must-revalidate, private, max-age=0"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(header::EXPIRES, HeaderValue::from_static("0"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert("x-robots-tag", HeaderValue::from_static("noindex, nofollow"));
}

/// Verifies a link and checks it against the configuration as it is now:
/// its site must still exist and its destination must still be on the
/// site's hosts (both may have changed since it was signed). A link failing
/// either is dead for clicks and opens alike.
fn open_link(state: &AppState, kind: Kind, signed: &str) -> Result<(LinkClaims, Url), Refused> {
    let claims = link::verify(&state.link_key, signed, now_secs()).map_err(|error| Refused { kind, error })?;
    let Some(site) = state.site(&claims.site) else {
        return Err(Refused { kind, error: LinkError::UnknownSite(claims.site) });
    };
    let dest = link::check_destination(&claims.site, site, &claims.url).map_err(|error| Refused { kind, error })?;
    Ok((claims, dest))
}

/// The destination with `ktra_ec=<click_id>` appended to its query. Other
/// parameters keep their order and exact encoding, the fragment stays; an
/// existing `ktra_ec` is replaced.
pub fn with_click_id(dest: &Url, click_id: &str) -> Url {
    let mut query: Vec<&str> = dest
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && p.split('=').next() != Some(CLICK_PARAM))
        .collect();
    let param = format!("{CLICK_PARAM}={click_id}");
    query.push(&param);
    let mut out = dest.clone();
    out.set_query(Some(&query.join("&")));
    out
}

/// What a click or open may record about the person behind it: the lead,
/// geo and device only where the site's `email_tracking` and the lead's
/// recorded consent allow.
struct Seen {
    lead_id: String,
    geo: crate::enrich::Geo,
    ua: crate::enrich::UaInfo,
}

/// Records one click or open: nothing for `HEAD` or a client over its email
/// rate limit, else the row `make` builds from what may be recorded. Returns
/// the outcome label.
fn record<T: TableRow>(
    state: &AppState,
    method: &Method,
    meta: &ClientMeta,
    claims: &LinkClaims,
    dropped: bool,
    make: impl FnOnce(Seen) -> T,
) -> &'static str {
    if method == Method::HEAD {
        return "head";
    }
    if state.email_limit.check(&meta.rate_key()).is_err() {
        // The person still reaches the page or sees the image; a flood records nothing.
        return "rate_limited";
    }
    if dropped {
        return "bot_dropped";
    }
    let tracked = state.site(&claims.site).is_some_and(|site| state.leads.may_track(&claims.site, site, &claims.lead));
    let seen = if tracked {
        Seen { lead_id: claims.lead.clone(), geo: state.geo.lookup(meta.ip), ua: parse_user_agent(&meta.user_agent) }
    } else {
        Seen { lead_id: String::new(), geo: Default::default(), ua: Default::default() }
    };
    match state.sink.try_send(Rows::one(make(seen))) {
        Ok(()) if !tracked => "anonymous",
        Ok(()) => "recorded",
        Err(_) => {
            metrics::counter!(t::DROPPED_ROWS, "table" => T::TABLE, "reason" => "queue_full").increment(1);
            "queue_full"
        }
    }
}

fn unix_u32(now: u64) -> u32 {
    u32::try_from(now).unwrap_or(u32::MAX)
}

/// `GET /c/{signed}`.
pub async fn click(
    State(state): State<AppState>,
    method: Method,
    meta: ClientMeta,
    Path(signed): Path<String>,
) -> Response {
    match click_inner(&state, &method, &meta, &signed) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn click_inner(state: &AppState, method: &Method, meta: &ClientMeta, signed: &str) -> Result<Response, Refused> {
    let kind = Kind::Click;
    let (claims, dest) = open_link(state, kind, signed)?;
    let click_id = new_id();
    let location = with_click_id(&dest, &click_id);
    let location = HeaderValue::from_str(location.as_str()).map_err(|_| Refused { kind, error: LinkError::Invalid })?;
    let is_bot = proxy::is_machine(&meta.user_agent);
    let dropped = is_bot && state.config.bots == BotPolicy::Drop;
    let id = click_id.clone();
    let outcome = record(state, method, meta, &claims, dropped, |seen| EmailClickRow {
        click_id: id,
        site_id: claims.site.clone(),
        lead_id: seen.lead_id,
        message_id: claims.message.clone(),
        destination: dest.to_string(),
        clicked_at: unix_u32(now_secs()),
        country: seen.geo.country,
        region: seen.geo.region,
        city: seen.geo.city,
        browser: seen.ua.browser,
        os: seen.ua.os,
        device: seen.ua.device,
        is_bot: u8::from(is_bot),
    });
    if matches!(outcome, "recorded" | "anonymous") && !is_bot {
        // The visitor lands with ktra_ec=<click id>: its triggers know the message, and the
        // lead when the click may name it (else only once the visitor identifies).
        let lead = if outcome == "recorded" { claims.lead.as_str() } else { "" };
        state.automations.note_click(&click_id, lead, &claims.message);
    }
    count(kind, outcome);
    let mut resp = (StatusCode::FOUND, Body::empty()).into_response();
    let h = resp.headers_mut();
    h.insert(header::LOCATION, location);
    no_store(h);
    Ok(resp)
}

/// `GET /o/{signed}.gif`.
pub async fn open(
    State(state): State<AppState>,
    method: Method,
    meta: ClientMeta,
    Path(file): Path<String>,
) -> Response {
    match open_inner(&state, &method, &meta, &file) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn open_inner(state: &AppState, method: &Method, meta: &ClientMeta, file: &str) -> Result<Response, Refused> {
    let kind = Kind::Open;
    let signed = file.strip_suffix(".gif").ok_or(Refused { kind, error: LinkError::Invalid })?;
    let (claims, _) = open_link(state, kind, signed)?;
    let is_proxy = proxy::is_machine(&meta.user_agent) || proxy::is_apple_network(meta.ip);
    let outcome = record(state, method, meta, &claims, false, |seen| EmailOpenRow {
        open_id: new_id(),
        site_id: claims.site.clone(),
        lead_id: seen.lead_id,
        message_id: claims.message.clone(),
        opened_at: unix_u32(now_secs()),
        is_proxy: u8::from(is_proxy),
        country: seen.geo.country,
        browser: seen.ua.browser,
        os: seen.ua.os,
        device: seen.ua.device,
    });
    count(kind, outcome);
    let mut resp = (StatusCode::OK, Bytes::from_static(&PIXEL_GIF)).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/gif"));
    no_store(h);
    Ok(resp)
}

/// The collector's public base URL as the admin request reached it: the
/// `Host` header with `http`, or `https` when `X-Forwarded-Proto` says so;
/// the listen address when `Host` is missing or not a plain host\[:port\].
pub fn request_base(headers: &HeaderMap, listen: SocketAddr) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|h| !h.is_empty() && !h.contains('@'))
        .filter(|h| h.parse::<axum::http::uri::Authority>().is_ok())
        .map(str::to_string)
        .unwrap_or_else(|| listen.to_string());
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_ascii_lowercase());
    let scheme = if proto.as_deref() == Some("https") { "https" } else { "http" };
    format!("{scheme}://{host}")
}

/// `POST /v1/admin/links` with `{"site","lead","message","url","expires"?}`:
/// answers `{"click_url","open_url"}`.
pub async fn post_link(
    State(state): State<AppState>,
    _: Admin,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: LinkRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad(
            RejectReason::MalformedJson,
            format!("body must be {{\"site\",\"lead\",\"message\",\"url\",\"expires\"?}}: {e}"),
        )
    })?;
    let base = request_base(&headers, state.config.listen);
    let links: SignedLinks =
        sign_link(&state.link_key, &state.config, &req, &base, now_secs()).map_err(|e| match e {
            LinkError::UnknownSite(_) => ApiError::bad(RejectReason::UnknownSite, e.to_string()),
            e => ApiError::bad(RejectReason::BadValue, e.to_string()),
        })?;
    let mut resp = Json(links).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, SiteConfig};
    use crate::enrich::GeoIp;
    use crate::sink::Sink;
    use axum::http::Request;
    use tower::ServiceExt;

    #[test]
    fn click_id_is_appended_keeping_query_encoding_and_fragment() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert_eq!(with_click_id(&u("https://s.example/p"), "X").as_str(), "https://s.example/p?ktra_ec=X");
        assert_eq!(with_click_id(&u("https://s.example/p?"), "X").as_str(), "https://s.example/p?ktra_ec=X");
        assert_eq!(
            with_click_id(&u("https://s.example/p?a=1&b=x%20y+z&c&utm_source=news#top"), "X").as_str(),
            "https://s.example/p?a=1&b=x%20y+z&c&utm_source=news&ktra_ec=X#top"
        );
        assert_eq!(
            with_click_id(&u("https://s.example/?ktra_ec=old&a=1"), "X").as_str(),
            "https://s.example/?a=1&ktra_ec=X"
        );
        assert_eq!(with_click_id(&u("https://s.example/#a?b"), "X").as_str(), "https://s.example/?ktra_ec=X#a?b");
    }

    #[test]
    fn the_pixel_is_a_one_by_one_gif() {
        assert_eq!(&PIXEL_GIF[..6], b"GIF89a");
        assert_eq!((PIXEL_GIF[6], PIXEL_GIF[8]), (1, 1));
        assert_eq!(PIXEL_GIF.last(), Some(&0x3b));
    }

    #[test]
    fn base_url_follows_host_and_forwarded_proto() {
        let listen: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let mut h = HeaderMap::new();
        assert_eq!(request_base(&h, listen), "http://127.0.0.1:8080");
        h.insert(header::HOST, HeaderValue::from_static("t.shop.example"));
        assert_eq!(request_base(&h, listen), "http://t.shop.example");
        h.insert("x-forwarded-proto", HeaderValue::from_static("https, http"));
        assert_eq!(request_base(&h, listen), "https://t.shop.example");
        h.insert(header::HOST, HeaderValue::from_static("evil.example/x?"));
        assert_eq!(request_base(&h, listen), "https://127.0.0.1:8080");
    }

    /// A state for `demo` (hosts `shop.example`) whose queue of `capacity`
    /// requests is never drained, and the queue's receiving end.
    fn state(bots: BotPolicy, capacity: usize) -> (AppState, tokio::sync::mpsc::Receiver<crate::sink::Envelope>) {
        let mut cfg = Config { secret: "x".repeat(32), bots, ..Config::default() };
        cfg.sites.insert("demo".into(), SiteConfig { hosts: vec!["shop.example".into()], ..Default::default() });
        let dir = std::env::temp_dir().join(format!("ktra-email-unit-{}-{}", std::process::id(), new_id()));
        let spool = std::sync::Arc::new(crate::sink::spool::Spool::open(&dir, 1 << 20, 1 << 16).unwrap());
        let budget = std::sync::Arc::new(crate::sink::MemoryBudget::new(1 << 20, spool.clone()));
        let (sink, rx, _) = Sink::channel(capacity, crate::sink::Durability::Memory, budget);
        let parts = crate::state::Parts {
            sink,
            geo: GeoIp::none(),
            clickhouse: clickhouse::Client::default(),
            revocations: Default::default(),
            erasures: std::sync::Arc::new(crate::consent::erasure::Erasures::open(&dir).unwrap()),
            automations: std::sync::Arc::new(
                crate::automate::Automations::open(
                    &dir,
                    std::sync::Arc::new(crate::automate::deliver::Queue::open(&dir).unwrap()),
                )
                .unwrap(),
            ),
            spool,
        };
        (AppState::new(cfg, parts), rx)
    }

    /// The one click row of the next queued request.
    fn click_row(rx: &mut tokio::sync::mpsc::Receiver<crate::sink::Envelope>) -> EmailClickRow {
        let rows = rx.try_recv().expect("a queued request").rows;
        rows.downcast::<EmailClickRow>().expect("a click").remove(0)
    }

    /// A state whose queue holds one request and is full.
    fn full_queue_state() -> (AppState, tokio::sync::mpsc::Receiver<crate::sink::Envelope>) {
        let (state, rx) = state(BotPolicy::Flag, 1);
        state.sink.try_send(Rows::new(Vec::<ktra_schema::row::EventRow>::new())).unwrap();
        (state, rx)
    }

    #[tokio::test]
    async fn a_full_queue_still_redirects_and_still_serves_the_pixel() {
        let (state, mut rx) = full_queue_state();
        let req = LinkRequest {
            site: "demo".into(),
            lead: "L".into(),
            message: "m".into(),
            url: "https://shop.example/x?a=1#f".into(),
            expires: None,
        };
        let links = sign_link(&state.link_key, &state.config, &req, "", now_secs()).unwrap();
        let app = crate::app(state.clone());
        let resp = app.clone().oneshot(Request::get(&links.click_url).body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::FOUND);
        let loc = resp.headers()[header::LOCATION].to_str().unwrap();
        assert!(loc.starts_with("https://shop.example/x?a=1&ktra_ec=") && loc.ends_with("#f"), "{loc}");
        assert!(resp.headers().get(header::SET_COOKIE).is_none());
        let resp = app.oneshot(Request::get(&links.open_url).body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "image/gif");
        // Only the filler is queued: both rows were dropped, not waited for.
        assert_eq!(rx.try_recv().unwrap().rows.table(), "events");
        assert!(rx.try_recv().is_err());
    }

    #[tokio::test]
    async fn with_bots_dropped_a_scanner_click_redirects_but_is_not_stored() {
        let (state, mut rx) = state(BotPolicy::Drop, 4);
        let req = LinkRequest {
            site: "demo".into(),
            lead: "L".into(),
            message: "m".into(),
            url: "https://shop.example/".into(),
            expires: None,
        };
        let links = sign_link(&state.link_key, &state.config, &req, "", now_secs()).unwrap();
        let state2 = state.clone();
        let app = crate::app(state);
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0";
        let get = |ua: &'static str| {
            Request::get(&links.click_url).header(header::USER_AGENT, ua).body(Body::empty()).unwrap()
        };
        let resp = app.clone().oneshot(get("Mozilla/4.0 (compatible; ms-office; MSOffice 16)")).await.unwrap();
        assert_eq!(resp.status(), StatusCode::FOUND);
        assert!(rx.try_recv().is_err(), "the scanner's click is not stored");
        let resp = app.clone().oneshot(get(firefox)).await.unwrap();
        assert_eq!(resp.status(), StatusCode::FOUND);
        let r = click_row(&mut rx);
        assert!(
            r.is_bot == 0 && r.lead_id.is_empty() && r.browser.is_empty(),
            "a lead without recorded consent is counted per message only"
        );
        state2.leads.grant("demo", "L");
        let resp = app.oneshot(get(firefox)).await.unwrap();
        assert_eq!(resp.status(), StatusCode::FOUND);
        let r = click_row(&mut rx);
        assert!(r.lead_id == "L" && r.browser == "Firefox", "a consented lead's click keeps lead and device");
    }

    #[tokio::test]
    async fn a_head_request_redirects_but_records_nothing() {
        let (state, mut rx) = full_queue_state();
        let _ = rx.try_recv();
        let req = LinkRequest {
            site: "demo".into(),
            lead: "L".into(),
            message: "m".into(),
            url: "https://shop.example/".into(),
            expires: None,
        };
        let links = sign_link(&state.link_key, &state.config, &req, "", now_secs()).unwrap();
        let resp =
            crate::app(state).oneshot(Request::head(&links.click_url).body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::FOUND);
        assert!(rx.try_recv().is_err());
    }
}
