//! RFC 8252: a native app signs in through the system browser. The authorization code
//! grant (RFC 6749 §4.1) with PKCE S256 (RFC 7636), `state` (RFC 6749 §10.12) and, for
//! OpenID requests, `nonce` (OIDC Core §3.1.2.1). The redirect goes to a listener on
//! an ephemeral loopback port (RFC 8252 §7.3), which answers the browser and hands one
//! authorization response back; the code is then redeemed at the token endpoint. With
//! DPoP, the request carries `dpop_jkt` (RFC 9449 §10), so that only our key can
//! redeem the code.

use super::Session;
use super::id_token;
use super::terminal::{Spinner, sanitize};
use super::token_endpoint::{self, TokenResponse};
use anyhow::{Context, Result, anyhow, bail};
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use portcullis_core::pkce::s256;
use portcullis_core::secret::generate_secret;
use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;
use std::future::IntoFuture;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use url::Url;

/// Seconds to wait for the browser when `--timeout` is not given.
pub const DEFAULT_TIMEOUT_SECS: u64 = 300;

/// What to ask for, and how.
pub struct Request<'a> {
    /// RFC 6749 §3.3 `scope`.
    pub scope: Option<&'a str>,
    /// RFC 8707 `resource` indicators.
    pub resources: &'a [String],
    /// Whether to open the system browser (the URL is printed either way).
    pub open_browser: bool,
    /// Give up after this long without an authorization response.
    pub timeout: Duration,
}

/// Runs the browser sign-in and returns the token response.
pub async fn login(session: &Session, request: &Request<'_>) -> Result<TokenResponse> {
    let endpoint = session.metadata.endpoint("authorization_endpoint")?;
    if let Some(methods) = &session.metadata.code_challenge_methods_supported
        && !methods.iter().any(|m| m == "S256")
    {
        bail!("the issuer does not support PKCE with S256 (code_challenge_methods_supported)");
    }
    // RFC 8252 §8.3: the IP literal rather than `localhost`, which could resolve to
    // another interface or to IPv6 first; port 0 lets the system pick a free port.
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .context("cannot listen on a loopback port for the redirect")?;
    let port = listener.local_addr()?.port();
    let redirect_uri = format!("http://127.0.0.1:{port}{CALLBACK_PATH}");
    // RFC 7636 §4.1: 256 bits of randomness, base64url (43 characters).
    let verifier = generate_secret()?;
    let state = generate_secret()?;
    let openid = request
        .scope
        .is_some_and(|s| s.split(' ').any(|s| s == "openid"));
    let nonce = if openid {
        Some(generate_secret()?)
    } else {
        None
    };
    let url = authorization_url(&Authorization {
        endpoint: &endpoint,
        client_id: session.auth.client_id(),
        redirect_uri: &redirect_uri,
        request,
        code_challenge: &s256(verifier.expose_secret()),
        state: state.expose_secret(),
        nonce: nonce.as_ref().map(ExposeSecret::expose_secret),
        dpop_jkt: session.dpop.as_ref().map(|d| d.jkt()),
    });
    eprintln!("To sign in, open this URL in a browser:\n\n  {url}\n");
    if request.open_browser {
        open_browser(url.into());
    }
    let spinner = Spinner::start("Waiting for the sign-in in the browser…");
    let response = receive(listener, state.expose_secret(), request.timeout).await?;
    drop(spinner);
    let code = accept(session, response)?;
    let form = vec![
        ("grant_type", "authorization_code".to_owned()),
        ("code", code.expose_secret().to_owned()),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier.expose_secret().to_owned()),
    ];
    let tokens = token_endpoint::request_ok(session, form).await?;
    id_token::check(
        session,
        &tokens,
        nonce.as_ref().map(ExposeSecret::expose_secret),
    )
    .await?;
    Ok(tokens)
}

/// The parameters of the authorization request.
struct Authorization<'a> {
    endpoint: &'a Url,
    client_id: &'a str,
    redirect_uri: &'a str,
    request: &'a Request<'a>,
    code_challenge: &'a str,
    state: &'a str,
    nonce: Option<&'a str>,
    /// RFC 9449 §10: binds the code to the DPoP key that will redeem it.
    dpop_jkt: Option<&'a str>,
}

