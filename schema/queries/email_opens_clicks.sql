-- Opens against clicks per message. Human opens leave out mail proxies and
-- prefetchers (is_proxy: Gmail's image proxy, Yahoo, Apple Mail Privacy
-- Protection, Outlook/Safe Links scanners, bots); human clicks leave out bots
-- and link scanners. click_to_open = leads who clicked / leads with a human
-- open (it can exceed 1: many clients block images, so clicks without a
-- counted open are normal).
SELECT
    message_id,
    countIf(kind = 'open' AND machine = 0)               AS opens,
    uniqExactIf(lead_id, kind = 'open' AND machine = 0 AND lead_id != '')  AS leads_opened,
    countIf(kind = 'open' AND machine = 1)               AS proxy_opens,
    countIf(kind = 'click' AND machine = 0)              AS clicks,
    uniqExactIf(lead_id, kind = 'click' AND machine = 0 AND lead_id != '') AS leads_clicked,
    if(leads_opened = 0, 0, round(leads_clicked / leads_opened, 4)) AS click_to_open
FROM
(
    SELECT message_id, lead_id, 'open' AS kind, is_proxy AS machine
    FROM email_opens FINAL
    WHERE site_id = {site:String}
      AND opened_at >= {from:DateTime} AND opened_at < {to:DateTime}
    UNION ALL
    SELECT message_id, lead_id, 'click' AS kind, is_bot AS machine
    FROM email_clicks FINAL
    WHERE site_id = {site:String}
      AND clicked_at >= {from:DateTime} AND clicked_at < {to:DateTime}
)
GROUP BY message_id
ORDER BY leads_clicked DESC, leads_opened DESC, message_id
