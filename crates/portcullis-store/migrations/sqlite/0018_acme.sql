-- Automatic certificates, RFC 8555 (sqlite). Keep in step with
-- migrations/postgres/0018_acme.sql: same tables, columns, constraints and indexes.
--
-- Every node of a cluster serves the one certificate stored here: one node orders it
-- (holding the lease below), the others load it. Secrets are sealed with a key derived
-- from the master key (AES-256-GCM, as signing keys are), bound to the row's name.

-- The ACME account per directory URL: instant-acme's credentials (JSON), sealed.
CREATE TABLE acme_accounts (
    directory          TEXT    NOT NULL PRIMARY KEY,
    sealed_credentials BLOB    NOT NULL,
    created_at         INTEGER NOT NULL
) STRICT;

-- The current certificate for a set of domains (`name`: the sorted domains joined by
-- commas): the chain in PEM (public), its private key (PKCS#8 PEM) sealed, and the
-- certificate's notBefore/notAfter (Unix seconds) for the renewal rule.
CREATE TABLE acme_certificates (
    name        TEXT    NOT NULL PRIMARY KEY,
    chain_pem   TEXT    NOT NULL,
    sealed_key  BLOB    NOT NULL,
    not_before  INTEGER NOT NULL,
    not_after   INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;

-- Who may order for `name` until `expires_at`: one node at a time; a lease whose
-- holder died expires on its own.
CREATE TABLE acme_leases (
    name       TEXT    NOT NULL PRIMARY KEY,
    holder     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

-- RFC 8737: the TLS-ALPN-01 challenges the ordering node is solving, so that every
-- node answers the CA's validation (which may reach any of them): the domain and the
-- SHA-256 digest of the key authorization (public: the challenge certificate shows it
-- to anyone who asks), until `expires_at`.
CREATE TABLE acme_challenges (
    domain     TEXT    NOT NULL PRIMARY KEY,
    digest     BLOB    NOT NULL CHECK (length(digest) = 32),
    expires_at INTEGER NOT NULL
) STRICT;
