//! Checking the query-string parameters of `/v1/stats/…`: a configured site,
//! a bounded time range in Unix seconds, a recent `since` in Unix ms. Every
//! refusal is a 400 with a message saying what is expected.
use crate::error::ApiError;
use crate::state::AppState;
use ktra_schema::RejectReason;
use std::collections::HashMap;

/// The longest range a query may cover: 400 days.
pub const MAX_RANGE_SECS: u32 = 400 * 86_400;
/// How far back the live view may look: 7 days.
pub const MAX_LIVE_MS: u64 = 7 * 86_400 * 1000;
/// The live view's default look-back: 24 hours.
pub const DEFAULT_LIVE_MS: u64 = 86_400 * 1000;

/// A time range `[from, to)` in Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// Start, inclusive.
    pub from: u32,
    /// End, exclusive.
    pub to: u32,
}

/// The `site` parameter, which must name a configured site.
pub fn site(state: &AppState, p: &HashMap<String, String>) -> Result<String, ApiError> {
    let site = p.get("site").map(|s| s.trim()).unwrap_or("");
    if site.is_empty() {
        return Err(ApiError::bad(RejectReason::MissingField, "site is required (a site id from /v1/stats/sites)"));
    }
    if state.site(site).is_none() {
        return Err(ApiError::bad(
            RejectReason::UnknownSite,
            format!("unknown site {:?}", site.chars().take(64).collect::<String>()),
        ));
    }
    Ok(site.to_string())
}

fn unix(p: &HashMap<String, String>, name: &str) -> Result<u32, ApiError> {
    let raw = p.get(name).map(|s| s.trim()).unwrap_or("");
    if raw.is_empty() {
        return Err(ApiError::bad(RejectReason::MissingField, format!("{name} is required (Unix seconds)")));
    }
    raw.parse::<u32>().map_err(|_| {
        ApiError::bad(
            RejectReason::BadValue,
            format!(
                "{name} must be Unix seconds (0 to 4294967295), not {:?}",
                raw.chars().take(32).collect::<String>()
            ),
        )
    })
}

/// `from` and `to` (Unix seconds): `from < to`, at most [`MAX_RANGE_SECS`] apart.
pub fn range(p: &HashMap<String, String>) -> Result<Range, ApiError> {
    let (from, to) = (unix(p, "from")?, unix(p, "to")?);
    if from >= to {
        return Err(ApiError::bad(RejectReason::BadValue, format!("from ({from}) must be before to ({to})")));
    }
    if to - from > MAX_RANGE_SECS {
        return Err(ApiError::bad(
            RejectReason::BadValue,
            format!("the range is {} days long; at most 400 days", (to - from).div_ceil(86_400)),
        ));
    }
    Ok(Range { from, to })
}

/// `since` (Unix ms, optional): defaults to 24 hours before `now_ms`; may not
/// lie more than 7 days back.
pub fn since(p: &HashMap<String, String>, now_ms: u64) -> Result<u64, ApiError> {
    let raw = p.get("since").map(|s| s.trim()).unwrap_or("");
    if raw.is_empty() {
        return Ok(now_ms.saturating_sub(DEFAULT_LIVE_MS));
    }
    let since = raw.parse::<u64>().map_err(|_| {
        ApiError::bad(
            RejectReason::BadValue,
            format!("since must be Unix milliseconds, not {:?}", raw.chars().take(32).collect::<String>()),
        )
    })?;
    if since < now_ms.saturating_sub(MAX_LIVE_MS) {
        return Err(ApiError::bad(RejectReason::BadValue, "since must lie within the last 7 days (Unix milliseconds)"));
    }
    Ok(since)
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn msg(e: ApiError) -> (u16, String) {
        (e.status().as_u16(), e.to_string())
    }

    #[test]
    fn ranges_are_ordered_bounded_and_numeric() {
        assert_eq!(range(&p(&[("from", "100"), ("to", "200")])).unwrap(), Range { from: 100, to: 200 });
        assert_eq!(range(&p(&[("from", "0"), ("to", &MAX_RANGE_SECS.to_string())])).unwrap().to, MAX_RANGE_SECS);
        let (s, m) = msg(range(&p(&[("from", "0"), ("to", &(MAX_RANGE_SECS + 1).to_string())])).unwrap_err());
        assert_eq!((s, m.as_str()), (400, "the range is 401 days long; at most 400 days"));
        assert_eq!(msg(range(&p(&[("from", "200"), ("to", "200")])).unwrap_err()).0, 400);
        assert!(msg(range(&p(&[("to", "200")])).unwrap_err()).1.contains("from is required"));
        assert!(msg(range(&p(&[("from", "-1"), ("to", "200")])).unwrap_err()).1.contains("from must be Unix seconds"));
        assert!(msg(range(&p(&[("from", "1"), ("to", "1e9")])).unwrap_err()).1.contains("to must be Unix seconds"));
        assert!(range(&p(&[("from", "1"), ("to", "99999999999")])).is_err(), "past 2106");
    }

    #[test]
    fn since_defaults_to_a_day_and_is_bounded_to_a_week() {
        let now = 1_800_000_000_000;
        assert_eq!(since(&p(&[]), now).unwrap(), now - DEFAULT_LIVE_MS);
        assert_eq!(since(&p(&[("since", "1799999999000")]), now).unwrap(), 1_799_999_999_000);
        assert_eq!(since(&p(&[("since", &(now + 5).to_string())]), now).unwrap(), now + 5);
        assert_eq!(msg(since(&p(&[("since", "0")]), now).unwrap_err()).0, 400);
        assert_eq!(msg(since(&p(&[("since", "soon")]), now).unwrap_err()).0, 400);
    }
}
