-- Pending authorization requests are no longer stored (PostgreSQL). Keep in step with
-- migrations/sqlite/0009_sealed_authorization_requests.sql.
--
-- Issue 16: a row per anonymous GET /authorize let anyone grow the database. The
-- browser now carries the validated request sealed (AES-256-GCM under a key derived
-- from the master key); the store hears of it only when it ends. Requests in flight
-- during the upgrade are lost: their users start again from the client.
DROP TABLE pending_authorizations;

-- The ids (SHA-256) of pending authorization requests that have ended (a code, a
-- denial, an error at the client), so a form cannot be replayed into a second code.
-- A row is kept until the request's own expiry (its sealed form is refused from then
-- on), then purged.
CREATE TABLE used_authorization_requests (
    id_digest  BYTEA  NOT NULL PRIMARY KEY CHECK (length(id_digest) = 32),
    expires_at BIGINT NOT NULL
);

CREATE INDEX used_authorization_requests_expires_at
    ON used_authorization_requests (expires_at);
