-- Clicks and opens of tracking links in the site owner's marketing emails.
CREATE TABLE IF NOT EXISTS email_clicks {{on_cluster}}
(
    click_id    String,
    site_id     LowCardinality(String),
    lead_id     String,
    message_id  LowCardinality(String),
    destination String,
    clicked_at  DateTime,
    country     LowCardinality(String),
    region      LowCardinality(String),
    city        LowCardinality(String),
    browser     LowCardinality(String),
    os          LowCardinality(String),
    device      LowCardinality(String),
    is_bot      UInt8
)
ENGINE = {{engine:ReplacingMergeTree()}}
PARTITION BY toYYYYMM(clicked_at)
ORDER BY (site_id, toDate(clicked_at), click_id)
-- On a cluster: copies of one click on one shard.
{{shard_key:cityHash64(click_id)}};

CREATE TABLE IF NOT EXISTS email_opens {{on_cluster}}
(
    open_id    String,
    site_id    LowCardinality(String),
    lead_id    String,
    message_id LowCardinality(String),
    opened_at  DateTime,
    is_proxy   UInt8,
    country    LowCardinality(String),
    browser    LowCardinality(String),
    os         LowCardinality(String),
    device     LowCardinality(String)
)
ENGINE = {{engine:ReplacingMergeTree()}}
PARTITION BY toYYYYMM(opened_at)
ORDER BY (site_id, toDate(opened_at), open_id)
-- On a cluster: copies of one open on one shard.
{{shard_key:cityHash64(open_id)}};
