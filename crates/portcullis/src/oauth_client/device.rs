//! RFC 8628: the device authorization grant, from the device's side. The client asks
//! for a device code and a user code (§3.1–3.2), shows the person where to enter the
//! code (§3.3, with a QR code of `verification_uri_complete`, §3.3.1), and polls the
//! token endpoint (§3.4) until the person approves, denies, or the code expires (§3.5).

use super::Session;
use super::http::{self, secure_url};
use super::id_token;
use super::terminal::{self, Spinner, sanitize};
use super::token_endpoint::{self, TokenResponse};
use anyhow::{Context, Result, anyhow, bail};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::time::Duration;
use tokio::time::Instant;

/// What to ask for.
pub struct Request<'a> {
    /// RFC 8628 §3.1 `scope`.
    pub scope: Option<&'a str>,
    /// RFC 8707 `resource` indicators.
    pub resources: &'a [String],
    /// Give up after this long (default: the code's `expires_in`).
    pub timeout: Option<Duration>,
}

/// Runs the device flow and returns the token response.
pub async fn login(session: &Session, request: &Request<'_>) -> Result<TokenResponse> {
    run(session, request, &mut SystemTimer).await
}

/// [`login`], waiting with `timer`.
async fn run(
    session: &Session,
    request: &Request<'_>,
    timer: &mut impl Timer,
) -> Result<TokenResponse> {
    let authorization = authorize(session, request).await?;
    eprint!(
        "{}",
        instructions(&authorization, terminal::stderr_is_terminal())
    );
    let schedule = Schedule::new(&authorization, request.timeout);
    let tokens = poll(session, &authorization, schedule, timer).await?;
    id_token::check(session, &tokens, None).await?;
    Ok(tokens)
}

/// How long to poll and how often, from the server's `expires_in` and `interval`
/// within bounds: a server (or whoever answers in its name) must not make the client
/// poll every few milliseconds, wait for years between polls, or poll forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Schedule {
    /// Stop polling after this long: `expires_in` (at most [`MAX_LIFETIME`]), or
    /// `--timeout` when shorter.
    lifetime: Duration,
    /// The first wait between polls: `interval` within [`MIN_INTERVAL`]–[`MAX_INTERVAL`].
    interval: Duration,
}

impl Schedule {
    fn new(authorization: &DeviceAuthorization, timeout: Option<Duration>) -> Self {
        let lifetime = Duration::from_secs(authorization.expires_in).min(MAX_LIFETIME);
        Self {
            lifetime: timeout.map_or(lifetime, |t| t.min(lifetime)),
            interval: Duration::from_secs(authorization.interval).clamp(MIN_INTERVAL, MAX_INTERVAL),
        }
    }
}

/// The clock the poll loop reads and waits on (a test's timer records the waits
/// instead of sleeping).
trait Timer {
    /// Now.
    fn now(&self) -> Instant;
    /// Waits for `duration`.
    async fn sleep(&mut self, duration: Duration);
}

/// The real clock.
struct SystemTimer;

impl Timer for SystemTimer {
    fn now(&self) -> Instant {
        Instant::now()
    }

