-- Sessions, form submits, purchases and revenue by UTM source/medium/campaign.
SELECT
    utm_source,
    utm_medium,
    utm_campaign,
    count()           AS sessions,
    sum(form_submits) AS form_submits,
    sum(purchases)    AS purchases,
    sum(revenue)      AS revenue
FROM sessions
WHERE site_id = {site:String}
  AND started_at >= {from:DateTime} AND started_at < {to:DateTime}
  AND utm_source != ''
  AND is_bot = 0
GROUP BY utm_source, utm_medium, utm_campaign
ORDER BY sessions DESC, utm_source, utm_medium, utm_campaign
LIMIT 100
