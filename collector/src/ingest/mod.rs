//! The HTTP edge of the data path: request metadata ([`ClientMeta`]), CORS
//! for configured origins ([`cors`]), bounded body reading ([`body`]) and the
//! `POST /v1/events` handler ([`events`]).
pub mod batch;
pub mod body;
pub mod cors;
pub mod events;
pub mod ratelimit;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// What the collector reads from a request besides its body. The client IP
/// is used for GeoIP and rate limits and never stored.
#[derive(Debug, Clone)]
pub struct ClientMeta {
    /// Peer address, or the client's address from `X-Forwarded-For` behind trusted proxies.
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
    /// Reads metadata from headers and the peer address. With `trusted_proxies`
    /// (`Some(n)`: `trust_proxy` is on, `n` proxies append to
    /// `X-Forwarded-For`), the client is the entry `n` places from the right;
    /// anything left of it was written by the client and is ignored.
    pub fn from_parts(headers: &HeaderMap, peer: Option<SocketAddr>, trusted_proxies: Option<usize>) -> Self {
        let h = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let forwarded = trusted_proxies.and_then(|n| forwarded_client(headers, n));
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
            // `Origin: null` (sandboxed frames, data: and file: pages) is an
            // origin like any other: allowed only where configured.
            origin: h(header::ORIGIN),
            gpc: headers.get("sec-gpc").is_some_and(|v| v.as_bytes() == b"1"),
            consent_cookie,
        }
    }

    /// The key rate limits count under: the address, or for IPv6 its /64
    /// (one subscriber's whole prefix, which it can rotate through at will).
    pub fn rate_key(&self) -> IpAddr {
        rate_key(self.ip)
    }
}

/// See [`ClientMeta::rate_key`].
pub fn rate_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
    }
}

/// The address `trusted` hops from the right of all `X-Forwarded-For`
/// headers (the leftmost entry if there are fewer); `None` if it is not an address.
fn forwarded_client(headers: &HeaderMap, trusted: usize) -> Option<IpAddr> {
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    let i = hops.len().checked_sub(trusted.max(1)).unwrap_or(0);
    hops.get(i)?.parse().ok()
}

impl FromRequestParts<crate::state::AppState> for ClientMeta {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &crate::state::AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
        let trusted = state.config.trust_proxy.then_some(state.config.trusted_proxies);
        Ok(Self::from_parts(&parts.headers, peer, trusted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(xff: &[&str], trusted: Option<usize>) -> ClientMeta {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        ClientMeta::from_parts(&h, Some("10.0.0.9:1234".parse().unwrap()), trusted)
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_hop() {
        // The client wrote "6.6.6.6"; the load balancer appended what it saw.
        assert_eq!(meta(&["6.6.6.6, 81.2.69.1"], Some(1)).ip.to_string(), "81.2.69.1");
        assert_eq!(meta(&["6.6.6.6", "81.2.69.1"], Some(1)).ip.to_string(), "81.2.69.1", "repeated headers");
        assert_eq!(meta(&["6.6.6.6, 81.2.69.1, 10.0.0.2"], Some(2)).ip.to_string(), "81.2.69.1");
        assert_eq!(meta(&["81.2.69.1"], Some(3)).ip.to_string(), "81.2.69.1", "fewer hops than proxies");
        assert_eq!(meta(&["6.6.6.6, 81.2.69.1"], None).ip.to_string(), "10.0.0.9", "untrusted: the peer");
        assert_eq!(meta(&["6.6.6.6, junk"], Some(1)).ip.to_string(), "10.0.0.9", "garbage: the peer");
    }

    #[test]
    fn ipv6_clients_are_limited_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(rate_key(a), rate_key(b));
        assert_ne!(rate_key(a), rate_key(c));
        let v4: IpAddr = "81.2.69.1".parse().unwrap();
        assert_eq!(rate_key(v4), v4);
        assert_eq!(rate_key("::ffff:81.2.69.1".parse().unwrap()), v4);
    }

    #[test]
    fn origin_null_is_kept_as_an_origin() {
        let mut h = HeaderMap::new();
        h.insert(header::ORIGIN, "null".parse().unwrap());
        assert_eq!(ClientMeta::from_parts(&h, None, None).origin.as_deref(), Some("null"));
    }
}
