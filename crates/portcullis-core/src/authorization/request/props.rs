//! Property test of the scope rule of an authorization request (RFC 6749 §3.3;
//! issue 16 item 8): a request is granted exactly the scopes it asked for when each
//! is among the client's, and refused naming one that is not otherwise.

use super::*;
use crate::client::{ClientRegistration, RecordSource};
use proptest::prelude::*;
use std::collections::BTreeSet;

const SCOPES: &[&str] = &[
    "openid",
    "profile",
    "email",
    "read:orders",
    "write:orders",
    "admin",
];
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const CALLBACK: &str = "http://127.0.0.1/cb";

fn scope_set() -> impl Strategy<Value = BTreeSet<String>> {
    prop::collection::btree_set(
        prop::sample::select(SCOPES).prop_map(str::to_owned),
        1..=SCOPES.len(),
    )
}

fn client(scopes: &BTreeSet<String>) -> Client {
    ClientRegistration {
        client_id: "app".into(),
        redirect_uris: vec![CALLBACK.into()],
        scopes: scopes.iter().cloned().collect(),
        ..Default::default()
    }
    .validate(RecordSource::Config, 0)
    .unwrap()
}

proptest! {
    #[test]
    fn a_request_gets_exactly_its_scopes_when_each_is_allowed_for_the_client(
        allowed in scope_set(),
        requested in prop::collection::vec(prop::sample::select(SCOPES), 1..6),
    ) {
        let params = AuthorizationRequest {
            response_type: Some("code".into()),
            client_id: Some("app".into()),
            scope: Some(requested.join(" ")),
            code_challenge: Some(CHALLENGE.into()),
            code_challenge_method: Some("S256".into()),
            ..Default::default()
        };
        let answer = validate_redirectable(&client(&allowed), &[], params, CALLBACK.into(), false);
        let wanted: BTreeSet<String> = requested.iter().map(|s| (*s).to_owned()).collect();
        if wanted.is_subset(&allowed) {
            prop_assert_eq!(answer.map(|r| r.scopes().clone()), Ok(wanted));
        } else {
            match answer {
                Err(AuthorizeReason::ScopeNotAllowed(denied)) => {
                    prop_assert!(wanted.contains(&denied) && !allowed.contains(&denied));
                }
                other => prop_assert!(false, "expected ScopeNotAllowed, got {other:?}"),
            }
        }
    }
}
