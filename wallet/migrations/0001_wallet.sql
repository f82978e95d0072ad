-- Wallet tables. Portable SQL: runs unchanged on SQLite and PostgreSQL.
CREATE TABLE wallet_principals (
    id          TEXT PRIMARY KEY,
    did         TEXT NOT NULL UNIQUE,
    token_hash  TEXT NOT NULL,
    sealed_key  TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE wallet_status_lists (
    id            TEXT PRIMARY KEY,
    principal_id  TEXT NOT NULL REFERENCES wallet_principals (id),
    size_bits     BIGINT NOT NULL,
    next_index    BIGINT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX wallet_status_lists_principal ON wallet_status_lists (principal_id);

CREATE TABLE wallet_delegations (
    id                 TEXT PRIMARY KEY,
    principal_id       TEXT NOT NULL REFERENCES wallet_principals (id),
    agent_did          TEXT NOT NULL,
    status_list_id     TEXT NOT NULL REFERENCES wallet_status_lists (id),
    status_index       BIGINT NOT NULL,
    credential         TEXT NOT NULL,
    valid_from         BIGINT NOT NULL,
    valid_until        BIGINT NOT NULL,
    created_at         BIGINT NOT NULL,
    revoked_at         BIGINT,
    revocation_reason  TEXT,
    UNIQUE (status_list_id, status_index)
);
CREATE INDEX wallet_delegations_principal ON wallet_delegations (principal_id);
CREATE INDEX wallet_delegations_agent ON wallet_delegations (agent_did);
