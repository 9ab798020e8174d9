//! Client ID metadata documents end to end: a code flow with PKCE driven by the
//! `oauth2` crate, the consent page for an unvetted client, the caches and the per-host
//! limit, discovery and the switch. Refusals of each document rule are core's unit
//! tests (`client/metadata_document.rs`); here a refused document makes the client
//! unknown: `/authorize` answers the HTML error page and never redirects.

use super::server::{Canned, DocServer, TestCa};
use crate::flow::{self, ALICE, ALICE_PASSWORD, AuthRequest, Browser, pkce, redirect_params};
use crate::support::{TestApp, oauth2_http, pinned};
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, CsrfToken, PkceCodeChallenge, RedirectUrl, Scope,
    TokenResponse, TokenUrl,
};
use portcullis_core::client::RecordSource;
use portcullis_server::app::clients::metadata_documents::{
    HOST_FETCHES_PER_WINDOW, MAX_CACHE_SECONDS, MIN_CACHE_SECONDS, NEGATIVE_CACHE_SECONDS,
};
use serde_json::{Value, json};
use tempfile::TempDir;

/// The client's redirect URI (RFC 8252 loopback: any port).
const REDIRECT: &str = "http://127.0.0.1/callback";

/// A server whose `[outbound]` trusts the test CA and may reach loopback, a document
/// server, and the document's URL.
struct Setup {
    app: TestApp,
    server: DocServer,
    _ca: TestCa,
}

impl Setup {
    async fn start(extra: &str) -> Self {
        let ca = TestCa::new();
        let server = DocServer::start(&ca, Canned::json("{}").status(404)).await;
        let toml = format!(
            "{}\n[outbound]\nallow_networks = [\"127.0.0.0/8\"]\nca_certificates = [{:?}]\ntimeout = 2\n{extra}",
            flow::CONFIG,
            ca.ca_file().display().to_string()
        );
        let app = TestApp::start_in(TempDir::new().unwrap(), &toml).await;
        Self {
            app,
            server,
            _ca: ca,
        }
    }

    /// Serves `document` at `path` (with `Cache-Control` if given) and returns its URL.
    fn serve(&self, path: &str, document: &Value, cache_control: Option<&str>) -> String {
        let mut canned = Canned::json(&document.to_string());
        if let Some(value) = cache_control {
            canned = canned.header("Cache-Control", value);
        }
        self.server.answer(path, canned);
        self.server.url(path)
    }

    /// `GET /authorize` for `client_id` without a session: 303 to the login page when
    /// the client was found, the 400 error page when it is unknown.
    async fn authorize_status(&self, client_id: &str) -> u16 {
        let request = AuthRequest::new(client_id, REDIRECT)
            .set("scope", "openid")
            .set("code_challenge", &pkce().0)
            .set("code_challenge_method", "S256");
        let response = Browser::new(&self.app).authorize(&request).await;
        let status = response.status().as_u16();
        if status == 400 {
            assert!(
                response.headers().get("location").is_none(),
                "never redirect"
            );
        }
        status
    }
}

/// A valid document for `url`.
fn document(url: &str) -> Value {
    json!({
        "client_id": url,
        "client_name": "Agent <b>Smith</b>",
        "client_uri": "https://agent.example.com/",
        "logo_uri": "https://agent.example.com/logo.png",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none"
    })
}

