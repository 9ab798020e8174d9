//! One named test per [`DpopProofError`] check, with proofs built by hand (header
//! and claims as JSON, signed with aws-lc-rs) so each can break exactly one rule.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::*;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
};
use serde_json::json;

const NOW: u64 = 1_800_000_000;
const HTU: &str = "https://api.example/orders";
const TOKEN: &str = "eyJ.access.token";

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

enum Signer {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
}

impl Signer {
    fn es256() -> Self {
        Self::Es256(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap())
    }

    fn eddsa() -> Self {
        Self::EdDsa(Ed25519KeyPair::generate().unwrap())
    }

    fn jwk(&self) -> Value {
        match self {
            Self::Es256(pair) => {
                let point = pair.public_key().as_ref();
                json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..])})
            }
            Self::EdDsa(pair) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref())})
            }
        }
    }

    fn alg(&self) -> &'static str {
        match self {
            Self::Es256(_) => "ES256",
            Self::EdDsa(_) => "EdDSA",
        }
    }

    fn sign(&self, input: &[u8]) -> Vec<u8> {
        match self {
            Self::Es256(pair) => pair
                .sign(&SystemRandom::new(), input)
                .unwrap()
                .as_ref()
                .to_vec(),
            Self::EdDsa(pair) => pair.sign(input).as_ref().to_vec(),
        }
    }

    fn header(&self) -> Value {
        json!({"typ": "dpop+jwt", "alg": self.alg(), "jwk": self.jwk()})
    }
}

fn claims() -> Value {
    json!({
        "jti": "e1j3V_bKic8-LAEB",
        "htm": "GET",
        "htu": HTU,
        "iat": NOW,
        "ath": access_token_hash(TOKEN),
    })
}

/// `header.claims.signature`, signed by `signer` over the text as built.
fn build(signer: &Signer, header: &Value, claims: &Value) -> String {
    build_raw(signer, &header.to_string(), &claims.to_string())
}

fn build_raw(signer: &Signer, header: &str, claims: &str) -> String {
    let input = format!("{}.{}", b64(header), b64(claims));
    let signature = b64(signer.sign(input.as_bytes()));
    format!("{input}.{signature}")
}

fn check() -> ProofCheck<'static> {
    ProofCheck {
        htm: "GET",
        htu: HTU,
        access_token: Some(TOKEN),
        now: NOW,
        max_age: 300,
        leeway: 60,
        nonce: NonceCheck::Ignore,
    }
}

fn verify(proof: &str) -> Result<DpopProof, DpopProofError> {
    verify_proof(proof, &check())
}

fn with_claim(name: &str, value: Value) -> Value {
    let mut claims = claims();
    claims[name] = value;
    claims
}

fn without_claim(name: &str) -> Value {
    let mut claims = claims();
    claims.as_object_mut().unwrap().remove(name);
    claims
}

#[test]
fn accepts_a_valid_es256_proof() {
    let signer = Signer::es256();
    let proof = verify(&build(&signer, &signer.header(), &claims())).unwrap();
    let jwk: Jwk = serde_json::from_value(signer.jwk()).unwrap();
    assert_eq!(proof.jkt, jwk_thumbprint(&jwk).unwrap());
    assert_eq!(proof.jti, "e1j3V_bKic8-LAEB");
    assert_eq!((proof.iat, proof.htm.as_str()), (NOW, "GET"));
    assert_eq!(proof.htu, HTU);
    assert_eq!(proof.alg, Algorithm::ES256);
    assert_eq!(proof.nonce, None);
}

#[test]
fn accepts_a_valid_eddsa_proof() {
    let signer = Signer::eddsa();
    let proof = verify(&build(&signer, &signer.header(), &claims())).unwrap();
    assert_eq!(proof.alg, Algorithm::EdDSA);
}

#[test]
fn accepts_a_proof_from_dpop_key() {
    let key = DpopKey::generate().unwrap();
    let proof = key
        .proof_at(
            NOW,
            "GET",
            "https://api.example/orders?x=1#f",
            Some(TOKEN),
            None,
        )
        .unwrap();
    let verified = verify(&proof).unwrap();
    assert_eq!(verified.jkt, key.jkt());
    let reloaded = DpopKey::from_pkcs8_der(key.to_pkcs8_der()).unwrap();
    assert_eq!(reloaded.jkt(), key.jkt());
    // Each proof has its own jti.
    let again = verify(&key.proof_at(NOW, "GET", HTU, Some(TOKEN), None).unwrap()).unwrap();
    assert_ne!(again.jti, verified.jti);
}

