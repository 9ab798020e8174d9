//! The browser side of the authorization code flow, shared by the flow tests
//! (`oidc`, `authorization_code`, `authorize_rejections`, `pages`): the shared
//! configuration (users and clients), a cookie-keeping [`Browser`] that reads the
//! login and consent forms and posts them, and small helpers (PKCE pairs, reading a
//! redirect, an adapter that lets `openidconnect` talk over our reqwest).
//!
//! The browser never follows redirects by itself: each test sees every 303 and its
//! `Location`, and only requests to our own server are followed.

use crate::html::Form;
use crate::support::{TestApp, WEB_SECRET};
use oauth2::{PkceCodeChallenge, PkceCodeVerifier};
use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::HeaderMap;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tempfile::TempDir;
use url::Url;

/// Alice: has a name, an e-mail address and an extra claim.
pub const ALICE: &str = "alice";
/// Alice's password.
pub const ALICE_PASSWORD: &str = "alice-password-1";
/// Bob: only a username and a password.
pub const BOB: &str = "bob";
/// Bob's password.
pub const BOB_PASSWORD: &str = "bob-password-123";

/// A public native client (RFC 8252): loopback redirect URI, PKCE, `none` auth.
pub const NATIVE: &str = "native";
/// Its registered redirect URI.
pub const NATIVE_REDIRECT: &str = "http://127.0.0.1/callback";
/// Its registered post-logout redirect URI.
pub const NATIVE_LOGOUT: &str = "http://127.0.0.1/signed-out";

/// A confidential web client (client_secret_basic); secret [`WEB_SECRET`].
pub const WEB: &str = "web";
/// Its registered redirect URI.
pub const WEB_REDIRECT: &str = "https://app.example.com/callback";
/// Its registered post-logout redirect URI.
pub const WEB_LOGOUT: &str = "https://app.example.com/signed-out";

/// A confidential client that authenticates with client_secret_post.
pub const WEB_POST: &str = "web-post";
/// Its secret.
pub const WEB_POST_SECRET: &str = "web-post-secret-0123456789abcdefghijkl";
/// Its registered redirect URI.
pub const WEB_POST_REDIRECT: &str = "https://post.example.com/callback";

/// A confidential client with two redirect URIs.
pub const TWO_URIS: &str = "two-uris";

/// A public browser app (non-loopback https redirect URI).
pub const SPA: &str = "spa";
/// Its registered redirect URI.
pub const SPA_REDIRECT: &str = "https://spa.example.com/callback";

/// A public client whose id_tokens are ES256.
pub const ES256_CLIENT: &str = "es256-app";
/// Its registered redirect URI.
pub const ES256_REDIRECT: &str = "http://127.0.0.1/es256-callback";

/// A first-party public client (`skip_consent = true`).
pub const FIRST_PARTY: &str = "first-party";
/// Its registered redirect URI.
pub const FIRST_PARTY_REDIRECT: &str = "http://127.0.0.1/first-party";

/// A confidential client with a loopback redirect URI (its port may not vary).
pub const LOOPBACK_WEB: &str = "loopback-web";
/// Its registered redirect URI.
pub const LOOPBACK_WEB_REDIRECT: &str = "http://127.0.0.1:8400/callback";

/// A machine client (client credentials only, no redirect URI).
pub const MACHINE: &str = "svc";

/// `[tokens] authorization_code_ttl` in [`CONFIG`].
pub const CODE_TTL: i64 = 60;

/// `[tokens] session_ttl` in [`CONFIG`].
pub const SESSION_TTL: i64 = 3600;

/// The API most clients may ask tokens for.
pub const API: &str = crate::support::API;

/// Users and clients of the flow tests.
pub const CONFIG: &str = r#"
[tokens]
access_token_ttl = 900
authorization_code_ttl = 60
session_ttl = 3600

[[users]]
username = "alice"
password = "alice-password-1"
email = "alice@example.com"
name = "Alice Liddell"
claims = { tenant_id = "abc-tenant" }

[[users]]
username = "bob"
password = "bob-password-123"

[[clients]]
client_id = "native"
client_name = "Native App"
redirect_uris = ["http://127.0.0.1/callback"]
post_logout_redirect_uris = ["http://127.0.0.1/signed-out"]
scopes = ["openid", "profile", "email"]
audiences = ["https://api.example.com"]

