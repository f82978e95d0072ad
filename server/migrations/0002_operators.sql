-- Named operator accounts (moderators), created and revoked by the root operator. Tokens are
-- stored as SHA-256 only. Portable SQL: runs unchanged on SQLite and PostgreSQL.
CREATE TABLE service_operators (
    name        TEXT PRIMARY KEY,
    token_hash  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    revoked_at  BIGINT,
    revoked_by  TEXT
);
