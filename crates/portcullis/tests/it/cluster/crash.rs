//! SIGKILL of one node under a mixed load on both; restart; then single use, rotation
//! and revocation checked in the database and at both nodes' introspection.

use super::*;

/// What the load's clients saw.
#[derive(Default)]
struct Seen {
    /// client_credentials access tokens received.
    cc_tokens: Vec<String>,
    /// Per code (index): every attempt's outcome: `Some(status, body)` or `None` (transport
    /// error: the node was dead or died with the request in flight).
    code_attempts: BTreeMap<usize, Vec<Option<(u16, Value)>>>,
    /// Refresh token responses received: (family index, token response).
    refreshed: Vec<(usize, Value)>,
    statuses: BTreeMap<u16, usize>,
    server_errors: Vec<String>,
    transport_errors: usize,
}

impl Seen {
    fn record(&mut self, outcome: &Option<(u16, Value)>) {
        match outcome {
            Some((status, body)) => {
                *self.statuses.entry(*status).or_default() += 1;
                if *status >= 500 {
                    self.server_errors.push(format!("{status} {body}"));
                }
            }
            None => self.transport_errors += 1,
        }
    }
}

/// POSTs `form` to `/token` at `base`: `None` on a transport error.
async fn try_token(
    http: &reqwest::Client,
    base: &str,
    form: &[(&str, &str)],
    auth: (&str, &str),
) -> Option<(u16, Value)> {
    let r = http
        .post(format!("{base}/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "authorization",
            crate::support::basic_header(auth.0, auth.1),
        )
        .body(encode(form))
        .send()
        .await
        .ok()?;
    let status = r.status().as_u16();
    let text = r.text().await.ok()?;
    Some((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_mixed_load_keeps_single_use_and_rotation() {
    // A reuse grace so that a family survives the copy that loses each rotation race;
    // reuse detection itself is the fifty-refresh test's.
    with_cluster("refresh_token_reuse_grace = 60", |mut c| async move {
        let browser = Cluster::browser();
        // Refresh families, and codes kept for the load.
        let mut originals = Vec::new();
        for family in 0..FAMILIES {
            let (challenge, verifier) = pkce();
            let code = c.code(&browser, &[family % 2], APP_CLIENT, &challenge).await;
            let r = c.redeem(family % 2, APP_AUTH, APP_REDIRECT, &code, &verifier).await;
            originals.push(crate::flow::token_ok(r).await);
        }
        let mut codes = Vec::new();
        for i in 0..CODES {
            let (challenge, verifier) = pkce();
            codes.push((c.code(&browser, &[i % 2], APP_CLIENT, &challenge).await, verifier));
        }
        let bases = [c.base(0).to_owned(), c.base(1).to_owned()];
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut load = tokio::task::JoinSet::new();

        // client_credentials on both nodes.
        for worker in 0..2 {
            let (http, bases, seen, stop) = (c.http.clone(), bases.clone(), seen.clone(), stop.clone());
            load.spawn(async move {
                let mut i = worker;
                while !stop.load(Ordering::Relaxed) {
                    let form = [("grant_type", "client_credentials")];
                    let outcome = try_token(&http, &bases[i % 2], &form, (SVC, SVC_SECRET)).await;
                    i += 1;
                    let failed = outcome.is_none();
                    {
                        let mut seen = seen.lock().unwrap();
                        seen.record(&outcome);
                        if let Some((200, body)) = outcome {
                            seen.cc_tokens.push(access_token_of(&body));
                        }
                    }
                    if failed {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            });
        }
        // Code redemptions spread over the load: even codes once (on the other node if
        // the first dies), odd codes twice at once, on A and on B.
        {
            let (http, bases, seen) = (c.http.clone(), bases.clone(), seen.clone());
            let codes = codes.clone();
            load.spawn(async move {
                for (k, (code, verifier)) in codes.iter().enumerate() {
                    let form = [
                        ("grant_type", "authorization_code"),
                        ("code", code.as_str()),
                        ("redirect_uri", APP_REDIRECT),
                        ("code_verifier", verifier.as_str()),
                    ];
                    let attempts = if k % 2 == 0 {
                        let first = try_token(&http, &bases[(k / 2) % 2], &form, (APP, APP_SECRET)).await;
                        if first.is_none() {
                            let retry = try_token(&http, &bases[1], &form, (APP, APP_SECRET)).await;
                            vec![first, retry]
                        } else {
                            vec![first]
                        }
                    } else {
                        let (a, b) = tokio::join!(
                            try_token(&http, &bases[0], &form, (APP, APP_SECRET)),
                            try_token(&http, &bases[1], &form, (APP, APP_SECRET)),
                        );
                        vec![a, b]
                    };
                    {
                        let mut seen = seen.lock().unwrap();
                        for a in &attempts {
                            seen.record(a);
                        }
                        seen.code_attempts.insert(k, attempts);
                    }
                    tokio::time::sleep(Duration::from_millis(40)).await;
                }
            });
        }
        // Refresh families: each rotation raced by one copy on A and one on B.
        for (family, original) in originals.iter().enumerate() {
            let (http, bases, seen, stop) = (c.http.clone(), bases.clone(), seen.clone(), stop.clone());
            let mut current = refresh_token_of(original);
            load.spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let form = [("grant_type", "refresh_token"), ("refresh_token", current.as_str())];
                    let (a, b) = tokio::join!(
                        try_token(&http, &bases[0], &form, (APP, APP_SECRET)),
                        try_token(&http, &bases[1], &form, (APP, APP_SECRET)),
                    );
                    let mut next = None;
                    {
                        let mut seen = seen.lock().unwrap();
                        for outcome in [&a, &b] {
                            seen.record(outcome);
                            if let Some((200, body)) = outcome {
                                assert!(next.is_none(), "two successors of one refresh token");
                                seen.refreshed.push((family, body.clone()));
                                next = Some(refresh_token_of(body));
                            }
                        }
                    }
                    match next {
                        Some(rt) => current = rt,
                        // Both refused or lost: the successor, if any, never reached us.
                        None => return,
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            });
        }

        // Let the load run, SIGKILL A mid-flight, run on B alone, restart A, run on both.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let before_kill = seen.lock().unwrap().statuses.values().sum::<usize>();
        c.kill(0);
        let killed_at = Instant::now();
        tokio::time::sleep(Duration::from_millis(700)).await;
        c.restart(0).await;
        let restart_took = killed_at.elapsed();
        tokio::time::sleep(Duration::from_millis(1000)).await;
        stop.store(true, Ordering::Relaxed);
        while let Some(joined) = tokio::time::timeout(Duration::from_secs(60), load.join_next())
            .await
            .expect("a load task hung")
        {
            joined.unwrap();
        }
        let seen = Arc::try_unwrap(seen).ok().unwrap().into_inner().unwrap();
        report(&format!(
            "mixed load: answers {:?}, {} transport errors (A dead or dying), {} answers before the kill, A back after {restart_took:?}; {} client_credentials tokens, {} rotations",
            seen.statuses,
            seen.transport_errors,
            before_kill,
            seen.cc_tokens.len(),
            seen.refreshed.len()
        ));
        assert!(seen.server_errors.is_empty(), "5xx: {:?}", seen.server_errors);
        assert!(seen.transport_errors > 0, "the kill must be felt by the clients");
        assert!(!seen.refreshed.is_empty() && !seen.cc_tokens.is_empty());

        // 1. No refresh family with two live tokens: not among the rotating families,
        // and not among the codes' families (a redemption stores its refresh token in
        // the consume's transaction, so a kill mid-redemption leaves none behind for the
        // racing copy or the retry on B to add to).
        assert_eq!(
            c.families_with_two_live_tokens().await,
            vec![],
            "one live refresh token per family"
        );

        // 2. No code honoured twice: at most one 200 per code, and the stored jti of
        // each redeemed code is the one its 200 carried.
        let mut conn = c.sql().await;
        let mut replayed_winners = Vec::new();
        let mut single_winners = Vec::new();
        for (k, attempts) in &seen.code_attempts {
            let wins: Vec<&Value> = attempts
                .iter()
                .filter_map(|a| match a {
                    Some((200, body)) => Some(body),
                    _ => None,
                })
                .collect();
            assert!(wins.len() <= 1, "code {k} honoured {} times", wins.len());
            for a in attempts.iter().flatten().filter(|(s, _)| *s != 200) {
                assert_eq!(a.0, 400, "code {k}: {a:?}");
                assert_eq!(a.1["error"], "invalid_grant", "code {k}: {a:?}");
            }
            let (code, _) = &codes[*k];
            let stored: Option<(Option<String>,)> = sqlx::query_as(
                "SELECT access_token_jti FROM authorization_codes WHERE code_digest = $1",
            )
            .bind(SecretDigest::of(code).as_bytes().to_vec())
            .fetch_optional(&mut conn)
            .await
            .unwrap();
            let stored_jti = stored.and_then(|(j,)| j);
            if let Some(win) = wins.first() {
                let jti = jti_of(&access_token_of(win));
                assert_eq!(stored_jti.as_deref(), Some(jti.as_str()), "code {k}");
                // Another attempt that reached a node and was refused is a replay.
                let refused = attempts.iter().flatten().any(|(s, _)| *s == 400);
                if refused {
                    replayed_winners.push((*k, (*win).clone()));
                } else {
                    single_winners.push((*k, (*win).clone()));
                }
            }
        }
        assert!(!single_winners.is_empty() || !replayed_winners.is_empty());

        // 3. Every token a client received is valid or consistently revoked.
        // Codes answered 200 and then replayed: the tokens from them are revoked.
        for (k, token) in &replayed_winners {
            assert!(!c.is_active_on_both(APP_AUTH, &access_token_of(token)).await, "code {k}");
            assert!(!c.is_active_on_both(APP_AUTH, &refresh_token_of(token)).await, "code {k}");
        }
        // Codes answered 200 once: active, unless an attempt died in flight and may have
        // been the replay; either way both nodes agree (is_active_on_both asserts it).
        // A replay revokes the access token and the refresh family in one transaction
        // (issue 17), so a replay killed in flight revoked both or neither: they agree.
        for (k, token) in &single_winners {
            let at = c.is_active_on_both(APP_AUTH, &access_token_of(token)).await;
            let rt = c.is_active_on_both(APP_AUTH, &refresh_token_of(token)).await;
            assert_eq!(at, rt, "code {k}: access and refresh token agree");
            let died = seen.code_attempts[k].iter().any(Option::is_none);
            assert!(at || died, "code {k} answered once yet revoked");
        }
        // Refresh families: per family at most one active refresh token, the stored
        // live one; a revoked family has no active access token.
        let mut received: Vec<(usize, Value)> =
            originals.iter().cloned().enumerate().collect();
        received.extend(seen.refreshed.iter().cloned());
        let mut active_per_family: BTreeMap<usize, usize> = BTreeMap::new();
        for (family, token) in &received {
            let rt = refresh_token_of(token);
            let active = c.is_active_on_both(APP_AUTH, &rt).await;
            let (rotated, revoked): (Option<i64>, Option<i64>) = sqlx::query_as(
                "SELECT rotated_at, revoked_at FROM refresh_tokens WHERE token_digest = $1",
            )
            .bind(SecretDigest::of(&rt).as_bytes().to_vec())
            .fetch_one(&mut conn)
            .await
            .unwrap();
            assert_eq!(active, rotated.is_none() && revoked.is_none(), "family {family}");
            *active_per_family.entry(*family).or_default() += usize::from(active);
            let at_active = c.is_active_on_both(APP_AUTH, &access_token_of(token)).await;
            if revoked.is_some() {
                assert!(!at_active, "family {family} revoked, access token active");
            }
        }
        assert!(active_per_family.values().all(|n| *n <= 1), "{active_per_family:?}");
        // client_credentials tokens: all signed by the one key set, all active (a sample
        // at introspection, every one verified against the restarted A's JWKS).
        let r = c.http.get(format!("{}/jwks", c.base(0))).send().await.unwrap();
        let jwks = r.json().await.unwrap();
        for at in &seen.cc_tokens {
            verify_access_token(at, &jwks, &c.issuer, API);
        }
        let step = (seen.cc_tokens.len() / 20).max(1);
        for at in seen.cc_tokens.iter().step_by(step) {
            assert!(c.is_active_on_both(SVC_AUTH, at).await);
        }
        report(&format!(
            "after the restart: {} codes honoured once, {} honoured then replayed (revoked), families active {:?}",
            single_winners.len(),
            replayed_winners.len(),
            active_per_family
        ));
    })
    .await;
}
