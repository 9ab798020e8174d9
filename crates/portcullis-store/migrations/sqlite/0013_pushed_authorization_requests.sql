-- Pushed authorization requests, RFC 9126 (SQLite). Keep in step with
-- ../postgres/0013_pushed_authorization_requests.sql: same tables, columns,
-- constraints and indexes.

-- RFC 9126 §6 client metadata: the authorization endpoint accepts this client's
-- requests only as a request_uri from the pushed authorization request endpoint.
ALTER TABLE clients ADD COLUMN require_pushed_authorization_requests INTEGER NOT NULL
    DEFAULT 0 CHECK (require_pushed_authorization_requests IN (0, 1));

-- RFC 9126 §2.2: a pushed request, keyed by SHA-256 of the random part of its
-- request_uri (never the value itself); the validated request sealed under a key
-- derived from the master key, bound to the digest. Redeemed once (DELETE …
-- RETURNING, only by client_id), refused from expires_at on, then purged.
CREATE TABLE pushed_authorization_requests (
    request_uri_digest BLOB    NOT NULL PRIMARY KEY CHECK (length(request_uri_digest) = 32),
    client_id          TEXT    NOT NULL,
    sealed_request     BLOB    NOT NULL,
    created_at         INTEGER NOT NULL,
    expires_at         INTEGER NOT NULL
) STRICT;

CREATE INDEX pushed_authorization_requests_expires_at
    ON pushed_authorization_requests (expires_at);
