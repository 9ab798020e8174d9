//! The `[registration]` table: how clients nobody configured may identify themselves.
//! For now one switch, for OAuth Client ID Metadata Documents
//! (draft-ietf-oauth-client-id-metadata-document-01): a `client_id` that is an https
//! URL is fetched through [`crate::app::outbound`] as the client's metadata.

use super::file::FileRegistration;

/// `[registration]` resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrationSettings {
    /// Accept client ID metadata documents (default
    /// [`DEFAULT_CLIENT_ID_METADATA_DOCUMENTS`]); discovery then says
    /// `client_id_metadata_document_supported: true`.
    pub client_id_metadata_documents: bool,
}

impl Default for RegistrationSettings {
    fn default() -> Self {
        Self {
            client_id_metadata_documents: DEFAULT_CLIENT_ID_METADATA_DOCUMENTS,
        }
    }
}

/// Resolves the `[registration]` table.
pub(super) fn resolve_registration(file: &FileRegistration) -> RegistrationSettings {
    RegistrationSettings {
        client_id_metadata_documents: file
            .client_id_metadata_documents
            .unwrap_or(DEFAULT_CLIENT_ID_METADATA_DOCUMENTS),
    }
}

/// Default `registration.client_id_metadata_documents`: on. Such clients are public,
/// get only the resources open to self-registered clients (`dynamic_clients`), their
/// scopes and the user scopes, and always see the consent
/// page, which shows their host as unverified.
pub const DEFAULT_CLIENT_ID_METADATA_DOCUMENTS: bool = true;

#[cfg(test)]
mod tests {
    use crate::app::config::tests::resolve;

    #[test]
    fn metadata_documents_are_on_by_default_and_can_be_switched_off() {
        assert!(
            resolve("", &[])
                .unwrap()
                .registration
                .client_id_metadata_documents
        );
        let c = resolve(
            "[registration]\nclient_id_metadata_documents = false\n",
            &[],
        )
        .unwrap();
        assert!(!c.registration.client_id_metadata_documents);
    }
}
