//! The token endpoint (RFC 6749 §3.2): one POST; a token response (§5.1) or an error
//! response (§5.2).

use super::Session;
use super::http::{self, Refusal};
use anyhow::{Result, anyhow, bail};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

/// A successful token response (RFC 6749 §5.1), kept whole: it is what the user gets.
pub struct TokenResponse(Map<String, Value>);

impl TokenResponse {
    /// Checks the members RFC 6749 §5.1 requires: `access_token` and `token_type`.
    pub fn parse(map: Map<String, Value>) -> Result<Self> {
        let has = |name: &str| map.get(name).and_then(Value::as_str).is_some();
        if !has("access_token") || !has("token_type") {
            bail!("the token endpoint answered without access_token or token_type (RFC 6749 §5.1)");
        }
        Ok(Self(map))
    }

    /// The whole response, to output.
    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }

    /// RFC 6749 §5.1 `refresh_token`, if issued.
    pub fn refresh_token(&self) -> Option<&str> {
        self.0.get("refresh_token").and_then(Value::as_str)
    }

    /// RFC 6749 §5.1 `scope` (the granted scope, when it differs from the request).
    pub fn scope(&self) -> Option<&str> {
        self.0.get("scope").and_then(Value::as_str)
    }

    /// The `id_token` (OIDC Core §3.1.3.3), if any.
    pub fn id_token(&self) -> Option<&str> {
        self.0.get("id_token").and_then(Value::as_str)
    }

    /// RFC 6749 §6: a refresh answer without a new refresh token leaves the presented
    /// one in force; keep it, so that a saved response can be refreshed again.
    pub fn keep_refresh_token(&mut self, presented: &SecretString) {
        if self.refresh_token().is_none() {
            self.0.insert(
                "refresh_token".into(),
                Value::String(presented.expose_secret().to_owned()),
            );
        }
    }
}

/// POSTs `form` to the token endpoint with the client's credentials; `Ok(Err(_))` is
/// the server's refusal (the device flow reads `authorization_pending` from it).
///
/// With DPoP (RFC 9449), each attempt carries a fresh proof; a `DPoP-Nonce` the server
/// sends is kept for later proofs (§8), and a `use_dpop_nonce` refusal that brings one
/// is retried once with it (§8: "the client … retries the request").
pub async fn request(
    session: &Session,
    form: Vec<(&'static str, String)>,
) -> Result<Result<TokenResponse, Refusal>> {
    let endpoint = session.metadata.endpoint("token_endpoint")?;
    let mut retried = false;
    loop {
        let proof = match &session.dpop {
            Some(dpop) => Some(dpop.proof("POST", &endpoint)?),
            None => None,
        };
        let posted = http::post_form(
            &session.http,
            &endpoint,
            form.clone(),
            &session.auth,
            proof.as_deref(),
        )
        .await?;
        let fresh_nonce = match (&session.dpop, &posted.dpop_nonce) {
            (Some(dpop), Some(nonce)) => {
                dpop.remember_nonce(nonce);
                true
            }
            _ => false,
        };
        match posted.answer {
            Ok(map) => return TokenResponse::parse(map).map(Ok),
            Err(refusal) if refusal.code() == Some(USE_DPOP_NONCE) && fresh_nonce && !retried => {
                retried = true;
            }
            Err(refusal) => return Ok(Err(refusal)),
        }
    }
}

/// [`request`], with a refusal as the error `the token endpoint refused the request: …`.
pub async fn request_ok(
    session: &Session,
    form: Vec<(&'static str, String)>,
) -> Result<TokenResponse> {
    request(session, form)
        .await?
        .map_err(|refusal| anyhow!("the token endpoint refused the request: {refusal}"))
}

/// RFC 9449 §8: the error code of a server that wants a nonce in the proof.
const USE_DPOP_NONCE: &str = "use_dpop_nonce";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth_client::dpop::Dpop;
    use crate::oauth_client::mock::{self, MockServer};
    use axum::Router;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Response};
    use axum::routing::post;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;
    use std::sync::{Arc, Mutex};

    /// The proofs the token endpoint received, decoded.
    type Proofs = Arc<Mutex<Vec<Value>>>;

    /// A token endpoint that wants the nonce `n-1` (`use_dpop_nonce` until a proof
    /// carries it; `always` refuses even then), and records every proof.
    async fn token_endpoint(
        State((proofs, always)): State<(Proofs, bool)>,
        headers: HeaderMap,
    ) -> Response {
        let claims = headers
            .get("dpop")
            .and_then(|v| v.to_str().ok())
            .and_then(|proof| proof.split('.').nth(1))
            .and_then(|payload| URL_SAFE_NO_PAD.decode(payload).ok())
            .and_then(|json| serde_json::from_slice::<Value>(&json).ok())
            .unwrap_or(Value::Null);
        let has_nonce = claims["nonce"] == "n-1";
        proofs.lock().unwrap().push(claims);
        if has_nonce && !always {
            let body = json!({"access_token": "at", "token_type": "DPoP"});
            return ([("DPoP-Nonce", "n-2")], axum::Json(body)).into_response();
        }
        let body = json!({"error": "use_dpop_nonce", "error_description": "a nonce"});
        (
            StatusCode::BAD_REQUEST,
            [("DPoP-Nonce", "n-1")],
            axum::Json(body),
        )
            .into_response()
    }

    async fn exchange(always: bool) -> (Result<Result<TokenResponse, Refusal>>, Vec<Value>, Dpop) {
        let proofs = Proofs::default();
        let state = (proofs.clone(), always);
        let server = MockServer::start(|_| {
            Router::new()
                .route("/token", post(token_endpoint))
                .with_state(state)
        })
        .await;
        let mut session = mock::session(
            &server.base,
            json!({"token_endpoint": server.url("/token")}),
            Some("secret"),
        );
        session.dpop = Some(Dpop::generate().unwrap());
        let form = vec![("grant_type", "client_credentials".to_owned())];
        let outcome = request(&session, form).await;
        let proofs = proofs.lock().unwrap().clone();
        (outcome, proofs, session.dpop.unwrap())
    }

    #[tokio::test]
    async fn use_dpop_nonce_is_retried_with_the_servers_nonce() {
        let (outcome, proofs, dpop) = exchange(false).await;
        let tokens = outcome.unwrap().unwrap();
        assert_eq!(tokens.into_map()["token_type"], "DPoP");
        assert_eq!(proofs.len(), 2);
        assert!(proofs[0].get("nonce").is_none(), "{}", proofs[0]);
        assert_eq!(proofs[1]["nonce"], "n-1");
        assert_ne!(proofs[0]["jti"], proofs[1]["jti"], "a fresh proof");
        // The nonce of the success answer is kept for the next request (§8.2).
        let next = dpop
            .proof("POST", &url::Url::parse("http://127.0.0.1/token").unwrap())
            .unwrap();
        let payload = URL_SAFE_NO_PAD
            .decode(next.split('.').nth(1).unwrap())
            .unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&payload).unwrap()["nonce"],
            "n-2"
        );
    }

    #[tokio::test]
    async fn use_dpop_nonce_is_retried_only_once() {
        let (outcome, proofs, _) = exchange(true).await;
        let refusal = outcome.unwrap().err().unwrap();
        assert_eq!(refusal.code(), Some(USE_DPOP_NONCE));
        assert_eq!(proofs.len(), 2, "one retry, not a loop");
    }
}
