-- One notification per confirmed order: the unique order_id is what makes a redelivered event
-- a no-op (INSERT ... ON CONFLICT (order_id) DO NOTHING).
CREATE TABLE notifications (
    id         bigserial   PRIMARY KEY,
    order_id   text        NOT NULL UNIQUE CHECK (length(order_id) BETWEEN 1 AND 64),
    user_id    bigint      NOT NULL CHECK (user_id > 0),
    email      text        NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    channel    text        NOT NULL DEFAULT 'email',
    status     text        NOT NULL DEFAULT 'sent',
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Serves GET /notifications?user_id=, newest first.
CREATE INDEX notifications_user_newest ON notifications (user_id, created_at DESC, id DESC);