[[clients]]
client_id = "web"
client_name = "Web App"
client_secret = "web-secret-0123456789abcdefghijklmnopq"
redirect_uris = ["https://app.example.com/callback"]
post_logout_redirect_uris = ["https://app.example.com/signed-out"]
grant_types = ["authorization_code"]
scopes = ["openid", "profile", "email", "read:orders"]
audiences = ["https://api.example.com", "https://billing.example.com"]

[[clients]]
client_id = "web-post"
client_secret = "web-post-secret-0123456789abcdefghijkl"
token_endpoint_auth_method = "client_secret_post"
redirect_uris = ["https://post.example.com/callback"]
scopes = ["openid", "profile"]
audiences = ["https://api.example.com"]

[[clients]]
client_id = "two-uris"
client_secret = "two-uris-secret-0123456789abcdefghijkl"
redirect_uris = ["https://two.example.com/a", "https://two.example.com/b"]
scopes = ["openid"]
audiences = ["https://api.example.com"]

[[clients]]
client_id = "spa"
redirect_uris = ["https://spa.example.com/callback"]
scopes = ["openid"]
audiences = ["https://api.example.com"]

[[clients]]
client_id = "es256-app"
redirect_uris = ["http://127.0.0.1/es256-callback"]
id_token_signed_response_alg = "ES256"
scopes = ["openid", "profile"]
audiences = ["https://api.example.com"]

[[clients]]
client_id = "first-party"
client_name = "First Party"
redirect_uris = ["http://127.0.0.1/first-party"]
skip_consent = true
scopes = ["openid", "profile", "email"]
audiences = ["https://api.example.com"]

[[clients]]
client_id = "loopback-web"
client_secret = "loopback-secret-0123456789abcdefghijk"
redirect_uris = ["http://127.0.0.1:8400/callback"]
scopes = ["openid"]
audiences = ["https://api.example.com"]

[[clients]]
client_id = "svc"
client_secret = "svc-secret-0123456789abcdefghijklmnop"
grant_types = ["client_credentials"]
scopes = ["read:orders"]
audiences = ["https://api.example.com"]
"#;

/// A `state` with characters that must be encoded, to check it comes back unchanged.
pub const STATE: &str = "st ate/+=&é?#1";

/// A server with [`CONFIG`] in a fresh data directory.
pub async fn start() -> TestApp {
    TestApp::start_in(TempDir::new().unwrap(), CONFIG).await
}

/// A fresh PKCE pair: `(code_challenge, code_verifier)` for S256 (RFC 7636 §4.1–4.2).
pub fn pkce() -> (String, String) {
    let (challenge, verifier): (PkceCodeChallenge, PkceCodeVerifier) =
        PkceCodeChallenge::new_random_sha256();
    assert_eq!(challenge.method().as_str(), "S256");
    (challenge.as_str().to_owned(), verifier.secret().clone())
}

/// The user id (`sub`) of `username`, read from the store.
pub async fn user_id(app: &TestApp, username: &str) -> String {
    app.app
        .state()
        .store()
        .user_get_by_username(username)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no user {username}"))
        .user_id
}

/// The parameters of an authorization request, in order; `set` replaces, `add` appends
/// (to repeat a parameter), `remove` drops.
#[derive(Debug, Clone)]
pub struct AuthRequest {
    pairs: Vec<(String, String)>,
}

impl AuthRequest {
    /// `response_type=code`, `client_id`, `redirect_uri`, and `state` = [`STATE`].
    pub fn new(client_id: &str, redirect_uri: &str) -> Self {
        Self { pairs: Vec::new() }
            .set("response_type", "code")
            .set("client_id", client_id)
            .set("redirect_uri", redirect_uri)
            .set("state", STATE)
    }

    /// [`NATIVE`] asking for `openid profile email` with a PKCE challenge and a nonce.
    pub fn native(challenge: &str) -> Self {
        Self::new(NATIVE, NATIVE_REDIRECT)
            .set("scope", "openid profile email")
            .set("code_challenge", challenge)
            .set("code_challenge_method", "S256")
            .set("nonce", "n-0S6_WzA2Mj")
    }

