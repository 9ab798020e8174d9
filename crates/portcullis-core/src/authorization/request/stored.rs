//! The stored form of a validated authorization request: what a pending request keeps
//! (JSON inside its sealed form, `authorization::pending::sealed`) while the user logs in and
//! approves, and the one way back from it to a [`ValidatedAuthorizationRequest`].

use super::{
    AuthorizeReason, Prompt, ValidatedAuthorizationRequest, check_login_hint, check_nonce,
    check_state,
};
use crate::client::check_resource_uri;
use crate::pkce::CodeChallenge;
use crate::scope::is_scope_token;
use portcullis_proto::error::echo;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A [`ValidatedAuthorizationRequest`] as persisted, field for field, with the JSON
/// names and shapes it has always had (so rows written by an earlier version read back
/// unchanged). Not a proof: anything can build one, and only
/// [`ValidatedAuthorizationRequest::from_stored`] turns it back into the validated type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAuthorizationRequest {
    /// The client.
    pub client_id: String,
    /// Where the response goes (`""` for a device authorization).
    pub redirect_uri: String,
    /// Whether `redirect_uri` was in the request.
    pub redirect_uri_sent: bool,
    /// Requested scopes.
    pub scopes: BTreeSet<String>,
    /// `state`.
    pub state: Option<String>,
    /// OIDC `nonce`.
    pub nonce: Option<String>,
    /// RFC 7636 `code_challenge` (method S256), as sent.
    pub code_challenge: Option<String>,
    /// RFC 8707 resources, in request order.
    pub resources: Vec<String>,
    /// OIDC `prompt`.
    pub prompt: Prompt,
    /// OIDC `max_age` in seconds.
    pub max_age: Option<i64>,
    /// OIDC `login_hint`.
    pub login_hint: Option<String>,
    /// RFC 9449 §10 `dpop_jkt` (absent in rows written before DPoP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
}

impl From<&ValidatedAuthorizationRequest> for StoredAuthorizationRequest {
    fn from(request: &ValidatedAuthorizationRequest) -> Self {
        Self {
            client_id: request.client_id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            redirect_uri_sent: request.redirect_uri_sent,
            scopes: request.scopes.clone(),
            state: request.state.clone(),
            nonce: request.nonce.clone(),
            code_challenge: request
                .code_challenge
                .as_ref()
                .map(|challenge| challenge.as_str().to_owned()),
            resources: request.resources.clone(),
            prompt: request.prompt,
            max_age: request.max_age,
            login_hint: request.login_hint.clone(),
            dpop_jkt: request.dpop_jkt.clone(),
        }
    }
}

