-- How a retry finds the hold its first request took (spec 11.3): the delegation, and the
-- Idempotency-Key or, without one, the request's hash. One indexed column, so a group of
-- authorizations looks up all its retries with one IN list.
ALTER TABLE wallet_holds ADD COLUMN retry_key TEXT;
UPDATE wallet_holds SET retry_key = delegation_id || ' k ' || idempotency_key
    WHERE idempotency_key IS NOT NULL;
UPDATE wallet_holds SET retry_key = delegation_id || ' h ' || request_hash
    WHERE idempotency_key IS NULL;
CREATE INDEX wallet_holds_retry ON wallet_holds (retry_key);
-- Retries are found by retry_key alone now.
DROP INDEX wallet_holds_request;
-- A budget's sums read only this index (a covering index: no table lookups on SQLite).
DROP INDEX wallet_holds_delegation;
CREATE INDEX wallet_holds_delegation ON wallet_holds (delegation_id, state, expires_at, created_at, amount);
