-- Each entry's seal: an HMAC under a key derived from the master key, which never enters the
-- database, over the entry's hash (agentid-store's `Sealer`). An entry without a seal that
-- verifies was not written by this service, and proves nothing about its agent. Entries
-- written before seals existed are sealed at the first start that finds them covered by the
-- checkpoint kept outside the database.
ALTER TABLE registry_log ADD COLUMN seal TEXT;
-- Found at every start without reading the whole log.
CREATE INDEX registry_log_unsealed ON registry_log (seq) WHERE seal IS NULL;
