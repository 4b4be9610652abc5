-- Sessions, purchases and revenue by acquisition channel and referrer.
SELECT
    channel,
    referrer_host,
    count()        AS sessions,
    sum(purchases) AS purchases,
    sum(revenue)   AS revenue
FROM sessions
WHERE site_id = {site:String}
  AND started_at >= {from:DateTime} AND started_at < {to:DateTime}
  AND is_bot = 0
GROUP BY channel, referrer_host
ORDER BY sessions DESC, channel, referrer_host
LIMIT 100
