-- The request that holds an Idempotency-Key's claim: a random id per request, replaced when a
-- retry takes a dead claim over. Recording the answer and forgetting the claim both name their
-- owner, so a stalled request that comes back after a takeover cannot overwrite or delete the
-- new owner's record.
ALTER TABLE idempotency_keys ADD COLUMN owner uuid;
