-- First- and last-touch attribution summed per touch: for every order (net
-- revenue, counted once whoever reported it; see the orders view) in
-- the window, the visitor's first and last touch at or before it (an email
-- message, else a UTM campaign; see attribution_purchases), with purchases
-- and revenue credited to each. touch_type 'none' collects purchases
-- without any touch.
SELECT
    touch_type,
    touch,
    countIf(model = 'first')      AS first_touch_purchases,
    sumIf(rv, model = 'first')    AS first_touch_revenue,
    countIf(model = 'last')       AS last_touch_purchases,
    sumIf(rv, model = 'last')     AS last_touch_revenue
FROM
(
    SELECT
        arrayJoin(['first', 'last'])                                   AS model,
        if(model = 'first', first_type, last_type)                     AS touch_type,
        if(model = 'first', first_t, last_t)                           AS touch,
        rev                                                            AS rv
    FROM
    (
        SELECT
            any(revenue)                                                       AS rev,
            countIf(ta <= purchased_at AND t != '')                            AS n,
            if(n = 0, 'none', argMinIf(tt, ta, ta <= purchased_at AND t != '')) AS first_type,
            argMinIf(t, ta, ta <= purchased_at AND t != '')                    AS first_t,
            if(n = 0, 'none', argMaxIf(tt, ta, ta <= purchased_at AND t != '')) AS last_type,
            argMaxIf(t, ta, ta <= purchased_at AND t != '')                    AS last_t
        FROM
        (
            SELECT visitor_id, order_id, purchased_at, revenue
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
                if(msg != '', msg, uc)        AS t
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
                SELECT click_id, message_id AS msg
                FROM email_clicks FINAL
                WHERE site_id = {site:String} AND is_bot = 0
            ) AS click_rows USING (click_id)
        ) AS touches_of_visitors USING (visitor_id)
        GROUP BY visitor_id, order_id
    )
)
GROUP BY touch_type, touch
ORDER BY last_touch_revenue DESC, first_touch_revenue DESC, touch_type, touch
