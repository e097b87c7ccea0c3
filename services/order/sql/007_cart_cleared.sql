-- Whether the lines an order bought from its cart have been taken out of the cart: NULL for an
-- order of given items, false until the cart service has done it. The worker finishes a clear
-- that failed when the order was placed, so a crash or a cart outage never leaves the bought
-- lines in the cart.
ALTER TABLE orders ADD COLUMN cart_cleared boolean;
CREATE INDEX orders_cart_pending ON orders (created_at) WHERE cart_cleared = false;
