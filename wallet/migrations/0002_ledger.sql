-- The wallet's own signing keys (its did:web identity) and the spend ledger. Portable SQL.
CREATE TABLE wallet_keys (
    id          TEXT PRIMARY KEY,
    sealed_key  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT
);

-- Bumped by every authorization: the first write of its transaction, so concurrent
-- authorizations and revocations of one delegation take turns.
ALTER TABLE wallet_delegations ADD COLUMN ledger_version BIGINT NOT NULL DEFAULT 0;

CREATE TABLE wallet_holds (
    id               TEXT PRIMARY KEY,
    delegation_id    TEXT NOT NULL REFERENCES wallet_delegations (id),
    merchant         TEXT NOT NULL,
    nonce            TEXT NOT NULL,
    amount           BIGINT NOT NULL,
    currency         TEXT NOT NULL,
    request_hash     TEXT NOT NULL,
    idempotency_key  TEXT,
    auth_jws         TEXT NOT NULL,
    state            TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    settled_at       BIGINT,
    UNIQUE (delegation_id, idempotency_key)
);
CREATE INDEX wallet_holds_delegation ON wallet_holds (delegation_id, state);
CREATE INDEX wallet_holds_request ON wallet_holds (delegation_id, request_hash);
