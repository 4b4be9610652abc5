-- Unique visitors by country ('' when unknown).
-- No FINAL: the answer is the same with or without retried copies of an event.
SELECT
    country,
    uniqExact(visitor_id) AS visitors
FROM events
WHERE site_id = {site:String}
  AND ts >= {from:DateTime} AND ts < {to:DateTime}
  AND is_bot = 0
  AND source != 'server'
GROUP BY country
ORDER BY visitors DESC, country
LIMIT 100
