-- True when inventory refused the commit for good: the reservation expired (inventory's reaper
-- gave it back) and its stock was sold before this order could commit it. Such an order needs
-- a person, not another retry: the worker leaves it alone and order_reservations_lost_total
-- counts it.
ALTER TABLE orders ADD COLUMN reservation_lost boolean NOT NULL DEFAULT false;
DROP INDEX orders_uncommitted;
CREATE INDEX orders_uncommitted ON orders (created_at)
    WHERE NOT reservation_committed AND NOT reservation_lost;
