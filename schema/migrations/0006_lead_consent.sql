-- Leads whose consent to email tracking the site owner recorded
-- (POST /v1/admin/leads/{site}/{lead}/consent). Leads who identified in the
-- banner under a marketing grant are consented through their identify
-- events; this table holds the owner's own records (e.g. a double opt-in).
CREATE TABLE IF NOT EXISTS lead_consent {{on_cluster}}
(
    site_id     LowCardinality(String),
    lead_id     String,
    source      LowCardinality(String),
    recorded_at DateTime
)
ENGINE = {{engine:ReplacingMergeTree()}}
ORDER BY (site_id, lead_id)
-- On a cluster: one lead's records on one shard.
{{shard_key:cityHash64(site_id, lead_id)}};
