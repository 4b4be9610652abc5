-- Email funnel per message: human clicks and the leads who clicked, the web
-- sessions those clicks started (only visitors who then consented have one),
-- and the form submits, purchases and revenue in those sessions. Clicks by
-- bots and link scanners are counted apart (bot_clicks) and start nothing.
-- The window applies to the click time.
-- Anonymous clicks and opens (a lead without recorded consent, see the
-- site's email_tracking) carry no lead id and count as clicks, not leads.
SELECT
    message_id,
    clicks,
    leads,
    bot_clicks,
    sessions,
    form_submits,
    purchases,
    revenue
FROM
(
    SELECT
        message_id,
        uniqExactIf(click_id, is_bot = 0) AS clicks,
        uniqExactIf(lead_id, is_bot = 0 AND lead_id != '') AS leads,
        uniqExactIf(click_id, is_bot = 1) AS bot_clicks
    FROM email_clicks FINAL
    WHERE site_id = {site:String}
      AND clicked_at >= {from:DateTime} AND clicked_at < {to:DateTime}
    GROUP BY message_id
) AS per_message
ANY LEFT JOIN
(
    SELECT
        message_id,
        count() AS sessions,
        sum(fs) AS form_submits,
        sum(np) AS purchases,
        sum(rv) AS revenue
    FROM
    (
        SELECT email_click_id AS click_id, form_submits AS fs, purchases AS np, revenue AS rv
        FROM sessions
        WHERE site_id = {site:String} AND email_click_id != '' AND is_bot = 0
    ) AS clicked_sessions
    ALL INNER JOIN
    (
        SELECT click_id, message_id
        FROM email_clicks FINAL
        WHERE site_id = {site:String}
          AND clicked_at >= {from:DateTime} AND clicked_at < {to:DateTime}
          AND is_bot = 0
    ) AS human_clicks USING (click_id)
    GROUP BY message_id
) AS sessions_by_message USING (message_id)
ORDER BY clicks DESC, message_id
