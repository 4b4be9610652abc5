-- Read-only dashboard links (POST /v1/admin/shares): one row per link, and a
-- newer row with revoked = 1 when it is revoked. Every collector checks here,
-- so a revocation holds on all of them; ReplacingMergeTree(changed_at) keeps
-- the latest row per id. The signed token itself is never stored.
CREATE TABLE IF NOT EXISTS shares {{on_cluster}}
(
    id         String,
    site_id    LowCardinality(String),
    label      String,
    created_at DateTime,
    expires_at DateTime,
    revoked    UInt8,
    changed_at DateTime
)
ENGINE = {{engine:ReplacingMergeTree(changed_at)}}
ORDER BY (site_id, id)
-- On a cluster: every version of a link on one shard.
{{shard_key:cityHash64(id)}};
