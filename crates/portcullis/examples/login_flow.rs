//! Load generator for the whole authorization code flow (not a test): each iteration
//! is a fresh browser (a new cookie jar) that goes authorize → login page → login POST
//! → consent (GET + approve, when shown) → code at the redirect URI → `POST /token`.
//! Reports flows/s and p50/p99 latency of a whole flow and of the login POST, where
//! argon2id dominates. `bench/login_flow.sh` runs it against `portcullis serve --dev`.
//!
//! Run: `cargo run --release -p portcullis --example login_flow -- --concurrency 4`
//! (defaults match `portcullis serve --dev` started in the current directory).
#![allow(missing_docs)]

use clap::Parser;
use oauth2::{CsrfToken, PkceCodeChallenge};
use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Client, Response, StatusCode};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use url::Url;

/// Drives the authorization code flow with many simulated browsers.
#[derive(Debug, Parser)]
struct Args {
    /// The issuer (base URL) of the server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    issuer: Url,
    /// A public client allowed the authorization_code grant.
    #[arg(long, default_value = "demo-app")]
    client_id: String,
    /// A redirect URI registered for the client.
    #[arg(long, default_value = "http://127.0.0.1:8081/callback")]
    redirect_uri: Url,
    /// Scopes to request.
    #[arg(long, default_value = "openid profile")]
    scope: String,
    /// The user(s) to log in as, comma-separated; worker `i` uses the `i`-th (mod n), so
    /// concurrent logins are for different accounts, as in real traffic (attempts on
    /// one account run one at a time). All share the password.
    #[arg(long, default_value = "demo", value_delimiter = ',')]
    username: Vec<String>,
    /// The user's password; default: `user_password` from --credentials-file.
    #[arg(long)]
    password: Option<String>,
    /// The file `serve --dev` writes its demo credentials to.
    #[arg(long, default_value = "portcullis-data/dev-credentials.json")]
    credentials_file: PathBuf,
    /// Simulated browsers running at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Seconds to start new flows for.
    #[arg(long, default_value_t = 15)]
    duration: u64,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("login_flow: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let password = match args.password.clone() {
        Some(p) => p,
        None => dev_password(&args.credentials_file)?,
    };
    let target = Arc::new(Target {
        issuer: args.issuer.as_str().trim_end_matches('/').to_owned(),
        client_id: args.client_id.clone(),
        redirect_uri: args.redirect_uri.clone(),
        scope: args.scope.clone(),
        username: args.username.first().cloned().unwrap_or_default(),
        password,
    });
    // One connection pool; each simulated browser brings its own cookie jar.
    let http = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;

    // One flow first: a wrong password or client stops here with the reason.
    Browser::new(http.clone(), target.clone())
        .flow()
        .await
        .map_err(|e| format!("the first flow failed: {e}"))?;

    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration);
    let workers: Vec<_> = (0..args.concurrency.max(1))
        .map(|worker| {
            let http = http.clone();
            let username = args
                .username
                .get(worker % args.username.len().max(1))
                .cloned()
                .unwrap_or_default();
            let target = Arc::new(Target {
                username,
                ..Target::clone(&target)
            });
            tokio::spawn(async move {
                let mut stats = Stats::default();
                while Instant::now() < deadline {
                    let begun = Instant::now();
                    match Browser::new(http.clone(), target.clone()).flow().await {
                        Ok(timing) => {
                            stats.flows.push(begun.elapsed());
                            stats.logins.push(timing.login_post);
                        }
                        Err(e) => {
                            stats.errors += 1;
                            if stats.first_errors.len() < 3 {
                                stats.first_errors.push(e);
                            }
                        }
                    }
                }
                stats
            })
        })
        .collect();
    let mut all = Stats::default();
    for worker in workers {
        let stats = worker.await.map_err(|e| e.to_string())?;
        all.flows.extend(stats.flows);
        all.logins.extend(stats.logins);
        all.errors += stats.errors;
        all.first_errors.extend(stats.first_errors);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.flows.sort();
    all.logins.sort();
    println!(
        "concurrency {:>3}  {:>6.1} s  flows {:>6}  errors {:>3}  flows/s {:>7.2}  flow p50 {:>7.1} ms  p99 {:>7.1} ms  login POST p50 {:>7.1} ms  p99 {:>7.1} ms",
        args.concurrency,
        elapsed,
        all.flows.len(),
        all.errors,
        all.flows.len() as f64 / elapsed,
        ms(percentile(&all.flows, 50)),
        ms(percentile(&all.flows, 99)),
        ms(percentile(&all.logins, 50)),
        ms(percentile(&all.logins, 99)),
    );
    for e in &all.first_errors {
        eprintln!("error: {e}");
    }
    Ok(())
}