#[test]
fn dpop_key_rejects_garbage_pkcs8() {
    assert!(matches!(
        DpopKey::from_pkcs8_der(b"not a key"),
        Err(DpopKeyError::InvalidKey)
    ));
}

#[test]
fn accepts_htu_with_query_and_normalisation_differences() {
    let signer = Signer::es256();
    let proof = build(
        &signer,
        &signer.header(),
        &with_claim("htu", json!("HTTPS://API.example:443/orders")),
    );
    let check = ProofCheck {
        htu: "https://api.example/orders?page=2#top",
        ..check()
    };
    assert_eq!(verify_proof(&proof, &check).unwrap().htu, HTU);
}

#[test]
fn accepts_application_prefixed_typ() {
    let signer = Signer::es256();
    let mut header = signer.header();
    header["typ"] = json!("application/DPoP+JWT");
    assert!(verify(&build(&signer, &header, &claims())).is_ok());
}

#[test]
fn rejects_oversized_proof() {
    let signer = Signer::es256();
    let proof = build(
        &signer,
        &signer.header(),
        &with_claim("pad", json!("x".repeat(MAX_PROOF_BYTES))),
    );
    assert_eq!(verify(&proof), Err(DpopProofError::TooLarge));
}

#[test]
fn rejects_not_a_compact_jws() {
    assert_eq!(verify("a.b"), Err(DpopProofError::Malformed));
    assert_eq!(verify("a.b.c.d.e"), Err(DpopProofError::Malformed));
    assert_eq!(verify(""), Err(DpopProofError::Malformed));
}

#[test]
fn rejects_header_that_is_not_json() {
    let signer = Signer::es256();
    let proof = build_raw(&signer, "{not json", &claims().to_string());
    assert_eq!(verify(&proof), Err(DpopProofError::Malformed));
}

#[test]
fn rejects_duplicate_claim() {
    let signer = Signer::es256();
    let claims = format!(
        r#"{{"jti":"a","jti":"b","htm":"GET","htu":"{HTU}","iat":{NOW},"ath":"{}"}}"#,
        access_token_hash(TOKEN)
    );
    let proof = build_raw(&signer, &signer.header().to_string(), &claims);
    assert_eq!(verify(&proof), Err(DpopProofError::Malformed));
}

#[test]
fn rejects_wrong_typ() {
    let signer = Signer::es256();
    for typ in [json!("JWT"), json!("at+jwt"), json!(null)] {
        let mut header = signer.header();
        header["typ"] = typ.clone();
        assert_eq!(
            verify(&build(&signer, &header, &claims())),
            Err(DpopProofError::WrongTyp),
            "{typ}"
        );
    }
}

#[test]
fn rejects_critical_header() {
    let signer = Signer::es256();
    let mut header = signer.header();
    header["crit"] = json!(["exp"]);
    assert_eq!(
        verify(&build(&signer, &header, &claims())),
        Err(DpopProofError::UnsupportedCriticalHeader)
    );
}

#[test]
fn rejects_alg_none() {
    let signer = Signer::es256();
    let mut header = signer.header();
    header["alg"] = json!("none");
    let unsigned = format!("{}.{}.", b64(header.to_string()), b64(claims().to_string()));
    assert_eq!(verify(&unsigned), Err(DpopProofError::AlgNotAllowed));
}

#[test]
fn rejects_hs256() {
    // An HMAC "signature" keyed with the public JWK text: what an attacker would try.
    let signer = Signer::es256();
    let mut header = signer.header();
    header["alg"] = json!("HS256");
    let input = format!("{}.{}", b64(header.to_string()), b64(claims().to_string()));
    let key = aws_lc_rs::hmac::Key::new(
        aws_lc_rs::hmac::HMAC_SHA256,
        signer.jwk().to_string().as_bytes(),
    );
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    let proof = format!("{input}.{}", b64(tag.as_ref()));
    assert_eq!(verify(&proof), Err(DpopProofError::AlgNotAllowed));
}

#[test]
fn rejects_alg_outside_the_list() {
    let signer = Signer::es256();
    for alg in ["ES384", "RS512", "PS512", "es256", "XYZ"] {
        let mut header = signer.header();
        header["alg"] = json!(alg);
        assert_eq!(
            verify(&build(&signer, &header, &claims())),
            Err(DpopProofError::AlgNotAllowed),
            "{alg}"
        );
    }
}

