-- One notice per order that waits for stock (order.backordered): the customer hears that the
-- order is delayed; the one confirmation in notifications follows when it is filled
-- (order.filled). A table of its own keeps "one notification per order" true of notifications.
CREATE TABLE backorder_notices (
    id         bigserial   PRIMARY KEY,
    order_id   text        NOT NULL UNIQUE CHECK (length(order_id) BETWEEN 1 AND 64),
    user_id    bigint      NOT NULL CHECK (user_id > 0),
    email      text        NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX backorder_notices_user_newest ON backorder_notices (user_id, created_at DESC, id DESC);