    /// [`WEB`] asking for `openid read:orders` with a PKCE challenge.
    pub fn web(challenge: &str) -> Self {
        Self::new(WEB, WEB_REDIRECT)
            .set("scope", "openid read:orders")
            .set("code_challenge", challenge)
            .set("code_challenge_method", "S256")
    }

    /// Sets `name` to `value`, replacing every earlier value.
    pub fn set(self, name: &str, value: &str) -> Self {
        self.remove(name).add(name, value)
    }

    /// Appends `name=value` (a repeated parameter if `name` is already there).
    pub fn add(mut self, name: &str, value: &str) -> Self {
        self.pairs.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Drops `name`.
    pub fn remove(mut self, name: &str) -> Self {
        self.pairs.retain(|(k, _)| k != name);
        self
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Form-urlencoded, for a query string or a POST body.
    pub fn encoded(&self) -> String {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&self.pairs)
            .finish()
    }
}

/// A browser: keeps cookies (one jar per browser), never follows redirects.
pub struct Browser {
    pub http: reqwest::Client,
    jar: Arc<Jar>,
    base: String,
}

impl Browser {
    /// A browser with no cookies, talking to `app`.
    pub fn new(app: &TestApp) -> Self {
        Self::with_headers(app, HeaderMap::new())
    }

    /// A browser that sends `headers` with every request (e.g. a proxy's
    /// `X-Forwarded-For`).
    pub fn with_headers(app: &TestApp, headers: HeaderMap) -> Self {
        let jar = Arc::new(Jar::default());
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            http,
            jar,
            base: app.base.clone(),
        }
    }

    /// Talks to `app` from now on, keeping the cookies (e.g. after a server restart on
    /// another port: cookies do not depend on the port).
    pub fn rebase(&mut self, app: &TestApp) {
        self.base = app.base.clone();
    }

