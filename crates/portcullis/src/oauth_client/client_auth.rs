//! Client authentication at the token and device authorization endpoints (RFC 6749
//! §2.3.1, RFC 7523 §2.2 `private_key_jwt`), and where a client secret may come from:
//! standard input or the environment, never the command line (every user of the
//! machine can read another process's arguments through `ps` and /proc).

use super::UsageError;
use crate::cli::AuthMethod;
use anyhow::{Context, Result};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use portcullis_core::clock::{Clock, SystemClock};
use portcullis_proto::grant::JWT_BEARER_CLIENT_ASSERTION_TYPE;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use std::io::BufRead;
use std::path::Path;
use url::form_urlencoded::byte_serialize;

/// The environment variable a client secret may come from.
pub const CLIENT_SECRET_ENV: &str = "PORTCULLIS_CLIENT_SECRET";

/// How the client authenticates.
pub enum ClientAuth {
    /// A public client (RFC 6749 §2.1): `client_id` in the body, no secret.
    Public {
        /// The client_id.
        client_id: String,
    },
    /// RFC 6749 §2.3.1 HTTP Basic (`client_secret_basic`).
    Basic {
        /// The client_id.
        client_id: String,
        /// The client secret.
        secret: SecretString,
    },
    /// RFC 6749 §2.3.1 body parameters (`client_secret_post`).
    Post {
        /// The client_id.
        client_id: String,
        /// The client secret.
        secret: SecretString,
    },
    /// RFC 7523 §2.2 `private_key_jwt`: a fresh assertion for each request, signed
    /// with the client's private key.
    PrivateKeyJwt {
        /// The client_id (`iss` and `sub` of each assertion).
        client_id: String,
        /// The signing key.
        key: ClientKey,
        /// The `aud` of each assertion: the issuer identifier
        /// (draft-ietf-oauth-rfc7523bis).
        audience: String,
    },
}

/// A client's private key for `private_key_jwt`, with the algorithm its type implies.
pub struct ClientKey {
    encoding: EncodingKey,
    alg: Algorithm,
    kid: Option<String>,
}

impl ClientKey {
    /// Reads a PEM private key: PKCS#8 (`BEGIN PRIVATE KEY`) EC P-256 signs ES256,
    /// Ed25519 EdDSA; PKCS#1 RSA (`BEGIN RSA PRIVATE KEY`) PS256. `kid` goes into
    /// each assertion's header.
    ///
    /// # Errors
    /// The file cannot be read, or holds no private key of those types.
    pub fn from_pem_file(path: &Path, kid: Option<String>) -> Result<Self> {
        use aws_lc_rs::signature::{
            ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair,
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the private key {}", path.display()))?;
        let not_a_key = || {
            UsageError(format!(
                "{} is not a PEM private key: PKCS#8 EC P-256 or Ed25519 (BEGIN PRIVATE KEY), or PKCS#1 RSA (BEGIN RSA PRIVATE KEY)",
                path.display()
            ))
        };
        let (label, der) = pem_block(&text).ok_or_else(not_a_key)?;
        let (encoding, alg) = match label {
            "PRIVATE KEY"
                if EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der).is_ok() =>
            {
                (EncodingKey::from_ec_der(&der), Algorithm::ES256)
            }
            "PRIVATE KEY" if Ed25519KeyPair::from_pkcs8(&der).is_ok() => {
                (EncodingKey::from_ed_der(&der), Algorithm::EdDSA)
            }
            "RSA PRIVATE KEY" if RsaKeyPair::from_der(&der).is_ok() => {
                (EncodingKey::from_rsa_der(&der), Algorithm::PS256)
            }
            _ => return Err(not_a_key().into()),
        };
        Ok(Self { encoding, alg, kid })
    }

    /// RFC 7523 §3: an assertion for `client_id` to `audience`, issued now, valid 60 s,
    /// with a random `jti`.
    fn assertion(&self, client_id: &str, audience: &str) -> Result<String> {
        let jti = portcullis_core::secret::generate_secret()
            .map_err(|e| anyhow::anyhow!("cannot draw a jti: {e}"))?;
        let now = SystemClock.now();
        let claims = serde_json::json!({
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECONDS,
            "jti": jti.expose_secret(),
        });
        let mut header = Header::new(self.alg);
        header.kid = self.kid.clone();
        jsonwebtoken::encode(&header, &claims, &self.encoding)
            .context("cannot sign the client assertion with the private key")
    }
}

/// The first PEM block of `text` (RFC 7468): its label and its decoded content.
fn pem_block(text: &str) -> Option<(&str, Vec<u8>)> {
    let begin = text.find("-----BEGIN ")?;
    let rest = text.get(begin + "-----BEGIN ".len()..)?;
    let (label, rest) = rest.split_once("-----")?;
    let (body, _) = rest.split_once(&format!("-----END {label}-----"))?;
    let base64: String = body.split_whitespace().collect();
    let der = STANDARD.decode(base64).ok()?;
    Some((label, der))
}

