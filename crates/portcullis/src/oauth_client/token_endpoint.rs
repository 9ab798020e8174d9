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

    /// The whole response.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// RFC 6749 §5.1 `refresh_token`, if issued.
    pub fn refresh_token(&self) -> Option<&str> {
        self.0.get("refresh_token").and_then(Value::as_str)
    }

    /// OIDC Core §3.1.3.3 `id_token`, if issued.
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
pub async fn request(
    session: &Session,
    form: Vec<(&'static str, String)>,
) -> Result<Result<TokenResponse, Refusal>> {
    let endpoint = session.metadata.endpoint("token_endpoint")?;
    match http::post_form(&session.http, &endpoint, form, &session.auth).await? {
        Ok(map) => TokenResponse::parse(map).map(Ok),
        Err(refusal) => Ok(Err(refusal)),
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