/// What every simulated browser talks to.
#[derive(Clone)]
struct Target {
    issuer: String,
    client_id: String,
    redirect_uri: Url,
    scope: String,
    username: String,
    password: String,
}

/// Timings of one successful flow beyond its total.
struct FlowTiming {
    login_post: Duration,
}

#[derive(Default)]
struct Stats {
    flows: Vec<Duration>,
    logins: Vec<Duration>,
    errors: u64,
    first_errors: Vec<String>,
}

/// A fresh browser: no cookies, redirects followed by hand.
struct Browser {
    http: Client,
    jar: Jar,
    target: Arc<Target>,
}

impl Browser {
    fn new(http: Client, target: Arc<Target>) -> Self {
        Self {
            http,
            jar: Jar::default(),
            target,
        }
    }

    /// authorize → login → consent (if shown) → code → token.
    async fn flow(&self) -> Result<FlowTiming, String> {
        let t = &self.target;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = CsrfToken::new_random();
        let nonce = CsrfToken::new_random();
        let mut authorize = Url::parse(&format!("{}/authorize", t.issuer)).map_err(text)?;
        authorize
            .query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &t.client_id)
            .append_pair("redirect_uri", t.redirect_uri.as_str())
            .append_pair("scope", &t.scope)
            .append_pair("state", state.secret())
            .append_pair("nonce", nonce.secret())
            .append_pair("code_challenge", challenge.as_str())
            .append_pair("code_challenge_method", "S256");

        let mut login_post = None;
        let mut next = self.redirect(self.get(&authorize).await?, &authorize)?;
        // At most: login page, consent page, then the redirect URI.
        for _ in 0..4 {
            if is_redirect_uri(&next, &t.redirect_uri) {
                break;
            }
            let response = self.get(&next).await?;
            let page = expect_page(response, &next).await?;
            let form = Form::parse(&page, &next)?;
            let (fields, is_login) = if page.contains(r#"name="password""#) {
                let mut fields = form.hidden.clone();
                fields.push(("username".into(), t.username.clone()));
                fields.push(("password".into(), t.password.clone()));
                (fields, true)
            } else if page.contains(r#"name="decision""#) {
                let mut fields = form.hidden.clone();
                fields.push(("decision".into(), "approve".into()));
                (fields, false)
            } else {
                return Err(format!("{next} is neither the login nor the consent page"));
            };
            let begun = Instant::now();
            let response = self.post_form(&form.action, &fields).await?;
            if is_login {
                login_post = Some(begun.elapsed());
            }
            next = self.redirect(response, &form.action)?;
        }
        if !is_redirect_uri(&next, &t.redirect_uri) {
            return Err(format!("never reached the redirect URI; last at {next}"));
        }
        let query = |name: &str| {
            next.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        if let Some(error) = query("error") {
            return Err(format!("the redirect carries error={error}"));
        }
        if query("state").as_deref() != Some(state.secret().as_str()) {
            return Err("state mismatch at the redirect URI".into());
        }
        if query("iss").as_deref() != Some(t.issuer.as_str()) {
            return Err(format!("iss {:?} is not the issuer", query("iss")));
        }
        let code = query("code").ok_or("no code at the redirect URI")?;

        let token_url = Url::parse(&format!("{}/token", t.issuer)).map_err(text)?;
        let response = self
            .post_form(
                &token_url,
                &[
                    ("grant_type".into(), "authorization_code".into()),
                    ("code".into(), code),
                    ("redirect_uri".into(), t.redirect_uri.to_string()),
                    ("code_verifier".into(), verifier.secret().clone()),
                    ("client_id".into(), t.client_id.clone()),
                ],
            )
            .await?;
        let status = response.status();
        let body: serde_json::Value = response.json().await.map_err(text)?;
        if status != StatusCode::OK
            || !body
                .get("access_token")
                .is_some_and(serde_json::Value::is_string)
        {
            return Err(format!("token endpoint: {status} {body}"));
        }
        Ok(FlowTiming {
            login_post: login_post.ok_or("the login page was never shown")?,
        })
    }

