-- How many page views reached each scroll depth.
-- No FINAL: retried copies of an event share its id, and each id counts once.
SELECT
    scroll_depth          AS depth,
    uniqExact(event_id)   AS page_views_reaching
FROM events
WHERE site_id = {site:String}
  AND ts >= {from:DateTime} AND ts < {to:DateTime}
  AND event_type = 'scroll'
  AND is_bot = 0
GROUP BY depth
ORDER BY depth