/// Lifetime of the assertions this client signs, in seconds: one request's worth.
const ASSERTION_LIFETIME_SECONDS: i64 = 60;

impl ClientAuth {
    /// A public client without a secret; with one, `client_secret_basic` unless
    /// `method` says otherwise (RFC 6749 §2.3.1: servers must support Basic).
    pub fn new(
        client_id: String,
        secret: Option<SecretString>,
        method: Option<AuthMethod>,
    ) -> Result<Self> {
        Ok(match (secret, method) {
            (None, None) => Self::Public { client_id },
            (None, Some(_)) => {
                return Err(UsageError(format!(
                    "--auth-method needs a client secret (--client-secret-stdin or {CLIENT_SECRET_ENV})"
                ))
                .into());
            }
            (Some(secret), None | Some(AuthMethod::ClientSecretBasic)) => {
                Self::Basic { client_id, secret }
            }
            (Some(secret), Some(AuthMethod::ClientSecretPost)) => Self::Post { client_id, secret },
        })
    }

    /// The client_id.
    pub fn client_id(&self) -> &str {
        match self {
            Self::Public { client_id }
            | Self::Basic { client_id, .. }
            | Self::Post { client_id, .. }
            | Self::PrivateKeyJwt { client_id, .. } => client_id,
        }
    }

    /// The client secret, for a client that has one.
    pub fn secret(&self) -> Option<&SecretString> {
        match self {
            Self::Public { .. } | Self::PrivateKeyJwt { .. } => None,
            Self::Basic { secret, .. } | Self::Post { secret, .. } => Some(secret),
        }
    }

    /// Adds the credentials to a request: a Basic header, or body parameters.
    ///
    /// # Errors
    /// A client assertion could not be signed.
    pub fn apply(
        &self,
        request: reqwest::RequestBuilder,
        form: &mut Vec<(&'static str, String)>,
    ) -> Result<reqwest::RequestBuilder> {
        Ok(match self {
            Self::Public { client_id } => {
                form.push(("client_id", client_id.clone()));
                request
            }
            Self::PrivateKeyJwt {
                client_id,
                key,
                audience,
            } => {
                form.push((
                    "client_assertion_type",
                    JWT_BEARER_CLIENT_ASSERTION_TYPE.to_owned(),
                ));
                form.push(("client_assertion", key.assertion(client_id, audience)?));
                request
            }
            Self::Post { client_id, secret } => {
                form.push(("client_id", client_id.clone()));
                form.push(("client_secret", secret.expose_secret().to_owned()));
                request
            }
            Self::Basic { client_id, secret } => {
                let mut value = basic_header(client_id, secret.expose_secret());
                value.set_sensitive(true);
                request.header(AUTHORIZATION, value)
            }
        })
    }
}

/// `Basic base64(urlencode(id):urlencode(secret))`: RFC 6749 §2.3.1 form-encodes both
/// before Basic encoding (a `:` in the id would otherwise split it).
fn basic_header(client_id: &str, secret: &str) -> HeaderValue {
    let encode = |s: &str| byte_serialize(s.as_bytes()).collect::<String>();
    let credentials = format!("{}:{}", encode(client_id), encode(secret));
    let value = format!("Basic {}", STANDARD.encode(credentials));
    // Base64 output and the prefix are visible ASCII: always a valid header value.
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("Basic"))
}

/// The client secret: the first line of standard input with `from_stdin`, otherwise
/// [`CLIENT_SECRET_ENV`] when set and not empty.
pub fn client_secret(from_stdin: bool) -> Result<Option<SecretString>> {
    if from_stdin {
        return read_stdin_line("client secret").map(Some);
    }
    Ok(std::env::var(CLIENT_SECRET_ENV)
        .ok()
        .filter(|s| !s.is_empty())
        .map(SecretString::from))
}

/// The first line of standard input (without its line ending); `what` names it in
/// errors.
pub fn read_stdin_line(what: &str) -> Result<SecretString> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .with_context(|| format!("cannot read the {what} from standard input"))?;
    let value = line.trim_end_matches(['\r', '\n']);
    if value.is_empty() {
        return Err(UsageError(format!("no {what} on standard input")).into());
    }
    Ok(SecretString::from(value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_encoded_first() {
        // RFC 6749 §2.3.1: "client:id" / "s3cr+t" → "client%3Aid:s3cr%2Bt".
        let header = basic_header("client:id", "s3cr+t");
        let encoded = header.to_str().unwrap().strip_prefix("Basic ").unwrap();
        let decoded = String::from_utf8(STANDARD.decode(encoded).unwrap()).unwrap();
        assert_eq!(decoded, "client%3Aid:s3cr%2Bt");
    }

    #[test]
    fn an_auth_method_without_a_secret_is_a_usage_error() {
        let e = ClientAuth::new("c".into(), None, Some(AuthMethod::ClientSecretPost))
            .err()
            .unwrap();
        assert!(e.downcast_ref::<UsageError>().is_some());
    }
}
