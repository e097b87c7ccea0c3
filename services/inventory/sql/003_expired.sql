-- A reservation the reaper gave back is 'expired', not 'released': its order may still come
-- and commit it late, which takes the stock again if it is still there (a client's release
-- is final). The partial index on held reservations is unchanged.
ALTER TABLE reservations DROP CONSTRAINT reservations_status_check;
ALTER TABLE reservations ADD CONSTRAINT reservations_status_check
    CHECK (status IN ('held', 'committed', 'released', 'expired'));
