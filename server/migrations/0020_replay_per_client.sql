-- The replay memory remembers which client's request recorded each nonce (its address, an
-- IPv6 one by its /64), so each client's share of the memory is counted again after a restart
-- (spec section 8, step 14). Rows from before have no client ('') and count against no share.
-- Portable SQL: runs unchanged on SQLite and PostgreSQL.
ALTER TABLE verifier_replay ADD COLUMN client TEXT NOT NULL DEFAULT '';