#[test]
fn rejects_missing_jwk() {
    let signer = Signer::es256();
    let mut header = signer.header();
    header.as_object_mut().unwrap().remove("jwk");
    header["kid"] = json!("k1");
    assert_eq!(
        verify(&build(&signer, &header, &claims())),
        Err(DpopProofError::MissingJwk)
    );
}

#[test]
fn rejects_private_key_in_jwk() {
    let signer = Signer::es256();
    let mut header = signer.header();
    header["jwk"]["d"] = json!(b64([7_u8; 32]));
    assert_eq!(
        verify(&build(&signer, &header, &claims())),
        Err(DpopProofError::PrivateKeyInJwk)
    );
}

#[test]
fn rejects_symmetric_jwk() {
    let signer = Signer::es256();
    let mut header = signer.header();
    header["jwk"] = json!({"kty": "oct", "k": b64(b"secret")});
    assert_eq!(
        verify(&build(&signer, &header, &claims())),
        Err(DpopProofError::PrivateKeyInJwk)
    );
}

#[test]
fn rejects_unsupported_jwk() {
    let signer = Signer::es256();
    for jwk in [
        json!({"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"}),
        json!({"kty": "XYZ"}),
        json!({"kty": "EC", "crv": "P-256"}),
    ] {
        let mut header = signer.header();
        header["jwk"] = jwk.clone();
        assert_eq!(
            verify(&build(&signer, &header, &claims())),
            Err(DpopProofError::UnsupportedJwk),
            "{jwk}"
        );
    }
}

#[test]
fn rejects_alg_that_does_not_fit_the_jwk() {
    let signer = Signer::es256();
    let mut header = signer.header();
    header["alg"] = json!("EdDSA");
    assert_eq!(
        verify(&build(&signer, &header, &claims())),
        Err(DpopProofError::AlgKeyMismatch)
    );
}

#[test]
fn rejects_bad_signature() {
    let signer = Signer::es256();
    let other = Signer::es256();
    // The header names `signer`'s key, the signature is `other`'s.
    let proof = build(&other, &signer.header(), &claims());
    assert_eq!(verify(&proof), Err(DpopProofError::BadSignature));
}

#[test]
fn rejects_tampered_claims() {
    let signer = Signer::es256();
    let proof = build(&signer, &signer.header(), &claims());
    let parts: Vec<&str> = proof.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(with_claim("htm", json!("POST")).to_string()),
        parts[2]
    );
    assert_eq!(verify(&tampered), Err(DpopProofError::BadSignature));
}

#[test]
fn rejects_missing_jti() {
    let signer = Signer::es256();
    for claims in [without_claim("jti"), with_claim("jti", json!(""))] {
        assert_eq!(
            verify(&build(&signer, &signer.header(), &claims)),
            Err(DpopProofError::MissingClaim("jti"))
        );
    }
}

#[test]
fn rejects_missing_htm() {
    let signer = Signer::es256();
    assert_eq!(
        verify(&build(&signer, &signer.header(), &without_claim("htm"))),
        Err(DpopProofError::MissingClaim("htm"))
    );
}

#[test]
fn rejects_missing_htu() {
    let signer = Signer::es256();
    assert_eq!(
        verify(&build(&signer, &signer.header(), &without_claim("htu"))),
        Err(DpopProofError::MissingClaim("htu"))
    );
}

#[test]
fn rejects_missing_iat() {
    let signer = Signer::es256();
    assert_eq!(
        verify(&build(&signer, &signer.header(), &without_claim("iat"))),
        Err(DpopProofError::MissingClaim("iat"))
    );
}

#[test]
fn rejects_claim_of_the_wrong_type() {
    let signer = Signer::es256();
    assert_eq!(
        verify(&build(
            &signer,
            &signer.header(),
            &with_claim("iat", json!("now"))
        )),
        Err(DpopProofError::Malformed)
    );
}

#[test]
fn rejects_wrong_htm() {
    let signer = Signer::es256();
    for htm in ["POST", "get"] {
        assert_eq!(
            verify(&build(
                &signer,
                &signer.header(),
                &with_claim("htm", json!(htm))
            )),
            Err(DpopProofError::HtmMismatch),
            "{htm}"
        );
    }
}

#[test]
fn rejects_wrong_htu() {
    let signer = Signer::es256();
    for htu in [
        "https://api.example/orders/1",
        "http://api.example/orders",
        "https://api.example:8443/orders",
        "https://evil.example/orders",
        "/orders",
    ] {
        assert_eq!(
            verify(&build(
                &signer,
                &signer.header(),
                &with_claim("htu", json!(htu))
            )),
            Err(DpopProofError::HtuMismatch),
            "{htu}"
        );
    }
}

