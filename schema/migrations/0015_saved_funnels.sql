-- Funnels made in the dashboard (PUT /v1/admin/funnels/{site}/{name}), kept
-- where every collector sees them. Each save or deletion is a new row of the
-- funnel with a higher `version` (unique per writer: collector, microsecond);
-- readers take each name's newest row and drop it when `deleted` = 1.
-- `definition` is the funnel as JSON, in the config's own shape
-- ({"steps": [...], "window": "7d", "order": "strict"}). Funnels of the config
-- file are not stored here and cannot be overwritten from the dashboard.
CREATE TABLE IF NOT EXISTS saved_funnels {{on_cluster}}
(
    site_id    LowCardinality(String),
    name       String,
    definition String,
    deleted    UInt8,
    version    UInt64,
    changed_at DateTime
)
ENGINE = {{engine:ReplacingMergeTree(version)}}
ORDER BY (site_id, name)
-- On a cluster: every version of a site's funnels on one shard.
{{shard_key:cityHash64(site_id)}};
