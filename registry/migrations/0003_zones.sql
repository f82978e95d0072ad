-- Zones (spec 5.6): namespaces of names owned by a did:key, claimed (a top-level zone, or a DNS
-- domain proven by its _agentid TXT record) or delegated by the owner of the zone above.
CREATE TABLE registry_zones (
    zone        TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    parent      TEXT,
    dns         BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);
-- Zone operations accepted in the last few minutes (their createdAt window): each applied once,
-- a retry answered with the first answer.
CREATE TABLE registry_zone_ops (
    hash        TEXT PRIMARY KEY,
    created_at  BIGINT NOT NULL,
    answer      TEXT
);
