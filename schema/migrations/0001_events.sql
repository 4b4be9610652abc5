-- One wide table for every event type. ReplacingMergeTree on the sorting key
-- (which ends in event_id) folds retried and replayed copies of an event in
-- background merges; analyst queries still count event ids exactly once.
CREATE TABLE IF NOT EXISTS events {{on_cluster}}
(
    site_id        LowCardinality(String),
    event_id       UUID,
    event_type     LowCardinality(String),
    ts             DateTime,
    ts_ms          UInt64,
    received_at    DateTime,
    visitor_id     String,
    session_id     String,
    consent_id     String,
    url            String,
    host           LowCardinality(String),
    path           String,
    title          String,
    referrer       String,
    referrer_host  LowCardinality(String),
    channel        LowCardinality(String),
    utm_source     LowCardinality(String),
    utm_medium     LowCardinality(String),
    utm_campaign   LowCardinality(String),
    utm_term       String,
    utm_content    String,
    click_id_type  LowCardinality(String),
    click_id       String,
    country        LowCardinality(String),
    region         LowCardinality(String),
    city           LowCardinality(String),
    browser        LowCardinality(String),
    os             LowCardinality(String),
    device         LowCardinality(String),
    is_bot         UInt8,
    scroll_depth   UInt8,
    engaged_ms     UInt32,
    form_id        String,
    form_action    String,
    form_fields    Array(String),
    video_id       String,
    video_percent  UInt8,
    order_id       String,
    revenue        Float64,
    currency       LowCardinality(String),
    product_id     String,
    product_name   String,
    link_url       String,
    email_click_id String,
    lead_id        String,
    event_name     LowCardinality(String),
    props Nested
    (
        key   String,
        value String
    )
)
ENGINE = {{engine:ReplacingMergeTree(received_at)}}
PARTITION BY toYYYYMM(ts)
ORDER BY (site_id, toDate(ts), event_type, event_id)
-- On a cluster: one session's events (and every copy of one event) on one shard.
{{shard_key:cityHash64(site_id, session_id)}};
