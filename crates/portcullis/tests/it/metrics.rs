//! `GET /metrics` (Prometheus text format): what is counted, with which labels, and who
//! may scrape.
//!
//! The recorder is process-wide and the tests of this binary run in parallel, so no
//! test assumes an absolute counter value: each reads a series before and after its
//! own requests and asserts that it grew.

use crate::flow::{self, ALICE, ALICE_PASSWORD, AuthRequest, Browser, pkce};
use crate::support::{BASE_CONFIG, TestApp};
use tempfile::TempDir;

#[tokio::test]
async fn metrics_counts_requests_by_matched_route_and_status() {
    let app = TestApp::start().await;
    let token_ok = [
        ("endpoint", "/token"),
        ("method", "POST"),
        ("status", "200"),
    ];
    let unmatched = [
        ("endpoint", "unmatched"),
        ("method", "GET"),
        ("status", "404"),
    ];
    let token_timed = [("endpoint", "/token")];
    let before = scrape(&app).await;
    app.svc_token().await;
    let r = app
        .http
        .get(app.url("/no-such-endpoint"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let after = scrape(&app).await;
    let requests = "portcullis_http_requests_total";
    assert!(value(&after, requests, &token_ok) > value(&before, requests, &token_ok));
    assert!(value(&after, requests, &unmatched) > value(&before, requests, &unmatched));
    let count = "portcullis_http_request_duration_seconds_count";
    assert!(value(&after, count, &token_timed) > value(&before, count, &token_timed));
    let le5 = [("endpoint", "/token"), ("le", "5")];
    assert!(
        value(
            &after,
            "portcullis_http_request_duration_seconds_bucket",
            &le5
        ) >= 1.0,
        "{after}"
    );
    assert!(after.contains("# TYPE portcullis_http_requests_total counter"));
    assert!(after.contains("# TYPE portcullis_http_request_duration_seconds histogram"));
    assert!(after.contains("portcullis_build_info{version=\""));
}

#[tokio::test]
async fn metrics_counts_tokens_issued_by_grant() {
    let app = flow::start().await;
    let cc = [("grant_type", "client_credentials")];
    let code = [("grant_type", "authorization_code")];
    let issued = "portcullis_tokens_issued_total";
    let before = scrape(&app).await;
    app.svc_token().await;
    let browser = Browser::new(&app);
    let (challenge, verifier) = pkce();
    let (code_value, _) = browser
        .code(&AuthRequest::native(&challenge), ALICE, ALICE_PASSWORD)
        .await;
    let r = flow::redeem_native(&app, &code_value, &verifier).await;
    assert_eq!(r.status(), 200);
    let after = scrape(&app).await;
    assert!(
        value(&after, issued, &cc) > value(&before, issued, &cc),
        "{after}"
    );
    assert!(
        value(&after, issued, &code) > value(&before, issued, &code),
        "{after}"
    );
    // The device grant is labelled by its short name, not its URN.
    assert!(!after.contains("urn:ietf"), "{after}");
}

#[tokio::test]
async fn metrics_counts_login_failures() {
    let app = flow::start().await;
    let failures = "portcullis_login_failures_total";
    let wrong = [("reason", "wrong_password")];
    let unknown = [("reason", "unknown_user")];
    let before = scrape(&app).await;
    let browser = Browser::new(&app);
    let r = browser.authorize(&AuthRequest::native(&pkce().0)).await;
    let page = browser.page(r).await;
    let r = browser.login(&page, ALICE, "wrong-password").await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    let r = browser
        .login(&page, "mallory-metrics", "wrong-password")
        .await;
    assert_eq!(r.status(), 200);
    let after = scrape(&app).await;
    assert!(
        value(&after, failures, &wrong) > value(&before, failures, &wrong),
        "{after}"
    );
    assert!(
        value(&after, failures, &unknown) > value(&before, failures, &unknown),
        "{after}"
    );
    assert!(!after.contains("mallory-metrics"), "no username in a label");
}

#[tokio::test]
async fn metrics_reports_db_pool_usage() {
    let app = TestApp::start().await;
    app.svc_token().await;
    let body = scrape(&app).await;
    assert!(
        body.contains("# TYPE portcullis_db_pool_connections gauge"),
        "{body}"
    );
    let pool = "portcullis_db_pool_connections";
    let idle = value(&body, pool, &[("state", "idle")]);
    let in_use = value(&body, pool, &[("state", "in_use")]);
    let max = value(&body, "portcullis_db_pool_max_connections", &[]);
    assert!(max >= 1.0, "{body}");
    assert!(
        idle >= 0.0 && in_use >= 0.0 && idle + in_use <= max,
        "{body}"
    );
    // The pool of this server, not another one of this process: the line is unique.
    assert_eq!(
        body.lines()
            .filter(|l| l.starts_with("portcullis_db_pool_max_connections "))
            .count(),
        1
    );
}

#[tokio::test]
async fn metrics_refuses_scrapes_from_disallowed_addresses() {
    let elsewhere = format!("{BASE_CONFIG}\n[metrics]\nallow = [\"10.0.0.0/8\"]\n");
    let app = TestApp::start_in(TempDir::new().unwrap(), &elsewhere).await;
    let not_found = app
        .http
        .get(app.url("/no-such-endpoint"))
        .send()
        .await
        .unwrap();
    assert_eq!(not_found.status(), 404);
    let not_found = not_found.text().await.unwrap();
    let r = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.text().await.unwrap(),
        not_found,
        "same as any unknown path"
    );

    let disabled = format!("{BASE_CONFIG}\n[metrics]\nenabled = false\n");
    let app = TestApp::start_in(TempDir::new().unwrap(), &disabled).await;
    let r = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 404);

    // Loopback is allowed by default, but not through a proxy on the same host.
    let app = TestApp::start().await;
    for header in ["x-forwarded-for", "forwarded", "x-real-ip"] {
        let r = app
            .http
            .get(app.url("/metrics"))
            .header(header, "203.0.113.7")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{header}");
    }
    scrape(&app).await;
}

