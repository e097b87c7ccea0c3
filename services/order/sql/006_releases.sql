-- Reservations to release that inventory could not be told about yet (its breaker open, or
-- the release itself failed): the worker sends them until inventory has them. A release of a
-- reservation never made is harmless (inventory keeps a tombstone that makes a late reserve a
-- no-op), so a release is sent whenever the reserve may have been made.
CREATE TABLE order_releases (
    id         uuid        PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);
