-- Who added each wallet key (the operator, or the service on first start).
ALTER TABLE wallet_keys ADD COLUMN created_by TEXT;
