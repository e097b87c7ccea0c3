-- Stock per product, and reservations that hold some of it for an order until it is committed
-- (sold) or released (given back). The CHECKs are the last line of defence: whatever the
-- concurrency, no count can go below zero, because PostgreSQL refuses the row.
CREATE TABLE stock (
    product_id integer     PRIMARY KEY CHECK (product_id > 0),
    available  integer     NOT NULL CHECK (available >= 0),
    reserved   integer     NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE reservations (
    id         text        PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
    status     text        NOT NULL CHECK (status IN ('held', 'committed', 'released')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The reaper only ever looks for old held reservations.
CREATE INDEX reservations_held_created_at ON reservations (created_at) WHERE status = 'held';

CREATE TABLE reservation_items (
    reservation_id text    NOT NULL REFERENCES reservations (id),
    product_id     integer NOT NULL CHECK (product_id > 0),
    quantity       integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (reservation_id, product_id)
);
