-- The headline numbers of a range: visitors, sessions, page views, purchases
-- and revenue (refunds are stored as negative revenue, so the sum is net).
SELECT
    uniqExact(visitor_id)                                    AS visitors,
    uniqExact(session_id)                                    AS sessions,
    countIf(event_type = 'page_view')                        AS page_views,
    uniqExactIf(order_id, event_type = 'purchase')           AS purchases,
    sumIf(revenue, event_type IN ('purchase', 'refund'))     AS revenue
FROM events FINAL
WHERE site_id = {site:String}
  AND ts >= {from:DateTime} AND ts < {to:DateTime}
  AND is_bot = 0
