-- Who retired a wallet key (the operator), beside when.
ALTER TABLE wallet_keys ADD COLUMN retired_by TEXT;
