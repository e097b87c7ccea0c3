-- 'backordered': inventory refused the order's reservation commit because the reservation had
-- expired (inventory's reaper gave it back) and its stock was sold before the order could
-- commit it. The worker tries the commit again every BACKORDER_RETRY_S, which takes the stock
-- once the product is restocked, and the order is 'confirmed' again.
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check
    CHECK (status IN ('confirmed', 'backordered'));
CREATE INDEX orders_backordered ON orders (created_at) WHERE status = 'backordered';
