//! A staged key rotation through node A, checked at node B (issue 7): at every moment
//! of the rotation, tokens from either node verify against the other node's JWK Set,
//! fetched then or cached by a resource server for up to `max-age`.
//!
//! The clock is the real one of both processes, so the test waits the whole
//! publication lead: the shortest accepted (100 s), not a test-only knob. Alone in this
//! file so that it runs beside the other tests rather than after them.

use super::*;
use jsonwebtoken::jwk::JwkSet;
use portcullis_server::app::keys::{JWKS_MAX_AGE, KEY_REFRESH_INTERVAL, MIN_PUBLICATION_LEAD};
use std::collections::BTreeSet;

/// `[keys] publication_lead`: the shortest accepted.
const LEAD: i64 = 100;
/// The `[keys]` table, appended after the `[tokens]` lines of [`CONFIG`].
const KEYS_TABLE: &str = "\n[keys]\npublication_lead = 100";
/// How long the walk goes on after `activate_at`: past the first key refresh of both
/// nodes after it (the promotion), with a margin.
const AFTER_ACTIVATION: i64 = 15;

/// What one step of the walk saw.
struct Moment {
    /// Seconds since the rotation was staged.
    at: f64,
    /// The `kid` of the token from A, and from B.
    signed_by: [String; 2],
    /// The kids in A's JWK Set, and in B's, fetched at this step before the tokens.
    published: [BTreeSet<String>; 2],
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_through_node_a_verifies_at_every_moment_against_node_b_jwks() {
    assert_eq!(LEAD, MIN_PUBLICATION_LEAD);
    with_cluster(KEYS_TABLE, |c| async move {
        let old = kid_of(&svc_token(&c, 0).await);
        assert_eq!(kid_of(&svc_token(&c, 1).await), old, "one active key");
        // JWK Sets each node served, with when: a resource server caches one for up to
        // `max-age`, so a token must verify against every one of the other node's sets
        // of the last `max-age` seconds, not only the fresh one.
        let mut served: [Vec<(Instant, JwkSet)>; 2] = [Vec::new(), Vec::new()];
        for (node, sets) in served.iter_mut().enumerate() {
            sets.push((Instant::now(), jwks(&c, node).await));
        }

        // "Through node A": the admin CLI with the nodes' configuration and master key.
        let staged = Instant::now();
        let rotations = c.admin(&["keys", "rotate"]);
        let es256 = rotations
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["alg"] == "ES256")
            .unwrap_or_else(|| panic!("no ES256 rotation: {rotations}"));
        assert_eq!(es256["status"], "next", "{es256}");
        assert_eq!(es256["replaced_kid"], old.as_str(), "{es256}");
        let new = es256["new_kid"].as_str().unwrap().to_owned();
        let activate_at = es256["activate_at"].as_i64().unwrap();
        let lead = activate_at - unix_now();
        assert!(
            (LEAD - 10..=LEAD).contains(&lead),
            "activate_at is the lead ahead: {es256}"
        );

        let mut moments = Vec::new();
        let mut promoted_at = None;
        loop {
            let step = Instant::now();
            let mut published = [BTreeSet::new(), BTreeSet::new()];
            for (node, sets) in served.iter_mut().enumerate() {
                let set = jwks(&c, node).await;
                published[node] = kids(&set);
                sets.push((step, set));
                // Keep only what a cache may still hold.
                sets.retain(|(at, _)| {
                    step.duration_since(*at) <= Duration::from_secs(JWKS_MAX_AGE.unsigned_abs())
                });
            }
            let tokens = [svc_token(&c, 0).await, svc_token(&c, 1).await];
            for (node, token) in tokens.iter().enumerate() {
                // The set fetched at this moment is the last one; every earlier one is
                // a cached copy of up to `max-age`.
                for (at, set) in &served[1 - node] {
                    let fetched = at.saturating_duration_since(staged).as_secs_f64();
                    let shown = format!(
                        "at {:.1} s, token of node {node} by {}, other's set of {fetched:.1} s",
                        staged.elapsed().as_secs_f64(),
                        kid_of(token),
                    );
                    assert!(kids(set).contains(&kid_of(token)), "{shown}: kid unknown");
                    verify_access_token(token, set, &c.issuer, API);
                }
            }
            moments.push(Moment {
                at: step.duration_since(staged).as_secs_f64(),
                signed_by: tokens.each_ref().map(|t| kid_of(t)),
                published,
            });
            if promoted_at.is_none() && status_of(&c, &new).await == "active" {
                promoted_at = Some(staged.elapsed());
            }
            let now = unix_now();
            if now >= activate_at + AFTER_ACTIVATION && promoted_at.is_some() {
                break;
            }
            assert!(
                now < activate_at + AFTER_ACTIVATION + 15,
                "the new key was not promoted within {} s of activate_at",
                AFTER_ACTIVATION + 15
            );
            tokio::time::sleep(Duration::from_secs(1).saturating_sub(step.elapsed())).await;
        }

        // The rotation really happened: each node signed with the old key, then with
        // the new one, and never with the old one again.
        for (node, name) in [(0, "A"), (1, "B")] {
            let signed: Vec<&str> = moments.iter().map(|m| m.signed_by[node].as_str()).collect();
            let switch = signed.iter().position(|k| *k == new);
            let switch = switch.unwrap_or_else(|| panic!("{name} never signed with {new}"));
            let (before, after) = signed.split_at(switch);
            assert!(
                !before.is_empty() && before.iter().all(|k| *k == old),
                "{name}: the old key {old} first: {signed:?}"
            );
            assert!(
                after.iter().all(|k| *k == new),
                "{name}: then only the new key {new}: {signed:?}"
            );
        }
        // Published before it signed: B's set (and A's) had the new key at a step
        // before the first token that carried it.
        let first_signed = moments
            .iter()
            .position(|m| m.signed_by.contains(&new))
            .unwrap();
        let published_by = |node: usize| {
            moments
                .iter()
                .position(|m| m.published[node].contains(&new))
                .unwrap()
        };
        let (published_a, published_b) = (published_by(0), published_by(1));
        assert!(
            published_b < first_signed && published_a < first_signed,
            "new key published by B at {:.1} s, by A at {:.1} s, first signed at {:.1} s",
            moments[published_b].at,
            moments[published_a].at,
            moments[first_signed].at
        );
        // Within one key refresh of staging, and still published at every later step.
        let refresh = KEY_REFRESH_INTERVAL.as_secs_f64() + 5.0;
        assert!(
            moments[published_b].at <= refresh && moments[published_a].at <= refresh,
            "published within a key refresh"
        );
        for node in [0, 1] {
            assert!(
                moments[published_by(node)..]
                    .iter()
                    .all(|m| m.published[node].contains(&new)),
                "node {node} stopped publishing the new key"
            );
        }
        // The old key stays published after the switch and the promotion (it signed
        // tokens that have not expired).
        let last = moments.last().unwrap();
        for node in [0, 1] {
            assert!(
                last.published[node].contains(&old),
                "node {node} dropped the old key {old} at {:.1} s",
                last.at
            );
        }
        assert_eq!(status_of(&c, &old).await, "retired");
        report(&format!(
            "key rotation: {} steps over {:.1} s; new key published by B at {:.1} s, \
             by A at {:.1} s, first signed at {:.1} s (lead {lead} s), promoted by {:.1} s; \
             each token checked against up to {} JWK Sets of the other node",
            moments.len(),
            last.at,
            moments[published_b].at,
            moments[published_a].at,
            moments[first_signed].at,
            promoted_at.unwrap().as_secs_f64(),
            served[1].len(),
        ));
    })
    .await;
}

/// A client_credentials access token from `node`.
async fn svc_token(c: &Cluster, node: usize) -> String {
    let r = c
        .post(
            node,
            "/token",
            &[("grant_type", "client_credentials")],
            SVC_AUTH,
        )
        .await;
    access_token_of(&crate::flow::token_ok(r).await)
}

/// `node`'s JWK Set.
async fn jwks(c: &Cluster, node: usize) -> JwkSet {
    let r = c
        .http
        .get(format!("{}/jwks", c.base(node)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn kids(set: &JwkSet) -> BTreeSet<String> {
    set.keys
        .iter()
        .map(|k| k.common.key_id.clone().expect("kid"))
        .collect()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// The stored status of key `kid`.
async fn status_of(c: &Cluster, kid: &str) -> String {
    let mut conn = c.sql().await;
    let (status,): (String,) = sqlx::query_as("SELECT status FROM signing_keys WHERE kid = $1")
        .bind(kid)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    status
}

/// The wall clock in seconds since the epoch (what `activate_at` is compared with).
fn unix_now() -> i64 {
    portcullis_core::clock::Clock::now(&portcullis_core::clock::SystemClock)
}