/// RFC 6749 §4.1.1 + RFC 7636 §4.3: the authorization URL (the endpoint's own query,
/// if any, is kept, RFC 6749 §3.1).
fn authorization_url(a: &Authorization<'_>) -> Url {
    let mut url = a.endpoint.clone();
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", a.client_id)
            .append_pair("redirect_uri", a.redirect_uri)
            .append_pair("state", a.state)
            .append_pair("code_challenge", a.code_challenge)
            .append_pair("code_challenge_method", "S256");
        if let Some(scope) = a.request.scope {
            query.append_pair("scope", scope);
        }
        if let Some(nonce) = a.nonce {
            query.append_pair("nonce", nonce);
        }
        if let Some(jkt) = a.dpop_jkt {
            query.append_pair("dpop_jkt", jkt);
        }
        for resource in a.request.resources {
            query.append_pair("resource", resource);
        }
    }
    url
}

/// Opens the system browser at `url`. Off the async workers and not awaited: a
/// text-mode browser may hold the call until it exits.
fn open_browser(url: String) {
    tokio::task::spawn_blocking(move || {
        if let Err(e) = webbrowser::open(&url) {
            eprintln!("Could not open a browser ({e}); open the URL above yourself.");
        }
    });
}

/// An authorization response (RFC 6749 §4.1.2 / §4.1.2.1) whose `state` matched.
enum Callback {
    /// Success: the code, and RFC 9207 `iss` if sent.
    Code {
        code: SecretString,
        iss: Option<String>,
    },
    /// The server's error, and RFC 9207 `iss` if sent.
    Error {
        error: String,
        description: Option<String>,
        iss: Option<String>,
    },
}

/// RFC 9207 §2.4: `iss` must be our issuer when present, and present when the issuer
/// says it sends it (the mix-up attack: a response from another server, RFC 9700
/// §4.4). Then the code, or the server's error.
fn accept(session: &Session, callback: Callback) -> Result<SecretString> {
    let iss = match &callback {
        Callback::Code { iss, .. } | Callback::Error { iss, .. } => iss.as_deref(),
    };
    match iss {
        Some(iss) if iss != session.issuer => bail!(
            "the authorization response comes from the issuer `{}`, not {} (RFC 9207 mix-up)",
            sanitize(iss),
            sanitize(&session.issuer)
        ),
        None if session
            .metadata
            .authorization_response_iss_parameter_supported =>
        {
            bail!("the authorization response lacks `iss`, which the issuer promises (RFC 9207)")
        }
        _ => {}
    }
    match callback {
        Callback::Code { code, .. } => Ok(code),
        Callback::Error {
            error, description, ..
        } => Err(match description {
            Some(d) => anyhow!(
                "the authorization server refused the sign-in: {}: {}",
                sanitize(&error),
                sanitize(&d)
            ),
            None => anyhow!(
                "the authorization server refused the sign-in: {}",
                sanitize(&error)
            ),
        }),
    }
}

/// The loopback listener's state: the `state` to expect and where to hand the one
/// response.
#[derive(Clone)]
struct Waiting {
    state: Arc<str>,
    responses: mpsc::Sender<Callback>,
}

/// Serves `listener` until one authorization response with our `state` arrives, or
/// `timeout`. The browser gets its page before the listener stops.
async fn receive(listener: TcpListener, state: &str, timeout: Duration) -> Result<Callback> {
    let (responses, mut received) = mpsc::channel(1);
    let (stop, stopped) = oneshot::channel::<()>();
    let app = Router::new()
        .route(CALLBACK_PATH, get(callback_get))
        .with_state(Waiting {
            state: state.into(),
            responses,
        });
    let server = tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .into_future(),
    );
    let outcome = tokio::time::timeout(timeout, received.recv()).await;
    let _ = stop.send(());
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, server).await;
    match outcome {
        Ok(Some(callback)) => Ok(callback),
        Ok(None) => bail!("the loopback listener stopped before the sign-in finished"),
        Err(_) => bail!(
            "no sign-in within {} s; run `portcullis login --browser` again",
            timeout.as_secs()
        ),
    }
}

