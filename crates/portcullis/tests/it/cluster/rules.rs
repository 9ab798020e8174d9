//! The global rules across two nodes: a flow split over both, single use and
//! rotation under fifty concurrent requests, the device polling interval, revocation
//! and client changes as the other node sees them, and the findings of issue 7.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_nodes_started_at_once_publish_the_same_keys_and_discovery() {
    with_cluster("", |c| async move {
        let jwks = |node: usize| {
            let (http, base) = (c.http.clone(), c.base(node).to_owned());
            async move {
                let r = http.get(format!("{base}/jwks")).send().await.unwrap();
                r.json::<Value>().await.unwrap()
            }
        };
        let (a, b) = (jwks(0).await, jwks(1).await);
        assert_eq!(a, b, "one set of signing keys for both nodes");
        let kids = a["keys"].as_array().unwrap();
        assert!(!kids.is_empty());
        let discovery = |node: usize| {
            let (http, base) = (c.http.clone(), c.base(node).to_owned());
            async move {
                let r = http
                    .get(format!("{base}/.well-known/openid-configuration"))
                    .send()
                    .await
                    .unwrap();
                r.json::<Value>().await.unwrap()
            }
        };
        let (da, db) = (discovery(0).await, discovery(1).await);
        assert_eq!(da, db);
        assert_eq!(da["issuer"], c.issuer.as_str());
        // Only the active keys: one per algorithm, however many nodes raced to make it.
        let mut conn = c.sql().await;
        let per_alg: Vec<(String, i64)> = sqlx::query_as(
            "SELECT alg, count(*) FROM signing_keys WHERE status = 'active' GROUP BY alg",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        assert!(per_alg.iter().all(|(_, n)| *n == 1), "{per_alg:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_from_node_a_redeems_on_node_b() {
    with_cluster("", |c| async move {
        let browser = Cluster::browser();
        let (challenge, verifier) = pkce();
        // Authorization request on A, login page on B, login POST on A, consent page
        // on B, consent POST on A: sessions, CSRF tokens and pending requests are in
        // the database.
        let code = c.code(&browser, &[0, 1], WEB_CLIENT, &challenge).await;
        let r = c.redeem(1, WEB_AUTH, WEB_REDIRECT, &code, &verifier).await;
        let token = crate::flow::token_ok(r).await;
        let at = access_token_of(&token);
        // Signed with the shared key: verifies against either node's JWKS.
        for node in [0, 1] {
            let r = c
                .http
                .get(format!("{}/jwks", c.base(node)))
                .send()
                .await
                .unwrap();
            let jwks = r.json().await.unwrap();
            let claims = verify_access_token(&at, &jwks, &c.issuer, API);
            assert_eq!(claims["client_id"], WEB);
            let r = c
                .http
                .get(format!("{}/userinfo", c.base(node)))
                .bearer_auth(&at)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "userinfo on node {node}");
        }
        // A second redemption on A is a replay: refused, and the tokens revoked on both.
        lifecycle::assert_invalid_grant(
            c.redeem(0, WEB_AUTH, WEB_REDIRECT, &code, &verifier).await,
        )
        .await;
        assert!(!c.is_active_on_both(WEB_AUTH, &at).await);
        assert!(
            !c.is_active_on_both(WEB_AUTH, &refresh_token_of(&token))
                .await
        );

        // The consent is remembered for both nodes: B sends the browser straight back.
        let (challenge, verifier) = pkce();
        let code = c.code(&browser, &[1], WEB_CLIENT, &challenge).await;
        let r = c.redeem(0, WEB_AUTH, WEB_REDIRECT, &code, &verifier).await;
        crate::flow::token_ok(r).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_on_node_b_of_token_from_node_a() {
    with_cluster("", |c| async move {
        let browser = Cluster::browser();
        let (challenge, verifier) = pkce();
        let code = c.code(&browser, &[0], WEB_CLIENT, &challenge).await;
        let r = c.redeem(0, WEB_AUTH, WEB_REDIRECT, &code, &verifier).await;
        let first = crate::flow::token_ok(r).await;
        let rt0 = refresh_token_of(&first);

        let second = crate::flow::token_ok(c.refresh(1, WEB_AUTH, &rt0).await).await;
        let rt1 = refresh_token_of(&second);
        assert_ne!(rt0, rt1);
        assert!(
            !c.is_active_on_both(WEB_AUTH, &rt0).await,
            "rotated on B, retired on A"
        );
        assert!(c.is_active_on_both(WEB_AUTH, &rt1).await);
        assert!(
            c.is_active_on_both(WEB_AUTH, &access_token_of(&second))
                .await
        );

        // And back on A with B's successor.
        let third = crate::flow::token_ok(c.refresh(0, WEB_AUTH, &rt1).await).await;
        assert!(
            c.is_active_on_both(WEB_AUTH, &refresh_token_of(&third))
                .await
        );
        assert!(c.families_with_two_live_tokens().await.is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_code_redemptions_across_nodes_one_wins() {
    with_cluster("", |c| async move {
        let browser = Cluster::browser();
        let (challenge, verifier) = pkce();
        let code = c.code(&browser, &[0, 1], WEB_CLIENT, &challenge).await;
        let form = encode(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", WEB_REDIRECT),
            ("code_verifier", &verifier),
        ]);
        let outcomes = race_token_on_both(&c, &form, Some((WEB, WEB_SECRET))).await;
        let winner = one_winner(&outcomes);

        // The code was consumed once, by the winner: the stored jti is the winner's.
        let mut conn = c.sql().await;
        let (jti,): (Option<String>,) = sqlx::query_as(
            "SELECT access_token_jti FROM authorization_codes WHERE code_digest = $1",
        )
        .bind(SecretDigest::of(&code).as_bytes().to_vec())
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!(
            jti.as_deref(),
            Some(jti_of(&access_token_of(&winner)).as_str())
        );
        // The losers were replays (RFC 6749 §4.1.2): the winner's tokens are revoked,
        // as both nodes see.
        assert!(
            !c.is_active_on_both(WEB_AUTH, &access_token_of(&winner))
                .await
        );
        assert!(
            !c.is_active_on_both(WEB_AUTH, &refresh_token_of(&winner))
                .await
        );
        lifecycle::assert_invalid_grant(c.refresh(1, WEB_AUTH, &refresh_token_of(&winner)).await)
            .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_refreshes_across_nodes_one_wins() {
    // refresh_token_reuse_grace = 0 (the default): as in refresh_race.rs, the losers
    // are reuse of a retired token and revoke the whole family, the winner's included.
    with_cluster("", |c| async move {
        let browser = Cluster::browser();
        let (challenge, verifier) = pkce();
        let code = c.code(&browser, &[0], WEB_CLIENT, &challenge).await;
        let first =
            crate::flow::token_ok(c.redeem(1, WEB_AUTH, WEB_REDIRECT, &code, &verifier).await)
                .await;
        let rt0 = refresh_token_of(&first);
        let at0 = access_token_of(&first);
        let form = encode(&[("grant_type", "refresh_token"), ("refresh_token", &rt0)]);
        let outcomes = race_token_on_both(&c, &form, Some((WEB, WEB_SECRET))).await;
        let winner = one_winner(&outcomes);
        let rt1 = refresh_token_of(&winner);
        let at1 = access_token_of(&winner);
        assert_ne!(rt1, rt0);
        for token in [&rt0, &rt1, &at0, &at1] {
            assert!(
                !c.is_active_on_both(WEB_AUTH, token).await,
                "the family is revoked"
            );
        }
        for node in [0, 1] {
            lifecycle::assert_invalid_grant(c.refresh(node, WEB_AUTH, &rt1).await).await;
        }
        let mut conn = c.sql().await;
        let (live, total): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE rotated_at IS NULL AND revoked_at IS NULL), count(*) \
             FROM refresh_tokens",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!((live, total), (0, 2), "one successor minted, none live");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_slow_down_holds_across_nodes() {
    with_cluster("", |c| async move {
        let r = c
            .post(
                0,
                "/device_authorization",
                &[("client_id", TV), ("scope", "read:orders")],
                Auth::Nothing,
            )
            .await;
        assert_eq!(r.status(), 200);
        let started: Value = r.json().await.unwrap();
        assert_eq!(started["interval"], POLL_INTERVAL);
        let device_code = started["device_code"].as_str().unwrap().to_owned();
        let form = [
            ("grant_type", DEVICE_GRANT),
            ("device_code", device_code.as_str()),
            ("client_id", TV),
        ];
        // Back to back, alternately A, B, A, …: far faster than the interval.
        let mut errors = Vec::new();
        let started_at = Instant::now();
        for poll in 0..POLLS {
            let r = c.post(poll % 2, "/token", &form, Auth::Nothing).await;
            assert_eq!(r.status(), 400);
            let body: Value = r.json().await.unwrap();
            errors.push(body["error"].as_str().unwrap().to_owned());
        }
        let elapsed = started_at.elapsed();
        assert!(
            elapsed < Duration::from_secs(1),
            "the polls took {elapsed:?}: not faster than the interval"
        );
        let mut expected = vec!["slow_down".to_owned(); POLLS];
        expected[0] = "authorization_pending".to_owned();
        assert_eq!(
            errors, expected,
            "slow_down on whichever node the device polls"
        );
        // The interval grew by 5 at every slow_down (RFC 8628 §3.5), in the database.
        let mut conn = c.sql().await;
        let (interval,): (i64,) = sqlx::query_as(
            "SELECT poll_interval FROM device_authorizations WHERE device_code_digest = $1",
        )
        .bind(SecretDigest::of(&device_code).as_bytes().to_vec())
        .fetch_one(&mut conn)
        .await
        .unwrap();
        let slow_downs = i64::try_from(POLLS - 1).unwrap();
        assert_eq!(interval, POLL_INTERVAL + 5 * slow_downs);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn device_approved_across_nodes_issues_tokens_once_to_fifty_concurrent_polls() {
    with_cluster("", |c| async move {
        let started = start_device(&c, 0).await;
        let device_code = started["device_code"].as_str().unwrap().to_owned();
        let user_code = started["user_code"].as_str().unwrap().to_owned();
        // The user's pages alternate B, A, B, …: the pending request, its sealed user
        // code (master key) and the session are shared.
        c.approve_device(&Cluster::browser(), &[1, 0], &user_code)
            .await;
        let form = encode(&[
            ("grant_type", DEVICE_GRANT),
            ("device_code", &device_code),
            ("client_id", TV),
        ]);
        let outcomes = race_token_on_both(&c, &form, None).await;
        let server_errors: Vec<_> = outcomes.iter().filter(|(_, s, _)| *s >= 500).collect();
        assert!(server_errors.is_empty(), "5xx: {server_errors:?}");
        let winners: Vec<_> = outcomes.iter().filter(|(_, s, _)| *s == 200).collect();
        assert_eq!(winners.len(), 1, "one token response: {outcomes:?}");
        // The others polled too fast (the first poll recorded the time) or too late
        // (the device code is spent): never a second set of tokens.
        let mut errors: BTreeMap<String, usize> = BTreeMap::new();
        for (node, status, body) in outcomes.iter().filter(|(_, s, _)| *s != 200) {
            assert_eq!(*status, 400, "node {node}: {body}");
            let error = body["error"].as_str().unwrap().to_owned();
            assert!(
                ["slow_down", "invalid_grant"].contains(&error.as_str()),
                "{body}"
            );
            *errors.entry(error).or_default() += 1;
        }
        report(&format!(
            "fifty polls of an approved device code: one 200, {errors:?}"
        ));
        let at = access_token_of(&winners[0].2);
        let r = c
            .http
            .get(format!("{}/jwks", c.base(1)))
            .send()
            .await
            .unwrap();
        verify_access_token(&at, &r.json().await.unwrap(), &c.issuer, API);
        let mut conn = c.sql().await;
        let (consumed,): (Option<i64>,) = sqlx::query_as(
            "SELECT consumed_at FROM device_authorizations WHERE device_code_digest = $1",
        )
        .bind(SecretDigest::of(&device_code).as_bytes().to_vec())
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert!(consumed.is_some());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_user_codes_on_both_nodes_count_against_one_limit() {
    with_cluster("", |c| async move {
        let started = start_device(&c, 0).await;
        let right = started["user_code"].as_str().unwrap();
        let wrong = if right == "BCDF-GHJK" {
            "BCDF-GHJL"
        } else {
            "BCDF-GHJK"
        };
        let browser = Cluster::browser();
        let enter = |node: usize| {
            let (browser, base) = (browser.clone(), c.base(node).to_owned());
            async move {
                let page = browser.get(format!("{base}/device")).send().await.unwrap();
                let page = page.text().await.unwrap();
                let form = Form::find(&page, "/device").expect("the verification form");
                let mut fields = form.hidden.clone();
                fields.push(("user_code".into(), wrong.into()));
                let body = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(&fields)
                    .finish();
                browser
                    .post(format!("{base}{}", form.action))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        };
        // Nine wrong codes, alternately on A and B: each is refused with the page.
        for n in 0..9 {
            assert_eq!(enter(n % 2).await, 200, "wrong code {}", n + 1);
        }
        // The tenth, on B (its fifth): the limit is the cluster's (the buckets are in
        // the database), so it locks as on one node (device.rs
        // device_page_locks_after_ten_wrong_codes).
        assert_eq!(enter(1).await, 429, "the tenth wrong code in a row locks");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_on_both_nodes_count_against_one_limit() {
    with_cluster("", |c| async move {
        let browser = Cluster::browser();
        let (challenge, _verifier) = pkce();
        let (client_id, redirect_uri) = WEB_CLIENT;
        let query = encode(&[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", redirect_uri),
            ("scope", "openid read:orders"),
            ("state", "cluster-state"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]);
        let r = browser
            .get(format!("{}/authorize?{query}", c.base(0)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        let login = location(&r);
        assert!(login.starts_with("/login?"), "{login}");
        let attempt = |node: usize, password: &'static str| {
            let (browser, base, login) = (browser.clone(), c.base(node).to_owned(), login.clone());
            async move {
                let page = browser.get(format!("{base}{login}")).send().await.unwrap();
                assert_eq!(page.status(), 200, "GET {login}");
                let page = page.text().await.unwrap();
                let form = Form::find(&page, "/login").expect("the login form");
                let mut fields = form.hidden.clone();
                fields.push(("username".into(), ALICE.into()));
                fields.push(("password".into(), password.into()));
                let body = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(&fields)
                    .finish();
                let r = browser
                    .post(format!("{base}{}", form.action))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                let retry_after = r.headers().contains_key("retry-after");
                (status, retry_after)
            }
        };
        // Nine wrong passwords, alternately on A and B: each is refused with the page.
        for n in 0..9 {
            let (status, _) = attempt(n % 2, "wrong-password").await;
            assert_eq!(status, 200, "wrong password {}", n + 1);
        }
        // The tenth, on B (its fifth): the limit is the cluster's (the buckets are in
        // the database), so it locks as on one node (pages.rs
        // throttles_after_ten_failed_attempts_for_an_account).
        assert_eq!(
            attempt(1, "wrong-password").await,
            (429, true),
            "the tenth wrong password locks"
        );
        // Locked on both nodes, even for the right password.
        for node in [0, 1] {
            assert_eq!(
                attempt(node, ALICE_PASSWORD).await,
                (429, true),
                "node {node}"
            );
        }
    })
    .await;
}

/// `tv` starts a device authorization on `node`; asserts 200 and returns the body.
async fn start_device(c: &Cluster, node: usize) -> Value {
    let r = c
        .post(
            node,
            "/device_authorization",
            &[("client_id", TV), ("scope", "read:orders")],
            Auth::Nothing,
        )
        .await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_deleted_by_the_cli_is_refused_by_both_nodes_within_the_client_cache_ttl() {
    with_cluster("", |c| async move {
        let created = c.admin(&[
            "client",
            "create",
            "--client-id",
            "reporting",
            "--grant-type",
            "client_credentials",
            "--scope",
            "read:orders",
            "--audience",
            API,
        ]);
        let secret = created["client_secret"].as_str().unwrap().to_owned();
        let status = |node: usize| {
            let (http, base, secret) = (c.http.clone(), c.base(node).to_owned(), secret.clone());
            async move {
                http.post(format!("{base}/token"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("authorization", crate::support::basic_header("reporting", &secret))
                    .body("grant_type=client_credentials")
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        };
        // A new client works at once on both (unknown ids are not cached); now both
        // nodes hold it in their client cache.
        assert_eq!((status(0).await, status(1).await), (200, 200));
        c.admin(&["client", "delete", "reporting"]);
        let deleted_at = Instant::now();
        let mut refused_after = [None, None];
        while refused_after.iter().any(Option::is_none) {
            for node in [0, 1] {
                if refused_after[node].is_none() && status(node).await == 401 {
                    refused_after[node] = Some(deleted_at.elapsed());
                }
            }
            assert!(
                deleted_at.elapsed() < CLIENT_CACHE_TTL + Duration::from_secs(5),
                "a deleted client still gets tokens: {refused_after:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        report(&format!(
            "client deleted by the CLI: refused by A after {:?}, by B after {:?} (bound: the client cache TTL, {CLIENT_CACHE_TTL:?})",
            refused_after[0].unwrap(),
            refused_after[1].unwrap()
        ));
        for after in refused_after.into_iter().flatten() {
            assert!(after <= CLIENT_CACHE_TTL + Duration::from_millis(500), "{after:?}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_on_a_is_inactive_at_introspection_on_b() {
    with_cluster("", |c| async move {
        let browser = Cluster::browser();
        let mut bounds = Vec::new();
        for (kind, hint) in [("access token", "access_token"), ("refresh token", "refresh_token")] {
            let (challenge, verifier) = pkce();
            let code = c.code(&browser, &[0], WEB_CLIENT, &challenge).await;
            let r = c.redeem(0, WEB_AUTH, WEB_REDIRECT, &code, &verifier).await;
            let token = crate::flow::token_ok(r).await;
            let target = token[hint].as_str().unwrap().to_owned();
            assert!(c.is_active(1, WEB_AUTH, &target).await, "B sees it active first");

            let r = c
                .post(0, "/revoke", &[("token", &target), ("token_type_hint", hint)], WEB_AUTH)
                .await;
            assert_eq!(r.status(), 200);
            let revoked_at = Instant::now();
            // Poll B until it says inactive (bounded), to measure rather than assume.
            let mut checks = 0;
            while c.is_active(1, WEB_AUTH, &target).await {
                checks += 1;
                assert!(revoked_at.elapsed() < Duration::from_secs(10), "{kind} still active");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let bound = revoked_at.elapsed();
            report(&format!(
                "{kind} revoked on A: inactive at introspection on B after {bound:?} ({checks} active answers first)"
            ));
            // The bound is zero: revocation is a row in the database that every
            // introspection reads, so the first question after the revoke is answered
            // inactive.
            assert_eq!(checks, 0, "{kind}: B answered active after the revoke on A");
            bounds.push(bound);
            if hint == "access_token" {
                let r = c
                    .http
                    .get(format!("{}/userinfo", c.base(1)))
                    .bearer_auth(&target)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 401, "userinfo on B refuses the revoked token");
            } else {
                lifecycle::assert_invalid_grant(c.refresh(1, WEB_AUTH, &target).await).await;
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_redemption_failing_at_the_consume_leaves_one_live_token_per_family() {
    with_cluster("", |c| async move {
        let browser = Cluster::browser();
        let (challenge, verifier) = pkce();
        let code = c.code(&browser, &[0], APP_CLIENT, &challenge).await;
        // A transient failure of exactly the consuming UPDATE (as a database outage or a
        // SIGKILL between the two statements would leave it).
        let mut conn = c.sql().await;
        sqlx::raw_sql(
            "CREATE FUNCTION it_fail() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$; \
             CREATE TRIGGER it_fail BEFORE UPDATE ON authorization_codes \
             FOR EACH ROW EXECUTE FUNCTION it_fail();",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        let r = c.redeem(0, APP_AUTH, APP_REDIRECT, &code, &verifier).await;
        assert!(r.status().is_server_error(), "{}", r.status());
        sqlx::raw_sql("DROP TRIGGER it_fail ON authorization_codes; DROP FUNCTION it_fail();")
            .execute(&mut conn)
            .await
            .unwrap();
        // The client retries on the other node: the code was not consumed.
        let retried = c.redeem(1, APP_AUTH, APP_REDIRECT, &code, &verifier).await;
        let token = crate::flow::token_ok(retried).await;
        assert!(
            c.is_active_on_both(APP_AUTH, &refresh_token_of(&token))
                .await
        );
        assert_eq!(
            c.families_with_two_live_tokens().await,
            vec![],
            "one live refresh token per family"
        );
    })
    .await;
}
