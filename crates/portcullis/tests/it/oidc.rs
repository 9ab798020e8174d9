//! OpenID Connect with the `openidconnect` crate as the relying party (an independent
//! reading of OIDC Core, Discovery and RP-Initiated Logout): discovery, PKCE, nonce,
//! id_token verification against the JWKS from discovery (signature, `iss`, `aud`,
//! `exp`, `nonce`, `at_hash`), UserInfo; single sign-on, `prompt`, `max_age`, ES256
//! id_tokens, extra user claims.

use crate::flow::{
    self, ALICE, ALICE_PASSWORD, API, AuthRequest, BOB, BOB_PASSWORD, Browser, ES256_CLIENT,
    ES256_REDIRECT, FIRST_PARTY, FIRST_PARTY_REDIRECT, NATIVE, NATIVE_LOGOUT, NATIVE_REDIRECT,
    OidcHttp, location, redirect_params, user_id,
};
use crate::support::{TestApp, verify_access_token};
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreClient, CoreGenderClaim,
    CoreIdToken, CoreIdTokenClaims, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreResponseType, CoreTokenResponse,
};
use openidconnect::{
    AccessTokenHash, AdditionalClaims, AuthorizationCode, AuthorizationRequest, ClientId,
    CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdToken, IssuerUrl, LogoutRequest,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, PostLogoutRedirectUrl,
    ProviderMetadataWithLogout, RedirectUrl, Scope, TokenResponse, UserInfoClaims,
};
use portcullis_core::Clock;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

type RpClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The user's configured extra claim (`claims = { tenant_id = … }`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TenantClaims {
    tenant_id: Option<String>,
}
impl AdditionalClaims for TenantClaims {}

/// An id_token that also reads [`TenantClaims`].
type TenantIdToken = IdToken<
    TenantClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// A relying party configured from discovery.
struct Rp {
    client: RpClient,
    http: OidcHttp,
    metadata: ProviderMetadataWithLogout,
}

/// An authorization request the RP started: the URL, and what it keeps to check the
/// answer.
struct Started {
    url: url::Url,
    state: CsrfToken,
    nonce: Nonce,
    verifier: PkceCodeVerifier,
}

impl Rp {
    /// Discovers `app` (metadata, then the JWKS it names) and registers as `client_id`.
    async fn discover(app: &TestApp, client_id: &str, redirect_uri: &str) -> Self {
        let http = OidcHttp::new();
        let metadata = ProviderMetadataWithLogout::discover_async(
            IssuerUrl::new(app.base.clone()).unwrap(),
            &http,
        )
        .await
        .unwrap();
        let client = CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(client_id.to_owned()),
            None,
        )
        .set_redirect_uri(RedirectUrl::new(redirect_uri.to_owned()).unwrap());
        Self {
            client,
            http,
            metadata,
        }
    }

    /// An authorization URL with PKCE (S256), a random state and nonce, `openid` and
    /// `scopes`; `customize` adds prompt, max_age, …
    fn start(
        &self,
        scopes: &[&str],
        customize: impl FnOnce(
            AuthorizationRequest<'_, CoreAuthDisplay, CoreAuthPrompt, CoreResponseType>,
        ) -> AuthorizationRequest<
            '_,
            CoreAuthDisplay,
            CoreAuthPrompt,
            CoreResponseType,
        >,
    ) -> Started {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = self
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in scopes {
            request = request.add_scope(Scope::new((*scope).to_owned()));
        }
        let (url, state, nonce) = customize(request).url();
        Started {
            url,
            state,
            nonce,
            verifier,
        }
    }

    /// Checks the redirect (to our redirect URI, `state`, `iss`) and returns the code.
    fn code(&self, app: &TestApp, started: &Started, to: &str) -> String {
        let redirect_uri = self.client.redirect_uri().unwrap().as_str().to_owned();
        let params = redirect_params(to, &redirect_uri);
        assert_eq!(params.get("error"), None, "{to}");
        assert_eq!(&params["state"], started.state.secret());
        assert_eq!(params["iss"], app.base, "RFC 9207");
        params["code"].clone()
    }

    /// Redeems the code with the PKCE verifier (public client: `client_id` only).
    async fn exchange(&self, code: String, started: Started) -> (CoreTokenResponse, Nonce) {
        let token = self
            .client
            .exchange_code(AuthorizationCode::new(code))
            .unwrap()
            .set_pkce_verifier(started.verifier)
            .request_async(&self.http)
            .await
            .unwrap();
        (token, started.nonce)
    }

    /// Verifies the id_token with the crate's verifier (keys from discovery) and the
    /// nonce; checks `at_hash` against the access token; returns the claims.
    fn verify(&self, token: &CoreTokenResponse, nonce: &Nonce) -> CoreIdTokenClaims {
        let id_token: &CoreIdToken = token.id_token().expect("an id_token for openid");
        let verifier = self.client.id_token_verifier();
        let claims = id_token.claims(&verifier, nonce).unwrap().clone();
        // OIDC Core §3.1.3.6: at_hash, computed by the crate with the id_token's alg.
        let expected = AccessTokenHash::from_token(
            token.access_token(),
            id_token.signing_alg().unwrap(),
            id_token.signing_key(&verifier).unwrap(),
        )
        .unwrap();
        assert_eq!(claims.access_token_hash(), Some(&expected), "at_hash");
        claims
    }
}

