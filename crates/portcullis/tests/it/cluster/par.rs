//! RFC 9126 across two nodes: a `request_uri` pushed to one node is redeemed on the
//! other, once (the pushed request lives in the shared database, sealed under the
//! shared master key).

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_uri_pushed_to_node_a_is_redeemed_once_on_node_b() {
    with_cluster("", |c| async move {
        let (challenge, verifier) = pkce();
        let form = [
            ("response_type", "code"),
            ("redirect_uri", WEB_REDIRECT),
            ("scope", "openid read:orders"),
            ("state", "cluster-state"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        let r = c.post(0, "/par", &form, WEB_AUTH).await;
        assert_eq!(r.status(), 201);
        let body: Value = r.json().await.unwrap();
        let request_uri = body["request_uri"].as_str().unwrap().to_owned();
        let query = encode(&[("client_id", WEB), ("request_uri", &request_uri)]);
        let browser = Cluster::browser();
        // Redeemed on B: on to the login page there.
        let r = browser
            .get(format!("{}/authorize?{query}", c.base(1)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        let login = location(&r);
        assert!(login.starts_with("/login?"), "{login}");
        // A second redemption on A: the error page, never a redirect.
        let again = browser
            .get(format!("{}/authorize?{query}", c.base(0)))
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 400);
        assert!(again.headers().get("location").is_none());
        // The flow started on B goes on (pages on either node) to a code for the
        // pushed request, which redeems.
        let page = browser
            .get(format!("{}{login}", c.base(0)))
            .send()
            .await
            .unwrap();
        let page = page.text().await.unwrap();
        let form = Form::find(&page, "/login").unwrap();
        let mut fields = form.hidden.clone();
        fields.push(("username".into(), ALICE.into()));
        fields.push(("password".into(), ALICE_PASSWORD.into()));
        let mut r = post_browser(&browser, &format!("{}{}", c.base(1), form.action), &fields).await;
        for _ in 0..3 {
            let to = location(&r);
            if !to.starts_with("/consent?") {
                break;
            }
            let page = browser
                .get(format!("{}{to}", c.base(0)))
                .send()
                .await
                .unwrap();
            let page = page.text().await.unwrap();
            let form = Form::find(&page, "/consent").unwrap();
            let mut fields = form.hidden.clone();
            fields.push(("decision".into(), "approve".into()));
            r = post_browser(&browser, &format!("{}{}", c.base(1), form.action), &fields).await;
        }
        let params = redirect_params(&location(&r), WEB_REDIRECT);
        assert_eq!(params["state"], "cluster-state");
        let r = c
            .redeem(0, WEB_AUTH, WEB_REDIRECT, &params["code"], &verifier)
            .await;
        crate::flow::token_ok(r).await;
        let mut conn = c.sql().await;
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM pushed_authorization_requests")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(left, 0, "the pushed request is gone once redeemed");
    })
    .await;
}

async fn post_browser(
    browser: &reqwest::Client,
    url: &str,
    fields: &[(String, String)],
) -> reqwest::Response {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    browser
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}
