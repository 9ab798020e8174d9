-- Dynamic client registration, RFC 7591 / RFC 7592 (sqlite). Keep in step with
-- migrations/postgres/0017_dynamic_clients.sql: same tables, columns, constraints and
-- indexes.
--
-- A dynamically registered client is a `clients` row (source 'admin' in that column,
-- whose CHECK a SQLite table rebuild would be needed to widen) plus a row here; the
-- store reads such a client's source as 'dynamic' (tables/clients.rs). Deleting the
-- client deletes its registration, codes and tokens (ON DELETE CASCADE).
CREATE TABLE dynamic_clients (
    client_id                 TEXT    NOT NULL PRIMARY KEY
        REFERENCES clients (client_id) ON DELETE CASCADE,
    -- RFC 7592 §1: SHA-256 of the 256-bit registration access token.
    registration_token_digest BLOB    NOT NULL UNIQUE
        CHECK (length(registration_token_digest) = 32),
    -- JSON object: the client metadata as registered (RFC 7591 §3.2.1), no credentials.
    metadata                  TEXT    NOT NULL,
    -- Rewritten at most once a day; housekeeping deletes clients unused for
    -- [registration] unused_client_ttl.
    last_used_at              INTEGER NOT NULL,
    created_at                INTEGER NOT NULL
) STRICT;

CREATE INDEX dynamic_clients_last_used_at ON dynamic_clients (last_used_at);

-- RFC 7591 §3: initial access tokens made with `portcullis registration token create`
-- (SHA-256 of 256 random bits; the token itself is printed once).
CREATE TABLE initial_access_tokens (
    token_digest BLOB    NOT NULL PRIMARY KEY CHECK (length(token_digest) = 32),
    created_at   INTEGER NOT NULL
) STRICT;
