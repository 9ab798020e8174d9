//! RFC 9068 §2.2 access-token claims (and the RFC 7662 §2.2 introspection members
//! that carry the same names), and the [`AccessToken`] a validation proves.

use crate::dpop::DpopProof;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::collections::BTreeSet;
use std::fmt;

/// A token that passed every check of the [`Validator`](crate::Validator): only the
/// validator constructs it (CONVENTIONS.md §4), so a handler holding one knows the
/// signature (or introspection answer), `iss`, `aud`, `exp`/`nbf`/`iat` and the
/// required scopes were checked (RFC 9068 §4).
///
/// The [`RequireAccessToken`](crate::RequireAccessToken) layer puts it in the
/// request extensions; handlers take it as an axum extractor.
///
/// `#[non_exhaustive]`: its fields are readable everywhere, but only this crate can
/// build one, so holding an `AccessToken` is proof of validation.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AccessToken {
    /// The verified claims.
    pub claims: Claims,
    /// How the token was validated.
    pub source: TokenSource,
    /// The verified DPoP proof (RFC 9449 §7.1) when the token was presented with the
    /// `DPoP` scheme; its `jkt` equals the token's `cnf.jkt`. `None` for a bearer
    /// token.
    pub dpop: Option<DpopProof>,
}

impl AccessToken {
    pub(crate) fn new(claims: Claims, source: TokenSource) -> Self {
        Self {
            claims,
            source,
            dpop: None,
        }
    }

    /// RFC 9449 §6.1 `cnf.jkt`: the thumbprint of the key the token is bound to, if
    /// it is DPoP-bound. Such a token was accepted only with a proof signed by that
    /// key (see [`dpop`](Self::dpop)).
    pub fn confirmation_jkt(&self) -> Option<&str> {
        self.claims.confirmation_jkt()
    }

    /// RFC 9068 §2.2 `sub`: the resource owner (or the client, for
    /// client_credentials tokens).
    pub fn subject(&self) -> Option<&str> {
        self.claims.sub.as_deref()
    }

    /// RFC 9068 §2.2 `client_id`: the client the token was issued to.
    pub fn client_id(&self) -> Option<&str> {
        self.claims.client_id.as_deref()
    }

    /// Whether the token was granted `scope` (RFC 9068 §2.2.3, exact string match).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.claims.scope.contains(scope)
    }

    /// Every granted scope (RFC 9068 §2.2.3).
    pub fn scopes(&self) -> &BTreeSet<String> {
        &self.claims.scope
    }
}

/// How an [`AccessToken`] was validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// A JWT access token (RFC 9068) whose signature verified with the issuer's key
    /// `kid` under `alg`.
    Jwt {
        /// The key id of the issuer's key that verified the signature.
        kid: String,
        /// The verified algorithm.
        alg: jsonwebtoken::Algorithm,
    },
    /// An opaque token the issuer's introspection endpoint called active
    /// (RFC 7662 §2.2), possibly answered from the short positive cache.
    Introspection,
}

/// The claims of an access token (RFC 9068 §2.2, RFC 7519 §4.1).
///
/// `aud` is read from a string or an array (RFC 7519 §4.1.3); `scope` from the
/// space-separated string of RFC 9068 §2.2.3 (an array is accepted too) and written
/// back as that string. `exp`, `iat`, `nbf` accept integer or fractional NumericDates
/// (RFC 7519 §2), truncated to seconds. Other claims are kept in `extra`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Claims {
    /// RFC 7519 §4.1.1 issuer.
    pub iss: String,
    /// RFC 7519 §4.1.2 subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// RFC 7519 §4.1.3 audience(s).
    pub aud: Vec<String>,
    /// RFC 7519 §4.1.4 expiry, seconds since the epoch.
    pub exp: i64,
    /// RFC 7519 §4.1.6 issued-at, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// RFC 7519 §4.1.5 not-before, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// RFC 7519 §4.1.7 token id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// RFC 9068 §2.2 / RFC 8693 §4.3 the client the token was issued to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// RFC 9068 §2.2.3 granted scopes.
    #[serde(
        skip_serializing_if = "BTreeSet::is_empty",
        serialize_with = "serialize_scope"
    )]
    pub scope: BTreeSet<String>,
    /// Every other claim (`auth_time`, `acr`, `groups`, …), unchecked.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Claims {
    /// RFC 9449 §6.1 / RFC 7800 §3.1: `cnf.jkt`, the RFC 7638 thumbprint of the key
    /// the token is bound to; `None` when the token has no `cnf` or a `cnf` without
    /// a string `jkt`.
    pub fn confirmation_jkt(&self) -> Option<&str> {
        self.extra.get("cnf")?.get("jkt")?.as_str()
    }
}