    async fn sleep(&mut self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// RFC 8628 §3.2 device authorization response.
#[derive(Deserialize)]
struct DeviceAuthorization {
    /// Polled with; never shown.
    device_code: SecretString,
    /// What the person types.
    user_code: String,
    /// Where the person goes.
    verification_uri: String,
    /// `verification_uri` with the user code in it (optional, §3.3.1).
    verification_uri_complete: Option<String>,
    /// Seconds until the codes expire.
    expires_in: u64,
    /// Seconds between polls (§3.2: default 5).
    #[serde(default = "default_interval")]
    interval: u64,
}

/// §3.1: POST the device authorization request.
async fn authorize(session: &Session, request: &Request<'_>) -> Result<DeviceAuthorization> {
    let endpoint = session.metadata.endpoint("device_authorization_endpoint")?;
    let mut form = Vec::new();
    if let Some(scope) = request.scope {
        form.push(("scope", scope.to_owned()));
    }
    form.extend(request.resources.iter().map(|r| ("resource", r.clone())));
    // RFC 9449 defines no proof for this endpoint: the device code is bound at the
    // token endpoint, by the proofs of the polls.
    let answer = http::post_form(&session.http, &endpoint, form, &session.auth, None)
        .await?
        .answer
        .map_err(|refusal| {
            anyhow!("the device authorization endpoint refused the request: {refusal}")
        })?;
    serde_json::from_value(serde_json::Value::Object(answer))
        .context("the device authorization endpoint answered without device_code, user_code, verification_uri or expires_in (RFC 8628 §3.2)")
}

/// §3.3: where to go and what to type (for standard error), with a QR code when `qr`
/// (standard error is a terminal). Everything from the server is sanitised.
fn instructions(authorization: &DeviceAuthorization, qr: bool) -> String {
    let uri = shown_url(&authorization.verification_uri);
    let code = sanitize(&authorization.user_code);
    let mut text = format!("To sign in, open:   {uri}\nand enter the code: {code}\n");
    let Some(complete) = authorization
        .verification_uri_complete
        .as_deref()
        .map(shown_url)
    else {
        return text;
    };
    match terminal::qr_code(&complete).filter(|_| qr) {
        Some(qr) => text.push_str(&format!(
            "\nOr scan this code, which opens the page with the code filled in:\n{qr}\n"
        )),
        None => text.push_str(&format!(
            "(or open {complete}, which has the code filled in)\n"
        )),
    }
    text
}

/// A URL from the server as it may be shown: parsed and re-serialised (which
/// percent-encodes control characters), or sanitised text when it does not parse.
fn shown_url(raw: &str) -> String {
    secure_url("verification URI", raw).map_or_else(|_| sanitize(raw), String::from)
}

/// §3.4–3.5: polls until tokens, a final error, or the end of `schedule.lifetime`.
async fn poll(
    session: &Session,
    authorization: &DeviceAuthorization,
    schedule: Schedule,
    timer: &mut impl Timer,
) -> Result<TokenResponse> {
    // Bounded by MAX_LIFETIME, so never past the end of `Instant`; checked all the same.
    let deadline = timer
        .now()
        .checked_add(schedule.lifetime)
        .context("the code's lifetime is out of range")?;
    let mut interval = schedule.interval;
    let spinner = Spinner::start("Waiting for you to approve the sign-in in the browser…");
    loop {
        let next = timer.now().checked_add(interval);
        if next.is_none_or(|next| next > deadline) {
            bail!("the code expired before the sign-in was approved; run `portcullis login` again");
        }
        timer.sleep(interval).await;
        let form = vec![
            ("grant_type", DEVICE_CODE_GRANT.to_owned()),
            (
                "device_code",
                authorization.device_code.expose_secret().to_owned(),
            ),
        ];
        let refusal = match token_endpoint::request(session, form).await {
            Ok(Ok(tokens)) => return Ok(tokens),
            Ok(Err(refusal)) => refusal,
            // §3.5: on a connection timeout, back off exponentially.
            Err(e) if is_timeout(&e) => {
                interval = interval.saturating_mul(2).min(MAX_INTERVAL);
                spinner.set_message("The server is slow to answer; polling less often…");
                continue;
            }
            Err(e) => return Err(e),
        };
        match refusal.code() {
            Some("authorization_pending") => {}
            // §3.5: "the interval MUST be increased by 5 seconds for this and all
            // subsequent requests" (up to MAX_INTERVAL: a server that keeps answering
            // slow_down is polled once a minute).
            Some("slow_down") => interval = interval.saturating_add(SLOW_DOWN).min(MAX_INTERVAL),
            Some("access_denied") => bail!("the sign-in was denied ({refusal})"),
            Some("expired_token") => bail!(
                "the code expired before the sign-in was approved ({refusal}); run `portcullis login` again"
            ),
            _ => bail!("the token endpoint refused the request: {refusal}"),
        }
    }
}

/// Whether `e` is a request that timed out.
fn is_timeout(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|cause| cause.downcast_ref::<reqwest::Error>())
        .any(reqwest::Error::is_timeout)
}

/// §3.2: the interval when the server names none.
fn default_interval() -> u64 {
    5
}

/// RFC 8628 §3.4 `grant_type`.
const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// §3.5 `slow_down` step.
const SLOW_DOWN: Duration = Duration::from_secs(5);
/// Shortest wait between polls, whatever `interval` says.
const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Longest wait between polls, whatever `interval` says, after `slow_down`s and when
/// backing off after timeouts.
const MAX_INTERVAL: Duration = Duration::from_secs(60);
/// Longest time polling, whatever `expires_in` says: an hour, the longest
/// `device_code_ttl` a Portcullis server accepts and the longest `--timeout`.
const MAX_LIFETIME: Duration = Duration::from_secs(3600);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth_client::mock::{self, MockServer, Script};
    use axum::Router;
    use serde_json::{Value, json};

