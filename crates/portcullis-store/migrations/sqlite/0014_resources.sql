-- The resource registry and clients' default scopes (sqlite). Keep in step with the other
-- backend's 0014_resources.sql.
--
-- resources: protected resources (RFC 8707 §2 identifiers, RFC 9728) with the scopes
-- each defines, the scopes a request without `scope` gets (RFC 6749 §3.3), and
-- whether self-registered clients may request it. Config rows are re-synchronised at
-- every start (config as code); admin rows change only through the CLI.
CREATE TABLE resources (
    identifier         TEXT    NOT NULL PRIMARY KEY,
    name               TEXT,
    -- JSON arrays of scope-tokens.
    scopes             TEXT    NOT NULL,
    default_scopes     TEXT    NOT NULL,
    dynamic_clients    INTEGER NOT NULL CHECK (dynamic_clients IN (0, 1)),
    -- JSON object: scope → text shown on the consent page.
    scope_descriptions TEXT    NOT NULL,
    source             TEXT    NOT NULL CHECK (source IN ('config', 'admin')),
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
) STRICT;

-- A JSON array of the scopes a request without `scope` gets when no requested
-- registered resource has defaults. Empty (every existing client): refused as before.
ALTER TABLE clients ADD COLUMN default_scopes TEXT NOT NULL DEFAULT '[]';