impl ValidatedAuthorizationRequest {
    /// The request a stored form holds, after checking again what validation
    /// established about each value: every scope a scope-token (RFC 6749 §3.3);
    /// `state`, `nonce` and `login_hint` within their limits; the `code_challenge` an
    /// S256 challenge (RFC 7636 §4.2); every resource an absolute URI without a
    /// fragment (RFC 8707 §2); `prompt=none` alone; `max_age` not negative.
    ///
    /// The rules that depend on the client's registration (allowed scopes and
    /// audiences, redirect URIs, PKCE for public clients) are not applied again: they
    /// held when the request was validated, and a registration changed since then
    /// does not reach back into a request already under way (as before).
    ///
    /// # Errors
    /// The [`AuthorizeReason`] of the first value that breaks its rule (for a stored
    /// row: a corrupt or tampered record).
    pub fn from_stored(stored: StoredAuthorizationRequest) -> Result<Self, AuthorizeReason> {
        if let Some(bad) = stored.scopes.iter().find(|scope| !is_scope_token(scope)) {
            return Err(AuthorizeReason::MalformedScope(echo(bad)));
        }
        check_state(stored.state.as_deref())?;
        check_nonce(stored.nonce.as_deref())?;
        check_login_hint(stored.login_hint.as_deref())?;
        super::check_dpop_jkt(stored.dpop_jkt.as_deref())?;
        let code_challenge = stored
            .code_challenge
            .as_deref()
            .map(CodeChallenge::parse)
            .transpose()
            .map_err(AuthorizeReason::Pkce)?;
        if let Some(bad) = stored
            .resources
            .iter()
            .find(|resource| check_resource_uri(resource).is_err())
        {
            return Err(AuthorizeReason::MalformedResource(echo(bad)));
        }
        let prompt = stored.prompt;
        if prompt.none && (prompt.login || prompt.consent) {
            return Err(AuthorizeReason::PromptNoneWithOthers);
        }
        if let Some(max_age) = stored.max_age.filter(|max_age| *max_age < 0) {
            return Err(AuthorizeReason::MalformedMaxAge(max_age.to_string()));
        }
        Ok(Self {
            client_id: stored.client_id,
            redirect_uri: stored.redirect_uri,
            redirect_uri_sent: stored.redirect_uri_sent,
            scopes: stored.scopes,
            state: stored.state,
            nonce: stored.nonce,
            code_challenge,
            resources: stored.resources,
            prompt,
            max_age: stored.max_age,
            login_hint: stored.login_hint,
            dpop_jkt: stored.dpop_jkt,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkce::PkceReason;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    /// A stored request with every field set, none to its default.
    fn full() -> StoredAuthorizationRequest {
        StoredAuthorizationRequest {
            client_id: "ledger".into(),
            redirect_uri: "https://ledger.example/callback?x=1".into(),
            redirect_uri_sent: true,
            scopes: ["openid", "ledger:write"].map(String::from).into(),
            state: Some("af0ifjsldkj".into()),
            nonce: Some("n-0S6_WzA2Mj".into()),
            code_challenge: Some(CHALLENGE.into()),
            resources: vec!["https://reports.example".into()],
            prompt: Prompt {
                none: false,
                login: true,
                consent: true,
            },
            max_age: Some(300),
            login_hint: Some("alice@example.com".into()),
            dpop_jkt: None,
        }
    }

    /// The JSON a pending-request row has always held for [`full`]: the persisted
    /// format must not change (existing databases keep working).
    const FULL_JSON: &str = r#"{"client_id":"ledger","redirect_uri":"https://ledger.example/callback?x=1","redirect_uri_sent":true,"scopes":["ledger:write","openid"],"state":"af0ifjsldkj","nonce":"n-0S6_WzA2Mj","code_challenge":"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM","resources":["https://reports.example"],"prompt":{"none":false,"login":true,"consent":true},"max_age":300,"login_hint":"alice@example.com"}"#;

    #[test]
    fn the_stored_json_is_unchanged() {
        let request = ValidatedAuthorizationRequest::from_stored(full()).unwrap();
        let json = serde_json::to_string(&StoredAuthorizationRequest::from(&request)).unwrap();
        assert_eq!(json, FULL_JSON);
    }

    #[test]
    fn reads_back_a_row_written_before() {
        let stored: StoredAuthorizationRequest = serde_json::from_str(FULL_JSON).unwrap();
        let request = ValidatedAuthorizationRequest::from_stored(stored).unwrap();
        assert_eq!(request.client_id(), "ledger");
        assert_eq!(
            request.code_challenge().map(CodeChallenge::as_str),
            Some(CHALLENGE)
        );
        assert_eq!(request.max_age(), Some(300));
        assert_eq!(StoredAuthorizationRequest::from(&request), full());
    }

    #[test]
    fn a_device_request_round_trips() {
        let request = ValidatedAuthorizationRequest::for_device_authorization(
            "tv".into(),
            ["openid"].map(String::from).into(),
            vec![],
        );
        let stored = StoredAuthorizationRequest::from(&request);
        assert_eq!(
            ValidatedAuthorizationRequest::from_stored(stored),
            Ok(request)
        );
    }

    #[test]
    fn rejects_a_stored_request_that_breaks_a_rule() {
        let cases = [
            (
                StoredAuthorizationRequest {
                    scopes: ["bad scope"].map(String::from).into(),
                    ..full()
                },
                AuthorizeReason::MalformedScope("bad scope".into()),
            ),
            (
                StoredAuthorizationRequest {
                    code_challenge: Some("short".into()),
                    ..full()
                },
                AuthorizeReason::Pkce(PkceReason::MalformedChallenge),
            ),
            (
                StoredAuthorizationRequest {
                    state: Some("s".repeat(2049)),
                    ..full()
                },
                AuthorizeReason::StateTooLong,
            ),
            (
                StoredAuthorizationRequest {
                    state: Some("s\u{1}".into()),
                    ..full()
                },
                AuthorizeReason::StateHasControlCharacter,
            ),
            (
                StoredAuthorizationRequest {
                    nonce: Some("n".repeat(2049)),
                    ..full()
                },
                AuthorizeReason::NonceTooLong,
            ),
            (
                StoredAuthorizationRequest {
                    login_hint: Some("h".repeat(256)),
                    ..full()
                },
                AuthorizeReason::LoginHintTooLong,
            ),
            (
                StoredAuthorizationRequest {
                    resources: vec!["https://api.example/#frag".into()],
                    ..full()
                },
                AuthorizeReason::MalformedResource("https://api.example/#frag".into()),
            ),
            (
                StoredAuthorizationRequest {
                    prompt: Prompt {
                        none: true,
                        login: true,
                        consent: false,
                    },
                    ..full()
                },
                AuthorizeReason::PromptNoneWithOthers,
            ),
            (
                StoredAuthorizationRequest {
                    max_age: Some(-1),
                    ..full()
                },
                AuthorizeReason::MalformedMaxAge("-1".into()),
            ),
        ];
        for (stored, reason) in cases {
            assert_eq!(
                ValidatedAuthorizationRequest::from_stored(stored),
                Err(reason)
            );
        }
    }
}
