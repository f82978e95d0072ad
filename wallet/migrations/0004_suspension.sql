-- A suspended delegation gets no new holds until it is reinstated.
ALTER TABLE wallet_delegations ADD COLUMN suspended_at BIGINT;
