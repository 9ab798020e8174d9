//! Audit events: one structured event per security-relevant action, on the `audit`
//! log target (filter with `RUST_LOG=audit=info`). Fields: `event`, `outcome`,
//! `client_id`, `subject`, `request_id` (events of a request) or `actor` (changes made
//! by the configuration, the CLI or `--dev`), and what the event concerns. Never a
//! secret, token or code: access tokens are identified by `jti`.

use portcullis_core::device::authorization::{
    DeviceAuthorizationError, DeviceAuthorizationReason, IssuedDeviceAuthorization,
};
use portcullis_core::grants::device_code::DeviceGrantReason;
use portcullis_core::grants::token_endpoint::{TokenError, TokenErrorReason, TokenSuccess};
use portcullis_proto::ErrorCode;

/// Log target for audit events.
pub const TARGET: &str = "audit";

/// The audit event of a token request's outcome: [`token_issued`],
/// [`client_authentication_failed`] or [`token_refused`]. Not audited: server-side
/// failures (logged as faults where the answer is made) and RFC 8628 §3.5
/// `authorization_pending` (a device waiting for its user is the normal course of the
/// flow, several times a minute per device: a debug line).
pub fn token_outcome(request_id: &str, outcome: &Result<TokenSuccess, TokenError>) {
    let error = match outcome {
        Ok(issued) => {
            return token_issued(
                request_id,
                &issued.client_id,
                &issued.subject,
                issued.grant_type.as_str(),
                &issued.jti,
                issued.response.scope.as_deref(),
            );
        }
        Err(error) => error,
    };
    let client_id = error.unverified_client_id.as_deref();
    match &error.reason {
        TokenErrorReason::ClientAuth(reason) => {
            client_authentication_failed(request_id, client_id, reason.audit_code());
        }
        reason if reason.is_server_side() => {}
        TokenErrorReason::DeviceCode(DeviceGrantReason::AuthorizationPending) => {
            let client_id = client_id.unwrap_or("");
            tracing::debug!(request_id, client_id, "device authorization pending");
        }
        reason => token_refused(
            request_id,
            client_id,
            ErrorCode::from(error).as_str(),
            &reason.to_string(),
        ),
    }
}

/// An access token was issued.
pub fn token_issued(
    request_id: &str,
    client_id: &str,
    subject: &str,
    grant_type: &str,
    jti: &str,
    scope: Option<&str>,
) {
    crate::app::metrics::token_issued(grant_type);
    tracing::info!(
        target: TARGET,
        event = "token_issued",
        outcome = "success",
        request_id,
        client_id,
        subject,
        grant_type,
        jti,
        scope = scope.unwrap_or(""),
    );
}

/// Client authentication failed at the token endpoint. `client_id` is as claimed;
/// `reason` is a code such as `unknown_client`, `wrong_secret`, `method_not_registered`.
pub fn client_authentication_failed(request_id: &str, client_id: Option<&str>, reason: &str) {
    tracing::warn!(
        target: TARGET,
        event = "client_authentication_failed",
        outcome = "failure",
        request_id,
        client_id = client_id.unwrap_or(""),
        reason,
    );
}

/// A token request from an authenticated client was refused (scope, target, grant).
pub fn token_refused(request_id: &str, client_id: Option<&str>, error: &str, reason: &str) {
    tracing::info!(
        target: TARGET,
        event = "token_refused",
        outcome = "failure",
        request_id,
        client_id = client_id.unwrap_or(""),
        error,
        reason,
    );
}

/// A client was created, updated, deleted or had its secret rotated. `actor` is who
/// did it outside a request: `config`, `cli`, `dev` or `startup`.
pub fn client_changed(actor: &str, client_id: &str, action: &str) {
    tracing::info!(target: TARGET, event = "client_changed", outcome = "success", actor, client_id, action);
}

/// A registered resource was created, updated or deleted (`actor` as for clients).
pub fn resource_changed(actor: &str, identifier: &str, action: &str) {
    tracing::info!(target: TARGET, event = "resource_changed", outcome = "success", actor, resource = identifier, action);
}

/// A user was created, updated or deleted.
pub fn user_changed(actor: &str, username: &str, action: &str) {
    tracing::info!(target: TARGET, event = "user_changed", outcome = "success", actor, subject = username, action);
}

/// An administrator revoked what a user, a client or a session holds (incident
/// response, a password change): the counts of what ended.
pub fn tokens_revoked(
    actor: &str,
    subject: &str,
    issued_after: Option<i64>,
    sessions: u64,
    refresh_families: u64,
    access_tokens: u64,
) {
    tracing::info!(target: TARGET, event = "tokens_revoked", outcome = "success", actor, subject, issued_after = issued_after.unwrap_or(0), sessions, refresh_families, access_tokens);
}

