-- The first decision of the visitor's chain of consent decisions (each later
-- decision names the token it replaces): a withdrawal proves it holds the
-- chain's latest token and erases exactly the events stored under the chain.
-- Rows stored before this column existed are their own chain.
ALTER TABLE events {{on_cluster}} ADD COLUMN IF NOT EXISTS consent_root String DEFAULT consent_id;
