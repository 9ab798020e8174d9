//! What happens next for a validated request in this browser (OIDC Core §3.1.2.3–
//! 3.1.2.4): log in, approve, or receive the code. Pure: the caller supplies who is
//! logged in, what they approved before, and `now`.

use super::request::{AuthorizeReason, ValidatedAuthorizationRequest};
use crate::UnixTime;
use crate::client::Client;
use std::collections::BTreeSet;

/// Who is logged in, and since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authentication {
    /// The user (`sub`).
    pub user_id: String,
    /// When they entered their password (OIDC `auth_time`).
    pub auth_time: UnixTime,
    /// Whether they logged in during this authorization request (then `prompt=login`
    /// and `max_age` are satisfied, whatever the clock says).
    pub during_this_request: bool,
}

/// The next step of the flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextStep {
    /// Show the login page.
    Login,
    /// Show the consent page for these scopes.
    Consent {
        /// The scopes to show: the requested ones not approved before (incremental
        /// authorization), or all requested ones with `prompt=consent`.
        scopes_to_approve: BTreeSet<String>,
    },
    /// Issue the code and redirect.
    IssueCode,
}

/// Decides the next step.
///
/// - Login (OIDC Core §3.1.2.3) when nobody is logged in; or, unless the user logged in
///   during this request, when `prompt=login`, or when `max_age` is set and more than
///   `max_age` seconds passed since `auth_time` (`max_age=0` always asks: OIDC Core
///   errata, "max_age=0 is equivalent to prompt=login").
/// - Then consent (§3.1.2.4) unless the client is first-party (`skip_consent`): when a
///   requested scope was not approved before, or `prompt=consent`.
/// - With `prompt=none` either page is an error instead (§3.1.2.6).
///
/// # Errors
/// [`AuthorizeReason::LoginRequired`] or [`AuthorizeReason::ConsentRequired`] with
/// `prompt=none`; the caller sends it with [`super::request::RedirectError::new`].
pub fn next_step(
    request: &ValidatedAuthorizationRequest,
    client: &Client,
    authentication: Option<&Authentication>,
    approved: &BTreeSet<String>,
    now: UnixTime,
) -> Result<NextStep, AuthorizeReason> {
    let needs_login = match authentication {
        None => true,
        Some(a) if a.during_this_request => false,
        Some(a) => {
            let too_old = request
                .max_age()
                .is_some_and(|max_age| max_age == 0 || now.saturating_sub(a.auth_time) > max_age);
            request.prompt().login || too_old
        }
    };
    if needs_login {
        return if request.prompt().none {
            Err(AuthorizeReason::LoginRequired)
        } else {
            Ok(NextStep::Login)
        };
    }
    // A second guard: a self-registered client can never carry `skip_consent` (its
    // registration refuses it), and is never let past consent if a record said so.
    if client.skip_consent && !client.is_self_registered() {
        return Ok(NextStep::IssueCode);
    }
    let scopes_to_approve: BTreeSet<String> = if request.prompt().consent {
        request.scopes().clone()
    } else {
        request.scopes().difference(approved).cloned().collect()
    };
    if scopes_to_approve.is_empty() && !request.prompt().consent {
        return Ok(NextStep::IssueCode);
    }
    if request.prompt().none {
        return Err(AuthorizeReason::ConsentRequired);
    }
    Ok(NextStep::Consent { scopes_to_approve })
}

