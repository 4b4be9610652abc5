-- Per video: starts, 25/50/75 % marks and completions.
-- No FINAL: retried copies of an event share its id, and each id counts once.
SELECT
    video_id,
    uniqExactIf(event_id, event_type = 'video_start') AS starts,
    uniqExactIf(event_id, event_type = 'video_progress' AND video_percent = 25) AS p25,
    uniqExactIf(event_id, event_type = 'video_progress' AND video_percent = 50) AS p50,
    uniqExactIf(event_id, event_type = 'video_progress' AND video_percent = 75) AS p75,
    uniqExactIf(event_id, event_type = 'video_complete') AS completes
FROM events
WHERE site_id = {site:String}
  AND ts >= {from:DateTime} AND ts < {to:DateTime}
  AND event_type IN ('video_start', 'video_progress', 'video_complete')
  AND is_bot = 0
GROUP BY video_id
ORDER BY starts DESC, video_id