#[tokio::test]
async fn cimd_client_completes_the_code_flow_with_pkce() {
    let setup = Setup::start("").await;
    let url = setup.server.url("/agent/client.json");
    setup.serve("/agent/client.json", &document(&url), None);
    let app = &setup.app;
    let client = BasicClient::new(ClientId::new(url.clone()))
        .set_auth_uri(AuthUrl::new(app.url("/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(app.url("/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new("http://127.0.0.1:49152/callback".into()).unwrap());
    let browser = Browser::new(app);
    for round in 0..2 {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (authorize, state) = client
            .authorize_url(CsrfToken::new_random)
            .add_scope(Scope::new("openid".into()))
            .add_scope(Scope::new("offline_access".into()))
            .set_pkce_challenge(challenge)
            .url();
        let response = browser.get(authorize.as_str()).await;
        let response = if round == 0 {
            let login = browser.page(response).await;
            browser.login(&login, ALICE, ALICE_PASSWORD).await
        } else {
            response
        };
        // Both rounds: the consent page, never remembered for an unvetted client.
        let consent = browser.page(response).await;
        assert!(consent.contains("Unverified app"), "{consent}");
        assert!(
            consent.contains(r#"<strong class="host">127.0.0.1</strong>"#),
            "{consent}"
        );
        assert!(
            consent.contains("Agent &#60;b&#62;Smith&#60;/b&#62;")
                || consent.contains("Agent &lt;b&gt;Smith&lt;/b&gt;"),
            "the name is text only: {consent}"
        );
        assert!(!consent.contains("logo.png"), "the logo is never shown");
        let to = crate::flow::location(&browser.approve(&consent).await);
        let params = redirect_params(&to, "http://127.0.0.1:49152/callback");
        assert_eq!(&params["state"], state.secret());

        let http = oauth2_http(
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        );
        let token = client
            .exchange_code(AuthorizationCode::new(params["code"].clone()))
            .set_pkce_verifier(verifier)
            .request_async(&http)
            .await
            .unwrap();
        assert!(!token.access_token().secret().is_empty());
        assert!(
            token.refresh_token().is_some(),
            "offline_access was granted"
        );
    }
    assert_eq!(setup.server.hits(), 1, "one fetch, then the cached copy");
    let stored = app
        .app
        .state()
        .store()
        .client_get(&url)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.source, RecordSource::MetadataDocument);
    assert!(stored.audiences.is_empty());
    let consents = app
        .app
        .state()
        .store()
        .consent_get(&flow::user_id(app, ALICE).await, &url)
        .await
        .unwrap();
    assert!(consents.is_empty(), "approval is not remembered");
}

#[tokio::test]
async fn rejects_client_id_mismatch() {
    let setup = Setup::start("").await;
    let url = setup.server.url("/client.json");
    let other = setup.server.url("/other.json");
    setup.serve("/client.json", &document(&other), None);
    assert_eq!(setup.authorize_status(&url).await, 400);
    assert_eq!(setup.server.hits(), 1);
}

#[tokio::test]
async fn rejects_a_token_request_of_a_client_whose_document_is_refused() {
    let setup = Setup::start("").await;
    let url = setup.server.url("/client.json");
    let mut doc = document(&url);
    doc["token_endpoint_auth_method"] = json!("client_secret_post");
    setup.serve("/client.json", &doc, None);
    let r = setup
        .app
        .post_token(
            &[
                ("grant_type", "authorization_code"),
                ("client_id", &url),
                ("code", "no-such-code"),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &pkce().1),
            ],
            None,
        )
        .await;
    let headers = pinned(
        r,
        401,
        json!({"error": "invalid_client", "error_description": "client authentication failed"}),
    )
    .await;
    assert_eq!(
        headers["www-authenticate"],
        r#"Basic realm="portcullis", charset="UTF-8""#
    );
    assert_eq!(setup.server.hits(), 1);
}

#[tokio::test]
async fn rejects_a_redirect_uri_the_document_does_not_list() {
    let setup = Setup::start("").await;
    let url = setup.server.url("/client.json");
    setup.serve("/client.json", &document(&url), None);
    let request = AuthRequest::new(&url, "https://evil.example/callback")
        .set("scope", "openid")
        .set("code_challenge", &pkce().0);
    let response = Browser::new(&setup.app).authorize(&request).await;
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
}

#[tokio::test]
async fn rejects_bad_metadata() {
    let setup = Setup::start("").await;
    for (i, (key, value)) in [
        ("token_endpoint_auth_method", json!("client_secret_basic")),
        ("client_secret", json!("shared")),
        ("grant_types", json!(["client_credentials"])),
        ("redirect_uris", json!(["http://agent.example.com/cb"])),
        ("redirect_uris", json!(["https://*.example.com/cb"])),
        ("redirect_uris", json!([])),
    ]
    .into_iter()
    .enumerate()
    {
        let path = format!("/bad{i}.json");
        let url = setup.server.url(&path);
        let mut doc = document(&url);
        doc[key] = value;
        setup.serve(&path, &doc, None);
        assert_eq!(setup.authorize_status(&url).await, 400, "{key}");
    }
    // A client_id URL breaking §3 is never fetched.
    let before = setup.server.hits();
    for bad in [
        setup.server.url("/a/../c.json"),
        setup.server.url("/c.json#f"),
    ] {
        assert_eq!(setup.authorize_status(&bad).await, 400, "{bad}");
    }
    assert_eq!(setup.server.hits(), before);
}

#[tokio::test]
async fn cache_honours_max_age_within_bounds() {
    let setup = Setup::start("").await;
    let short = setup.server.url("/short.json");
    setup.serve("/short.json", &document(&short), Some("max-age=5"));
    assert_eq!(setup.authorize_status(&short).await, 303);
    // max-age=5 is raised to the minimum: no refetch before it.
    setup.app.clock.advance(MIN_CACHE_SECONDS - 1);
    assert_eq!(setup.authorize_status(&short).await, 303);
    assert_eq!(setup.server.hits(), 1);
    setup.app.clock.advance(1);
    assert_eq!(setup.authorize_status(&short).await, 303);
    assert_eq!(setup.server.hits(), 2, "refetched once expired");

    let long = setup.server.url("/long.json");
    setup.serve("/long.json", &document(&long), Some("max-age=99999999"));
    assert_eq!(setup.authorize_status(&long).await, 303);
    assert_eq!(setup.server.hits(), 3);
    // max-age is lowered to the maximum.
    setup.app.clock.advance(MAX_CACHE_SECONDS - 1);
    assert_eq!(setup.authorize_status(&long).await, 303);
    assert_eq!(setup.server.hits(), 3);
    setup.app.clock.advance(1);
    assert_eq!(setup.authorize_status(&long).await, 303);
    assert_eq!(setup.server.hits(), 4);
}

#[tokio::test]
async fn negative_cache_holds_a_failure_briefly() {
    let setup = Setup::start("").await;
    let url = setup.server.url("/flaky.json");
    setup
        .server
        .answer("/flaky.json", Canned::json("{}").status(500));
    assert_eq!(setup.authorize_status(&url).await, 400);
    setup.serve("/flaky.json", &document(&url), None);
    setup.app.clock.advance(NEGATIVE_CACHE_SECONDS - 1);
    assert_eq!(
        setup.authorize_status(&url).await,
        400,
        "the failure is remembered"
    );
    assert_eq!(setup.server.hits(), 1);
    setup.app.clock.advance(1);
    assert_eq!(
        setup.authorize_status(&url).await,
        303,
        "then fetched again"
    );
    assert_eq!(setup.server.hits(), 2);
}

#[tokio::test]
async fn rate_limit_caps_fetches_per_host() {
    let setup = Setup::start("").await;
    let limit = HOST_FETCHES_PER_WINDOW as usize;
    for i in 0..limit + 3 {
        let url = setup.server.url(&format!("/many/{i}.json"));
        assert_eq!(setup.authorize_status(&url).await, 400);
    }
    assert_eq!(
        setup.server.hits(),
        limit,
        "the host's budget caps the fetches"
    );
    setup.app.clock.advance(60);
    let url = setup.server.url("/many/after.json");
    setup.serve("/many/after.json", &document(&url), None);
    assert_eq!(setup.authorize_status(&url).await, 303, "a new window");
}

/// A reviewer finding: the document cache (up to a day) was consulted before the store,
/// so a client the operator registers under the same URL stayed shadowed. The store
/// now comes first; and a document client whose row was deleted is fetched again (its
/// row re-created) rather than served from the cache without one.
#[tokio::test]
async fn a_registered_client_outranks_a_cached_document_and_a_deleted_row_is_refetched() {
    let setup = Setup::start("").await;
    let url = setup.server.url("/agent/client.json");
    setup.serve("/agent/client.json", &document(&url), Some("max-age=3600"));
    assert_eq!(setup.authorize_status(&url).await, 303);
    assert_eq!(setup.server.hits(), 1);
    let store = setup.app.app.state().store();
    assert!(store.client_delete(&url).await.unwrap());
    // Deleted: the cached copy is not used without a row; the document is fetched again.
    assert_eq!(setup.authorize_status(&url).await, 303);
    assert_eq!(setup.server.hits(), 2, "fetched again to re-create the row");
    let stored = store.client_get(&url).await.unwrap().unwrap();
    assert_eq!(stored.source, RecordSource::MetadataDocument);
    // The operator registers the URL as an admin client with other redirect URIs.
    assert!(store.client_delete(&url).await.unwrap());
    let mut admin = stored.clone();
    admin.source = RecordSource::Admin;
    admin.redirect_uris = vec!["https://operator.example/callback".into()];
    store.client_insert(&admin).await.unwrap();
    // The document's redirect URI no longer works: the stored client decides at once.
    let response = Browser::new(&setup.app)
        .authorize(
            &AuthRequest::new(&url, REDIRECT)
                .set("scope", "openid")
                .set("code_challenge", &pkce().0),
        )
        .await;
    assert_eq!(
        response.status(),
        400,
        "the document's redirect URI is refused"
    );
    assert_eq!(setup.server.hits(), 2, "no fetch for a registered client");
}

#[tokio::test]
async fn discovery_advertises_metadata_documents_unless_switched_off() {
    let on = Setup::start("").await;
    let metadata: Value = on
        .app
        .http
        .get(on.app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["client_id_metadata_document_supported"], true);

    let off = Setup::start("[registration]\nclient_id_metadata_documents = false\n").await;
    let metadata: Value = off
        .app
        .http
        .get(off.app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        metadata
            .get("client_id_metadata_document_supported")
            .is_none()
    );
    let url = off.server.url("/client.json");
    off.serve("/client.json", &document(&url), None);
    assert_eq!(
        off.authorize_status(&url).await,
        400,
        "switched off: unknown"
    );
    assert_eq!(off.server.hits(), 0);
}

/// Issue 14 item 1: a client known only by its metadata document may ask for the
/// resources registered with `dynamic_clients = true` and their scopes (without
/// `scope`, their default scopes), and for nothing the operator did not open to such
/// clients.
#[tokio::test]
async fn cimd_client_gets_only_resources_open_to_self_registered_clients() {
    let setup = Setup::start(
        r#"
[[resources]]
identifier = "https://mcp.example.com/mcp"
scopes = ["tools:read", "tools:call"]
default_scopes = ["tools:read"]
dynamic_clients = true

[[resources]]
identifier = "https://internal.example.com/api"
scopes = ["internal:admin"]
"#,
    )
    .await;
    let url = setup.server.url("/client.json");
    setup.serve("/client.json", &document(&url), None);
    let authorize = |resource: &'static str, scope: Option<&'static str>| {
        let mut request = AuthRequest::new(&url, REDIRECT)
            .remove("scope")
            .set("resource", resource)
            .set("code_challenge", &pkce().0)
            .set("code_challenge_method", "S256");
        if let Some(scope) = scope {
            request = request.set("scope", scope);
        }
        let app = &setup.app;
        async move { Browser::new(app).authorize(&request).await }
    };
    // The open resource, without `scope`: its default scope, on to the login page.
    let r = authorize("https://mcp.example.com/mcp", None).await;
    assert_eq!(r.status(), 303);
    let to = flow::location(&r);
    assert!(to.starts_with("/login?request="), "{to}");
    // The resource not open to self-registered clients: refused at the client.
    let r = authorize("https://internal.example.com/api", Some("openid")).await;
    let params = redirect_params(&flow::location(&r), REDIRECT);
    assert_eq!(params["error"], "invalid_target", "{params:?}");
    // Nor may it ask for that resource's scope.
    let r = authorize("https://mcp.example.com/mcp", Some("internal:admin")).await;
    let params = redirect_params(&flow::location(&r), REDIRECT);
    assert_eq!(params["error"], "invalid_scope", "{params:?}");
}
