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
    assert!(
        said.contains("is next (published now, signs from "),
        "{said}"
    );
    assert!(
        said.contains("keeps signing until then, then is retiring"),
        "{said}"
    );
    assert!(!said.contains("retired_kid"), "{said}");
    assert_eq!(
        stages(&app),
        pairs(&[
            ("ES256", "next"),
            ("ES256", "signing"),
            ("RS256", "signing")
        ])
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
    let mut fields: Vec<&str> = key
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
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

#[tokio::test]
async fn client_update_changes_metadata_through_registration_validation() {
    let app = TestApp::start().await;
    json_out(&cli(
        &app,
        &[
            "client",
            "create",
            "--client-id",
            "shop",
            "--grant-type",
            "authorization_code",
            "--redirect-uri",
            "https://shop.example/cb",
            "--scope",
            "openid",
        ],
        None,
    ));
    let updated = json_out(&cli(
        &app,
        &[
            "client",
            "update",
            "shop",
            "--name",
            "The Shop",
            "--redirect-uri",
            "https://shop.example/callback",
            "--redirect-uri",
            "https://shop.example/other",
            "--allowed-origin",
            "https://shop.example",
        ],
        None,
    ));
    assert_eq!(updated["client_name"], "The Shop");
    assert_eq!(
        updated["redirect_uris"],
        serde_json::json!([
            "https://shop.example/callback",
            "https://shop.example/other"
        ])
    );
    assert_eq!(
        updated["allowed_origins"],
        serde_json::json!(["https://shop.example"])
    );
    assert_eq!(updated["scopes"], serde_json::json!(["openid"]), "kept");
    let shown = json_out(&cli(&app, &["client", "show", "shop"], None));
    assert_eq!(shown["client_name"], "The Shop");
    assert_eq!(shown["source"], "admin");
}

#[tokio::test]
async fn rejects_a_client_update_that_registration_refuses() {
    let app = TestApp::start().await;
    json_out(&cli(
        &app,
        &[
            "client",
            "create",
            "--client-id",
            "shop",
            "--grant-type",
            "authorization_code",
            "--redirect-uri",
            "https://shop.example/cb",
            "--scope",
            "openid",
        ],
        None,
    ));
    let out = cli(
        &app,
        &[
            "client",
            "update",
            "shop",
            "--redirect-uri",
            "https://shop.example/cb#frag",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("client `shop`: `redirect_uris`"),
        "{stderr}"
    );
    // A config client is changed in the file.
    let out = cli(&app, &["client", "update", "svc", "--name", "x"], None);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("declared in the configuration file"),
        "{stderr}"
    );
}

#[tokio::test]
async fn user_update_changes_the_profile() {
    let app = TestApp::start().await;
    json_out(&cli(
        &app,
        &["user", "create", "--username", "dora", "--password-stdin"],
        Some("dora-password-1\n"),
    ));
    let out = json_out(&cli(
        &app,
        &[
            "user",
            "update",
            "dora",
            "--email",
            "dora@example.com",
            "--name",
            "Dora",
            "--claims",
            r#"{"tenant_id":"t1"}"#,
        ],
        None,
    ));
    assert_eq!(out["email"], "dora@example.com");
    assert_eq!(out["name"], "Dora");
    assert_eq!(out["claims"], serde_json::json!({"tenant_id": "t1"}));
    let out = cli(
        &app,
        &["user", "update", "dora", "--email", "not an address"],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not an e-mail address"));
    let out = cli(
        &app,
        &["user", "update", "dora", "--claims", r#"{"sub":"x"}"#],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`claims`"));
}

/// Without `--password-stdin` the password is asked for on a terminal; with no terminal
/// (standard input piped, as here) the command refuses and names the flag, and no
/// user is created.
#[tokio::test]
async fn rejects_a_password_with_neither_a_terminal_nor_password_stdin() {
    let app = TestApp::start().await;
    for args in [
        &["user", "create", "--username", "erin"][..],
        &["user", "set-password", "alice"][..],
    ] {
        let out = cli(&app, args, Some("piped-but-not-asked-for\n"));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--password-stdin"), "{stderr}");
    }
    let users = json_out(&cli(&app, &["user", "list"], None));
    assert!(
        !users.to_string().contains("erin"),
        "no user is created: {users}"
    );
}

/// On a terminal (a pseudo-terminal from util-linux `script`), the password is asked
/// for twice without echo; two different answers change nothing.
#[tokio::test]
async fn user_create_asks_for_the_password_on_a_terminal() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: util-linux `script` (a pseudo-terminal) is not installed");
        return;
    }
    let app = TestApp::start().await;
    let run = |name: &str, answers: &str| {
        let command = format!(
            "{} user create --username {name}",
            crate::support::binary().display()
        );
        let mut child = std::process::Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .env("PORTCULLIS_DATABASE_URL", app.database_url())
            .env_remove("PORTCULLIS_CONFIG")
            .env_remove("PORTCULLIS_MASTER_KEY")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        for line in answers.lines() {
            // One answer per prompt: the terminal reads a line at a time.
            std::thread::sleep(std::time::Duration::from_millis(300));
            std::io::Write::write_all(&mut input, format!("{line}\n").as_bytes()).unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
        drop(input);
        child.wait_with_output().unwrap()
    };
    let out = run("frank", "frank-password-1\nfrank-password-1");
    let shown = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains("New password:") && shown.contains("Again:"),
        "{shown}"
    );
    assert!(!shown.contains("frank-password-1"), "no echo: {shown}");
    let out = run("gina", "gina-password-1\ngina-password-2");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("the two passwords differ"));
    let users = json_out(&cli(&app, &["user", "list"], None)).to_string();
    assert!(
        users.contains("frank") && !users.contains("gina"),
        "{users}"
    );
}
