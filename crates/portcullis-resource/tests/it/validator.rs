//! RFC 9068 §4 / RFC 8725 checks, one named test per rejection.

use crate::support::*;
use aws_lc_rs::hmac;
use portcullis_resource::{
    Algorithm, BuildError, KeyStore, TokenSource, ValidationError, Validator,
};
use serde_json::json;
use std::time::Duration;

fn jws(header: &serde_json::Value, claims: &serde_json::Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(serde_json::to_vec(header).unwrap()),
        b64(serde_json::to_vec(claims).unwrap()),
        b64(signature)
    )
}

#[tokio::test]
async fn accepts_es256() {
    let token = ES256.token(&claims());
    let at = validator().validate(&token).await.unwrap();
    assert_eq!(at.subject(), Some("alice"));
    assert_eq!(at.client_id(), Some("app"));
    assert!(at.has_scope("notes:read") && at.has_scope("notes:write"));
    assert!(!at.has_scope("notes"));
    assert_eq!(at.claims.iss, ISSUER);
    assert_eq!(at.claims.aud, vec![AUDIENCE]);
    assert_eq!(at.claims.jti.as_deref(), Some("jti-1"));
    assert_eq!(
        at.source,
        TokenSource::Jwt {
            kid: "es-1".into(),
            alg: Algorithm::ES256
        }
    );
}

#[tokio::test]
async fn accepts_rs256() {
    let token = RS256.token(&claims_with(json!({ "aud": ["other", AUDIENCE] })));
    let at = validator().validate(&token).await.unwrap();
    assert_eq!(
        at.source,
        TokenSource::Jwt {
            kid: "rs-1".into(),
            alg: Algorithm::RS256
        }
    );
    assert_eq!(at.claims.aud, vec!["other", AUDIENCE]);
}

#[tokio::test]
async fn accepts_eddsa() {
    let at = validator().validate(&EDDSA.token(&claims())).await.unwrap();
    assert_eq!(
        at.source,
        TokenSource::Jwt {
            kid: "ed-1".into(),
            alg: Algorithm::EdDSA
        }
    );
}

