-- When the worker last tried to commit an order's reservation. Each pass takes the orders tried
-- longest ago (never tried first), so twenty orders whose commit keeps failing (a backorder
-- whose product is not restocked) can never hold up a newer one for ever.
ALTER TABLE orders ADD COLUMN commit_tried_at timestamptz;
DROP INDEX orders_backordered;
CREATE INDEX orders_backordered ON orders (commit_tried_at NULLS FIRST, created_at)
    WHERE status = 'backordered';
CREATE INDEX orders_commit_pending ON orders (commit_tried_at NULLS FIRST, created_at)
    WHERE NOT reservation_committed AND status = 'confirmed';
