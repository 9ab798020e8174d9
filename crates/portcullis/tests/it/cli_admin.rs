//! The operator's CLI output: `keys list` and `keys rotate` name key stages plainly
//! (signing, next, retiring), tables with human times, JSON when asked (or piped).

use crate::cli::{cli, json_out};
use crate::support::TestApp;
use serde_json::Value;

/// `(alg, stage)` of every key `keys list --output json` shows, sorted.
fn stages(app: &TestApp) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> =
        json_out(&cli(app, &["keys", "list", "--output", "json"], None))
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                (
                    k["alg"].as_str().unwrap().to_owned(),
                    k["stage"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
    out.sort();
    out
}

fn text(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, s)| ((*a).to_owned(), (*s).to_owned()))
        .collect()
}

#[tokio::test]
async fn keys_list_names_the_stages_plainly() {
    let app = TestApp::start().await;
    assert_eq!(
        stages(&app),
        pairs(&[("ES256", "signing"), ("RS256", "signing")])
    );

    // A staged rotation: the new key is next, the old one still signs.
    let said = text(&cli(
        &app,
        &["keys", "rotate", "--alg", "ES256", "--output", "table"],
        None,
    ));
    assert!(said.contains("is next (published now, signs from "), "{said}");
    assert!(said.contains("keeps signing until then, then is retiring"), "{said}");
    assert!(!said.contains("retired_kid"), "{said}");
    assert_eq!(
        stages(&app),
        pairs(&[("ES256", "next"), ("ES256", "signing"), ("RS256", "signing")])
    );
    let table = text(&cli(&app, &["keys", "list", "--output", "table"], None));
    assert!(table.starts_with("KID"), "{table}");
    assert!(table.contains("next (signs from "), "{table}");
    assert!(table.contains(" ago)"), "human times: {table}");

    // An immediate rotation: the replaced keys are retiring and still verify.
    let rotated = json_out(&cli(
        &app,
        &["keys", "rotate", "--immediately", "--output", "json"],
        None,
    ));
    let es = rotated
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["alg"] == "ES256")
        .unwrap();
    assert!(es["replaced_kid"].is_string(), "{es}");
    assert!(es.get("retired_kid").is_none(), "{es}");
    assert_eq!(
        stages(&app),
        pairs(&[
            ("ES256", "retiring"),
            ("ES256", "retiring"),
            ("ES256", "signing"),
            ("RS256", "retiring"),
            ("RS256", "signing"),
        ])
    );
    let table = text(&cli(&app, &["keys", "list", "--output", "table"], None));
    assert!(table.contains("retiring (still verifies until "), "{table}");
}

#[tokio::test]
async fn keys_list_json_shape_is_pinned() {
    let app = TestApp::start().await;
    // Piped standard output without --output: JSON.
    let listed = json_out(&cli(&app, &["keys", "list"], None));
    let key = &listed.as_array().unwrap()[0];
    let mut fields: Vec<&str> = key.as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "activate_at",
            "alg",
            "created_at",
            "kid",
            "publish_until",
            "published",
            "retired_at",
            "stage",
            "status"
        ]
    );
    assert_eq!(key["stage"], "signing");
    assert_eq!(key["published"], Value::Bool(true));
}
