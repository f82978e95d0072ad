-- Each entry's seal: an HMAC under a key derived from the master key, which never enters the
-- database, over the entry's hash and the name it is about (agentid-store's `Sealer`). An entry
-- without a seal that verifies was not written by this service, and proves nothing about its
-- agent or zone. Entries written before seals existed are sealed at a start that finds them
-- covered by the checkpoint kept outside the database.
ALTER TABLE registry_log ADD COLUMN seal TEXT;
-- The agent name or zone an entry is about (a registration with a name, a binding, a release, a
-- zone claim or delegation): who holds a name or a zone is read from the log by it.
ALTER TABLE registry_log ADD COLUMN name TEXT;
CREATE INDEX registry_log_name ON registry_log (name, seq);
-- Found at every start without reading the whole log.
CREATE INDEX registry_log_unsealed ON registry_log (seq) WHERE seal IS NULL;
