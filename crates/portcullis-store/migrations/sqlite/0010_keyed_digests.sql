-- Keyed digests of short or human-chosen secrets (SQLite). Keep in step with
-- migrations/postgres/0010_keyed_digests.sql: same columns and constraints.
--
-- A keyed digest is HMAC-SHA256(k, SHA-256(value)), k derived from the master key
-- with HKDF and a label per use (docs/security.md "Keyed digests"). Why: a bare SHA-256
-- of a 34.6-bit user code, or of a guessable operator-chosen client secret, can be
-- brute-forced by whoever reads the database. The inner SHA-256 lets the server key
-- an old row in place without the plaintext; it does so at start-up (the key is not
-- known to SQL), once per row.

-- RFC 8628 §6.1 user codes: whether user_code_digest is keyed (1) or still the bare
-- SHA-256 of a row written before this migration (0, until the start-up migration
-- keys it). Every new row is keyed.
ALTER TABLE device_authorizations ADD COLUMN user_code_keyed INTEGER NOT NULL DEFAULT 0
    CHECK (user_code_keyed IN (0, 1));

-- clients.secret_digest and previous_secret_digest need no new column: 32 bytes are
-- the SHA-256 of a generated 256-bit secret; 33 bytes, the first 0x01, are a keyed
-- digest (operator-chosen secrets of the configuration file, keyed when start-up
-- applies the file).
