-- What every node on one database must agree on, recorded by the first node to start on it: the
-- root operator's token (SHA-256 only), the public URL its credentials name, and a check value
-- of the master key sealing its keys. Portable SQL: runs unchanged on SQLite and PostgreSQL.
CREATE TABLE service_settings (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
