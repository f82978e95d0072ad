-- The replay memory keyed by the presenting agent as well (spec section 8, step 14): a replay
-- is the same agent presenting the same nonce to the same merchant, so nobody burns a
-- merchant's nonce for its customers by presenting it first. Live rows of the old table are
-- kept with an empty holder, which the service treats as used by every agent until they expire.
-- Portable SQL: runs unchanged on SQLite and PostgreSQL.
CREATE TABLE verifier_replay (
    audience    TEXT NOT NULL,
    holder      TEXT NOT NULL,
    nonce       TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (audience, holder, nonce)
);
CREATE INDEX verifier_replay_expiry ON verifier_replay (expires_at);
INSERT INTO verifier_replay (audience, holder, nonce, expires_at)
    SELECT audience, '', nonce, expires_at FROM verifier_nonces;
DROP TABLE verifier_nonces;
