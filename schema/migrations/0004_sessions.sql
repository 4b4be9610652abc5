-- One row per session, computed at query time from deduplicated events
-- (events FINAL folds retried copies), so replays never inflate it. The inner
-- select renames columns so that no alias shadows the column it aggregates.
CREATE VIEW IF NOT EXISTS sessions {{on_cluster}} AS
SELECT
    site_id,
    session_id,
    any(vid)                           AS visitor_id,
    min(t)                             AS started_at,
    max(t)                             AS ended_at,
    countIf(et = 'page_view')          AS page_views,
    argMin(u, t)                       AS landing_url,
    argMin(rh, t)                      AS referrer_host,
    argMin(ch, t)                      AS channel,
    argMin(us, t)                      AS utm_source,
    argMin(um, t)                      AS utm_medium,
    argMin(uc, t)                      AS utm_campaign,
    max(ec)                            AS email_click_id,
    max(lid)                           AS lead_id,
    argMin(co, t)                      AS country,
    argMin(dev, t)                     AS device,
    countIf(et = 'form_submit')        AS form_submits,
    countIf(et = 'purchase')           AS purchases,
    sumIf(rev, et = 'purchase')        AS revenue,
    max(bot)                           AS is_bot
FROM
(
    SELECT
        site_id, session_id,
        visitor_id AS vid, ts AS t, event_type AS et, url AS u,
        referrer_host AS rh, channel AS ch, utm_source AS us, utm_medium AS um,
        utm_campaign AS uc, email_click_id AS ec, lead_id AS lid, country AS co,
        device AS dev, revenue AS rev, is_bot AS bot
    FROM events FINAL
)
GROUP BY site_id, session_id;
