-- Append-only proof of consent: every decision a visitor made, as recorded by
-- POST /v1/consent. Never holds an IP address. Each decision has its own
-- consent_id; ReplacingMergeTree only folds copies of the same decision that
-- a spool replay may store twice (queries read it with FINAL).
CREATE TABLE IF NOT EXISTS consent_log {{on_cluster}}
(
    consent_id  String,
    site_id     LowCardinality(String),
    action      LowCardinality(String),
    source      LowCardinality(String),
    granted     Array(String),
    denied      Array(String),
    revision    UInt32,
    language    LowCardinality(String),
    text_hash   String,
    previous_id String,
    visitor_id  String,
    gpc         UInt8,
    country     LowCardinality(String),
    browser     LowCardinality(String),
    os          LowCardinality(String),
    device      LowCardinality(String),
    expires_at  DateTime,
    recorded_at DateTime
)
ENGINE = {{engine:ReplacingMergeTree()}}
PARTITION BY toYYYYMM(recorded_at)
ORDER BY (site_id, recorded_at, consent_id)
-- On a cluster: copies of one decision on one shard.
{{shard_key:cityHash64(consent_id)}};
