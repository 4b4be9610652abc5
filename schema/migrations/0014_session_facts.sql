-- The `orders` and `sessions` views again, with the values of 0013.
-- `orders` looks up the first visitor of a lead in PREWHERE: read as WHERE,
-- every column of every event was read to find none (0.98 s at ten million
-- events against 0.42 s). The `sessions` query is now rendered from
-- `ktra_schema::sessions` (the placeholder below): the one definition of a
-- session, which the collector's stored sessions share.
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
    PREWHERE lead_id GLOBAL IN
    (
        SELECT lead_id FROM events
        WHERE order_id != '' AND event_type IN ('purchase', 'refund', 'subscription_cancel')
          AND visitor_id = '' AND lead_id != ''
    )
    WHERE visitor_id != ''
    GROUP BY site_id, lead_id
) AS lead_visitors USING (site_id, lead_id);

CREATE VIEW IF NOT EXISTS sessions {{on_cluster}} AS
{{sessions_view}};

-- Stored sessions, by the UTC hour they started in, computed by the collector
-- (`collector/src/stats/sessions.rs`) with that definition over the events of
-- a day around the hour, so that session panels over a month read the
-- month's sessions instead of grouping every event ever. A start hour's
-- sessions can change while events arrive in it or in the 24 hours after it:
-- `marks_seen` (on its row with `session_id` '') is how many marks
-- (`rollup_marks`) those 25 hours had when its computation began; more marks
-- now mean it is stale. Each computation writes every session of the hour
-- and the '' row with one `version`; readers take the newest version of each
-- hour. Purchases and revenue are not stored: they come from `orders` when
-- read (a refund may come any day later).
CREATE TABLE IF NOT EXISTS session_facts {{on_cluster}}
(
    site_id        LowCardinality(String),
    hour           DateTime,
    session_id     String,
    visitor_id     String,
    started_at     DateTime,
    ended_at       DateTime,
    page_views     UInt64,
    landing_url    String,
    referrer_host  LowCardinality(String),
    channel        LowCardinality(String),
    utm_source     LowCardinality(String),
    utm_medium     LowCardinality(String),
    utm_campaign   LowCardinality(String),
    email_click_id String,
    lead_id        String,
    country        LowCardinality(String),
    device         LowCardinality(String),
    form_submits   UInt64,
    is_bot         UInt8,
    marks_seen     UInt64,
    version        UInt64
)
ENGINE = {{engine:ReplacingMergeTree(version)}}
PARTITION BY toYYYYMM(hour)
ORDER BY (site_id, hour, session_id)
{{shard_key:cityHash64(site_id, hour)}};
