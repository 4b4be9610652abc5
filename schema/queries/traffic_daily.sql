-- Visitors, sessions and page views per day.
SELECT
    toDate(ts)                          AS day,
    uniqExact(visitor_id)               AS visitors,
    uniqExact(session_id)               AS sessions,
    countIf(event_type = 'page_view')   AS page_views
FROM events FINAL
WHERE site_id = {site:String}
  AND ts >= {from:DateTime} AND ts < {to:DateTime}
  AND is_bot = 0
  AND source != 'server'
GROUP BY day
ORDER BY day
