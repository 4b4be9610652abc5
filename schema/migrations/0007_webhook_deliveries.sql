-- One row per webhook delivery attempt (behavioural triggers): which
-- endpoint, for which trigger, event and lead, the attempt number, and how it
-- went. `delivery_id` is the `webhook-id` header, the same on every attempt;
-- `body` is what was sent (the dashboard redelivers it).
CREATE TABLE IF NOT EXISTS webhook_deliveries {{on_cluster}}
(
    delivery_id  String,
    site_id      LowCardinality(String),
    endpoint     String,
    trigger_name LowCardinality(String),
    event_id     String,
    lead_id      String,
    attempt      UInt16,
    status       LowCardinality(String),
    http_status  UInt16,
    error        String,
    latency_ms   UInt32,
    body         String,
    attempted_at DateTime
)
ENGINE = {{engine:ReplacingMergeTree()}}
PARTITION BY toYYYYMM(attempted_at)
ORDER BY (site_id, attempted_at, delivery_id, attempt)
-- On a cluster: every attempt of one delivery on one shard.
{{shard_key:cityHash64(delivery_id)}};
