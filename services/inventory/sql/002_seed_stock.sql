-- Stock for the product service's seed catalog (products 1 to 27): 100 of each, none reserved.
INSERT INTO stock (product_id, available, reserved)
SELECT id, 100, 0 FROM generate_series(1, 27) AS id
ON CONFLICT (product_id) DO NOTHING;
