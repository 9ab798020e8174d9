-- Browser clients' CORS origins (sqlite). Keep in step with the other backend's
-- 0007_client_allowed_origins.sql.
--
-- A JSON array of exact web origins (RFC 6454 §6.2, e.g. "https://app.example.com")
-- a page may call the token, revocation, device authorization and UserInfo endpoints
-- from. Empty (the default, and every existing client) means the origins of the
-- client's redirect_uris.
ALTER TABLE clients ADD COLUMN allowed_origins TEXT NOT NULL DEFAULT '[]';
