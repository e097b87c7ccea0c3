-- Answered Idempotency-Keys and published events are kept for a retention period
-- (IDEMPOTENCY_KEY_RETENTION_S, OUTBOX_RETENTION_S), then the worker deletes them.
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
CREATE INDEX outbox_published_at ON outbox (published_at) WHERE published_at IS NOT NULL;