/// The browser opens the RP's URL and goes through whatever pages come.
async fn sign_in(
    browser: &Browser,
    started: &Started,
    username: &str,
    password: &str,
) -> (String, Vec<&'static str>) {
    let response = browser.get(started.url.as_str()).await;
    browser.complete(response, username, password).await
}

#[tokio::test]
async fn discovery_advertises_the_authorization_code_flow() {
    let app = flow::start().await;
    let metadata: Value = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["authorization_endpoint"],
        json!(app.url("/authorize"))
    );
    assert_eq!(metadata["userinfo_endpoint"], json!(app.url("/userinfo")));
    assert_eq!(metadata["end_session_endpoint"], json!(app.url("/logout")));
    assert_eq!(metadata["response_types_supported"], json!(["code"]));
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        json!(["S256"])
    );
    assert_eq!(
        metadata["authorization_response_iss_parameter_supported"],
        json!(true)
    );
    let algs = metadata["id_token_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    assert!(algs.contains(&json!("RS256")), "OIDC Core §15.1: {algs:?}");
    assert!(algs.contains(&json!("ES256")), "{algs:?}");
    let grants = metadata["grant_types_supported"].as_array().unwrap();
    assert!(grants.contains(&json!("authorization_code")), "{grants:?}");

    // The crate reads the same document and the JWKS it points to.
    let rp = Rp::discover(&app, NATIVE, NATIVE_REDIRECT).await;
    assert_eq!(
        rp.metadata.authorization_endpoint().as_str(),
        app.url("/authorize")
    );
    assert_eq!(
        rp.metadata.userinfo_endpoint().unwrap().as_str(),
        app.url("/userinfo")
    );
    assert_eq!(
        rp.metadata
            .additional_metadata()
            .end_session_endpoint
            .as_ref()
            .unwrap()
            .as_str(),
        app.url("/logout")
    );
    assert!(!rp.metadata.jwks().keys().is_empty());
}

#[tokio::test]
async fn openidconnect_rp_completes_the_flow_and_verifies_the_id_token() {
    let app = flow::start().await;
    let rp = Rp::discover(&app, NATIVE, NATIVE_REDIRECT).await;
    let started = rp.start(&["profile", "email"], |r| r);
    assert!(started.url.as_str().starts_with(&app.url("/authorize?")));

    let browser = Browser::new(&app);
    let (to, shown) = sign_in(&browser, &started, ALICE, ALICE_PASSWORD).await;
    assert_eq!(shown, ["login", "consent"]);
    let login_time = app.clock.now();
    let code = rp.code(&app, &started, &to);

    let (token, nonce) = rp.exchange(code, started).await;
    assert_eq!(token.token_type().as_ref(), "bearer");
    let claims = rp.verify(&token, &nonce);

    let alice = user_id(&app, ALICE).await;
    assert_eq!(claims.subject().as_str(), alice);
    assert_ne!(
        claims.subject().as_str(),
        ALICE,
        "sub is never the username"
    );
    assert!(uuid_like(&alice), "sub is a UUID: {alice}");
    assert_eq!(claims.issuer().as_str(), app.base);
    assert_eq!(
        claims
            .audiences()
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>(),
        [NATIVE]
    );
    assert_eq!(claims.nonce().map(Nonce::secret), Some(nonce.secret()));
    assert_eq!(claims.auth_time().unwrap().timestamp(), login_time);
    assert_eq!(claims.issue_time().timestamp(), login_time);
    assert!(claims.expiration().timestamp() > login_time);
    // RS256 by default (OIDC Core §15.1).
    assert_eq!(
        token.id_token().unwrap().signing_alg().unwrap(),
        &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256
    );
    // profile → name, preferred_username; email → email, email_verified.
    assert_eq!(
        claims.name().unwrap().get(None).unwrap().as_str(),
        "Alice Liddell"
    );
    assert_eq!(claims.preferred_username().unwrap().as_str(), ALICE);
    assert_eq!(claims.email().unwrap().as_str(), "alice@example.com");
    assert!(
        claims.email_verified().is_some(),
        "email_verified with email"
    );

    // UserInfo through the crate, which checks that `sub` is the id_token's.
    let info: UserInfoClaims<TenantClaims, CoreGenderClaim> = rp
        .client
        .user_info(token.access_token().clone(), Some(claims.subject().clone()))
        .unwrap()
        .request_async(&rp.http)
        .await
        .unwrap();
    assert_eq!(info.subject().as_str(), alice);
    assert_eq!(info.preferred_username().unwrap().as_str(), ALICE);
    assert_eq!(info.email().unwrap().as_str(), "alice@example.com");

    // The access token is a JWT for the client's API, about the same user.
    let jwks = app.jwks().await;
    let at = verify_access_token(token.access_token().secret(), &jwks, &app.base, API);
    assert_eq!(at["sub"], json!(alice));
    assert_eq!(at["client_id"], json!(NATIVE));
}

