-- The same `orders` and `sessions` as 0009, reading `events` without `FINAL`
-- where the answer does not depend on retried copies of an event: the
-- first visitor of a lead (argMin), a session's first values, maxima and
-- times, and its page views and form submissions counted as distinct event
-- ids, an order's refunds summed over distinct refund event ids. `FINAL`
-- made these views several times slower at ten million events
-- (docs/bench-dashboard.md). The first visitor of a lead is looked up only
-- for leads of orders no report gave a visitor.
DROP TABLE IF EXISTS sessions {{on_cluster}};
DROP TABLE IF EXISTS orders {{on_cluster}};

-- One row per order (site, order_id), whatever reported it: the browser's
-- thank-you page, the site's server, Stripe, or several of them. This is the
-- one definition of an order's revenue: the purchase value (the server's
-- when it reported one, else the browser's), less every refund (refund rows
-- hold negative revenue; each refund id counts once). The visitor is the
-- first one any report named (the browser's, or the server's `vid`), else the
-- visitor a lead report ties the order to (the first visitor seen with that
-- lead id); the session is the browser purchase's. purchased_at is the first
-- purchase report (1970 for an order known only from a refund or a
-- cancellation, which no window selects).
CREATE VIEW IF NOT EXISTS orders {{on_cluster}} AS
SELECT
    site_id,
    order_id,
    purchased_at,
    if(vid != '', vid, lead_visitor) AS visitor_id,
    session_id,
    lead_id,
    currency,
    product_id,
    gross,
    refunded,
    gross - refunded                 AS revenue,
    cancelled,
    sources,
    is_bot
FROM
(
    SELECT
        site_id,
        order_id,
        minIf(t, et = 'purchase')                                AS purchased_at,
        argMinIf(v, tm, v != '')                                 AS vid,
        argMinIf(sid, tm, sid != '')                             AS session_id,
        argMinIf(lid, tm, lid != '')                             AS lead_id,
        anyIf(cur, et = 'purchase')                              AS currency,
        anyIf(pid, et = 'purchase' AND pid != '')                AS product_id,
        if(countIf(et = 'purchase' AND src = 'server') > 0,
           argMaxIf(rev, tm, et = 'purchase' AND src = 'server'),
           argMaxIf(rev, tm, et = 'purchase'))                   AS gross,
        -arraySum(arrayMap(x -> x.2, groupUniqArrayIf((eid, rev), et = 'refund'))) AS refunded,
        toUInt8(countIf(et = 'subscription_cancel') > 0)         AS cancelled,
        arrayStringConcat(arraySort(groupUniqArrayIf(src, et = 'purchase')), ',') AS sources,
        max(bot)                                                 AS is_bot
    FROM
    (
        SELECT
            site_id, order_id, event_id AS eid, ts AS t, ts_ms AS tm, event_type AS et, visitor_id AS v,
            session_id AS sid, lead_id AS lid, currency AS cur, product_id AS pid,
            revenue AS rev, source AS src, is_bot AS bot
        FROM events
        WHERE order_id != '' AND event_type IN ('purchase', 'refund', 'subscription_cancel')
    )
    GROUP BY site_id, order_id
) AS order_facts
ANY LEFT JOIN
(
    SELECT site_id, lead_id, argMin(visitor_id, ts_ms) AS lead_visitor
    FROM events
    WHERE visitor_id != '' AND lead_id GLOBAL IN
    (
        SELECT lead_id FROM events
        WHERE order_id != '' AND event_type IN ('purchase', 'refund', 'subscription_cancel')
          AND visitor_id = '' AND lead_id != ''
    )
    GROUP BY site_id, lead_id
) AS lead_visitors USING (site_id, lead_id);

-- Sessions now take their purchases and revenue from orders: an order counts
-- once in the session of its browser purchase, net of refunds, however many
-- reports it had. Server reports start no session.
CREATE VIEW IF NOT EXISTS sessions {{on_cluster}} AS
SELECT
    site_id,
    session_id,
    visitor_id,
    started_at,
    ended_at,
    page_views,
    landing_url,
    referrer_host,
    channel,
    utm_source,
    utm_medium,
    utm_campaign,
    email_click_id,
    lead_id,
    country,
    device,
    form_submits,
    order_count   AS purchases,
    order_revenue AS revenue,
    is_bot
FROM
(
    SELECT
        site_id,
        session_id,
        any(vid)                                              AS visitor_id,
        min(t)                                                AS started_at,
        max(t)                                                AS ended_at,
        uniqExactIf(eid, et = 'page_view')                    AS page_views,
        argMinIf(u, tm, et = 'page_view')                     AS landing_url,
        argMinIf(rh, tm, et = 'page_view' AND ch != 'internal') AS referrer_host,
        if(countIf(et = 'page_view' AND ch != 'internal') = 0, 'direct',
           argMinIf(ch, tm, et = 'page_view' AND ch != 'internal')) AS channel,
        argMin(us, tm)                                        AS utm_source,
        argMin(um, tm)                                        AS utm_medium,
        argMin(uc, tm)                                        AS utm_campaign,
        max(ec)                                               AS email_click_id,
        max(lid)                                              AS lead_id,
        argMin(co, tm)                                        AS country,
        argMin(dev, tm)                                       AS device,
        uniqExactIf(eid, et = 'form_submit')                  AS form_submits,
        max(bot)                                              AS is_bot
    FROM
    (
        SELECT
            site_id, session_id, event_id AS eid,
            visitor_id AS vid, ts AS t, ts_ms AS tm, event_type AS et, url AS u,
            referrer_host AS rh, channel AS ch, utm_source AS us, utm_medium AS um,
            utm_campaign AS uc, email_click_id AS ec, lead_id AS lid, country AS co,
            device AS dev, is_bot AS bot
        FROM events
        WHERE source != 'server'
    )
    GROUP BY site_id, session_id
) AS visits
ANY LEFT JOIN
(
    SELECT site_id, session_id, count() AS order_count, sum(revenue) AS order_revenue
    FROM orders
    WHERE session_id != '' AND purchased_at > toDateTime(0)
    GROUP BY site_id, session_id
) AS session_orders USING (site_id, session_id);