    /// A timer that does not sleep: it records each wait and moves its clock on.
    struct RecordingTimer {
        start: Instant,
        waits: Vec<Duration>,
    }

    impl RecordingTimer {
        fn new() -> Self {
            Self {
                start: Instant::now(),
                waits: Vec::new(),
            }
        }

        fn waited(&self) -> Duration {
            self.waits.iter().sum()
        }
    }

    impl Timer for RecordingTimer {
        fn now(&self) -> Instant {
            self.start + self.waited()
        }

        async fn sleep(&mut self, duration: Duration) {
            self.waits.push(duration);
        }
    }

    fn secs(list: &[u64]) -> Vec<Duration> {
        list.iter().copied().map(Duration::from_secs).collect()
    }

    fn device_answer(expires_in: Value, interval: Value) -> Value {
        json!({
            "device_code": "dc",
            "user_code": "BCDF-GHJK",
            "verification_uri": "https://as.example.com/device",
            "expires_in": expires_in,
            "interval": interval,
        })
    }

    fn pending() -> (u16, Value) {
        (400, json!({"error": "authorization_pending"}))
    }

    fn slow_down() -> (u16, Value) {
        (400, json!({"error": "slow_down"}))
    }

    fn issued() -> (u16, Value) {
        (200, json!({"access_token": "at", "token_type": "Bearer"}))
    }

    /// Runs the device flow against a server whose device authorization endpoint
    /// answers `device` and whose token endpoint answers `token` in turn.
    async fn login_against(
        device: Value,
        token: impl IntoIterator<Item = (u16, Value)>,
        timeout: Option<Duration>,
    ) -> (Result<TokenResponse>, RecordingTimer, Script) {
        let token = Script::new(token);
        let token_route = token.route();
        let device = Script::new([(200, device)]).route();
        let server = MockServer::start(|_| {
            Router::new()
                .route("/device", device)
                .route("/token", token_route)
        })
        .await;
        let metadata = json!({
            "token_endpoint": server.url("/token"),
            "device_authorization_endpoint": server.url("/device"),
        });
        let session = mock::session(&server.base, metadata, None);
        let request = Request {
            scope: Some("openid"),
            resources: &[],
            timeout,
        };
        let mut timer = RecordingTimer::new();
        let outcome = run(&session, &request, &mut timer).await;
        (outcome, timer, token)
    }

    #[tokio::test]
    async fn slow_down_adds_five_seconds_to_this_and_later_polls() {
        let (outcome, timer, _) = login_against(
            device_answer(json!(600), json!(1)),
            [pending(), slow_down(), pending(), issued()],
            None,
        )
        .await;
        outcome.unwrap();
        // interval 1; after the slow_down, 1 + 5 for every later poll.
        assert_eq!(timer.waits, secs(&[1, 1, 6, 6]));
    }

