-- private_key_jwt client authentication, RFC 7523 §2.2 (SQLite). Keep in step with
-- migrations/postgres/0012_private_key_jwt.sql: same tables, columns, constraints and
-- indexes.

-- RFC 7591 §2 `jwks`: the public keys (an RFC 7517 JWK Set as JSON text) a
-- private_key_jwt client signs its assertions with; NULL for every other client.
ALTER TABLE clients ADD COLUMN jwks TEXT;

-- RFC 7523 §3: client assertions already used, so a jti is accepted once per client
-- across every node. The key is SHA-256 of the JSON array [client_id, jti]; a row is
-- kept until the assertion has expired (exp plus the clock skew), then purged.
CREATE TABLE client_assertions (
    assertion_digest BLOB    NOT NULL PRIMARY KEY CHECK (length(assertion_digest) = 32),
    expires_at       INTEGER NOT NULL
) STRICT;

CREATE INDEX client_assertions_expires_at ON client_assertions (expires_at);
