-- Visitors, sessions and page views per hour (the dashboard's resolution for
-- ranges up to two days).
SELECT
    toStartOfHour(ts)                   AS hour,
    uniqExact(visitor_id)               AS visitors,
    uniqExact(session_id)               AS sessions,
    countIf(event_type = 'page_view')   AS page_views
FROM events FINAL
WHERE site_id = {site:String}
  AND ts >= {from:DateTime} AND ts < {to:DateTime}
  AND is_bot = 0
  AND source != 'server'
GROUP BY hour
ORDER BY hour