#[tokio::test]
async fn claims_follow_the_granted_scopes() {
    let app = flow::start().await;
    let rp = Rp::discover(&app, NATIVE, NATIVE_REDIRECT).await;
    let browser = Browser::new(&app);

    // openid only: no profile or email claims, even for a user who has them.
    let started = rp.start(&[], |r| r);
    let (to, _) = sign_in(&browser, &started, ALICE, ALICE_PASSWORD).await;
    let code = rp.code(&app, &started, &to);
    let (token, nonce) = rp.exchange(code, started).await;
    let claims = rp.verify(&token, &nonce);
    assert!(claims.name().is_none());
    assert!(claims.preferred_username().is_none());
    assert!(claims.email().is_none());
    assert!(claims.email_verified().is_none());

    // profile for a user without a name or e-mail: the username only.
    let browser = Browser::new(&app);
    let started = rp.start(&["profile", "email"], |r| r);
    let (to, _) = sign_in(&browser, &started, BOB, BOB_PASSWORD).await;
    let code = rp.code(&app, &started, &to);
    let (token, nonce) = rp.exchange(code, started).await;
    let claims = rp.verify(&token, &nonce);
    assert_eq!(claims.preferred_username().unwrap().as_str(), BOB);
    assert!(claims.name().is_none());
    assert!(claims.email().is_none());
    assert_eq!(claims.subject().as_str(), user_id(&app, BOB).await);
}

#[tokio::test]
async fn users_extra_claims_are_in_the_id_token_and_the_access_token() {
    let app = flow::start().await;
    let rp = Rp::discover(&app, NATIVE, NATIVE_REDIRECT).await;
    let browser = Browser::new(&app);
    let started = rp.start(&["profile"], |r| r);
    let (to, _) = sign_in(&browser, &started, ALICE, ALICE_PASSWORD).await;
    let code = rp.code(&app, &started, &to);
    let (token, nonce) = rp.exchange(code, started).await;
    rp.verify(&token, &nonce);

    // Read the same id_token with the extra claim declared, verified by the crate.
    let raw = token.id_token().unwrap().to_string();
    let id_token: TenantIdToken = raw.parse().unwrap();
    let claims = id_token
        .claims(&rp.client.id_token_verifier(), &nonce)
        .unwrap();
    assert_eq!(
        claims.additional_claims().tenant_id.as_deref(),
        Some("abc-tenant")
    );

    let jwks = app.jwks().await;
    let at = verify_access_token(token.access_token().secret(), &jwks, &app.base, API);
    assert_eq!(at["tenant_id"], json!("abc-tenant"));

    // Bob has no extra claims.
    let browser = Browser::new(&app);
    let started = rp.start(&["profile"], |r| r);
    let (to, _) = sign_in(&browser, &started, BOB, BOB_PASSWORD).await;
    let code = rp.code(&app, &started, &to);
    let (token, nonce) = rp.exchange(code, started).await;
    let raw = token.id_token().unwrap().to_string();
    let id_token: TenantIdToken = raw.parse().unwrap();
    let claims = id_token
        .claims(&rp.client.id_token_verifier(), &nonce)
        .unwrap();
    assert_eq!(claims.additional_claims().tenant_id, None);
}

