//! JSON Web Keys (RFC 7517 §4, RFC 7518 §6) for the published key set.

use serde::{Deserialize, Serialize};

/// A public JWK. Private members (`d`, `p`, `q`, …) do not exist in this type, so a
/// private key cannot be published by mistake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// `EC` or `RSA`.
    pub kty: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub use_: String,
    /// `ES256` or `RS256`.
    pub alg: String,
    /// RFC 7638 thumbprint of the key.
    pub kid: String,
    /// EC curve, `P-256`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// EC x coordinate, base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate, base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// RSA modulus, base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent, base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
}

/// RFC 7517 §5 JWK Set: `{"keys": [...]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    /// The published public keys.
    pub keys: Vec<Jwk>,
}
