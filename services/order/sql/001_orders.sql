-- Orders, their lines at the prices charged, idempotency keys, and the outbox of events.

CREATE TABLE orders (
    id                    uuid        PRIMARY KEY,
    user_id               bigint      NOT NULL CHECK (user_id > 0),
    email                 text        NOT NULL,
    status                text        NOT NULL CHECK (status IN ('confirmed')),
    total_cents           bigint      NOT NULL CHECK (total_cents >= 0),
    currency              char(3)     NOT NULL DEFAULT 'USD',
    -- false until inventory has committed the reservation; the worker retries until it has
    reservation_committed boolean     NOT NULL DEFAULT false,
    created_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_by_user ON orders (user_id, created_at DESC);
CREATE INDEX orders_uncommitted ON orders (created_at) WHERE NOT reservation_committed;

CREATE TABLE order_items (
    order_id         uuid    NOT NULL REFERENCES orders (id),
    product_id       integer NOT NULL CHECK (product_id > 0),
    name             text    NOT NULL,
    quantity         integer NOT NULL CHECK (quantity BETWEEN 1 AND 99),
    unit_price_cents integer NOT NULL CHECK (unit_price_cents >= 0),
    PRIMARY KEY (order_id, product_id)
);

-- One row per Idempotency-Key: the first request owns it while in progress, then its answer
-- is kept so that every replay gets the same answer.
-- order_id is set in the same statement that writes the order, so a replay finds the order
-- even when the first request died before it could record its answer.
CREATE TABLE idempotency_keys (
    key             text        PRIMARY KEY,
    request_hash    text        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('in_progress', 'done')),
    order_id        uuid,
    response_status integer,
    response_body   text,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Events written in the same transaction as the order, published to Redis by the worker:
-- an order is never confirmed without its event, and Redis being down never fails an order.
CREATE TABLE outbox (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream       text        NOT NULL,
    fields       jsonb       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

-- The one JSON form of an order, used by every endpoint that answers with orders.
CREATE FUNCTION order_document(order_id uuid) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', o.id,
        'user_id', o.user_id,
        'status', o.status,
        'items', (SELECT coalesce(json_agg(json_build_object(
                            'product_id', i.product_id, 'name', i.name,
                            'quantity', i.quantity, 'unit_price_cents', i.unit_price_cents)
                        ORDER BY i.product_id), '[]'::json)
                  FROM order_items i WHERE i.order_id = o.id),
        'total_cents', o.total_cents,
        'currency', o.currency,
        'created_at', to_char(o.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
    FROM orders o WHERE o.id = order_id
$$;
