-- DPoP, RFC 9449 (PostgreSQL). Keep in step with migrations/sqlite/0008_dpop.sql: same
-- tables, columns, constraints and indexes.

-- RFC 9449 §5.2 client metadata: every token request of the client must carry a DPoP
-- proof.
ALTER TABLE clients ADD COLUMN dpop_bound_access_tokens BOOLEAN NOT NULL DEFAULT FALSE;

-- RFC 9449 §10: the code is bound to the DPoP key of the authorization request's
-- dpop_jkt (base64url JWK SHA-256 thumbprint, RFC 7638); NULL: not bound.
ALTER TABLE authorization_codes ADD COLUMN dpop_jkt TEXT;

-- RFC 9449 §5: a public client's refresh token is bound to the DPoP key of the
-- request that got it; NULL: bound to the client only.
ALTER TABLE refresh_tokens ADD COLUMN dpop_jkt TEXT;

-- RFC 9449 §11.1: DPoP proofs already used, so a jti is accepted once per (key, htu)
-- across every node. The key is SHA-256 of the JSON array [jkt, htu, jti]; a row is
-- kept until the proof's iat leaves the acceptance window, then purged.
CREATE TABLE dpop_proofs (
    proof_digest BYTEA  NOT NULL PRIMARY KEY CHECK (length(proof_digest) = 32),
    expires_at   BIGINT NOT NULL
);

CREATE INDEX dpop_proofs_expires_at ON dpop_proofs (expires_at);
