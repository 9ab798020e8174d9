-- no-transaction
-- Clients known by their metadata document (sqlite). Keep in step with
-- migrations/postgres/0015_client_metadata_documents.sql.
--
-- draft-ietf-oauth-client-id-metadata-document: a client whose client_id is an https
-- URL is stored with source 'metadata_document' (codes, refresh tokens and device
-- authorizations refer to clients by foreign key). SQLite cannot change a CHECK
-- constraint in place, so the table is rebuilt (https://sqlite.org/lang_altertable.html
-- §7, "Making Other Kinds Of Table Schema Changes"): foreign keys off, so that dropping
-- the old table cascades to nothing; one transaction; the other tables' references
-- name "clients" and bind to the new table once it is renamed.
--
-- Every column of clients must be listed here, in the CREATE TABLE and in both
-- column lists of the INSERT (a column left out would be lost).
PRAGMA foreign_keys = OFF;

BEGIN IMMEDIATE;

CREATE TABLE clients_rebuilt (
    client_id                    TEXT    NOT NULL PRIMARY KEY,
    client_name                  TEXT,
    -- NULL for a public client.
    secret_digest                BLOB,
    previous_secret_digest       BLOB,
    previous_secret_expires_at   INTEGER,
    token_endpoint_auth_method   TEXT    NOT NULL,
    -- JSON arrays of strings.
    redirect_uris                TEXT    NOT NULL,
    post_logout_redirect_uris    TEXT    NOT NULL,
    grant_types                  TEXT    NOT NULL,
    scopes                       TEXT    NOT NULL,
    audiences                    TEXT    NOT NULL,
    skip_consent                 INTEGER NOT NULL CHECK (skip_consent IN (0, 1)),
    id_token_signed_response_alg TEXT    NOT NULL,
    -- JSON object.
    claims                       TEXT    NOT NULL,
    source                       TEXT    NOT NULL
        CHECK (source IN ('config', 'admin', 'metadata_document')),
    created_at                   INTEGER NOT NULL,
    updated_at                   INTEGER NOT NULL,
    introspection_audiences      TEXT    NOT NULL DEFAULT '[]',
    allowed_origins              TEXT    NOT NULL DEFAULT '[]',
    dpop_bound_access_tokens     INTEGER NOT NULL DEFAULT 0
        CHECK (dpop_bound_access_tokens IN (0, 1)),
    require_pushed_authorization_requests INTEGER NOT NULL DEFAULT 0
        CHECK (require_pushed_authorization_requests IN (0, 1)),
    default_scopes               TEXT    NOT NULL DEFAULT '[]',
    jwks                         TEXT,
    -- A previous secret always has an expiry, and only exists next to a current one.
    CHECK ((previous_secret_digest IS NULL) = (previous_secret_expires_at IS NULL)),
    CHECK (previous_secret_digest IS NULL OR secret_digest IS NOT NULL)
) STRICT;

INSERT INTO clients_rebuilt (
    client_id, client_name, secret_digest, previous_secret_digest,
    previous_secret_expires_at, token_endpoint_auth_method, redirect_uris,
    post_logout_redirect_uris, grant_types, scopes, audiences, skip_consent,
    id_token_signed_response_alg, claims, source, created_at, updated_at,
    introspection_audiences, allowed_origins, dpop_bound_access_tokens,
    require_pushed_authorization_requests, default_scopes, jwks
) SELECT
    client_id, client_name, secret_digest, previous_secret_digest,
    previous_secret_expires_at, token_endpoint_auth_method, redirect_uris,
    post_logout_redirect_uris, grant_types, scopes, audiences, skip_consent,
    id_token_signed_response_alg, claims, source, created_at, updated_at,
    introspection_audiences, allowed_origins, dpop_bound_access_tokens,
    require_pushed_authorization_requests, default_scopes, jwks
FROM clients;
DROP TABLE clients;
ALTER TABLE clients_rebuilt RENAME TO clients;

COMMIT;

PRAGMA foreign_keys = ON;