    /// An absolute URL on our server for `path_or_url` (absolute URLs are kept).
    pub fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            path_or_url.to_owned()
        } else {
            format!("{}{path_or_url}", self.base)
        }
    }

    /// The `Cookie` header this browser would send to our server.
    pub fn cookies(&self) -> String {
        let url = Url::parse(&self.base).unwrap();
        self.jar
            .cookies(&url)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }

    /// Whether the browser holds a cookie named `name` for our server.
    pub fn has_cookie(&self, name: &str) -> bool {
        self.cookie(name).is_some()
    }

    /// The value of this browser's cookie `name` for our server, if it has one.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies()
            .split(';')
            .filter_map(|c| c.trim().split_once('='))
            .find(|(n, v)| *n == name && !v.is_empty())
            .map(|(_, v)| v.to_owned())
    }

    /// Stores a cookie `name=value` for our server, as if the server had set it (to
    /// replay a stolen or stale cookie in another browser).
    pub fn set_cookie(&self, name: &str, value: &str) {
        let url = Url::parse(&self.base).unwrap();
        self.jar
            .add_cookie_str(&format!("{name}={value}; Path=/"), &url);
    }

    /// GET a path on our server, or an absolute URL.
    pub async fn get(&self, path_or_url: &str) -> reqwest::Response {
        self.http.get(self.url(path_or_url)).send().await.unwrap()
    }

    /// POST a form to a path on our server.
    pub async fn post_form(&self, path: &str, form: &[(String, String)]) -> reqwest::Response {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        self.http
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// `GET /authorize?…`.
    pub async fn authorize(&self, request: &AuthRequest) -> reqwest::Response {
        self.get(&format!("/authorize?{}", request.encoded())).await
    }

    /// `POST /authorize` with the parameters as a form body; if the server answers
    /// with a 303 to `GET /authorize` (so that the request carries the `SameSite=Lax`
    /// cookies a cross-site POST lacks), follows it as a browser would.
    pub async fn authorize_post(&self, request: &AuthRequest) -> reqwest::Response {
        let response = self
            .http
            .post(self.url("/authorize"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(request.encoded())
            .send()
            .await
            .unwrap();
        match response.headers().get("location") {
            Some(to) if to.to_str().unwrap().starts_with("/authorize?") => {
                let to = to.to_str().unwrap().to_owned();
                self.get(&to).await
            }
            _ => response,
        }
    }

    /// Follows a 303 to a page of our server (`/login?…`, `/consent?…`) and returns
    /// the page: asserts 200 and HTML.
    pub async fn page(&self, redirect: reqwest::Response) -> String {
        let to = location(&redirect);
        assert_eq!(
            redirect.status(),
            303,
            "expected a redirect to a page, got {to}"
        );
        assert!(to.starts_with('/'), "expected a page of ours, got {to}");
        let page = self.get(&to).await;
        assert_eq!(page.status(), 200, "GET {to}");
        assert!(
            page.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
        );
        page.text().await.unwrap()
    }

    /// Fills in and posts the login form of `page`.
    pub async fn login(&self, page: &str, username: &str, password: &str) -> reqwest::Response {
        let form = Form::find(page, "/login").expect("a login form posting to /login");
        let mut fields = form.hidden.clone();
        fields.push(("username".into(), username.into()));
        fields.push(("password".into(), password.into()));
        self.post_form(&form.action, &fields).await
    }

    /// Presses the consent page's approve button.
    pub async fn approve(&self, page: &str) -> reqwest::Response {
        self.decide(page, "approve").await
    }

    /// Presses the consent page's deny button.
    pub async fn deny(&self, page: &str) -> reqwest::Response {
        self.decide(page, "deny").await
    }

    async fn decide(&self, page: &str, decision: &str) -> reqwest::Response {
        let form = Form::find(page, "/consent").expect("a consent form posting to /consent");
        assert!(
            form.buttons
                .iter()
                .any(|(n, v)| n == "decision" && v == decision),
            "no button decision={decision}: {:?}",
            form.buttons
        );
        let mut fields = form.hidden.clone();
        fields.push(("decision".into(), decision.into()));
        self.post_form(&form.action, &fields).await
    }

    /// Goes on from `response` (of `/authorize`, `/login` or `/consent`) through the
    /// login page (as `username`) and the consent page (approving) until the server
    /// redirects to the client; returns that `Location`, and which pages were shown.
    pub async fn complete(
        &self,
        mut response: reqwest::Response,
        username: &str,
        password: &str,
    ) -> (String, Vec<&'static str>) {
        let mut shown = Vec::new();
        for _ in 0..5 {
            assert_eq!(
                response.status(),
                303,
                "expected a redirect, got {}: {}",
                response.status(),
                response.text().await.unwrap()
            );
            let to = location(&response);
            if to.starts_with("/authorize?") {
                response = self.get(&to).await;
            } else if to.starts_with("/login?") {
                shown.push("login");
                let page = self.page(response).await;
                response = self.login(&page, username, password).await;
            } else if to.starts_with("/consent?") {
                shown.push("consent");
                let page = self.page(response).await;
                response = self.approve(&page).await;
            } else {
                return (to, shown);
            }
        }
        panic!("no redirect to the client after {shown:?}");
    }

    /// `/authorize` with `request`, then [`Self::complete`]; returns the code after
    /// checking `state` and `iss` on the redirect.
    pub async fn code(
        &self,
        request: &AuthRequest,
        username: &str,
        password: &str,
    ) -> (String, Vec<&'static str>) {
        let response = self.authorize(request).await;
        let (to, shown) = self.complete(response, username, password).await;
        let redirect_uri = request.get("redirect_uri").unwrap();
        let params = redirect_params(&to, redirect_uri);
        assert_eq!(params.get("error"), None, "{to}");
        assert_eq!(
            params.get("state").map(String::as_str),
            request.get("state")
        );
        assert_eq!(params["iss"], self.base, "RFC 9207 iss");
        (params["code"].clone(), shown)
    }

    /// Whether this browser is signed in (and has approved `native`): `/authorize`
    /// for `native` goes straight back with a code rather than to the login page.
    pub async fn is_signed_in(&self) -> bool {
        let r = self.authorize(&AuthRequest::native(&pkce().0)).await;
        assert_eq!(r.status(), 303);
        let to = location(&r);
        if to.starts_with("/login?") {
            return false;
        }
        assert!(to.starts_with(NATIVE_REDIRECT), "{to}");
        true
    }

    /// Signs `username` in for `native` (consenting if asked) and returns an id_token.
    pub async fn id_token(&self, app: &TestApp, username: &str, password: &str) -> String {
        let (challenge, verifier) = pkce();
        let (code, _) = self
            .code(&AuthRequest::native(&challenge), username, password)
            .await;
        let token = token_ok(redeem_native(app, &code, &verifier).await).await;
        token["id_token"].as_str().unwrap().to_owned()
    }
}

/// The `Location` header (panics without one).
pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location ({})", response.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// The query parameters of a redirect to the client, after checking that it goes to
/// `redirect_uri` (same URI, our parameters appended to its query). Each parameter
/// must appear once.
pub fn redirect_params(to: &str, redirect_uri: &str) -> BTreeMap<String, String> {
    let registered = Url::parse(redirect_uri).unwrap();
    let url = Url::parse(to)
        .unwrap_or_else(|e| panic!("expected a redirect to {redirect_uri}, got {to} ({e})"));
    assert_eq!(
        url[..url::Position::AfterPath],
        registered[..url::Position::AfterPath],
        "redirected to {to}, not to {redirect_uri}"
    );
    assert_eq!(url.fragment(), None);
    let mut params = BTreeMap::new();
    for (k, v) in url.query_pairs() {
        let k = k.into_owned();
        assert!(
            params.insert(k.clone(), v.into_owned()).is_none(),
            "{k} twice in {to}"
        );
    }
    params
}

/// The `Set-Cookie` header values of a response whose cookie is named `name`.
pub fn set_cookies<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .filter(|v| v.split('=').next() == Some(name))
        .collect()
}

/// POSTs a form to `/token` without client authentication headers.
pub async fn token_request(app: &TestApp, form: &[(&str, &str)]) -> reqwest::Response {
    app.post_token(form, None).await
}

/// Redeems a code for [`NATIVE`] (public client: `client_id` in the body).
pub async fn redeem_native(app: &TestApp, code: &str, verifier: &str) -> reqwest::Response {
    token_request(
        app,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", NATIVE_REDIRECT),
            ("code_verifier", verifier),
            ("client_id", NATIVE),
        ],
    )
    .await
}

