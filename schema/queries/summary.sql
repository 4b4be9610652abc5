-- The headline numbers of a range: visitors, sessions and page views of the
-- browser's visits, and the orders placed in it (the orders view: each order
-- once whoever reported it, revenue net of refunds).
-- Each event id counts once (a retried copy is the same event) without
-- FINAL, which on 18.16 merges the whole range first (docs/bench-dashboard.md).
SELECT visitors, sessions, page_views, placed.1 AS purchases, placed.2 AS revenue
FROM
(
    SELECT
        uniqExact(visitor_id)                AS visitors,
        uniqExact(session_id)                AS sessions,
        uniqExactIf(event_id, event_type = 'page_view') AS page_views,
        (
            -- One read of the orders view for both numbers.
            SELECT (count(), sum(revenue))
            FROM orders
            WHERE site_id = {site:String}
              AND purchased_at >= {from:DateTime} AND purchased_at < {to:DateTime}
              AND is_bot = 0
        )                                    AS placed
    FROM events
    WHERE site_id = {site:String}
      AND ts >= {from:DateTime} AND ts < {to:DateTime}
      AND is_bot = 0
      AND source != 'server'
)
