-- Suspension (spec 5.4): an agent suspended until status_until, with a reason code and the hash
-- of the evidence, besides the reason (status_reason) it shares with deplatforming.
ALTER TABLE registry_agents ADD COLUMN status_until BIGINT;
ALTER TABLE registry_agents ADD COLUMN status_code TEXT;
ALTER TABLE registry_agents ADD COLUMN evidence_hash TEXT;
