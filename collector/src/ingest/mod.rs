//! The HTTP edge of the data path: request metadata ([`ClientMeta`]), CORS
//! for configured origins ([`cors`]), bounded body reading ([`body`]) and the
//! `POST /v1/events` handler ([`events`]).
pub mod body;
pub mod cors;
pub mod events;
pub mod ratelimit;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// What the collector reads from a request besides its body. The client IP
/// is used for GeoIP and rate limits and never stored.
#[derive(Debug, Clone)]
pub struct ClientMeta {
    /// Peer address, or the first `X-Forwarded-For` entry when the proxy is trusted.
    pub ip: IpAddr,
    /// `User-Agent`.
    pub user_agent: String,
    /// `Origin`, if sent.
    pub origin: Option<String>,
    /// `Sec-GPC: 1` was sent.
    pub gpc: bool,
    /// The `ktra_consent` cookie, when the collector is on the site's own domain.
    pub consent_cookie: Option<String>,
}

impl ClientMeta {
    /// Reads metadata from headers and the peer address.
    pub fn from_parts(headers: &HeaderMap, peer: Option<SocketAddr>, trust_proxy: bool) -> Self {
        let h = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let forwarded = if trust_proxy {
            headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .and_then(|v| v.trim().parse::<IpAddr>().ok())
        } else {
            None
        };
        let ip = forwarded.or(peer.map(|p| p.ip())).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let consent_cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(cookie::Cookie::split_parse)
            .filter_map(Result::ok)
            .find(|c| c.name() == "ktra_consent")
            .map(|c| c.value().to_string());
        Self {
            ip,
            user_agent: h(header::USER_AGENT).unwrap_or_default(),
            origin: h(header::ORIGIN).filter(|o| o != "null"),
            gpc: headers.get("sec-gpc").is_some_and(|v| v.as_bytes() == b"1"),
            consent_cookie,
        }
    }
}

impl FromRequestParts<crate::state::AppState> for ClientMeta {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &crate::state::AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
        Ok(Self::from_parts(&parts.headers, peer, state.config.trust_proxy))
    }
}