impl<'de> Deserialize<'de> for Claims {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = WireClaims::deserialize(deserializer)?;
        let iss = wire.iss.ok_or_else(|| de::Error::missing_field("iss"))?;
        let exp = wire.exp.ok_or_else(|| de::Error::missing_field("exp"))?;
        Ok(Claims {
            iss,
            sub: wire.sub,
            aud: wire.aud,
            exp,
            iat: wire.iat,
            nbf: wire.nbf,
            jti: wire.jti,
            client_id: wire.client_id,
            scope: wire.scope,
            extra: wire.extra,
        })
    }
}

fn serialize_scope<S: Serializer>(scope: &BTreeSet<String>, s: S) -> Result<S::Ok, S::Error> {
    let mut joined = String::with_capacity(scope.iter().map(|x| x.len() + 1).sum());
    for (i, item) in scope.iter().enumerate() {
        if i > 0 {
            joined.push(' ');
        }
        joined.push_str(item);
    }
    s.serialize_str(&joined)
}

/// Claims as read off the wire, before the checks: `iss` and `exp` may be absent so
/// the validator can name the failed check instead of a parse error. One
/// hand-written visitor (no `serde(flatten)` buffering) keeps parsing cheap on the
/// hot path.
#[derive(Debug, Default)]
pub(crate) struct WireClaims {
    pub(crate) iss: Option<String>,
    pub(crate) sub: Option<String>,
    pub(crate) aud: Vec<String>,
    pub(crate) exp: Option<i64>,
    pub(crate) iat: Option<i64>,
    pub(crate) nbf: Option<i64>,
    pub(crate) jti: Option<String>,
    pub(crate) client_id: Option<String>,
    pub(crate) scope: BTreeSet<String>,
    /// RFC 7662 §2.2 `active` (introspection answers only).
    pub(crate) active: Option<bool>,
    /// RFC 7662 §2.2 `token_type` (introspection answers only).
    pub(crate) token_type: Option<String>,
    pub(crate) extra: serde_json::Map<String, serde_json::Value>,
}

impl WireClaims {
    /// RFC 7519 §4.1 claims; `active`/`token_type` stay in `extra` for JWTs.
    pub(crate) fn from_jwt_payload(json: &[u8]) -> Result<Self, serde_json::Error> {
        let mut claims: Self = serde_json::from_slice(json)?;
        // `active` and `token_type` are introspection members, not JWT claims:
        // keep them as the extra claims they are.
        if let Some(active) = claims.active.take() {
            claims
                .extra
                .insert("active".to_owned(), serde_json::Value::Bool(active));
        }
        if let Some(token_type) = claims.token_type.take() {
            claims.extra.insert(
                "token_type".to_owned(),
                serde_json::Value::String(token_type),
            );
        }
        Ok(claims)
    }
}

enum Field {
    Iss,
    Sub,
    Aud,
    Exp,
    Iat,
    Nbf,
    Jti,
    ClientId,
    Scope,
    Active,
    TokenType,
    Other(String),
}

impl Field {
    fn from_str(name: &str) -> Self {
        match name {
            "iss" => Self::Iss,
            "sub" => Self::Sub,
            "aud" => Self::Aud,
            "exp" => Self::Exp,
            "iat" => Self::Iat,
            "nbf" => Self::Nbf,
            "jti" => Self::Jti,
            "client_id" => Self::ClientId,
            "scope" => Self::Scope,
            "active" => Self::Active,
            "token_type" => Self::TokenType,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl Visitor<'_> for FieldVisitor {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a claim name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Field, E> {
                Ok(Field::from_str(v))
            }
        }
        deserializer.deserialize_str(FieldVisitor)
    }
}

impl<'de> Deserialize<'de> for WireClaims {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ClaimsVisitor;
        impl<'de> Visitor<'de> for ClaimsVisitor {
            type Value = WireClaims;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object of claims")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WireClaims, A::Error> {
                let mut c = WireClaims::default();
                // RFC 7519 §4: a claim name appearing twice makes the token
                // ambiguous (two parsers may read different values); refuse it.
                let mut seen = 0u16;
                while let Some(field) = map.next_key::<Field>()? {
                    let bit = match &field {
                        Field::Iss => 1,
                        Field::Sub => 1 << 1,
                        Field::Aud => 1 << 2,
                        Field::Exp => 1 << 3,
                        Field::Iat => 1 << 4,
                        Field::Nbf => 1 << 5,
                        Field::Jti => 1 << 6,
                        Field::ClientId => 1 << 7,
                        Field::Scope => 1 << 8,
                        Field::Active => 1 << 9,
                        Field::TokenType => 1 << 10,
                        Field::Other(_) => 0,
                    };
                    if seen & bit != 0 {
                        return Err(de::Error::custom("duplicate claim"));
                    }
                    seen |= bit;
                    match field {
                        Field::Iss => c.iss = map.next_value()?,
                        Field::Sub => c.sub = map.next_value()?,
                        Field::Aud => {
                            c.aud = map
                                .next_value::<Option<StringOrList>>()?
                                .map_or_else(Vec::new, |a| a.0)
                        }
                        Field::Exp => c.exp = map.next_value::<Option<NumericDate>>()?.map(|d| d.0),
                        Field::Iat => c.iat = map.next_value::<Option<NumericDate>>()?.map(|d| d.0),
                        Field::Nbf => c.nbf = map.next_value::<Option<NumericDate>>()?.map(|d| d.0),
                        Field::Jti => c.jti = map.next_value()?,
                        Field::ClientId => c.client_id = map.next_value()?,
                        Field::Scope => {
                            c.scope = map
                                .next_value::<Option<Scope>>()?
                                .map_or_else(BTreeSet::new, |s| s.0)
                        }
                        Field::Active => c.active = map.next_value()?,
                        Field::TokenType => c.token_type = map.next_value()?,
                        Field::Other(name) => {
                            let value: serde_json::Value = map.next_value()?;
                            c.extra.insert(name, value);
                        }
                    }
                }
                Ok(c)
            }
        }
        deserializer.deserialize_map(ClaimsVisitor)
    }
}