/// A signing key was generated, rotated or purged.
pub fn key_changed(actor: &str, kid: &str, alg: &str, action: &str) {
    tracing::info!(target: TARGET, event = "key_changed", outcome = "success", actor, kid, alg, action);
}

/// A user signed in on the login page.
pub fn login_succeeded(request_id: &str, client_id: &str, subject: &str) {
    tracing::info!(target: TARGET, event = "login", outcome = "success", request_id, client_id, subject);
}

/// A sign-in failed. `username` is as typed (bounded); `reason` is `unknown_user`,
/// `wrong_password`, `user_disabled` or `throttled` (the page says the same thing for
/// the first three).
pub fn login_failed(request_id: &str, client_id: &str, username: &str, reason: &str) {
    crate::app::metrics::login_failed(reason);
    let username = portcullis_proto::error::echo(username);
    tracing::warn!(target: TARGET, event = "login", outcome = "failure", request_id, client_id, username, reason);
}

/// The user approved or denied a client's scopes on the consent page.
pub fn consent_decided(
    request_id: &str,
    client_id: &str,
    subject: &str,
    decision: &str,
    scope: &str,
) {
    tracing::info!(target: TARGET, event = "consent", outcome = decision, request_id, client_id, subject, scope);
}

/// An authorization code was issued (the code itself is never logged).
pub fn authorization_code_issued(request_id: &str, client_id: &str, subject: &str, scope: &str) {
    tracing::info!(target: TARGET, event = "authorization_code_issued", outcome = "success", request_id, client_id, subject, scope);
}

/// A browser session ended (RP-initiated logout or the sign-out page).
pub fn logout(request_id: &str, subject: &str, client_id: Option<&str>) {
    tracing::info!(target: TARGET, event = "logout", outcome = "success", request_id, subject, client_id = client_id.unwrap_or(""));
}

/// A client revoked a token (RFC 7009): `what` is `refresh_token_family`,
/// `access_token` or `nothing` (unknown, or another client's).
pub fn token_revoked(request_id: &str, client_id: &str, what: &str) {
    tracing::info!(target: TARGET, event = "token_revoked", outcome = "success", request_id, client_id, revoked = what);
}

/// RFC 8628 §3.2: a device authorization was created for `client_id` (neither the
/// device code nor the user code is logged).
pub fn device_authorization_issued(request_id: &str, client_id: &str, scope: &str) {
    tracing::info!(target: TARGET, event = "device_authorization_issued", outcome = "success", request_id, client_id, scope);
}

/// The audit event of a device authorization request's outcome:
/// [`device_authorization_issued`], [`client_authentication_failed`] or
/// [`device_authorization_refused`]. Server-side failures are not audited (they are
/// logged as faults where the answer is made).
pub fn device_authorization_outcome(
    request_id: &str,
    outcome: &Result<IssuedDeviceAuthorization, DeviceAuthorizationError>,
) {
    let error = match outcome {
        Ok(issued) => {
            let scope = issued.scopes.iter().cloned().collect::<Vec<_>>().join(" ");
            return device_authorization_issued(request_id, &issued.client_id, &scope);
        }
        Err(error) => error,
    };
    let client_id = error.unverified_client_id.as_deref();
    match &error.reason {
        DeviceAuthorizationReason::ClientAuth(reason) => {
            client_authentication_failed(request_id, client_id, reason.audit_code());
        }
        reason if reason.is_server_side() => {}
        reason => device_authorization_refused(
            request_id,
            client_id,
            ErrorCode::from(error).as_str(),
            &reason.to_string(),
        ),
    }
}

/// A device authorization request was refused (client, grant, scope, target).
pub fn device_authorization_refused(
    request_id: &str,
    client_id: Option<&str>,
    error: &str,
    reason: &str,
) {
    tracing::info!(
        target: TARGET,
        event = "device_authorization_refused",
        outcome = "failure",
        request_id,
        client_id = client_id.unwrap_or(""),
        error,
        reason,
    );
}

/// A user code typed on the verification page was refused: `reason` is
/// `unknown_or_expired` or `throttled` (RFC 8628 §5.1; the code is never logged).
pub fn user_code_refused(request_id: &str, reason: &str) {
    crate::app::metrics::user_code_refused(reason);
    tracing::warn!(target: TARGET, event = "user_code", outcome = "failure", request_id, reason);
}

/// The user approved or denied a device authorization (RFC 8628 §3.3).
pub fn device_authorization_decided(
    request_id: &str,
    client_id: &str,
    subject: &str,
    decision: &str,
    scope: &str,
) {
    tracing::info!(target: TARGET, event = "device_authorization_decided", outcome = decision, request_id, client_id, subject, scope);
}
