-- The device authorization grant (RFC 8628) (PostgreSQL). Keep in step with
-- migrations/sqlite/0004_device_authorizations.sql: same tables, columns,
-- constraints and indexes.
--
-- The device code and the user code are stored only as their 32-byte SHA-256
-- digests (BYTEA). Lists are JSON text arrays; times are BIGINT seconds since the
-- epoch. Identifiers use the "C" collation, as in 0001.
--
-- A device authorization belongs to a client, and once approved to a user: deleting
-- either deletes it (ON DELETE CASCADE), as for authorization codes. The table has an
-- index on expires_at, for the batched purge of expired rows, and one on every
-- foreign key column, for the cascade.

-- RFC 8628 §3.2 device authorizations: one row per device_code, from the device
-- authorization request until its purge after expires_at.
CREATE TABLE device_authorizations (
    device_code_digest BYTEA   NOT NULL PRIMARY KEY CHECK (length(device_code_digest) = 32),
    -- SHA-256 of the normalised user code (8 letters, no dash). Unique among stored
    -- rows, expired ones included until purged: a new code that collides is redrawn.
    user_code_digest   BYTEA   NOT NULL UNIQUE CHECK (length(user_code_digest) = 32),
    client_id          TEXT COLLATE "C" NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    -- JSON arrays of strings.
    scopes             TEXT    NOT NULL,
    resources          TEXT    NOT NULL,
    -- The user's decision: set once, from 'pending', by a conditional UPDATE.
    status             TEXT COLLATE "C" NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
    -- Who approved, and when they authenticated (OIDC auth_time): set with 'approved'
    -- and only then.
    user_id            TEXT COLLATE "C" REFERENCES users (user_id) ON DELETE CASCADE,
    auth_time          BIGINT,
    -- Seconds a device must wait between polls; grows by 5 at each slow_down
    -- (RFC 8628 §3.5), in the same UPDATE that records the poll.
    poll_interval      BIGINT  NOT NULL CHECK (poll_interval >= 0),
    last_polled_at     BIGINT,
    -- Whether the poll that last set last_polled_at came too soon (slow_down); only
    -- read back through that UPDATE's RETURNING.
    last_poll_too_fast BOOLEAN NOT NULL,
    -- Set once, by the conditional UPDATE that issues the tokens (single use).
    consumed_at        BIGINT,
    created_at         BIGINT  NOT NULL,
    expires_at         BIGINT  NOT NULL,
    CHECK ((status = 'approved') = (user_id IS NOT NULL)),
    CHECK ((user_id IS NULL) = (auth_time IS NULL)),
    CHECK (consumed_at IS NULL OR status = 'approved')
);

CREATE INDEX device_authorizations_expires_at ON device_authorizations (expires_at);
CREATE INDEX device_authorizations_client_id ON device_authorizations (client_id);
CREATE INDEX device_authorizations_user_id ON device_authorizations (user_id);

-- A pending authorization request that decides a device authorization (RFC 8628
-- §3.3) rather than redirecting with a code: the device code digest names the row to
-- decide; the user code is for the consent page to display, sealed (AES-256-GCM under
-- the master key, bound to the device code digest, base64url), never plain. Both
-- set, or neither. No foreign key, as for the rest of the pending row: the decision's
-- conditional UPDATE finds the device authorization or not.
ALTER TABLE pending_authorizations
    ADD COLUMN device_code_digest BYTEA CHECK (length(device_code_digest) = 32);
ALTER TABLE pending_authorizations
    ADD COLUMN device_user_code TEXT
    CHECK ((device_user_code IS NULL) = (device_code_digest IS NULL));