#[test]
fn rejects_stale_iat() {
    let signer = Signer::es256();
    let at = |iat: u64| {
        verify(&build(
            &signer,
            &signer.header(),
            &with_claim("iat", json!(iat)),
        ))
    };
    assert!(at(NOW - 300).is_ok(), "exactly max_age old is accepted");
    assert_eq!(at(NOW - 301), Err(DpopProofError::IatTooOld));
    assert_eq!(
        verify(&build(
            &signer,
            &signer.header(),
            &with_claim("iat", json!(-5))
        )),
        Err(DpopProofError::IatTooOld)
    );
}

#[test]
fn rejects_future_iat() {
    let signer = Signer::es256();
    let at = |iat: u64| {
        verify(&build(
            &signer,
            &signer.header(),
            &with_claim("iat", json!(iat)),
        ))
    };
    assert!(at(NOW + 60).is_ok(), "exactly the leeway ahead is accepted");
    assert_eq!(at(NOW + 61), Err(DpopProofError::IatInFuture));
}

#[test]
fn rejects_missing_ath() {
    let signer = Signer::es256();
    let proof = build(&signer, &signer.header(), &without_claim("ath"));
    assert_eq!(verify(&proof), Err(DpopProofError::AthMissing));
    // Without an access token (the token endpoint), `ath` is not required.
    let check = ProofCheck {
        access_token: None,
        ..check()
    };
    assert!(verify_proof(&proof, &check).is_ok());
}

#[test]
fn rejects_mismatched_ath() {
    let signer = Signer::es256();
    let proof = build(
        &signer,
        &signer.header(),
        &with_claim("ath", json!(access_token_hash("another token"))),
    );
    assert_eq!(verify(&proof), Err(DpopProofError::AthMismatch));
}

#[test]
fn rejects_missing_nonce() {
    let signer = Signer::es256();
    let proof = build(&signer, &signer.header(), &claims());
    let check = ProofCheck {
        nonce: NonceCheck::Equals("n-1"),
        ..check()
    };
    let error = verify_proof(&proof, &check).unwrap_err();
    assert_eq!(error, DpopProofError::NonceMissing);
    assert_eq!(error.error_code(), "use_dpop_nonce");
}

#[test]
fn rejects_wrong_nonce() {
    let signer = Signer::es256();
    let proof = build(
        &signer,
        &signer.header(),
        &with_claim("nonce", json!("n-0")),
    );
    let equals = ProofCheck {
        nonce: NonceCheck::Equals("n-1"),
        ..check()
    };
    assert_eq!(
        verify_proof(&proof, &equals),
        Err(DpopProofError::NonceMismatch)
    );
    let accepts_n1 = |nonce: &str| nonce == "n-1";
    let predicate = ProofCheck {
        nonce: NonceCheck::Accepts(&accepts_n1),
        ..check()
    };
    assert_eq!(
        verify_proof(&proof, &predicate),
        Err(DpopProofError::NonceMismatch)
    );
    let accepts_n0 = |nonce: &str| nonce == "n-0";
    let ok = ProofCheck {
        nonce: NonceCheck::Accepts(&accepts_n0),
        ..check()
    };
    assert_eq!(
        verify_proof(&proof, &ok).unwrap().nonce.as_deref(),
        Some("n-0")
    );
}

#[test]
fn rejects_two_dpop_headers() {
    let mut headers = HeaderMap::new();
    assert_eq!(proof_header(&headers), Ok(None));
    headers.append(DPOP, http::HeaderValue::from_static("a.b.c"));
    assert_eq!(proof_header(&headers), Ok(Some("a.b.c")));
    headers.append(DPOP, http::HeaderValue::from_static("d.e.f"));
    assert_eq!(proof_header(&headers), Err(DpopProofError::NotSingleHeader));
}

#[test]
fn error_codes_and_descriptions() {
    assert_eq!(
        DpopProofError::BadSignature.error_code(),
        "invalid_dpop_proof"
    );
    assert_eq!(DpopProofError::NonceMismatch.error_code(), "use_dpop_nonce");
    assert_eq!(
        DpopProofError::MissingClaim("jti").to_string(),
        "the DPoP proof has no jti claim"
    );
}

#[test]
fn supported_algs_text_matches_the_list() {
    let names: Vec<String> = DPOP_SIGNING_ALG_VALUES_SUPPORTED
        .iter()
        .map(|alg| format!("{alg:?}"))
        .collect();
    assert_eq!(names.join(" "), DPOP_ALGS);
}
