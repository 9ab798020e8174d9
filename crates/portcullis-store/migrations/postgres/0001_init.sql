-- Clients, users and signing keys (PostgreSQL). Keep in step with
-- migrations/sqlite/0001_init.sql: same tables, columns, constraints and index.
--
-- Lists and claim maps are JSON text; secret digests are 32-byte SHA-256 BYTEA;
-- times are BIGINT seconds since the epoch. Identifiers use the "C" collation so
-- that ordering is by code point, as on SQLite, whatever the database locale.

CREATE TABLE clients (
    client_id                    TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    client_name                  TEXT,
    -- NULL for a public client.
    secret_digest                BYTEA,
    previous_secret_digest       BYTEA,
    previous_secret_expires_at   BIGINT,
    token_endpoint_auth_method   TEXT    NOT NULL,
    -- JSON arrays of strings.
    redirect_uris                TEXT    NOT NULL,
    post_logout_redirect_uris    TEXT    NOT NULL,
    grant_types                  TEXT    NOT NULL,
    scopes                       TEXT    NOT NULL,
    audiences                    TEXT    NOT NULL,
    skip_consent                 BOOLEAN NOT NULL,
    id_token_signed_response_alg TEXT    NOT NULL,
    -- JSON object.
    claims                       TEXT    NOT NULL,
    source                       TEXT    NOT NULL CHECK (source IN ('config', 'admin')),
    created_at                   BIGINT  NOT NULL,
    updated_at                   BIGINT  NOT NULL,
    -- A previous secret always has an expiry, and only exists next to a current one.
    CHECK ((previous_secret_digest IS NULL) = (previous_secret_expires_at IS NULL)),
    CHECK (previous_secret_digest IS NULL OR secret_digest IS NOT NULL)
);

CREATE TABLE users (
    -- Stable subject identifier (UUID v7), never reused.
    user_id       TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    username      TEXT COLLATE "C" NOT NULL UNIQUE,
    -- argon2id PHC string.
    password_hash TEXT   NOT NULL,
    email         TEXT,
    name          TEXT,
    -- JSON object.
    claims        TEXT   NOT NULL,
    source        TEXT   NOT NULL CHECK (source IN ('config', 'admin')),
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE signing_keys (
    -- RFC 7638 JWK thumbprint.
    kid                TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    alg                TEXT   NOT NULL,
    status             TEXT   NOT NULL CHECK (status IN ('active', 'retired')),
    -- The public JWK as published (JSON object).
    public_jwk         TEXT   NOT NULL,
    -- AES-256-GCM: nonce || ciphertext || tag, AAD = kid.
    sealed_private_key BYTEA  NOT NULL,
    created_at         BIGINT NOT NULL,
    retired_at         BIGINT,
    publish_until      BIGINT,
    CHECK (
        (status = 'active' AND retired_at IS NULL AND publish_until IS NULL)
        OR (status = 'retired' AND retired_at IS NOT NULL AND publish_until IS NOT NULL)
    )
);

-- At most one active key per algorithm: when two nodes start at once and both
-- generate a first key, the second insert fails instead of leaving two active keys.
CREATE UNIQUE INDEX signing_keys_one_active_per_alg ON signing_keys (alg) WHERE status = 'active';
