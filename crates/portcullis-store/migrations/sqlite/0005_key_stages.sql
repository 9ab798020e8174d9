-- Signing key stages (SQLite): `next` → `active` → `retired`. Keep in step with
-- migrations/postgres/0005_key_stages.sql: same columns, constraints and indexes.
--
-- A rotation inserts the new key as `next`: every node publishes it in its JWK Set
-- at its next key refresh, and it signs only from `activate_at` (seconds since the
-- epoch), after a publication lead that covers node refreshes and JWKS caching.
-- SQLite cannot change a CHECK constraint in place, so the table is rebuilt; existing
-- rows keep their stage and get `activate_at` NULL (active from their creation).

CREATE TABLE signing_keys_staged (
    -- RFC 7638 JWK thumbprint.
    kid                TEXT    NOT NULL PRIMARY KEY,
    alg                TEXT    NOT NULL,
    status             TEXT    NOT NULL CHECK (status IN ('next', 'active', 'retired')),
    -- The public JWK as published (JSON object).
    public_jwk         TEXT    NOT NULL,
    -- AES-256-GCM: nonce || ciphertext || tag, AAD = kid.
    sealed_private_key BLOB    NOT NULL,
    created_at         INTEGER NOT NULL,
    retired_at         INTEGER,
    publish_until      INTEGER,
    -- When a `next` key starts signing; kept once active, NULL for a key active
    -- from its creation.
    activate_at        INTEGER,
    CHECK (
        (status = 'next' AND activate_at IS NOT NULL AND retired_at IS NULL AND publish_until IS NULL)
        OR (status = 'active' AND retired_at IS NULL AND publish_until IS NULL)
        OR (status = 'retired' AND retired_at IS NOT NULL AND publish_until IS NOT NULL)
    )
) STRICT;

INSERT INTO signing_keys_staged
    (kid, alg, status, public_jwk, sealed_private_key, created_at, retired_at, publish_until, activate_at)
SELECT kid, alg, status, public_jwk, sealed_private_key, created_at, retired_at, publish_until, NULL
FROM signing_keys;

DROP TABLE signing_keys;
ALTER TABLE signing_keys_staged RENAME TO signing_keys;

-- At most one active key per algorithm: when two nodes start at once and both
-- generate a first key, the second insert fails instead of leaving two active keys.
CREATE UNIQUE INDEX signing_keys_one_active_per_alg ON signing_keys (alg) WHERE status = 'active';
-- At most one pending rotation per algorithm.
CREATE UNIQUE INDEX signing_keys_one_next_per_alg ON signing_keys (alg) WHERE status = 'next';
