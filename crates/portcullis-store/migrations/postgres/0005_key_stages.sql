-- Signing key stages (PostgreSQL): `next` → `active` → `retired`. Keep in step with
-- migrations/sqlite/0005_key_stages.sql: same columns, constraints and indexes.
--
-- A rotation inserts the new key as `next`: every node publishes it in its JWK Set
-- at its next key refresh, and it signs only from `activate_at` (seconds since the
-- epoch), after a publication lead that covers node refreshes and JWKS caching.
-- Existing rows keep their stage and get `activate_at` NULL (active from their
-- creation).

-- When a `next` key starts signing; kept once active, NULL for a key active from
-- its creation.
ALTER TABLE signing_keys ADD COLUMN activate_at BIGINT;

-- The names PostgreSQL gave the unnamed checks of 0001_init.sql.
ALTER TABLE signing_keys DROP CONSTRAINT signing_keys_status_check;
ALTER TABLE signing_keys DROP CONSTRAINT signing_keys_check;
ALTER TABLE signing_keys ADD CONSTRAINT signing_keys_status_check
    CHECK (status IN ('next', 'active', 'retired'));
ALTER TABLE signing_keys ADD CONSTRAINT signing_keys_check CHECK (
    (status = 'next' AND activate_at IS NOT NULL AND retired_at IS NULL AND publish_until IS NULL)
    OR (status = 'active' AND retired_at IS NULL AND publish_until IS NULL)
    OR (status = 'retired' AND retired_at IS NOT NULL AND publish_until IS NOT NULL)
);

-- At most one pending rotation per algorithm.
CREATE UNIQUE INDEX signing_keys_one_next_per_alg ON signing_keys (alg) WHERE status = 'next';
