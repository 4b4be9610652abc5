-- REST hook subscriptions (POST /v1/hooks with a site key), shared by every
-- collector and kept across restarts. An unsubscription is a newer row with
-- deleted = 1; ReplacingMergeTree(updated_at) keeps the latest per id.
CREATE TABLE IF NOT EXISTS webhook_subscriptions {{on_cluster}}
(
    id           String,
    site_id      LowCardinality(String),
    target_url   String,
    trigger_name LowCardinality(String),
    filter       String,
    secret       String,
    deleted      UInt8,
    updated_at   DateTime
)
ENGINE = {{engine:ReplacingMergeTree(updated_at)}}
ORDER BY (site_id, id)
-- On a cluster: every version of a subscription on one shard.
{{shard_key:cityHash64(id)}};
