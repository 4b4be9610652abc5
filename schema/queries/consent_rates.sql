-- Consent decisions per day: accepted all, rejected all, customized, withdrawn.
SELECT
    toDate(recorded_at)                                                        AS day,
    count()                                                                    AS decisions,
    countIf(action IN ('grant', 'change') AND has(granted, 'analytics') AND has(granted, 'marketing')) AS accepted,
    countIf(action = 'deny')                                                   AS rejected,
    countIf(action IN ('grant', 'change') AND NOT (has(granted, 'analytics') AND has(granted, 'marketing'))) AS customized,
    countIf(action = 'withdraw')                                               AS withdrawn
FROM consent_log FINAL
WHERE site_id = {site:String}
  AND recorded_at >= {from:DateTime} AND recorded_at < {to:DateTime}
GROUP BY day
ORDER BY day
