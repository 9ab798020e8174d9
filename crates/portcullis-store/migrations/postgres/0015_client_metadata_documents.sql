-- Clients known by their metadata document (postgres). Keep in step with
-- migrations/sqlite/0015_client_metadata_documents.sql.
--
-- draft-ietf-oauth-client-id-metadata-document: a client whose client_id is an https
-- URL is stored with source 'metadata_document' (codes, refresh tokens and device
-- authorizations refer to clients by foreign key).
ALTER TABLE clients DROP CONSTRAINT clients_source_check;
ALTER TABLE clients ADD CONSTRAINT clients_source_check
    CHECK (source IN ('config', 'admin', 'metadata_document'));
