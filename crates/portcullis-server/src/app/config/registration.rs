//! The `[registration]` table: how clients nobody configured may identify themselves.
//! OAuth Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document-01):
//! a `client_id` that is an https URL is fetched through [`crate::app::outbound`] as the
//! client's metadata; and RFC 7591 dynamic client registration (`mode`), with its abuse
//! limits (docs/security.md "Dynamic client registration").

use super::file::FileRegistration;
use portcullis_core::client::ClientProfile;
use portcullis_core::secret::SecretDigest;

/// `[registration]` resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationSettings {
    /// Accept client ID metadata documents (default
    /// [`DEFAULT_CLIENT_ID_METADATA_DOCUMENTS`]); discovery then says
    /// `client_id_metadata_document_supported: true`.
    pub client_id_metadata_documents: bool,
    /// Who may register clients at the registration endpoint (RFC 7591 §3).
    pub mode: RegistrationMode,
    /// SHA-256 digests of the initial access tokens configured in the file.
    pub initial_access_tokens: Vec<SecretDigest>,
    /// Most dynamic clients at once ([`DEFAULT_MAX_DYNAMIC_CLIENTS`]).
    pub max_dynamic_clients: u64,
    /// Registrations per hour per address ([`DEFAULT_REGISTRATIONS_PER_HOUR`]).
    pub registrations_per_hour: u32,
    /// Seconds unused before housekeeping deletes a dynamic client
    /// ([`DEFAULT_UNUSED_CLIENT_TTL`]).
    pub unused_client_ttl: i64,
}

/// `registration.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationMode {
    /// No registration endpoint (404), none in the discovery document.
    Off,
    /// Anyone may register (within the per-address and global limits).
    Open,
    /// A registration must carry an initial access token (RFC 7591 §3, Bearer).
    InitialAccessToken,
}

impl RegistrationMode {
    /// The configuration spelling: `off`, `open`, `initial_access_token`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Open => "open",
            Self::InitialAccessToken => "initial_access_token",
        }
    }
}

impl Default for RegistrationSettings {
    fn default() -> Self {
        Self {
            client_id_metadata_documents: DEFAULT_CLIENT_ID_METADATA_DOCUMENTS,
            mode: RegistrationMode::Off,
            initial_access_tokens: Vec::new(),
            max_dynamic_clients: DEFAULT_MAX_DYNAMIC_CLIENTS,
            registrations_per_hour: DEFAULT_REGISTRATIONS_PER_HOUR,
            unused_client_ttl: DEFAULT_UNUSED_CLIENT_TTL,
        }
    }
}

/// Resolves the `[registration]` table; `default_profile` is `[authorization]
/// default_profile`. Under `fapi2`, client ID metadata documents default to off, and
/// turning them on is an error: such clients are public, and FAPI 2.0 §5.3.2.1 item 3
/// admits only confidential clients (why: `default_profile = "fapi2"` must not leave a
/// door through which a client with none of its protections signs people in).
///
/// # Errors
/// A message naming the key: an unknown `mode`, a digest that is not 64 hex
/// characters, a zero limit or a TTL under a day, or metadata documents on under `fapi2`.
pub(super) fn resolve_registration(
    file: FileRegistration,
    default_profile: ClientProfile,
) -> Result<RegistrationSettings, String> {
    let mode = match file.mode.as_deref() {
        None | Some("off") => RegistrationMode::Off,
        Some("open") => RegistrationMode::Open,
        Some("initial_access_token") => RegistrationMode::InitialAccessToken,
        Some(other) => {
            return Err(format!(
                "registration.mode = \"{other}\": must be \"off\", \"open\" or \"initial_access_token\""
            ));
        }
    };
    let mut initial_access_tokens = Vec::new();
    for hex in file.initial_access_tokens.unwrap_or_default() {
        let digest = parse_hex_digest(&hex).ok_or_else(|| {
            format!(
                "registration.initial_access_tokens has `{hex}`: each entry is the lowercase hex SHA-256 of a token (64 characters, e.g. `printf %s \"$TOKEN\" | sha256sum`)"
            )
        })?;
        initial_access_tokens.push(digest);
    }
    let max_dynamic_clients = file
        .max_dynamic_clients
        .unwrap_or(DEFAULT_MAX_DYNAMIC_CLIENTS);
    let registrations_per_hour = file
        .registrations_per_hour
        .unwrap_or(DEFAULT_REGISTRATIONS_PER_HOUR);
    if max_dynamic_clients == 0 || registrations_per_hour == 0 {
        return Err(
            "registration.max_dynamic_clients and registration.registrations_per_hour must be at least 1 (use mode = \"off\" to close registration)".into(),
        );
    }
    let unused_client_ttl = file.unused_client_ttl.unwrap_or(DEFAULT_UNUSED_CLIENT_TTL);
    if unused_client_ttl < MIN_UNUSED_CLIENT_TTL {
        return Err(format!(
            "registration.unused_client_ttl = {unused_client_ttl}: must be at least {MIN_UNUSED_CLIENT_TTL} seconds (a day: use is recorded once a day)"
        ));
    }
    let fapi2 = default_profile == ClientProfile::Fapi2;
    let client_id_metadata_documents = match file.client_id_metadata_documents {
        Some(true) if fapi2 => {
            return Err(
                "registration.client_id_metadata_documents = true with authorization.default_profile = \"fapi2\": metadata-document clients are public, and FAPI 2.0 admits only confidential clients (§5.3.2.1 item 3); remove client_id_metadata_documents or give clients their profile one by one".into(),
            );
        }
        Some(on) => on,
        None => DEFAULT_CLIENT_ID_METADATA_DOCUMENTS && !fapi2,
    };
    Ok(RegistrationSettings {
        client_id_metadata_documents,
        mode,
        initial_access_tokens,
        max_dynamic_clients,
        registrations_per_hour,
        unused_client_ttl,
    })
}

