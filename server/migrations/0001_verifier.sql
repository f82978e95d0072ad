-- The verifier's replay memory, shared by every node on the database and kept across restarts.
-- Portable SQL: runs unchanged on SQLite and PostgreSQL.
CREATE TABLE verifier_nonces (
    audience    TEXT NOT NULL,
    nonce       TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (audience, nonce)
);
CREATE INDEX verifier_nonces_expiry ON verifier_nonces (expires_at);
