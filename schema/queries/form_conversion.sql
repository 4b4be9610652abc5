-- Per form: submits, sessions that submitted, and the share of all sessions.
SELECT
    form_id,
    count()                                   AS submits,
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
FROM events FINAL
WHERE site_id = {site:String}
  AND ts >= {from:DateTime} AND ts < {to:DateTime}
  AND event_type = 'form_submit'
  AND is_bot = 0
GROUP BY form_id
ORDER BY submits DESC, form_id