/// 64 lowercase hex characters as a digest.
fn parse_hex_digest(hex: &str) -> Option<SecretDigest> {
    if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..32)
        .map(|i| {
            hex.get(i * 2..i * 2 + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect();
    SecretDigest::from_bytes(&bytes?)
}

/// Default `registration.client_id_metadata_documents`: on. Such clients are public,
/// get only the resources open to self-registered clients (`dynamic_clients`), their
/// scopes and the user scopes, and always see the consent
/// page, which shows their host as unverified.
pub const DEFAULT_CLIENT_ID_METADATA_DOCUMENTS: bool = true;
/// Default `registration.max_dynamic_clients`.
pub const DEFAULT_MAX_DYNAMIC_CLIENTS: u64 = 1000;
/// Default `registration.registrations_per_hour` per address.
pub const DEFAULT_REGISTRATIONS_PER_HOUR: u32 = 10;
/// Default `registration.unused_client_ttl`: 30 days, in seconds.
pub const DEFAULT_UNUSED_CLIENT_TTL: i64 = 30 * 86_400;
/// Least `registration.unused_client_ttl`: a day (use is recorded once a day).
pub const MIN_UNUSED_CLIENT_TTL: i64 = 86_400;

#[cfg(test)]
mod tests {
    use super::*;
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

    #[test]
    fn dynamic_registration_is_off_by_default() {
        let c = resolve("", &[]).unwrap();
        assert_eq!(c.registration.mode, RegistrationMode::Off);
        assert_eq!(c.registration.unused_client_ttl, DEFAULT_UNUSED_CLIENT_TTL);
    }

    #[test]
    fn rejects_an_unknown_mode_and_a_malformed_digest() {
        let e = resolve("[registration]\nmode = \"anyone\"\n", &[]).unwrap_err();
        assert!(e.message.contains("registration.mode"), "{e}");
        let e = resolve(
            "[registration]\nmode = \"initial_access_token\"\ninitial_access_tokens = [\"abc\"]\n",
            &[],
        )
        .unwrap_err();
        assert!(e.message.contains("initial_access_tokens"), "{e}");
        let hex = "ab".repeat(32);
        let c = resolve(
            &format!("[registration]\nmode = \"initial_access_token\"\ninitial_access_tokens = [\"{hex}\"]\n"),
            &[],
        )
        .unwrap();
        assert_eq!(c.registration.initial_access_tokens.len(), 1);
    }

    #[test]
    fn metadata_documents_default_to_off_under_fapi2() {
        let c = resolve("[authorization]\ndefault_profile = \"fapi2\"\n", &[]).unwrap();
        assert!(!c.registration.client_id_metadata_documents);
    }

    #[test]
    fn rejects_metadata_documents_turned_on_under_fapi2() {
        let e = resolve(
            "[authorization]\ndefault_profile = \"fapi2\"\n[registration]\nclient_id_metadata_documents = true\n",
            &[],
        )
        .unwrap_err();
        assert!(
            e.message.contains("client_id_metadata_documents") && e.message.contains("fapi2"),
            "{e}"
        );
    }
}
