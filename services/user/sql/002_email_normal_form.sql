-- Emails are stored in their normal form, which the service computes (ms_email_normalise in
-- common/: Unicode NFC and case folding), and a unique index on that form is what refuses a
-- second account for one address. lower() under --locale=C folds ASCII only, so the index on
-- lower(email) let "jürgen@" and "JÜRGEN@" be two accounts.
--
-- Rows from before were lower-cased in ASCII only: those that are pure ASCII are in normal form
-- already. The others are brought to it here as closely as SQL can: NFC of ICU's root-locale
-- lower case, the same as case folding for every letter but a handful (ß, final ς, ligatures
-- such as ﬀ). When several rows fold to one address, the oldest takes it and the others keep
-- their old form, reachable by id (never two accounts merged behind anyone's back).
WITH normal AS (
    SELECT DISTINCT ON (n.email) n.id, n.email
    FROM (SELECT id, normalize(lower(email COLLATE "und-x-icu"), NFC) AS email
          FROM users WHERE email ~ '[^\x01-\x7f]') n
    ORDER BY n.email, n.id
)
UPDATE users u SET email = normal.email
FROM normal
WHERE u.id = normal.id AND u.email <> normal.email
  AND NOT EXISTS (SELECT 1 FROM users o WHERE o.email = normal.email AND o.id <> normal.id);

DROP INDEX users_email_lower;
CREATE UNIQUE INDEX users_email ON users (email);
