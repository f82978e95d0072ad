-- Resolution reads the seq of the agent's latest log entry on every answer. At a million agents
-- the lookup through an index on the log was one more page read, from disk or the OS cache, per
-- answer: the agent's row now keeps it (set by every append naming the agent), and the index
-- on did alone becomes one on (did, seq), which reads an agent's entries in order.
ALTER TABLE registry_agents ADD COLUMN log_seq BIGINT;
UPDATE registry_agents SET log_seq = (SELECT MAX(seq) FROM registry_log l WHERE l.did = registry_agents.did);
CREATE INDEX registry_log_did_seq ON registry_log (did, seq);
DROP INDEX registry_log_did;
