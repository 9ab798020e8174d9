-- Automatic certificates, RFC 8555 (PostgreSQL). Keep in step with
-- migrations/sqlite/0018_acme.sql: same tables, columns, constraints and indexes.
--
-- Every node of a cluster serves the one certificate stored here: one node orders it
-- (holding the lease below), the others load it. Secrets are sealed with a key derived
-- from the master key (AES-256-GCM, as signing keys are), bound to the row's name.

CREATE TABLE acme_accounts (
    directory          TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    sealed_credentials BYTEA  NOT NULL,
    created_at         BIGINT NOT NULL
);

CREATE TABLE acme_certificates (
    name        TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    chain_pem   TEXT   NOT NULL,
    sealed_key  BYTEA  NOT NULL,
    not_before  BIGINT NOT NULL,
    not_after   BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE acme_leases (
    name       TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    holder     TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE acme_challenges (
    domain     TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    digest     BYTEA  NOT NULL CHECK (length(digest) = 32),
    expires_at BIGINT NOT NULL
);
