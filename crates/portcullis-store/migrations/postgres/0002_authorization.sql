-- The authorization code flow (PostgreSQL): browser sessions, pending authorization
-- requests, consents, authorization codes and revoked access tokens. Keep in step
-- with migrations/sqlite/0002_authorization.sql: same tables, columns, constraints
-- and indexes.
--
-- Secrets (session cookies, pending request ids, codes) are stored only as their
-- 32-byte SHA-256 digest (BYTEA). Lists are JSON text arrays; times are BIGINT
-- seconds since the epoch. Identifiers use the "C" collation, as in 0001.
--
-- Sessions, consents and codes belong to a user, consents and codes to a client:
-- deleting the user or the client deletes them (ON DELETE CASCADE). The client and
-- user upserts are INSERT … ON CONFLICT DO UPDATE, an update in place, so they never
-- fire the cascade. Pending requests have no foreign keys: their client_id lives in
-- the request JSON, they last minutes, and the code insert that ends them checks the
-- client and user through its own foreign keys.
--
-- Every table with an expires_at has an index on it, for the batched purge of
-- expired rows; every foreign key column has one, for the cascade.

-- A logged-in browser (OIDC Core §3.1.2.3). The cookie holds the random id.
CREATE TABLE browser_sessions (
    session_digest BYTEA  NOT NULL PRIMARY KEY CHECK (length(session_digest) = 32),
    user_id        TEXT COLLATE "C" NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    -- When the user entered their password (OIDC auth_time).
    auth_time      BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL
);

CREATE INDEX browser_sessions_expires_at ON browser_sessions (expires_at);
CREATE INDEX browser_sessions_user_id ON browser_sessions (user_id);

-- An authorization request (RFC 6749 §4.1.1) waiting for the user to log in and
-- approve, bound to the browser that started it.
CREATE TABLE pending_authorizations (
    id_digest      BYTEA  NOT NULL PRIMARY KEY CHECK (length(id_digest) = 32),
    -- The ValidatedAuthorizationRequest (JSON object).
    request        TEXT   NOT NULL,
    -- SHA-256 of the browser-binding cookie.
    browser_digest BYTEA  NOT NULL CHECK (length(browser_digest) = 32),
    csrf_token     TEXT   NOT NULL,
    -- Who logged in during the request, and when: both set, or neither.
    user_id        TEXT COLLATE "C",
    auth_time      BIGINT,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    CHECK ((user_id IS NULL) = (auth_time IS NULL))
);

CREATE INDEX pending_authorizations_expires_at ON pending_authorizations (expires_at);

-- The scopes a user has approved for a client; grants only ever add to the set.
CREATE TABLE consents (
    user_id    TEXT COLLATE "C" NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    client_id  TEXT COLLATE "C" NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    -- JSON array of strings.
    scopes     TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

CREATE INDEX consents_client_id ON consents (client_id);

-- RFC 6749 §4.1.2 authorization codes: single use, bound to everything the token
-- request must match.
CREATE TABLE authorization_codes (
    code_digest             BYTEA   NOT NULL PRIMARY KEY CHECK (length(code_digest) = 32),
    client_id               TEXT COLLATE "C" NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    user_id                 TEXT COLLATE "C" NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    redirect_uri            TEXT    NOT NULL,
    redirect_uri_sent       BOOLEAN NOT NULL,
    -- RFC 7636 S256 challenge, if the request had one.
    code_challenge          TEXT,
    -- JSON arrays of strings.
    scopes                  TEXT    NOT NULL,
    resources               TEXT    NOT NULL,
    nonce                   TEXT,
    auth_time               BIGINT  NOT NULL,
    created_at              BIGINT  NOT NULL,
    expires_at              BIGINT  NOT NULL,
    -- Set together, once, by the conditional UPDATE that redeems the code.
    consumed_at             BIGINT,
    access_token_jti        TEXT COLLATE "C",
    access_token_expires_at BIGINT,
    CHECK (
        (consumed_at IS NULL) = (access_token_jti IS NULL)
        AND (consumed_at IS NULL) = (access_token_expires_at IS NULL)
    )
);

CREATE INDEX authorization_codes_expires_at ON authorization_codes (expires_at);
CREATE INDEX authorization_codes_client_id ON authorization_codes (client_id);
CREATE INDEX authorization_codes_user_id ON authorization_codes (user_id);

-- Access tokens revoked before their exp (a replayed code, RFC 6749 §4.1.2). A row
-- is useless once the token has expired anyway.
CREATE TABLE revoked_access_tokens (
    jti        TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    -- The token's exp.
    expires_at BIGINT NOT NULL
);

CREATE INDEX revoked_access_tokens_expires_at ON revoked_access_tokens (expires_at);
