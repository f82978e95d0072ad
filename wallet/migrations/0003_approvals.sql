-- Step-up approvals: a hold may wait for the principal ('pending', then 'held' or 'denied'),
-- so what the wallet will sign is kept with it.
ALTER TABLE wallet_holds ADD COLUMN subject TEXT;
