-- Hourly (UTC hours, so that a range's whole hours are multiples of 3600 s)
-- rollups of the event panels (traffic, top pages, countries, devices),
-- computed by the collector from `events FINAL` with the library's own
-- definitions, so that a dashboard over a month reads a few thousand rows
-- instead of every event. Each recomputation of an hour writes every row of
-- that hour with one `version` (the dim '' key '#' row always, even for an
-- hour left empty by an erasure); readers take, per hour, the rows of the
-- newest version only, and merges keep the newest row of each key.
-- `marks_seen` (on the dim '' rows) is how many marks the hour had when its
-- recomputation began.
CREATE TABLE IF NOT EXISTS rollups {{on_cluster}}
(
    site_id    LowCardinality(String),
    hour       DateTime,
    dim        LowCardinality(String),
    key        String,
    page_views UInt64,
    engaged_ms UInt64,
    visitors   AggregateFunction(uniqIf, String, UInt8),
    sessions   AggregateFunction(uniqIf, String, UInt8),
    marks_seen UInt64,
    version    UInt64
)
ENGINE = {{engine:ReplacingMergeTree(version)}}
PARTITION BY toYYYYMM(hour)
ORDER BY (site_id, hour, dim, key)
{{shard_key:cityHash64(site_id, hour)}};

-- One mark per (site, hour) per insert into `events`, whoever inserts (the
-- collector, `cargo xtask seed`, an analyst's import); the erasure adds marks
-- for the hours it deleted from. An hour whose marks outnumber the
-- `marks_seen` of its newest rollup is stale. The view writes after the
-- insert's rows are stored, so a mark counted by a recomputation had its rows
-- visible to it.
CREATE TABLE IF NOT EXISTS rollup_marks {{on_cluster}}
(
    site_id LowCardinality(String),
    hour    DateTime,
    marks   UInt64,
    -- Makes every mark's block unique: replicated tables drop an insert
    -- whose block equals a recent one, and marks of one hour would.
    nonce   UInt64
)
ENGINE = {{engine:SummingMergeTree(marks)}}
PARTITION BY toYYYYMM(hour)
ORDER BY (site_id, hour)
{{shard_key:cityHash64(site_id, hour)}};

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_marks_mv {{on_cluster}} TO rollup_marks AS
SELECT site_id, toDateTime(toUInt32(toStartOfHour(ts, 'UTC'))) AS hour, toUInt64(1) AS marks, max(rand64()) AS nonce
FROM events
GROUP BY site_id, hour;

-- Events stored before this migration: one mark per hour they hold.
INSERT INTO rollup_marks SELECT site_id, toDateTime(toUInt32(toStartOfHour(ts, 'UTC'))) AS hour, toUInt64(1) AS marks, max(rand64()) AS nonce FROM events GROUP BY site_id, hour;
