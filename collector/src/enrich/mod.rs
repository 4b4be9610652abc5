//! Enrichment: what the collector adds to an event from the request and the
//! event itself — GeoIP ([`geo`]), user agent and bot flag ([`ua`]),
//! referrer channel ([`channel`](mod@channel)) and URL parts ([`urlparts`], worked out
//! once per distinct URL of a request by [`request_urls`]); the row itself is
//! assembled in [`event_row`]. Nothing here keeps the client IP: it is
//! looked up and dropped.
pub mod channel;
pub mod event_row;
pub mod geo;
pub mod request_urls;
pub mod ua;
pub mod urlparts;

#[cfg(test)]
mod same_rows;

pub use channel::channel;
pub use geo::{Geo, GeoIp};
pub use ua::{parse_user_agent, parse_user_agent_uncached, UaInfo};