    async fn get(&self, url: &Url) -> Result<Response, String> {
        let mut request = self.http.get(url.clone());
        if let Some(cookies) = self.jar.cookies(url) {
            request = request.header(COOKIE, cookies);
        }
        let response = request.send().await.map_err(text)?;
        self.keep_cookies(&response, url);
        Ok(response)
    }

    async fn post_form(&self, url: &Url, fields: &[(String, String)]) -> Result<Response, String> {
        let mut request = self.http.post(url.clone()).form(fields);
        if let Some(cookies) = self.jar.cookies(url) {
            request = request.header(COOKIE, cookies);
        }
        let response = request.send().await.map_err(text)?;
        self.keep_cookies(&response, url);
        Ok(response)
    }

    fn keep_cookies(&self, response: &Response, url: &Url) {
        self.jar
            .set_cookies(&mut response.headers().get_all(SET_COOKIE).iter(), url);
    }

    /// The `Location` of a 302/303, resolved against the request URL.
    fn redirect(&self, response: Response, from: &Url) -> Result<Url, String> {
        let status = response.status();
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .filter(|_| status.is_redirection())
            .ok_or_else(|| format!("{from}: expected a redirect, got {status}"))?;
        from.join(location).map_err(text)
    }
}

/// The page's form: where it posts and its hidden inputs (`request`, `csrf_token`, …).
struct Form {
    action: Url,
    hidden: Vec<(String, String)>,
}

impl Form {
    fn parse(html: &str, page: &Url) -> Result<Self, String> {
        let form_tag = tags(html, "form")
            .into_iter()
            .find(|tag| attr(tag, "method").is_some_and(|m| m.eq_ignore_ascii_case("post")))
            .ok_or_else(|| format!("{page}: no POST form"))?;
        let action = attr(form_tag, "action").unwrap_or_default();
        let action = page.join(&action).map_err(text)?;
        let hidden = tags(html, "input")
            .into_iter()
            .filter(|tag| attr(tag, "type").as_deref() == Some("hidden"))
            .filter_map(|tag| Some((attr(tag, "name")?, attr(tag, "value").unwrap_or_default())))
            .collect();
        Ok(Self { action, hidden })
    }
}

async fn expect_page(response: Response, url: &Url) -> Result<String, String> {
    let status = response.status();
    let body = response.text().await.map_err(text)?;
    if status != StatusCode::OK {
        let start: String = body.chars().take(300).collect();
        return Err(format!("{url}: {status}: {start}"));
    }
    Ok(body)
}

/// The opening tags `<name …>` in `html` (without the angle brackets).
fn tags<'a>(html: &'a str, name: &str) -> Vec<&'a str> {
    let open = format!("<{name}");
    html.match_indices(open.as_str())
        .filter_map(|(at, _)| {
            let rest = html.get(at + open.len()..)?;
            if !rest.starts_with(|c: char| c.is_ascii_whitespace() || c == '>') {
                return None;
            }
            rest.split_once('>').map(|(tag, _)| tag)
        })
        .collect()
}

/// The value of a double-quoted attribute `name="…"` in a tag, HTML entities decoded.
fn attr(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let value = tag.get(start..)?.split('"').next()?;
    Some(unescape(value))
}

/// Decodes the entities a template engine writes in attribute values.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(rest.get(..amp).unwrap_or_default());
        rest = rest.get(amp..).unwrap_or_default();
        let Some(semi) = rest.find(';').filter(|&i| i <= 10) else {
            out.push('&');
            rest = rest.get(1..).unwrap_or_default();
            continue;
        };
        let entity = rest.get(1..semi).unwrap_or_default();
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = rest.get(semi + 1..).unwrap_or_default();
            }
            None => {
                out.push('&');
                rest = rest.get(1..).unwrap_or_default();
            }
        }
    }
    out.push_str(rest);
    out
}

fn is_redirect_uri(url: &Url, redirect_uri: &Url) -> bool {
    url.origin() == redirect_uri.origin() && url.path() == redirect_uri.path()
}

fn dev_password(path: &PathBuf) -> Result<String, String> {
    let contents = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "no --password and cannot read {} ({e}); start `portcullis serve --dev` here or pass --password",
            path.display()
        )
    })?;
    let json: serde_json::Value = serde_json::from_str(&contents).map_err(text)?;
    json.get("user_password")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("{} has no user_password", path.display()))
}

/// Nearest-rank percentile of sorted durations.
fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted.get(rank - 1).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}
