//! RFC 8628 §3.4–3.5: the device authorization grant at the token endpoint
//! (`grant_type=urn:ietf:params:oauth:grant-type:device_code`).
//!
//! **Polling.** Each request is first recorded by one store statement
//! ([`crate::Store::device_authorization_poll`]) that also decides whether it came too soon
//! after the previous one and, if so, grows the interval by
//! [`SLOW_DOWN_INCREMENT`] seconds. The interval lives in the database, so it holds
//! when polls land on different nodes.
//!
//! **`slow_down` only while pending.** RFC 8628 §3.5 calls `slow_down` "a variant of
//! `authorization_pending`": it is answered only while the user has not decided. A code
//! the user approved is redeemed even if polled too soon (why: the interval protects
//! the server from devices waiting in a loop; once approved there is nothing more to
//! wait for, and delaying the tokens gains nothing), and a denied or expired one gets
//! its final answer. The poll's interval growth is recorded either way.
//!
//! **Single use.** The consume ([`crate::Store::device_authorization_consume`]: one
//! conditional statement and the refresh token's insert, in one transaction) is the
//! commit point: of racing polls on an approved code exactly one gets tokens, the
//! others `invalid_grant`. The tokens are signed (and the refresh token drawn) before
//! it, so a key or CSPRNG failure does not burn the code; the refresh token is stored
//! in the same transaction, so a losing poll writes nothing and a failed insert leaves
//! the code redeemable (no approved code is burned without tokens). A device
//! code presented again after success is refused without revoking what it issued:
//! unlike an authorization code (RFC 6749 §4.1.2), the device code never travels
//! through a browser or a redirect, so a second presentation is the device's own
//! retry, not evidence of theft.
//!
//! [`crate::Store::device_authorization_poll`]: crate::store::DeviceAuthorizationStore::device_authorization_poll
//! [`crate::Store::device_authorization_consume`]: crate::store::DeviceAuthorizationStore::device_authorization_consume

use super::context::{GrantError, TokenEndpoint, TokenSuccess};
use super::user_tokens::{UserTokenGrant, access_token_audiences, sign_user_tokens};
use crate::UnixTime;
use crate::client::authentication::AuthenticatedClient;
use crate::device::{DeviceAuthorization, DeviceAuthorizationStatus, SLOW_DOWN_INCREMENT};
use crate::dpop::DpopBinding;
use crate::keys::KeyRing;
use crate::secret::SecretDigest;
use crate::tokens::refresh_token::{
    RefreshTokenGrant, family_of_code, issues_refresh_token, mint_refresh_token,
    public_refresh_binding,
};
use portcullis_proto::grant::GrantType;
use portcullis_proto::token::TokenRequest;

/// Why a device code was refused (RFC 8628 §3.5).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceGrantReason {
    /// No `device_code` parameter (RFC 8628 §3.4: REQUIRED).
    #[error("the device_code parameter is missing")]
    MissingDeviceCode,
    /// No device authorization with this digest (never issued, or purged).
    #[error("the device code is invalid")]
    UnknownDeviceCode,
    /// The device code was issued to another client. Nothing was written (the poll is
    /// filtered by client), and the wire says what it says for an unknown code (why: a
    /// client holding another's device code learns nothing, and cannot slow it down).
    #[error("the device code is invalid")]
    WrongClient,
    /// RFC 8628 §3.5 `authorization_pending`: the user has not decided yet.
    #[error("the user has not yet approved or denied the request; poll again after the interval")]
    AuthorizationPending,
    /// RFC 8628 §3.5 `slow_down`: polled less than the interval after the previous
    /// poll while pending; the interval is now `interval` seconds.
    #[error(
        "polling too fast: wait at least {interval} seconds between requests (the interval grew by {SLOW_DOWN_INCREMENT})"
    )]
    SlowDown {
        /// The interval after this poll, in seconds.
        interval: i64,
    },
    /// RFC 8628 §3.5 `access_denied`: the user denied the request.
    #[error("the user denied the request")]
    AccessDenied,
    /// RFC 8628 §3.5 `expired_token`: `now >= expires_at`.
    #[error("the device code has expired; start a new device authorization")]
    Expired,
    /// Tokens were issued for it already (single use), or another poll won the race.
    #[error("the device code was already used")]
    AlreadyUsed,
    /// The user who approved it no longer exists.
    #[error("the user who approved this device code no longer exists")]
    UnknownUser,
    /// An administrator disabled the user who approved it.
    #[error("the user who approved this device code is disabled")]
    UserDisabled,
}

