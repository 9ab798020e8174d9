-- Rate-limit buckets shared by every node (SQLite). Keep in step
-- with migrations/postgres/0006_rate_limits.sql: same columns and indexes.
--
-- One row per bucket (GCRA): `tat` is the theoretical arrival time of the next
-- cell, in milliseconds since the epoch. A missing row is a full bucket, and so is
-- a row with `tat <= now`: housekeeping deletes those (`tat` is also the row's
-- expiry). Used by the wrong-user-code limits of the device verification page.
CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY,
    tat INTEGER NOT NULL
);

-- The purge picks full buckets by `tat`.
CREATE INDEX rate_limits_tat ON rate_limits (tat);
