-- Client profiles and client key URLs (PostgreSQL). Keep in step with
-- ../sqlite/0016_client_profiles.sql: same columns and constraints.

-- Which rules a client is held to: `default`, or `fapi2` (FAPI 2.0 Security Profile,
-- Final, February 2025: PAR, PKCE S256, private_key_jwt, DPoP, https redirect URIs,
-- 60-second codes; docs/fapi2.md).
ALTER TABLE clients ADD COLUMN profile TEXT NOT NULL DEFAULT 'default'
    CHECK (profile IN ('default', 'fapi2'));

-- RFC 7591 §2 `jwks_uri`: the https URL of a private_key_jwt client's public keys,
-- fetched through the server's guarded door and cached in memory (never stored); NULL
-- for every other client and when `jwks` holds the keys inline (never both).
ALTER TABLE clients ADD COLUMN jwks_uri TEXT;
