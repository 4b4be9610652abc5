-- Unique visitors by browser, operating system and device class.
-- No FINAL: the answer is the same with or without retried copies of an event.
SELECT
    browser,
    os,
    device,
    uniqExact(visitor_id) AS visitors
FROM events
WHERE site_id = {site:String}
  AND ts >= {from:DateTime} AND ts < {to:DateTime}
  AND is_bot = 0
  AND source != 'server'
GROUP BY browser, os, device
ORDER BY visitors DESC, browser, os, device
LIMIT 100
