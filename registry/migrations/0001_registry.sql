-- Registry tables. Portable SQL: runs unchanged on SQLite and PostgreSQL.
CREATE TABLE registry_agents (
    did                TEXT PRIMARY KEY,
    name               TEXT UNIQUE,
    document           TEXT NOT NULL,
    rotation_keys      TEXT NOT NULL,
    status             TEXT NOT NULL,
    status_reason      TEXT,
    status_changed_at  BIGINT,
    head               TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);

-- Every accepted operation and every operator decision, hash-chained: entry_hash covers the
-- previous entry's hash, so rewriting history changes every later hash.
CREATE TABLE registry_log (
    seq         BIGINT PRIMARY KEY,
    did         TEXT NOT NULL,
    kind        TEXT NOT NULL,
    operation   TEXT NOT NULL,
    actor       TEXT NOT NULL,
    reason      TEXT,
    prev_hash   TEXT NOT NULL,
    entry_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);
CREATE INDEX registry_log_did ON registry_log (did);
