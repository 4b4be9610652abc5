-- One row per session, computed at query time from deduplicated events
-- (events FINAL folds retried copies), so replays never inflate it. Landing
-- attributes come from the session's first page view that did not come from
-- the site itself. The inner select renames columns so that no alias shadows
-- the column it aggregates (18.16 rejects cyclic aliases).
CREATE VIEW IF NOT EXISTS sessions {{on_cluster}} AS
SELECT
    site_id,
    session_id,
    any(vid)                                              AS visitor_id,
    min(t)                                                AS started_at,
    max(t)                                                AS ended_at,
    countIf(et = 'page_view')                             AS page_views,
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
    countIf(et = 'form_submit')                           AS form_submits,
    countIf(et = 'purchase')                              AS purchases,
    sumIf(rev, et = 'purchase')                           AS revenue,
    max(bot)                                              AS is_bot
FROM
(
    SELECT
        site_id, session_id,
        visitor_id AS vid, ts AS t, ts_ms AS tm, event_type AS et, url AS u,
        referrer_host AS rh, channel AS ch, utm_source AS us, utm_medium AS um,
        utm_campaign AS uc, email_click_id AS ec, lead_id AS lid, country AS co,
        device AS dev, revenue AS rev, is_bot AS bot
    FROM events FINAL
)
GROUP BY site_id, session_id;