#[tokio::test]
async fn es256_client_gets_an_es256_id_token_that_the_crate_verifies() {
    let app = flow::start().await;
    let rp = Rp::discover(&app, ES256_CLIENT, ES256_REDIRECT).await;
    let browser = Browser::new(&app);
    let started = rp.start(&["profile"], |r| r);
    let (to, _) = sign_in(&browser, &started, ALICE, ALICE_PASSWORD).await;
    let code = rp.code(&app, &started, &to);
    let (token, nonce) = rp.exchange(code, started).await;
    let id_token = token.id_token().unwrap();
    assert_eq!(
        id_token.signing_alg().unwrap(),
        &CoreJwsSigningAlgorithm::EcdsaP256Sha256
    );
    // Signature, claims and at_hash (SHA-256 for ES256 too).
    let claims = rp.verify(&token, &nonce);
    assert_eq!(claims.subject().as_str(), user_id(&app, ALICE).await);
    assert_eq!(claims.audiences()[0].as_str(), ES256_CLIENT);

    // A verifier that only accepts RS256 refuses it: the alg really is ES256.
    let rs256_only = rp
        .client
        .id_token_verifier()
        .set_allowed_algs([CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256]);
    assert!(id_token.claims(&rs256_only, &nonce).is_err());
}

#[tokio::test]
async fn single_sign_on_gives_a_second_client_a_code_without_the_login_page() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let native = Rp::discover(&app, NATIVE, NATIVE_REDIRECT).await;
    let started = native.start(&[], |r| r);
    let (to, shown) = sign_in(&browser, &started, ALICE, ALICE_PASSWORD).await;
    assert_eq!(shown, ["login", "consent"]);
    native.code(&app, &started, &to);
    let login_time = app.clock.now();

    app.clock.advance(30);
    // A first-party client: no consent page either, so no page at all.
    let first = Rp::discover(&app, FIRST_PARTY, FIRST_PARTY_REDIRECT).await;
    let started = first.start(&["profile"], |r| r);
    let response = browser.get(started.url.as_str()).await;
    assert_eq!(response.status(), 303);
    let to = location(&response);
    let code = first.code(&app, &started, &to);
    let (token, nonce) = first.exchange(code, started).await;
    let claims = first.verify(&token, &nonce);
    assert_eq!(claims.subject().as_str(), user_id(&app, ALICE).await);
    assert_eq!(
        claims.auth_time().unwrap().timestamp(),
        login_time,
        "auth_time is when the password was entered, not now"
    );

    // Another third-party client: consent, but no login.
    let es = Rp::discover(&app, ES256_CLIENT, ES256_REDIRECT).await;
    let started = es.start(&[], |r| r);
    let (to, shown) = sign_in(&browser, &started, ALICE, "not-the-password").await;
    assert_eq!(shown, ["consent"]);
    es.code(&app, &started, &to);
}

#[tokio::test]
async fn prompt_login_forces_the_login_page() {
    let app = flow::start().await;
    let rp = Rp::discover(&app, NATIVE, NATIVE_REDIRECT).await;
    let browser = Browser::new(&app);
    let started = rp.start(&[], |r| r);
    sign_in(&browser, &started, ALICE, ALICE_PASSWORD).await;

    app.clock.advance(10);
    let started = rp.start(&[], |r| r.add_prompt(CoreAuthPrompt::Login));
    let (to, shown) = sign_in(&browser, &started, ALICE, ALICE_PASSWORD).await;
    assert_eq!(shown, ["login"], "approved before: login only");
    let code = rp.code(&app, &started, &to);
    let (token, nonce) = rp.exchange(code, started).await;
    let claims = rp.verify(&token, &nonce);
    assert_eq!(
        claims.auth_time().unwrap().timestamp(),
        app.clock.now(),
        "auth_time is the new login"
    );
}

#[tokio::test]
async fn max_age_zero_forces_the_login_page() {
    let app = flow::start().await;
    let rp = Rp::discover(&app, NATIVE, NATIVE_REDIRECT).await;
    let browser = Browser::new(&app);
    let started = rp.start(&[], |r| r);
    sign_in(&browser, &started, ALICE, ALICE_PASSWORD).await;

    let started = rp.start(&[], |r| r.set_max_age(std::time::Duration::ZERO));
    let response = browser.get(started.url.as_str()).await;
    assert_eq!(response.status(), 303);
    assert!(location(&response).starts_with("/login?"));
}

