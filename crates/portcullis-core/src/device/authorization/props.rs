//! Property test of the scope rule of a device authorization request (RFC 8628 §3.1,
//! RFC 6749 §3.3; issue 16 item 8): the requested scopes are granted as asked when
//! each is among the client's, and refused naming one that is not otherwise.

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

proptest! {
    #[test]
    fn a_device_request_gets_exactly_its_scopes_when_each_is_allowed_for_the_client(
        allowed in prop::collection::btree_set(prop::sample::select(SCOPES).prop_map(str::to_owned), 1..=SCOPES.len()),
        requested in prop::collection::vec(prop::sample::select(SCOPES), 1..6),
    ) {
        let client = ClientRegistration {
            client_id: "tv".into(),
            grant_types: Some(vec!["urn:ietf:params:oauth:grant-type:device_code".into()]),
            scopes: allowed.iter().cloned().collect(),
            ..Default::default()
        }
        .validate(RecordSource::Config, 0)
        .unwrap();
        let answer = requested_scopes(&client, Some(&requested.join(" ")), &[], &[]);
        let wanted: BTreeSet<String> = requested.iter().map(|s| (*s).to_owned()).collect();
        if wanted.is_subset(&allowed) {
            prop_assert_eq!(answer.ok(), Some(wanted));
        } else {
            match answer {
                Err(DeviceAuthorizationReason::ScopeNotAllowed(denied)) => {
                    prop_assert!(wanted.contains(&denied) && !allowed.contains(&denied));
                }
                other => prop_assert!(false, "expected ScopeNotAllowed, got {other:?}"),
            }
        }
    }
}