    #[tokio::test]
    async fn slow_down_growth_is_capped() {
        let (outcome, timer, _) = login_against(
            device_answer(json!(600), json!(50)),
            [slow_down(), slow_down(), slow_down(), issued()],
            None,
        )
        .await;
        outcome.unwrap();
        assert_eq!(timer.waits, secs(&[50, 55, 60, 60]));
    }

    #[tokio::test]
    async fn huge_expires_in_and_interval_do_not_panic_and_are_clamped() {
        for (expires_in, interval, first_wait) in [
            (json!(u64::MAX), json!(u64::MAX), 60),
            (json!(u64::MAX), json!(0), 1),
            (json!(i64::MAX), json!(1_000_000_000_u64), 60),
        ] {
            let (outcome, timer, _) =
                login_against(device_answer(expires_in, interval), [issued()], None).await;
            outcome.unwrap();
            assert_eq!(timer.waits, secs(&[first_wait]));
        }
    }

    #[tokio::test]
    async fn a_code_that_never_expires_is_polled_for_an_hour_at_most() {
        let (outcome, timer, token) = login_against(
            device_answer(json!(u64::MAX), json!(u64::MAX)),
            [pending()],
            None,
        )
        .await;
        let message = outcome.err().unwrap().to_string();
        assert!(message.contains("expired"), "{message}");
        assert!(timer.waited() <= MAX_LIFETIME, "{:?}", timer.waited());
        assert!(timer.waits.iter().all(|w| *w == MAX_INTERVAL));
        assert_eq!(timer.waits.len(), 60);
        assert_eq!(token.requests(), 60);

        // --timeout shortens it.
        let (outcome, timer, _) = login_against(
            device_answer(json!(u64::MAX), json!(5)),
            [pending()],
            Some(Duration::from_secs(20)),
        )
        .await;
        assert!(outcome.is_err());
        assert_eq!(timer.waits, secs(&[5, 5, 5, 5]));
    }

    #[tokio::test]
    async fn a_hostile_device_authorization_answer_is_an_error_not_a_panic() {
        for (expires_in, interval) in [
            (json!(-1), json!(5)),
            (json!(1e300), json!(5)),
            (json!("600"), json!(5)),
            (json!(600), json!(-5)),
        ] {
            let (outcome, timer, token) =
                login_against(device_answer(expires_in, interval), [issued()], None).await;
            assert!(outcome.is_err());
            assert!(timer.waits.is_empty());
            assert_eq!(token.requests(), 0);
        }
        // expires_in 0: expired before the first poll.
        let (outcome, _, token) =
            login_against(device_answer(json!(0), json!(5)), [issued()], None).await;
        assert!(outcome.err().unwrap().to_string().contains("expired"));
        assert_eq!(token.requests(), 0);
    }

    #[test]
    fn instructions_show_no_control_characters_from_the_server() {
        let authorization: DeviceAuthorization = serde_json::from_value(json!({
            "device_code": "dc",
            "user_code": "BCDF\u{1b}[2J\u{9b}31m-GHJK\u{7f}\u{202e}",
            "verification_uri": "https://as.example.com/dev\u{1b}]0;x\u{7}ice",
            "verification_uri_complete": "javascript:\u{9b}2J\u{85}alert(1)",
            "expires_in": 600,
        }))
        .unwrap();
        for qr in [false, true] {
            let text = instructions(&authorization, qr);
            assert!(
                !text
                    .chars()
                    .any(|c| c != '\n' && (c.is_control() || c == '\u{202e}')),
                "{text:?}"
            );
            assert!(text.contains("BCDF?[2J?31m-GHJK??"), "{text}");
        }
    }
}
