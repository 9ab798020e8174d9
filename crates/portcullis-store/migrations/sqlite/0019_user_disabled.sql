-- Disabled users (issue 19): an administrator disables an account without deleting it.
-- NULL while enabled, else when it was disabled (seconds since the epoch). A disabled
-- user cannot sign in and their grants are refused; the config upsert leaves the
-- column alone. Keep in step with ../postgres/0019_user_disabled.sql.
ALTER TABLE users ADD COLUMN disabled_at INTEGER;