/// A refusal by this grant's rules, for `?`.
impl From<DeviceGrantReason> for GrantError<DeviceGrantReason> {
    fn from(reason: DeviceGrantReason) -> Self {
        Self::Refused(reason)
    }
}

/// RFC 8628 §3.4–3.5: one poll of the token endpoint with a device code.
///
/// Rules, in order: `device_code` present; the poll is recorded for this client
/// (none with this digest for this client: unknown, or another client's); not
/// consumed (single use); `now < expires_at`; then by status: `Pending` answers
/// `slow_down` if this poll came too soon, else `authorization_pending`; `Denied`
/// answers `access_denied`; `Approved`: the user exists, the tokens are signed with
/// `keys` (the current signing keys), the
/// code consumed and the refresh token stored, together (a lost race is
/// [`DeviceGrantReason::AlreadyUsed`]).
///
/// The tokens are those of the authorization code grant for the same user: the
/// access token with `sub` = the approving user, `aud` = the requested resources, else
/// the client's first audience, else UserInfo, `scope` = the authorization's scopes;
/// an id_token for `openid` (no `nonce`: there was no authorization request to carry
/// one; `auth_time` = when the user logged in to approve); a refresh token when
/// [`issues_refresh_token`] says so, first of the family
/// [`family_of_device_code`]`(device code digest)`.
///
/// DPoP (RFC 9449 §5): with `dpop` (the key of the request's verified proof) the access
/// token is bound to that key (`cnf.jkt`, `token_type` DPoP), and so is a public
/// client's refresh token.
///
/// # Errors
/// [`DeviceGrantReason`] (as [`GrantError::Refused`]); store, key or CSPRNG failures.
pub async fn issue(
    endpoint: &TokenEndpoint,
    keys: &KeyRing,
    authenticated: &AuthenticatedClient,
    request: &TokenRequest,
    dpop: Option<&DpopBinding>,
    now: UnixTime,
) -> Result<TokenSuccess, GrantError<DeviceGrantReason>> {
    let client = authenticated.client();
    let device_code = request
        .device_code
        .as_deref()
        .ok_or(DeviceGrantReason::MissingDeviceCode)?;
    let digest = SecretDigest::of(device_code);
    let store = endpoint.store.as_ref();
    let Some(poll) = store
        .device_authorization_poll(&digest, &client.client_id, now)
        .await?
    else {
        // Only to name the reason in the log; both answer `invalid_grant` alike.
        let exists = store.device_authorization_get(&digest).await?.is_some();
        return Err(if exists {
            DeviceGrantReason::WrongClient
        } else {
            DeviceGrantReason::UnknownDeviceCode
        }
        .into());
    };
    let authorization = poll.authorization;
    let (user_id, auth_time) = approval(&authorization, poll.too_fast, now)?;
    let user = store
        .user_get(&user_id)
        .await?
        .ok_or(DeviceGrantReason::UnknownUser)?;
    if user.disabled_at.is_some() {
        return Err(DeviceGrantReason::UserDisabled.into());
    }

    let tokens = sign_user_tokens(
        endpoint,
        keys,
        UserTokenGrant {
            client,
            user: &user,
            scopes: &authorization.scopes,
            audiences: access_token_audiences(&authorization.resources, client, &endpoint.issuer),
            auth_time,
            nonce: None,
            dpop,
        },
        now,
    )?;
    let scopes: Vec<String> = authorization.scopes.iter().cloned().collect();
    let refresh_token = if issues_refresh_token(client, &authorization.scopes) {
        Some(mint_refresh_token(
            RefreshTokenGrant {
                family_id: &family_of_device_code(&digest),
                client_id: &client.client_id,
                user_id: &user.user_id,
                scopes: &scopes,
                resources: &authorization.resources,
                auth_time,
                dpop_jkt: public_refresh_binding(client, dpop),
            },
            endpoint.refresh_token_ttl,
            now,
        )?)
    } else {
        None
    };
    let consumed = store
        .device_authorization_consume(
            &digest,
            now,
            refresh_token.as_ref().map(|issued| &issued.record),
            &tokens.access.claims.jti,
            tokens.access.claims.exp,
        )
        .await?;
    if !consumed {
        return Err(DeviceGrantReason::AlreadyUsed.into());
    }
    Ok(tokens.into_success(
        endpoint,
        &client.client_id,
        user.user_id,
        GrantType::DeviceCode,
        refresh_token.as_ref().map(|issued| &issued.token),
    ))
}