/// `GET /callback?…`: the browser brings the authorization response. A request with
/// a wrong or missing `state` is answered and otherwise ignored (RFC 6749 §10.12: it
/// may be forged, e.g. by a web page that guessed the port).
async fn callback_get(State(waiting): State<Waiting>, RawQuery(query): RawQuery) -> Response {
    let Some(params) = single_valued(query.as_deref().unwrap_or_default()) else {
        return page(StatusCode::BAD_REQUEST, NOT_A_RESPONSE);
    };
    if params.get("state").map(String::as_str) != Some(&*waiting.state) {
        eprintln!(
            "warning: ignored a request to the loopback listener without this sign-in's state"
        );
        return page(StatusCode::BAD_REQUEST, WRONG_STATE);
    }
    let iss = params.get("iss").cloned();
    let (callback, shown) = if let Some(code) = params.get("code") {
        let code = SecretString::from(code.clone());
        (Callback::Code { code, iss }, SIGNED_IN)
    } else if let Some(error) = params.get("error") {
        let callback = Callback::Error {
            error: error.clone(),
            description: params.get("error_description").cloned(),
            iss,
        };
        (callback, FAILED)
    } else {
        return page(StatusCode::BAD_REQUEST, NOT_A_RESPONSE);
    };
    if waiting.responses.try_send(callback).is_err() {
        return page(StatusCode::CONFLICT, ALREADY_DONE);
    }
    page(StatusCode::OK, shown)
}

/// The query's parameters, or `None` if one appears twice (RFC 6749 §3.1).
fn single_valued(query: &str) -> Option<BTreeMap<String, String>> {
    let mut params = BTreeMap::new();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if params
            .insert(name.into_owned(), value.into_owned())
            .is_some()
        {
            return None;
        }
    }
    Some(params)
}

/// A small static page. No script, no referrer (the URL holds the code), no caching.
fn page(status: StatusCode, message: &'static str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>portcullis login</title>\
         <body><p>{message}</p></body></html>"
    );
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_SECURITY_POLICY, "default-src 'none'"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        Html(html),
    )
        .into_response()
}

/// The path of the redirect URI (the client is registered with
/// `http://127.0.0.1/callback`; RFC 8252 §7.3 lets the port vary).
const CALLBACK_PATH: &str = "/callback";
/// How long the browser's page may take once the response has arrived.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// Page texts.
const SIGNED_IN: &str = "Signed in. You can close this window and return to the terminal.";
const FAILED: &str =
    "The sign-in did not succeed; the terminal says why. You can close this window.";
const WRONG_STATE: &str = "This response does not belong to the sign-in in progress.";
const NOT_A_RESPONSE: &str = "This is not an authorization response.";
const ALREADY_DONE: &str = "The sign-in has already finished. You can close this window.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_not_a_response() {
        assert!(single_valued("code=a&state=b").is_some());
        assert!(single_valued("code=a&code=b&state=c").is_none());
    }

    #[test]
    fn the_authorization_url_carries_pkce_state_nonce_resources_and_dpop_jkt() {
        let endpoint = Url::parse("https://as.example.com/authorize?tenant=x").unwrap();
        let resources = vec!["https://api.example.com".to_owned()];
        let request = Request {
            scope: Some("openid profile"),
            resources: &resources,
            open_browser: false,
            timeout: Duration::from_secs(1),
        };
        let url = authorization_url(&Authorization {
            endpoint: &endpoint,
            client_id: "cli",
            redirect_uri: "http://127.0.0.1:5000/callback",
            request: &request,
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            state: "st",
            nonce: Some("n"),
            dpop_jkt: Some("jkt"),
        });
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("tenant"), Some("x"));
        assert_eq!(get("response_type"), Some("code"));
        assert_eq!(get("code_challenge_method"), Some("S256"));
        assert_eq!(get("redirect_uri"), Some("http://127.0.0.1:5000/callback"));
        assert_eq!(get("scope"), Some("openid profile"));
        assert_eq!(get("nonce"), Some("n"));
        assert_eq!(get("resource"), Some("https://api.example.com"));
        assert_eq!(get("dpop_jkt"), Some("jkt"));
    }
}
