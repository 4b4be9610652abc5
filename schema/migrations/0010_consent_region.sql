-- Regional consent (issue 16): the `[sites.ID.regions]` rule that decided the
-- visitor's consent model, and the model itself (opt_in, opt_out, none), as
-- part of the proof of each decision. Rows stored before this migration were
-- all opt_in decisions.
ALTER TABLE consent_log {{on_cluster}} ADD COLUMN IF NOT EXISTS region LowCardinality(String) DEFAULT '';
ALTER TABLE consent_log {{on_cluster}} ADD COLUMN IF NOT EXISTS model LowCardinality(String) DEFAULT 'opt_in';
