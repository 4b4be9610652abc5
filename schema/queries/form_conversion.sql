-- Per form: submits, sessions that submitted, and the share of all sessions.
-- Each event id counts once (a retried copy is the same event) without
-- FINAL, which on 18.16 merges the whole range first (docs/bench-dashboard.md).
SELECT
    form_id,
    uniqExact(event_id)                       AS submits,
    uniqExact(session_id)                     AS sessions_submitting,
    (
        SELECT uniqExact(session_id)
        FROM events
        WHERE site_id = {site:String}
          AND ts >= {from:DateTime} AND ts < {to:DateTime}
          AND is_bot = 0
          AND source != 'server'
    )                                         AS sessions_total,
    round(sessions_submitting / sessions_total, 4) AS conversion
FROM events
WHERE site_id = {site:String}
  AND ts >= {from:DateTime} AND ts < {to:DateTime}
  AND event_type = 'form_submit'
  AND is_bot = 0
GROUP BY form_id
ORDER BY submits DESC, form_id
