-- Unique visitors by browser, operating system and device class.
SELECT
    browser,
    os,
    device,
    uniqExact(visitor_id) AS visitors
FROM events FINAL
WHERE site_id = {site:String}
  AND ts >= {from:DateTime} AND ts < {to:DateTime}
  AND is_bot = 0
  AND source != 'server'
GROUP BY browser, os, device
ORDER BY visitors DESC, browser, os, device
LIMIT 100
