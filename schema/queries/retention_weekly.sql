-- Weekly retention cohorts: visitors by the week (Monday) of their first event
-- in the range, and how many of them came back in each following week
-- (`retention()`: w1 counts those seen in the cohort week and the next, …).
-- Twelve weeks at most. ALL, not ANY: current servers make ANY one row per key on both sides.
-- No FINAL: the answer is the same with or without retried copies of an event.
SELECT
    cohort,
    count()        AS visitors,
    sum(r[2])      AS w1,
    sum(r[3])      AS w2,
    sum(r[4])      AS w3,
    sum(r[5])      AS w4,
    sum(r[6])      AS w5,
    sum(r[7])      AS w6,
    sum(r[8])      AS w7,
    sum(r[9])      AS w8,
    sum(r[10])     AS w9,
    sum(r[11])     AS w10,
    sum(r[12])     AS w11,
    sum(r[13])     AS w12
FROM
(
    SELECT
        visitor_id,
        any(first_week) AS cohort,
        retention(
            wk = first_week,
            wk = first_week + 7,  wk = first_week + 14, wk = first_week + 21, wk = first_week + 28,
            wk = first_week + 35, wk = first_week + 42, wk = first_week + 49, wk = first_week + 56,
            wk = first_week + 63, wk = first_week + 70, wk = first_week + 77, wk = first_week + 84
        ) AS r
    FROM
    (
        SELECT visitor_id, toMonday(ts) AS wk
        FROM events
        WHERE site_id = {site:String}
          AND ts >= {from:DateTime} AND ts < {to:DateTime}
          AND is_bot = 0 AND visitor_id != '' AND source != 'server'
    ) AS visits
    ALL INNER JOIN
    (
        SELECT visitor_id, min(toMonday(ts)) AS first_week
        FROM events
        WHERE site_id = {site:String}
          AND ts >= {from:DateTime} AND ts < {to:DateTime}
          AND is_bot = 0 AND visitor_id != '' AND source != 'server'
        GROUP BY visitor_id
    ) AS firsts USING visitor_id
    GROUP BY visitor_id
)
GROUP BY cohort
ORDER BY cohort
