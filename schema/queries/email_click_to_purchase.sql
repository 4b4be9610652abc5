-- Time from email click to purchase, per message. For each order (net
-- revenue, counted once whoever reported it; see the orders view) by a
-- visitor who arrived through an email link (in any of their sessions), the
-- last such click before the purchase is credited, and the seconds between
-- the click (collector time) and the purchase (browser time) are measured.
-- Five minutes of browser clock skew are tolerated; a click up to that much
-- after the purchase time still counts, as 0 seconds.
-- No FINAL: the answer is the same with or without retried copies of an event.
SELECT
    message_id,
    count()                       AS purchases,
    sum(rv)                       AS revenue,
    round(quantile(0.5)(secs), 1) AS median_seconds,
    round(avg(secs), 1)           AS avg_seconds,
    min(secs)                     AS min_seconds,
    max(secs)                     AS max_seconds
FROM
(
    SELECT
        order_id,
        any(rev)                                                         AS rv,
        argMax(msg, clicked)                                             AS message_id,
        greatest(toInt64(any(bought)) - toInt64(max(clicked)), toInt64(0)) AS secs
    FROM
    (
        SELECT visitor_id, order_id, toUInt32(purchased_at) AS bought, revenue AS rev
        FROM orders
        WHERE site_id = {site:String}
          AND purchased_at >= {from:DateTime} AND purchased_at < {to:DateTime}
          AND is_bot = 0
    ) AS purchases_in_window
    ALL INNER JOIN
    (
        SELECT visitor_id, toUInt32(clicked_at) AS clicked, message_id AS msg
        FROM
        (
            SELECT DISTINCT visitor_id, email_click_id AS click_id
            FROM events
            WHERE site_id = {site:String} AND email_click_id != '' AND is_bot = 0
        ) AS visitor_click_ids
        ALL INNER JOIN
        (
            SELECT click_id, clicked_at, message_id
            FROM email_clicks FINAL
            WHERE site_id = {site:String} AND is_bot = 0
        ) AS click_rows USING (click_id)
    ) AS visitor_clicks USING (visitor_id)
    WHERE clicked <= bought + 300
    GROUP BY order_id
)
GROUP BY message_id
ORDER BY purchases DESC, message_id
