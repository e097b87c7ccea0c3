-- Shop users. Emails are stored trimmed and lower-cased; the unique index on lower(email) is
-- what makes sign-up race-free: of concurrent sign-ups with one address (in any case), exactly
-- one inserts. The CHECKs repeat the service's limits (user.h), in bytes.
CREATE TABLE users (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email      text        NOT NULL CHECK (octet_length(email) BETWEEN 3 AND 254),
    name       text        NOT NULL CHECK (octet_length(name) BETWEEN 1 AND 100),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Serves sign-in by email, and refuses a second account for the same address.
CREATE UNIQUE INDEX users_email_lower ON users (lower(email));
