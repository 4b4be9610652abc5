-- Visitors, sessions and page views per hour (the dashboard's resolution for
-- ranges up to two days).
-- Each event id counts once (a retried copy is the same event) without
-- FINAL, which on 18.16 merges the whole range first (docs/bench-dashboard.md).
SELECT
    toStartOfHour(ts)                   AS hour,
    uniqExact(visitor_id)               AS visitors,
    uniqExact(session_id)               AS sessions,
    uniqExactIf(event_id, event_type = 'page_view') AS page_views
FROM events
WHERE site_id = {site:String}
  AND ts >= {from:DateTime} AND ts < {to:DateTime}
  AND is_bot = 0
  AND source != 'server'
GROUP BY hour
ORDER BY hour
