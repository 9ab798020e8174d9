-- Refresh tokens with rotation and reuse detection (SQLite), and the resource servers
-- a client may introspect for. Keep in step with
-- migrations/postgres/0003_refresh_tokens.sql: same tables, columns, constraints and
-- indexes.
--
-- Refresh tokens are stored only as their 32-byte SHA-256 digest. Lists are JSON text
-- arrays; times are INTEGER seconds since the epoch.
--
-- A family is every refresh token descended from one authorization (RFC 9700
-- §4.14.2): rotating a token marks it rotated and inserts its one successor in the
-- same family; presenting a rotated token revokes the whole family, together with
-- the access tokens issued in it (recorded in family_access_tokens).
--
-- Refresh tokens belong to a user and a client: deleting either deletes them (ON
-- DELETE CASCADE), as for authorization codes. Every table with an expires_at has an
-- index on it, for the batched purge of expired rows; every foreign key column has
-- one, for the cascade.

-- RFC 6749 §6 refresh tokens, bound to the client, the user, the granted scopes and
-- resources.
CREATE TABLE refresh_tokens (
    token_digest BLOB    NOT NULL PRIMARY KEY CHECK (length(token_digest) = 32),
    -- Shared by every token descended from one authorization: for a family started by
    -- an authorization code, the hex SHA-256 digest of the code.
    family_id    TEXT    NOT NULL,
    client_id    TEXT    NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    user_id      TEXT    NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    -- JSON arrays of strings: the original grant.
    scopes       TEXT    NOT NULL,
    resources    TEXT    NOT NULL,
    -- When the user authenticated (OIDC auth_time).
    auth_time    INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    -- Set once, by the conditional UPDATE that rotates the token.
    rotated_at   INTEGER,
    -- Set once, when the family is revoked.
    revoked_at   INTEGER
) STRICT;

CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);
CREATE INDEX refresh_tokens_client_id ON refresh_tokens (client_id);
CREATE INDEX refresh_tokens_user_id ON refresh_tokens (user_id);

-- The access tokens issued in a family, so revoking the family puts their jti on
-- revoked_access_tokens. A row is useless once the token has expired.
CREATE TABLE family_access_tokens (
    jti        TEXT    NOT NULL PRIMARY KEY,
    family_id  TEXT    NOT NULL,
    -- The token's exp.
    expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX family_access_tokens_family_id ON family_access_tokens (family_id);
CREATE INDEX family_access_tokens_expires_at ON family_access_tokens (expires_at);

-- Resource servers (RFC 8707 resource URIs) the client serves: it may introspect
-- tokens whose aud includes one of them. JSON array of strings, like redirect_uris.
ALTER TABLE clients ADD COLUMN introspection_audiences TEXT NOT NULL DEFAULT '[]';
