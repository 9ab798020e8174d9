//! Clients that identify themselves by URL: OAuth Client ID Metadata Documents
//! (draft-ietf-oauth-client-id-metadata-document-01) served by local https test
//! servers, and the guarded outbound door they are fetched through.

mod documents;
mod guards;
pub(crate) mod server;
