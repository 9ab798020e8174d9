//! What the grants that act for a user (authorization code, refresh token, later the
//! device grant) share when they mint an access token: its `aud` and its extra claims.

use crate::client::Client;
use crate::user::User;
use portcullis_proto::routes;
use serde_json::{Map, Value};

/// `aud` of a user's access token: the granted resources (RFC 8707 §2.2), else the
/// client's first audience, else our UserInfo endpoint (a token that only serves
/// UserInfo, RFC 9068 §2.2 requires an `aud`).
pub(crate) fn access_token_audiences(
    resources: &[String],
    client: &Client,
    issuer: &str,
) -> Vec<String> {
    if !resources.is_empty() {
        return resources.to_vec();
    }
    match client.audiences.first() {
        Some(first) => vec![first.clone()],
        None => vec![format!("{issuer}{}", routes::USERINFO)],
    }
}

/// Extra claims of a user's access token: the client's `claims`, then the user's on
/// top (claims about the token's subject come from the subject's record, so the user
/// wins a name both set).
pub(crate) fn user_extra_claims(client: &Client, user: &User) -> Map<String, Value> {
    let mut extra = client.claims.clone();
    extra.extend(user.claims.clone());
    extra
}