#[tokio::test]
async fn accepts_typ_with_application_prefix_in_any_case() {
    for typ in ["application/at+jwt", "AT+JWT", "Application/At+Jwt"] {
        let header = json!({ "alg": "ES256", "typ": typ, "kid": "es-1" });
        validator()
            .validate(&ES256.sign(&header, &claims()))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn rejects_alg_none() {
    let header = json!({ "alg": "none", "typ": "at+jwt", "kid": "es-1" });
    for token in [jws(&header, &claims(), b""), jws(&header, &claims(), b"x")] {
        let err = validator().validate(&token).await.unwrap_err();
        assert!(
            matches!(&err, ValidationError::AlgorithmNotAllowed { unverified_alg } if unverified_alg == "none"),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn rejects_hs256_signed_with_public_key_bytes() {
    // The classic key-confusion attack (RFC 8725 §2.1): HMAC keyed with the
    // issuer's public key, which anyone can download.
    let jwk_text = serde_json::to_vec(&ES256.jwk).unwrap();
    for key_bytes in [ES256.public_bytes(), jwk_text] {
        for alg in ["HS256", "HS384", "HS512"] {
            let header = json!({ "alg": alg, "typ": "at+jwt", "kid": "es-1" });
            let input = format!(
                "{}.{}",
                b64(serde_json::to_vec(&header).unwrap()),
                b64(serde_json::to_vec(&claims()).unwrap())
            );
            let key = hmac::Key::new(hmac::HMAC_SHA256, &key_bytes);
            let token = format!("{input}.{}", b64(hmac::sign(&key, input.as_bytes())));
            let err = validator().validate(&token).await.unwrap_err();
            assert!(
                matches!(&err, ValidationError::AlgorithmNotAllowed { unverified_alg } if unverified_alg == alg),
                "{err:?}"
            );
        }
    }
    // Nor can HMAC be allowed, nor an `oct` key be served as a verification key.
    let err = builder()
        .algorithms([Algorithm::ES256, Algorithm::HS256])
        .build()
        .unwrap_err();
    assert!(
        matches!(err, BuildError::SymmetricAlgorithm(Algorithm::HS256)),
        "{err:?}"
    );
    let oct = serde_json::from_value(
        json!({ "keys": [{ "kty": "oct", "kid": "es-1", "k": b64(ES256.public_bytes()) }] }),
    )
    .unwrap();
    let store = KeyStore::from_jwks(oct);
    assert!(store.key_ids().is_empty());
}

#[tokio::test]
async fn rejects_wrong_typ() {
    for (typ, expected) in [
        (json!("JWT"), Some("JWT")),
        (json!("jwt"), Some("jwt")),
        (json!("application/jwt"), Some("application/jwt")),
        (json!("at+jwt+x"), Some("at+jwt+x")),
        (serde_json::Value::Null, None),
    ] {
        let mut header = json!({ "alg": "ES256", "kid": "es-1" });
        if !typ.is_null() {
            header["typ"] = typ;
        }
        let err = validator()
            .validate(&ES256.sign(&header, &claims()))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ValidationError::NotAnAccessToken { unverified_typ } if unverified_typ.as_deref() == expected),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn rejects_id_token_as_access_token() {
    // An OpenID Connect ID token of the same issuer, same key, even naming the API
    // as audience: its `typ` is JWT, so RFC 9068 §4 refuses it.
    let header = json!({ "alg": "ES256", "typ": "JWT", "kid": "es-1" });
    let id_token = claims_with(json!({
        "aud": [AUDIENCE, "app"], "azp": "app", "nonce": "n-0S6_WzA2Mj", "at_hash": "77QmUPtjPfzWtF2AnpK9RQ",
        "auth_time": NOW - 10, "scope": null,
    }));
    let err = validator()
        .validate(&ES256.sign(&header, &id_token))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ValidationError::NotAnAccessToken { .. }),
        "{err:?}"
    );
    // Without a typ at all (some issuers' ID tokens): refused too.
    let header = json!({ "alg": "ES256", "kid": "es-1" });
    let err = validator()
        .validate(&ES256.sign(&header, &id_token))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ValidationError::NotAnAccessToken {
                unverified_typ: None
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn rejects_algorithm_not_matching_the_key() {
    // RS256 claimed, kid of the EC key: refused before any verification.
    let header = json!({ "alg": "RS256", "typ": "at+jwt", "kid": "es-1" });
    let err = validator()
        .validate(&RS256.sign(&header, &claims()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ValidationError::AlgorithmKeyMismatch),
        "{err:?}"
    );
    // PS256 with an RSA key whose JWK says alg RS256.
    let header = json!({ "alg": "PS256", "typ": "at+jwt", "kid": "rs-1" });
    let err = validator()
        .validate(&RS256.sign(&header, &claims()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ValidationError::AlgorithmKeyMismatch),
        "{err:?}"
    );
    // An algorithm outside the allow-list is refused even with a matching key.
    let es_only = builder().algorithms([Algorithm::ES256]).build().unwrap();
    let err = es_only.validate(&RS256.token(&claims())).await.unwrap_err();
    assert!(
        matches!(err, ValidationError::AlgorithmNotAllowed { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn rejects_missing_kid() {
    let header = json!({ "alg": "ES256", "typ": "at+jwt" });
    let err = validator()
        .validate(&ES256.sign(&header, &claims()))
        .await
        .unwrap_err();
    assert!(matches!(err, ValidationError::MissingKeyId), "{err:?}");
}

#[tokio::test]
async fn rejects_unknown_kid_in_a_static_key_set() {
    let header = json!({ "alg": "ES256", "typ": "at+jwt", "kid": "nope" });
    let err = validator()
        .validate(&ES256.sign(&header, &claims()))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ValidationError::UnknownKeyId { unverified_kid } if unverified_kid == "nope"),
        "{err:?}"
    );
}

#[tokio::test]
async fn rejects_critical_header_extensions() {
    let header =
        json!({ "alg": "ES256", "typ": "at+jwt", "kid": "es-1", "crit": ["exp"], "exp": 1 });
    let err = validator()
        .validate(&ES256.sign(&header, &claims()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ValidationError::UnsupportedCriticalHeader),
        "{err:?}"
    );
}

#[tokio::test]
async fn rejects_signature_by_another_key_under_a_known_kid() {
    let impostor = TestKey::es256("es-1");
    let err = validator()
        .validate(&impostor.token(&claims()))
        .await
        .unwrap_err();
    assert!(matches!(err, ValidationError::BadSignature), "{err:?}");
}

#[tokio::test]
async fn rejects_wrong_iss() {
    for iss in [
        json!("https://evil.example"),
        json!("https://as.example/"),
        json!("HTTPS://AS.EXAMPLE"),
        serde_json::Value::Null,
    ] {
        let token = ES256.token(&claims_with(json!({ "iss": iss })));
        let err = validator().validate(&token).await.unwrap_err();
        assert!(
            matches!(err, ValidationError::WrongIssuer),
            "{iss}: {err:?}"
        );
    }
}

#[tokio::test]
async fn rejects_missing_aud() {
    let token = ES256.token(&claims_with(json!({ "aud": null })));
    let err = validator().validate(&token).await.unwrap_err();
    assert!(matches!(err, ValidationError::WrongAudience), "{err:?}");
    let token = ES256.token(&claims_with(json!({ "aud": [] })));
    let err = validator().validate(&token).await.unwrap_err();
    assert!(matches!(err, ValidationError::WrongAudience), "{err:?}");
}

#[tokio::test]
async fn rejects_other_aud() {
    for aud in [
        json!("https://other.example"),
        json!(["a", "b"]),
        json!("https://api.example/"),
    ] {
        let token = ES256.token(&claims_with(json!({ "aud": aud })));
        let err = validator().validate(&token).await.unwrap_err();
        assert!(
            matches!(err, ValidationError::WrongAudience),
            "{aud}: {err:?}"
        );
    }
}

#[tokio::test]
async fn rejects_missing_exp() {
    let token = ES256.token(&claims_with(json!({ "exp": null })));
    let err = validator().validate(&token).await.unwrap_err();
    assert!(
        matches!(err, ValidationError::MissingClaim { claim: "exp" }),
        "{err:?}"
    );
}

#[tokio::test]
async fn rejects_expired_one_second_beyond_leeway() {
    let v = validator(); // leeway 60 s
    let at_leeway = ES256.token(&claims_with(json!({ "exp": NOW - 60, "iat": NOW - 400 })));
    v.validate(&at_leeway).await.unwrap();
    let beyond = ES256.token(&claims_with(json!({ "exp": NOW - 61, "iat": NOW - 400 })));
    let err = v.validate(&beyond).await.unwrap_err();
    assert!(matches!(err, ValidationError::Expired), "{err:?}");

    // Without leeway: exp − 1 s and exp accepted, exp + 1 s refused.
    let clock = FixedClock::at(NOW);
    let strict = builder()
        .leeway(Duration::ZERO)
        .clock(clock.clone())
        .build()
        .unwrap();
    let token = ES256.token(&claims_with(json!({ "exp": NOW + 10 })));
    clock.set(NOW + 9);
    strict.validate(&token).await.unwrap();
    clock.set(NOW + 10);
    strict.validate(&token).await.unwrap();
    clock.set(NOW + 11);
    assert!(matches!(
        strict.validate(&token).await,
        Err(ValidationError::Expired)
    ));
}

#[tokio::test]
async fn rejects_nbf_in_the_future() {
    let v = validator();
    v.validate(&ES256.token(&claims_with(json!({ "nbf": NOW + 60 }))))
        .await
        .unwrap();
    let err = v
        .validate(&ES256.token(&claims_with(json!({ "nbf": NOW + 61 }))))
        .await
        .unwrap_err();
    assert!(matches!(err, ValidationError::NotYetValid), "{err:?}");
}

#[tokio::test]
async fn rejects_iat_in_the_future() {
    let v = validator();
    v.validate(&ES256.token(&claims_with(json!({ "iat": NOW + 60 }))))
        .await
        .unwrap();
    let err = v
        .validate(&ES256.token(&claims_with(json!({ "iat": NOW + 61 }))))
        .await
        .unwrap_err();
    assert!(matches!(err, ValidationError::IssuedInTheFuture), "{err:?}");
}

#[tokio::test]
async fn rejects_tampered_payload() {
    let token = ES256.token(&claims());
    let parts: Vec<&str> = token.split('.').collect();
    let forged = b64(serde_json::to_vec(&claims_with(
        json!({ "scope": "admin", "sub": "mallory" }),
    ))
    .unwrap());
    let tampered = format!("{}.{}.{}", parts[0], forged, parts[2]);
    let err = validator().validate(&tampered).await.unwrap_err();
    assert!(matches!(err, ValidationError::BadSignature), "{err:?}");
    // A tampered header (an extra member, same kid and alg) fails too: the header is
    // part of the signing input (RFC 7515 §5.2).
    let header = b64(serde_json::to_vec(
        &json!({ "alg": "ES256", "typ": "at+jwt", "kid": "es-1", "x": 1 }),
    )
    .unwrap());
    let tampered = format!("{header}.{}.{}", parts[1], parts[2]);
    assert!(matches!(
        validator().validate(&tampered).await,
        Err(ValidationError::BadSignature)
    ));
}

#[tokio::test]
async fn rejects_truncated_token() {
    let token = ES256.token(&claims());
    let v = validator();
    // Signature cut short.
    let err = v.validate(&token[..token.len() - 10]).await.unwrap_err();
    assert!(matches!(err, ValidationError::BadSignature), "{err:?}");
    // Signature gone.
    let (without_sig, _) = token.rsplit_once('.').unwrap();
    let err = v.validate(&format!("{without_sig}.")).await.unwrap_err();
    assert!(matches!(err, ValidationError::BadSignature), "{err:?}");
    let err = v.validate(without_sig).await.unwrap_err();
    assert!(matches!(err, ValidationError::Malformed), "{err:?}");
    // Cut inside the header.
    let err = v.validate(&token[..10]).await.unwrap_err();
    assert!(matches!(err, ValidationError::Malformed), "{err:?}");
    let err = v.validate("").await.unwrap_err();
    assert!(matches!(err, ValidationError::Malformed), "{err:?}");
}

#[tokio::test]
async fn rejects_oversized_token() {
    let v = validator();
    let huge = "a".repeat(8 * 1024 + 1);
    let err = v.validate(&huge).await.unwrap_err();
    assert!(
        matches!(
            err,
            ValidationError::Oversized {
                len: 8193,
                max: 8192
            }
        ),
        "{err:?}"
    );
    // A signed token with a huge claim is refused the same way, before parsing.
    let token = ES256.token(&claims_with(json!({ "pad": "x".repeat(9000) })));
    assert!(matches!(
        v.validate(&token).await,
        Err(ValidationError::Oversized { .. })
    ));
}

#[tokio::test]
async fn rejects_missing_scope() {
    let v = builder().required_scopes(["notes:read"]).build().unwrap();
    v.validate(&ES256.token(&claims())).await.unwrap();
    let token = ES256.token(&claims_with(json!({ "scope": "notes:write" })));
    let err = v.validate(&token).await.unwrap_err();
    assert!(
        matches!(&err, ValidationError::InsufficientScope { needed } if needed == &["notes:read"]),
        "{err:?}"
    );
    assert_eq!(err.error_code(), "insufficient_scope");
    assert_eq!(err.status(), http::StatusCode::FORBIDDEN);

    let token = ES256.token(&claims());
    v.validate_with_scopes(&token, &["notes:write"])
        .await
        .unwrap();
    let err = v
        .validate_with_scopes(&token, &["admin", "notes:read"])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ValidationError::InsufficientScope { needed } if needed == &["notes:read", "admin"]),
        "{err:?}"
    );
    // No scope claim at all.
    let token = ES256.token(&claims_with(json!({ "scope": null })));
    assert!(matches!(
        v.validate(&token).await,
        Err(ValidationError::InsufficientScope { .. })
    ));
}

#[tokio::test]
async fn rejects_sender_constrained_token_as_bearer() {
    let token = ES256.token(&claims_with(
        json!({ "cnf": { "jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" } }),
    ));
    let err = validator().validate(&token).await.unwrap_err();
    assert!(matches!(err, ValidationError::SenderConstrained), "{err:?}");
}

#[tokio::test]
async fn rejects_duplicate_claims() {
    let header = b64(serde_json::to_vec(&ES256.header()).unwrap());
    let payload = b64(format!(
        r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","exp":{},"sub":"alice","sub":"admin"}}"#,
        NOW + 10
    ));
    let input = format!("{header}.{payload}");
    let token = format!("{input}.{}", b64(ES256.signature(input.as_bytes())));
    let err = validator().validate(&token).await.unwrap_err();
    assert!(matches!(err, ValidationError::Malformed), "{err:?}");
}

#[tokio::test]
async fn rejects_opaque_token_without_introspection() {
    let err = validator()
        .validate("2YotnFZFEjr1zCsicMWpAA")
        .await
        .unwrap_err();
    assert!(matches!(err, ValidationError::Malformed), "{err:?}");
}

#[test]
fn refuses_http_issuer_except_loopback() {
    for bad in [
        "http://as.example",
        "http://10.0.0.1",
        "http://localhost.example",
        "ftp://127.0.0.1",
    ] {
        let err = Validator::builder(bad, AUDIENCE).build().unwrap_err();
        assert!(
            matches!(err, BuildError::InsecureIssuer(_)),
            "{bad}: {err:?}"
        );
    }
    for ok in [
        "https://as.example",
        "http://127.0.0.1:8080",
        "http://[::1]:9000",
        "http://localhost:3000",
        "https://as.example/tenant",
    ] {
        Validator::builder(ok, AUDIENCE).build().unwrap();
    }
    for invalid in [
        "as.example",
        "https://as.example?x=1",
        "https://as.example#f",
        "",
    ] {
        let err = Validator::builder(invalid, AUDIENCE).build().unwrap_err();
        assert!(
            matches!(err, BuildError::InvalidIssuer { .. }),
            "{invalid}: {err:?}"
        );
    }
    assert!(matches!(
        Validator::builder(ISSUER, "").build(),
        Err(BuildError::EmptyAudience)
    ));
    assert!(matches!(
        builder().algorithms([]).build(),
        Err(BuildError::NoAlgorithms)
    ));
    let other = KeyStore::remote("https://other.example", Default::default());
    assert!(matches!(
        builder().keys(other).build(),
        Err(BuildError::KeyStoreIssuerMismatch { .. })
    ));
}

#[test]
fn error_codes_and_statuses_follow_rfc6750() {
    use http::StatusCode;
    let cases = [
        (
            ValidationError::BadSignature,
            "invalid_token",
            StatusCode::UNAUTHORIZED,
        ),
        (
            ValidationError::Expired,
            "invalid_token",
            StatusCode::UNAUTHORIZED,
        ),
        (
            ValidationError::Inactive,
            "invalid_token",
            StatusCode::UNAUTHORIZED,
        ),
        (
            ValidationError::InsufficientScope { needed: vec![] },
            "insufficient_scope",
            StatusCode::FORBIDDEN,
        ),
        (
            ValidationError::InvalidRequest { reason: "x" },
            "invalid_request",
            StatusCode::BAD_REQUEST,
        ),
        (
            ValidationError::KeysUnavailable("x".into()),
            "temporarily_unavailable",
            StatusCode::SERVICE_UNAVAILABLE,
        ),
        (
            ValidationError::IntrospectionUnavailable("x".into()),
            "temporarily_unavailable",
            StatusCode::SERVICE_UNAVAILABLE,
        ),
    ];
    for (err, code, status) in cases {
        assert_eq!((err.error_code(), err.status()), (code, status), "{err:?}");
    }
}
