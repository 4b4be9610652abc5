//! The live view's SQL: the newest events of a site after a moment, each
//! counted once (`FINAL` folds retried copies), with what a site owner
//! checking the snippet wants to see and no full visitor id. Not `LIMIT 1 BY
//! id`: on a cluster each shard cut its rows at the limit with the copies
//! still in, and the newest events of a shard with copies went missing (seen
//! in `tests/tests/cluster.rs`).
use ktra_schema::queries::{self, Param, RenderError};
use std::collections::BTreeMap;

/// Events returned at most.
pub const LIMIT: u64 = 50;

/// The visitor id is cut to at most 6 characters and at most a third of its
/// length, followed by `…`: enough to tell visitors apart in a short list,
/// never enough to look one up.
const SQL: &str = "
SELECT
    toString(event_id)                                AS id,
    ts_ms                                             AS ts,
    toUInt32(received_at)                             AS received_at,
    event_type                                        AS type,
    path,
    country,
    browser,
    os,
    device,
    channel,
    if(visitor_id = '', '',
       concat(substring(visitor_id, 1, least(6, intDiv(length(visitor_id), 3))), '…')) AS visitor,
    is_bot                                            AS bot,
    multiIf(
        event_type = 'scroll',         concat(toString(scroll_depth), ' %'),
        event_type = 'purchase',       concat(order_id, ' · ', toString(revenue), ' ', currency),
        event_type = 'video_progress', concat(video_id, ' · ', toString(video_percent), ' %'),
        event_type IN ('video_start', 'video_complete'), video_id,
        event_type = 'form_submit',    form_id,
        event_type = 'custom',         event_name,
        event_type = 'engagement',     concat(toString(round(engaged_ms / 1000, 1)), ' s'),
        event_type = 'outbound_click', link_url,
        event_type = 'identify',       if(lead_id != '', 'lead', ''),
        event_type = 'email_click',    'email link',
        utm_campaign)                                 AS detail
FROM events FINAL
WHERE site_id = {site:String}
  AND ts >= {since_s:DateTime}
  AND ts_ms > {since:UInt64}
ORDER BY ts_ms DESC, id
LIMIT {limit:UInt64}";

/// The rendered SQL for `site` and events after `since_ms`.
pub fn sql(site: &str, since_ms: u64) -> Result<String, RenderError> {
    let since_s = u32::try_from(since_ms / 1000).unwrap_or(u32::MAX);
    queries::render(
        SQL,
        &BTreeMap::from([
            ("site", Param::Str(site.to_string())),
            ("since_s", Param::Time(since_s)),
            ("since", Param::UInt(since_ms)),
            ("limit", Param::UInt(LIMIT)),
        ]),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_escaped_and_bounded() {
        let sql = super::sql("x'y", 1_700_000_000_123).unwrap();
        assert!(sql.contains("site_id = 'x\\'y'"));
        assert!(sql.contains("ts >= toDateTime(1700000000)"));
        assert!(sql.contains("ts_ms > 1700000000123"));
        assert!(sql.trim_end().ends_with("LIMIT 50"));
    }
}