#[tokio::test]
async fn max_age_elapsed_forces_the_login_page() {
    let app = flow::start().await;
    let rp = Rp::discover(&app, NATIVE, NATIVE_REDIRECT).await;
    let browser = Browser::new(&app);
    let started = rp.start(&[], |r| r);
    sign_in(&browser, &started, ALICE, ALICE_PASSWORD).await;
    let login_time = app.clock.now();

    app.clock.advance(100);
    // Exactly max_age seconds ago: still fresh enough.
    let started = rp.start(&[], |r| r.set_max_age(std::time::Duration::from_secs(100)));
    let response = browser.get(started.url.as_str()).await;
    assert_eq!(response.status(), 303);
    let code = rp.code(&app, &started, &location(&response));
    let (token, nonce) = rp.exchange(code, started).await;
    let claims = rp.verify(&token, &nonce);
    assert_eq!(claims.auth_time().unwrap().timestamp(), login_time);

    // One second more than max_age: log in again.
    let started = rp.start(&[], |r| r.set_max_age(std::time::Duration::from_secs(99)));
    let (to, shown) = sign_in(&browser, &started, ALICE, ALICE_PASSWORD).await;
    assert_eq!(shown, ["login"]);
    let code = rp.code(&app, &started, &to);
    let (token, nonce) = rp.exchange(code, started).await;
    let claims = rp.verify(&token, &nonce);
    assert_eq!(claims.auth_time().unwrap().timestamp(), login_time + 100);
}

#[tokio::test]
async fn prompt_none_without_a_session_is_login_required() {
    let app = flow::start().await;
    let rp = Rp::discover(&app, NATIVE, NATIVE_REDIRECT).await;
    let browser = Browser::new(&app);
    let started = rp.start(&[], |r| r.add_prompt(CoreAuthPrompt::None));
    let response = browser.get(started.url.as_str()).await;
    assert_eq!(response.status(), 303);
    let params = redirect_params(&location(&response), NATIVE_REDIRECT);
    assert_eq!(params["error"], "login_required");
    assert_eq!(&params["state"], started.state.secret());
    assert_eq!(params["iss"], app.base);
    assert!(!params.contains_key("code"));
}

#[tokio::test]
async fn prompt_none_without_consent_is_consent_required() {
    let app = flow::start().await;
    let rp = Rp::discover(&app, NATIVE, NATIVE_REDIRECT).await;
    let browser = Browser::new(&app);
    let started = rp.start(&[], |r| r);
    sign_in(&browser, &started, ALICE, ALICE_PASSWORD).await;

    // `email` was never approved.
    let started = rp.start(&["email"], |r| r.add_prompt(CoreAuthPrompt::None));
    let response = browser.get(started.url.as_str()).await;
    assert_eq!(response.status(), 303);
    let params = redirect_params(&location(&response), NATIVE_REDIRECT);
    assert_eq!(params["error"], "consent_required");
    assert_eq!(&params["state"], started.state.secret());
    assert_eq!(params["iss"], app.base);
    assert!(!params.contains_key("code"));
}

#[tokio::test]
async fn prompt_none_with_a_session_and_consent_returns_a_code() {
    let app = flow::start().await;
    let rp = Rp::discover(&app, NATIVE, NATIVE_REDIRECT).await;
    let browser = Browser::new(&app);
    let started = rp.start(&["profile"], |r| r);
    sign_in(&browser, &started, ALICE, ALICE_PASSWORD).await;

    let started = rp.start(&["profile"], |r| r.add_prompt(CoreAuthPrompt::None));
    let response = browser.get(started.url.as_str()).await;
    assert_eq!(response.status(), 303);
    let code = rp.code(&app, &started, &location(&response));
    let (token, nonce) = rp.exchange(code, started).await;
    rp.verify(&token, &nonce);
}

#[tokio::test]
async fn prompt_consent_shows_the_consent_page_again() {
    let app = flow::start().await;
    let rp = Rp::discover(&app, NATIVE, NATIVE_REDIRECT).await;
    let browser = Browser::new(&app);
    let started = rp.start(&["profile"], |r| r);
    sign_in(&browser, &started, ALICE, ALICE_PASSWORD).await;

    let started = rp.start(&["profile"], |r| r.add_prompt(CoreAuthPrompt::Consent));
    let (to, shown) = sign_in(&browser, &started, ALICE, ALICE_PASSWORD).await;
    assert_eq!(shown, ["consent"], "approved before, asked again");
    rp.code(&app, &started, &to);
}

