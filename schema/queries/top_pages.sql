-- Most viewed pages, with unique visitors and average engaged time per page
-- view (the pixel reports engagement in increments; they add up per view).
-- Each event id counts once (a retried copy is the same event) without
-- FINAL, which on 18.16 merges the whole range first (docs/bench-dashboard.md).
SELECT
    path,
    countIf(event_type = 'page_view')                       AS page_views,
    uniqExactIf(visitor_id, event_type = 'page_view')       AS visitors,
    toUInt32(sumIf(engaged_ms, event_type = 'engagement') / greatest(countIf(event_type = 'page_view'), 1)) AS avg_engaged_ms
FROM
(
    SELECT path, event_type, visitor_id, engaged_ms
    FROM events
    WHERE site_id = {site:String}
      AND ts >= {from:DateTime} AND ts < {to:DateTime}
      AND is_bot = 0
    LIMIT 1 BY event_id
)
GROUP BY path
HAVING page_views > 0
ORDER BY page_views DESC, path
LIMIT 50