/// The refresh token family of a device authorization: the hex SHA-256 digest of its
/// device code, derived like [`family_of_code`] (both codes are 256-bit random, so the
/// two kinds of family ids never collide).
pub fn family_of_device_code(device_code_digest: &SecretDigest) -> String {
    family_of_code(device_code_digest)
}

/// The approving user and their `auth_time`, if the polled authorization can be
/// redeemed at `now`; otherwise the answer to the poll (see [`issue`] for the order).
fn approval(
    authorization: &DeviceAuthorization,
    too_fast: bool,
    now: UnixTime,
) -> Result<(String, UnixTime), DeviceGrantReason> {
    if authorization.consumed_at.is_some() {
        return Err(DeviceGrantReason::AlreadyUsed);
    }
    if now >= authorization.expires_at {
        return Err(DeviceGrantReason::Expired);
    }
    match &authorization.status {
        DeviceAuthorizationStatus::Pending if too_fast => Err(DeviceGrantReason::SlowDown {
            interval: authorization.interval,
        }),
        DeviceAuthorizationStatus::Pending => Err(DeviceGrantReason::AuthorizationPending),
        DeviceAuthorizationStatus::Denied => Err(DeviceGrantReason::AccessDenied),
        DeviceAuthorizationStatus::Approved { user_id, auth_time } => {
            Ok((user_id.clone(), *auth_time))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::authorization::IssuedDeviceAuthorization;
    use crate::grants::fixture::*;
    use crate::tokens::access_token::verify;
    use crate::tokens::id_token::{at_hash, verify_id_token_hint};
    use portcullis_proto::ErrorCode;
    use portcullis_proto::claims::Audience;
    use secrecy::ExposeSecret;

    fn reason(result: Result<TokenSuccess, TokenError>) -> (DeviceGrantReason, ErrorCode) {
        let error = result.unwrap_err();
        let code = ErrorCode::from(&error);
        match error.reason {
            TokenErrorReason::DeviceCode(reason) => (reason, code),
            other => panic!("expected a device grant reason, got {other:?}"),
        }
    }

    fn code_of(issued: &IssuedDeviceAuthorization) -> &str {
        issued.device_code.expose_secret()
    }

    async fn stored(f: &Fixture, issued: &IssuedDeviceAuthorization) -> DeviceAuthorization {
        f.store
            .device_authorization_get(&SecretDigest::of(code_of(issued)))
            .await
            .unwrap()
            .unwrap()
    }

    #[tokio::test]
    async fn rejects_a_missing_device_code() {
        let f = Fixture::new().await;
        let request = TokenRequest {
            grant_type: Some(DEVICE_GRANT.into()),
            client_id: Some("tv".into()),
            ..Default::default()
        };
        let result = token_request(&f.endpoint(), &f.ring, None, None, request, None, NOW).await;
        assert_eq!(
            reason(result),
            (
                DeviceGrantReason::MissingDeviceCode,
                ErrorCode::InvalidRequest
            )
        );
    }

    #[tokio::test]
    async fn rejects_an_unknown_device_code() {
        let f = Fixture::new().await;
        let result = f.poll_device("tv", "not-a-device-code", NOW).await;
        assert_eq!(
            reason(result),
            (
                DeviceGrantReason::UnknownDeviceCode,
                ErrorCode::InvalidGrant
            )
        );
    }

    #[tokio::test]
    async fn rejects_another_clients_device_code_without_touching_it() {
        let f = Fixture::new().await;
        let issued = f.start_device("tv", "openid").await;
        f.decide_device(&issued, true).await;
        let error = f
            .poll_device("box", code_of(&issued), NOW + 1)
            .await
            .unwrap_err();
        // The same wire answer as an unknown code.
        assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidGrant);
        assert_eq!(error.description(), "the device code is invalid");
        assert!(matches!(
            error.reason,
            TokenErrorReason::DeviceCode(DeviceGrantReason::WrongClient)
        ));
        let row = stored(&f, &issued).await;
        assert_eq!((row.last_polled_at, row.consumed_at), (None, None));
        // The owner still redeems it.
        assert!(f.poll_device("tv", code_of(&issued), NOW + 1).await.is_ok());
    }

    #[tokio::test]
    async fn rejects_a_client_not_registered_for_the_device_grant() {
        let f = Fixture::new().await;
        let issued = f.start_device("tv", "openid").await;
        let error = f
            .poll_device("native", code_of(&issued), NOW)
            .await
            .unwrap_err();
        assert!(matches!(
            error.reason,
            TokenErrorReason::UnauthorizedClient(DEVICE_GRANT)
        ));
        assert_eq!(ErrorCode::from(&error), ErrorCode::UnauthorizedClient);
    }

    #[tokio::test]
    async fn answers_authorization_pending_until_the_user_decides() {
        let f = Fixture::new().await;
        let issued = f.start_device("tv", "openid").await;
        for now in [NOW, NOW + 5, NOW + 10] {
            let (reason, wire) = reason(f.poll_device("tv", code_of(&issued), now).await);
            assert_eq!(
                (reason, wire),
                (
                    DeviceGrantReason::AuthorizationPending,
                    ErrorCode::AuthorizationPending
                ),
                "at {now}"
            );
        }
        assert_eq!(stored(&f, &issued).await.last_polled_at, Some(NOW + 10));
    }

    #[tokio::test]
    async fn answers_slow_down_and_grows_the_interval() {
        let f = Fixture::new().await;
        let issued = f.start_device("tv", "openid").await;
        let poll = |now| f.poll_device("tv", code_of(&issued), now);
        assert_eq!(
            reason(poll(NOW).await).0,
            DeviceGrantReason::AuthorizationPending
        );
        // One second short of the interval.
        let error = poll(NOW + DEVICE_INTERVAL - 1).await.unwrap_err();
        assert_eq!(ErrorCode::from(&error), ErrorCode::SlowDown);
        assert_eq!(
            error.description(),
            "polling too fast: wait at least 10 seconds between requests (the interval grew by 5)"
        );
        assert!(matches!(
            error.reason,
            TokenErrorReason::DeviceCode(DeviceGrantReason::SlowDown { interval: 10 })
        ));
        // The new interval holds: 9 s later is still too fast, 10 s more is fine.
        let last = NOW + DEVICE_INTERVAL - 1;
        assert_eq!(
            reason(poll(last + 9).await).0,
            DeviceGrantReason::SlowDown { interval: 15 }
        );
        assert_eq!(
            reason(poll(last + 9 + 15).await).0,
            DeviceGrantReason::AuthorizationPending
        );
        assert_eq!(stored(&f, &issued).await.interval, 15);
    }

    #[tokio::test]
    async fn rejects_a_denied_request() {
        let f = Fixture::new().await;
        let issued = f.start_device("tv", "openid").await;
        f.decide_device(&issued, false).await;
        // Even polled too fast: the answer is final.
        for now in [NOW, NOW] {
            assert_eq!(
                reason(f.poll_device("tv", code_of(&issued), now).await),
                (DeviceGrantReason::AccessDenied, ErrorCode::AccessDenied)
            );
        }
    }

    #[tokio::test]
    async fn rejects_an_expired_device_code() {
        let f = Fixture::new().await;
        let issued = f.start_device("tv", "openid").await;
        let expires_at = NOW + DEVICE_TTL;
        assert_eq!(
            reason(f.poll_device("tv", code_of(&issued), expires_at - 1).await).0,
            DeviceGrantReason::AuthorizationPending
        );
        for now in [expires_at, expires_at + 1] {
            assert_eq!(
                reason(f.poll_device("tv", code_of(&issued), now + 100).await),
                (DeviceGrantReason::Expired, ErrorCode::ExpiredToken),
                "at {now}"
            );
        }
        // Approved but never redeemed in time: expired as well.
        let approved = f.start_device("tv", "openid").await;
        f.decide_device(&approved, true).await;
        assert_eq!(
            reason(f.poll_device("tv", code_of(&approved), expires_at).await).0,
            DeviceGrantReason::Expired
        );
    }

    #[tokio::test]
    async fn issues_tokens_for_the_approving_user_with_a_refresh_token_and_an_id_token() {
        let f = Fixture::new().await;
        let issued = f
            .start_device("tv", "openid profile offline_access read")
            .await;
        f.decide_device(&issued, true).await;
        let success = f
            .poll_device("tv", code_of(&issued), NOW + 7)
            .await
            .unwrap();
        assert_eq!(success.grant_type, GrantType::DeviceCode);
        assert_eq!(
            (success.client_id.as_str(), success.subject.as_str()),
            ("tv", SUB)
        );
        let response = &success.response;
        assert_eq!(response.token_type, "Bearer");
        assert_eq!(response.expires_in, 900);
        assert_eq!(
            response.scope.as_deref(),
            Some("offline_access openid profile read")
        );

        let access = verify(&f.ring, ISS, &response.access_token, NOW + 7).unwrap();
        assert_eq!(
            (access.sub.as_str(), access.client_id.as_str()),
            (SUB, "tv")
        );
        assert_eq!(access.jti, success.jti);
        // No resource requested: the client's first audience.
        assert_eq!(access.aud, Audience::One(API.into()));
        assert_eq!(access.extra.get("tier"), Some(&serde_json::json!("user")));

        let id = verify_id_token_hint(&f.ring, ISS, response.id_token.as_deref().unwrap()).unwrap();
        assert_eq!((id.sub.as_str(), id.aud.as_str()), (SUB, "tv"));
        assert_eq!((id.iat, id.auth_time), (NOW + 7, NOW - 30));
        assert_eq!(id.nonce, None);
        assert_eq!(id.at_hash, Some(at_hash(&response.access_token)));

        let refresh = response.refresh_token.as_deref().unwrap();
        let record = f
            .store
            .refresh_token_get(&SecretDigest::of(refresh))
            .await
            .unwrap()
            .unwrap();
        let digest = SecretDigest::of(code_of(&issued));
        assert_eq!(record.family_id, family_of_device_code(&digest));
        assert_eq!(
            (record.client_id.as_str(), record.user_id.as_str()),
            ("tv", SUB)
        );
        assert_eq!(
            record.scopes,
            ["offline_access", "openid", "profile", "read"]
        );
        assert_eq!(
            (record.auth_time, record.created_at, record.expires_at),
            (NOW - 30, NOW + 7, NOW + 7 + REFRESH_TTL)
        );
        assert_eq!(
            f.store.access_token_family(&success.jti).await.unwrap(),
            Some(record.family_id)
        );
        assert_eq!(stored(&f, &issued).await.consumed_at, Some(NOW + 7));

        // The refresh token works like any other.
        let refreshed = f.refresh("tv", refresh, None, NOW + 60).await.unwrap();
        assert_eq!(refreshed.subject, SUB);
    }

    #[tokio::test]
    async fn the_tokens_carry_the_requested_resources() {
        let f = Fixture::new().await;
        let request = portcullis_proto::device::DeviceAuthorizationRequest {
            client_id: Some("tv".into()),
            scope: Some("read".into()),
            resource: vec!["https://b.example".into()],
            ..Default::default()
        };
        let issued = crate::device::authorization::device_authorization_request(
            &f.device_endpoint(),
            None,
            None,
            request,
            NOW,
        )
        .await
        .unwrap();
        f.decide_device(&issued, true).await;
        let success = f.poll_device("tv", code_of(&issued), NOW).await.unwrap();
        let access = verify(&f.ring, ISS, &success.response.access_token, NOW).unwrap();
        assert_eq!(access.aud, Audience::One("https://b.example".into()));
        // Plain OAuth, no openid: no id_token; a refresh token (the client has the grant).
        assert_eq!(success.response.id_token, None);
        assert!(success.response.refresh_token.is_some());
    }

    #[tokio::test]
    async fn refresh_tokens_follow_the_issuance_rule() {
        let f = Fixture::new().await;
        let redeem = |client: &'static str, scope: &'static str| {
            let f = &f;
            async move {
                let issued = f.start_device(client, scope).await;
                f.decide_device(&issued, true).await;
                f.poll_device(client, code_of(&issued), NOW)
                    .await
                    .unwrap()
                    .response
            }
        };
        // A public OpenID client needs offline_access.
        assert_eq!(redeem("tv", "openid profile").await.refresh_token, None);
        // A client without the refresh_token grant never gets one.
        let no_grant = redeem("box", "openid read").await;
        assert_eq!(no_grant.refresh_token, None);
        assert!(no_grant.id_token.is_some());
        assert_eq!(redeem("box", "read").await.id_token, None);
        // A confidential OpenID client gets one without offline_access.
        let request = portcullis_proto::device::DeviceAuthorizationRequest {
            scope: Some("openid".into()),
            ..Default::default()
        };
        let issued = crate::device::authorization::device_authorization_request(
            &f.device_endpoint(),
            Some(&basic("kiosk", SECRET)),
            None,
            request,
            NOW,
        )
        .await
        .unwrap();
        f.decide_device(&issued, true).await;
        let poll = TokenRequest {
            grant_type: Some(DEVICE_GRANT.into()),
            device_code: Some(code_of(&issued).into()),
            ..Default::default()
        };
        let success = token_request(
            &f.endpoint(),
            &f.ring,
            Some(&basic("kiosk", SECRET)),
            None,
            poll,
            None,
            NOW,
        )
        .await
        .unwrap();
        assert!(success.response.refresh_token.is_some());
    }

    #[tokio::test]
    async fn an_approved_code_polled_too_fast_is_still_redeemed() {
        let f = Fixture::new().await;
        let issued = f.start_device("tv", "openid").await;
        assert_eq!(
            reason(f.poll_device("tv", code_of(&issued), NOW).await).0,
            DeviceGrantReason::AuthorizationPending
        );
        f.decide_device(&issued, true).await;
        // One second after the previous poll: slow_down is only for pending codes.
        let success = f
            .poll_device("tv", code_of(&issued), NOW + 1)
            .await
            .unwrap();
        assert_eq!(success.subject, SUB);
        // The poll was still recorded as too fast.
        assert_eq!(stored(&f, &issued).await.interval, DEVICE_INTERVAL + 5);
    }

    #[tokio::test]
    async fn rejects_a_device_code_used_twice() {
        let f = Fixture::new().await;
        let issued = f.start_device("tv", "openid offline_access").await;
        f.decide_device(&issued, true).await;
        let first = f.poll_device("tv", code_of(&issued), NOW).await.unwrap();
        for now in [NOW + 10, NOW + DEVICE_TTL + 1] {
            assert_eq!(
                reason(f.poll_device("tv", code_of(&issued), now).await),
                (DeviceGrantReason::AlreadyUsed, ErrorCode::InvalidGrant)
            );
        }
        // A replay revokes nothing: the tokens of the first redemption stay good.
        assert!(!f.store.access_token_is_revoked(&first.jti).await.unwrap());
        let refresh = first.response.refresh_token.unwrap();
        assert!(f.refresh("tv", &refresh, None, NOW + 20).await.is_ok());
    }

    #[tokio::test]
    async fn a_lost_redemption_race_writes_no_refresh_token() {
        let f = Fixture::new().await;
        let issued = f.start_device("tv", "openid offline_access").await;
        f.decide_device(&issued, true).await;
        f.store.consume_device_after_next_poll(NOW);
        assert_eq!(
            reason(f.poll_device("tv", code_of(&issued), NOW).await),
            (DeviceGrantReason::AlreadyUsed, ErrorCode::InvalidGrant)
        );
        let family = family_of_device_code(&SecretDigest::of(code_of(&issued)));
        assert_eq!(
            f.store.refresh_family_revoke(&family, NOW).await.unwrap(),
            0
        );
    }

    #[tokio::test]
    async fn a_refresh_token_that_cannot_be_stored_does_not_burn_the_code() {
        let f = Fixture::new().await;
        let issued = f.start_device("tv", "openid offline_access").await;
        f.decide_device(&issued, true).await;
        f.store.conflict_on_next_refresh_insert();
        let error = f
            .poll_device("tv", code_of(&issued), NOW)
            .await
            .unwrap_err();
        assert!(
            matches!(error.reason, TokenErrorReason::Store(_)),
            "{:?}",
            error.reason
        );
        // The consume and the insert are one transaction: nothing was consumed ...
        assert_eq!(stored(&f, &issued).await.consumed_at, None);
        // ... so the device's next poll gets its tokens.
        let success = f
            .poll_device("tv", code_of(&issued), NOW + DEVICE_INTERVAL)
            .await
            .unwrap();
        assert!(success.response.refresh_token.is_some());
    }

    #[tokio::test]
    async fn rejects_a_device_code_whose_user_was_deleted() {
        let f = Fixture::new().await;
        let issued = f.start_device("tv", "openid").await;
        f.decide_device(&issued, true).await;
        assert!(f.store.user_delete("alice").await.unwrap());
        assert_eq!(
            reason(f.poll_device("tv", code_of(&issued), NOW).await),
            (DeviceGrantReason::UnknownUser, ErrorCode::InvalidGrant)
        );
        // Nothing was consumed.
        assert_eq!(stored(&f, &issued).await.consumed_at, None);
    }

    #[test]
    fn discovery_advertises_the_device_grant() {
        assert!(SUPPORTED_GRANT_TYPES.contains(&GrantType::DeviceCode));
    }
}