/// Redeems a code for [`WEB`] with HTTP Basic authentication.
pub async fn redeem_web(app: &TestApp, code: &str, verifier: Option<&str>) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", WEB_REDIRECT),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    app.post_token(&form, Some((WEB, WEB_SECRET))).await
}

/// Asserts a 200 token response and returns its JSON body.
pub async fn token_ok(response: reqwest::Response) -> serde_json::Value {
    let status = response.status();
    if status == 200 {
        assert_eq!(
            response.headers()["cache-control"],
            "no-store",
            "RFC 6749 §5.1"
        );
    }
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

/// `GET /userinfo` with a bearer token.
pub async fn userinfo(app: &TestApp, access_token: &str) -> reqwest::Response {
    app.http
        .get(app.url("/userinfo"))
        .header("authorization", format!("Bearer {access_token}"))
        .send()
        .await
        .unwrap()
}

/// An `openidconnect` / `oauth2` HTTP client over our reqwest 0.13 (the crates'
/// own reqwest feature pulls an older reqwest). Both crates use the same
/// `AsyncHttpClient` trait (`openidconnect` re-exports `oauth2`'s); this adapter
/// implements it by hand for a named type, does not follow redirects (discovery and
/// token requests must not be redirected, an SSRF guard the crates document), and
/// passes every status through for the crates to interpret.
#[derive(Clone)]
pub struct OidcHttp(reqwest::Client);

impl OidcHttp {
    pub fn new() -> Self {
        Self(
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        )
    }
}

impl<'c> openidconnect::AsyncHttpClient<'c> for OidcHttp {
    type Error = reqwest::Error;
    type Future =
        Pin<Box<dyn Future<Output = Result<openidconnect::HttpResponse, Self::Error>> + Send + 'c>>;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let response = self
                .0
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await?;
            let mut builder = http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let bytes = response.bytes().await?;
            Ok(builder.body(bytes.to_vec()).unwrap())
        })
    }
}

/// Form-urlencodes `pairs` (a query string or a form body).
pub fn encode(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}
