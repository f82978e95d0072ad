-- Running counters of what a delegation's own holds use (spec 11.2 "Running counters"), so an
-- authorization on a principal's delegation reads one narrow row instead of summing the holds
-- of its whole history: `spent`, the amounts of its holds stored held, pending or captured; and
-- `period_spent`, those of them created at or after `counted_period` (a period's start, 0 for a
-- delegation without a period budget). No row, or NULL `counted_period`: not known, recounted
-- from the holds at the next authorization. Holds past their expiry leave the counters when an
-- authorization sweeps them (stored state `expired` or `approval_expired`). A table of its own:
-- rewriting a delegation's row (its credential inline) for every group would cost far more.
CREATE TABLE wallet_spend_counters (
    delegation_id TEXT PRIMARY KEY REFERENCES wallet_delegations (id),
    spent BIGINT NOT NULL,
    period_spent BIGINT NOT NULL,
    counted_period BIGINT
);