#[tokio::test]
async fn metrics_uses_route_templates_not_raw_paths() {
    let app = flow::start().await;
    let marker = "zq7metricsmarker".to_owned();
    let browser = Browser::new(&app);
    let r = browser
        .get(&format!("/authorize?client_id={marker}&state={marker}"))
        .await;
    assert_ne!(r.status(), 404);
    let r = browser.get(&format!("/random-{marker}/deeper")).await;
    assert_eq!(r.status(), 404);
    let r = browser.get(&format!("/login?request={marker}")).await;
    assert_ne!(r.status(), 404);
    let r = app
        .http
        .request(
            reqwest::Method::from_bytes(format!("M{}", &marker[..8]).as_bytes()).unwrap(),
            app.url("/token"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let body = scrape(&app).await;
    assert!(!body.contains(&marker), "{body}");
    assert!(
        !body.contains(&marker[..8]),
        "no client-chosen method: {body}"
    );
    assert!(body.contains("endpoint=\"/authorize\""), "{body}");
    assert!(body.contains("endpoint=\"/login\""), "{body}");
    assert!(body.contains("method=\"other\""), "{body}");
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        if let Some((_, rest)) = line.split_once("endpoint=\"") {
            let endpoint = rest.split('"').next().unwrap();
            assert!(
                endpoint == "unmatched" || endpoint.starts_with('/'),
                "{line}"
            );
            assert!(!endpoint.contains('?'), "{line}");
        }
    }
}

/// `GET /metrics` from loopback: asserts 200 and the text format's content type.
async fn scrape(app: &TestApp) -> String {
    let r = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert_eq!(r.headers()["cache-control"], "no-store");
    r.text().await.unwrap()
}

/// The value of the series `name` whose labels include `labels` (any order; others
/// ignored), summed over matching series; 0 when there is none.
fn value(body: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    body.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, number) = line.rsplit_once(' ')?;
            let (series_name, series_labels) = match series.split_once('{') {
                Some((n, l)) => (n, l.trim_end_matches('}')),
                None => (series, ""),
            };
            if series_name != name {
                return None;
            }
            let all = labels.iter().all(|(k, v)| {
                series_labels
                    .split(',')
                    .any(|l| l == format!("{k}=\"{v}\""))
            });
            all.then(|| number.parse::<f64>().unwrap())
        })
        .sum()
}
