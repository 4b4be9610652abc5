-- How many page views reached each scroll depth.
SELECT
    scroll_depth          AS depth,
    count()               AS page_views_reaching
FROM events FINAL
WHERE site_id = {site:String}
  AND ts >= {from:DateTime} AND ts < {to:DateTime}
  AND event_type = 'scroll'
  AND is_bot = 0
GROUP BY depth
ORDER BY depth
