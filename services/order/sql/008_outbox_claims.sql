-- The outbox publisher claims a batch (claimed_until) in one short statement and publishes it
-- outside any transaction, so no row lock is held while Redis is slow; a claim whose publisher
-- died expires and the batch goes out again (at least once: notification drops duplicates).
ALTER TABLE outbox ADD COLUMN claimed_until timestamptz;
