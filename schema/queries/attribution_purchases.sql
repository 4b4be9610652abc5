-- First- and last-touch attribution of each order (the orders view: one row
-- per order whoever reported it, revenue net of refunds; an order the server
-- reported with the visitor's ktra_vid or a known lead id is the visitor's). A touch is a session
-- of the same visitor that started at or before the purchase and came from
-- an email link (touch_type 'email', touch = message id) or else carried a
-- UTM campaign (touch_type 'utm', touch = utm_campaign). Touches may lie
-- before the window; purchases are those inside it. A purchase without any
-- touch shows 'none'. lead_id is the lead of the visitor's latest email
-- click ('' when the visitor never came from an email link). The newest 500
-- orders of the range: a month of a busy shop holds more than a page shows
-- (and more than the collector's answer limit).
SELECT
    visitor_id,
    order_id,
    purchased_at,
    revenue,
    currency,
    countIf(ta <= purchased_at AND t != '')                                      AS touches,
    if(touches = 0, 'none', argMinIf(tt, ta, ta <= purchased_at AND t != ''))    AS first_touch_type,
    argMinIf(t, ta, ta <= purchased_at AND t != '')                              AS first_touch,
    if(touches = 0, 'none', argMaxIf(tt, ta, ta <= purchased_at AND t != ''))    AS last_touch_type,
    argMaxIf(t, ta, ta <= purchased_at AND t != '')                              AS last_touch,
    argMaxIf(l, ta, l != '')                                                     AS lead_id
FROM
(
    SELECT visitor_id, order_id, purchased_at, revenue, currency
    FROM orders
    WHERE site_id = {site:String}
      AND purchased_at >= {from:DateTime} AND purchased_at < {to:DateTime}
      AND is_bot = 0
) AS purchases_in_window
ALL LEFT JOIN
(
    SELECT
        visitor_id,
        started_at                    AS ta,
        if(msg != '', 'email', 'utm') AS tt,
        if(msg != '', msg, uc)        AS t,
        lead                          AS l
    FROM
    (
        SELECT visitor_id, started_at, email_click_id AS click_id, utm_campaign AS uc
        FROM sessions
        WHERE site_id = {site:String}
          AND is_bot = 0
          AND (email_click_id != '' OR utm_campaign != '')
    ) AS touch_sessions
    ANY LEFT JOIN
    (
        SELECT click_id, message_id AS msg, lead_id AS lead
        FROM email_clicks FINAL
        WHERE site_id = {site:String} AND is_bot = 0
    ) AS click_rows USING (click_id)
) AS touches_of_visitors USING (visitor_id)
GROUP BY visitor_id, order_id, purchased_at, revenue, currency
ORDER BY purchased_at DESC, order_id, visitor_id
LIMIT 500
