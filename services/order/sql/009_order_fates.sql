-- Every order id's fate, decided once by the primary key: 'placed' is written in the same
-- statement as the order; 'abandoned' by a request whose insert got no answer (the connection
-- was lost: PostgreSQL may or may not have committed) and that must know which. Its insert
-- waits for the order's transaction if that is still running, then either finds 'placed' (the
-- order exists: the request goes on with it) or writes 'abandoned', after which the late
-- insert, should it come, fails on the key and writes nothing.
CREATE TABLE order_fates (
    id         uuid        PRIMARY KEY,
    fate       text        NOT NULL CHECK (fate IN ('placed', 'abandoned')),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_fates_created_at ON order_fates (created_at);