/// RFC 7519 §2 NumericDate: an integer or a fractional number of seconds.
struct NumericDate(i64);

impl<'de> Deserialize<'de> for NumericDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DateVisitor;
        impl Visitor<'_> for DateVisitor {
            type Value = NumericDate;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a NumericDate")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<NumericDate, E> {
                Ok(NumericDate(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<NumericDate, E> {
                i64::try_from(v)
                    .map(NumericDate)
                    .map_err(|_| E::custom("NumericDate out of range"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<NumericDate, E> {
                // `as` saturates; the range check refuses NaN and absurd values.
                if v.is_finite() && v.abs() < 1e15 {
                    #[allow(clippy::cast_possible_truncation)]
                    Ok(NumericDate(v.floor() as i64))
                } else {
                    Err(E::custom("NumericDate out of range"))
                }
            }
        }
        deserializer.deserialize_any(DateVisitor)
    }
}

/// RFC 7519 §4.1.3: `aud` is a string or an array of strings.
struct StringOrList(Vec<String>);

impl<'de> Deserialize<'de> for StringOrList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor;
        impl<'de> Visitor<'de> for ListVisitor {
            type Value = StringOrList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StringOrList, E> {
                Ok(StringOrList(vec![v.to_owned()]))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<StringOrList, E> {
                Ok(StringOrList(vec![v]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StringOrList, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(16));
                while let Some(item) = seq.next_element::<String>()? {
                    out.push(item);
                }
                Ok(StringOrList(out))
            }
        }
        deserializer.deserialize_any(ListVisitor)
    }
}

/// RFC 9068 §2.2.3 / RFC 6749 §3.3: `scope` is a space-separated string (an array,
/// as some issuers send, is accepted too).
struct Scope(BTreeSet<String>);

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScopeVisitor;
        impl<'de> Visitor<'de> for ScopeVisitor {
            type Value = Scope;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a space-separated scope string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scope, E> {
                Ok(Scope(
                    v.split(' ')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect(),
                ))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scope, A::Error> {
                let mut out = BTreeSet::new();
                while let Some(item) = seq.next_element::<String>()? {
                    out.insert(item);
                }
                Ok(Scope(out))
            }
        }
        deserializer.deserialize_any(ScopeVisitor)
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]
    use super::*;

    #[test]
    fn reads_aud_string_or_array_and_scope_string() {
        let c: Claims = serde_json::from_str(
            r#"{"iss":"https://as","aud":"api","exp":10,"scope":"b a  c","x":1}"#,
        )
        .unwrap();
        assert_eq!(c.aud, vec!["api"]);
        assert_eq!(c.scope.iter().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(c.extra["x"], 1);
        let c: Claims =
            serde_json::from_str(r#"{"iss":"https://as","aud":["a","b"],"exp":10.7}"#).unwrap();
        assert_eq!(c.aud, vec!["a", "b"]);
        assert_eq!(c.exp, 10);
        let back = serde_json::to_value(&c).unwrap();
        assert_eq!(back["aud"], serde_json::json!(["a", "b"]));
    }

    #[test]
    fn writes_scope_as_one_string() {
        let c: Claims =
            serde_json::from_str(r#"{"iss":"i","aud":"a","exp":1,"scope":"read write"}"#).unwrap();
        assert_eq!(serde_json::to_value(&c).unwrap()["scope"], "read write");
    }

    #[test]
    fn refuses_duplicate_claims() {
        let dup = br#"{"iss":"a","iss":"b","exp":1}"#;
        assert!(WireClaims::from_jwt_payload(dup).is_err());
    }

    #[test]
    fn requires_iss_and_exp_when_deserializing_claims() {
        assert!(serde_json::from_str::<Claims>(r#"{"iss":"i","aud":"a"}"#).is_err());
        assert!(serde_json::from_str::<Claims>(r#"{"exp":1,"aud":"a"}"#).is_err());
    }
}
