-- Sub-delegations (section 6.4). A sub-delegation belongs to the principal of its chain (whose
-- status list holds its bit); `parent_id` is the delegation it narrows and `issuer_did` the
-- agent that issued it; `depth` is its place in the chain (0 for the principal's own). Its
-- `credential` is empty until the agent registers the signed credential; `payload` keeps the
-- exact bytes (base64url) the agent was given to sign.
ALTER TABLE wallet_delegations ADD COLUMN parent_id TEXT;
ALTER TABLE wallet_delegations ADD COLUMN issuer_did TEXT;
ALTER TABLE wallet_delegations ADD COLUMN depth BIGINT NOT NULL DEFAULT 0;
ALTER TABLE wallet_delegations ADD COLUMN payload TEXT;
-- 1 once a sub-delegation exists anywhere below: only then are holds charged to it from below.
ALTER TABLE wallet_delegations ADD COLUMN has_links BIGINT NOT NULL DEFAULT 0;
CREATE INDEX wallet_delegations_parent ON wallet_delegations (parent_id);

-- A hold under a sub-delegation counts against every delegation above it too: one row per
-- ancestor (the hold's own delegation is `wallet_holds.delegation_id`).
CREATE TABLE wallet_hold_charges (
    delegation_id  TEXT NOT NULL,
    hold_id        TEXT NOT NULL,
    PRIMARY KEY (delegation_id, hold_id)
);
