-- Visitors with an event in the last few minutes (`since` = now minus five minutes).
SELECT uniqExact(visitor_id) AS visitors
FROM events
WHERE site_id = {site:String}
  AND ts >= {since:DateTime}
  AND is_bot = 0
  AND source != 'server'
