-- The load-test scenarios (load-test/run.sh --scenario NAME): each is a weighted mix of flows.
-- A weight is the share of a virtual user's iterations spent on that flow; one iteration is
--   browse    one request: a page of 20 products (1 in 4) or one product (3 in 4)
--   cart      add a product to the VU's own cart, view the cart, remove the line again
--   checkout  add a product to the VU's cart and POST /orders with a fresh Idempotency-Key
--             (the VU creates its user with POST /users before its first checkout, once)
-- One scenario a line, `name = { flow = weight, ... },`: run.sh reads the names from here.
return {
    browse = { browse = 1 },
    cart = { cart = 1 },
    checkout = { checkout = 1 },
    mixed = { browse = 70, cart = 20, checkout = 10 },
}
