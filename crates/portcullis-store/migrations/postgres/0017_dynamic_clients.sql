-- Dynamic client registration, RFC 7591 / RFC 7592 (PostgreSQL). Keep in step with
-- migrations/sqlite/0017_dynamic_clients.sql: same tables, columns, constraints and
-- indexes.
--
-- A dynamically registered client is a `clients` row (source 'admin' in that column,
-- as on SQLite, where widening its CHECK needs a table rebuild) plus a row here; the
-- store reads such a client's source as 'dynamic' (tables/clients.rs). Deleting the
-- client deletes its registration, codes and tokens (ON DELETE CASCADE).
CREATE TABLE dynamic_clients (
    client_id                 TEXT COLLATE "C" NOT NULL PRIMARY KEY
        REFERENCES clients (client_id) ON DELETE CASCADE,
    registration_token_digest BYTEA  NOT NULL UNIQUE
        CHECK (length(registration_token_digest) = 32),
    metadata                  TEXT   NOT NULL,
    last_used_at              BIGINT NOT NULL,
    created_at                BIGINT NOT NULL
);

CREATE INDEX dynamic_clients_last_used_at ON dynamic_clients (last_used_at);

CREATE TABLE initial_access_tokens (
    token_digest BYTEA  NOT NULL PRIMARY KEY CHECK (length(token_digest) = 32),
    created_at   BIGINT NOT NULL
);