#[tokio::test]
async fn prompt_none_with_an_elapsed_max_age_is_login_required() {
    let app = flow::start().await;
    let rp = Rp::discover(&app, NATIVE, NATIVE_REDIRECT).await;
    let browser = Browser::new(&app);
    let started = rp.start(&[], |r| r);
    sign_in(&browser, &started, ALICE, ALICE_PASSWORD).await;

    app.clock.advance(61);
    let started = rp.start(&[], |r| {
        r.add_prompt(CoreAuthPrompt::None)
            .set_max_age(std::time::Duration::from_secs(60))
    });
    let response = browser.get(started.url.as_str()).await;
    assert_eq!(response.status(), 303);
    let params = redirect_params(&location(&response), NATIVE_REDIRECT);
    assert_eq!(params["error"], "login_required");
    assert_eq!(&params["state"], started.state.secret());
    assert_eq!(params["iss"], app.base);
}

#[tokio::test]
async fn prompt_login_may_sign_in_another_user() {
    let app = flow::start().await;
    let rp = Rp::discover(&app, NATIVE, NATIVE_REDIRECT).await;
    let browser = Browser::new(&app);
    let started = rp.start(&[], |r| r);
    sign_in(&browser, &started, ALICE, ALICE_PASSWORD).await;

    let started = rp.start(&[], |r| r.add_prompt(CoreAuthPrompt::Login));
    let (to, shown) = sign_in(&browser, &started, BOB, BOB_PASSWORD).await;
    assert_eq!(
        shown,
        ["login", "consent"],
        "Bob has not approved native yet"
    );
    let code = rp.code(&app, &started, &to);
    let (token, nonce) = rp.exchange(code, started).await;
    let claims = rp.verify(&token, &nonce);
    assert_eq!(claims.subject().as_str(), user_id(&app, BOB).await);

    // The browser's session is Bob's now.
    let started = rp.start(&[], |r| r.add_prompt(CoreAuthPrompt::None));
    let response = browser.get(started.url.as_str()).await;
    let code = rp.code(&app, &started, &location(&response));
    let (token, nonce) = rp.exchange(code, started).await;
    let claims = rp.verify(&token, &nonce);
    assert_eq!(claims.subject().as_str(), user_id(&app, BOB).await);
}

#[tokio::test]
async fn authorization_request_may_be_posted() {
    // OIDC Core §3.1.2.1: GET and POST.
    let app = flow::start().await;
    let rp = Rp::discover(&app, NATIVE, NATIVE_REDIRECT).await;
    let started = rp.start(&["profile"], |r| r);
    let query = started.url.query().unwrap().to_owned();
    let browser = Browser::new(&app);
    let response = browser
        .http
        .post(app.url("/authorize"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(query)
        .send()
        .await
        .unwrap();
    let (to, shown) = browser.complete(response, ALICE, ALICE_PASSWORD).await;
    assert_eq!(shown, ["login", "consent"]);
    let code = rp.code(&app, &started, &to);
    let (token, nonce) = rp.exchange(code, started).await;
    rp.verify(&token, &nonce);
}

#[tokio::test]
async fn rp_initiated_logout_through_the_crate_returns_with_state() {
    let app = flow::start().await;
    let rp = Rp::discover(&app, NATIVE, NATIVE_REDIRECT).await;
    let browser = Browser::new(&app);
    let started = rp.start(&[], |r| r);
    let (to, _) = sign_in(&browser, &started, ALICE, ALICE_PASSWORD).await;
    let code = rp.code(&app, &started, &to);
    let (token, _) = rp.exchange(code, started).await;

    let end_session = rp
        .metadata
        .additional_metadata()
        .end_session_endpoint
        .clone()
        .unwrap();
    let state = CsrfToken::new_random();
    let url = LogoutRequest::from(end_session)
        .set_id_token_hint(token.id_token().unwrap())
        .set_post_logout_redirect_uri(PostLogoutRedirectUrl::new(NATIVE_LOGOUT.into()).unwrap())
        .set_state(state.clone())
        .http_get_url();
    let response = browser.get(url.as_str()).await;
    assert_eq!(response.status(), 303);
    let params = redirect_params(&location(&response), NATIVE_LOGOUT);
    assert_eq!(&params["state"], state.secret());

    // Signed out: the next authorization request shows the login page.
    let response = browser
        .authorize(&AuthRequest::native(&flow::pkce().0))
        .await;
    assert_eq!(response.status(), 303);
    assert!(location(&response).starts_with("/login?"));
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}