/// RFC 8628 §3.3: the next step of a device authorization being decided in the
/// browser. Login when nobody is logged in; otherwise the consent page with every
/// requested scope, always: even for a first-party client (`skip_consent`) and even if
/// the user approved these scopes before. Why (RFC 8628 §5.4, remote phishing): an
/// attacker can start a device flow and send the user its user code; only the consent
/// page, naming the client and showing the code to compare with the device's screen,
/// stops the user from authorizing the attacker's device unseen. Never
/// [`NextStep::IssueCode`]: the consent page records the decision on the device
/// authorization instead.
pub fn device_next_step(
    authentication: Option<&Authentication>,
    request: &ValidatedAuthorizationRequest,
) -> NextStep {
    match authentication {
        None => NextStep::Login,
        Some(_) => NextStep::Consent {
            scopes_to_approve: request.scopes().clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorization::request::{Prompt, StoredAuthorizationRequest};
    use crate::client::{ClientRegistration, RecordSource};

    const NOW: UnixTime = 1_800_000_000;

    fn client(skip_consent: bool) -> Client {
        ClientRegistration {
            client_id: "app".into(),
            redirect_uris: vec!["https://app.example/cb".into()],
            scopes: vec!["openid".into(), "profile".into(), "email".into()],
            skip_consent,
            ..Default::default()
        }
        .validate(RecordSource::Config, 0)
        .unwrap()
    }

    fn request(
        scopes: &[&str],
        prompt: Prompt,
        max_age: Option<i64>,
    ) -> ValidatedAuthorizationRequest {
        ValidatedAuthorizationRequest::from_stored(StoredAuthorizationRequest {
            client_id: "app".into(),
            redirect_uri: "https://app.example/cb".into(),
            redirect_uri_sent: true,
            scopes: set(scopes),
            state: None,
            nonce: None,
            code_challenge: None,
            resources: vec![],
            prompt,
            max_age,
            login_hint: None,
            dpop_jkt: None,
        })
        .unwrap()
    }

    fn set(scopes: &[&str]) -> BTreeSet<String> {
        scopes.iter().map(|s| (*s).to_owned()).collect()
    }

    fn session(auth_time: UnixTime) -> Authentication {
        Authentication {
            user_id: "u1".into(),
            auth_time,
            during_this_request: false,
        }
    }

    fn fresh(auth_time: UnixTime) -> Authentication {
        Authentication {
            during_this_request: true,
            ..session(auth_time)
        }
    }

    const NONE: Prompt = Prompt {
        none: true,
        login: false,
        consent: false,
    };
    const LOGIN: Prompt = Prompt {
        none: false,
        login: true,
        consent: false,
    };
    const CONSENT: Prompt = Prompt {
        none: false,
        login: false,
        consent: true,
    };

    #[test]
    fn nobody_logged_in_needs_login() {
        let r = request(&["openid"], Prompt::default(), None);
        assert_eq!(
            next_step(&r, &client(false), None, &set(&[]), NOW),
            Ok(NextStep::Login)
        );
    }

    #[test]
    fn rejects_prompt_none_without_a_session() {
        let r = request(&["openid"], NONE, None);
        let e = next_step(&r, &client(false), None, &set(&[]), NOW).unwrap_err();
        assert_eq!(e, AuthorizeReason::LoginRequired);
        assert_eq!(
            portcullis_proto::ErrorCode::from(&e),
            portcullis_proto::ErrorCode::LoginRequired
        );
    }

    #[test]
    fn a_session_with_approved_scopes_gets_the_code() {
        let r = request(&["openid", "profile"], Prompt::default(), None);
        let a = session(NOW - 10_000);
        assert_eq!(
            next_step(
                &r,
                &client(false),
                Some(&a),
                &set(&["openid", "profile", "email"]),
                NOW
            ),
            Ok(NextStep::IssueCode)
        );
    }

    #[test]
    fn prompt_login_forces_login_unless_it_happened_in_this_request() {
        let r = request(&["openid"], LOGIN, None);
        let approved = set(&["openid"]);
        assert_eq!(
            next_step(&r, &client(false), Some(&session(NOW)), &approved, NOW),
            Ok(NextStep::Login)
        );
        assert_eq!(
            next_step(&r, &client(false), Some(&fresh(NOW)), &approved, NOW),
            Ok(NextStep::IssueCode)
        );
    }

    #[test]
    fn max_age_boundaries() {
        let r = request(&["openid"], Prompt::default(), Some(300));
        let approved = set(&["openid"]);
        let c = client(false);
        // Exactly max_age seconds old: still good; one more second: log in again.
        for (age, expected) in [
            (299, NextStep::IssueCode),
            (300, NextStep::IssueCode),
            (301, NextStep::Login),
        ] {
            assert_eq!(
                next_step(&r, &c, Some(&session(NOW - age)), &approved, NOW),
                Ok(expected),
                "age {age}"
            );
        }
        // A login during this request satisfies max_age however the clock moved.
        assert_eq!(
            next_step(&r, &c, Some(&fresh(NOW - 301)), &approved, NOW),
            Ok(NextStep::IssueCode)
        );
    }

    #[test]
    fn max_age_zero_always_asks_for_a_login() {
        let r = request(&["openid"], Prompt::default(), Some(0));
        let approved = set(&["openid"]);
        assert_eq!(
            next_step(&r, &client(false), Some(&session(NOW)), &approved, NOW),
            Ok(NextStep::Login)
        );
        assert_eq!(
            next_step(&r, &client(false), Some(&fresh(NOW)), &approved, NOW),
            Ok(NextStep::IssueCode)
        );
    }

    #[test]
    fn rejects_prompt_none_when_max_age_is_exceeded() {
        let r = request(&["openid"], NONE, Some(300));
        assert_eq!(
            next_step(
                &r,
                &client(false),
                Some(&session(NOW - 301)),
                &set(&["openid"]),
                NOW
            ),
            Err(AuthorizeReason::LoginRequired)
        );
    }

    #[test]
    fn consent_shows_only_new_scopes() {
        let r = request(&["openid", "profile", "email"], Prompt::default(), None);
        assert_eq!(
            next_step(
                &r,
                &client(false),
                Some(&session(NOW)),
                &set(&["openid"]),
                NOW
            ),
            Ok(NextStep::Consent {
                scopes_to_approve: set(&["email", "profile"])
            })
        );
    }

    #[test]
    fn prompt_consent_shows_every_requested_scope() {
        let r = request(&["openid", "profile"], CONSENT, None);
        assert_eq!(
            next_step(
                &r,
                &client(false),
                Some(&session(NOW)),
                &set(&["openid", "profile"]),
                NOW
            ),
            Ok(NextStep::Consent {
                scopes_to_approve: set(&["openid", "profile"])
            })
        );
    }

    #[test]
    fn rejects_prompt_none_when_consent_is_needed() {
        let r = request(&["openid", "profile"], NONE, None);
        let e = next_step(
            &r,
            &client(false),
            Some(&session(NOW)),
            &set(&["openid"]),
            NOW,
        )
        .unwrap_err();
        assert_eq!(e, AuthorizeReason::ConsentRequired);
        assert_eq!(
            portcullis_proto::ErrorCode::from(&e),
            portcullis_proto::ErrorCode::ConsentRequired
        );
    }

    #[test]
    fn prompt_none_with_session_and_consent_gets_the_code() {
        let r = request(&["openid"], NONE, None);
        assert_eq!(
            next_step(
                &r,
                &client(false),
                Some(&session(NOW)),
                &set(&["openid"]),
                NOW
            ),
            Ok(NextStep::IssueCode)
        );
    }

    #[test]
    fn first_party_clients_skip_consent() {
        let r = request(&["openid", "profile"], CONSENT, None);
        assert_eq!(
            next_step(&r, &client(true), Some(&session(NOW)), &set(&[]), NOW),
            Ok(NextStep::IssueCode)
        );
    }

    #[test]
    fn device_requests_need_a_login_then_always_consent() {
        let r = request(&["openid", "profile"], Prompt::default(), None);
        assert_eq!(device_next_step(None, &r), NextStep::Login);
        // Even with a session, earlier consent or a first-party client: the user must
        // see the client and compare the user code (RFC 8628 §5.4).
        for a in [session(NOW - 10_000), fresh(NOW)] {
            assert_eq!(
                device_next_step(Some(&a), &r),
                NextStep::Consent {
                    scopes_to_approve: set(&["openid", "profile"])
                }
            );
        }
    }
}
