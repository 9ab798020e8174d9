-- Usernames compare by their RFC 8265 UsernameCaseMapped form (issue 16): `Demo` and
-- `demo` are one account. `username` keeps the display form; `username_key` holds the
-- compared form, computed in Rust (`portcullis_core::user::username_key`: width
-- mapping, Unicode lowercase, NFC, which SQL cannot do), so rows stored before this
-- migration get it at the next start (`user_keys_backfill`). Rows whose usernames
-- clash keep NULL (NULLs never collide in a UNIQUE index) and `serve` refuses to
-- start, naming them, until all but one are deleted. Keep in step with
-- ../postgres/0011_username_key.sql.
ALTER TABLE users ADD COLUMN username_key TEXT;
-- (Named as on PostgreSQL, where `users_username_key` is the UNIQUE of `username`.)
CREATE UNIQUE INDEX users_by_username_key ON users (username_key);
